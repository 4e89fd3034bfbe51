"""A local fake of the WeChat platform for the WeChat channel's end-to-end tests, speaking the
real protocol on 127.0.0.1:

* the **API side** (aiohttp): ``/cgi-bin/token`` (checks AppID and AppSecret, hands out an access
  token), ``/cgi-bin/message/custom/send`` (客服消息, text or voice: checks the token, records
  what was sent; 45015 for a user outside the 48-hour window), ``/cgi-bin/media/get`` (serves
  media the test put there), ``/cgi-bin/media/upload`` (temporary media: records the upload,
  hands out a ``media_id`` a voice message may then name), ``/cgi-bin/message/template/send``
  (模板消息: checks the template id and its field names, records the message);
* the **callback side**: :class:`WxUser` sends XML callbacks to our server the way WeChat does —
  query ``signature``/``timestamp``/``nonce``/``openid``, and in 安全模式 ``encrypt_type=aes`` and
  ``msg_signature`` with an AES-256-CBC ``Encrypt`` body — and reads the passive reply
  (decrypting it and checking its signature when encrypted).

The signing and the AES envelope are written here from WeChat's documentation, with
``cryptography`` directly, not with wechatpy: a fault in the library the channel uses would not
cancel out. Nothing waits for a fixed time: every step waits for the messages it expects (with a
generous upper bound so a broken channel fails instead of hanging)."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import os
import secrets
import shutil
import struct
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.channels.wechat.app import WeChatChannel
from bot.channels.wechat.config import WeChatConfig
from bot.channels.wechat.wecom import WeComChannel, WeComConfig
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.linking import issue_link_code

APP_ID = "wx5ea1c0ffee0a11ce"
APP_SECRET = "fake-app-secret-for-tests-0123456"
TEMPLATE_ID = "Xy7TmplNoticeUpdate0123456789abcdefghijklm"  # a template in the account's library
TEMPLATE_FIELDS = {"thing1", "time2"}  # its fields: {{thing1.DATA}} {{time2.DATA}}
TEMPLATE_THING_CHARS = 20  # WeChat's limit for a thing field
TOKEN = "XiangyinTestToken42"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as on the settings page
ACCOUNT = "gh_0123456789ab"  # the Official Account's own id (ToUserName of callbacks)
CORP_ID = "ww5ea1c0ffee0a11ce"  # the WeCom corporation
AGENT_ID = 1000002  # the staff app in it
WORK_SECRET = "fake-wecom-app-secret-0123456789abcdef"
WORK_TOKEN = "XiangyinWorkToken7"
WORK_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210abcdefg"
WAIT = 180  # upper bound for any single step


# --------------------------------------------------------------------------- the protocol


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 of the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8"), usedforsecurity=False).hexdigest()


def _key(aes_key: str = AES_KEY) -> bytes:
    return base64.b64decode(aes_key + "=")


def encrypt(plaintext: str, app_id: str = APP_ID, aes_key: str = AES_KEY) -> str:
    """The ``Encrypt`` field: AES-256-CBC (IV = first 16 key bytes) of 16 random bytes, the
    message length (4 bytes, network order), the message and the AppID, PKCS#7 to 32 bytes."""
    message = plaintext.encode("utf-8")
    data = os.urandom(16) + struct.pack(">I", len(message)) + message + app_id.encode("ascii")
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    key = _key(aes_key)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")


def decrypt(ciphertext: str, aes_key: str = AES_KEY) -> tuple[str, str]:
    """(message, AppID) of an ``Encrypt`` field."""
    key = _key(aes_key)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    data = decryptor.update(base64.b64decode(ciphertext)) + decryptor.finalize()
    data = data[: -data[-1]]
    length = struct.unpack(">I", data[16:20])[0]
    return data[20:20 + length].decode("utf-8"), data[20 + length:].decode("ascii")


def is_amr_or_mp3(data: bytes) -> bool:
    """What WeChat takes as a voice: AMR (``#!AMR``) or MP3 (an ID3 tag or an MPEG audio frame sync)."""
    return data.startswith(b"#!AMR") or data.startswith(b"ID3") or (
        len(data) > 1 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0)


def cdata(value: str) -> str:
    return f"<![CDATA[{value}]]>"


