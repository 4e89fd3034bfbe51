"""Household lookup and visit logs for grid workers.

On a voice device, staff confirm themselves with their spoken PIN (``pin_form``) before any
household data is read out; the question they asked is kept and answered right after.
Confidential notes are never read out on a voice device: that is decided here, from who is
talking, not by the reply's channel variant.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import parsing, phrases, point_rules, slots
from actions.common import Turn, UsesSettings, XiangyinAction, clear_choices
from actions.grievances import OTHER_CATEGORY
from actions.pending import PendingWrite, propose_write
from bot import grievances, households
from bot.identity import verify_pin
from bot.nlu.goals import asks_others_balance
from bot.text import pin_said
from bot.models import Household, utcnow

MAX_PIN_ATTEMPTS = 3
SUMMARY, VISIT, AWARD = "summary", "visit", "award"


@dataclass
class Query:
    """What a staff member asked about a household: kept across the PIN step."""

    kind: str  # SUMMARY | VISIT, or a kind registered in ANSWERS (actions/staff.py)
    text: str
    person: Optional[str] = None
    number: Optional[str] = None
    activity: Optional[str] = None
    amount: Optional[str] = None  # the ``number`` entity: points, a quantity

    @classmethod
    def from_turn(cls, kind: str, turn: Turn) -> "Query":
        text = parsing.without_self_corrections(turn.text)
        person, number = turn.entity(slots.ENTITY_PERSON), turn.entity(slots.ENTITY_HOUSEHOLD_NO)
        if text != turn.text:  # "给12号……哦不是，13号": the entities may be the number taken back
            number = parsing.house_number_in(text)
            person = person if person and person in text else None
        if number is None and person is None:
            number = parsing.bare_number(text)  # "38", "五十二": the number alone
        return cls(kind, text, person, number, turn.entity(slots.ENTITY_ACTIVITY), turn.entity(slots.ENTITY_NUMBER))


#: Follow-up questions about the household talked about last ("那他家几口人"): what is asked,
#: by the words that ask it, and how the answer is said from a summary.
FOLLOW_UPS = (
    (("几口人", "几个人", "几口", "多少人", "多少口", "都有谁", "有谁", "人口"), lambda s: f"{s.members}口人"),
    (("联系人", "三线", "谁联系", "谁管"), lambda s: f"三线联系人是{s.contact or phrases.NO_CONTACT}"),
    (("走访",), lambda s: phrases.last_visit(s.last_visit)),
    (("诉求", "反映", "投诉"), lambda s: phrases.open_grievances(s.open_grievances, clause=False)),
    (("积分", "多少分", "几分", "分数", "分儿", "鸡分", "分还有", "分还剩", "几个分"), lambda s: f"积分{s.points}分"),
    (("岁数", "年纪", "几岁", "多大了", "多大", "哪年生", "属啥"),
     lambda s: phrases.head_age(s.head, s.head_birth_year, utcnow().year)),
    (("什么户", "啥户", "哪种户", "颜色", "连心", "关心", "放心", "红", "黄", "绿"),
     lambda s: f"是{s.colour}，{s.care_reason}"),
    (("一个人住", "一个人过", "独居", "自己住", "单住", "独自", "一个人在家", "跟谁住", "和谁住", "谁照顾"),
     lambda s: f"{s.members}口人" + ("，一个人住" if s.members == 1 else "")),
)
#: Words that point back at the household talked about last.
REFERS_BACK = ("他家", "她家", "他们家", "她们家", "这户", "那户", "这家", "那家", "这一户", "那一户", "他", "她")


#: "家里人口多少", "屋里几个人" said at the start: the home of the household talked about.
_THEIR_HOME = re.compile(r"^(家里|屋里|屋头|家头)")


def refers_back(text: str) -> bool:
    """'那他家几口人' / '这户电话多少' / '那几口人呢' / '积分呢' is about the household talked about
    last (a short question ending in 呢 asks the same of what was just talked about)."""
    text = (text or "").strip()
    flat = text.rstrip("？?。.！! ")
    return (any(word in text for word in REFERS_BACK) or text.startswith("那") or bool(_THEIR_HOME.match(text))
            or (len(flat) <= 6 and flat.endswith(("呢", "嘞", "咧"))))


#: A household's size said to be checked ("家里就两个人吧", "是三口人吗"): answered with the size.
_SIZE_CHECKED = re.compile(r"[一两二三四五六七八九十\d](个|口)人?(吧|吗|嘛|是吧|对吧|是不是|对不对|啊)?[？?。]*$")


def _follow_up_answer(text: str) -> Optional[Callable[[Any], str]]:
    """How the one thing asked is said from a summary (see ``FOLLOW_UPS``); None when nothing in
    particular is asked."""
    for words, answer in FOLLOW_UPS:
        if any(word in (text or "") for word in words):
            return answer
    if _SIZE_CHECKED.search((text or "").strip()):
        return FOLLOW_UPS[0][1]  # the size, said to be checked
    return None


def _asks_follow_up(text: str) -> bool:
    return _follow_up_answer(text) is not None


def answer_follow_up(turn: Turn, household_id: int, text: str) -> List[EventType]:
    """The one thing asked about the household talked about last; the whole summary when the
    question names nothing in particular."""
    answer = _follow_up_answer(text)
    if answer is None:
        return summarise_for(turn, household_id)
    with turn.session(write=True) as s:
        summary = households.summarise(s, turn.actor, household_id)
    turn.say("utter_household_follow_up", household=phrases.household_label(summary.head, summary.number),
             answer=answer(summary))
    return [SlotSet(slots.LAST_HOUSEHOLD, household_id)]


def summarise_for(turn: Turn, household_id: int) -> List[EventType]:
    """Read out one household's summary (audited by the domain layer)."""
    with turn.session(write=True) as s:
        summary = households.summarise(s, turn.actor, household_id)
    turn.say("utter_household_summary", head=summary.head, grid=summary.grid, number=summary.number,
             members=summary.members, colour=summary.colour, care_reason=summary.care_reason)
    turn.say("utter_household_contacts", contact=summary.contact or phrases.NO_CONTACT,
             visit=phrases.last_visit(summary.last_visit),
             open_grievances=phrases.open_grievances(summary.open_grievances),
             points=summary.points)
    if summary.sensitive_note:
        # Health, custody or allowance details are never spoken aloud.
        if turn.on_voice:
            turn.say("utter_household_sensitive_withheld")
        else:
            turn.say("utter_household_sensitive_note", note=summary.sensitive_note)
    return clear_choices() + [SlotSet(slots.LAST_HOUSEHOLD, household_id)]


