"""Greeting, emergencies, repeat, slower speech, hand-off, replies to read-backs (and yes/no
when none is open), the way out, and the choice among offered options."""
from __future__ import annotations

import logging
from typing import Callable, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (ActionExecuted, ActionExecutionRejected, ActiveLoop, EventType, FollowupAction,
                             SessionStarted, SlotSet)
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import grievances as grievance_actions
from actions import households as household_actions
from actions import staff as staff_actions
from actions import parsing, phrases, points as points_actions, policy, reports, slots
from actions.common import Turn, UsesSettings, XiangyinAction, clear_choices, clear_pending, forget, latest_text
from actions.pending import ConfirmWrite, PendingWrite, read_more
from bot import grievances, identity, outbox
from bot.nlu.control import BALANCE_ACTION, INTERRUPTIONS
from bot.nlu.goals import acknowledges, asks_points_look_up, asks_question
from bot.channels.turn import asks_about_emergencies, sender_is_staff
from bot.replies import Reply, after_stop, asks_to_repeat, interpret, only_details
from bot.emergency import raise_alarm
from bot.models import Household

logger = logging.getLogger(__name__)

#: How each kind of pending write is committed on an explicit yes (:class:`ActionResolvePending`).
CONFIRM: Dict[str, ConfirmWrite] = {
    slots.WRITE_REDEEM: points_actions.confirm_redeem,
    slots.WRITE_POINTS_APPEAL: points_actions.confirm_points_appeal,
    slots.WRITE_GRIEVANCE_TRANSITION: grievance_actions.confirm_transition,
    slots.WRITE_VISIT: household_actions.confirm_visit,
    slots.WRITE_VISIT_GRIEVANCE: household_actions.confirm_visit_grievance,
    slots.WRITE_AWARD: staff_actions.confirm_award,
    slots.WRITE_LIST_MORE: read_more,
    slots.WRITE_REPORT_OFFER: reports.start_report,
    slots.WRITE_FORWARD_QUESTION: policy.forward_question,
}

#: The offer's own verbs: repeating one of them is a yes to that offer ("换吧", "报上去吧").
OFFER_VERBS: Dict[str, tuple] = {
    slots.WRITE_REDEEM: ("换", "兑"),
    slots.WRITE_POINTS_APPEAL: ("申诉", "申", "诉", "交", "递", "报"),
    slots.WRITE_GRIEVANCE_TRANSITION: ("办", "受理", "接", "报", "退"),
    slots.WRITE_VISIT: ("记",),
    slots.WRITE_VISIT_GRIEVANCE: ("报", "反映", "递", "交", "转"),
    slots.WRITE_AWARD: ("记", "加", "扣"),
    slots.WRITE_LIST_MORE: ("要", "听", "念", "说"),
    slots.WRITE_REPORT_OFFER: ("报", "反映", "要", "递", "交", "转", "登记", "登个记", "记", "提"),
    slots.WRITE_FORWARD_QUESTION: ("转", "要"),
}

#: Corrections said with a no ("不对，是13号"): the write read back again as corrected, or None
#: when the reply corrects nothing this kind knows how to change (then the write is dropped).
CORRECT: Dict[str, Callable[[Turn, PendingWrite, str], Optional[List[EventType]]]] = {
    slots.WRITE_AWARD: staff_actions.correct_award,
    slots.WRITE_REDEEM: points_actions.correct_redeem,
}

#: What is said when a pending write is dropped: what did not happen.
DROPPED: Dict[str, str] = {
    slots.WRITE_REDEEM: "utter_dropped_redeem",
    slots.WRITE_POINTS_APPEAL: "utter_dropped_appeal",
    slots.WRITE_GRIEVANCE_TRANSITION: "utter_dropped_transition",
    slots.WRITE_VISIT: "utter_dropped_visit",
    slots.WRITE_VISIT_GRIEVANCE: "utter_dropped_visit_grievance",
    slots.WRITE_AWARD: "utter_dropped_award",
    slots.WRITE_LIST_MORE: "utter_ok",
    slots.WRITE_REPORT_OFFER: "utter_dropped_report_offer",
    slots.WRITE_CLARIFY: "utter_ok",
    slots.WRITE_FORWARD_QUESTION: "utter_kb_forward_dropped",
}


