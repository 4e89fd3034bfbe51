"""回访 that always happens: every 办结 asks the reporter on their own channel (an account, or
the household's voice device); unanswered after N days it becomes the grid worker's task, whose
answer is recorded with who, when and how; satisfaction per grid and category."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

from bot import followups, grievances
from bot.db import session_scope
from bot.identity import AccessDenied, resolve_actor
from bot.models import Followup, FollowupState, GrievanceState, User
from bot.ops.scheduler import run_jobs_once
from tests.support.loops import MONDAY, outbox

DAY = dt.timedelta(days=1)


def _resolved(s, sender: str, text: str, now=MONDAY, household_id=None):
    g = grievances.file(s, resolve_actor(s, sender), "环境卫生", text, now=now, household_id=household_id)
    leader = resolve_actor(s, "cli:zhaodefu")
    grievances.transition(s, leader, g.ticket_no, "accept", "", now=now + dt.timedelta(hours=1))
    grievances.transition(s, leader, g.ticket_no, "resolve", "已经清理干净", now=now + dt.timedelta(hours=5))
    return g


def test_the_reporter_is_asked_then_the_grid_worker_is_tasked_after_n_days(fresh_db):
    resolved_at = MONDAY + dt.timedelta(hours=5)
    with session_scope(write=True, url=fresh_db) as s:
        g = _resolved(s, "cli:wangjianguo", "门口垃圾堆了一个星期")
        ticket, reporter_id = g.ticket_no, g.reporter_id
        followup = s.execute(select(Followup).where(Followup.grievance_id == g.id)).scalar_one()
        assert (followup.state, followup.asked_at) == (FollowupState.asked, resolved_at)
        asked = outbox(s, f"followup:{followup.id}:ask")
        assert [(m.kind, m.user_id, m.payload["expects"]) for m in asked] == [
            ("followup_question", reporter_id, "satisfaction")]
        assert "您满意吗" in asked[0].text and ticket in asked[0].text
        followup_id = followup.id

    # Not yet: the reporter has three days (XIANGYIN_FOLLOWUP_DAYS).
    assert followup_id not in run_jobs_once(now=resolved_at + 2 * DAY, url=fresh_db)["followup_tasks"]
    assert run_jobs_once(now=resolved_at + 3 * DAY + dt.timedelta(hours=1), url=fresh_db)["followup_tasks"] == [
        followup_id]
    assert run_jobs_once(now=resolved_at + 4 * DAY, url=fresh_db)["followup_tasks"] == []  # once

    with session_scope(write=True, url=fresh_db) as s:
        worker = resolve_actor(s, "cli:wangxiulan")  # household 1's 三线 contact
        task = outbox(s, f"followup:{followup_id}:task")
        assert len(task) == 1 and task[0].user_id == worker.user_id and "王建国" in task[0].text
        tasks = followups.tasks_for(s, worker)
        assert [(t.followup_id, t.contact_name, t.phone) for t in tasks] == [(followup_id, "王建国", "13800000001")]
        assert followups.tasks_for(s, resolve_actor(s, "cli:liguoqiang")) == []
        with pytest.raises(followups.FollowupError):
            followups.answer_task(s, worker, followup_id, "满意", "wechat")
        with pytest.raises(AccessDenied):
            followups.answer_task(s, resolve_actor(s, "cli:liguoqiang"), followup_id, "满意", "phone")
        answered_at = resolved_at + 4 * DAY + dt.timedelta(hours=2)
        done = followups.answer_task(s, worker, followup_id, "基本满意", "phone", "电话回访，说清理得还行", now=answered_at)
        assert (done.state, done.answer, done.answered_via, done.answered_at) == (
            FollowupState.answered, "基本满意", "phone", answered_at)
        assert s.get(User, done.answered_by).login == "wangxiulan" and "电话回访" in done.note
        g = grievances.get_by_ticket(s, ticket)
        assert g.state == GrievanceState.followed_up and g.satisfaction == "基本满意"
        assert followups.tasks_for(s, worker) == []
        with pytest.raises(followups.FollowupError):
            followups.answer_task(s, worker, followup_id, "满意", "visit")


def test_a_voice_device_household_is_asked_on_the_household_and_answers_by_voice(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        device = resolve_actor(s, "voice:device-005")
        g = _resolved(s, "voice:device-005", "路灯不亮")
        followup = s.execute(select(Followup).where(Followup.grievance_id == g.id)).scalar_one()
        asked = outbox(s, f"followup:{followup.id}:ask")
        assert [(m.kind, m.user_id, m.household_id) for m in asked] == [("followup_question", None, device.household_id)]
        # On its next press the device finds the question waiting.
        assert [p.ticket_no for p in grievances.pending_followups(s, device)] == [g.ticket_no]
        grievances.record_satisfaction(s, device, g.ticket_no, "满意", now=MONDAY + 2 * DAY)
        assert (followup.state, followup.answered_via, followup.answered_by) == (FollowupState.answered, "voice", None)
        assert grievances.pending_followups(s, device) == []


def test_a_household_member_can_answer_what_the_household_device_filed(fresh_db):
    """The device's 回访 question may reach a household member's own account first (Telegram):
    their answer counts; a neighbour's does not, nor does it show what another member filed."""
    with session_scope(write=True, url=fresh_db) as s:
        g = _resolved(s, "voice:device-001", "水管漏水")  # 王建国's household device
        member = resolve_actor(s, "cli:wangjianguo")
        own = _resolved(s, "cli:liguifang", "路面坑洼")  # another household's own account
        assert member.household_id == g.household_id and g.reporter_id is None
        assert [p.ticket_no for p in grievances.pending_followups(s, member)] == [g.ticket_no]
        neighbour = resolve_actor(s, "cli:liguifang")
        assert g.ticket_no not in [p.ticket_no for p in grievances.pending_followups(s, neighbour)]
        assert [p.ticket_no for p in grievances.pending_followups(s, neighbour)] == [own.ticket_no]
        grievances.record_satisfaction(s, member, g.ticket_no, "满意", now=MONDAY + 2 * DAY)
        assert grievances.pending_followups(s, member) == []