def _head(household: Household) -> str:
    return next((r.name for r in household.residents if r.is_head), "")


def _ask_which(turn: Turn, found: Sequence[Household]) -> List[EventType]:
    options = list(found[:3])
    listing = phrases.series((phrases.household_option(i, h.grid.name, h.number) for i, h in enumerate(options)),
                             phrases.LIST_SEPARATOR)
    turn.say("utter_which_household", count=len(found), head=_head(options[0]), options=listing)
    return [SlotSet(slots.CHOICES, [h.id for h in options]), SlotSet(slots.CHOICE_KIND, slots.OFFERED_HOUSEHOLD)]


def answer_query(turn: Turn, query: Query) -> List[EventType]:
    """Run a household query for staff whose identity is established."""
    ref = parsing.household_reference(query.text, query.person, query.number)
    last = turn.slot(slots.LAST_HOUSEHOLD)
    pronoun = not ref.number and (ref.empty or any(word in (ref.name or "") for word in "他她这那"))
    back = pronoun and refers_back(query.text)
    # "家里几口人" right after a lookup names no household but asks one of the follow-ups: that one
    back = back or (ref.empty and bool(last) and query.kind == SUMMARY and _asks_follow_up(query.text))
    if back and last and query.kind == SUMMARY:
        return answer_follow_up(turn, int(last), query.text)
    if back and not last:
        ref = parsing.HouseholdRef()  # "那他家…" with nobody talked about yet: ask which
    with turn.session() as s:
        if back and last:  # "给他家记一条走访" right after a lookup: that household
            found = households.find_households(s, turn.actor, household_id=int(last))
        elif ref.empty:  # "下午去看了杨树林，…": a resident's name the model did not mark
            found = households.named_in(s, turn.actor, query.text) or None
        else:
            found = households.find_households(s, turn.actor, name=ref.name, number=ref.number, group=ref.group)
        if not found:
            if found is None:
                turn.say("utter_ask_household" if query.kind == SUMMARY else "utter_ask_visit_household")
            else:
                turn.say("utter_access_denied")  # the same answer as for "no such household"
            return []
        if len(found) > 1:
            return _ask_which(turn, found)
        household_id, head = found[0].id, _head(found[0])
    if query.kind == SUMMARY:
        return summarise_for(turn, household_id)
    note = parsing.visit_note(query.text, head) or phrases.DEFAULT_VISIT_NOTE
    return propose_write(turn, slots.WRITE_VISIT, {"household_id": household_id, "head": head, "note": note},
                         "utter_confirm_visit", head=head, note=note)


#: How each kind of staff question is answered once the asker is known to be staff (and, on a
#: voice device, has said the PIN). Other modules register their kinds (actions/staff.py).
ANSWERS: Dict[str, Callable[[Turn, Query], List[EventType]]] = {SUMMARY: answer_query, VISIT: answer_query}


def run_query(turn: Turn, query: Query) -> List[EventType]:
    return ANSWERS.get(query.kind, answer_query)(turn, query)


#: A question for people or households by name ("有哪些", "都有谁", "谁家"): a lookup, not a policy.
def _villager_question(turn: Turn) -> Optional[List[EventType]]:
    """A villager's question the model took for a staff lookup ("老人八十多了有啥补贴没" sounds like
    a list of old people): answered from the knowledge base when it is sure, or its clarifying
    question when both candidates are one policy; None when it asks for people (staff only)."""
    from actions import policy

    if policy.ASKS_FOR_PEOPLE.search(turn.text):
        return None  # "我网格里的连心户有哪些": who, whatever a policy text explains

    answered, result = policy.sure_answer(turn, turn.text)
    if answered is not None:
        return answered
    if len({e.topic for e in policy.candidates(turn, result.candidates)}) == 1:
        return policy.ask_clarify(turn, result, turn.text)
    return None


