"""Delivery of the village loops' messages (bot/outbox.py): voice devices pull what waits for
their household (or their staff member) and confirm what they played; messages meant for voice
only are never claimed by a push channel; rows a channel cannot take never hold up the rest.
And the CLI of the loops: emergency ack/arrive/close/report, the township queue, relatives'
accounts and link codes, the outbox status. The channels themselves: tests/e2e/test_loops_channels.py."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from sqlalchemy import select

from bot import emergency, grievances, notices, outbox
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.linking import LinkError, issue_link_code, link_with_code
from bot.models import ChannelIdentity, EmergencyEvent, OutboxMessage, User
from bot.ops.scheduler import run_jobs_once
from tests.support.loops import MONDAY

T0 = MONDAY + dt.timedelta(hours=3)


def mailbox(s, device_id: str) -> outbox.Mailbox:
    ident = s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == "voice",
                                                    ChannelIdentity.external_id == device_id)).scalar_one()
    return outbox.Mailbox.of(ident)


def raise_and_acknowledge(url: str, device_id: str = "device-002", worker: str = "wangxiulan") -> int:
    with session_scope(write=True, url=url) as s:
        event = emergency.raise_alarm(s, resolve_actor(s, f"voice:{device_id}"), "救命 我摔倒了")
        event_id = event.id
    with session_scope(write=True, url=url) as s:
        emergency.acknowledge(s, resolve_actor(s, f"cli:{worker}"), event_id)
    return event_id


class PushAdapter(outbox.DeliveryAdapter):
    """A push channel standing in for Telegram: it records what it was given."""

    channel = "push"

    def __init__(self):
        self.sent: list[outbox.Claim] = []

    def recipients(self, s):
        return outbox.linked_recipients(s, self.channel)

    async def send(self, claim):
        self.sent.append(claim)
        return outbox.SendResult(delivered=True)


def link_push(url: str, login: str) -> int:
    with session_scope(write=True, url=url) as s:
        user = s.execute(select(User).where(User.login == login)).scalar_one()
        s.add(ChannelIdentity(channel="push", external_id=f"p-{login}", user_id=user.id, settings={},
                              created_at=T0 - dt.timedelta(days=1)))
        return user.id


# --------------------------------------------------------------------------- pulling devices


def test_a_device_hears_who_is_coming_once_and_only_its_own_messages(any_db):
    event_id = raise_and_acknowledge(any_db)
    with session_scope(write=True, url=any_db) as s:
        mine, other = mailbox(s, "device-002"), mailbox(s, "device-001")
        waiting = outbox.pending(s, mine)
        assert [(m.kind, m.text) for m in waiting] == [("caller_update", "王秀兰已经收到，正在赶过去。")]
        assert outbox.pending(s, other) == []
        ids = [m.id for m in waiting]
        assert outbox.confirm(s, other, ids) == ([], ids)  # another device cannot confirm it
    with session_scope(write=True, url=any_db) as s:
        done, ignored = outbox.confirm(s, mailbox(s, "device-002"), ids)
        assert [m.id for m in done] == ids and ignored == []
    with session_scope(write=True, url=any_db) as s:
        box = mailbox(s, "device-002")
        assert outbox.pending(s, box) == []
        assert outbox.confirm(s, box, ids) == ([], ids)  # a repeated confirmation changes nothing
        row = s.get(OutboxMessage, ids[0])
        assert row.delivered_at is not None and row.payload["emergency_id"] == event_id


def test_a_staff_device_hears_the_alerts_of_its_worker(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        emergency.raise_alarm(s, resolve_actor(s, "voice:device-002"), "快来人")
    with session_scope(url=fresh_db) as s:
        waiting = outbox.pending(s, mailbox(s, "staff-wangxiulan"))
        assert [(m.kind, m.payload["expects"]) for m in waiting] == [("emergency", "acknowledge")]
        assert outbox.pending(s, mailbox(s, "staff-liguoqiang")) == []


def test_voice_only_offers_go_to_devices_and_never_to_a_push_channel(fresh_db, tmp_path):
    wangjianguo = link_push(fresh_db, "wangjianguo")  # household 1, which also has device-001
    with session_scope(write=True, url=fresh_db) as s:
        notice = notices.publish(s, resolve_actor(s, "cli:chenzhiming"), "秋季征兵报名",
                                 "适龄青年请到村委会报名。", knowledge_dir=tmp_path, tz="Asia/Shanghai")
        notice_id, household_1 = notice.id, resolve_actor(s, "voice:device-001").household_id
    adapter = PushAdapter()
    deliverer = outbox.Deliverer(adapter, fresh_db)
    asyncio.run(deliverer.deliver_once())
    asyncio.run(deliverer.deliver_once())
    mine = [c for c in adapter.sent if "p-wangjianguo" in c.addresses]
    assert [(c.kind, c.payload["notice_id"]) for c in mine] == [("notice", notice_id)]  # once, never the offer
    with session_scope(url=fresh_db) as s:
        offers = outbox.pending(s, mailbox(s, "device-001"))
        assert [(m.kind, m.household_id, m.payload["expects"]) for m in offers] == [
            ("notice_offer", household_1, "yes_no")]
        assert "要听吗" in offers[0].text and offers[0].payload["text"].endswith("适龄青年请到村委会报名。")
        assert s.get(OutboxMessage, mine[0].outbox_id).user_id == wangjianguo


def test_rows_a_channel_cannot_take_never_hold_up_the_rest(any_db):
    user_id = link_push(any_db, "hh031")
    with session_scope(write=True, url=any_db) as s:
        household_id = s.get(User, user_id).resident.household_id
        for n in range(outbox.BATCH + 5):  # a full batch and more of rows for the household's device only
            outbox.notify(s, None, "notice_offer", f"第{n}条", f"t:{uuid.uuid4().hex}", household_id=household_id,
                          payload={"channels": ["voice"]})
        outbox.notify(s, user_id, "test", "给推送渠道的", f"t:{uuid.uuid4().hex}")
    adapter = PushAdapter()
    assert asyncio.run(outbox.Deliverer(adapter, any_db).deliver_once()) == 1
    assert [c.text for c in adapter.sent] == ["给推送渠道的"]


# --------------------------------------------------------------------------- relatives' link codes


def test_relatives_get_link_codes_from_the_staff_of_their_household(fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        worker, other = resolve_actor(s, "cli:wangxiulan"), resolve_actor(s, "cli:liguoqiang")
        code = issue_link_code(s, worker, "limingliang")  # 李桂芳 (household 2) is in 王秀兰's grid
        try:
            issue_link_code(s, other, "limingliang")
            raise AssertionError("a worker of another grid issued a relative's code")
        except Exception as exc:  # noqa: BLE001
            assert type(exc).__name__ == "AccessDenied"
    with session_scope(write=True, url=fresh_db) as s:
        assert link_with_code(s, "telegram", "5550001", code).login == "limingliang"
        try:
            link_with_code(s, "telegram", "5550002", code)
            raise AssertionError("a link code worked twice")
        except LinkError as exc:
            assert exc.reason == "used"


# --------------------------------------------------------------------------- the CLI


def test_emergency_commands_take_charge_and_report_against_the_target(cli, fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        event_id = emergency.raise_alarm(s, resolve_actor(s, "voice:device-002"), "救命 我摔倒了").id
    listed = cli("emergency", "list", "--as", "wangxiulan", url=fresh_db)
    assert listed.returncode == 0 and f"{event_id}  " in listed.stdout and "等人响应" in listed.stdout
    refused = cli("emergency", "ack", str(event_id), "--as", "liguoqiang", url=fresh_db)  # another grid
    assert refused.returncode == 1 and "不归您处理" in refused.stderr
    taken = cli("emergency", "ack", str(event_id), "--as", "wangxiulan", url=fresh_db)
    assert taken.returncode == 0 and "已接手（王秀兰）" in taken.stdout
    assert "已经接手" in cli("emergency", "ack", str(event_id), "--as", "chenzhiming", url=fresh_db).stdout
    assert cli("emergency", "close", str(event_id), "--as", "wangxiulan", url=fresh_db).returncode == 1  # no note
    assert "已到场" in cli("emergency", "arrive", str(event_id), "--as", "wangxiulan", url=fresh_db).stdout
    closed = cli("emergency", "close", str(event_id), "--note", "扶起来了", "--as", "wangxiulan", url=fresh_db)
    assert closed.returncode == 0 and "已处理" in closed.stdout
    with session_scope(url=fresh_db) as s:
        event = s.get(EmergencyEvent, event_id)
        assert (event.acknowledger.login, event.on_site_user.login, event.close_note) == (
            "wangxiulan", "wangxiulan", "扶起来了")
        month = f"{event.at + dt.timedelta(hours=8):%Y-%m}"
        assert s.execute(select(OutboxMessage).where(OutboxMessage.kind == "caller_update")).scalar_one()
    report = cli("emergency", "report", "--month", month, "--as", "chenzhiming", url=fresh_db)
    assert report.returncode == 0 and "target 30 min" in report.stdout
    (row,) = [line for line in report.stdout.splitlines() if line.startswith(month)]
    assert row.split()[1:6] == ["第一网格", "1", "1", "1", "1"] and "100%" in row
    assert cli("emergency", "report", "--month", "2026-13", "--as", "chenzhiming", url=fresh_db).returncode == 1
    assert cli("emergency", "report", "--as", "hh031", url=fresh_db).returncode == 2  # villagers may not


def test_township_queue_command_lists_what_reached_the_township(cli, fresh_db):
    with session_scope(write=True, url=fresh_db) as s:
        g = grievances.file(s, resolve_actor(s, "voice:device-005"), "道路交通", "桥上的栏杆断了", "村东小桥",
                            now=T0)
        ticket = g.ticket_no
    now = T0
    for _ in range(3):  # 组 → 村 → 镇, each when the time limit has passed
        with session_scope(url=fresh_db) as s:
            now = grievances.get_by_ticket(s, ticket).due_at + dt.timedelta(minutes=1)
        run_jobs_once(now=now, url=fresh_db)
    queue = cli("township", "queue", "--as", "liujianhua", url=fresh_db)
    assert queue.returncode == 0 and ticket in queue.stdout and "杏花村" in queue.stdout
    assert "刘建华" in queue.stdout
    assert cli("township", "queue", "--as", "wangxiulan", url=fresh_db).returncode == 2


def test_relative_add_links_the_household_and_prints_a_code_that_works(cli, fresh_db):
    added = cli("relative", "add", "wangxiaojun", "--name", "王小军", "--household", "1", "--relation", "儿子",
                "--as", "wangxiulan", url=fresh_db)
    assert added.returncode == 0, added.stderr
    code = added.stdout.split("/link ")[1].split()[0]
    with session_scope(write=True, url=fresh_db) as s:
        user = link_with_code(s, "telegram", "5551234", code)
        assert (user.login, user.role.value) == ("wangxiaojun", "relative")
    listed = cli("relative", "list", "--household", "1", "--as", "chenzhiming", url=fresh_db)
    assert "wangxiaojun  王小军  已绑定电报" in listed.stdout
    again = cli("relative", "add", "wangxiaojun", "--name", "王小军", "--household", "1", "--as", "wangxiulan",
                url=fresh_db)
    assert again.returncode == 0  # the same account, linked once
    assert cli("relative", "add", "wangjianguo", "--name", "王建国", "--household", "1", "--as", "chenzhiming",
               url=fresh_db).returncode == 1  # a villager's login is not a relative's account
    assert cli("relative", "add", "Bad Login", "--name", "某某", "--household", "1", "--as", "chenzhiming",
               url=fresh_db).returncode == 1


def test_outbox_status_says_who_can_receive_what_waits(cli, fresh_db):
    raise_and_acknowledge(fresh_db)
    status = cli("outbox", "status", url=fresh_db)
    assert status.returncode == 0
    lines = {line.split(":")[0].strip(): line for line in status.stdout.splitlines()}
    assert "caller_update 1" in lines["语音设备 / voice device (next poll)"]  # device-002 will hear it
    assert "emergency_relative" in lines["没人能收到 / nobody linked"]  # the son has not linked Telegram yet
    assert cli("outbox", "deliver", url=fresh_db).returncode == 1  # no Telegram token: says so
