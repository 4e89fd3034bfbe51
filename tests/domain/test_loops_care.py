"""Three-colour care as a schedule: visit frequency per colour (per village), due and overdue
lists per worker on the right day, one morning reminder per worker per day, colour changes only
with a reason and kept in the history."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot import care, households
from bot.clock import to_utc
from bot.db import session_scope
from bot.identity import AccessDenied, resolve_actor
from bot.models import AuditLog, CareColour, Household, User
from bot.ops.scheduler import run_jobs_once
from tests.support.loops import outbox

VISITED = dt.date(2027, 1, 4)  # after every visit the seed made


def _local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A local (Asia/Shanghai) wall-clock time as the naive UTC the database keeps."""
    return to_utc(dt.datetime.combine(day, dt.time(hour, minute)), "Asia/Shanghai")


def _household(s, colour: CareColour, worker: str = "wangxiulan") -> Household:
    worker_id = s.execute(select(User.id).where(User.login == worker)).scalar_one()
    return s.execute(select(Household).where(Household.care_colour == colour, Household.contact_user_id == worker_id)
                     .order_by(Household.number)).scalars().first()


def _due_ids(s, actor, on):
    return {d.household_id: d for d in care.visits_due(s, actor, on=on)}


def test_overdue_visits_appear_on_the_right_day(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        worker = resolve_actor(s, "cli:wangxiulan")
        red, yellow, green = (_household(s, c) for c in (CareColour.red, CareColour.yellow, CareColour.green))
        for h in (red, yellow, green):  # 23:30 local on the 4th: still the 4th in the village
            households.log_visit(s, worker, h.id, "走访，情况正常", now=_local(VISITED, 23, 30))
        for days, colour_household in ((7, red), (14, yellow), (30, green)):
            before = _due_ids(s, worker, VISITED + dt.timedelta(days=days - 1))
            on_day = _due_ids(s, worker, VISITED + dt.timedelta(days=days))
            after = _due_ids(s, worker, VISITED + dt.timedelta(days=days + 1))
            assert colour_household.id not in before
            assert on_day[colour_household.id].days_overdue == 0 and not on_day[colour_household.id].overdue
            assert after[colour_household.id].days_overdue == 1 and after[colour_household.id].overdue
            assert on_day[colour_household.id].last_visit == VISITED
        # The list is the worker's own, most overdue first; another worker sees none of these.
        listed = care.visits_due(s, worker, on=VISITED + dt.timedelta(days=40))
        assert [d.days_overdue for d in listed] == sorted((d.days_overdue for d in listed), reverse=True)
        assert {d.worker_id for d in listed} == {worker.user_id}
        other = care.visits_due(s, resolve_actor(s, "cli:liguoqiang"), on=VISITED + dt.timedelta(days=40))
        assert red.id not in {d.household_id for d in other}
        with pytest.raises(AccessDenied):
            care.visits_due(s, worker, on=VISITED, worker_id=resolve_actor(s, "cli:liguoqiang").user_id)
        with pytest.raises(AccessDenied):
            care.visits_due(s, resolve_actor(s, "cli:wangjianguo"), on=VISITED)
        # Reading the list is a read of each household, audited.
        assert s.execute(select(AuditLog).where(AuditLog.household_id == red.id,
                                                AuditLog.detail.like("care visit due%"))).first()


def test_each_village_sets_its_own_frequency_and_criteria(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        admin = resolve_actor(s, "cli:chenzhiming")
        plan = care.policies(s, admin.village_id)
        assert {c: p.visit_days for c, p in plan.items()} == {CareColour.red: 7, CareColour.yellow: 14,
                                                               CareColour.green: 30}
        assert "三留守" in plan[CareColour.red].criteria
        with pytest.raises(AccessDenied):
            care.set_policy(s, resolve_actor(s, "cli:wangxiulan"), "红", 3)
        assert care.set_policy(s, admin, "红色连心户", 3).visit_days == 3
        worker = resolve_actor(s, "cli:wangxiulan")
        red = _household(s, CareColour.red)
        households.log_visit(s, worker, red.id, "走访", now=_local(VISITED, 10))
        assert red.id not in _due_ids(s, worker, VISITED + dt.timedelta(days=2))
        assert red.id in _due_ids(s, worker, VISITED + dt.timedelta(days=3))


def test_one_morning_reminder_per_worker_per_day(fresh_db):
    day = dt.date(2027, 1, 11)
    assert run_jobs_once(now=_local(day, 7, 0), url=fresh_db)["care_reminders"] == []  # before 07:30
    with session_scope(url=fresh_db) as s:
        wangxiulan = s.execute(select(User.id).where(User.login == "wangxiulan")).scalar_one()
    first = run_jobs_once(now=_local(day, 7, 45), url=fresh_db)["care_reminders"]
    assert wangxiulan in first
    assert run_jobs_once(now=_local(day, 9, 0), url=fresh_db)["care_reminders"] == []  # once a day
    assert wangxiulan in run_jobs_once(now=_local(day + dt.timedelta(days=1), 8, 0), url=fresh_db)["care_reminders"]
    with session_scope(url=fresh_db) as s:
        sent = outbox(s, f"care:reminder:{wangxiulan}:%")
        assert [m.dedupe_key for m in sent] == [f"care:reminder:{wangxiulan}:2027-01-11",
                                                f"care:reminder:{wangxiulan}:2027-01-12"]
        assert sent[0].text.startswith("早上好，王秀兰！今天该走访") and "超期" in sent[0].text
        assert sent[0].payload["household_ids"]


def test_colour_change_needs_a_reason_and_is_kept(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        worker = resolve_actor(s, "cli:wangxiulan")
        green = _household(s, CareColour.green)
        for reason in ("", "  ", "x"):
            with pytest.raises(care.CareError):
                care.change_colour(s, worker, green.id, "红", reason)
        assert green.care_colour == CareColour.green
        with pytest.raises(care.CareError):
            care.change_colour(s, worker, green.id, "绿", "还是绿色")
        with pytest.raises(AccessDenied):  # not in their grids
            care.change_colour(s, resolve_actor(s, "cli:liguoqiang"), green.id, "黄", "收入下降")
        now = dt.datetime(2027, 1, 5, 2, 0)
        change = care.change_colour(s, worker, green.id, "黄色", "老伴去世，现在一个人住", now=now)
        assert (change.from_colour, change.to_colour, change.actor_id, change.at) == (
            CareColour.green, CareColour.yellow, worker.user_id, now)
        assert (green.care_colour, green.care_reason, green.care_since) == (
            CareColour.yellow, "老伴去世，现在一个人住", dt.date(2027, 1, 5))
        care.change_colour(s, worker, green.id, CareColour.red, "摔伤卧床", now=now + dt.timedelta(days=3))
        history = care.colour_history(s, worker, green.id)
        assert [(h.from_colour, h.to_colour, h.reason) for h in history] == [
            (CareColour.green, CareColour.yellow, "老伴去世，现在一个人住"), (CareColour.yellow, CareColour.red, "摔伤卧床")]
        audited = [a.action for a in s.execute(select(AuditLog).where(
            AuditLog.household_id == green.id, AuditLog.detail.like("care colour%"))).scalars()]
        assert audited.count("write") == 2 and "refused" in [
            a.action for a in s.execute(select(AuditLog).where(AuditLog.household_id == green.id)).scalars()]
