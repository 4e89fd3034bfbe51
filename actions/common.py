"""What every action shares: the actor behind a conversation, a database session,
pending writes awaiting 对/不对, and one polite answer for any failure."""
from __future__ import annotations

import logging
import re
import uuid
from typing import Any, Callable, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.db import session_scope
from bot.identity import AccessDenied, Actor, resolve_actor

logger = logging.getLogger(__name__)

ERROR_REPLY = "系统刚才出了点问题，这次没办成，请您稍后再说一遍。"
NOT_LINKED_REPLY = "这个要先绑定身份才能查。请找村委会要个绑定码，在电报里发“/link 绑定码”。"
DENIED_REPLY = "这户的信息您没有权限查看，或者查不到这户。"

Events = List[Dict[Text, Any]]


def load_actor(tracker: Tracker) -> Actor:
    with session_scope() as s:
        return resolve_actor(s, tracker.sender_id)


def entity(tracker: Tracker, name: str) -> str | None:
    """The latest message's entity value (after synonym mapping), or None."""
    values = list(tracker.get_latest_entity_values(name))
    return str(values[0]) if values else None


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message.get("text") or "").strip()


def new_key() -> str:
    return uuid.uuid4().hex


CN_ORDINALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def parse_choice(text: str) -> int | None:
    """'第二个' / '选2' / '二号' → 2."""
    digits = re.search(r"\d+", text or "")
    if digits:
        return int(digits.group())
    for char in text or "":
        if char in CN_ORDINALS:
            return CN_ORDINALS[char]
    return None


class XiangyinAction(Action):
    """Base class: resolves the actor, turns any failure into a polite Chinese answer."""

    action_name = ""

    def name(self) -> Text:
        return self.action_name

    # Subclasses define handle(dispatcher, tracker, actor, domain) -> Events.

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        try:
            actor = load_actor(tracker)
            return self.handle(dispatcher, tracker, actor, domain) or []
        except AccessDenied as exc:
            logger.info("access denied: %s", exc)
            dispatcher.utter_message(text=DENIED_REPLY)
            return []
        except Exception:  # noqa: BLE001 - the user gets a sentence, the log gets the trace
            logger.exception("action %s failed for %s", self.name(), tracker.sender_id)
            dispatcher.utter_message(text=ERROR_REPLY)
            return [SlotSet("pending_write", None), SlotSet("awaiting_confirmation", False)]


# Pending writes: an action proposes a write, reads it back, and stores it in the
# ``pending_write`` slot; ``action_confirm_write`` commits it by kind. The idempotency key
# is chosen when the write is proposed, so a retried confirmation cannot write twice.
PendingHandler = Callable[[CollectingDispatcher, Tracker, Actor, Dict[str, Any]], Events]
PENDING_HANDLERS: Dict[str, PendingHandler] = {}


def pending_handler(kind: str):
    def register(fn: PendingHandler) -> PendingHandler:
        PENDING_HANDLERS[kind] = fn
        return fn

    return register


CONFIRM_QUESTION = "对吗？对就说“对”，不对就说“不对”。"


def propose_write(dispatcher: CollectingDispatcher, kind: str, readback: str, ask: str = CONFIRM_QUESTION,
                  **data: Any) -> Events:
    """Read a write back and wait for 对/不对 (``ask`` may put the question in other words)."""
    dispatcher.utter_message(text=f"{readback}{ask}")
    return [SlotSet("pending_write", {"kind": kind, "key": new_key(), **data}),
            SlotSet("awaiting_confirmation", True)]


LIST_CHUNK = 3


def read_list(dispatcher: CollectingDispatcher, intro: str, items: List[str]) -> Events:
    """Long lists are read three at a time; "要"/"对" after "还要听吗" reads the next three."""
    head, rest = items[:LIST_CHUNK], items[LIST_CHUNK:]
    dispatcher.utter_message(text=f"{intro}{'；'.join(head)}。")
    if not rest:
        return []
    return propose_write(dispatcher, "list_more", "", ask=f"还有{len(rest)}条，还要听吗？要听就说“要”。", items=rest)


@pending_handler("list_more")
def _read_more(dispatcher, tracker, actor, pending) -> Events:
    return read_list(dispatcher, "", pending["items"])


def clear_pending() -> Events:
    return [SlotSet("pending_write", None), SlotSet("awaiting_confirmation", False)]
