"""The village loops through the real servers and channels: the Rasa server (voice channel and
voice inbox), the action server, the tier's seeded database, the device client of speech/device.py
(signed requests, fetch-play-confirm) and the Telegram bot against a local fake of the Bot API.

The clock is the test's: the scheduler's jobs run with ``now`` set to when a step falls due
(:func:`bot.ops.scheduler.run_jobs_once`), so nothing waits for minutes to pass.

* an emergency from a voice device is taken on Telegram with the alert's button, and the device
  hears who is coming on its next check; the relative living elsewhere hears both;
* the escalation chain takes each step once however often the jobs run, and the township duty
  officer can take charge from Telegram;
* a grievance escalated to 镇 lands in the township queue (Telegram /myqueue) and the device
  household hears exactly where it is;
* a device household is asked 回访 on its next press, and its spoken answer is recorded;
* a notice reaches every channel once: the text on Telegram, the offer on the devices, and "要"
  on the device reads it.
"""
from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import grievances, notices
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.models import (
    AuditLog,
    EmergencyEvent,
    Followup,
    FollowupState,
    Grievance,
    NoticeReceipt,
    OutboxMessage,
    User,
)
from bot.ops.scheduler import run_jobs_once
from speech.device import DeviceInbox, Speaker, VoiceClient
from tests.support import asr_double
from tests.support.fake_telegram import TgUser, button_titles, code_for, contains, new_tg_id, run, telegram, texts
from tests.support.voice import device_key, espeak_wav

ACK_BUTTON = "收到，我去处理"


class Device:
    """A one-button device of the demo village, as speech/device.py drives it: every request
    signed with its key; ``press`` plays what waits first, then sends what was said."""

    def __init__(self, rasa_url: str, device_id: str, folder: Path):
        self.heard: list[str] = []
        self.client = VoiceClient(f"{rasa_url}/webhooks/voice/webhook", device_id, queue_dir=folder / device_id,
                                  timeout=180, key=device_key(device_id))
        self.inbox = DeviceInbox(self.client, Speaker(enabled=False, out=self.heard.append))

    def check(self) -> list[str]:
        """One inbox round (between presses): what it played."""
        before = len(self.heard)
        self.inbox.check()
        assert self.inbox.error is None, self.inbox.error
        return self.heard[before:]

    def say(self, words: str) -> list[str]:
        """Speaks ``words`` (espeak audio; the recogniser double hears them): the answer's texts."""
        audio = espeak_wav(words)
        asr_double.register(audio, words)
        return self.client.send(audio, "speech.wav").texts


@pytest.fixture()
def devices(rasa_server, tmp_path):
    return lambda device_id: Device(rasa_server, device_id, tmp_path)


def link_telegram(login: str) -> int:
    """A Telegram account linked to ``login`` with a one-time code, as /link does."""
    from bot.linking import link_with_code

    tg = new_tg_id()
    with session_scope(write=True) as s:
        link_with_code(s, "telegram", str(tg), code_for(login))
    return tg


def user_id(login: str) -> int:
    with session_scope() as s:
        return s.execute(select(User.id).where(User.login == login)).scalar_one()


@dataclass(frozen=True)
class Alert:
    id: int
    at: dt.datetime
    household_number: int
    channel: str
    acknowledged: bool


def latest_emergency() -> Alert:
    with session_scope() as s:
        e = s.execute(select(EmergencyEvent).order_by(EmergencyEvent.id.desc())).scalars().first()
        return Alert(e.id, e.at, e.household.number, e.channel, e.acknowledged_at is not None)


def ack_key(message: dict) -> str:
    """The key Telegram holds for the alert's button (PTB keeps the data on our side)."""
    (row,) = message["markup"]["inline_keyboard"]
    (button,) = row
    assert button["text"] == ACK_BUTTON
    return button["callback_data"]


# --------------------------------------------------------------------------- emergency


