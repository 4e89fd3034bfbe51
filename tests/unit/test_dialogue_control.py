"""The dialogue-control policy decides the way out and read-backs before any learned policy."""
from __future__ import annotations

from pathlib import Path

import pytest

rasa_events = pytest.importorskip("rasa.shared.core.events")
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

from bot.nlu.dialogue_control import RESOLVE_ACTION, STOP_ACTION, DialogueControlPolicy  # noqa: E402

DOMAIN = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))


def tracker(text: str, intent: str = "inform", confidence: float = 0.9, *, pending: bool = False,
            loop: str | None = None, requested: str | None = None, after_user: bool = True) -> DialogueStateTracker:
    events = [ActionExecuted("action_listen")]
    if loop:
        events += [ActiveLoop(loop), SlotSet("requested_slot", requested)]
    if pending:
        events += [SlotSet("awaiting_confirmation", True), SlotSet("pending_write", {"kind": "redeem"})]
    events += [ActionExecuted("action_listen"), UserUttered(text, {"name": intent, "confidence": confidence})]
    if not after_user:
        events.append(ActionExecuted("action_check_points"))
    return DialogueStateTracker.from_events("cli:test", events, slots=DOMAIN.slots)


def test_stop_words_leave_a_form_at_any_question():
    for slot in ("grievance_description", "grievance_category", "grievance_place", "grievance_confirmed"):
        assert DialogueControlPolicy.next_action(
            tracker("算了不说了", loop="grievance_form", requested=slot)) == STOP_ACTION


def test_stop_intent_counts_only_when_confident():
    assert DialogueControlPolicy.next_action(tracker("那个先这样", "stop", 0.95, loop="grievance_form",
                                                     requested="grievance_place")) == STOP_ACTION
    assert DialogueControlPolicy.next_action(tracker("那个先这样", "stop", 0.4, loop="grievance_form",
                                                     requested="grievance_place")) is None


def test_no_need_answers_the_anonymity_question():
    assert DialogueControlPolicy.next_action(tracker("不用了", loop="grievance_form",
                                                     requested="grievance_anonymous")) is None
    # even when the language model calls it a stop
    assert DialogueControlPolicy.next_action(tracker("不用保密", "stop", 0.97, loop="grievance_form",
                                                     requested="grievance_anonymous")) is None
    assert DialogueControlPolicy.next_action(tracker("算了不报了", "stop", 0.97, loop="grievance_form",
                                                     requested="grievance_anonymous")) == STOP_ACTION
    assert DialogueControlPolicy.next_action(tracker("不用了", pending=True)) == STOP_ACTION


def test_every_reply_to_a_read_back_is_resolved_in_context():
    for text in ("对", "嗯…", "俺家这个月加了几分", "换吧", "不对"):
        assert DialogueControlPolicy.next_action(tracker(text, pending=True)) == RESOLVE_ACTION


def test_it_abstains_otherwise():
    assert DialogueControlPolicy.next_action(tracker("算了")) is None  # nothing to leave
    assert DialogueControlPolicy.next_action(tracker("对")) is None
    assert DialogueControlPolicy.next_action(tracker("对", pending=True, after_user=False)) is None


def test_the_bot_listens_after_a_way_out():
    events = [ActionExecuted("action_listen"), UserUttered("算了", {"name": "inform", "confidence": 0.5}),
              ActionExecuted(STOP_ACTION)]
    assert DialogueControlPolicy.next_action(
        DialogueStateTracker.from_events("cli:t", events, slots=DOMAIN.slots)) == "action_listen"
    assert DialogueControlPolicy.next_action(tracker("救命 算了", "emergency", pending=True)) is None