def message_xml(openid: str, msg_type: str, msg_id: int | None = None, create_time: int | None = None,
                **fields: str) -> str:
    """A callback message as WeChat sends it (fields by their XML names: Content, Event, ...)."""
    parts = [f"<ToUserName>{cdata(ACCOUNT)}</ToUserName>", f"<FromUserName>{cdata(openid)}</FromUserName>",
             f"<CreateTime>{create_time or int(time.time())}</CreateTime>", f"<MsgType>{cdata(msg_type)}</MsgType>"]
    parts += [f"<{name}>{cdata(str(value))}</{name}>" for name, value in fields.items()]
    if msg_id is not None:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"


def fields(xml: str) -> dict[str, str]:
    return {child.tag: (child.text or "") for child in ET.fromstring(xml)}


@dataclass(frozen=True)
class Signed:
    """One signed callback request: its query and body."""

    params: dict[str, str]
    body: bytes


def signed(xml: str, openid: str, encrypted: bool = False, token: str = TOKEN, timestamp: int | None = None) -> Signed:
    stamp, nonce = str(timestamp or int(time.time())), secrets.token_hex(5)
    params = {"signature": sign(token, stamp, nonce), "timestamp": stamp, "nonce": nonce, "openid": openid}
    if not encrypted:
        return Signed(params, xml.encode("utf-8"))
    ciphertext = encrypt(xml)
    params |= {"encrypt_type": "aes", "msg_signature": sign(token, stamp, nonce, ciphertext)}
    body = f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><Encrypt>{cdata(ciphertext)}</Encrypt></xml>"
    return Signed(params, body.encode("utf-8"))


def read_reply(response: httpx.Response, encrypted: bool) -> str:
    """The text of a passive reply ("" for ``success`` or an empty body); checks the envelope
    of an encrypted one as WeChat would (signature, AppID)."""
    body = response.text.strip()
    if body in ("", "success"):
        return ""
    reply = fields(body)
    if encrypted:
        assert "Encrypt" in reply, f"a plain reply to an encrypted callback: {body[:200]}"
        assert reply["MsgSignature"] == sign(TOKEN, reply["TimeStamp"], reply["Nonce"], reply["Encrypt"])
        plaintext, app_id = decrypt(reply["Encrypt"])
        assert app_id == APP_ID
        reply = fields(plaintext)
    assert reply["MsgType"] == "text" and reply["FromUserName"] == ACCOUNT, reply
    return reply["Content"]


# --------------------------------------------------------------------------- the fake platform