class ActionGreet(XiangyinAction):
    action_name = "action_greet"

    def handle(self, turn: Turn) -> List[EventType]:
        name = turn.actor.display_name
        if name:
            turn.say("utter_greet_by_name", name=name)
        else:
            turn.say("utter_greet")
        return []


#: Staff asking about alerts get the open alerts (actions/staff.py).
QUERY_EMERGENCIES_ACTION = "action_query_emergencies"


class ActionEmergency(UsesSettings, Action):
    """Answers first, whatever happens next (the person may be in danger), then raises the
    alarm. Not an :class:`XiangyinAction`: its reply must not wait for the database, and a
    failed alarm has its own answer."""

    def name(self) -> Text:
        return "action_emergency"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        text = latest_text(tracker)
        if asks_about_emergencies(text) and sender_is_staff(tracker.sender_id, url=self.settings.database.url):
            # "刚才是不是有人按了救命": staff asking about alerts (the model may hear the alarm word
            # as a call for help): the open alerts are listed, nothing is raised.
            return [FollowupAction(QUERY_EMERGENCIES_ACTION)]
        dispatcher.utter_message(response="utter_emergency")
        try:
            with self.session(write=True) as s:
                actor = identity.resolve_actor(s, tracker.sender_id)
                # The words are kept with the alarm; the voice channel also sends its transcript.
                said = (tracker.latest_message.get("metadata") or {}).get("transcript") or latest_text(tracker)
                raise_alarm(s, actor, said)
        except Exception:  # noqa: BLE001
            logger.exception("emergency alarm failed for %s", tracker.sender_id)
            dispatcher.utter_message(response="utter_emergency_alarm_failed")
        return [ActiveLoop(None), SlotSet(slots.REQUESTED_SLOT, None), *clear_pending()]


#: Replies about the talk itself, not an answer: "再说一遍" after "慢点说" repeats the answer before.
ABOUT_THE_TALK = frozenset({"utter_slow_down", "utter_nothing_to_repeat"})


def _last_bot_texts(turn: Turn, skip: frozenset = frozenset()) -> List[str]:
    """What the bot said in its previous turn: the messages between the last two user turns
    (the answer to repeat, or the read-back that is waiting for an answer); a turn whose every
    message is one of the ``skip`` responses is passed over for the one before it."""
    events = list(turn.tracker.events)
    user_turns = [i for i, e in enumerate(events) if e.get("event") == "user"]
    for start, end in reversed(list(zip(user_turns, user_turns[1:]))):
        said = [e for e in events[start:end] if e.get("event") == "bot" and e.get("text")]
        if said and all((e.get("metadata") or {}).get("utter_action") in skip for e in said):
            continue
        return [e["text"] for e in said]
    return []


def _say_last_answer_again(turn: Turn) -> bool:
    """The bot's last answer (remarks about the talk itself left out) said again; False when
    there was none."""
    texts = _last_bot_texts(turn, skip=ABOUT_THE_TALK)
    for text in texts:
        turn.show(text)
    return bool(texts)


class ActionRepeat(XiangyinAction):
    """Repeat the bot's last answer: every message after the previous user turn."""

    action_name = "action_repeat"

    def handle(self, turn: Turn) -> List[EventType]:
        if not _say_last_answer_again(turn):
            turn.say("utter_nothing_to_repeat")
        return []


class ActionSlowDown(XiangyinAction):
    """'慢一点': this device/account speaks slower from now on (read by the voice channel)."""

    action_name = "action_slow_down"

    def handle(self, turn: Turn) -> List[EventType]:
        with turn.session(write=True) as s:
            identity.update_identity_settings(s, turn.actor.channel, turn.actor.external_id, speech_rate="slow")
        turn.say("utter_slow_down")
        if asks_to_repeat(turn.text) and not turn.tracker.active_loop_name:
            # "你说慢点，俺没听清": the last answer again, slowly (inside a form, the form asks its
            # question again itself)
            _say_last_answer_again(turn)
        return []


