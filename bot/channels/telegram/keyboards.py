"""Rasa's buttons and the answers a question names, as Telegram inline keyboards.

The application runs with PTB's *arbitrary callback data*: a button carries the payload
itself (a Rasa command such as ``/choose_option{"number":"1"}`` or a quick-reply word), PTB
sends Telegram a short key and hands the payload back when the button is pressed. A key PTB
does not know (forged, or older than its cache) arrives as ``InvalidCallbackData``; see
:func:`typed_answer`.
"""
from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.channels.telegram.texts import ACK_BUTTON, NO, SATISFACTION, SATISFACTION_QUESTION, YES
from bot.channels.turn import COMMAND_PREFIX

MAX_QUICK_REPLY = 6  # characters: quick replies are single words such as 对 / 不要 / 基本满意
QUOTED_OPTION = re.compile(rf"“([^”/]{{1,{MAX_QUICK_REPLY}}})”")
#: The data of an emergency alert's button. A plain string the bot can read without its button
#: cache (an alert sent by ``python -m bot outbox deliver`` or before a restart still works); it
#: is no secret: pressing it only does what typing "收到" does, for whoever is linked.
ACK_DATA = re.compile(r"^ack-emergency:(\d{1,12})$")


def quick_replies(text: str) -> list[str]:
    """Answers a question names in quotes (“对”/“不对”, “要”/“不要”, “很急”/“不急”)."""
    if SATISFACTION_QUESTION in (text or ""):
        return list(SATISFACTION)
    options = list(dict.fromkeys(QUOTED_OPTION.findall(text or "")))
    if options == [YES]:
        options = [YES, NO]
    return options if 2 <= len(options) <= 4 else []


def typed_answer(data: str | None) -> str | None:
    """A pressed button's data that PTB does not know, honoured as if typed when it is a
    quick-reply word (what earlier versions of the bot put on buttons); None for anything
    else — in particular a Rasa command we never offered."""
    data = (data or "").strip()
    if data and not data.startswith(COMMAND_PREFIX) and len(data) <= MAX_QUICK_REPLY:
        return data
    return None


def _row(options: list[str]) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(o, callback_data=o) for o in options]


def quick_reply_keyboard(text: str) -> InlineKeyboardMarkup | None:
    options = quick_replies(text)
    return InlineKeyboardMarkup([_row(options)]) if options else None


def keyboard(reply: dict) -> InlineKeyboardMarkup | None:
    """Rasa's buttons, one per row; else the question's quick replies in one row; else None."""
    buttons = [[InlineKeyboardButton(b.get("title") or b["payload"], callback_data=b["payload"])]
               for b in reply.get("buttons") or [] if b.get("payload")]
    if buttons:
        return InlineKeyboardMarkup(buttons)
    return quick_reply_keyboard(reply.get("text") or "")


def ack_keyboard(emergency_id: int) -> InlineKeyboardMarkup:
    """The button on an emergency alert: "收到，我去处理"."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(ACK_BUTTON, callback_data=f"ack-emergency:{emergency_id}")]])


def acknowledged_emergency(data: object) -> int | None:
    """The emergency a pressed button takes charge of (its data, resolved by PTB or not), else None."""
    raw = getattr(data, "callback_data", data)  # InvalidCallbackData keeps what Telegram sent
    found = ACK_DATA.match(raw) if isinstance(raw, str) else None
    return int(found.group(1)) if found else None

