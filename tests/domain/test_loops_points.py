"""Points where they are earned: by quantity (recyclables), in bulk for an event (idempotent per
household and event, also under concurrent requests on PostgreSQL), applications for a deed
approved or rejected, and a shop keeper who may hand out pickups and restock, nothing else."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot import care, emergency, followups, grievances, households, notices, points
from bot.db import session_scope
from bot.identity import AccessDenied, resolve_actor
from bot.models import ApplicationState, Household, OutboxMessage, PointsEntry, Redemption, StockReceipt
from tests.support.loops import MONDAY, outbox, together


def _household_id(s, number: int) -> int:
    return s.execute(select(Household.id).where(Household.number == number)).scalar_one()


def test_a_quantity_rule_books_the_right_points(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        worker = resolve_actor(s, "cli:wangxiulan")
        bottles = points.find_rule(s, worker.village_id, "塑料瓶")
        paper = points.find_rule(s, worker.village_id, "废纸")
        assert (bottles.unit, bottles.per_quantity, bottles.points) == ("个", 10, 1)
        assert points.points_for_quantity(bottles, 30).points == 3
        assert points.points_for_quantity(bottles, 35) == points.QuantityPoints(3, Decimal(30), Decimal(5), "个")
        assert points.points_for_quantity(paper, "2.5").points == 4 and points.points_for_quantity(paper, 2.5).leftover == Decimal("0.5")
        with pytest.raises(points.NotByQuantity):
            points.points_for_quantity(points.find_rule(s, worker.village_id, "义务清扫"), 3)
        with pytest.raises(points.PointsError):
            points.points_for_quantity(bottles, -1)

        household = _household_id(s, 3)
        before = points.balance_of(s, household)
        booked = points.award_by_quantity(s, worker, household, "塑料瓶", 30, key="recycle:hh3:1", reason="王大娘送来")
        assert (booked.points, booked.unit, booked.balance_after, booked.replayed) == (3, "个", before + 3, False)
        entry = s.get(PointsEntry, booked.entry_id)
        assert entry.reason == "回收塑料瓶：30个，王大娘送来" and entry.rule.code == "bottles"
        again = points.award_by_quantity(s, worker, household, "塑料瓶", 30, key="recycle:hh3:1")
        assert again.replayed and again.entry_id == booked.entry_id and points.balance_of(s, household) == before + 3
        too_few = points.award_by_quantity(s, worker, household, "塑料瓶", 6, key="recycle:hh3:2")
        assert (too_few.points, too_few.entry_id, too_few.leftover) == (0, None, Decimal(6))
        assert points.award_by_quantity(s, worker, household, "废纸", "1.5", key="recycle:hh3:3").points == 2
        assert points.balance_of(s, household) == points.ledger_sum(s, household) == before + 5
        with pytest.raises(AccessDenied):
            points.award_by_quantity(s, resolve_actor(s, "cli:wangjianguo"), household, "塑料瓶", 30, key="x")


def test_a_bulk_award_is_idempotent_per_household_and_event(any_db):
    url = any_db
    with session_scope(write=True, url=url) as s:
        ids = [_household_id(s, n) for n in range(1, 13)]
        before = {h: points.balance_of(s, h) for h in ids}
    event = "cleanup:2026-11-07:村东"

    def award(i: int):
        with session_scope(write=True, url=url) as s:
            admin = resolve_actor(s, "cli:chenzhiming")
            return points.award_bulk(s, admin, ids, "义务清扫", event, reason="11月7日义务清扫")

    results = together(award)  # four copies of the same request at once
    fresh = [line.household_id for lines in results for line in lines if not line.replayed]
    assert sorted(fresh) == sorted(ids)  # each household booked by exactly one of them
    with session_scope(write=True, url=url) as s:
        admin = resolve_actor(s, "cli:chenzhiming")
        # Later, with two latecomers added to the list: only they are booked.
        more = ids + [_household_id(s, 13), _household_id(s, 14)]
        lines = points.award_bulk(s, admin, more, "义务清扫", event)
        assert [line.replayed for line in lines] == [True] * 12 + [False, False]
        for h in ids:
            assert points.balance_of(s, h) == before[h] + 5 == points.ledger_sum(s, h)
        entries = s.execute(select(func.count(PointsEntry.id)).where(
            PointsEntry.idempotency_key.like("bulk:cleanup:2026-11-07:%"))).scalar_one()
        assert entries == 14
        # A grid worker may award only to households in their grids: all or nothing.
        worker = resolve_actor(s, "cli:wangxiulan")
        with pytest.raises(AccessDenied):
            points.award_bulk(s, worker, [_household_id(s, 1), _household_id(s, 40)], "义务清扫", "other-event")


def test_long_event_keys_stay_within_the_key_column(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        admin = resolve_actor(s, "cli:chenzhiming")
        event = "村庄环境整治义务清扫活动" * 6
        first = points.award_bulk(s, admin, [_household_id(s, 1)], "义务清扫", event, now=MONDAY)
        again = points.award_bulk(s, admin, [_household_id(s, 1)], "义务清扫", event)
        assert again[0].replayed and again[0].entry_id == first[0].entry_id
        entry = s.get(PointsEntry, first[0].entry_id)
        assert len(entry.idempotency_key) <= 64 and entry.at == MONDAY


def test_applications_for_points_are_approved_or_rejected(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        villager = resolve_actor(s, "cli:wangjianguo")
        before = points.balance_of(s, villager.household_id)
        road = points.apply_for_points(s, villager, "我昨天参加了修路", rule_text="志愿服务", deed_on=dt.date(2026, 11, 1),
                                       now=MONDAY)
        lamp = points.apply_for_points(s, villager, "帮邻居修了路灯", now=MONDAY)
        assert road.state == ApplicationState.pending and road.rule.code == "volunteer" and lamp.rule is None
        asked = outbox(s, f"points_application:{road.id}")
        assert asked[0].user_id == s.get(Household, villager.household_id).contact_user_id
        worker = resolve_actor(s, "cli:wangxiulan")
        assert [a.id for a in points.open_applications(s, worker)] == [road.id, lamp.id]
        assert points.open_applications(s, resolve_actor(s, "cli:liguoqiang")) == []
        with pytest.raises(AccessDenied):
            points.decide_application(s, villager, road.id, True)

        points.decide_application(s, worker, road.id, True, "核实了，确实参加", now=MONDAY + dt.timedelta(days=1))
        assert road.state == ApplicationState.approved and road.entry.delta == 5
        assert road.entry.idempotency_key == f"application:{road.id}"
        with pytest.raises(points.ApplicationClosed):
            points.decide_application(s, worker, road.id, True)
        with pytest.raises(points.PointsError):
            points.decide_application(s, worker, lamp.id, False, "")  # a rejection needs a reason
        with pytest.raises(points.UnknownRule):
            points.decide_application(s, worker, lamp.id, True)  # no rule named: staff must pick one
        points.decide_application(s, worker, lamp.id, False, "路灯是电工修的，不算志愿服务")
        assert lamp.state == ApplicationState.rejected and lamp.entry_id is None
        assert points.balance_of(s, villager.household_id) == before + 5
        told = [m.text for m in outbox(s, "points_application:%:decided")]
        assert told[0].endswith("加了5分。") and "路灯是电工修的" in told[1]
        assert [(a.state, a.points) for a in points.my_applications(s, villager)] == [
            (ApplicationState.rejected, None), (ApplicationState.approved, 5)]


def test_the_shop_keeper_hands_out_pickups_and_restocks_nothing_else(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        villager = resolve_actor(s, "cli:wangjianguo")
        redeemed = points.redeem(s, villager, "肥皂", 2, key="redeem-soap")
        shop = resolve_actor(s, "cli:xiaomaibu")
        assert [p.code for p in points.pending_pickups(s, shop)] == [redeemed.pickup_code]
        with pytest.raises(points.UnknownPickup):
            points.collect_pickup(s, shop, "0000")
        with pytest.raises(AccessDenied):
            points.collect_pickup(s, villager, redeemed.pickup_code)
        handed = points.collect_pickup(s, shop, f" {redeemed.pickup_code} ", now=MONDAY)
        assert (handed.item, handed.quantity, handed.household_number, handed.picked_up_at) == ("肥皂", 2, 1, MONDAY)
        row = s.execute(select(Redemption).where(Redemption.pickup_code == redeemed.pickup_code)).scalar_one()
        assert row.picked_up_by == shop.user_id
        with pytest.raises(points.AlreadyCollected) as twice:
            points.collect_pickup(s, shop, redeemed.pickup_code)
        assert twice.value.by == "孙玉梅" and twice.value.at == MONDAY
        assert points.pending_pickups(s, shop) == []
        assert outbox(s, f"redemption:{row.id}:collected")[0].household_id == villager.household_id

        eggs = points.find_item(s, shop.village_id, "鸡蛋")
        assert eggs.stock == 0
        restocked = points.replenish_stock(s, shop, "鸡蛋", 24, key="delivery-1", note="镇上批发")
        assert (restocked.stock, restocked.added, restocked.replayed) == (24, 24, False)
        assert points.replenish_stock(s, shop, "鸡蛋", 24, key="delivery-1").replayed
        assert points.find_item(s, shop.village_id, "鸡蛋").stock == 24
        assert s.execute(select(StockReceipt.actor_id)).scalars().all() == [shop.user_id]
        with pytest.raises(AccessDenied):
            points.replenish_stock(s, villager, "鸡蛋", 5)

        # Nothing else: no points, no households, no grievances, no emergencies, no notices, no care lists.
        household = villager.household_id
        refused = [
            lambda: points.award(s, shop, household, "义务清扫", "", key="shop-award"),
            lambda: points.award_bulk(s, shop, [household], "义务清扫", "shop-event"),
            lambda: points.award_by_quantity(s, shop, household, "塑料瓶", 50, key="shop-bottles"),
            lambda: points.decide_application(s, shop, 1, True),
            lambda: points.reverse(s, shop, 1, "", key="shop-reverse"),
            lambda: points.open_appeals(s, shop),
            lambda: households.find_households(s, shop, number="1"),
            lambda: households.summarise(s, shop, household),
            lambda: grievances.open_queue(s, shop),
            lambda: grievances.transition(s, shop, "260101", "note", "看看"),
            lambda: grievances.township_queue(s, shop),
            lambda: notices.publish(s, shop, "通知", "内容"),
            lambda: care.visits_due(s, shop),
            lambda: followups.tasks_for(s, shop),
        ]
        for attempt in refused:
            with pytest.raises(AccessDenied):
                attempt()
        event_id = emergency.raise_alarm(s, villager, "救命", now=MONDAY).id
        with pytest.raises(AccessDenied):
            emergency.acknowledge(s, shop, event_id)
        assert s.execute(select(func.count(OutboxMessage.id)).where(OutboxMessage.user_id == shop.user_id)
                         ).scalar_one() == 0


def test_a_relative_hears_the_linked_households_points_and_spends_none(fresh_db):
    """子女在外: a relative's account linked to one household may hear its balance and history
    (audited under the relative); spending and appeals stay with the household."""
    with session_scope(write=True, url=fresh_db) as s:
        relative = resolve_actor(s, "cli:limingliang")
        linked = points.reading_household_id(s, relative)
        assert relative.household_id is None and linked is not None
        assert points.summary(s, relative).balance == points.balance_of(s, linked)
        assert points.history(s, relative, limit=3)
        with pytest.raises(points.NoHousehold):
            points.redeem(s, relative, "肥皂", 1, "relative-redeem-1")
        villager = resolve_actor(s, "cli:wangjianguo")
        assert points.reading_household_id(s, villager) == villager.household_id
        worker = resolve_actor(s, "cli:wangxiulan")
        assert points.reading_household_id(s, worker) is None