class ActionRequestHuman(XiangyinAction):
    """Ask the household's contact person (else the village admin) to call back."""

    action_name = "action_request_human"

    def handle(self, turn: Turn) -> List[EventType]:
        actor, tracker = turn.actor, turn.tracker
        with turn.session(write=True) as s:
            household = s.get(Household, actor.household_id) if actor.household_id else None
            contact = household.contact if household else None
            if contact is None:
                contact = identity.village_admin(s, actor.village_id)
            if contact is None:
                turn.say("utter_human_unavailable")
                return []
            said = tracker.latest_message.get("message_id") or turn.text
            outbox.notify(s, contact.id, "callback_request", phrases.callback_request(actor.display_name),
                          f"callback:{tracker.sender_id}:{said}", payload={"sender_id": tracker.sender_id})
            turn.say("utter_human_notified", contact=contact.display_name, phone=contact.phone)
        return []


class ActionAffirm(XiangyinAction):
    """A yes when no read-back is open (every reply to a read-back goes to
    :class:`ActionResolvePending`): after 回访 it means 满意; "收到" takes charge of an open alert."""

    action_name = "action_affirm"

    def handle(self, turn: Turn) -> List[EventType]:
        if turn.slot(slots.CHOICE_KIND) == slots.OFFERED_SATISFACTION:
            return grievance_actions.answer_satisfaction(turn)
        if acknowledges(turn.text):  # "收到" to an open alert
            acknowledged = staff_actions.acknowledge_open_alert(turn)
            if acknowledged is not None:
                return acknowledged
        turn.say("utter_anything_else")
        return []


class ActionResolvePending(XiangyinAction):
    """Every reply to a read-back comes here (see ``bot/nlu/dialogue_control.py``).

    Only an explicit yes to this write performs it. "再说一遍" and unclear replies ("嗯…",
    "啊？") hear the read-back again; a no or a stop drops the write and says so; anything
    else is a new request: the write is dropped and the turn goes back to the other policies.
    """

    action_name = "action_resolve_pending"

    def handle(self, turn: Turn) -> List[EventType]:
        pending = turn.slot(slots.PENDING_WRITE)
        if not pending:
            return [*clear_pending(), ActionExecutionRejected(self.name())]
        kind = pending.get("kind")
        if kind == slots.WRITE_CLARIFY:  # "您问的是A，还是B？": the reply picks one (actions/policy.py)
            return policy.resolve_clarify(turn, pending, self.name())
        reply = interpret(turn.text, OFFER_VERBS.get(kind, ()), said="".join(_last_bot_texts(turn)))
        if kind == slots.WRITE_REPORT_OFFER and reply is Reply.UNCLEAR and only_details(turn.text):
            reply = Reply.YES  # "不用保密" to "要我帮您报给网格员吗": how to report it (the form reads it back)
        if reply is Reply.YES:
            return [*clear_pending(), *CONFIRM[kind](turn, pending)]
        if reply in (Reply.REPEAT, Reply.UNCLEAR):
            turn.say("utter_confirm_again" if reply is Reply.UNCLEAR else "utter_repeat_read_back")
            for text in _last_bot_texts(turn):
                turn.show(text)
            return []
        if kind == slots.WRITE_LIST_MORE and reply is Reply.OTHER:
            return [*clear_pending(), ActionExecutionRejected(self.name())]
        if kind == slots.WRITE_REPORT_OFFER and reply is not Reply.STOP and asks_question(turn.text):
            # "拖多长时间就不算数了" after "要我帮您报给网格员吗": a new question, not a no to the
            # offer (which writes nothing): answered by the other policies
            return [*clear_pending(), ActionExecutionRejected(self.name())]
        if reply is Reply.NO and kind in CORRECT:
            corrected = CORRECT[kind](turn, pending, turn.text)
            if corrected is not None:
                return [*clear_pending(), *corrected]
        turn.say(DROPPED.get(kind, "utter_write_cancelled"))
        if reply is Reply.OTHER:
            return [*clear_pending(), ActionExecutionRejected(self.name())]
        return clear_pending()