def test_dissatisfied_reopens_and_the_next_resolution_is_asked_again(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        g = _resolved(s, "cli:wangjianguo", "排水沟堵了")
        villager = resolve_actor(s, "cli:wangjianguo")
        grievances.record_satisfaction(s, villager, g.ticket_no, "不满意", now=MONDAY + DAY)
        assert g.state == GrievanceState.in_progress
        grievances.transition(s, resolve_actor(s, "cli:zhaodefu"), g.ticket_no, "resolve", "重新疏通了",
                              now=MONDAY + 2 * DAY)
        rounds = s.execute(select(Followup).where(Followup.grievance_id == g.id).order_by(Followup.id)).scalars().all()
        assert [(f.state, f.answer) for f in rounds] == [(FollowupState.answered, "不满意"), (FollowupState.asked, None)]


def test_every_closed_grievance_gets_its_followup(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        g = _resolved(s, "cli:liguifang", "垃圾桶坏了")
        s.execute(delete(Followup).where(Followup.grievance_id == g.id))  # as if resolved before 回访 existed
        seeded = grievances.get_by_ticket(s, "260103")  # resolved in the seed
        assert s.execute(select(Followup).where(Followup.grievance_id == seeded.id)).scalar_one()
    opened = run_jobs_once(now=MONDAY + DAY, url=fresh_db)["followups_opened"]
    assert len(opened) == 1 and run_jobs_once(now=MONDAY + DAY, url=fresh_db)["followups_opened"] == []
    with session_scope(url=fresh_db) as s:
        assert s.get(Followup, opened[0]).grievance_id == g.id


def test_an_anonymous_unreachable_reporter_becomes_a_task_at_once(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        stranger = resolve_actor(s, "telegram:999999")  # not linked: no account, no household
        g = grievances.file(s, stranger, "治安", "晚上有人偷电瓶", "村口", now=MONDAY)
        admin = resolve_actor(s, "cli:chenzhiming")
        grievances.transition(s, admin, g.ticket_no, "accept", "", now=MONDAY)
        grievances.transition(s, admin, g.ticket_no, "resolve", "装了监控", now=MONDAY + DAY)
        followup = s.execute(select(Followup).where(Followup.grievance_id == g.id)).scalar_one()
        assert followup.state == FollowupState.task and followup.worker_id is not None
        assert len(outbox(s, f"followup:{followup.id}:task")) == 1


def test_satisfaction_per_grid_and_category(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        answers = [("cli:wangjianguo", "满意"), ("cli:liguifang", "不满意"), ("cli:hh003", None)]
        for sender, answer in answers:
            g = _resolved(s, sender, f"{sender}家门口很脏")
            if answer:
                grievances.record_satisfaction(s, resolve_actor(s, sender), g.ticket_no, answer, now=MONDAY + DAY)
        rows = followups.satisfaction_report(s, resolve_actor(s, "cli:chenzhiming"), since=MONDAY,
                                            until=MONDAY + 3 * DAY)  # not the seed's own 回访
        assert len(rows) == 1
        row = rows[0]
        assert (row.grid, row.category, row.asked, row.answered, row.satisfied, row.dissatisfied, row.waiting) == (
            "第一网格", "环境卫生", 3, 2, 1, 1, 1)
        assert row.satisfaction_rate == 0.5
        assert followups.satisfaction_report(s, resolve_actor(s, "cli:liguoqiang"), since=MONDAY,
                                            until=MONDAY + 3 * DAY) == []
        with pytest.raises(AccessDenied):
            followups.satisfaction_report(s, resolve_actor(s, "cli:wangjianguo"))
