"""Greeting, emergencies, repeat, slower speech, hand-off, and 对/不对 for pending writes."""
from __future__ import annotations

from rasa_sdk.events import ActionExecuted, ActiveLoop, SessionStarted, SlotSet

from actions.common import (
    PENDING_HANDLERS,
    XiangyinAction,
    clear_pending,
    latest_text,
    parse_choice,
)
from bot import grievances, identity, outbox
from bot.db import session_scope
from bot.emergency import raise_alarm
from bot.models import ChannelIdentity, Household, Role, User
from sqlalchemy import select


class ActionGreet(XiangyinAction):
    action_name = "action_greet"

    def handle(self, dispatcher, tracker, actor, domain):
        name = actor.display_name
        greeting = f"{name}，您好！" if name else "您好！"
        dispatcher.utter_message(text=f"{greeting}我是乡音村务小助手。可以问政策、反映问题、查积分。您想办点啥？")
        return []


class ActionEmergency(XiangyinAction):
    action_name = "action_emergency"

    async def run(self, dispatcher, tracker, domain):
        # Answer first, whatever happens next: the person may be in danger.
        dispatcher.utter_message(text="别着急，我已经通知网格员马上联系您。有危险请先打120或者119。")
        try:
            with session_scope(write=True) as s:
                actor = identity.resolve_actor(s, tracker.sender_id)
                # The voice channel routes emergency words here directly; the words are kept.
                said = (tracker.latest_message.get("metadata") or {}).get("transcript") or latest_text(tracker)
                raise_alarm(s, actor, said)
        except Exception:  # noqa: BLE001
            import logging

            logging.getLogger(__name__).exception("emergency alarm failed for %s", tracker.sender_id)
            dispatcher.utter_message(text="通知没发出去，请马上打120或者喊邻居帮忙！")
        return [ActiveLoop(None), SlotSet("requested_slot", None), *clear_pending()]


class ActionRepeat(XiangyinAction):
    """Repeat the bot's last answer: every message after the previous user turn."""

    action_name = "action_repeat"

    def handle(self, dispatcher, tracker, actor, domain):
        events = list(tracker.events)
        # Skip the current "再说一遍" turn, then collect the previous bot messages.
        user_turns = [i for i, e in enumerate(events) if e.get("event") == "user"]
        if len(user_turns) < 2:
            dispatcher.utter_message(response="utter_nothing_to_repeat")
            return []
        start, end = user_turns[-2], user_turns[-1]
        texts = [e.get("text") for e in events[start:end] if e.get("event") == "bot" and e.get("text")]
        if not texts:
            dispatcher.utter_message(response="utter_nothing_to_repeat")
        for text in texts:
            dispatcher.utter_message(text=text)
        return []


class ActionSlowDown(XiangyinAction):
    """'慢一点': this device/account speaks slower from now on (read by the voice channel)."""

    action_name = "action_slow_down"

    def handle(self, dispatcher, tracker, actor, domain):
        with session_scope(write=True) as s:
            ident = s.execute(select(ChannelIdentity).where(
                ChannelIdentity.channel == actor.channel, ChannelIdentity.external_id == actor.external_id)
            ).scalar_one_or_none()
            if ident is not None:
                ident.settings = {**(ident.settings or {}), "speech_rate": "slow"}
        dispatcher.utter_message(text="好的，我以后说慢一点。")
        return []


class ActionRequestHuman(XiangyinAction):
    action_name = "action_request_human"

    def handle(self, dispatcher, tracker, actor, domain):
        with session_scope(write=True) as s:
            household = s.get(Household, actor.household_id) if actor.household_id else None
            contact = household.contact if household else None
            if contact is None:
                contact = s.execute(select(User).where(User.village_id == actor.village_id,
                                                       User.role == Role.admin)).scalars().first()
            if contact is None:
                dispatcher.utter_message(text="请直接到村委会找工作人员。")
                return []
            outbox.notify(s, contact.id, "callback_request",
                              f"{actor.display_name or '一位村民'}想找人说话，请回个电话。",
                              f"callback:{tracker.sender_id}:{tracker.latest_message.get('message_id') or latest_text(tracker)}",
                              payload={"sender_id": tracker.sender_id})
            dispatcher.utter_message(text=f"好的，我已经告诉{contact.display_name}，会尽快联系您。"
                                          f"电话是{contact.phone}。")
        return []


