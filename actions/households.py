"""Household lookup and visit logs for grid workers.

On a voice device, staff confirm themselves with their spoken PIN (``pin_form``) before any
household data is read out; the question they asked is kept and answered right after.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Dict, Text

from rasa_sdk import FormValidationAction
from rasa_sdk.events import FollowupAction, SlotSet

from actions.common import (
    DENIED_REPLY,
    XiangyinAction,
    entity,
    latest_text,
    load_actor,
    pending_handler,
    propose_write,
)
from bot import grievances, households
from bot.db import session_scope
from bot.identity import Actor, verify_pin

STAFF_ONLY = "这个只有网格员和村干部能查。"
MAX_PIN_ATTEMPTS = 3


@dataclass
class Query:
    """What a staff member asked about a household: kept across the PIN step."""

    kind: str  # "summary" | "visit"
    text: str
    person: str | None = None
    number: str | None = None

    @classmethod
    def from_tracker(cls, kind: str, tracker) -> "Query":
        return cls(kind, latest_text(tracker), entity(tracker, "person"), entity(tracker, "household_no"))


def _lookup(s, actor: Actor, query: Query):
    name, number = query.person, query.number
    if not number:
        match = re.search(r"(\d+|[一二两三四五六七八九十百]+)号", query.text)
        number = match.group(1) if match else None
    group = re.search(r"([一二三四五六])组", query.text)
    if not name and not number:
        match = re.search(r"(?:查一下|查查|看看|记录走访|走访了?|去了)?\s*([\u4e00-\u9fa5]{2,3})家", query.text)
        name = match.group(1) if match else None
    if not name and not number:
        return None
    return households.find_households(s, actor, name=name, number=number,
                                      group=group.group(0) if group else None)


def _spoken_summary(summary: households.HouseholdSummary, voice: bool) -> list[str]:
    visit = f"上次走访是{summary.last_visit.month}月{summary.last_visit.day}日" if summary.last_visit else "还没有走访记录"
    lines = [
        f"{summary.head}家，{summary.grid}{summary.number}号，{summary.members}口人，"
        f"{summary.colour}，{summary.care_reason}。",
        f"三线联系人是{summary.contact or '村委会'}，{visit}，"
        f"有{summary.open_grievances}件诉求在办，积分{summary.points}分。",
    ]
    if summary.sensitive_note:
        # Health, custody or allowance details are never spoken aloud.
        lines.append("还有些情况不方便说出来，请在电报或工作台里看。" if voice
                     else f"注意（内部信息）：{summary.sensitive_note}")
    return lines


def summarise_for(dispatcher, actor: Actor, household_id: int):
    with session_scope(write=True) as s:
        summary = households.summarise(s, actor, household_id)
    for line in _spoken_summary(summary, actor.channel == "voice"):
        dispatcher.utter_message(text=line)
    return [SlotSet("choices", None), SlotSet("choice_kind", None)]


def _ask_which(dispatcher, found):
    options = found[:3]
    listing = "；".join(f"{'一二三'[i]}是{h.grid.name}{h.number}号" for i, h in enumerate(options))
    head = next((r.name for r in options[0].residents if r.is_head), "")
    dispatcher.utter_message(text=f"有{len(found)}户叫{head}：{listing}。您问第几户？")
    return [SlotSet("choices", [h.id for h in options]), SlotSet("choice_kind", "household")]


def answer_query(dispatcher, actor: Actor, query: Query):
    """Run a household query for staff whose identity is established."""
    with session_scope() as s:
        found = _lookup(s, actor, query)
        if not found:
            if found is None:
                dispatcher.utter_message(text="您要查哪一户？说户主名字或者门牌号就行。" if query.kind == "summary"
                                         else "记录哪一户的走访？请说户主名字，再说情况。")
            else:
                dispatcher.utter_message(text=DENIED_REPLY)  # same answer as "no such household"
            return []
        if len(found) > 1:
            return _ask_which(dispatcher, found)
        household = found[0]
        head = next((r.name for r in household.residents if r.is_head), "")
    if query.kind == "summary":
        return summarise_for(dispatcher, actor, household.id)
    note = query.text
    for marker in (f"{head}家", head):
        if marker and marker in note:
            note = note.split(marker, 1)[1]
            break
    note = re.sub(r"^[\s，,。]*|记一下$|记下来$", "", note).strip() or "情况正常"
    return propose_write(dispatcher, "visit", f"给{head}家记一条走访：{note}。",
                         household_id=household.id, head=head, note=note)


def _staff_query(dispatcher, tracker, actor: Actor, kind: str):
    if not actor.is_staff:
        dispatcher.utter_message(text=STAFF_ONLY)
        return []
    query = Query.from_tracker(kind, tracker)
    if actor.channel == "voice" and not tracker.get_slot("pin_verified"):
        return [SlotSet("pending_query", asdict(query)), SlotSet("pin_attempts", 0), FollowupAction("pin_form")]
    return answer_query(dispatcher, actor, query)


class ActionHouseholdSummary(XiangyinAction):
    action_name = "action_household_summary"

    def handle(self, dispatcher, tracker, actor, domain):
        return _staff_query(dispatcher, tracker, actor, "summary")


class ActionLogVisit(XiangyinAction):
    action_name = "action_log_visit"

    def handle(self, dispatcher, tracker, actor, domain):
        return _staff_query(dispatcher, tracker, actor, "visit")


class ValidatePinForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_pin_form"

    def validate_pin(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        actor = load_actor(tracker)
        with session_scope(write=True) as s:
            ok = verify_pin(s, actor, str(value or ""))
        if ok:
            return {"pin": "ok", "pin_verified": True}
        attempts = int(tracker.get_slot("pin_attempts") or 0) + 1
        if attempts >= MAX_PIN_ATTEMPTS:
            return {"pin": "failed", "pin_verified": False, "pin_attempts": attempts}
        dispatcher.utter_message(text="密码不对，请再说一遍。")
        return {"pin": None, "pin_attempts": attempts}


class ActionResumeAfterPin(XiangyinAction):
    """The PIN form is done: answer the question that was asked before it, or refuse."""

    action_name = "action_resume_after_pin"

    def handle(self, dispatcher, tracker, actor, domain):
        pending = tracker.get_slot("pending_query")
        events = [SlotSet("pin", None), SlotSet("pending_query", None)]
        if not tracker.get_slot("pin_verified"):
            dispatcher.utter_message(text="密码不对，户里的信息不能读。请找村委会重置密码。")
            return events
        if not pending:
            dispatcher.utter_message(text="确认好了。您要查哪一户？")
            return events
        return events + answer_query(dispatcher, actor, Query(**pending))


@pending_handler("visit")
def confirm_visit(dispatcher, tracker, actor, pending):
    with session_scope(write=True) as s:
        households.log_visit(s, actor, int(pending["household_id"]), pending["note"])
    dispatcher.utter_message(text="走访记好了。")
    if households.reports_problem(pending["note"]):
        return propose_write(dispatcher, "visit_grievance",
                             f"记录里提到“{pending['note']}”。要我帮{pending['head']}家反映这个问题，",
                             household_id=pending["household_id"], note=pending["note"])
    return []


@pending_handler("visit_grievance")
def confirm_visit_grievance(dispatcher, tracker, actor, pending):
    with session_scope(write=True) as s:
        g = grievances.file(s, actor, grievances.infer_category(pending["note"]) or "其他", pending["note"],
                            household_id=int(pending["household_id"]))
    dispatcher.utter_message(text=f"已经帮他们反映了，编号是{g.ticket_no}。")
    return []
