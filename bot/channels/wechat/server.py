"""The callback server: Starlette routes for the URL WeChat calls, and the 5-second rule.

WeChat waits 5 seconds for the answer to a callback, then sends it again (three retries).
:class:`Responder` starts the turn, answers in the callback's own response when the turn is
done within ``passive_seconds``, and otherwise answers ``success`` at once and sends the
answer as customer-service messages (客服消息) when the turn finishes. A message whose key
(``MsgId``) was seen already — by this process, an earlier one, or another replica on the same
database (:class:`~.limits.DurableSeenMessages`) — is answered ``success`` and never runs a
second turn.

Requests that WeChat did not sign (or that do not decrypt with our EncodingAESKey) get a 403
and go nowhere near Rasa.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Mapping, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.channels import turn
from bot.channels.wechat.api import WeChatAPI, WeChatAPIError, split_text
from bot.channels.wechat.limits import DurableSeenMessages, SeenMessages
from bot.channels.wechat.protocol import MAX_BODY, SUCCESS, Callback, Rejected, dedupe_key

logger = logging.getLogger(__name__)

Answer = Callable[[Any], Awaitable[list[str]]]


class CallbackProtocol(Protocol):
    """One platform's callback protocol (:class:`~.protocol.OfficialAccount`, :class:`~.wecom.WorkApp`)."""

    def verify(self, params: Mapping[str, str]) -> str: ...

    def open(self, params: Mapping[str, str], body: bytes, now: float, window: float) -> Callback: ...

    def reply(self, callback: Callback, text: str, now: float) -> str: ...


def plan(texts: list[str]) -> tuple[str, list[str]]:
    """The passive reply (one text message) and what must follow as customer-service messages."""
    pieces = split_text("\n\n".join(texts)) if texts else []
    return (pieces[0], pieces[1:]) if pieces else ("", [])


class Responder:
    """Answers verified callbacks within WeChat's 5 seconds (see the module docstring)."""

    def __init__(self, protocol: CallbackProtocol, answer: Answer, api: WeChatAPI, passive_seconds: float,
                 clock: Callable[[], float] = time.time, seen: SeenMessages | DurableSeenMessages | None = None):
        self.protocol, self.answer, self.api, self.clock = protocol, answer, api, clock
        self.passive_seconds = passive_seconds
        self.seen = seen or SeenMessages()
        self._background: set[asyncio.Task] = set()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Waits for answers still being worked out or sent (call before stopping)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def _send(self, openid: str, texts: list[str]) -> None:
        if not self.api.can_send:
            logger.warning("an answer for %s was lost: no AppSecret, so no customer-service messages", openid)
            return
        for text in texts:
            try:
                await self.api.send_text(openid, text)
            except WeChatAPIError as exc:
                logger.warning("customer-service message to %s refused: %s", openid, exc)
                return

    @staticmethod
    def _texts(task: asyncio.Task) -> list[str]:
        if task.cancelled() or task.exception() is not None:
            logger.error("wechat turn failed", exc_info=None if task.cancelled() else task.exception())
            return [turn.BUSY]
        return task.result()

    @staticmethod
    async def _after(answer: list[str]) -> None:
        """What the answer says to do once its texts went out (a spoken reply: handlers.Answer)."""
        after = getattr(answer, "after", None)
        if after is not None:
            try:
                await after()
            except Exception:  # noqa: BLE001 - the texts were sent; this is an extra
                logger.exception("sending what follows an answer failed")

    async def _send_then(self, openid: str, texts: list[str], answer: list[str]) -> None:
        if texts:
            await self._send(openid, texts)
        await self._after(answer)

    async def _send_when_done(self, openid: str, task: asyncio.Task) -> None:
        await asyncio.wait({task})
        answer = self._texts(task)
        await self._send_then(openid, answer, answer)

    async def respond(self, callback: Callback) -> str:
        """The body of the answer to one verified callback."""
        message = callback.message
        if not await self.seen.claim(dedupe_key(message)):
            logger.info("callback %s seen already: answered once", dedupe_key(message))
            return SUCCESS
        task = asyncio.create_task(self.answer(message))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        try:
            if self.passive_seconds > 0:  # 0: every answer by message (even one that needs no I/O)
                await asyncio.wait({task}, timeout=self.passive_seconds)
        except asyncio.CancelledError:  # WeChat hung up: the answer still goes out
            self._spawn(self._send_when_done(callback.openid, task))
            raise
        if not task.done():
            self._spawn(self._send_when_done(callback.openid, task))
            return SUCCESS
        answer = self._texts(task)
        passive, rest = plan(answer)
        if rest or getattr(answer, "after", None) is not None:
            self._spawn(self._send_then(callback.openid, rest, answer))
        return self.protocol.reply(callback, passive, self.clock())


async def _body(request: Request) -> bytes:
    """The request body, refused (:class:`Rejected`) beyond :data:`MAX_BODY` bytes."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise Rejected(413, "body too large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Rejected(413, "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(responder: Responder, path: str, replay_seconds: float) -> Starlette:
    """The ASGI app: ``GET path`` (URL verification) and ``POST path`` (callbacks)."""
    protocol = responder.protocol

    async def verify(request: Request) -> Response:
        try:
            return PlainTextResponse(protocol.verify(request.query_params))
        except Rejected as exc:
            logger.warning("URL verification refused: %s", exc)
            return PlainTextResponse("forbidden", status_code=exc.status)

    async def receive(request: Request) -> Response:
        try:
            callback = protocol.open(request.query_params, await _body(request), responder.clock(), replay_seconds)
        except Rejected as exc:
            logger.warning("callback refused (%s): %s", exc.status, exc)
            return PlainTextResponse("forbidden" if exc.status == 403 else "bad request", status_code=exc.status)
        try:
            body = await responder.respond(callback)
        except Exception:  # noqa: BLE001 - WeChat would show the user "service unavailable"
            logger.exception("callback failed")
            body = SUCCESS
        kind = "text/plain" if body == SUCCESS else "application/xml"
        return Response(body, media_type=kind)

    return Starlette(routes=[Route(path, verify, methods=["GET"]), Route(path, receive, methods=["POST"])])
