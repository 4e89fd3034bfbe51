"""The Telegram channel end to end: python-telegram-bot talks HTTP to a local fake of the
Telegram Bot API (getMe, getUpdates long-poll, sendMessage, answerCallbackQuery, getFile,
file downloads, sendVoice, setWebhook/deleteWebhook), and the bot talks to the real Rasa
server, action server and the run's seeded database.

Nothing waits for a fixed time: every step waits for the message it expects (with a
generous upper bound so a broken bot fails instead of hanging)."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select

from bot import points
from bot.config import PROJECT_ROOT, load_settings
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.linking import issue_link_code, link_with_code
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

TOKEN = "424242:FAKE-token-for-tests"
WAIT = 180  # upper bound for any single step; steps finish as soon as their message arrives

# --------------------------------------------------------------------------- the fake Bot API


class FakeTelegram:
    """A tiny Telegram Bot API server speaking the real HTTP protocol (form/multipart
    requests, ``{"ok": true, "result": ...}`` answers, long-polling getUpdates)."""

    def __init__(self):
        self.updates: list[dict] = []
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(1000)
        self.calls: list[tuple[str, dict]] = []
        self.sent: list[dict] = []  # sendMessage / sendVoice, in order
        self.files: dict[str, tuple[str, bytes]] = {}
        self.fail_sends: dict[int, int] = {}  # chat id → how many sendMessage calls fail with 500
        self.webhook: dict = {}
        self.changed = asyncio.Condition()
        self.url = ""
        self._runner = None

    async def start(self) -> str:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self.api)
        app.router.add_get("/file/bot{token}/{path:.+}", self.download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self):
        await self._runner.cleanup()

    # -------------------------------------------------------------- protocol

    @staticmethod
    def ok(result) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def error(status: int, description: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)

    async def api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return self.error(401, "Unauthorized")
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict(await request.post()) if request.can_read_body else {}
            params.update(request.query)
        handler = getattr(self, f"m_{method}", None)
        if handler is None:
            return self.error(404, "Not Found: method not found")
        response = await handler(params)
        async with self.changed:
            self.calls.append((method, params))
            self.changed.notify_all()
        return response

    async def download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.Response(status=401)
        for path, data in self.files.values():
            if path == request.match_info["path"]:
                return web.Response(body=data)
        return web.Response(status=404)

    bot_user = {"id": 424242, "is_bot": True, "first_name": "乡音", "username": "xiangyin_test_bot",
                "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def m_getMe(self, params):
        return self.ok(self.bot_user)

    async def m_deleteWebhook(self, params):
        self.webhook = {}
        return self.ok(True)

    async def m_setWebhook(self, params):
        self.webhook = {"url": params.get("url"), "secret_token": params.get("secret_token")}
        return self.ok(True)

    async def m_getUpdates(self, params):
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]  # confirmed ones go
        if not self.updates and timeout:
            async with self.changed:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.changed.wait_for(lambda: bool(self.updates)), timeout)
        return self.ok(list(self.updates))

    def _message(self, chat_id: int, **extra) -> dict:
        return {"message_id": next(self.message_ids), "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"}, "from": self.bot_user, **extra}

    async def m_sendMessage(self, params):
        chat_id = int(params["chat_id"])
        if self.fail_sends.get(chat_id):
            self.fail_sends[chat_id] -= 1
            return self.error(500, "Internal Server Error")
        markup = json.loads(params["reply_markup"]) if params.get("reply_markup") else None
        self.sent.append({"method": "sendMessage", "chat_id": chat_id, "text": params["text"], "markup": markup})
        return self.ok(self._message(chat_id, text=params["text"]))

    async def m_sendVoice(self, params):
        chat_id = int(params["chat_id"])
        voice = params["voice"]
        data = voice.file.read() if hasattr(voice, "file") else b""
        self.sent.append({"method": "sendVoice", "chat_id": chat_id, "text": "", "voice": data, "markup": None})
        return self.ok(self._message(chat_id, voice={"file_id": "sent-voice", "file_unique_id": "sv",
                                                     "duration": 1, "mime_type": "audio/ogg"}))

    async def m_answerCallbackQuery(self, params):
        return self.ok(True)

    async def m_getFile(self, params):
        file_id = params["file_id"]
        if file_id not in self.files:
            return self.error(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        return self.ok({"file_id": file_id, "file_unique_id": file_id + "-u", "file_size": len(data),
                        "file_path": path})

    # -------------------------------------------------------------- test side

    async def push(self, **update) -> None:
        async with self.changed:
            self.updates.append({"update_id": next(self.update_ids), **update})
            self.changed.notify_all()

    def add_file(self, data: bytes, suffix: str) -> str:
        file_id = f"file-{uuid.uuid4().hex[:10]}"
        self.files[file_id] = (f"{suffix}/{file_id}.{suffix}", data)
        return file_id

    def to(self, chat_id: int, method: str | None = "sendMessage") -> list[dict]:
        return [m for m in self.sent if m["chat_id"] == chat_id and (method is None or m["method"] == method)]

    async def wait_for(self, predicate, what: str = "the expected messages"):
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(predicate), WAIT)
            except asyncio.TimeoutError:
                raise AssertionError(f"never saw {what}; bot sent: {self.sent[-8:]}") from None


def button_titles(message: dict) -> list[str]:
    markup = message.get("markup") or {}
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    return [b["text"] for row in rows for b in row]


class TgUser:
    """A person in a private chat with the bot."""

    def __init__(self, fake: FakeTelegram, user_id: int, name: str = "村民"):
        self.fake, self.id = fake, user_id
        self.user = {"id": user_id, "is_bot": False, "first_name": name, "language_code": "zh-hans"}

    def _message(self, **content) -> dict:
        return {"message_id": next(self.fake.message_ids), "date": int(time.time()),
                "chat": {"id": self.id, "type": "private", "first_name": self.user["first_name"]},
                "from": self.user, **content}

    async def send(self, until=None, **content) -> list[dict]:
        """Sends a message; returns the bot's messages once ``until(new_messages)`` holds
        (default: at least one message came back)."""
        before = len(self.fake.to(self.id, None))
        await self.fake.push(message=self._message(**content))
        return await self._answers(before, until, content)

    async def say(self, text: str, until=None) -> list[dict]:
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return await self.send(until, text=text, **({"entities": entities} if entities else {}))

    async def press(self, data: str, until=None) -> list[dict]:
        before = len(self.fake.to(self.id, None))
        await self.fake.push(callback_query={
            "id": uuid.uuid4().hex[:12], "from": self.user, "chat_instance": f"ci-{self.id}", "data": data,
            "message": self._message(text="(按钮)") | {"from": FakeTelegram.bot_user}})
        return await self._answers(before, until, {"button": data})

    async def _answers(self, before: int, until, what) -> list[dict]:
        until = until or (lambda msgs: bool(msgs))
        new = lambda: self.fake.to(self.id, None)[before:]  # noqa: E731
        await self.fake.wait_for(lambda: until(new()), f"the answer to {what}")
        return new()


def texts(messages: list[dict]) -> str:
    return "\n".join(m["text"] for m in messages if m["text"])


def contains(*words):
    return lambda msgs: all(w in texts(msgs) for w in words)


@contextlib.asynccontextmanager
async def telegram(rasa_url: str = "http://127.0.0.1:9", fake: FakeTelegram | None = None, **options):
    """A fake Bot API plus our bot polling it; yields (fake, channel)."""
    own = fake is None
    fake = fake or FakeTelegram()
    if own:
        await fake.start()
    channel_kwargs = {k: options.pop(k) for k in ("recognizer", "synthesizer", "clock") if k in options}
    config = TelegramConfig(token=TOKEN, rasa_url=rasa_url, api_url=fake.url,
                            **{"poll_timeout": 1, "outbox_interval": None, "rasa_timeout": WAIT, **options})
    channel = TelegramChannel(config, **channel_kwargs)
    try:
        async with channel.running():
            yield fake, channel
    finally:
        if own:
            await fake.stop()


@pytest.fixture(scope="module")
def rasa(rasa_server) -> str:
    """The real Rasa server, warmed up: its first answer (model and action server cold) may be slow."""
    httpx.post(f"{rasa_server}/webhooks/rest/webhook", json={"sender": "telegram:1", "message": "你好"},
               timeout=600).raise_for_status()
    return rasa_server


def run(coro):
    return asyncio.run(coro)


def new_tg_id() -> int:
    return 7_000_000 + uuid.uuid4().int % 1_000_000


def code_for(login: str, staff: str = "chenzhiming", url: str | None = None) -> str:
    with session_scope(write=True, url=url) as s:
        return issue_link_code(s, resolve_actor(s, f"cli:{staff}"), login)


def balance_of(login: str) -> int:
    with session_scope() as s:
        return points.balance_of(s, resolve_actor(s, f"cli:{login}").household_id)


# --------------------------------------------------------------------------- conversations


def test_link_with_a_code_then_check_points(rasa):
    tg = new_tg_id()

    async def scenario():
        async with telegram(rasa) as (fake, _):
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


def test_contact_button_links_only_the_senders_own_number(rasa):
    tg = new_tg_id()
    with session_scope() as s:
        phone = s.execute(select(User).where(User.login == "hh042")).scalar_one().resident.phone

    async def scenario():
        async with telegram(rasa) as (fake, _):
            me = TgUser(fake, tg)
            someone_else = {"phone_number": phone, "first_name": "别人", "user_id": tg + 1}
            assert texts(await me.send(contact=someone_else)) == NOT_OWN_CONTACT
            mine = {"phone_number": "+86" + phone, "first_name": "我", "user_id": tg}
            assert "绑定好了" in texts(await me.send(contact=mine))
            assert f"{balance_of('hh042')}分" in texts(await me.say("俺家积分还有多少", until=contains("分")))

    run(scenario())


def test_file_a_grievance_with_buttons_and_a_photo(rasa):
    tg = new_tg_id()

    async def scenario():
        async with telegram(rasa) as (fake, _):
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


def _espeak_ogg(text: str, tmp_path: Path) -> bytes:
    if not (shutil.which("espeak-ng") and shutil.which("ffmpeg")):
        pytest.skip("espeak-ng and ffmpeg are needed to make a voice note")
    wav, ogg = tmp_path / "say.wav", tmp_path / "say.ogg"
    subprocess.run(["espeak-ng", "-v", "cmn", "-s", "130", "-w", str(wav), text], check=True, timeout=60)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libopus",
                    "-ar", "48000", str(ogg)], check=True, timeout=60)
    return ogg.read_bytes()


def _voice(fake: FakeTelegram, data: bytes) -> dict:
    return {"file_id": fake.add_file(data, "oga"), "file_unique_id": "v1", "duration": 2,
            "mime_type": "audio/ogg", "file_size": len(data)}


def test_voice_note_without_a_recogniser_is_politely_declined(rasa, tmp_path, settings):
    """The real ASR path with no Chinese Vosk model installed (the tests' environment points
    XIANGYIN_VOSK_MODEL at an empty place): the user gets a polite sentence. Recognised voice
    notes: test_voice_note_answer_and_spoken_replies, with a recogniser double."""
    assert not settings.speech.vosk_model.exists()
    ogg = _espeak_ogg("我有多少积分", tmp_path)
    tg = new_tg_id()

    async def scenario():
        async with telegram(rasa) as (fake, _):
            me = TgUser(fake, tg)
            await me.say(f"/link {code_for('hh044')}")
            assert texts(await me.send(voice=_voice(fake, ogg))) == ASR_UNAVAILABLE

    run(scenario())


class ScriptedRecognizer:
    """Test double at the ASR boundary only: download and ffmpeg normalisation stay real;
    the words are scripted because the Chinese Vosk model cannot be installed offline."""

    def __init__(self, text: str):
        self.text, self.pcm_lengths = text, []

    def transcribe(self, pcm: bytes, is_pcm: bool = False):
        from speech.asr import Transcript

        assert is_pcm and len(pcm) > 16000  # over half a second of real 16 kHz audio
        self.pcm_lengths.append(len(pcm))
        return Transcript(text=self.text)


def test_voice_note_answer_and_spoken_replies(rasa, tmp_path):
    ogg = _espeak_ogg("我有多少积分", tmp_path)
    tg = new_tg_id()
    recognizer = ScriptedRecognizer("我有多少积分")

    async def scenario():
        async with telegram(rasa, recognizer=recognizer) as (fake, _):
            me = TgUser(fake, tg)
            await me.say(f"/link {code_for('hh045')}")
            answer = await me.send(voice=_voice(fake, ogg), until=lambda m: len(m) >= 2)
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


def test_staff_queue_command(rasa):
    tg = new_tg_id()

    async def scenario():
        async with telegram(rasa) as (fake, _):
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


def _notify(user_id: int, text: str) -> int:
    with session_scope(write=True) as s:
        row = OutboxMessage(user_id=user_id, kind="test", text=text, payload={},
                            dedupe_key=f"test:{uuid.uuid4().hex}")
        s.add(row)
        s.flush()
        return row.id


def attempts(outbox_id: int) -> tuple[int, bool]:
    with session_scope() as s:
        row = s.get(OutboxMessage, outbox_id)
        return row.attempts, row.delivered_at is not None


def test_notifications_are_delivered_once_across_restarts(seeded_db):
    tg = new_tg_id()
    with session_scope(write=True) as s:
        user = link_with_code(s, "telegram", str(tg), code_for("hh046"))
        user_id = user.id
    first = [_notify(user_id, f"您反映的事有新进展（{n}）") for n in range(2)]

    async def scenario():
        fake = FakeTelegram()
        await fake.start()
        try:
            # Run 1: the background job delivers both.
            async with telegram(fake=fake, outbox_interval=0.05):
                await fake.wait_for(lambda: len(fake.to(tg)) >= 2, "two notifications")
            # A crash right after claiming: attempts went up, nothing was sent.
            late = _notify(user_id, "您反映的事已经办结（3）")
            crashed = TelegramChannel(TelegramConfig(token=TOKEN, rasa_url="http://127.0.0.1:9", api_url=fake.url))
            assert late in [c.outbox_id for c in crashed.claim_outbox()]
            # Run 2 (restart): only the claimed-but-unsent one goes out, once; the first two never again.
            async with telegram(fake=fake, outbox_interval=0.05):
                await fake.wait_for(lambda: len(fake.to(tg)) >= 3, "the third notification")
            # Run 3: Telegram fails once; the row is retried after its backoff and sent once.
            flaky = _notify(user_id, "请您对办理结果评价：满意、基本满意或不满意？")
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
    old = _notify(user_id, "很早以前的通知")
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