class ActionConfirmWrite(XiangyinAction):
    action_name = "action_confirm_write"

    def handle(self, dispatcher, tracker, actor, domain):
        pending = tracker.get_slot("pending_write")
        if not pending:
            if tracker.get_slot("choice_kind") == "satisfaction":
                return ActionChooseOption().handle(dispatcher, tracker, actor, domain)
            dispatcher.utter_message(text="好的。还有什么要帮忙的吗？")
            return []
        handler = PENDING_HANDLERS[pending["kind"]]
        # Clear first: a handler may propose a follow-up write of its own.
        return [*clear_pending(), *handler(dispatcher, tracker, actor, pending)]


class ActionCancelWrite(XiangyinAction):
    action_name = "action_cancel_write"

    def handle(self, dispatcher, tracker, actor, domain):
        if tracker.get_slot("choice_kind") == "satisfaction" and not tracker.get_slot("pending_write"):
            return ActionChooseOption().handle(dispatcher, tracker, actor, domain)
        if tracker.get_slot("pending_write"):
            dispatcher.utter_message(text="好的，已经取消，什么都没改。")
        else:
            dispatcher.utter_message(text="好的。还有什么要帮忙的吗？")
        return clear_pending()


class ActionChooseOption(XiangyinAction):
    """The user picks one of the options offered last turn ('第二个', '满意')."""

    action_name = "action_choose_option"

    def handle(self, dispatcher, tracker, actor, domain):
        kind = tracker.get_slot("choice_kind")
        choices = tracker.get_slot("choices") or []
        text = latest_text(tracker)
        if kind == "satisfaction":
            answer = next((c for c in ("不满意", "基本满意", "满意") if c in text), None)
            if answer is None and tracker.latest_message.get("intent", {}).get("name") == "affirm":
                answer = "满意"
            if answer is None:
                dispatcher.utter_message(text="请说满意、基本满意或不满意。")
                return []
            with session_scope(write=True) as s:
                grievances.record_satisfaction(s, actor, tracker.get_slot("ticket"), answer)
            reply = "谢谢您的评价。" if answer != "不满意" else "对不起没让您满意，已经重新交给网格员办理。"
            dispatcher.utter_message(text=reply)
            return [SlotSet("choice_kind", None), SlotSet("choices", None)]
        index = parse_choice(text)
        if not choices or index is None or not 1 <= index <= len(choices):
            dispatcher.utter_message(text="不好意思，我没听明白。您可以换个说法，或者说“找网格员”。")
            return []
        chosen = choices[index - 1]
        if kind == "kb":
            from actions.policy import answer_entry

            return answer_entry(dispatcher, tracker, actor, chosen)
        if kind == "household":
            from actions.households import summarise_for

            return summarise_for(dispatcher, actor, int(chosen))
        dispatcher.utter_message(text="好的。")
        return [SlotSet("choice_kind", None), SlotSet("choices", None)]


class ActionSessionStart(XiangyinAction):
    """A new conversation: after 办结 the reporter is asked for satisfaction the next time
    they talk (回访), whatever they came to say."""

    action_name = "action_session_start"

    def handle(self, dispatcher, tracker, actor, domain):
        events = [SessionStarted()]
        with session_scope() as s:
            waiting = grievances.pending_followups(s, actor)
            if waiting:
                g = waiting[0]
                dispatcher.utter_message(
                    text=f"先问您一下：您反映的{g.ticket_no}号“{g.description}”已经办好了，"
                         f"您满意吗？请说满意、基本满意或不满意。")
                events += [SlotSet("ticket", g.ticket_no), SlotSet("choice_kind", "satisfaction"),
                           SlotSet("choices", list(grievances.SATISFACTION))]
        return events + [ActionExecuted("action_listen")]
