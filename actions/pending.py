"""Writes that wait for 对/不对, and long lists read a few items at a time.

An action proposes a write: it reads the write back (a response that ends with the question)
and keeps it in the ``pending_write`` slot. Every reply to it goes to ``action_resolve_pending``
(bot/nlu/dialogue_control.py): an explicit yes commits it with the confirm function registered
for its kind (see ``actions/basics.py``); anything else drops it or asks again. The idempotency
key is chosen when the write is proposed, so a confirmation that is retried cannot write twice.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable, Dict, List, Mapping, Sequence

from rasa_sdk.events import EventType, SlotSet

from actions import phrases, slots
from actions.common import Turn
from bot.channels.turn import LIST_CHUNK

#: What ``pending_write`` holds: ``kind``, ``key`` (idempotency) and the write's own data.
PendingWrite = Dict[str, Any]

#: Commits one kind of pending write: says the outcome and returns events (maybe a new proposal).
ConfirmWrite = Callable[[Turn, PendingWrite], List[EventType]]


def new_key() -> str:
    return uuid.uuid4().hex


def propose_write(turn: Turn, kind: str, data: Mapping[str, Any], response: str, **values: Any) -> List[EventType]:
    """Read a write back with ``response`` (which asks 对吗) and wait for the answer."""
    turn.say(response, **values)
    return [SlotSet(slots.PENDING_WRITE, {"kind": kind, "key": new_key(), **data}),
            SlotSet(slots.AWAITING_CONFIRMATION, True)]


def read_list(turn: Turn, response: str, items: Sequence[str], **values: Any) -> List[EventType]:
    """Say ``response`` with the first items in ``{items}``; when more are left, ask
    "还要听吗" and keep them for the "要" (a ``list_more`` pending write)."""
    head, rest = list(items[:LIST_CHUNK]), list(items[LIST_CHUNK:])
    turn.say(response, items=phrases.LIST_SEPARATOR.join(head), **values)
    if not rest:
        return []
    return propose_write(turn, slots.WRITE_LIST_MORE, {"items": rest}, "utter_list_more", count=len(rest))


def read_more(turn: Turn, pending: PendingWrite) -> List[EventType]:
    """The "要" after "还要听吗": the next items of the list. When the list is a village notice
    offered on a voice device ("村里有一条新通知，要听吗"), hearing it is recorded as its receipt."""
    events = read_list(turn, "utter_list_continued", pending["items"])
    if pending.get("notice_id"):
        from bot import notices

        with turn.session(write=True) as s:
            try:
                notices.mark_heard(s, turn.actor, int(pending["notice_id"]))
            except LookupError:  # withdrawn, or not this household's: the reading stands
                pass
    return events