def test_an_emergency_from_a_device_is_taken_on_telegram_and_the_device_hears_who_is_coming(
        rasa_server, devices):
    worker_tg, son_tg = link_telegram("wangxiulan"), link_telegram("limingliang")  # 李桂芳's son, in 杭州
    device = devices("device-002")  # 李桂芳's household
    answer = device.say("救命啊 我摔倒了")
    assert answer and any("通知" in text or "马上" in text for text in answer), answer
    event = latest_emergency()
    assert (event.household_number, event.channel, event.acknowledged) == (2, "voice", False)
    assert device.check() == []  # nobody has taken charge yet

    async def scenario():
        async with telegram(rasa_server) as (fake, channel):
            await channel.deliver_outbox_once()
            (alert,) = fake.to(worker_tg)
            assert "紧急求助" in alert["text"] and "李桂芳" in alert["text"] and button_titles(alert) == [ACK_BUTTON]
            (son_alert,) = fake.to(son_tg)
            assert "紧急求助" in son_alert["text"] and "王秀兰" in son_alert["text"] and not son_alert["markup"]
            worker = TgUser(fake, worker_tg)
            taken = texts(await worker.press(ack_key(alert)))
            assert fake.edits and fake.edits[-1]["markup"] is None  # the button is gone from the alert
            again = texts(await worker.press(ack_key(alert)))  # pressed twice: nothing happens twice
            await channel.deliver_outbox_once()
            return taken, again, [m["text"] for m in fake.to(son_tg)]

    taken, again, son_heard = run(scenario())
    assert taken == "好的，已经告诉2号李桂芳家您正在赶过去。请尽快联系。"
    assert again == "这次求助您已经接手了，请尽快赶过去。"
    assert len(son_heard) == 2 and "王秀兰已经收到" in son_heard[1] and "正在赶过去" in son_heard[1]
    assert device.check() == ["王秀兰已经收到，正在赶过去。"]  # the next check: who is coming
    assert device.check() == []  # once
    with session_scope() as s:
        event = s.get(EmergencyEvent, event.id)
        assert event.acknowledger.login == "wangxiulan" and event.escalation_step == 0
        told = s.execute(select(OutboxMessage).where(OutboxMessage.kind == "caller_update")).scalars().all()
        assert len(told) == 1 and told[0].delivered_at is not None


def test_escalation_takes_each_step_once_and_the_township_can_take_charge(rasa_server, devices):
    admin_tg, duty_tg = link_telegram("chenzhiming"), link_telegram("liujianhua")
    device = devices("device-002")
    device.say("快来人啊 着火了")
    event = latest_emergency()
    step_one, step_two = (event.at + dt.timedelta(minutes=m + 1) for m in (5, 15))  # the default chain

    async def scenario():
        async with telegram(rasa_server) as (fake, channel):
            for now in (step_one, step_one, step_one + dt.timedelta(minutes=1)):  # the jobs run again and again
                run_jobs_once(now=now)
                await channel.deliver_outbox_once()
            admin_after_one = [m["text"] for m in fake.to(admin_tg) if "紧急求助" in m["text"]]
            duty_after_one = [m["text"] for m in fake.to(duty_tg) if "紧急求助" in m["text"]]
            for now in (step_two, step_two):
                run_jobs_once(now=now)
                await channel.deliver_outbox_once()
            duty_alerts = [m for m in fake.to(duty_tg) if "紧急求助" in m["text"]]
            taken = texts(await TgUser(fake, duty_tg).press(ack_key(duty_alerts[-1]), until=contains("告诉")))
            run_jobs_once(now=step_two + dt.timedelta(minutes=30))  # acknowledged: the chain has stopped
            await channel.deliver_outbox_once()
            admin_all = [m["text"] for m in fake.to(admin_tg) if "紧急求助" in m["text"]]
            return admin_after_one, duty_after_one, [m["text"] for m in duty_alerts], taken, admin_all

    admin_after_one, duty_after_one, duty_alerts, taken, admin_all = run(scenario())
    assert len(admin_after_one) == 1 and "5分钟无人响应" in admin_after_one[0]
    assert duty_after_one == []  # step two is not due yet
    assert len(duty_alerts) == 1 and "请镇里协调" in duty_alerts[0]
    assert "已经告诉2号李桂芳家" in taken
    assert len(admin_all) == 2 and "刘建华已经接手" in admin_all[1]  # and nothing more after the ack
    with session_scope() as s:
        event = s.get(EmergencyEvent, event.id)
        assert (event.escalation_step, event.acknowledger.login) == (2, "liujianhua")
        keys = s.execute(select(OutboxMessage.dedupe_key).where(
            OutboxMessage.dedupe_key.like(f"emergency:{event.id}:%"), OutboxMessage.kind == "emergency")).scalars()
        steps = sorted(key.split(":")[2] for key in keys)
        assert steps == ["admin", "leader", "township", "worker"]  # each step once
    assert device.check() == ["刘建华已经收到，正在赶过去。"]


