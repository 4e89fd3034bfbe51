"""The township (镇): escalation lands in its queue with a notification to a real person, with
its own time limit; the resident is told exactly where the matter is, never that it went
somewhere it did not."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from bot import grievances
from bot.db import session_scope
from bot.identity import AccessDenied, resolve_actor
from bot.models import GrievanceState, OutboxMessage, Role, User
from bot.ops.scheduler import run_jobs_once
from tests.support.loops import MONDAY, outbox


def _file(s, now=MONDAY):
    villager = resolve_actor(s, "cli:wangjianguo")
    return grievances.file(s, villager, "道路交通", "村西的桥塌了一半，车过不去", "村西小桥", now=now)


def test_escalation_to_the_township_lands_in_its_queue_with_a_notification(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        g = _file(s)
        ticket = g.ticket_no
        assert grievances.view(s, g).where == "在一组，由赵德福负责"
        grievances.transition(s, resolve_actor(s, "cli:zhaodefu"), ticket, "escalate", "要村里协调",
                              now=MONDAY + dt.timedelta(hours=1))
        assert grievances.view(s, g).where == "在村里，由陈志明负责"
        assert grievances.status_text(s, g) == f"您反映的{ticket}号诉求已上报，现在在村里，由陈志明负责。"
        grievances.transition(s, resolve_actor(s, "cli:chenzhiming"), ticket, "escalate", "需要镇里出资修桥",
                              now=MONDAY + dt.timedelta(hours=2))
        township = s.execute(select(User).where(User.login == "liujianhua")).scalar_one()
        assert (g.level, g.state, g.assignee_id) == (1, GrievanceState.escalated, township.id)
        assert g.due_at == MONDAY + dt.timedelta(hours=2 + 72)  # the township's own time limit
        # The township duty officer is notified: the referral has a recipient.
        referral = s.execute(select(OutboxMessage).where(OutboxMessage.kind == "township_referral")).scalars().all()
        assert [(m.user_id, ticket in m.text) for m in referral] == [(township.id, True)]
        # The resident is told exactly where it is, and by whom it is handled.
        told = [m.text for m in s.execute(select(OutboxMessage).where(
            OutboxMessage.user_id == g.reporter_id, OutboxMessage.kind == "grievance_update")).scalars()]
        assert told[-1] == f"您反映的{ticket}号诉求已经上报到青山镇，由镇里的刘建华负责。"
        villager = resolve_actor(s, "cli:wangjianguo")
        view = grievances.status(s, villager, ticket)[0]
        assert view.where == "已经上报到青山镇，由镇里的刘建华负责" and view.level_name == "镇"
        assert grievances.status_text(s, g) == f"您反映的{ticket}号诉求已经上报到青山镇，由镇里的刘建华负责。"
        # It is in the township's queue, and not in a worker's.
        duty = resolve_actor(s, "cli:liujianhua")
        queue = grievances.township_queue(s, duty, now=MONDAY + dt.timedelta(hours=3))
        assert [v.ticket_no for v in queue] == [ticket] and not queue[0].overdue
        with pytest.raises(AccessDenied):
            grievances.township_queue(s, resolve_actor(s, "cli:wangxiulan"))
        with pytest.raises(grievances.InvalidTransition):
            grievances.transition(s, duty, ticket, "escalate", "再往上", now=MONDAY + dt.timedelta(hours=4))


def test_the_township_handles_its_queue_and_is_reminded_when_overdue(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        g = _file(s)
        ticket = g.ticket_no
        for login in ("zhaodefu", "chenzhiming"):
            grievances.transition(s, resolve_actor(s, f"cli:{login}"), ticket, "escalate", "上报",
                                  now=MONDAY + dt.timedelta(hours=1))
        due = g.due_at
    # Past the township's limit: reminded once (the duty officer and the village admin).
    late = due + dt.timedelta(hours=1)
    assert run_jobs_once(now=late, url=fresh_db)["township_overdue"] == [ticket]
    assert run_jobs_once(now=late + dt.timedelta(minutes=5), url=fresh_db)["township_overdue"] == []
    with session_scope(write=True, url=fresh_db) as s:
        reminders = outbox(s, f"grievance:%:township-overdue:%")
        assert len(reminders) == 2
        duty = resolve_actor(s, "cli:liujianhua")
        assert grievances.township_queue(s, duty, now=late)[0].overdue
        grievances.transition(s, duty, ticket, "accept", "已安排镇交通办", now=late)
        grievances.transition(s, duty, ticket, "resolve", "便桥已经搭好", now=late + dt.timedelta(days=1))
        g = grievances.get_by_ticket(s, ticket)
        assert g.state == GrievanceState.resolved and grievances.view(s, g).where == "已经在镇里办结"
        assert grievances.township_queue(s, duty) == []
        # Township staff cannot touch what was never escalated to them.
        with pytest.raises(AccessDenied):
            grievances.transition(s, duty, "260101", "note", "看一下")


def test_without_a_township_account_nothing_is_said_to_have_gone_there(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        s.execute(update(User).where(User.role == Role.township).values(role=Role.villager))
        g = _file(s)
        ticket = g.ticket_no
        grievances.transition(s, resolve_actor(s, "cli:zhaodefu"), ticket, "escalate", "", now=MONDAY)
        with pytest.raises(grievances.NoTownshipStaff):
            grievances.transition(s, resolve_actor(s, "cli:chenzhiming"), ticket, "escalate", "", now=MONDAY)
        assert g.level == 2
        due = g.due_at
    # The overdue job cannot escalate it either: the admin is told once instead, and it stays in the village.
    assert ticket not in run_jobs_once(now=due + dt.timedelta(hours=1), url=fresh_db)["escalated_grievances"]
    run_jobs_once(now=due + dt.timedelta(hours=2), url=fresh_db)
    with session_scope(url=fresh_db) as s:
        g = grievances.get_by_ticket(s, ticket)
        assert g.level == 2 and g.assignee.login == "chenzhiming"
        assert len(outbox(s, f"grievance:{g.id}:no-township")) == 1
        texts = [m.text for m in s.execute(select(OutboxMessage).where(OutboxMessage.user_id == g.reporter_id))
                 .scalars()]
        assert not any("镇" in t for t in texts)
