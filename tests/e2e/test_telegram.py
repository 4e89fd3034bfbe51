"""The Telegram channel end to end: python-telegram-bot talks HTTP to a local fake of the
Telegram Bot API (tests/support/fake_telegram.py), and the bot talks to the real Rasa server,
action server and the tier's seeded database (restored before every test)."""
from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import select

from bot import points
from bot.config import PROJECT_ROOT, load_settings
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.linking import link_with_code
from bot.models import ChannelIdentity, Grievance, OutboxMessage, User
from bot.channels.telegram.app import TelegramChannel
from bot.channels.telegram.config import TelegramConfig
from bot.channels.telegram.texts import (
    ASR_UNAVAILABLE,
    BUTTON_EXPIRED,
    HELP,
    NOT_OWN_CONTACT,
    NOT_SUPPORTED,
    PHOTO_NOT_NEEDED,
    RATE_LIMITED,
    VOICE_ON,
)
from tests.support.fake_telegram import (
    TOKEN,
    FakeTelegram,
    ScriptedRecognizer,
    TgUser,
    add_notification,
    button_titles,
    code_for,
    contains,
    espeak_ogg,
    new_tg_id,
    run,
    telegram,
    texts,
    voice_note,
)



def balance_of(login: str) -> int:
    with session_scope() as s:
        return points.balance_of(s, resolve_actor(s, f"cli:{login}").household_id)


# --------------------------------------------------------------------------- conversations


def test_link_with_a_code_then_check_points(rasa_server):
    tg = new_tg_id()

    async def scenario():
        async with telegram(rasa_server) as (fake, _):
            me = TgUser(fake, tg)
            start = await me.say("/start")
            assert "绑定" in texts(start)
            assert "分享我的手机号" in button_titles(start[0])
            assert fake.to(tg)[0]["markup"]["keyboard"][0][0]["request_contact"] is True
            assert "不对" in texts(await me.say("/link 000000"))
            assert "绑定好了" in texts(await me.say(f"/link {code_for('hh041')}"))
            balance = balance_of("hh041")
            answer = await me.say("/points", until=contains("分"))
            assert f"{balance}分" in texts(answer)
            answer = await me.say("/mygrievances")
            assert "反映" in texts(answer)

    run(scenario())
    with session_scope() as s:
        assert resolve_actor(s, f"telegram:{tg}").display_name


def test_contact_button_links_only_the_senders_own_number(rasa_server):
    tg = new_tg_id()
    with session_scope() as s:
        phone = s.execute(select(User).where(User.login == "hh042")).scalar_one().resident.phone

    async def scenario():
        async with telegram(rasa_server) as (fake, _):
            me = TgUser(fake, tg)
            someone_else = {"phone_number": phone, "first_name": "别人", "user_id": tg + 1}
            assert texts(await me.send(contact=someone_else)) == NOT_OWN_CONTACT
            mine = {"phone_number": "+86" + phone, "first_name": "我", "user_id": tg}
            assert "绑定好了" in texts(await me.send(contact=mine))
            assert f"{balance_of('hh042')}分" in texts(await me.say("俺家积分还有多少", until=contains("分")))

    run(scenario())


def test_file_a_grievance_with_buttons_and_a_photo(rasa_server):
    tg = new_tg_id()

    async def scenario():
        async with telegram(rasa_server) as (fake, _):
            me = TgUser(fake, tg)
            await me.say(f"/link {code_for('hh043')}")
            asked = await me.say("村东头的垃圾堆了好几天没人收", until=contains("保密"))
            assert {"要", "不要"} <= set(button_titles(asked[-1]))  # quick replies
            photo = fake.add_file(b"\xff\xd8\xff\xe0fake-jpeg-bytes", "jpg")
            sent = await me.send(photo=[{"file_id": photo, "file_unique_id": "p1", "width": 640, "height": 480,
                                         "file_size": 20}])
            assert "照片收到了" in texts(sent)
            # Nothing open in the seed looks like it (260102 is 三组's 垃圾桶): straight to the read-back.
            reply = await me.press("不要", until=lambda m: "对吗" in texts(m) or "已经有人反映过" in texts(m))
            assert "已经有人反映过" not in texts(reply)
            assert {"对", "不对"} <= set(button_titles(reply[-1]))
            done = await me.press("对", until=contains("编号是", "照片已经加到"))
            return texts(done)

    answer = run(scenario())
    with session_scope() as s:
        g = s.execute(select(Grievance).join(User, Grievance.reporter_id == User.id)
                      .where(User.login == "hh043").order_by(Grievance.id.desc())).scalars().first()
        assert g.ticket_no in answer and g.category == "环境卫生"
        photos = [e for e in g.events if e.kind == "photo"]
        assert len(photos) == 1 and photos[0].note.startswith("uploads/")
        assert (load_settings().var_dir / photos[0].note).read_bytes().startswith(b"\xff\xd8")


