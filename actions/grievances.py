"""Grievances: the filing form (prefilled from the first sentence, read back, correctable),
duplicate detection, submission and status queries."""
from __future__ import annotations

import re
from typing import Any, Dict, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import SlotSet

from actions.common import XiangyinAction, entity, latest_text, pending_handler, propose_write, read_list
from bot import grievances
from bot.db import session_scope
from bot.grievances import CATEGORIES, FIRST_RESPONSE_HOURS, infer_category
from bot.models import Household

FORM_SLOTS = ["grievance_description", "grievance_category", "grievance_place", "grievance_urgency",
              "grievance_anonymous", "grievance_confirmed", "grievance_duplicate"]
URGENT_WORDS = ("着火", "危险", "马上", "赶紧", "很急", "紧急", "塌了", "漏电")
GENERIC_REQUESTS = ("反映", "投诉", "举报", "诉求", "问题", "报告")


def _urgency_from(text: str) -> str | None:
    if "不急" in text or "不着急" in text:
        return "一般"
    if any(word in text for word in URGENT_WORDS) or text in ("急", "急的"):
        return "紧急"
    return None


def _readback(tracker: Tracker) -> str:
    anonymous = "对邻居保密" if tracker.get_slot("grievance_anonymous") else "不用保密"
    urgency = "比较急" if tracker.get_slot("grievance_urgency") == "紧急" else "不算急"
    return (f"我念一遍：{tracker.get_slot('grievance_place')}，{tracker.get_slot('grievance_description')}，"
            f"属于{tracker.get_slot('grievance_category')}，{urgency}，{anonymous}。")


class ActionStartGrievance(XiangyinAction):
    """Prefill what the first sentence already says: '村口路灯坏了三天了' gives the
    description, the category (道路交通) and the place (村口)."""

    action_name = "action_start_grievance"

    def handle(self, dispatcher, tracker, actor, domain):
        text = latest_text(tracker)
        category = entity(tracker, "category") or infer_category(text)
        content = re.sub(r"^(我要|俺要|我想|俺想|帮我|给我)?(反映|投诉|举报|报告)(一下|个)?(问题|事儿|事)?", "", text).strip()
        has_content = len(content) >= 4 and not (category is None and any(w in content for w in GENERIC_REQUESTS)
                                                 and len(content) < 8)
        place = entity(tracker, "place")
        if not place and actor.household_id and has_content:
            with session_scope() as s:
                place = s.get(Household, actor.household_id).address
        events = [SlotSet(slot, None) for slot in FORM_SLOTS]
        events += [
            SlotSet("grievance_description", content if has_content else None),
            SlotSet("grievance_category", category if category in CATEGORIES else None),
            SlotSet("grievance_place", place),
            SlotSet("grievance_urgency", entity(tracker, "urgency") or _urgency_from(text) or "一般"),
        ]
        return events


class ValidateGrievanceForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_grievance_form"

    def validate_grievance_description(self, value, dispatcher, tracker, domain):
        text = str(value or "").strip()
        if len(text) < 2:
            dispatcher.utter_message(text="请再说具体一点，是什么问题？")
            return {"grievance_description": None}
        events: Dict[str, Any] = {"grievance_description": text[:500]}
        if not tracker.get_slot("grievance_category"):
            category = infer_category(text)
            if category:
                events["grievance_category"] = category
        return events

    def validate_grievance_category(self, value, dispatcher, tracker, domain):
        text = str(value or "")
        if text in CATEGORIES:
            return {"grievance_category": text}
        return {"grievance_category": infer_category(text) or "其他"}

    def validate_grievance_place(self, value, dispatcher, tracker, domain):
        place = re.sub(r"^(在|就在|地点是|地方是)", "", str(value or "")).strip()
        if not place:
            dispatcher.utter_message(text="请说一下问题在什么地方。")
            return {"grievance_place": None}
        return {"grievance_place": place[:100]}

    def validate_grievance_urgency(self, value, dispatcher, tracker, domain):
        return {"grievance_urgency": "紧急" if str(value) == "紧急" else (_urgency_from(str(value)) or "一般")}

    def validate_grievance_anonymous(self, value, dispatcher, tracker, domain):
        if isinstance(value, bool):
            return {"grievance_anonymous": value}
        text = str(value or "")
        if "不" in text:
            return {"grievance_anonymous": False}
        if "要" in text or "保密" in text or "匿名" in text:
            return {"grievance_anonymous": True}
        dispatcher.utter_message(text="要保密就说“要”，不用就说“不要”。")
        return {"grievance_anonymous": None}

    def validate_grievance_confirmed(self, value, dispatcher, tracker, domain):
        intent = tracker.latest_message.get("intent", {}).get("name")
        text = latest_text(tracker)
        duplicate = tracker.get_slot("grievance_duplicate")
        if duplicate and duplicate.startswith("offer:"):
            if intent == "affirm":
                return {"grievance_confirmed": True, "grievance_duplicate": "join:" + duplicate[6:]}
            return {"grievance_confirmed": None, "grievance_duplicate": "declined"}
        if intent == "affirm":
            return {"grievance_confirmed": True}
        corrections: Dict[str, Any] = {}
        # The answer to "哪里不对", or a correction said with the "不对": an explicit field
        # name wins; otherwise the recognised entities; otherwise the text is the new content.
        fixed = re.sub(r"^(不对|不是|错了)[，,\s]*", "", text)
        if re.match(r"^(地点|地方|位置|在)", fixed):
            corrections["grievance_place"] = re.sub(r"^(地点|地方|位置)(是|在)?|^在", "", fixed).strip()
        elif re.match(r"^(类别|类型|分类)", fixed):
            category = re.sub(r"^(类别|类型|分类)(是|算)?", "", fixed).strip()
            corrections["grievance_category"] = category if category in CATEGORIES else (
                infer_category(category) or "其他")
        elif re.match(r"^(内容|事情|问题)", fixed):
            corrections["grievance_description"] = re.sub(r"^(内容|事情|问题)(是)?", "", fixed).strip()
        else:
            place, category, urgency = entity(tracker, "place"), entity(tracker, "category"), entity(tracker, "urgency")
            if place:
                corrections["grievance_place"] = place
            if category in CATEGORIES:
                corrections["grievance_category"] = category
            if urgency in ("紧急", "一般"):
                corrections["grievance_urgency"] = urgency
            if not corrections and intent != "deny" and fixed:
                if fixed in CATEGORIES:
                    corrections["grievance_category"] = fixed
                elif _urgency_from(fixed):
                    corrections["grievance_urgency"] = _urgency_from(fixed)
                elif len(fixed) >= 2:
                    corrections["grievance_description"] = fixed
        if not corrections:
            dispatcher.utter_message(text="哪里不对？直接说对的就行，比如“地点是小学门口”。")
        return {"grievance_confirmed": None, **corrections}


class ActionAskGrievanceConfirmed(XiangyinAction):
    """Before saving: offer an existing open ticket that covers the same problem, else read back."""

    action_name = "action_ask_grievance_confirmed"

    def handle(self, dispatcher, tracker, actor, domain):
        if tracker.get_slot("grievance_duplicate") is None:
            with session_scope() as s:
                found = grievances.find_duplicates(
                    s, actor.village_id, tracker.get_slot("grievance_category"),
                    tracker.get_slot("grievance_description"), tracker.get_slot("grievance_place") or "")
                if found:
                    g = found[0]
                    dispatcher.utter_message(
                        text=f"已经有人反映过类似的事：{g.ticket_no}号，{g.place}，{g.description}，"
                             f"现在{grievances.view(s, g).state_name}。您要跟着这件一起办吗？要就说“对”。")
                    return [SlotSet("grievance_duplicate", f"offer:{g.ticket_no}")]
        dispatcher.utter_message(text=f"{_readback(tracker)}对吗？对就说“对”，不对就说“不对”。")
        return []


class ActionSubmitGrievance(XiangyinAction):
    action_name = "action_submit_grievance"

    def handle(self, dispatcher, tracker, actor, domain):
        if not tracker.get_slot("grievance_confirmed"):
            dispatcher.utter_message(text="好的，这件事先不记了。")
            return [SlotSet(slot, None) for slot in FORM_SLOTS]
        duplicate = tracker.get_slot("grievance_duplicate") or ""
        with session_scope(write=True) as s:
            if duplicate.startswith("join:"):
                g = grievances.join(s, actor, duplicate[5:])
                reply = f"好的，已经把您的意见加到{g.ticket_no}号里，一起办。"
            else:
                g = grievances.file(
                    s, actor, tracker.get_slot("grievance_category"), tracker.get_slot("grievance_description"),
                    tracker.get_slot("grievance_place") or "", tracker.get_slot("grievance_urgency") or "一般",
                    bool(tracker.get_slot("grievance_anonymous")))
                who = g.assignee.display_name if g.assignee else "村委会"
                reply = (f"记下了，编号是{g.ticket_no}。{who}会在{FIRST_RESPONSE_HOURS[g.urgency]}个小时内"
                         f"联系您。")
        # Reply only after the commit: an acknowledged grievance is durable.
        dispatcher.utter_message(text=reply)
        return [SlotSet(slot, None) for slot in FORM_SLOTS] + [SlotSet("ticket", g.ticket_no)]


