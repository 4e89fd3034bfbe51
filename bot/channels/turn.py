"""The turn pipeline: what happens to every user message, whichever channel it came from.

Inside the Rasa server each input channel hands its messages to :func:`pipeline` instead of
straight to Rasa's ``on_new_message``:

1. **Input limits.** An empty (or blank) message is answered with :data:`EMPTY` and never
   reaches the model; an over-long one with :data:`TOO_LONG` (the REST channel refuses it
   even earlier, with a 413, see :func:`refusal`).
2. **Emergency override.** A message that contains an emergency word (the list lives in the
   domain, :data:`bot.emergency.EMERGENCY_WORDS`) goes straight to the ``emergency`` intent,
   whatever the language model would make of it: the message is given Rasa's ``parse_data``
   (intent ``emergency``, confidence 1), so Rasa 3.6 skips NLU for it and records the user's
   own words as the utterance text; ``action_emergency`` reads them from the tracker.
   Rasa commands (``/intent{...}``, i.e. button payloads) are left alone. One exception,
   narrow on purpose: village **staff asking about** emergencies ("今天有没有人喊救命",
   "求救记录查一下") are not in danger themselves, so a question form from a staff sender
   (:func:`asks_about_emergencies`, with no sign of distress) goes to the ``query_emergencies``
   intent in the same way (the open alerts are listed; nothing is raised), also when it says
   an alert word that is no emergency word (求助, 救急: "这会儿片里有人喊救急没有"). Whether
   the sender is staff is looked up only for such questions; a villager's message with an
   emergency word always raises the alarm, and so does any message when the
   lookup fails.
3. Rasa runs the turn.

Channels outside the server (the terminal chat, Telegram text and voice notes) send their
turns through :mod:`bot.channels.rasa_client` to the REST channel, so the same pipeline
runs for them. The replies every channel gives when a turn cannot be run (:data:`BUSY`) or
produced nothing (:data:`TURN_FAILED`), and how many list items are read out at a time
(:data:`LIST_CHUNK`), are defined here once.

Nothing here imports Rasa: a message is anything with ``text``, ``sender_id``,
``output_channel``, ``parse_data`` and ``metadata`` (Rasa's ``UserMessage``).
"""
from __future__ import annotations

import functools
import logging
import re
from typing import Any, Awaitable, Callable

from bot.emergency import is_emergency

logger = logging.getLogger(__name__)

EMERGENCY_INTENT = "emergency"
QUERY_INTENT = "query_emergencies"  # staff asking about alerts ("今天有没有人喊救命")
COMMAND_PREFIX = "/"  # Rasa's intent-trigger syntax: /intent{"entity": "value"}
MAX_CHARS = 2000  # longest message a channel passes to the model (the REST channel's default)
LIST_CHUNK = 3  # list items read out (or shown) at a time; "还要听" gives the next ones

BUSY = "系统有点忙，请稍后再说一遍。"  # the turn could not be run (Rasa unreachable, overloaded)
TURN_FAILED = "系统刚才出了点问题，这次没办成，请您再说一遍。"  # the turn broke off: no reply at all
TOO_LONG = "您说的太长了，请分几次说，每次不超过{limit}个字。"
EMPTY = "您好像没有说话，请再说一遍。"


def refusal(text: str | None, max_chars: int = MAX_CHARS) -> str | None:
    """The reply for a message the pipeline does not pass on (blank, too long), else None."""
    text = (text or "").strip()
    if not text:
        return EMPTY
    if len(text) > max_chars:
        return TOO_LONG.format(limit=max_chars)
    return None


# A question about emergencies, as staff ask it: "有没有人喊救命", "今天几起求救", "查一下求救记录".
# It needs a question form, and words that point at reports or records rather than at what is
# happening: a reporting verb before the emergency word, a count, a record, a period of time.
_QUESTION = re.compile(r"有没有|有没|有无|几个|几起|几次|几回|多少|记录|查一下|查查|查询|列一下|谁家|哪家|哪户|哪些"
                       r"|是不是|是否|[吗没][？?]?$|没有[？?]?$|没得[？?]?$|了没|完没|啥|什么"
                       # what happened there ("62号那边刚刚有人喊救命，是咋回事")
                       r"|咋回事|怎么回事|咋了|怎么了|出啥事|出什么事")
