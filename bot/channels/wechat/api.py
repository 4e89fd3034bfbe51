"""The WeChat server API the channel calls (httpx, asyncio): the access token
(``/cgi-bin/token``, cached and renewed before it expires or when WeChat says it is stale),
customer-service messages (``/cgi-bin/message/custom/send``, 客服消息: free-form messages to a
user who wrote to the account within the last 48 hours; text, and voice for spoken replies),
template messages (``/cgi-bin/message/template/send``, 模板消息: a fixed template from the
account's template library, allowed outside the 48 hours), media downloads
(``/cgi-bin/media/get``) and uploads of temporary media (``/cgi-bin/media/upload``).

wechatpy has a client for these, but its 1.8 line is synchronous (requests) and fixes the
token URL to api.weixin.qq.com; this one is a few calls on the httpx the project already uses,
and ``base_url`` points tests at a local fake.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Callable

import httpx

logger = logging.getLogger(__name__)

STALE_TOKEN = {40001, 40014, 42001}  # invalid credential, invalid token, token expired
TOKEN_MARGIN = 300.0  # seconds: renew this long before WeChat says the token expires
MAX_TEXT_BYTES = 2000  # a text message's content limit (WeChat documents 2048 bytes)


class WeChatAPIError(Exception):
    """WeChat refused a call (``errcode`` set) or could not be reached (``errcode`` None)."""

    def __init__(self, errcode: int | None, errmsg: str):
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, cut at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line.encode("utf-8")) > limit:  # one very long line: cut by characters
            cut = limit // 4
            while len(line[: cut + 1].encode("utf-8")) <= limit and cut < len(line):
                cut += 1
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        if len((current + line).encode("utf-8")) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return [p.strip("\n") for p in pieces if p.strip()]


class WeChatAPI:
    """One Official Account's API client; an async context manager owning its connection pool.
    (:class:`~.wecom.WorkAPI` is the same for a WeCom app: other token and send calls.)"""

    TOKEN_PATH = "/cgi-bin/token"  # nosec B105 - the path of WeChat's token call, not a password
    SEND_PATH = "/cgi-bin/message/custom/send"
    TEMPLATE_PATH = "/cgi-bin/message/template/send"
    UPLOAD_PATH = "/cgi-bin/media/upload"
    VOICE_FORMAT: str | None = "mp3"  # what spoken replies are sent as (None: this API sends none)

    def _token_params(self) -> dict[str, str]:
        return {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret or ""}

    def _text_body(self, user: str, text: str) -> dict:
        return {"touser": user, "msgtype": "text", "text": {"content": text}}

    def __init__(self, base_url: str, app_id: str, app_secret: str | None, timeout: float = 15.0,
                 clock: Callable[[], float] = time.monotonic, transport: httpx.AsyncBaseTransport | None = None):
        self.app_id, self._secret, self.clock = app_id, app_secret, clock
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)
        self._token: tuple[str, float] | None = None  # (token, clock() when it must be renewed)
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> "WeChatAPI":
        return self

    async def __aexit__(self, *exc) -> None:
        await self._http.aclose()

    @property
    def can_send(self) -> bool:
        """Whether customer-service messages can be sent (an AppSecret is configured)."""
        return bool(self._secret)

    @staticmethod
    def _checked(response: httpx.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            raise WeChatAPIError(None, f"HTTP {response.status_code}, not JSON") from None
        if not isinstance(body, dict):
            raise WeChatAPIError(None, "answer is not a JSON object")
        if body.get("errcode"):
            raise WeChatAPIError(int(body["errcode"]), str(body.get("errmsg", "")))
        return body

    async def access_token(self, renew: bool = False) -> str:
        async with self._token_lock:
            if self._token is not None and not renew and self.clock() < self._token[1]:
                return self._token[0]
            if not self._secret:
                raise WeChatAPIError(None, "no AppSecret configured")
            try:
                response = await self._http.get(self.TOKEN_PATH, params=self._token_params())
            except httpx.HTTPError as exc:
                raise WeChatAPIError(None, type(exc).__name__) from None
            body = self._checked(response)
            token, lifetime = str(body.get("access_token") or ""), float(body.get("expires_in") or 7200)
            if not token:
                raise WeChatAPIError(None, "no access_token in the answer")
            self._token = (token, self.clock() + max(lifetime - TOKEN_MARGIN, lifetime / 2))
            return token

    async def _request(self, method: str, path: str, *, params: dict | None = None, always_json: bool = True,
                       **kwargs) -> httpx.Response:
        """One call with the access token; once more with a new token when WeChat says it is stale.
        The answer is checked for an ``errcode`` when it is JSON (``always_json``: it must be)."""
        for renew in (False, True):
            query = {**(params or {}), "access_token": await self.access_token(renew)}
            try:
                response = await self._http.request(method, path, params=query, **kwargs)
            except httpx.HTTPError as exc:
                raise WeChatAPIError(None, type(exc).__name__) from None
            kind = response.headers.get("content-type", "")
            if always_json or "json" in kind or kind.startswith("text/"):
                try:
                    self._checked(response)
                except WeChatAPIError as exc:
                    if exc.errcode in STALE_TOKEN and not renew:
                        continue
                    raise
            return response
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (客服消息); :class:`WeChatAPIError` when refused
        (45015: the user has not written within 48 hours; 43004: not subscribed)."""
        for piece in split_text(text):
            await self.post_json(self.SEND_PATH, self._text_body(openid, piece))

    async def post_json(self, path: str, body: dict) -> dict:
        """A JSON call with the access token; WeChat's answer (errcode 0)."""
        response = await self._request("POST", path, content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                       headers={"Content-Type": "application/json; charset=utf-8"})
        return self._checked(response)

    async def upload_media(self, kind: str, data: bytes, filename: str, content_type: str) -> str:
        """Uploads temporary media (kept by WeChat for 3 days); its ``media_id``."""
        response = await self._request("POST", self.UPLOAD_PATH, params={"type": kind},
                                       files={"media": (filename, data, content_type)})
        media_id = str(self._checked(response).get("media_id") or "")
        if not media_id:
            raise WeChatAPIError(None, "no media_id in the upload's answer")
        return media_id

    async def send_voice(self, openid: str, mp3: bytes) -> None:
        """A customer-service voice message (MP3 of at most 60 s and 2 MB)."""
        media_id = await self.upload_media("voice", mp3, "reply.mp3", "audio/mpeg")
        await self.post_json(self.SEND_PATH, {"touser": openid, "msgtype": "voice", "voice": {"media_id": media_id}})

    async def send_template(self, openid: str, template_id: str, data: dict[str, str]) -> None:
        """A template message (模板消息): ``data`` maps the template's field names to their
        values; WeChat sends it outside the 48-hour window too (43004: not a follower)."""
        await self.post_json(self.TEMPLATE_PATH, {"touser": openid, "template_id": template_id,
                                                  "data": {name: {"value": value} for name, value in data.items()}})

    async def media(self, media_id: str, max_bytes: int = 10 * 1024 * 1024) -> bytes:
        """A temporary media file (a voice message's AMR/Speex, an image) by its MediaId."""
        response = await self._request("GET", "/cgi-bin/media/get", params={"media_id": media_id}, always_json=False)
        if response.status_code != 200 or len(response.content) > max_bytes:
            raise WeChatAPIError(None, f"media download failed (HTTP {response.status_code})")
        return response.content
