"""Schema, seed and the domain rules, against a real SQLite database."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bot import grievances, households, points
from bot.db import session_scope
from bot.identity import AccessDenied, resolve_actor
from bot.models import (
    CareColour, Grid, Grievance, GrievanceEvent, GrievanceState, Household, OutboxMessage, PointsEntry, Role, User,
)
from bot.seed import seed_demo_village


def test_seed_builds_a_whole_village(fresh_db):
    with session_scope(url=fresh_db) as s:
        assert s.execute(select(func.count(Household.id))).scalar_one() >= 60
        colours = set(s.execute(select(Household.care_colour)).scalars())
        assert colours == {CareColour.green, CareColour.yellow, CareColour.red}
        levels = dict(s.execute(select(Grid.level, func.count(Grid.id)).group_by(Grid.level)).all())
        assert levels[1] == 1 and levels[2] >= 3 and levels[3] >= 3
        roles = set(s.execute(select(User.role)).scalars())
        assert roles == {Role.villager, Role.grid_worker, Role.admin, Role.township, Role.shopkeeper, Role.relative}
        states = set(s.execute(select(Grievance.state)).scalars())
        assert len(states) >= 3
        assert s.execute(select(func.count(PointsEntry.id))).scalar_one() > 100


def test_seed_is_idempotent(fresh_db):
    with session_scope(url=fresh_db) as s:
        before = s.execute(select(func.count(PointsEntry.id))).scalar_one()
    assert seed_demo_village(fresh_db) is False
    with session_scope(url=fresh_db) as s:
        assert s.execute(select(func.count(PointsEntry.id))).scalar_one() == before


def test_every_balance_equals_its_ledger(fresh_db):
    with session_scope(url=fresh_db) as s:
        for household_id in s.execute(select(Household.id)).scalars():
            assert points.balance_of(s, household_id) == points.ledger_sum(s, household_id)


def test_redemption_is_idempotent_and_moves_balance_and_stock(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        actor = resolve_actor(s, "cli:wangjianguo")
        before = points.balance_of(s, actor.household_id)
        item = points.find_item(s, actor.village_id, "肥皂")
        stock = item.stock
        first = points.redeem(s, actor, "肥皂", 1, key="redeem-1")
        again = points.redeem(s, actor, "肥皂", 1, key="redeem-1")
        assert again.replayed and again.pickup_code == first.pickup_code
        assert points.balance_of(s, actor.household_id) == before - 5
        assert points.ledger_sum(s, actor.household_id) == before - 5
        assert item.stock == stock - 1


@pytest.mark.parametrize("entity, said, expected", [
    ("酱油", "那换两瓶酱油吧", "酱油"),         # 酱油 holds 食用油's alias 油
    ("油", "那换两瓶酱油吧", "酱油"),           # a short entity inside a longer name said
    ("油", "换一桶油", "食用油"),
    ("换两瓶酱油吧", "", "酱油"),               # no entity: the whole message
    ("我想换一桶花生油", "", "食用油"),
])
def test_the_longest_item_name_said_wins(fresh_db, entity, said, expected):
    with session_scope(url=fresh_db) as s:
        actor = resolve_actor(s, "cli:wangjianguo")
        assert points.find_item(s, actor.village_id, entity, said=said).name == expected


def test_villager_cannot_award_points(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        villager = resolve_actor(s, "cli:wangjianguo")
        with pytest.raises(AccessDenied):
            points.award(s, villager, villager.household_id, "义务清扫", "", key="x")


def test_grid_worker_sees_only_their_grids(fresh_db):
    with session_scope(url=fresh_db) as s:
        worker = resolve_actor(s, "cli:wangxiulan")  # 第一网格: households 1-22
        assert [h.number for h in households.find_households(s, worker, number="12")] == [12]
        assert households.find_households(s, worker, number="40") == []
        outside = s.execute(select(Household).where(Household.number == 40)).scalar_one()
        with pytest.raises(AccessDenied):
            households.summarise(s, worker, outside.id)


def test_name_lookup_handles_duplicates_and_homophones(fresh_db):
    with session_scope(url=fresh_db) as s:
        admin = resolve_actor(s, "cli:chenzhiming")
        assert len(households.find_households(s, admin, name="王建国")) == 2
        assert len(households.find_households(s, admin, name="王建国家")) == 2
        # 王建果 sounds like 王建国 (wang jian guo)
        assert len(households.find_households(s, admin, name="王建果")) == 2
        assert [h.number for h in households.find_households(s, admin, name="李桂芳")] == [2]


def test_grievance_closed_loop_and_escalation_by_time(fresh_db):
    start = dt.datetime(2026, 11, 1, 8, 0)
    with session_scope(write=True, url=fresh_db) as s:
        villager = resolve_actor(s, "cli:wangjianguo")
        g = grievances.file(s, villager, "道路交通", "桥上的栏杆断了", "小桥", urgency="一般", now=start)
        ticket = g.ticket_no
        assert g.assignee.login == "zhaodefu" and g.level == 3
    # Nobody responds within 8 hours: the job moves it up to the village.
    from bot.ops.scheduler import run_jobs_once

    result = run_jobs_once(now=start + dt.timedelta(hours=9), url=fresh_db)
    assert ticket in result["escalated_grievances"]
    result = run_jobs_once(now=start + dt.timedelta(hours=9, minutes=5), url=fresh_db)
    assert ticket not in result["escalated_grievances"]  # exactly once
    with session_scope(write=True, url=fresh_db) as s:
        g = grievances.get_by_ticket(s, ticket)
        assert g.level == 2 and g.state == GrievanceState.escalated and g.assignee.login == "chenzhiming"
        admin = resolve_actor(s, "cli:chenzhiming")
        grievances.transition(s, admin, ticket, "accept", "马上派人去看", now=start + dt.timedelta(hours=10))
        grievances.transition(s, admin, ticket, "resolve", "栏杆已经焊好", now=start + dt.timedelta(hours=30))
        villager = resolve_actor(s, "cli:wangjianguo")
        grievances.record_satisfaction(s, villager, ticket, "不满意", now=start + dt.timedelta(hours=40))
        assert g.state == GrievanceState.in_progress
        kinds = [e.kind for e in s.execute(select(GrievanceEvent).where(GrievanceEvent.grievance_id == g.id)
                                           .order_by(GrievanceEvent.id)).scalars()]
        assert kinds == ["filed", "escalated", "accepted", "resolved", "reopened"]
        texts = list(s.execute(select(OutboxMessage.text).where(OutboxMessage.user_id == villager.user_id)).scalars())
        assert any("已经办结" in t for t in texts)


def test_villager_cannot_transition_grievances(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        villager = resolve_actor(s, "cli:wangjianguo")
        with pytest.raises(AccessDenied):
            grievances.transition(s, villager, "260101", "resolve", "自己说修好了")


def test_unacknowledged_emergency_goes_to_the_admin_once(fresh_db):
    from bot import emergency
    from bot.ops.scheduler import run_jobs_once

    start = dt.datetime(2026, 11, 2, 20, 0)
    with session_scope(write=True, url=fresh_db) as s:
        device = resolve_actor(s, "voice:device-005")
        first = emergency.raise_alarm(s, device, "救命 我摔倒了", now=start).id
        second = emergency.raise_alarm(s, device, "着火了", now=start).id
        worker = resolve_actor(s, "cli:wangxiulan")
        emergency.acknowledge(s, worker, second, now=start + dt.timedelta(minutes=2))
        with pytest.raises(AccessDenied):
            emergency.acknowledge(s, device, first)
    later = start + dt.timedelta(minutes=emergency.ACK_MINUTES + 1)
    assert run_jobs_once(now=later, url=fresh_db)["escalated_emergencies"] == [first]
    assert run_jobs_once(now=later, url=fresh_db)["escalated_emergencies"] == []
    with session_scope(url=fresh_db) as s:
        admin_alerts = s.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("emergency:%:admin"))
                                 ).scalars().all()
        assert [m.dedupe_key for m in admin_alerts] == [f"emergency:{first}:admin"]
