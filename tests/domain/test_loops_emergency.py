"""The emergency response loop: alert → acknowledged → on site → closed, the caller and the
relatives told, the escalation chain once per step under concurrent schedulers, and the
response-time report against the 30-minute target."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot import emergency
from bot.db import session_scope
from bot.identity import AccessDenied, resolve_actor
from bot.models import EmergencyEvent, EmergencyState, OutboxMessage, User
from tests.support.loops import MONDAY, outbox, together

T0 = MONDAY + dt.timedelta(hours=11)  # 20:00 in the village


def _user_id(s, login: str) -> int:
    return s.execute(select(User.id).where(User.login == login)).scalar_one()


def test_acknowledged_emergency_tells_the_caller_and_the_relatives(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        device = resolve_actor(s, "voice:device-002")  # 李桂芳's household; her son 李明亮 is linked
        event = emergency.raise_alarm(s, device, "救命 我摔倒了", now=T0)
        event_id, household_id = event.id, event.household_id
        assert event.state == EmergencyState.alert and event.alerted.login == "wangxiulan"
        son = _user_id(s, "limingliang")
        alert = outbox(s, f"emergency:{event_id}:relative:{son}:alert")
        assert len(alert) == 1 and "李桂芳" in alert[0].text and "王秀兰" in alert[0].text

    with session_scope(write=True, url=fresh_db) as s:
        worker = resolve_actor(s, "cli:wangxiulan")
        event = emergency.acknowledge(s, worker, event_id, now=T0 + dt.timedelta(minutes=2))
        assert event.state == EmergencyState.acknowledged and event.acknowledger.login == "wangxiulan"
        # The caller's household hears who is coming, at once (its device has no user: the household).
        told = outbox(s, f"emergency:{event_id}:caller_update")
        assert [(m.kind, m.user_id, m.household_id, m.text) for m in told] == [
            ("caller_update", None, household_id, "王秀兰已经收到，正在赶过去。")]
        assert len(outbox(s, f"emergency:{event_id}:relative:%:acknowledged")) == 1
        # Somebody else acknowledging later changes nothing: the first one has it.
        admin = resolve_actor(s, "cli:chenzhiming")
        again = emergency.acknowledge(s, admin, event_id, now=T0 + dt.timedelta(minutes=3))
        assert again.acknowledger.login == "wangxiulan" and again.acknowledged_at == T0 + dt.timedelta(minutes=2)
        assert len(outbox(s, f"emergency:{event_id}:caller_update")) == 1

    with session_scope(write=True, url=fresh_db) as s:
        worker = resolve_actor(s, "cli:wangxiulan")
        emergency.arrive(s, worker, event_id, now=T0 + dt.timedelta(minutes=14))
        with pytest.raises(ValueError):
            emergency.close(s, worker, event_id, "", now=T0 + dt.timedelta(minutes=40))
        event = emergency.close(s, worker, event_id, "扶起来了，送到镇卫生院检查", now=T0 + dt.timedelta(minutes=40))
        assert event.state == EmergencyState.closed
        assert (event.on_site_user.login, event.closer.login) == ("wangxiulan", "wangxiulan")
        assert (event.on_site_at - event.at, event.closed_at - event.at) == (dt.timedelta(minutes=14),
                                                                              dt.timedelta(minutes=40))
        stages = [m.dedupe_key.rsplit(":", 1)[1] for m in outbox(s, f"emergency:{event_id}:relative:%")]
        assert stages == ["alert", "acknowledged", "on_site", "closed"]
        # The relative's own view shows it handled.
        son = resolve_actor(s, "cli:limingliang")
        assert [(e.id, e.state) for e in emergency.for_relative(s, son)] == [(event_id, EmergencyState.closed)]


def test_only_the_responsible_people_may_acknowledge(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        event_id = emergency.raise_alarm(s, resolve_actor(s, "voice:device-002"), "快来人", now=T0).id
        for login in ("wangjianguo", "liguoqiang", "xiaomaibu", "limingliang"):  # villager, other grid, shop, family
            with pytest.raises(AccessDenied):
                emergency.acknowledge(s, resolve_actor(s, f"cli:{login}"), event_id, now=T0)
        with pytest.raises(AccessDenied):
            emergency.acknowledge(s, resolve_actor(s, "voice:device-002"), event_id, now=T0)
        for login in ("zhaodefu", "chenzhiming", "liujianhua"):  # group leader, admin, township duty
            assert emergency.may_respond(s, resolve_actor(s, f"cli:{login}"), s.get(EmergencyEvent, event_id))
        township = resolve_actor(s, "cli:liujianhua")
        assert emergency.acknowledge(s, township, event_id, now=T0).acknowledger.login == "liujianhua"


def test_pending_alert_is_what_a_spoken_shou_dao_refers_to(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        worker = resolve_actor(s, "cli:wangxiulan")
        assert emergency.pending_alert_for(s, worker) is None
        event_id = emergency.raise_alarm(s, resolve_actor(s, "voice:device-005"), "着火了", now=T0).id
        assert emergency.pending_alert_for(s, worker).id == event_id
        assert emergency.pending_alert_for(s, resolve_actor(s, "cli:liguoqiang")) is None
        emergency.acknowledge(s, worker, event_id, now=T0)
        assert emergency.pending_alert_for(s, worker) is None
        assert [e.id for e in emergency.active_emergencies(s, worker)] == [event_id]


def _escalate(url: str, at: dt.datetime):
    def run(_: int) -> list[int]:
        with session_scope(write=True, url=url) as s:
            return emergency.escalate_unacknowledged(s, at, ack_minutes=5, township_minutes=15)
    return run


def test_escalation_chain_once_per_step_under_four_schedulers(any_db):
    url = any_db
    with session_scope(write=True, url=url) as s:
        first = emergency.raise_alarm(s, resolve_actor(s, "voice:device-002"), "救命", now=T0).id
        second = emergency.raise_alarm(s, resolve_actor(s, "voice:device-030"), "摔倒了", now=T0).id
        handled = emergency.raise_alarm(s, resolve_actor(s, "voice:device-050"), "胸口疼", now=T0).id
        emergency.acknowledge(s, resolve_actor(s, "cli:zhanglihua"), handled, now=T0 + dt.timedelta(minutes=1))

    # Nothing is due before 5 minutes.
    assert sum(together(_escalate(url, T0 + dt.timedelta(minutes=4))), []) == []
    # Step 1 (group leader + admin): four schedulers at once, each alarm escalated by exactly one.
    moved = sum(together(_escalate(url, T0 + dt.timedelta(minutes=6))), [])
    assert sorted(moved) == sorted([first, second])
    assert sum(together(_escalate(url, T0 + dt.timedelta(minutes=7))), []) == []
    # Step 2 (township duty), again once.
    moved = sum(together(_escalate(url, T0 + dt.timedelta(minutes=16))), [])
    assert sorted(moved) == sorted([first, second])
    assert sum(together(_escalate(url, T0 + dt.timedelta(minutes=30))), []) == []

    with session_scope(url=url) as s:
        for event_id, leader in ((first, "zhaodefu"), (second, "yangchangsheng")):
            keys = [m.dedupe_key for m in outbox(s, f"emergency:{event_id}:%") if m.kind == "emergency"]
            assert sorted(keys) == sorted(f"emergency:{event_id}:{step}" for step in
                                          ("worker", "leader", "admin", "township"))
            by_key = {m.dedupe_key: m for m in outbox(s, f"emergency:{event_id}:%")}
            assert by_key[f"emergency:{event_id}:leader"].user_id == _user_id(s, leader)
            assert by_key[f"emergency:{event_id}:township"].user_id == _user_id(s, "liujianhua")
            assert s.get(EmergencyEvent, event_id).escalation_step == 2
        assert [m.dedupe_key for m in outbox(s, f"emergency:{handled}:%") if m.kind == "emergency"] == [
            f"emergency:{handled}:worker"]  # acknowledged in time: never escalated


def test_a_scheduler_that_was_down_takes_both_steps_in_order(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        event_id = emergency.raise_alarm(s, resolve_actor(s, "voice:device-012"), "救命", now=T0).id
    assert _escalate(fresh_db, T0 + dt.timedelta(hours=2))(0) == [event_id]
    with session_scope(url=fresh_db) as s:
        assert {m.dedupe_key.rsplit(":", 1)[1] for m in outbox(s, f"emergency:{event_id}:%")
                if m.kind == "emergency"} == {
            "worker", "leader", "admin", "township"}


def test_response_report_against_the_thirty_minute_target(fresh_db):
    november = dt.datetime(2026, 11, 10, 2, 0)
    december = dt.datetime(2026, 12, 3, 2, 0)
    plan = [  # device, start, minutes to acknowledge, minutes to arrive (None: never)
        ("voice:device-002", november, 2, 12),
        ("voice:device-005", november + dt.timedelta(days=1), 4, 45),
        ("voice:device-030", november, 3, 25),
        ("voice:device-012", december, 1, 9),
    ]
    with session_scope(write=True, url=fresh_db) as s:
        for device, start, ack, site in plan:
            event = emergency.raise_alarm(s, resolve_actor(s, device), "救命", now=start)
            responder = resolve_actor(s, "cli:chenzhiming")
            emergency.acknowledge(s, responder, event.id, now=start + dt.timedelta(minutes=ack))
            emergency.arrive(s, responder, event.id, now=start + dt.timedelta(minutes=site))
        rows = emergency.response_report(s, resolve_actor(s, "cli:chenzhiming"), target_minutes=30)
        table = {(r.grid, r.month): r for r in rows}
        first = table[("第一网格", "2026-11")]
        assert (first.alerts, first.acknowledged, first.on_site, first.within_target) == (2, 2, 2, 1)
        assert first.median_ack_minutes == 3.0 and first.max_on_site_minutes == 45.0 and first.target_rate == 0.5
        assert table[("第二网格", "2026-11")].within_target == 1
        assert table[("第一网格", "2026-12")].median_on_site_minutes == 9.0
        # A grid worker sees only the grids they serve; a villager nothing.
        mine = emergency.response_report(s, resolve_actor(s, "cli:liguoqiang"))
        assert {r.grid for r in mine} == {"第二网格"}
        with pytest.raises(AccessDenied):
            emergency.response_report(s, resolve_actor(s, "cli:wangjianguo"))
        assert s.execute(select(OutboxMessage.id).where(OutboxMessage.kind == "caller_update")).first()
