"""村民/乡贤建议: their own kind, answered within 10 working days (weekends skipped)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot import suggestions
from bot.clock import add_working_days
from bot.db import session_scope
from bot.identity import AccessDenied, resolve_actor
from bot.models import Grievance, SuggestionState
from bot.ops.scheduler import run_jobs_once
from tests.support.loops import MONDAY, outbox


def test_working_days_skip_the_weekend():
    monday = dt.date(2026, 11, 2)
    assert add_working_days(monday, 10) == dt.date(2026, 11, 16)
    assert add_working_days(dt.date(2026, 11, 6), 1) == dt.date(2026, 11, 9)  # Friday → Monday
    assert add_working_days(dt.date(2026, 11, 7), 1) == dt.date(2026, 11, 9)  # Saturday → Monday


def test_a_suggestion_is_overdue_after_ten_working_days(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        villager = resolve_actor(s, "cli:wangjianguo")
        idea = suggestions.submit(s, villager, "建议在村口装一个公交站的遮雨棚", now=MONDAY)
        assert (idea.state, idea.kind, idea.due_on, idea.author_name) == (
            SuggestionState.received, "村民", dt.date(2026, 11, 16), "王建国")
        assert s.execute(select(Grievance.id).where(Grievance.description.like("%遮雨棚%"))).first() is None
        assert "11月16日前" in outbox(s, f"suggestion:{idea.id}:received")[0].text
        admin = resolve_actor(s, "cli:chenzhiming")
        idea_id = idea.id
        # Eleven calendar days later (a Friday) it is not late: only 9 working days have passed.
        assert suggestions.overdue(s, admin, today=dt.date(2026, 11, 13)) == []
        assert suggestions.overdue(s, admin, today=dt.date(2026, 11, 16)) == []
        late = suggestions.overdue(s, admin, today=dt.date(2026, 11, 17))
        assert [(v.id, v.days_overdue) for v in late] == [(idea_id, 1)]
        with pytest.raises(AccessDenied):
            suggestions.overdue(s, villager, today=dt.date(2026, 11, 17))

    tuesday = dt.datetime(2026, 11, 17, 2, 0)
    assert run_jobs_once(now=tuesday - dt.timedelta(days=1), url=fresh_db)["suggestions_overdue"] == []
    assert run_jobs_once(now=tuesday, url=fresh_db)["suggestions_overdue"] == [idea_id]
    assert run_jobs_once(now=tuesday + dt.timedelta(hours=1), url=fresh_db)["suggestions_overdue"] == []

    with session_scope(write=True, url=fresh_db) as s:
        admin = resolve_actor(s, "cli:chenzhiming")
        done = suggestions.answer(s, admin, idea_id, "已经报镇交通办，明年春天装。", adopted=True, now=tuesday)
        assert done.state == SuggestionState.answered and done.answered_by == admin.user_id
        assert suggestions.overdue(s, admin, today=dt.date(2026, 11, 20)) == []
        told = outbox(s, f"suggestion:{idea_id}:answered")
        assert told[0].user_id == done.author_id and "建议已采纳" in told[0].text
        with pytest.raises(suggestions.SuggestionError):
            suggestions.answer(s, admin, idea_id, "再答一次")
        villager = resolve_actor(s, "cli:wangjianguo")
        assert [(v.id, v.state) for v in suggestions.mine(s, villager)] == [(idea_id, SuggestionState.answered)]


def test_a_xiangxian_suggestion_recorded_by_staff(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        with pytest.raises(AccessDenied):
            suggestions.submit(s, resolve_actor(s, "cli:wangjianguo"), "建议", author_name="别人")
        admin = resolve_actor(s, "cli:chenzhiming")
        idea = suggestions.submit(s, admin, "建议把老祠堂修成村史馆", kind="乡贤", author_name="周老先生",
                                  now=MONDAY + dt.timedelta(days=4))  # a Friday
        assert (idea.kind, idea.author_name, idea.author_id, idea.due_on) == ("乡贤", "周老先生", None,
                                                                               dt.date(2026, 11, 20))
        # Nobody to push the answer to: recorded, no outbox row without a recipient.
        suggestions.answer(s, admin, idea.id, "村两委研究后同意，列入明年计划", adopted=True)
        assert outbox(s, f"suggestion:{idea.id}:answered") == []
        device = resolve_actor(s, "voice:device-007")
        by_voice = suggestions.submit(s, device, "建议晚上路灯晚点关", now=MONDAY)
        assert by_voice.household_id == device.household_id and suggestions.mine(s, device)[0].id == by_voice.id
