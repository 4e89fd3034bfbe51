"""Household lookup and visit logs for grid workers."""
from __future__ import annotations

import re

from rasa_sdk.events import SlotSet

from actions.common import DENIED_REPLY, XiangyinAction, entity, latest_text, pending_handler, propose_write
from bot import grievances, households
from bot.db import session_scope
from bot.identity import Actor

STAFF_ONLY = "这个只有网格员和村干部能查。"


def _lookup(s, actor: Actor, tracker):
    text = latest_text(tracker)
    name = entity(tracker, "person")
    number = entity(tracker, "household_no")
    if not number:
        match = re.search(r"(\d+|[一二两三四五六七八九十百]+)号", text)
        number = match.group(1) if match else None
    group = re.search(r"([一二三四五六])组", text)
    if not name and not number:
        match = re.search(r"(?:查一下|查查|看看|记录走访|走访了?|去了)?\s*([\u4e00-\u9fa5]{2,3})家", text)
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
        lines.append("还有些情况不方便说出来，请在电报或工作台里看。" if voice
                     else f"注意（内部信息）：{summary.sensitive_note}")
    return lines


def summarise_for(dispatcher, actor: Actor, household_id: int):
    with session_scope(write=True) as s:
        summary = households.summarise(s, actor, household_id)
    for line in _spoken_summary(summary, actor.channel == "voice"):
        dispatcher.utter_message(text=line)
    return [SlotSet("choices", None), SlotSet("choice_kind", None)]


def _ask_which(dispatcher, s, found):
    options = found[:3]
    listing = "；".join(f"{'一二三'[i]}是{h.grid.name}{h.number}号" for i, h in enumerate(options))
    head = next((r.name for r in options[0].residents if r.is_head), "")
    dispatcher.utter_message(text=f"有{len(found)}户叫{head}：{listing}。您问第几户？")
    return [SlotSet("choices", [h.id for h in options]), SlotSet("choice_kind", "household")]


class ActionHouseholdSummary(XiangyinAction):
    action_name = "action_household_summary"

    def handle(self, dispatcher, tracker, actor, domain):
        if not actor.is_staff:
            dispatcher.utter_message(text=STAFF_ONLY)
            return []
        with session_scope() as s:
            found = _lookup(s, actor, tracker)
            if found is None:
                dispatcher.utter_message(text="您要查哪一户？说户主名字或者门牌号就行。")
                return []
            if not found:
                dispatcher.utter_message(text=DENIED_REPLY)
                return []
            if len(found) > 1:
                return _ask_which(dispatcher, s, found)
            household_id = found[0].id
        return summarise_for(dispatcher, actor, household_id)


class ActionLogVisit(XiangyinAction):
    action_name = "action_log_visit"

    def handle(self, dispatcher, tracker, actor, domain):
        if not actor.is_staff:
            dispatcher.utter_message(text=STAFF_ONLY)
            return []
        text = latest_text(tracker)
        with session_scope() as s:
            found = _lookup(s, actor, tracker)
            if not found:
                dispatcher.utter_message(text="记录哪一户的走访？请说户主名字，再说情况。")
                return []
            if len(found) > 1:
                return _ask_which(dispatcher, s, found)
            household = found[0]
            head = next((r.name for r in household.residents if r.is_head), "")
        note = text
        for marker in (f"{head}家", head):
            if marker and marker in text:
                note = text.split(marker, 1)[1]
                break
        note = re.sub(r"^[\s，,。]*|记一下$|记下来$", "", note).strip() or "情况正常"
        return propose_write(dispatcher, "visit", f"给{head}家记一条走访：{note}。",
                             household_id=household.id, head=head, note=note)


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