def test_voice_note_without_a_recogniser_is_politely_declined(rasa_server, tmp_path, settings):
    """The real ASR path with no Chinese Vosk model installed (the tests' environment points
    XIANGYIN_VOSK_MODEL at an empty place): the user gets a polite sentence. Recognised voice
    notes: test_voice_note_answer_and_spoken_replies, with a recogniser double."""
    assert not settings.speech.vosk_model.exists()
    ogg = espeak_ogg("我有多少积分", tmp_path)
    tg = new_tg_id()

    async def scenario():
        async with telegram(rasa_server) as (fake, _):
            me = TgUser(fake, tg)
            await me.say(f"/link {code_for('hh044')}")
            assert texts(await me.send(voice=voice_note(fake, ogg))) == ASR_UNAVAILABLE

    run(scenario())


def test_voice_note_answer_and_spoken_replies(rasa_server, tmp_path):
    ogg = espeak_ogg("我有多少积分", tmp_path)
    tg = new_tg_id()
    recognizer = ScriptedRecognizer("我有多少积分")

    async def scenario():
        async with telegram(rasa_server, recognizer=recognizer) as (fake, _):
            me = TgUser(fake, tg)
            await me.say(f"/link {code_for('hh045')}")
            answer = await me.send(voice=voice_note(fake, ogg), until=lambda m: len(m) >= 2)
            assert answer[0]["text"] == "我听到的是：我有多少积分"
            assert f"{balance_of('hh045')}分" in texts(answer)
            assert texts(await me.say("/voice")) == VOICE_ON
            await me.say("我有多少积分", until=lambda m: any(x["method"] == "sendVoice" for x in m))
            voice = fake.to(tg, "sendVoice")[-1]["voice"]
            assert voice.startswith(b"OggS")

    run(scenario())
    assert recognizer.pcm_lengths
    with session_scope() as s:
        ident = s.execute(select(ChannelIdentity).where(ChannelIdentity.external_id == str(tg))).scalar_one()
        assert ident.settings["voice_reply"] is True


def test_staff_queue_command(rasa_server):
    tg = new_tg_id()

    async def scenario():
        async with telegram(rasa_server) as (fake, _):
            me = TgUser(fake, tg)
            assert "网格员" in texts(await me.say("/myqueue"))  # not linked: staff only
            await me.say(f"/link {code_for('zhaodefu')}")
            return texts(await me.say("/myqueue"))

    answer = run(scenario())
    with session_scope() as s:
        from bot.grievances import open_queue

        views = open_queue(s, resolve_actor(s, "cli:zhaodefu"))
    assert views, "the seed leaves 260101 and 260102 in 一组's queue"
    assert all(v.ticket_no in answer for v in views[:10])


# --------------------------------------------------------------------------- notifications


def attempts(outbox_id: int) -> tuple[int, bool]:
    with session_scope() as s:
        row = s.get(OutboxMessage, outbox_id)
        return row.attempts, row.delivered_at is not None


def test_notifications_are_delivered_once_across_restarts(seeded_db):
    tg = new_tg_id()
    with session_scope(write=True) as s:
        user = link_with_code(s, "telegram", str(tg), code_for("hh046"))
        user_id = user.id
    first = [add_notification(user_id, f"您反映的事有新进展（{n}）") for n in range(2)]

    async def scenario():
        fake = FakeTelegram()
        await fake.start()
        try:
            # Run 1: the background job delivers both.
            async with telegram(fake=fake, outbox_interval=0.05):
                await fake.wait_for(lambda: len(fake.to(tg)) >= 2, "two notifications")
            # A crash right after claiming: attempts went up, nothing was sent.
            late = add_notification(user_id, "您反映的事已经办结（3）")
            crashed = TelegramChannel(TelegramConfig(token=TOKEN, rasa_url="http://127.0.0.1:9", api_url=fake.url))
            assert late in [c.outbox_id for c in crashed.claim_outbox()]
            # Run 2 (restart): only the claimed-but-unsent one goes out, once; the first two never again.
            async with telegram(fake=fake, outbox_interval=0.05):
                await fake.wait_for(lambda: len(fake.to(tg)) >= 3, "the third notification")
            # Run 3: Telegram fails once; the row is retried after its backoff and sent once.
            flaky = add_notification(user_id, "请您对办理结果评价：满意、基本满意或不满意？")
            fake.fail_sends[tg] = 1
            now = [1000.0]
            async with telegram(fake=fake, clock=lambda: now[0]) as (_, channel):
                await channel.deliver_outbox_once()  # Telegram answers 500
                assert attempts(flaky) == (1, False)
                await channel.deliver_outbox_once()  # still backing off: not even claimed
                assert attempts(flaky) == (1, False)
                now[0] += TelegramChannel.BACKOFF_BASE
                await channel.deliver_outbox_once()
                assert attempts(flaky) == (2, True)
                await channel.deliver_outbox_once()
            return late, flaky, fake.to(tg)
        finally:
            await fake.stop()

    late, flaky, messages = run(scenario())
    sent = [m["text"] for m in messages]
    assert len(sent) == len(set(sent)) == 4
    assert button_titles(messages[-1]) == ["满意", "基本满意", "不满意"]
    with session_scope() as s:
        rows = {r.id: r for r in s.execute(select(OutboxMessage).where(
            OutboxMessage.id.in_(first + [late, flaky]))).scalars()}
        assert all(r.delivered_at is not None for r in rows.values())
        assert [rows[i].attempts for i in first] == [1, 1]
        assert rows[late].attempts == 2 and rows[flaky].attempts == 2