class FakeWeChat:
    """The WeChat API server, and what each user received (passive replies and 客服消息)."""

    def __init__(self):
        self.tokens: set[str] = set()
        self.received: list[dict] = []  # {"openid", "text", "via": "passive" | "custom"}, in order
        self.calls: list[str] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self.uploads: list[dict] = []  # {"media_id", "type", "filename", "content_type", "data"}, in order
        self.templates: dict[str, set[str]] = {TEMPLATE_ID: TEMPLATE_FIELDS}
        self.outside_window: set[str] = set()  # openids that last wrote more than 48 hours ago
        self.members: set[str] = set()  # WeCom UserIDs in the corporation
        self.card_updates: list[dict] = []  # update_template_card calls (a pressed button turned into a label)
        self.changed = asyncio.Condition()
        self.url = ""
        self._runner = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.custom_send)
        app.router.add_get("/cgi-bin/media/get", self.media_get)
        app.router.add_post("/cgi-bin/media/upload", self.media_upload)
        app.router.add_post("/cgi-bin/message/template/send", self.template_send)
        app.router.add_get("/cgi-bin/gettoken", self.work_token)
        app.router.add_post("/cgi-bin/message/send", self.work_send)
        app.router.add_post("/cgi-bin/message/update_template_card", self.work_update_card)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        await self._runner.cleanup()

    @staticmethod
    def error(code: int, message: str) -> web.Response:
        return web.json_response({"errcode": code, "errmsg": message})

    async def _record(self, call: str, **received) -> None:
        async with self.changed:
            self.calls.append(call)
            if received:
                self.received.append(received)
            self.changed.notify_all()

    async def token(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("grant_type") != "client_credential" or q.get("appid") != APP_ID:
            return self.error(40013, "invalid appid")
        if q.get("secret") != APP_SECRET:
            return self.error(40001, "invalid credential, access_token is invalid or not latest")
        token = f"ACCESS_{uuid.uuid4().hex}"
        self.tokens.add(token)
        await self._record("token")
        return web.json_response({"access_token": token, "expires_in": 7200})

    def expire_tokens(self) -> None:
        """Every access token handed out so far stops working (42001 on its next use)."""
        self.tokens.clear()

    async def custom_send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.tokens:
            await self._record("custom_send:stale")
            return self.error(42001, "access_token expired")
        body = await request.json()
        if body.get("msgtype") not in ("text", "voice") or not body.get("touser"):
            return self.error(40008, "invalid message type")
        if body["touser"] in self.outside_window:
            await self._record("custom_send:45015")
            return self.error(45015, "response out of time limit or subscription is canceled")
        if body["msgtype"] == "voice":
            media_id = (body.get("voice") or {}).get("media_id")
            upload = next((u for u in self.uploads if u["media_id"] == media_id), None)
            if upload is None or upload["type"] != "voice":
                return self.error(40007, "invalid media_id")
            await self._record("custom_send:voice", openid=body["touser"], text="", via="custom", voice=upload)
            return self.error(0, "ok")
        await self._record("custom_send", openid=body["touser"], text=body["text"]["content"], via="custom")
        return self.error(0, "ok")

    async def media_upload(self, request: web.Request) -> web.Response:
        """Temporary media (``type`` voice: AMR or MP3, at most 2 MB), as a multipart ``media`` part."""
        if request.query.get("access_token") not in self.tokens:
            return self.error(42001, "access_token expired")
        kind = request.query.get("type", "")
        if kind not in ("image", "voice", "video", "thumb"):
            return self.error(40004, "invalid media type")
        form = await request.post()
        part = form.get("media")
        if not isinstance(part, web.FileField):
            return self.error(41005, "media data missing")
        data = part.file.read()
        if kind == "voice" and (len(data) > 2 * 1024 * 1024 or not is_amr_or_mp3(data)):
            return self.error(40005, "invalid file type")
        media_id = f"up-{uuid.uuid4().hex[:16]}"
        self.uploads.append({"media_id": media_id, "type": kind, "filename": part.filename,
                             "content_type": part.content_type, "data": data})
        await self._record("media_upload")
        return web.json_response({"type": kind, "media_id": media_id, "created_at": int(time.time())})

    async def template_send(self, request: web.Request) -> web.Response:
        """A template message: allowed outside the 48-hour window; the template must exist and
        every field it is given must be one of its own, a thing field at most 20 characters."""
        if request.query.get("access_token") not in self.tokens:
            return self.error(42001, "access_token expired")
        body = await request.json()
        fields_of = self.templates.get(body.get("template_id"))
        if fields_of is None:
            await self._record("template_send:40037")
            return self.error(40037, "invalid template_id")
        data = body.get("data") or {}
        if not data or set(data) - fields_of or any(not isinstance(v, dict) or "value" not in v for v in data.values()):
            return self.error(47001, "data format error")
        if any(name.startswith("thing") and len(v["value"]) > TEMPLATE_THING_CHARS for name, v in data.items()):
            return self.error(47003, "argument invalid! data.thing1.value invalid")
        await self._record("template_send", openid=body.get("touser"), text=data.get("thing1", {}).get("value", ""),
                           via="template", data={k: v["value"] for k, v in data.items()},
                           template_id=body["template_id"])
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": int(time.time() * 1000)})

    async def media_get(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.tokens:
            return self.error(42001, "access_token expired")
        found = self.media.get(request.query.get("media_id", ""))
        if found is None:
            return self.error(40007, "invalid media_id")
        data, kind = found
        await self._record("media_get")
        return web.Response(body=data, content_type=kind)

    # WeCom: the app's token and messages (text, and template cards with buttons)

    async def work_token(self, request: web.Request) -> web.Response:
        if request.query.get("corpid") != CORP_ID or request.query.get("corpsecret") != WORK_SECRET:
            return self.error(40001, "invalid secret")
        token = f"WORK_{uuid.uuid4().hex}"
        self.tokens.add(token)
        await self._record("gettoken")
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

    async def work_send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.tokens:
            return self.error(42001, "access_token expired")
        body = await request.json()
        if body.get("agentid") != AGENT_ID:
            return self.error(40056, "invalid agentid")
        if body.get("touser") not in self.members:
            return web.json_response({"errcode": 81013, "errmsg": "user & party & tag all invalid",
                                      "invaliduser": body.get("touser")})
        kind = body.get("msgtype")
        if kind == "text":
            await self._record("work_send", openid=body["touser"], text=body["text"]["content"], via="app")
        elif kind == "template_card":
            card = body["template_card"]
            await self._record("work_send", openid=body["touser"], text=card.get("sub_title_text", ""), via="app",
                               card=card)
        else:
            return self.error(40008, "invalid message type")
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": uuid.uuid4().hex})

    async def work_update_card(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.tokens:
            return self.error(42001, "access_token expired")
        body = await request.json()
        if body.get("agentid") != AGENT_ID or not body.get("response_code"):
            return self.error(40058, "invalid parameter")
        self.card_updates.append(body)
        await self._record("update_template_card")
        return self.error(0, "ok")

    def add_media(self, data: bytes, kind: str = "audio/amr") -> str:
        media_id = f"media-{uuid.uuid4().hex[:12]}"
        self.media[media_id] = (data, kind)
        return media_id

    def to(self, openid: str) -> list[dict]:
        return [m for m in self.received if m["openid"] == openid]

    async def passive(self, openid: str, text: str) -> None:
        if text:
            await self._record("passive", openid=openid, text=text, via="passive")

    async def wait_for(self, predicate, what: str = "the expected messages") -> None:
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(predicate), WAIT)
            except asyncio.TimeoutError:
                raise AssertionError(f"never saw {what}; received: {self.received[-8:]}") from None


class WxUser:
    """A person who follows the Official Account, writing to it through WeChat."""

    msg_ids = itertools.count(int(time.time()) * 1000)

    def __init__(self, fake: FakeWeChat, callback_url: str, openid: str | None = None, encrypted: bool = False):
        self.fake, self.url, self.encrypted = fake, callback_url, encrypted
        self.openid = openid or new_openid()

    async def post(self, request: Signed) -> httpx.Response:
        """One callback, as WeChat makes it; records a passive reply as received."""
        async with httpx.AsyncClient(timeout=WAIT) as http:
            response = await http.post(self.url, params=request.params, content=request.body,
                                       headers={"Content-Type": "text/xml"})
        if response.status_code == 200:
            await self.fake.passive(self.openid, read_reply(response, "encrypt_type" in request.params))
        return response

    def callback(self, msg_type: str, msg_id: int | None = None, **xml_fields) -> Signed:
        xml = message_xml(self.openid, msg_type, msg_id, **xml_fields)
        return signed(xml, self.openid, self.encrypted)

    def text(self, content: str) -> Signed:
        return self.callback("text", next(self.msg_ids), Content=content)

    async def send(self, request: Signed, until=None) -> list[dict]:
        """Sends a callback; returns what the user received once ``until(new)`` holds (default:
        at least one message)."""
        before = len(self.fake.to(self.openid))
        response = await self.post(request)
        assert response.status_code == 200, response.text
        until = until or (lambda msgs: bool(msgs))
        new = lambda: self.fake.to(self.openid)[before:]  # noqa: E731
        await self.fake.wait_for(lambda: until(new()), f"the answer to {request.body[:120]!r}")
        return new()

    async def say(self, content: str, until=None) -> list[dict]:
        return await self.send(self.text(content), until)

    async def event(self, event: str, until=None, **xml_fields) -> list[dict]:
        return await self.send(self.callback("event", Event=event, **xml_fields), until)


def work_signed(xml: str, token: str = WORK_TOKEN, corp_id: str = CORP_ID) -> Signed:
    """A WeCom callback: always encrypted (the ciphertext ends with the CorpID), ``msg_signature`` only."""
    stamp, nonce = str(int(time.time())), secrets.token_hex(5)
    ciphertext = encrypt(xml, corp_id, WORK_AES_KEY)
    body = (f"<xml><ToUserName>{cdata(CORP_ID)}</ToUserName><AgentID>{cdata(str(AGENT_ID))}</AgentID>"
            f"<Encrypt>{cdata(ciphertext)}</Encrypt></xml>")
    return Signed({"msg_signature": sign(token, stamp, nonce, ciphertext), "timestamp": stamp, "nonce": nonce},
                  body.encode("utf-8"))


class WorkUser(WxUser):
    """A staff member writing to the WeCom app."""

    def __init__(self, fake: FakeWeChat, callback_url: str, userid: str | None = None):
        super().__init__(fake, callback_url, userid or f"staff_{uuid.uuid4().hex[:10]}", encrypted=True)
        fake.members.add(self.openid)

    def callback(self, msg_type: str, msg_id: int | None = None, **xml_fields) -> Signed:
        xml = message_xml(self.openid, msg_type, msg_id, **xml_fields).replace(
            f"<ToUserName>{cdata(ACCOUNT)}</ToUserName>", f"<ToUserName>{cdata(CORP_ID)}</ToUserName>")
        return work_signed(xml.replace("</xml>", f"<AgentID>{AGENT_ID}</AgentID></xml>"))

    async def press(self, key: str, until=None, at: int | None = None) -> list[dict]:
        """Presses a card's button (WeCom sends ``template_card_event`` with the button's key).
        Events have no MsgId: two presses in the same second (``at``) are one press, as for WeCom."""
        return await self.send(self.callback("event", create_time=at, Event="template_card_event", EventKey=key,
                                             TaskId=uuid.uuid4().hex[:12], CardType="button_interaction",
                                             ResponseCode=f"rc-{uuid.uuid4().hex[:16]}"), until)


def texts(messages: list[dict]) -> str:
    return "\n".join(m["text"] for m in messages)


def contains(*words):
    return lambda msgs: all(w in texts(msgs) for w in words)


def new_openid() -> str:
    return "o" + base64.urlsafe_b64encode(os.urandom(20)).decode("ascii").rstrip("=")[:27]


def config_for(fake: FakeWeChat, rasa_url: str = "http://127.0.0.1:9", **options) -> WeChatConfig:
    return WeChatConfig(**{"app_id": APP_ID, "token": TOKEN, "aes_key": AES_KEY, "app_secret": APP_SECRET,
                           "rasa_url": rasa_url, "api_url": fake.url, "port": 0, "rasa_timeout": WAIT,
                           "passive_seconds": WAIT, "outbox_interval": None, **options})


def work_config_for(fake: FakeWeChat, rasa_url: str = "http://127.0.0.1:9", **options) -> WeComConfig:
    return WeComConfig(**{"app_id": CORP_ID, "token": WORK_TOKEN, "aes_key": WORK_AES_KEY, "app_secret": WORK_SECRET,
                          "agent_id": AGENT_ID, "rasa_url": rasa_url, "api_url": fake.url, "port": 0,
                          "rasa_timeout": WAIT, "outbox_interval": None, **options})


@contextlib.asynccontextmanager
async def wecom(rasa_url: str = "http://127.0.0.1:9", **options):
    """A fake WeChat plus our WeCom app channel; yields (fake, channel)."""
    fake = FakeWeChat()
    await fake.start()
    channel = WeComChannel(work_config_for(fake, rasa_url, **options))
    try:
        async with channel.running():
            yield fake, channel
    finally:
        await fake.stop()


@contextlib.asynccontextmanager
async def wechat(rasa_url: str = "http://127.0.0.1:9", fake: FakeWeChat | None = None, **options):
    """A fake WeChat (a new one unless given) plus our channel serving callbacks from it;
    yields (fake, channel)."""
    own = fake is None
    fake = fake or FakeWeChat()
    if own:
        await fake.start()
    channel_kwargs = {k: options.pop(k) for k in ("recognizer", "synthesizer", "clock") if k in options}
    channel = WeChatChannel(config_for(fake, rasa_url, **options), **channel_kwargs)
    try:
        async with channel.running():
            yield fake, channel
    finally:
        if own:
            await fake.stop()


def espeak_speex(text: str, tmp_path: Path) -> bytes:
    """A voice message as a WeChat client records one: speech (espeak-ng) in Speex at 16 kHz.
    (WeChat's other format, AMR-NB: :func:`tests.support.amr.espeak_amr`.)"""
    if not (shutil.which("espeak-ng") and shutil.which("ffmpeg")):
        pytest.skip("espeak-ng and ffmpeg are needed to make a voice message")
    wav, spx = tmp_path / "say.wav", tmp_path / "say.spx"
    subprocess.run(["espeak-ng", "-v", "cmn", "-s", "130", "-w", str(wav), text], check=True, timeout=60)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), "-ar", "16000", "-ac", "1",
                    "-c:a", "libspeex", "-f", "ogg", str(spx)], check=True, timeout=60)
    return spx.read_bytes()


def run(coro):
    return asyncio.run(coro)


def code_for(login: str, staff: str = "chenzhiming") -> str:
    with session_scope(write=True) as s:
        return issue_link_code(s, resolve_actor(s, f"cli:{staff}"), login)
