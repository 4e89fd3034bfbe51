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
   Rasa commands (``/intent{...}``, i.e. button payloads) are left alone.
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

from typing import Any, Awaitable, Callable

from bot.emergency import is_emergency

EMERGENCY_INTENT = "emergency"
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


def emergency_parse_data(text: str | None) -> dict[str, Any] | None:
    """Rasa parse data that routes ``text`` to the emergency intent, or None when the text has
    no emergency word (or is a Rasa command, such as a button payload)."""
    text = (text or "").strip()
    if text.startswith(COMMAND_PREFIX) or not is_emergency(text):
        return None
    intent = {"name": EMERGENCY_INTENT, "confidence": 1.0}
    return {"text": text, "intent": intent, "intent_ranking": [intent], "entities": []}


def route(message: Any) -> Any:
    """Applies the emergency override to a Rasa ``UserMessage`` in place; returns it."""
    parse_data = emergency_parse_data(message.text)
    if parse_data is not None:
        message.parse_data = parse_data
        message.metadata = {**(message.metadata or {}), "override": EMERGENCY_INTENT}
    return message


def pipeline(on_new_message: Callable[[Any], Awaitable[Any]],
             max_chars: int = MAX_CHARS) -> Callable[[Any], Awaitable[Any]]:
    """Wraps Rasa's ``on_new_message`` so every message goes through the steps above."""

    async def handle(message: Any) -> Any:
        problem = refusal(message.text, max_chars)
        if problem is not None:
            await message.output_channel.send_text_message(message.sender_id, problem)
            return None
        return await on_new_message(route(message))

    return handle
