"""A local fake of the Telegram Bot API and a person chatting with the bot through it, for the
Telegram channel's end-to-end tests: python-telegram-bot talks real HTTP to :class:`FakeTelegram`
(getMe, getUpdates long-poll, sendMessage, answerCallbackQuery, editMessageReplyMarkup, getFile,
file downloads, sendVoice, setWebhook/deleteWebhook), and :func:`telegram` runs our bot against it.

Nothing waits for a fixed time: every step waits for the message it expects (with a generous
upper bound so a broken bot fails instead of hanging)."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from aiohttp import web

from bot.channels.telegram.app import TelegramChannel
from bot.channels.telegram.config import TelegramConfig
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.linking import issue_link_code
from bot.models import OutboxMessage

TOKEN = "424242:FAKE-token-for-tests"
WAIT = 180  # upper bound for any single step; steps finish as soon as their message arrives


class FakeTelegram:
    """A tiny Telegram Bot API server speaking the real HTTP protocol (form/multipart
    requests, ``{"ok": true, "result": ...}`` answers, long-polling getUpdates)."""

    def __init__(self):
        self.updates: list[dict] = []
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(1000)
        self.calls: list[tuple[str, dict]] = []
        self.sent: list[dict] = []  # sendMessage / sendVoice, in order
        self.edits: list[dict] = []  # editMessageReplyMarkup (a pressed alert loses its button)
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

    async def m_editMessageReplyMarkup(self, params):
        self.edits.append({"chat_id": int(params.get("chat_id") or 0), "message_id": params.get("message_id"),
                           "markup": json.loads(params["reply_markup"]) if params.get("reply_markup") else None})
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


def run(coro):
    return asyncio.run(coro)


def new_tg_id() -> int:
    return 7_000_000 + uuid.uuid4().int % 1_000_000


def code_for(login: str, staff: str = "chenzhiming", url: str | None = None) -> str:
    with session_scope(write=True, url=url) as s:
        return issue_link_code(s, resolve_actor(s, f"cli:{staff}"), login)


def espeak_ogg(text: str, tmp_path: Path) -> bytes:
    if not (shutil.which("espeak-ng") and shutil.which("ffmpeg")):
        pytest.skip("espeak-ng and ffmpeg are needed to make a voice note")
    wav, ogg = tmp_path / "say.wav", tmp_path / "say.ogg"
    subprocess.run(["espeak-ng", "-v", "cmn", "-s", "130", "-w", str(wav), text], check=True, timeout=60)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libopus",
                    "-ar", "48000", str(ogg)], check=True, timeout=60)
    return ogg.read_bytes()


def voice_note(fake: FakeTelegram, data: bytes) -> dict:
    return {"file_id": fake.add_file(data, "oga"), "file_unique_id": "v1", "duration": 2,
            "mime_type": "audio/ogg", "file_size": len(data)}


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


def add_notification(user_id: int, text: str) -> int:
    with session_scope(write=True) as s:
        row = OutboxMessage(user_id=user_id, kind="test", text=text, payload={},
                            dedupe_key=f"test:{uuid.uuid4().hex}")
        s.add(row)
        s.flush()
        return row.id