# --------------------------------------------------------------------------- township


def test_a_grievance_escalated_to_the_township_is_in_its_queue_and_the_household_hears_where(
        rasa_server, devices):
    duty_tg = link_telegram("liujianhua")
    device = devices("device-005")
    with session_scope(write=True) as s:  # what action_submit_grievance does for a device household
        ticket = grievances.file(s, resolve_actor(s, "voice:device-005"), "道路交通", "村东小桥的栏杆断了",
                                 "村东小桥").ticket_no
    device.check()  # the filing's own messages, if any

    async def scenario():
        async with telegram(rasa_server) as (fake, channel):
            while True:
                with session_scope() as s:
                    g = grievances.get_by_ticket(s, ticket)
                    level, due = g.level, g.due_at
                if level == 1:
                    break
                run_jobs_once(now=due + dt.timedelta(minutes=1))  # its time limit has passed
                run_jobs_once(now=due + dt.timedelta(minutes=1))
            await channel.deliver_outbox_once()
            await channel.deliver_outbox_once()
            referrals = [m["text"] for m in fake.to(duty_tg) if ticket in m["text"]]
            queue = texts(await TgUser(fake, duty_tg).say("/myqueue"))
            return referrals, queue

    referrals, queue = run(scenario())
    assert len(referrals) == 1 and "上报到镇里" in referrals[0]
    assert f"{ticket}号 杏花村道路交通 村东小桥：村东小桥的栏杆断了" in queue
    heard = device.check()
    assert heard[-1] == f"您反映的{ticket}号诉求已经上报到青山镇，由镇里的刘建华负责。"
    assert device.check() == []


# --------------------------------------------------------------------------- 回访


def test_a_device_household_is_asked_followup_on_its_next_press_and_answers_by_voice(rasa_server, devices):
    device = devices("device-006")  # a household with nothing else waiting for its 回访
    assert device.say("你好")  # it is talking to the assistant: no new session will ask anything
    with session_scope(write=True) as s:
        ticket = grievances.file(s, resolve_actor(s, "voice:device-006"), "环境卫生", "门口的垃圾三天没人收",
                                 "三组").ticket_no
    device.check()
    with session_scope(write=True) as s:
        g = grievances.get_by_ticket(s, ticket)
        worker = resolve_actor(s, f"cli:{g.assignee.login}")
        grievances.transition(s, worker, ticket, "accept", "下午去看")
        grievances.transition(s, worker, ticket, "resolve", "已经清运干净")
    # The next press: what waits is played first, up to the question, which the press answers.
    played = device.check()
    assert played[-1].startswith(f"回访：您反映的{ticket}号诉求") and played[-1].endswith("请说满意、基本满意或不满意。")
    assert device.inbox.played  # confirmed to the server
    answer = device.say("满意")
    assert "谢谢您的评价。" in answer, answer
    with session_scope() as s:
        followup = s.execute(select(Followup).join(Grievance).where(Grievance.ticket_no == ticket)).scalar_one()
        assert (followup.state, followup.answer, followup.answered_via) == (FollowupState.answered, "满意", "voice")
    assert device.check() == []


