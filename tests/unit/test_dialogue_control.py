"""The dialogue-control policy decides the way out and read-backs before any learned policy
(its decision, bot/nlu/control.py, tested without Rasa; the policy itself runs in every e2e
conversation)."""
from __future__ import annotations

from bot.nlu.control import RESOLVE_ACTION, STOP_ACTION, Turn, decide


def turn(text: str, intent: str = "inform", confidence: float = 0.9, *, pending: bool = False,
         loop: str | None = None, requested: str | None = None, after: str = "action_listen") -> Turn:
    return Turn(latest_action=after, text=text, intent=intent, confidence=confidence,
                awaiting_confirmation=pending, active_loop=loop, requested_slot=requested)


def test_stop_words_leave_a_form_at_any_question():
    for slot in ("grievance_description", "grievance_category", "grievance_place", "grievance_confirmed"):
        assert decide(turn("算了不说了", loop="grievance_form", requested=slot)) == STOP_ACTION


def test_stop_intent_counts_only_when_confident():
    assert decide(turn("那个先这样", "stop", 0.95, loop="grievance_form", requested="grievance_place")) == STOP_ACTION
    assert decide(turn("那个先这样", "stop", 0.4, loop="grievance_form", requested="grievance_place")) is None


def test_no_need_answers_the_anonymity_question():
    assert decide(turn("不用了", loop="grievance_form", requested="grievance_anonymous")) is None
    # even when the language model calls it a stop
    assert decide(turn("不用保密", "stop", 0.97, loop="grievance_form", requested="grievance_anonymous")) is None
    assert decide(turn("算了不报了", "stop", 0.97, loop="grievance_form",
                       requested="grievance_anonymous")) == STOP_ACTION
    assert decide(turn("不用了", pending=True)) == STOP_ACTION


def test_every_reply_to_a_read_back_is_resolved_in_context():
    for text in ("对", "嗯…", "俺家这个月加了几分", "换吧", "不对"):
        assert decide(turn(text, pending=True)) == RESOLVE_ACTION


def test_it_abstains_otherwise():
    assert decide(turn("算了")) is None  # nothing to leave
    assert decide(turn("对")) is None
    assert decide(turn("对", pending=True, after="action_check_points")) is None
    assert decide(turn("救命 算了", "emergency", pending=True)) is None


def test_the_bot_listens_after_a_way_out():
    assert decide(turn("算了", "inform", 0.5, after=STOP_ACTION)) == "action_listen"
    assert decide(turn("对", "affirm", after=RESOLVE_ACTION)) == "action_listen"
