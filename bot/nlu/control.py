"""The decision of the dialogue-control policy (bot/nlu/dialogue_control.py), as a pure
function of what it looks at, so it can be read and tested without Rasa."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bot.replies import is_stop

ACTION_LISTEN = "action_listen"
STOP_ACTION = "action_stop"
RESOLVE_ACTION = "action_resolve_pending"
STOP_INTENT = "stop"
EMERGENCY_INTENT = "emergency"
# The stop intent alone is trusted above this confidence; the lexicon needs no confidence.
STOP_INTENT_CONFIDENCE = 0.8
# Form questions that are themselves yes/no questions: there "不用了" answers, it does not stop.
YES_NO_SLOTS = frozenset({"grievance_anonymous"})


@dataclass(frozen=True)
class Turn:
    """What the policy sees of the conversation right now."""

    latest_action: Optional[str]
    text: str
    intent: Optional[str]
    confidence: float
    awaiting_confirmation: bool
    active_loop: Optional[str]
    requested_slot: Optional[str]


def decide(turn: Turn) -> Optional[str]:
    """The action to insist on, or None to let the other policies decide."""
    if turn.latest_action in (STOP_ACTION, RESOLVE_ACTION):
        return ACTION_LISTEN  # both end the bot's turn
    if turn.latest_action != ACTION_LISTEN:
        return None  # otherwise only right after the user spoke
    if not (turn.text or turn.intent) or turn.intent == EMERGENCY_INTENT:
        return None
    pending = turn.awaiting_confirmation
    busy = pending or bool(turn.active_loop)
    # At a yes/no question of a form ("要不要保密？"), "不用了" / "不用保密" answer it: only the
    # unmistakable stop words leave, and the stop intent is not trusted there.
    yes_no_question = not pending and turn.requested_slot in YES_NO_SLOTS
    confident_stop = turn.intent == STOP_INTENT and turn.confidence >= STOP_INTENT_CONFIDENCE
    if busy and (is_stop(turn.text, soft=not yes_no_question) or (confident_stop and not yes_no_question)):
        return STOP_ACTION
    if pending:
        return RESOLVE_ACTION
    return None