# --------------------------------------------------------------------------- notices


def test_a_notice_reaches_every_channel_once_and_the_device_reads_it_on_yes(rasa_server, devices, settings):
    tg = link_telegram("wangjianguo")  # household 1, which also has device-001
    first, second = devices("device-001"), devices("device-002")
    with session_scope(write=True) as s:
        notice = notices.publish(s, resolve_actor(s, "cli:chenzhiming"), "冬季防火检查",
                                 "本周六上午村干部上门检查电线和炉灶，请家里留人。",
                                 knowledge_dir=settings.paths.knowledge_dir, tz=settings.timezone)
        notice_id = notice.id

    async def scenario():
        async with telegram(rasa_server) as (fake, channel):
            await channel.deliver_outbox_once()
            await channel.deliver_outbox_once()
            return [m["text"] for m in fake.to(tg)]

    pushed = run(scenario())
    assert pushed == ["【村务公开】冬季防火检查：本周六上午村干部上门检查电线和炉灶，请家里留人。"]  # once, no offer
    offer = "村里有一条新通知：冬季防火检查。要听吗？"
    assert first.check() == [offer] and first.check() == []
    assert second.check() == [offer] and second.check() == []
    answer = first.say("要")
    assert any("上门检查电线和炉灶" in text for text in answer), answer
    with session_scope() as s:
        receipts = s.execute(select(NoticeReceipt).where(NoticeReceipt.notice_id == notice_id)).scalars().all()
        mine = [r for r in receipts if r.user_id == user_id("wangjianguo") or r.household_id in (
            resolve_actor(s, "voice:device-001").household_id, resolve_actor(s, "voice:device-002").household_id)]
        assert len(mine) == 3
        delivered = s.execute(select(OutboxMessage.delivered_at).where(
            OutboxMessage.id.in_([r.outbox_id for r in mine]))).scalars().all()
        assert all(delivered)
        heard = {r.household_id: (r.heard_at is not None, r.heard_channel) for r in mine if r.household_id}
        assert heard == {resolve_actor(s, "voice:device-001").household_id: (True, "voice"),  # said 要
                         resolve_actor(s, "voice:device-002").household_id: (False, None)}  # only offered


# --------------------------------------------------------------------------- the inbox refuses strangers


def _get(url: str, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_inbox_answers_only_signed_requests_of_known_devices(rasa_server):
    from bot.security.devices import signed_headers

    url, path = f"{rasa_server}/webhooks/voice_inbox/messages", "/webhooks/voice_inbox/messages"
    assert _get(url) == (401, {"error": "这台设备还没有登记，请找村里帮忙设置。"})
    forged = signed_headers("device-001", device_key("device-002"), "GET", path)  # another device's key
    assert _get(url, forged)[0] == 401
    status, body = _get(url, signed_headers("device-001", device_key("device-001"), "GET", path))
    assert status == 200 and body["device"] == "device-001" and body["messages"] == []
    replayed = signed_headers("device-001", device_key("device-001"), "GET", path)
    assert _get(url, replayed)[0] == 200 and _get(url, replayed)[0] == 401
    with session_scope() as s:
        refusals = s.execute(select(AuditLog.detail).where(AuditLog.action == "auth_refused")).scalars().all()
        assert any("bad signature" in r for r in refusals) and any("replayed" in r for r in refusals)
    acked = urllib.request.Request(f"{rasa_server}/webhooks/voice_inbox/ack", data=b"[1]", method="POST", headers={
        "Content-Type": "application/json",
        **signed_headers("device-001", device_key("device-001"), "POST", "/webhooks/voice_inbox/ack", b"[1]")})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(acked, timeout=60)
    assert refused.value.code == 400 and "ids" in json.loads(refused.value.read())["error"]
