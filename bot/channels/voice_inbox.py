"""Rasa input channel that delivers the outbox to one-button voice devices: they *pull*.

A device cannot be pushed to: between button presses (and on each press) it asks for what is
waiting, plays a chime and each message through its own speech synthesiser, and confirms what
it played. Two routes, both signed by the device with its own key like every device request
(:mod:`bot.security.devices`; unsigned, forged, replayed, unknown or revoked requests get 401
with a Chinese message and leave an audit row)::

    GET  /webhooks/voice_inbox/messages
    200  {"device": "device-001", "rate": "normal", "more": false,
          "messages": [{"id": 41, "kind": "caller_update", "text": "王秀兰已经收到，正在赶过去。",
                        "at": "2026-11-02T01:02:03Z", "expects": null}, ...]}

    POST /webhooks/voice_inbox/ack        {"ids": [41, 42]}
    200  {"acked": [41, 42], "ignored": [], "conversation": "satisfaction"}

``messages`` are the undelivered outbox rows of the device's household (rows for the household
that name no user) or, for a staff member's device, of that person — oldest first, at most
``batch`` — and only those meant for voice or for any channel (:func:`bot.outbox.for_channel`).
Acknowledged rows become delivered (:func:`bot.outbox.confirm`); acknowledging twice changes
nothing, and a row of another device is ignored.

**A message that needs an answer** (``expects`` in its payload: the 回访 question "您满意吗",
the notice offer "村里有一条新通知，要听吗？", an emergency alert on a staff device) opens that
conversation once the device confirms it played it, so that the *next* button press answers
it: the played text is appended to the device's conversation as a bot turn, with the slots its
question sets in the dialogue (:func:`opening_events`), the same way Rasa's own HTTP API
appends events (``POST /conversations/<id>/tracker/events``), under the conversation's lock.
The actions then take the answer as usual: 满意/基本满意/不满意 records the 回访
(``action_choose_option``), "要" reads the notice (a ``list_more`` read-back), "收到" takes
charge of the alert.

Configure in ``credentials.yml``::

    bot.channels.voice_inbox.VoiceInboxInput:
      batch: 10     # messages per poll
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from actions import slots
from bot.config import Settings, load_settings

log = logging.getLogger(__name__)

CHANNEL = "voice"  # the devices' conversations are voice:<device id>
UNAUTHORIZED = "这台设备还没有登记，请找村里帮忙设置。"
BAD_ACK = "请求格式不对：需要 JSON，例如 {\"ids\": [1, 2]}。"
BATCH = 10
MAX_ACK = 100

#: What a message's ``expects`` opens in the conversation (see :func:`opening_events`).
SATISFACTION, YES_NO, ACKNOWLEDGE = "satisfaction", "yes_no", "acknowledge"


@dataclass(frozen=True)
class Played:
    """A message the device confirmed it played, as far as the conversation needs it."""

    outbox_id: int
    kind: str
    text: str
    payload: dict

    @property
    def expects(self) -> str | None:
        return self.payload.get("expects")


def describe(row) -> dict:
    """One outbox row as the device sees it."""
    payload = row.payload or {}
    return {"id": row.id, "kind": row.kind, "text": row.text,
            "at": row.created_at.replace(microsecond=0).isoformat() + "Z", "expects": payload.get("expects")}


def opening_events(played: Played) -> list:
    """The Rasa events that leave the device's conversation where the message left the person:
    the message as the bot's last turn, and the slots its question sets, then listening. Empty
    for a message that needs no answer."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet

    from bot.grievances import SATISFACTION as ANSWERS

    expects = played.expects
    no_read_back = [SlotSet(slots.PENDING_WRITE, None), SlotSet(slots.AWAITING_CONFIRMATION, False)]
    if expects == SATISFACTION and played.payload.get("ticket_no"):
        opened = [SlotSet(slots.TICKET, str(played.payload["ticket_no"])),
                  SlotSet(slots.CHOICE_KIND, slots.OFFERED_SATISFACTION),
                  SlotSet(slots.CHOICES, list(ANSWERS)), *no_read_back]
    elif expects == YES_NO and played.payload.get("text"):
        # "要听吗？" is answered like "还要听吗？": yes reads the notice, no drops it, anything
        # else is a new request (actions/pending.py, action_resolve_pending).
        pending = {"kind": slots.WRITE_LIST_MORE, "key": uuid.uuid4().hex, "items": [str(played.payload["text"])]}
        if played.payload.get("notice_id"):
            pending["notice_id"] = int(played.payload["notice_id"])  # "要" records it as heard
        opened = [SlotSet(slots.PENDING_WRITE, pending),
                  SlotSet(slots.AWAITING_CONFIRMATION, True), SlotSet(slots.CHOICE_KIND, None)]
    elif expects == ACKNOWLEDGE:
        opened = no_read_back  # "收到" must reach the alert, not an older read-back
    else:
        return []
    return [BotUttered(played.text, metadata={"outbox_id": played.outbox_id}), *opened,
            ActionExecuted("action_listen")]