def staff_query(turn: Turn, kind: str) -> List[EventType]:
    """Staff only; on a voice device the PIN is asked first and the question kept."""
    if not turn.actor.is_staff:
        if asks_others_balance(turn.text):
            # "老王家，就42号，他家多少分": not theirs to hear (the balance action says so, and
            # answers when the name is of their own household: "王桂芳是俺娘，…她家还剩几分")
            return [FollowupAction("action_points_balance")]
        answered = _villager_question(turn)
        if answered is None:
            from actions.policy import instead_of_staff_work

            answered = instead_of_staff_work(turn)
        if answered is not None:
            return answered
        turn.say("utter_staff_only_lookup")
        return []
    query = Query.from_turn(kind, turn)
    if turn.on_voice and not turn.slot(slots.PIN_VERIFIED):
        return [SlotSet(slots.PENDING_QUERY, asdict(query)), SlotSet(slots.PIN_ATTEMPTS, 0),
                FollowupAction(slots.PIN_FORM)]
    return run_query(turn, query)


class ActionHouseholdSummary(XiangyinAction):
    action_name = "action_household_summary"

    def handle(self, turn: Turn) -> List[EventType]:
        if point_rules.tells_staff_award(turn):
            return staff_query(turn, AWARD)  # "56号陈春生家送来塑料瓶三十个": points to book, read back first
        return staff_query(turn, SUMMARY)


class ActionLogVisit(XiangyinAction):
    action_name = "action_log_visit"

    def handle(self, turn: Turn) -> List[EventType]:
        if point_rules.tells_staff_award(turn):
            return staff_query(turn, AWARD)
        return staff_query(turn, VISIT)


class ValidatePinForm(UsesSettings, FormValidationAction):
    """Checks the spoken PIN (every attempt is audited); three wrong ones end the form."""

    def name(self) -> Text:
        return "validate_pin_form"

    def extract_pin(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        """Digits said as the PIN are the PIN even when the model hears a call for help in them
        ("九九九九" ~ "救救救救"): the slot's mapping skips the emergency intent, so the form's
        own extraction takes them (bot/nlu/control.py sends such a turn to the form)."""
        text = (tracker.latest_message or {}).get("text") or ""
        pin = pin_said(text) if tracker.get_slot("requested_slot") == slots.PIN else None
        if pin:  # "嗯，我想想，二四六八": the digits, after the words of recalling them
            return {slots.PIN: pin}
        return {}

    def validate_pin(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                     domain: DomainDict) -> Dict[Text, Any]:
        actor = self.load_actor(tracker)
        with self.session(write=True) as s:
            ok = verify_pin(s, actor, str(value or ""))
        if ok:
            return {slots.PIN: "ok", slots.PIN_VERIFIED: True}
        attempts = int(tracker.get_slot(slots.PIN_ATTEMPTS) or 0) + 1
        if attempts >= MAX_PIN_ATTEMPTS:
            return {slots.PIN: "failed", slots.PIN_VERIFIED: False, slots.PIN_ATTEMPTS: attempts}
        dispatcher.utter_message(response="utter_pin_wrong")
        return {slots.PIN: None, slots.PIN_ATTEMPTS: attempts}


class ActionResumeAfterPin(XiangyinAction):
    """The PIN form is done: answer the question that was asked before it, or refuse."""

    action_name = "action_resume_after_pin"

    def handle(self, turn: Turn) -> List[EventType]:
        pending = turn.slot(slots.PENDING_QUERY)
        events: List[EventType] = [SlotSet(slots.PIN, None), SlotSet(slots.PENDING_QUERY, None)]
        if not turn.slot(slots.PIN_VERIFIED):
            turn.say("utter_pin_failed")
            return events
        if not pending:
            turn.say("utter_pin_ok_ask_household")
            return events
        return events + run_query(turn, Query(**pending))


def confirm_visit(turn: Turn, pending: PendingWrite) -> List[EventType]:
    """对 after a visit log's read-back: saved; a problem in it is offered for filing."""
    with turn.session(write=True) as s:
        households.log_visit(s, turn.actor, int(pending["household_id"]), pending["note"])
    turn.say("utter_visit_logged")
    if households.reports_problem(pending["note"]):
        return propose_write(turn, slots.WRITE_VISIT_GRIEVANCE,
                             {"household_id": pending["household_id"], "note": pending["note"]},
                             "utter_confirm_visit_grievance", note=pending["note"], head=pending["head"])
    return []


def confirm_visit_grievance(turn: Turn, pending: PendingWrite) -> List[EventType]:
    """对 after "要我帮他们反映吗": the grievance is filed for the household."""
    with turn.session(write=True) as s:
        g = grievances.file(s, turn.actor, grievances.infer_category(pending["note"]) or OTHER_CATEGORY, pending["note"],
                            household_id=int(pending["household_id"]))
    turn.say("utter_visit_grievance_filed", ticket=g.ticket_no)
    return []