class ActionStop(XiangyinAction):
    """"算了" / "不报了" anywhere: leave the form or the pending write, write nothing, and
    say what was dropped."""

    action_name = "action_stop"

    def handle(self, turn: Turn) -> List[EventType]:
        loop = (turn.tracker.active_loop or {}).get("name")
        pending = turn.slot(slots.PENDING_WRITE)
        if loop == slots.GRIEVANCE_FORM:
            turn.say("utter_dropped_grievance")
        elif loop:
            turn.say("utter_ok")
        elif pending:
            turn.say(DROPPED.get(pending.get("kind"), "utter_write_cancelled"))
        else:
            turn.say("utter_anything_else")
        return [ActiveLoop(None), SlotSet(slots.REQUESTED_SLOT, None), *forget(*slots.GRIEVANCE_FORM_SLOTS),
                *clear_pending(), *clear_choices(), *self.then(turn)]

    @staticmethod
    def then(turn: Turn) -> List[EventType]:
        """A question said in the same breath as the way out ("不办了，先帮俺查查积分") is
        answered right after it by its usual action; nothing that could write is started."""
        rest = after_stop(turn.text)
        if not rest:
            return []
        if asks_points_look_up(rest):
            return [FollowupAction(BALANCE_ACTION)]
        action = INTERRUPTIONS.get(turn.intent or "")
        return [FollowupAction(action)] if action else []


class ActionDeny(XiangyinAction):
    """A no when no read-back is open: after 回访 it is an answer to 满意吗 (asked again)."""

    action_name = "action_deny"

    def handle(self, turn: Turn) -> List[EventType]:
        if turn.slot(slots.CHOICE_KIND) == slots.OFFERED_SATISFACTION:
            return grievance_actions.answer_satisfaction(turn)
        turn.say("utter_anything_else")
        return []


class ActionChooseOption(XiangyinAction):
    """The user picks one of the options offered last turn ('第二个', '满意')."""

    action_name = "action_choose_option"

    def handle(self, turn: Turn) -> List[EventType]:
        kind = turn.slot(slots.CHOICE_KIND)
        if kind == slots.OFFERED_SATISFACTION:
            return grievance_actions.answer_satisfaction(turn)
        choices = turn.slot(slots.CHOICES) or []
        index = parsing.parse_choice(turn.text)
        if not choices and turn.actor.is_staff and parsing.house_number_in(turn.text):
            return household_actions.staff_query(turn, household_actions.SUMMARY)  # staff: "8号" is a household
        if not choices or index is None or not 1 <= index <= len(choices):
            turn.say("utter_default")
            return []
        chosen = choices[index - 1]
        if kind == slots.OFFERED_KB:
            return policy.answer_entry(turn, chosen)
        if kind == slots.OFFERED_HOUSEHOLD:
            return household_actions.summarise_for(turn, int(chosen))
        turn.say("utter_ok")
        return clear_choices()


class ActionSessionStart(XiangyinAction):
    """A new conversation: after 办结 the reporter is asked for satisfaction the next time
    they talk (回访), whatever they came to say."""

    action_name = "action_session_start"

    def handle(self, turn: Turn) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        with turn.session() as s:
            waiting = grievances.pending_followups(s, turn.actor)
            if waiting:
                g = waiting[0]
                turn.say("utter_ask_satisfaction", ticket=g.ticket_no, description=g.description)
                events += [SlotSet(slots.TICKET, g.ticket_no), SlotSet(slots.CHOICE_KIND, slots.OFFERED_SATISFACTION),
                           SlotSet(slots.CHOICES, list(grievances.SATISFACTION))]
        return events + [ActionExecuted("action_listen")]