def parse_ack(body: bytes) -> list[int] | None:
    """The outbox ids of an ack body, or None when it is malformed."""
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    ids = data.get("ids") if isinstance(data, dict) else None
    if not isinstance(ids, list) or len(ids) > MAX_ACK or not all(
            isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
        return None
    return ids


class VoiceInboxInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "voice_inbox"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "VoiceInboxInput":
        return cls(load_settings(), int((credentials or {}).get("batch") or BATCH))

    def __init__(self, settings: Settings | None = None, batch: int = BATCH) -> None:
        self.settings = settings or load_settings()
        self.batch = batch

    # ------------------------------------------------------------------ database (worker thread)

    def _authenticated(self, s, request_parts) -> Any:
        from bot.security.devices import DeviceAuthError, authenticate

        try:
            return authenticate(s, self.settings, *request_parts)
        except DeviceAuthError as exc:  # the audit row is committed with the session
            log.warning("voice inbox request refused (%s): %s", exc.device_id or "?", exc.reason)
            return None

    def waiting(self, request_parts: tuple) -> dict | None:
        """The messages waiting for the signing device; None when the signature is refused."""
        from bot import outbox
        from bot.db import session_scope

        with session_scope(write=True, url=self.settings.database.url) as s:
            ident = self._authenticated(s, request_parts)
            if ident is None:
                return None
            rows = outbox.pending(s, outbox.Mailbox.of(ident), self.batch + 1)
            return {"device": ident.external_id, "rate": (ident.settings or {}).get("speech_rate", "normal"),
                    "messages": [describe(row) for row in rows[:self.batch]], "more": len(rows) > self.batch}

    def confirm(self, request_parts: tuple, ids: list[int] | None,
                now: dt.datetime | None = None) -> tuple[str, list[Played], list[int]] | None:
        """(device id, the messages this confirmation delivered, ids ignored); None when refused."""
        from bot import outbox
        from bot.db import session_scope

        with session_scope(write=True, url=self.settings.database.url) as s:
            ident = self._authenticated(s, request_parts)
            if ident is None:
                return None
            if ids is None:
                return ident.external_id, [], []
            rows, ignored = outbox.confirm(s, outbox.Mailbox.of(ident), ids, now)
            played = [Played(row.id, row.kind, row.text, dict(row.payload or {})) for row in rows]
            return ident.external_id, played, ignored

    # ------------------------------------------------------------------ the conversation

    async def open_conversation(self, app: Any, device_id: str, played: Played) -> bool:
        """Appends :func:`opening_events` to ``voice:<device_id>``'s conversation (a session start
        first when the conversation is new or its session expired, as for a message)."""
        events = opening_events(played)
        agent = getattr(app.ctx, "agent", None)
        if not events or agent is None or agent.processor is None:
            return False
        sender = f"{CHANNEL}:{device_id}"
        async with agent.lock_store.lock(sender):
            processor = agent.processor
            tracker = await processor.fetch_tracker_and_update_session(sender, CollectingOutputChannel())
            for event in events:
                tracker.update(event, agent.domain)
            await processor.save_tracker(tracker)
        return True

    # ------------------------------------------------------------------ routes

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        inbox = Blueprint("voice_inbox_webhook", __name__)

        def parts(request: Request) -> tuple:
            return request.method, request.path, dict(request.headers), request.body or b""

        @inbox.route("/messages", methods=["GET"])
        async def messages(request: Request):
            found = await asyncio.to_thread(self.waiting, parts(request))
            if found is None:
                return response.json({"error": UNAUTHORIZED}, status=401)
            return response.json(found)

        @inbox.route("/ack", methods=["POST"])
        async def ack(request: Request):
            ids = parse_ack(request.body)
            result = await asyncio.to_thread(self.confirm, parts(request), ids)
            if result is None:
                return response.json({"error": UNAUTHORIZED}, status=401)
            if ids is None:
                return response.json({"error": BAD_ACK}, status=400)
            device_id, played, ignored = result
            opened = None
            answering = [p for p in played if opening_events(p)]
            if answering:  # the last question played is the one the next press answers
                try:
                    if await self.open_conversation(request.app, device_id, answering[-1]):
                        opened = answering[-1].expects
                except Exception:  # noqa: BLE001 - delivered all the same; the press is then a new request
                    log.exception("could not open the conversation for device %s", device_id)
            if played:
                log.info("device %s played outbox %s", device_id, [p.outbox_id for p in played])
            return response.json({"acked": [p.outbox_id for p in played], "ignored": ignored,
                                  "conversation": opened})

        return inbox