_ABOUT_REPORTS = re.compile(r"(喊|叫|报|打|求|按|摁)(了|过)?(个|声|一声)?(救命|快来人)|求助|求救|报警|报的警|报了警|喊急|喊救|记录|紧急|几个|几起|几次|几回"
                            r"|多少|谁家|哪家|哪户|哪些|今天|今儿|昨天|昨儿|刚才|刚刚|这周|这礼拜|这星期|本周|最近|这个月|本月"
                            r"|有人(喊|叫|按|摁)|急事|急情|警情|没处理|没人处理|压着|待处理")
# Words of alerts that are no emergency word themselves ("这会儿片里有人喊救急没有"): a staff
# member's question with one of them is about the alerts too.
_ALERT_WORDS = re.compile(r"救急|求救|求助|呼救|报警|紧急|喊人|喊急|喊救|报的警|报了警|急事|急情|警情")
# Signs that the speaker needs help themselves, which no question form outweighs.
_DISTRESS = re.compile(r"^\W*(救命|快来人|救救)|救命[啊呀哇哪！!]|快来|快救|救救|帮帮|赶紧来|马上来|来人[啊呀]"
                       r"|(我|俺|咱)(家|家里|这儿|这里)?(的人|老伴|老头|老婆|孩子)?(摔|晕|昏|着火|起火|失火|喘|胸口|心脏|中风|流血)")


def asks_about_emergencies(text: str | None) -> bool:
    """Whether ``text`` asks about emergencies (has there been one? how many?) rather than calls
    or reports one: a question form about reports or records, and no sign of distress. Only
    ever applied to staff senders."""
    text = (text or "").strip()
    return bool(_QUESTION.search(text) and _ABOUT_REPORTS.search(text)) and not _DISTRESS.search(text)


@functools.lru_cache(maxsize=1)
def _database_url() -> str:
    from bot.config import load_settings

    return load_settings().database.url


def sender_is_staff(sender_id: str, url: str | None = None) -> bool:
    """Whether the sender is village staff (a grid worker or an admin), looked up in the database
    at ``url`` (default: the settings'). False when it cannot be told: the emergency override then
    fires, as it does for everybody else."""
    try:
        from bot.db import session_scope
        from bot.identity import resolve_actor

        with session_scope(url=url or _database_url()) as s:
            return resolve_actor(s, sender_id).is_staff
    except Exception:  # noqa: BLE001 - on any doubt, the alarm is raised
        logger.exception("could not tell whether %s is staff; treating the message as an emergency", sender_id)
        return False


def emergency_parse_data(text: str | None, staff_asking: bool = False) -> dict[str, Any] | None:
    """Rasa parse data that routes ``text`` to the emergency intent, or to the query of open
    alerts for a staff member's question about emergencies (``staff_asking``: the sender is
    staff and :func:`asks_about_emergencies` holds: "刚刚黄翠花家是不是喊了救命", which the model
    may hear as anything); None when the text has no emergency word or is a Rasa command (such
    as a button payload)."""
    text = (text or "").strip()
    if text.startswith(COMMAND_PREFIX):
        return None
    if staff_asking and asks_about_emergencies(text):
        name = QUERY_INTENT
    elif is_emergency(text):
        name = EMERGENCY_INTENT
    else:
        return None
    intent = {"name": name, "confidence": 1.0}
    return {"text": text, "intent": intent, "intent_ranking": [intent], "entities": []}


def route(message: Any, is_staff: Callable[[str], bool] = sender_is_staff) -> Any:
    """Applies the emergency override to a Rasa ``UserMessage`` in place; returns it.
    ``is_staff(sender_id)`` is asked only for a question about emergencies."""
    text = message.text or ""
    staff_asking = (is_emergency(text) or bool(_ALERT_WORDS.search(text))) and asks_about_emergencies(text) \
        and is_staff(message.sender_id)
    parse_data = emergency_parse_data(text, staff_asking=staff_asking)
    if parse_data is not None:
        message.parse_data = parse_data
        message.metadata = {**(message.metadata or {}), "override": parse_data["intent"]["name"]}
    return message


def pipeline(on_new_message: Callable[[Any], Awaitable[Any]], max_chars: int = MAX_CHARS,
             is_staff: Callable[[str], bool] = sender_is_staff) -> Callable[[Any], Awaitable[Any]]:
    """Wraps Rasa's ``on_new_message`` so every message goes through the steps above."""

    async def handle(message: Any) -> Any:
        problem = refusal(message.text, max_chars)
        if problem is not None:
            await message.output_channel.send_text_message(message.sender_id, problem)
            return None
        return await on_new_message(route(message, is_staff))

    return handle
