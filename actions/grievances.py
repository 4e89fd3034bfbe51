"""Grievances: the filing form (prefilled from the first sentence, read back, correctable),
duplicate detection, submission, status queries, staff transitions and 回访 satisfaction."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import parsing, phrases, point_rules, slots
from actions.common import Turn, XiangyinAction, clear_choices, forget, latest_entity, latest_text, previous_user_text
from actions.pending import PendingWrite, propose_write, read_list
from actions.reports import prefill_from
from bot import grievances
from bot.grievances import CATEGORIES, FIRST_RESPONSE_HOURS, infer_category
from bot.models import GrievanceState
from bot.nlu.control import ACTION_LISTEN, NAME_ANSWER_MISREADS, says_about_the_name
from bot.nlu.goals import asks_report_status, commands_ticket_by_subject, ticket_subject_said
from bot.replies import FILING_VERBS, Reply, answers_read_back, interpret

OTHER_CATEGORY = "其他"


def _category(text: str) -> str:
    """A category the user named, or the one their words suggest, else 其他."""
    return text if text in CATEGORIES else (infer_category(text) or OTHER_CATEGORY)


class ActionStartGrievance(XiangyinAction):
    """Prefill what the first sentence already says: '村口路灯坏了三天了' gives the
    description, the category (道路交通) and the place (村口)."""

    action_name = "action_start_grievance"

    def handle(self, turn: Turn) -> List[EventType]:
        text = turn.text
        if point_rules.tells_staff_award(turn):
            return [FollowupAction("action_award_points")]  # "李玉珍交来纸壳子六公斤，三十号的": points to book
        answered = answer_policy_question_first(turn)
        if answered is not None:
            return answered
        category = turn.entity(slots.ENTITY_CATEGORY) or infer_category(text)
        content = parsing.strip_filing_request(text)
        if not parsing.describes_problem(content, category) or parsing.only_asks_to_file(content):
            # "那你给报一下吧" right after "俺家墙裂了一条大缝…": the problem is the one just described.
            earlier = previous_user_text(turn.tracker)
            if parsing.reports_problem(earlier):
                return prefill_from(turn, earlier)
        return prefill_from(turn, text, turn.entity(slots.ENTITY_CATEGORY), turn.entity(slots.ENTITY_PLACE),
                            turn.entity(slots.ENTITY_URGENCY))


def answer_policy_question_first(turn: Turn) -> Optional[List[EventType]]:
    """"俺家种地补贴今年一直没到，是不是村里给扣下了" sounds like a complaint but asks about a
    policy: when the sentence is a question, names a policy topic and the knowledge base is sure
    of its answer, the answer comes first (then the offer to report a problem it describes) and
    the form does not start; when it has close candidates instead, the near-miss answer (see
    ``policy.ask_clarify``). A complaint without a question ("村里分补贴不公道，我有意见") is filed."""
    if not parsing.asks_question(turn.text) or parsing.asks_to_file_last(turn.text) \
            or parsing.wants_to_complain_last(turn.text):
        # "…我对这个有意见，给我登记上", "…问村里也说不清钱去哪了，这个事我得反映": a report asked for
        # (or a complaint said) as the last words is filed, whatever was asked on the way
        return None
    from actions import policy

    named = bool(turn.entity(slots.ENTITY_TOPIC)) or policy.knowledge(turn).names_topic(turn.text)
    result = policy.search(turn, turn.text)
    # A question that names no policy ("墙上裂了好长一道缝，该找谁来给看看", "狗天天夜里嚎，能请
    # 谁来调解") is answered first only when the knowledge base is all but certain of it.
    # Who to turn to about a problem ("邻居家装修天天敲到半夜，这事该找谁出面说说") is answered at the
    # knowledge base's usual bar: the answer says who, and the problem is offered for report.
    who_handles = parsing.asks_who_handles(turn.text)
    bar = WHO_HANDLES_SURE if who_handles else UNNAMED_SURE
    if not named and (result.why or {}).get("probability", 0.0) < bar:
        # Whom to tell about a problem the base has no entry for ("后院榨油坊半夜轰隆轰隆的，这种事该
        # 上哪儿去说"): the general answer, then the offer to report it.
        told = policy.who_to_tell(turn)
        return [*told, FollowupAction(ACTION_LISTEN)] if told is not None else None
    if result.entry is None or not result.confident:
        # A question that names a policy the base has close candidates for ("泥砖屋落雨就漏，墙都裂开了，
        # 咁样可以搞危房改造冇"): the near-miss answer (or which one, of three or more), then the report offered.
        # Never when a report is asked for in so many words ("我要反映，…这叫啥事").
        asked = policy.ask_clarify(turn, result, turn.text) \
            if named and not parsing.asks_to_file(turn.text) and not parsing.wants_to_complain(turn.text) else None
        if asked is None:
            asked = policy.who_to_tell(turn)  # "地界叫那户挪了一垄，该找谁评理": whom, then the offer
        return [*asked, FollowupAction(ACTION_LISTEN)] if asked else None
    answered = policy.answer_and_offer_report(turn, result.entry.id, turn.text, result)
    return [*answered, FollowupAction(ACTION_LISTEN)]


#: The calibrated probability above which a complaint-like question that names no policy topic
#: is answered from the knowledge base before the report form starts.
UNNAMED_SURE = 0.95
#: ... and one that asks who deals with such a problem: the calibrated bar of a confident answer.
WHO_HANDLES_SURE = 0.85


class ValidateGrievanceForm(FormValidationAction):
    """Checks each answer of the grievance form; the last slot reads corrections."""

    def name(self) -> Text:
        return "validate_grievance_form"

    def validate_grievance_description(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        text = str(value or "").strip()
        if len(text) < 2:
            dispatcher.utter_message(response="utter_grievance_description_too_short")
            return {slots.GRIEVANCE_DESCRIPTION: None}
        result: Dict[Text, Any] = {slots.GRIEVANCE_DESCRIPTION: text[:500]}
        if not tracker.get_slot(slots.GRIEVANCE_CATEGORY):
            category = infer_category(text)
            if category:
                result[slots.GRIEVANCE_CATEGORY] = category
        return result

    def validate_grievance_category(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> Dict[Text, Any]:
        said = str(value or "")
        result: Dict[Text, Any] = {slots.GRIEVANCE_CATEGORY: _category(said)}
        anonymous = parsing.anonymity_said(said)
        if anonymous is not None and tracker.get_slot(slots.GRIEVANCE_ANONYMOUS) is None:
            # "要保密" said to "哪方面的问题？": the answer to the question that comes next
            result[slots.GRIEVANCE_ANONYMOUS] = anonymous
        return result

    def validate_grievance_place(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> Dict[Text, Any]:
        place = parsing.strip_place_prefix(str(value or ""))
        if not place:
            dispatcher.utter_message(response="utter_grievance_place_missing")
            return {slots.GRIEVANCE_PLACE: None}
        return {slots.GRIEVANCE_PLACE: place[:100]}

    def validate_grievance_urgency(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> Dict[Text, Any]:
        said = str(value)
        urgency = parsing.URGENT if said == parsing.URGENT else (parsing.urgency_in(said) or parsing.NORMAL)
        return {slots.GRIEVANCE_URGENCY: urgency}

    def validate_grievance_anonymous(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> Dict[Text, Any]:
        anonymous = value if isinstance(value, bool) else parsing.anonymity_in(str(value or ""))
        if anonymous is None:
            dispatcher.utter_message(response="utter_grievance_anonymous_unclear")
        # "哦讲错了，不是小卖部，是老祠堂旁边，不用保密": the place put right on the way
        return {slots.GRIEVANCE_ANONYMOUS: anonymous, **(_swapped(tracker) or {})}

    async def extract_grievance_anonymous(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                          domain: DomainDict) -> Dict[Text, Any]:
        """An answer about the name that the model heard as a question ("不怕别人晓得" as a policy
        question): domain.yml's text mapping leaves questions out, so it is read here when it
        says which way it goes."""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if (tracker.get_slot("requested_slot") != slots.GRIEVANCE_ANONYMOUS
                or tracker.get_slot(slots.GRIEVANCE_ANONYMOUS) is not None
                or intent not in NAME_ANSWER_MISREADS):  # never an emergency said here
            return {}
        text = latest_text(tracker)
        if not says_about_the_name(text) or parsing.anonymity_in(text) is None:
            return {}
        return {slots.GRIEVANCE_ANONYMOUS: text}

    async def extract_grievance_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                          domain: DomainDict) -> Dict[Text, Any]:
        """A yes or a no with a correction to the read-back that the model heard as a question
        ("地方不对，是卫生院前头那条" as a policy question): domain.yml's mapping leaves questions
        out, so that "哎对了，低保要带啥" asked here is answered, not taken as a correction."""
        if (tracker.get_slot("requested_slot") != slots.GRIEVANCE_CONFIRMED
                or tracker.get_slot(slots.GRIEVANCE_CONFIRMED) is not None):
            return {}
        text = latest_text(tracker)
        return {slots.GRIEVANCE_CONFIRMED: text} if answers_read_back(text) else {}

    def validate_grievance_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> Dict[Text, Any]:
        """The answer to the read-back (or to the offer to join an open ticket). Only an
        explicit yes files; an unclear answer hears the question again; a no corrects."""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        reply = interpret(latest_text(tracker), FILING_VERBS)
        duplicate = tracker.get_slot(slots.GRIEVANCE_DUPLICATE)
        if duplicate and duplicate.startswith(slots.DUPLICATE_OFFER):
            if reply is Reply.YES:
                ticket = duplicate[len(slots.DUPLICATE_OFFER):]
                return {slots.GRIEVANCE_CONFIRMED: True, slots.GRIEVANCE_DUPLICATE: slots.DUPLICATE_JOIN + ticket}
            if reply in (Reply.UNCLEAR, Reply.REPEAT):
                dispatcher.utter_message(response="utter_confirm_again")
                return {slots.GRIEVANCE_CONFIRMED: None, slots.GRIEVANCE_DUPLICATE: None}  # offered again
            return {slots.GRIEVANCE_CONFIRMED: None, slots.GRIEVANCE_DUPLICATE: slots.DUPLICATE_DECLINED}
        correcting = bool(tracker.get_slot(slots.GRIEVANCE_CORRECTING))
        if reply is Reply.YES and correcting:
            # "对" / "好个" to "哪里不对？" is no yes to the report: it is read back again (with a field
            # the words name put right; a yes is never the report's new content) — never filed from here
            named = {k: v for k, v in _corrections(tracker, intent).items() if k != slots.GRIEVANCE_DESCRIPTION}
            return {slots.GRIEVANCE_CONFIRMED: None, slots.GRIEVANCE_CORRECTING: None, **named}
        if reply is Reply.YES:
            named = {k: v for k, v in _corrections(tracker, intent).items() if k in _NAMED_IN_A_YES}
            if any(tracker.get_slot(k) != v for k, v in named.items()):
                # "对，小学门口" after another place was read back: the field put right and read back
                # again, never filed with the old one
                return {slots.GRIEVANCE_CONFIRMED: None, **named}
            return {slots.GRIEVANCE_CONFIRMED: True}
        if reply in (Reply.UNCLEAR, Reply.OTHER) and _restates_read_back(tracker, _corrections(tracker, intent)):
            # "对，四组，这回没错" after "四组…对吗？", "嗯，一组，没错，交上去吧" after "一组…对吗？"
            return {slots.GRIEVANCE_CONFIRMED: True}
        if reply is Reply.UNCLEAR:
            # A short correction ("很急", "噪音", an entity) is no yes either, but it is clear.
            named = _corrections(tracker, intent)
            if named and set(named) != {slots.GRIEVANCE_DESCRIPTION}:
                return {slots.GRIEVANCE_CONFIRMED: None, **named}
        if reply in (Reply.UNCLEAR, Reply.REPEAT):
            dispatcher.utter_message(response="utter_confirm_again")
            return {slots.GRIEVANCE_CONFIRMED: None, slots.GRIEVANCE_CORRECTING: None}
        # A plain no ("不对", or a misheard "不四") is no new content: only named fields count.
        corrections = _corrections(tracker, slots.INTENT_DENY if reply is Reply.NO else intent)
        if reply is Reply.NO and not corrections:
            # "哦我讲岔了，管子好好的，是水表那个接头在漏": the problem told again after taking it back
            told = _TAKEN_BACK_FIRST.sub("", latest_text(tracker))
            if told != latest_text(tracker) and len(told) >= 4 and _tells_a_problem(told):
                corrections = {slots.GRIEVANCE_DESCRIPTION: told}
        if reply is Reply.OTHER and set(corrections) == {slots.GRIEVANCE_DESCRIPTION} \
                and not _tells_a_problem(corrections[slots.GRIEVANCE_DESCRIPTION]):
            # words that are neither a yes nor a problem ("中，就照恁说的办" unknown): heard again,
            # never read back as the report's new content
            dispatcher.utter_message(response="utter_confirm_again")
            return {slots.GRIEVANCE_CONFIRMED: None, slots.GRIEVANCE_CORRECTING: None}
        if not corrections:
            # "哪里不对？" — and no read-back until the answer: a yes now would be to this question
            dispatcher.utter_message(response="utter_grievance_what_is_wrong")
            return {slots.GRIEVANCE_CONFIRMED: None, slots.GRIEVANCE_CORRECTING: True}
        return {slots.GRIEVANCE_CONFIRMED: None, slots.GRIEVANCE_CORRECTING: None, **corrections}


#: A report taken back at its start ("哦我讲岔了，…", "不对不对，我说错了，…"): what follows is told anew.
_TAKEN_BACK_FIRST = re.compile(r"^[哦噢嗯啊哎呃唉嗐\s，,。]*((不对|不是)[，,\s]*)*(我|俺)?(刚才)?(讲|说|记|看|报)?(岔|错|差|反)(了|啦|咯)?[，,。\s]*")


def _tells_a_problem(text: str) -> bool:
    """New content for a report: a problem or a thing of a category ("是水管爆了", "垃圾堆在路口")."""
    return parsing.reports_problem(text) or infer_category(text) is not None


_FIELD_SLOTS = {parsing.PLACE: slots.GRIEVANCE_PLACE, parsing.CATEGORY: slots.GRIEVANCE_CATEGORY,
                parsing.DESCRIPTION: slots.GRIEVANCE_DESCRIPTION}


def _swapped(tracker: Tracker) -> Optional[Dict[Text, Any]]:
    """A correction said as "不是X，是Y" of a word of the place or the description so far: those
    slots with X put right; None when the text says no such correction."""
    place, description = tracker.get_slot(slots.GRIEVANCE_PLACE) or "", tracker.get_slot(slots.GRIEVANCE_DESCRIPTION) or ""
    # the answer about the name said with it ("…，是村尾，不用保密") is no part of the correction
    said = "，".join(c for c in re.split(r"[，,。；;]", latest_text(tracker)) if not says_about_the_name(c))
    swap = parsing.swap_in(said, (place, description))
    if swap is None:
        return None
    old, new = swap
    return {slot: value.replace(old, new) for slot, value in
            ((slots.GRIEVANCE_PLACE, place), (slots.GRIEVANCE_DESCRIPTION, description)) if old in value}


#: Fields a yes may name that change the report ("对，小学门口"); haste in a yes ("报，赶紧报") is no
#: urgency asked for.
_NAMED_IN_A_YES = (slots.GRIEVANCE_PLACE, slots.GRIEVANCE_CATEGORY)


def _restates_read_back(tracker: Tracker, named: Dict[Text, Any]) -> bool:
    """A yes that names fields exactly as they were read back ("对，四组，这回没错"): nothing
    changes, so it is a yes when the words besides those values are (the values, and only they,
    count as echoes of the read-back; "对，要保密" names a change and is never this)."""
    fields = set(named) - {slots.GRIEVANCE_DESCRIPTION}
    if not fields or fields != set(named) or any(tracker.get_slot(f) != named[f] for f in fields):
        return False
    said = "，".join(str(named[f]) for f in sorted(fields))
    return interpret(latest_text(tracker), FILING_VERBS, said=said) is Reply.YES


def _corrections(tracker: Tracker, intent: Optional[str]) -> Dict[Text, Any]:
    """The answer to "哪里不对", or a correction said with the "不对": an explicit field name
    wins; otherwise the recognised entities; otherwise the text is the new content."""
    swapped = _swapped(tracker)
    if swapped is not None:  # "不是小学，是幼儿园门口那段": the word read back, put right where it stands
        return swapped
    fixed = parsing.strip_negation(latest_text(tracker))
    named = parsing.named_correction(fixed)
    if named is not None:
        field, value = named
        return {_FIELD_SLOTS[field]: _category(value) if field == parsing.CATEGORY else value}
    corrections: Dict[Text, Any] = {}
    place = latest_entity(tracker, slots.ENTITY_PLACE)
    category = latest_entity(tracker, slots.ENTITY_CATEGORY)
    urgency = latest_entity(tracker, slots.ENTITY_URGENCY)
    if place:
        corrections[slots.GRIEVANCE_PLACE] = place
    if category in CATEGORIES:
        corrections[slots.GRIEVANCE_CATEGORY] = category
    if urgency in (parsing.URGENT, parsing.NORMAL):
        corrections[slots.GRIEVANCE_URGENCY] = urgency
    if not corrections and intent != slots.INTENT_DENY and fixed:
        if fixed in CATEGORIES:
            corrections[slots.GRIEVANCE_CATEGORY] = fixed
        elif parsing.urgency_in(fixed):
            corrections[slots.GRIEVANCE_URGENCY] = parsing.urgency_in(fixed)
        elif len(fixed) >= 2:
            corrections[slots.GRIEVANCE_DESCRIPTION] = fixed
    return corrections


class ActionAskGrievanceConfirmed(XiangyinAction):
    """Before saving: offer an existing open ticket that covers the same problem, else read back."""

    action_name = "action_ask_grievance_confirmed"

    def handle(self, turn: Turn) -> List[EventType]:
        if turn.slot(slots.GRIEVANCE_CORRECTING):
            return []  # "哪里不对？" was just asked: its answer comes first, then the read-back
        category = turn.slot(slots.GRIEVANCE_CATEGORY)
        description = turn.slot(slots.GRIEVANCE_DESCRIPTION)
        place = turn.slot(slots.GRIEVANCE_PLACE) or ""
        if turn.slot(slots.GRIEVANCE_DUPLICATE) is None:
            with turn.session() as s:
                found = grievances.find_duplicates(s, turn.actor.village_id, category, description, place)
                if found:
                    g = found[0]
                    turn.say("utter_grievance_duplicate_offer", ticket=g.ticket_no, place=g.place,
                             description=g.description, state=grievances.view(s, g).state_name)
                    return [SlotSet(slots.GRIEVANCE_DUPLICATE, slots.DUPLICATE_OFFER + g.ticket_no)]
        turn.say("utter_grievance_read_back", place=place, description=description, category=category,
                 urgency=phrases.urgency_read_back(turn.slot(slots.GRIEVANCE_URGENCY)),
                 anonymous=phrases.anonymity_read_back(bool(turn.slot(slots.GRIEVANCE_ANONYMOUS))))
        return []


class ActionSubmitGrievance(XiangyinAction):
    action_name = "action_submit_grievance"

    def handle(self, turn: Turn) -> List[EventType]:
        if not turn.slot(slots.GRIEVANCE_CONFIRMED):
            turn.say("utter_grievance_not_filed")
            return forget(*slots.GRIEVANCE_FORM_SLOTS)
        duplicate = turn.slot(slots.GRIEVANCE_DUPLICATE) or ""
        with turn.session(write=True) as s:
            if duplicate.startswith(slots.DUPLICATE_JOIN):
                g = grievances.join(s, turn.actor, duplicate[len(slots.DUPLICATE_JOIN):])
                reply = dict(response="utter_grievance_joined", ticket=g.ticket_no)
            else:
                g = grievances.file(
                    s, turn.actor, turn.slot(slots.GRIEVANCE_CATEGORY), turn.slot(slots.GRIEVANCE_DESCRIPTION),
                    turn.slot(slots.GRIEVANCE_PLACE) or "", turn.slot(slots.GRIEVANCE_URGENCY) or parsing.NORMAL,
                    bool(turn.slot(slots.GRIEVANCE_ANONYMOUS)))
                reply = dict(response="utter_grievance_filed", ticket=g.ticket_no,
                             assignee=g.assignee.display_name if g.assignee else phrases.NO_ASSIGNEE,
                             hours=FIRST_RESPONSE_HOURS[g.urgency])
        # Reply only after the commit: an acknowledged grievance is durable.
        turn.say(**reply)
        return forget(*slots.GRIEVANCE_FORM_SLOTS) + [SlotSet(slots.TICKET, g.ticket_no)]


class ActionGrievanceStatus(XiangyinAction):
    action_name = "action_grievance_status"

    def handle(self, turn: Turn) -> List[EventType]:
        text = turn.text
        ticket = turn.entity(slots.ENTITY_TICKET) or parsing.ticket_in(text)
        if not ticket and turn.actor.is_staff and parsing.house_number_in(text):
            return [FollowupAction("action_household_summary")]  # staff: "8号户" is a household
        with turn.session() as s:
            try:
                views = grievances.status(s, turn.actor, ticket)
            except grievances.TicketNotFound:
                turn.say("utter_ticket_not_found", ticket=ticket)
                return []
        if not views:
            # "村口那盏路灯咋还黑着呢，到底有人修没" from someone who reported nothing: the open report
            # on that thing, if anyone made one
            with turn.session() as s:
                others = grievances.open_reports_about(s, turn.actor.village_id, text) \
                    if turn.actor.village_id and parsing.reports_problem(text) else []
                if others:
                    g = others[0]
                    turn.say("utter_already_reported", ticket=g.ticket_no, description=g.description,
                             state=grievances.GRIEVANCE_STATE_NAMES[g.state])
                    return []
            if not ticket and not turn.tracker.active_loop_name and not asks_report_status(text):
                # "我两个儿子都不管我，饭都不送一口" heard as a status question from someone who reported
                # nothing: what the knowledge base is sure of (here, support owed by children)
                from actions.policy import sure_answer

                answered, _ = sure_answer(turn, text)
                if answered is not None:
                    return answered
            turn.say("utter_no_grievances")
            return []
        if ticket or parsing.refers_to_last(text) or len(views) == 1:
            v = views[0]
            closed = v.state in (GrievanceState.resolved, GrievanceState.followed_up)
            turn.say("utter_grievance_status", ticket=v.ticket_no, description=v.description, state=v.state_name,
                     assignee=phrases.assignee_clause(None if closed else v.assignee),
                     latest=phrases.latest_note_clause(v.last_note))
            return [SlotSet(slots.TICKET, v.ticket_no)]
        open_views = [v for v in views if v.state in grievances.OPEN_STATES]
        lines = [phrases.status_line(v.ticket_no, v.description, v.state_name) for v in (open_views or views)]
        if open_views:
            return read_list(turn, "utter_grievances_open", lines, count=len(open_views))
        return read_list(turn, "utter_grievances_all_done", lines)


def _not_staff(turn: Turn) -> Optional[List[EventType]]:
    """The grievance queue is for grid workers and village officials: a villager's words the model
    took for it are answered as what they are (a report, a question), or the villager is told
    whose work it is; None for staff."""
    if turn.actor.is_staff:
        return None
    from actions.policy import instead_of_staff_work

    instead = instead_of_staff_work(turn)
    if instead is not None:
        return instead
    turn.say("utter_staff_only_handle")
    return []


class ActionMyQueue(XiangyinAction):
    action_name = "action_my_queue"

    def handle(self, turn: Turn) -> List[EventType]:
        not_staff = _not_staff(turn)
        if not_staff is not None:
            return not_staff
        from actions.policy import staff_means_households

        households = staff_means_households(turn)
        if households is not None:
            return households  # "我管的那一片，有没有一个人过活的老汉": households of a kind, not the queue
        with turn.session() as s:
            queue = grievances.open_queue(s, turn.actor)
        if not queue:
            turn.say("utter_queue_empty")
            return []
        return read_list(turn, "utter_queue", [phrases.queue_line(v.ticket_no, v.place, v.description, v.state_name)
                                               for v in queue], count=len(queue))


class ActionHandleGrievance(XiangyinAction):
    """Staff by voice: '受理260104 我下午去看', '260104办结了 路灯换好了' (read back first)."""

    action_name = "action_handle_grievance"

    def handle(self, turn: Turn) -> List[EventType]:
        text = turn.text
        ticket = turn.entity(slots.ENTITY_TICKET) or parsing.ticket_in(text)
        if not turn.actor.is_staff and not ticket and parsing.asks_to_file(text):
            # a villager's "要嘛，帮我往上报" after telling a problem: the report of that problem
            # (its read-back still needs a yes), not a staff command on a ticket
            earlier = previous_user_text(turn.tracker)
            return [*prefill_from(turn, earlier if _tells_a_problem(earlier) else text),
                    FollowupAction(slots.GRIEVANCE_FORM)]
        not_staff = _not_staff(turn)
        if not_staff is not None:
            return not_staff
        action, note = parsing.parse_staff_command(text)
        if not ticket and action and commands_ticket_by_subject(text):
            # "三组垃圾桶老满那一件…我打算给它办结": the ticket of the asker's queue it is about
            with turn.session() as s:
                found = grievances.open_ticket_about(s, turn.actor, ticket_subject_said(text))  # not the note's words
            ticket = found.ticket_no if found is not None else None
            # the words that named the ticket are no part of the note ("我这边" neither)
            _, note = parsing.parse_staff_command(text.replace(ticket_subject_said(text), "", 1))
            note = re.sub(r"^[，,。\s]*((我|俺)(这边|这儿|这里|这头))?[，,。\s]*", "", note)
        if not ticket or not action:
            turn.say("utter_staff_command_help")
            return []
        with turn.session() as s:
            try:
                description = grievances.get_by_ticket(s, ticket).description
            except grievances.TicketNotFound:
                turn.say("utter_ticket_not_found", ticket=ticket)
                return []
        if action in ("resolve", "reject") and not note:
            if ticket_subject_said(text) and not parsing.ticket_in(text):
                # found by its subject: which ticket it is, and how to say it with the result
                turn.say("utter_staff_command_needs_note_for", ticket=ticket, description=description,
                         verb=phrases.STAFF_VERB_NAMES[action])
            else:
                turn.say("utter_staff_command_needs_note")
            return []
        return propose_write(turn, slots.WRITE_GRIEVANCE_TRANSITION, {"ticket": ticket, "action": action, "note": note},
                             "utter_confirm_grievance_transition", ticket=ticket, description=description,
                             verb=phrases.STAFF_VERB_NAMES[action], note=phrases.note_clause(note))


def confirm_transition(turn: Turn, pending: PendingWrite) -> List[EventType]:
    """对 after a staff command's read-back: move the grievance on, the reporter is told."""
    try:
        with turn.session(write=True) as s:
            g = grievances.transition(s, turn.actor, pending["ticket"], pending["action"], pending["note"])
            state = grievances.view(s, g).state_name
    except grievances.InvalidTransition:
        turn.say("utter_grievance_transition_invalid")
        return []
    turn.say("utter_grievance_transitioned", ticket=pending["ticket"], state=state)
    return []


def answer_satisfaction(turn: Turn) -> List[EventType]:
    """The answer to 回访's "满意吗" (satisfaction, or 对 for 满意): recorded; 不满意 reopens."""
    answer = parsing.satisfaction_in(turn.text, grievances.SATISFACTION)
    if answer is None and turn.intent == slots.INTENT_AFFIRM:
        answer = "满意"
    if answer is None and interpret(turn.text) is Reply.NO:
        answer = "不满意"  # "不中，才过了两天又坑坑洼洼的了": a no to 满意吗 (it reopens the case)
    if answer is None:
        turn.say("utter_ask_satisfaction_again")
        return []
    with turn.session(write=True) as s:
        grievances.record_satisfaction(s, turn.actor, turn.slot(slots.TICKET), answer)
    turn.say("utter_satisfaction_reopened" if answer == "不满意" else "utter_satisfaction_thanks")
    return clear_choices()