def test_notifications_are_not_pushed_from_before_linking(seeded_db):
    tg = new_tg_id()
    with session_scope() as s:
        user_id = s.execute(select(User.id).where(User.login == "hh047")).scalar_one()
    old = add_notification(user_id, "很早以前的通知")
    with session_scope(write=True) as s:
        link_with_code(s, "telegram", str(tg), code_for("hh047"))

    async def scenario():
        async with telegram() as (fake, channel):
            await channel.deliver_outbox_once()
            return fake.to(tg)

    assert run(scenario()) == []
    with session_scope() as s:
        assert s.get(OutboxMessage, old).attempts == 0


# --------------------------------------------------------------------------- webhook, limits, content


def test_webhook_checks_the_secret_token():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tg = new_tg_id()

    async def scenario():
        async with telegram(webhook_url=f"https://village.example/tg/hook", webhook_secret="s3cret-Token_1",
                            webhook_listen="127.0.0.1", webhook_port=port) as (fake, _):
            assert fake.webhook == {"url": "https://village.example/tg/hook", "secret_token": "s3cret-Token_1"}
            me = TgUser(fake, tg)
            update = {"update_id": 1, "message": me._message(
                text="/help", entities=[{"type": "bot_command", "offset": 0, "length": 5}])}
            url = f"http://127.0.0.1:{port}/tg/hook"
            async with httpx.AsyncClient() as client:
                wrong = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
                missing = await client.post(url, json=update)
                assert (wrong.status_code, missing.status_code) == (403, 403)
                right = await client.post(url, json=update,
                                          headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"})
                assert right.status_code == 200
            await fake.wait_for(lambda: fake.to(tg), "the help text")
            return fake.to(tg), [m for m, _ in fake.calls]

    messages, methods = run(scenario())
    assert [m["text"] for m in messages] == [HELP]  # the rejected posts were never handled
    assert "getUpdates" not in methods


def test_rate_limit_answers_politely_once():
    a, b = new_tg_id(), new_tg_id()

    async def scenario():
        # One update at a time, so B's answer means all of A's messages were handled.
        async with telegram(rate_limit=3, concurrent_updates=1, clock=lambda: 1000.0) as (fake, _):
            flooder = TgUser(fake, a)
            for _ in range(6):
                await fake.push(message=flooder._message(
                    text="/help", entities=[{"type": "bot_command", "offset": 0, "length": 5}]))
            await TgUser(fake, b).say("/help")
            return [m["text"] for m in fake.to(a)]

    assert run(scenario()) == [HELP, HELP, HELP, RATE_LIMITED]


def test_long_messages_and_non_text_content_are_answered_politely():
    tg = new_tg_id()

    async def scenario():
        async with telegram() as (fake, _):  # no Rasa needed: none of these reach it
            me = TgUser(fake, tg)
            assert "不超过500个字" in texts(await me.say("路" * 501))
            sticker = {"file_id": "st1", "file_unique_id": "st1u", "width": 512, "height": 512,
                       "is_animated": False, "is_video": False, "type": "regular"}
            assert texts(await me.send(sticker=sticker)) == NOT_SUPPORTED
            document = {"file_id": "doc1", "file_unique_id": "doc1u", "file_name": "材料.pdf"}
            assert texts(await me.send(document=document)) == NOT_SUPPORTED
            photo = fake.add_file(b"\xff\xd8jpeg", "jpg")
            sent = await me.send(photo=[{"file_id": photo, "file_unique_id": "p", "width": 10, "height": 10}])
            assert texts(sent) == PHOTO_NOT_NEEDED
            # Callback data is client-controlled: an intent we never offered is not passed on.
            assert texts(await me.press('/inform{"household":"1"}')) == BUTTON_EXPIRED

    run(scenario())


# --------------------------------------------------------------------------- small parts


def test_without_a_token_the_command_explains_how_to_enable_it():
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIANGYIN_TELEGRAM_")}
    out = subprocess.run([sys.executable, "-m", "bot", "telegram"], cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    assert "XIANGYIN_TELEGRAM_TOKEN" in out.stdout and "机器人" in out.stdout and "not enabled" in out.stdout