class ActionGrievanceStatus(XiangyinAction):
    action_name = "action_grievance_status"

    def handle(self, dispatcher, tracker, actor, domain):
        text = latest_text(tracker)
        ticket = entity(tracker, "ticket")
        match = re.search(r"\d{6}", text)
        if not ticket and match:
            ticket = match.group()
        with session_scope() as s:
            try:
                views = grievances.status(s, actor, ticket)
            except grievances.TicketNotFound:
                dispatcher.utter_message(text=f"没查到{ticket}号，请再核对一下编号。")
                return []
        if not views:
            dispatcher.utter_message(text="您还没有反映过问题。要反映的话，直接说遇到了什么事。")
            return []
        if ticket or "上次" in text or "那件" in text or len(views) == 1:
            v = views[0]
            note = f"最新情况：{v.last_note}。" if v.last_note else ""
            who = f"由{v.assignee}负责。" if v.assignee and v.state.value not in ("resolved", "followed_up") else ""
            dispatcher.utter_message(text=f"{v.ticket_no}号，{v.description}，现在{v.state_name}。{who}{note}")
            return [SlotSet("ticket", v.ticket_no)]
        open_views = [v for v in views if v.state.value in ("accepted", "in_progress", "escalated")]
        return read_list(dispatcher, f"您有{len(open_views)}件还在办：" if open_views else "您反映的事都办完了：",
                         [f"{v.ticket_no}号{v.description}，{v.state_name}" for v in (open_views or views)])


# Staff work the queue by voice: "260101办结了 路灯已经换好了". Checked in order.
STAFF_VERBS = [
    ("reject", ("不受理", "退回", "驳回", "打回", "退了")),
    ("escalate", ("上报", "报上去", "报给", "转给", "转到", "往上报")),
    ("resolve", ("办结", "办好", "办完", "处理完", "处理好", "搞定", "完事", "修好")),
    ("note", ("进展", "备注", "更新", "补充", "进度", "情况")),
    ("accept", ("受理", "接了", "接手", "我来办", "接单", "开始办")),
]
STAFF_VERB_NAMES = {"accept": "开始办理", "note": "记一条进展", "resolve": "办结", "escalate": "上报",
                    "reject": "退回"}
STAFF_ONLY = "这个只有网格员和村干部能办。"


def parse_staff_command(text: str) -> tuple[str | None, str]:
    """'260101办结了 路灯已经换好了' → ('resolve', '路灯已经换好了')."""
    for action, verbs in STAFF_VERBS:
        for verb in verbs:
            if verb in text:
                note = text.split(verb, 1)[1]
                note = re.sub(r"^[了吧一下\s，,。:：]*", "", note)
                note = re.sub(r"\d{6}号?", "", note).strip(" ，,。")
                return action, note
    return None, ""


class ActionMyQueue(XiangyinAction):
    action_name = "action_my_queue"

    def handle(self, dispatcher, tracker, actor, domain):
        if not actor.is_staff:
            dispatcher.utter_message(text=STAFF_ONLY)
            return []
        with session_scope() as s:
            queue = grievances.open_queue(s, actor)
        if not queue:
            dispatcher.utter_message(text="您手上没有待办的诉求。")
            return []
        return read_list(dispatcher, f"一共{len(queue)}件：",
                         [f"{v.ticket_no}号，{v.place}，{v.description}，{v.state_name}" for v in queue])


class ActionHandleGrievance(XiangyinAction):
    action_name = "action_handle_grievance"

    def handle(self, dispatcher, tracker, actor, domain):
        if not actor.is_staff:
            dispatcher.utter_message(text=STAFF_ONLY)
            return []
        text = latest_text(tracker)
        ticket = entity(tracker, "ticket") or (re.search(r"\d{6}", text) or [None])[0]
        action, note = parse_staff_command(text)
        if not ticket or not action:
            dispatcher.utter_message(text="请说编号和要做的事，比如“260101办结了，路灯换好了”。")
            return []
        if action in ("resolve", "reject") and not note:
            dispatcher.utter_message(text="请把结果或者原因也说一下。")
            return []
        with session_scope() as s:
            try:
                g = grievances.get_by_ticket(s, ticket)
            except grievances.TicketNotFound:
                dispatcher.utter_message(text=f"没查到{ticket}号，请再核对一下编号。")
                return []
            description = g.description
        detail = f"，{note}" if note else ""
        return propose_write(dispatcher, "grievance_transition",
                             f"把{ticket}号“{description}”{STAFF_VERB_NAMES[action]}{detail}。",
                             ticket=ticket, action=action, note=note)


@pending_handler("grievance_transition")
def confirm_transition(dispatcher, tracker, actor, pending):
    try:
        with session_scope(write=True) as s:
            g = grievances.transition(s, actor, pending["ticket"], pending["action"], pending["note"])
            state = grievances.view(s, g).state_name
    except grievances.InvalidTransition:
        dispatcher.utter_message(text="这件诉求现在的状态不能这么办。")
        return []
    dispatcher.utter_message(text=f"好了，{pending['ticket']}号现在{state}，已经通知反映人。")
    return []
