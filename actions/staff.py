"""Staff in the field: household lists, visits due, points awarded by rule, emergencies
queried and acknowledged.

Grid workers and village officials talk to the assistant while they walk the village:

- **lists** ("我网格里的连心户有哪些", "三组独居的老人都有谁", "这周该去谁家走访"), three at a
  time, of the households they may see (audited by the domain layer: ``bot/households.py``,
  visits due from the care schedule in ``bot/care.py``);
- **points awards** ("给8号户加5分，义务清扫"): the rule decides the points, the award is read
  back and booked on the yes by the same domain function the CLI uses (``bot.points.award``),
  idempotent by the pending write's key;
- **emergencies**: "今天有没有紧急求助" lists them (a query, it never raises one), "收到，我这就
  过去" acknowledges the newest alert open for them.

On a voice device, lists, awards and emergency lists wait for the spoken PIN like every other
household read (``actions/households.py``); acknowledging an alert does not.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from rasa_sdk.events import EventType, FollowupAction, SlotSet

from actions import parsing, phrases, slots
from actions.common import Turn, XiangyinAction
from actions.households import ANSWERS, AWARD, Query, refers_back, staff_query
from actions.pending import PendingWrite, propose_write, read_list
from actions.point_rules import match_rule
from bot import care, emergency, households, points
from bot.clock import day_start_utc, local_date, to_local
from bot.models import CARE_COLOUR_NAMES, EMERGENCY_STATE_NAMES, CareColour, EmergencyState, Role, User, \
    utcnow
from bot.text import LIVING_ALONE, NUMERAL_CHARS, number_to_chinese, parse_number

logger = logging.getLogger(__name__)

LIST, EMERGENCIES = "list", "emergencies"

# --- what was asked for: lists ---------------------------------------------------------------

# Colour words, the specific ones first: "关心"/"放心" alone are everyday words, "连心" is not.
_COLOUR_WORDS: Tuple[Tuple[CareColour, Tuple[str, ...]], ...] = (
    (CareColour.red, ("连心", "联心", "莲心", "红色", "红户", "红的", "红牌")),
    (CareColour.yellow, ("关心户", "黄色", "黄户", "黄的", "黄牌")),
    (CareColour.green, ("放心户", "绿色", "绿户", "绿的", "绿牌")),
)
_GROUP = re.compile(rf"(?<!哪)([{NUMERAL_CHARS}\d]{{1,2}})组")  # "哪一组" asks which
_AREA = re.compile(rf"第([{NUMERAL_CHARS}\d]{{1,2}})网格")
#: Living alone, and the kinds of person who do (孤寡, 孤老, 光杆).
_ALONE = re.compile(rf"{LIVING_ALONE}|孤寡|孤老|单身老|孤身|光杆")
_EMPTY_NEST = re.compile(r"空巢")
_MIN_AGE = re.compile(rf"([{NUMERAL_CHARS}\d]{{2,4}})(?:周)?岁(?:以上|往上|及以上|多|出头)|([{NUMERAL_CHARS}\d]{{2,4}})多岁")
_ELDERLY = re.compile(r"老人|老年|老头|老太|高龄")
_DUE = re.compile(r"该(先)?(去|走访|看|上门|跑|上|到|转|串)|要(去|走访|上门)|走访|好久没去|没去|多久没|超期|逾期|到期|该轮到"
                  r"|(去|上|到)谁家|转转|转一转|串门|串串"
                  # "I must go first to which homes" ("这个礼拜我得先上哪几家去看看")
                  r"|得(先)?(去|走访|看|上门|跑|上|到|转)|(去|上|到|往|朝)(哪|哪几|哪些|哪一)(家|户)")
_TOMORROW = re.compile(r"明天|明儿")
_WEEK = re.compile(r"这周|本周|这礼拜|这个礼拜|这星期|这个星期|这几天|一周|这一周|礼拜天前|周末前")


@dataclass(frozen=True)
class ListRequest:
    """A staff list as asked for: which households, or which visits are due by when."""

    wanted: households.HouseholdFilter
    due: Optional[str] = None  # None: a list; "today" | "tomorrow" | "week": visits due by then

    def due_by(self, today: dt.date) -> dt.date:
        if self.due == "tomorrow":
            return today + dt.timedelta(days=1)
        if self.due == "week":
            return today + dt.timedelta(days=6 - today.weekday())  # up to Sunday
        return today


def _numeral(text: str) -> Optional[int]:
    return parse_number(text)


def colour_in(text: str) -> Optional[CareColour]:
    for colour, words in _COLOUR_WORDS:
        if any(word in text for word in words):
            return colour
    return None


def group_in(text: str) -> Optional[str]:
    """'三组' / '3组' → '三组'; '第一网格' → '第一网格' (a grid by its name)."""
    area = _AREA.search(text)
    if area and _numeral(area.group(1)):
        return f"第{number_to_chinese(_numeral(area.group(1)))}网格"
    group = _GROUP.search(text)
    if group and _numeral(group.group(1)):
        return f"{number_to_chinese(_numeral(group.group(1)))}组"
    return None


def list_request(text: str) -> ListRequest:
    """What a staff list asks for: '三组独居的老人都有谁' → group 三组, living alone."""
    text = text or ""
    alone = bool(_ALONE.search(text))
    empty_nest = bool(_EMPTY_NEST.search(text)) and not alone
    age = _MIN_AGE.search(text)
    min_age = _numeral(age.group(1) or age.group(2)) if age else None
    if min_age is None and not (alone or empty_nest) and _ELDERLY.search(text):
        min_age = 80 if "高龄" in text else households.ELDERLY_AGE
    wanted = households.HouseholdFilter(colour=colour_in(text), group=group_in(text), living_alone=alone,
                                        elderly_only=empty_nest, min_age=min_age)
    due = None
    if _DUE.search(text):
        due = "week" if _WEEK.search(text) else "tomorrow" if _TOMORROW.search(text) else "today"
    return ListRequest(wanted, due)


def describe(wanted: households.HouseholdFilter, actor_role: Optional[Role]) -> str:
    """How the list is named in the answer ('{what}有3户'): '三组的独居老人', '您网格里的红色连心户',
    '四组有老人的人家'."""
    scope = wanted.group or ("全村" if actor_role == Role.admin else "您网格里")
    colour = CARE_COLOUR_NAMES[wanted.colour] if wanted.colour is not None else ""
    if wanted.living_alone or wanted.elderly_only:
        who = "独居老人" if wanted.living_alone else "空巢老人"
        return f"{scope}的{colour}里的{who}" if colour else f"{scope}的{who}"
    if wanted.min_age:
        old = "老人" if wanted.min_age == households.ELDERLY_AGE else f"{wanted.min_age}岁以上老人"
        return f"{scope}的{colour}里有{old}的人家" if colour else f"{scope}有{old}的人家"
    return f"{scope}的{colour or '住户'}"


def _list_detail(line: households.HouseholdLine, wanted: households.HouseholdFilter) -> str:
    if (wanted.living_alone or wanted.elderly_only or wanted.min_age) and line.oldest_age is not None:
        return f"{line.oldest_age}岁" + (f"，{line.colour_name}" if wanted.colour is None else "")
    if wanted.colour is not None:
        return line.care_reason
    return line.colour_name


# --- what was asked for: awards --------------------------------------------------------------

_HOUSE_NO = re.compile(rf"([{NUMERAL_CHARS}\d]{{1,4}})号")
#: A penalty asked for by its verb ("按规矩扣", "得罚"): the penalties are the rules to hear.
_PENALTY_WORD = re.compile(r"扣|罚|减分")
_NAMED = re.compile(r"(?:给|帮|替|为)([\u4e00-\u9fa5]{2,3}?)(?:家|户|大娘|大爷|奶奶|爷爷|婶|叔|老人)")
_NAMED_LOOSE = re.compile(r"([\u4e00-\u9fa5]{2,3})家")
# Words of the request itself, removed before deciding whether a reason was said at all.
_REQUEST_WORDS = re.compile(r"给|帮|替|为|号户|号|户|家|加分|记分|扣分|加|扣|记|分|上|了|吧|一下|的|他|她|们|这|那|个|请|麻烦"
                            rf"|[{NUMERAL_CHARS}\d]|[\s，,。.!！?？、：:]")

@dataclass(frozen=True)
class AwardRequest:
    """'给8号户加5分，义务清扫' → number 8, points +5, the words that name the rule."""

    name: Optional[str]
    number: Optional[str]
    points: Optional[int]  # as said, signed (扣 → negative); None when not said
    sign_said: bool  # 加/扣 said (a bare 记/给 5分 says how many, not which way)
    quantity: Optional[int]
    reason_said: bool  # anything besides the household and the points

    @property
    def household_named(self) -> bool:
        return bool(self.name or self.number)


def award_request(text: str, person: Optional[str] = None, number: Optional[str] = None,
                  amount: Optional[str] = None) -> AwardRequest:
    """The parts of a staff award; ``person``/``number`` are the NLU's entities (or None)."""
    said_first = text or ""
    # A house number taken back in the same breath ("给46号加两分——哦不对，是47号", "四十六，哦不是，四十八号"):
    # the sentence as finally meant decides, over the model's entity.
    text = parsing.without_self_corrections(said_first)
    said = parsing.AWARDED_POINTS.search(text)
    value: Optional[int] = _numeral(said.group(2)) if said else None
    sign_said = bool(said) and said.group(1) in ("加", "扣", "减", "罚")
    if value is not None and said.group(1) in ("扣", "减", "罚"):
        value = -value
    houses = list(_HOUSE_NO.finditer(text))
    said_numbers = {_numeral(h.group(1)) for h in houses}
    if houses and (text != said_first or number is None or _numeral(str(number)) not in said_numbers):
        # the house number said with 号 wins over an entity the model took from elsewhere
        # ("吴金凤家送来二十个塑料瓶，三十九号": 二十个 is the bottles)
        number = houses[0].group(1)
    name = person
    if not name and not number:
        match = _NAMED.search(text) or _NAMED_LOOSE.search(text)
        name = match.group(1) if match else None
    quantity = parsing.delivered_quantity(text)
    if quantity is None and amount and value is None:
        quantity = _numeral(amount)
    rest = text
    for part in (said.group(0) if said else "", name or ""):
        rest = rest.replace(part, "") if part else rest
    rest = _REQUEST_WORDS.sub("", rest)
    return AwardRequest(name=name, number=str(number) if number is not None else None, points=value,
                        sign_said=sign_said, quantity=quantity, reason_said=len(rest) >= 2)




# --- lists -----------------------------------------------------------------------------------

def _today(turn: Turn) -> dt.date:
    return local_date(utcnow(), turn.settings.timezone)


def answer_list(turn: Turn, query: Query) -> List[EventType]:
    request = list_request(query.text)
    today = _today(turn)
    if request.due:
        return _answer_visits_due(turn, request, today)
    with turn.session(write=True) as s:
        lines = households.list_households(s, turn.actor, request.wanted, today=today)
    what = describe(request.wanted, turn.actor.role)
    if not lines:
        turn.say("utter_household_list_empty", what=what)
        return []
    items = [phrases.household_line(line.head, line.number, _list_detail(line, request.wanted)) for line in lines]
    events = read_list(turn, "utter_household_list", items, what=what, count=len(lines))
    if len(lines) == 1:
        events.append(SlotSet(slots.LAST_HOUSEHOLD, lines[0].household_id))
    return events


def _answer_visits_due(turn: Turn, request: ListRequest, today: dt.date) -> List[EventType]:
    by = request.due_by(today)
    when = {"today": "今天", "tomorrow": "明天", "week": "这周"}[request.due or "today"]
    with turn.session(write=True) as s:
        due = care.visits_due(s, turn.actor, on=by, tz=turn.settings.timezone)
    if request.wanted.colour is not None:
        due = [d for d in due if d.colour == request.wanted.colour]
    if not due:
        turn.say("utter_visits_none_due", when=when)
        return []
    items = [phrases.household_line(d.head, d.number,
                                    f"{d.colour_name}，{phrases.visit_status(d.last_visit, d.due_on, today)}")
             for d in due]
    events = read_list(turn, "utter_visits_due", items, when=when, count=len(due))
    if len(due) == 1:
        events.append(SlotSet(slots.LAST_HOUSEHOLD, due[0].household_id))
    return events


class ActionListHouseholds(XiangyinAction):
    """'我网格里的连心户有哪些' / '三组独居的老人都有谁' / '这周该去谁家走访'."""

    action_name = "action_list_households"

    def handle(self, turn: Turn) -> List[EventType]:
        from actions.policy import alerts_asked

        return alerts_asked(turn) or staff_query(turn, LIST)  # "我片里现在可有人家在呼救": the alerts


# --- points awards ------------------------------------------------------------------------------

def answer_award(turn: Turn, query: Query) -> List[EventType]:
    """Find the household and the rule, then read the award back (nothing is booked yet)."""
    # The NLU's house number must be said as one ("8号"): in "给她家加3分" the 3 is points.
    number = query.number if query.number and parsing.house_number_in(query.text) else None
    last = turn.slot(slots.LAST_HOUSEHOLD)
    back = bool(last) and refers_back(query.text) and not parsing.house_number_in(query.text)
    request = award_request(query.text, None if back else query.person, number, query.amount)
    if not (request.household_named or back):
        turn.say("utter_award_needs_household")
        return []
    with turn.session() as s:
        if back:  # "给她家加5分" right after a lookup: that household
            found = households.find_households(s, turn.actor, household_id=int(last))
        else:
            found = households.find_households(s, turn.actor, name=request.name, number=request.number)
        if not found:
            turn.say("utter_access_denied")  # the same answer as for "no such household"
            return []
        if len(found) > 1:
            options = phrases.series((phrases.household_option(i, h.grid.name, h.number)
                                      for i, h in enumerate(found[:3])), phrases.LIST_SEPARATOR)
            turn.say("utter_award_which_household", count=len(found), head=request.name or "",
                     options=options, number=found[0].number)
            return []
        household = found[0]
        head = next((r.name for r in household.residents if r.is_head), "")
        label = phrases.household_label(head, household.number)
        rules = points.rules(s, household.village_id)
        rule = match_rule(rules, query.text, query.activity)
        events: List[EventType] = [SlotSet(slots.LAST_HOUSEHOLD, household.id)]
        if rule is None:
            if request.reason_said:
                # a penalty asked for ("按规矩扣") hears the penalties, an award the awards
                penalty = (request.points or 0) < 0 or bool(_PENALTY_WORD.search(query.text))
                listed = [r for r in rules if (r.points < 0) == penalty] or list(rules)
                turn.say("utter_award_unknown_rule",
                         rules=phrases.series((phrases.rule_line(r.activity, r.points) for r in listed[:6])))
            else:
                turn.say("utter_award_needs_rule", household=label, number=household.number)
            return events
        quantity = None
        if getattr(rule, "by_quantity", False):
            if not request.quantity:
                turn.say("utter_award_needs_quantity", household=label, rule=rule.activity, unit=rule.unit or "")
                return events
            quantity = request.quantity
            worth = points.points_for_quantity(rule, quantity).points
            if worth == 0:
                turn.say("utter_award_too_little", rule=rule.activity, per=rule.per_quantity, unit=rule.unit,
                         points=rule.points)
                return events
            delta, what = worth, f"{rule.activity}{quantity}{rule.unit}"
        else:
            delta, what = rule.points, rule.activity
    said = request.points
    if quantity is None and said is not None and (said != delta if request.sign_said else abs(said) != abs(delta)):
        turn.say("utter_award_points_differ", rule=rule.activity, rule_points=phrases.signed_points(delta),
                 said=f"{abs(said)}分")
    data = {"household_id": household.id, "head": head, "number": household.number, "rule": rule.name,
            "what": what, "points": delta, "quantity": quantity, "text": query.text}
    return events + propose_write(turn, slots.WRITE_AWARD, data, "utter_confirm_award", household=label,
                                  points=phrases.award_points(delta), what=what)


class ActionAwardPoints(XiangyinAction):
    """'给8号户加5分，义务清扫': staff only; read back, booked on the yes."""

    action_name = "action_award_points"

    def handle(self, turn: Turn) -> List[EventType]:
        if not turn.actor.is_staff:
            if parsing.asks_question(turn.text):  # "烧秸秆要扣多少分": a question about the rules
                from actions.points import answer_rules

                return answer_rules(turn)
            if parsing.reports_problem(turn.text) or parsing.tells_penalty(turn.text):
                # "25号又把垃圾往河沟里倒，这回得扣" from a villager: a problem to report, read back
                return [FollowupAction("action_start_grievance")]
            turn.say("utter_staff_only_award")
            return []
        return staff_query(turn, AWARD)


def confirm_award(turn: Turn, pending: PendingWrite) -> List[EventType]:
    """对 after an award's read-back: booked once under the pending write's key (a retried yes
    replays the same entry), by the domain function the CLI uses."""
    household_id = int(pending["household_id"])
    label = phrases.household_label(pending.get("head") or "", int(pending["number"]))
    try:
        with turn.session(write=True) as s:
            if pending.get("quantity"):
                booked = points.award_by_quantity(s, turn.actor, household_id, pending["rule"], pending["quantity"],
                                                  pending["key"])
                delta = booked.points
            else:
                delta = points.award(s, turn.actor, household_id, pending["rule"], "", pending["key"]).delta
            balance = points.balance_of(s, household_id)
    except points.InsufficientPoints as exc:
        turn.say("utter_award_insufficient", household=label, balance=exc.balance, points=exc.needed)
        return []
    except points.UnknownRule:
        turn.say("utter_award_unknown_rule", rules=pending.get("rule") or "")
        return []
    turn.say("utter_points_deducted" if delta < 0 else "utter_points_awarded", household=label,
             points=phrases.award_points(delta), what=pending["what"], balance=balance)
    return [SlotSet(slots.LAST_HOUSEHOLD, household_id)]


def correct_award(turn: Turn, pending: PendingWrite, reply: str) -> Optional[List[EventType]]:
    """"不对，是13号" or "不对，是照顾老人" at an award's read-back: the award read back again for
    the household or the deed the correction names (nothing is booked; the new read-back waits
    for its own yes). None when the reply names neither another household nor another rule."""
    corrected = parsing.strip_negation(reply)
    said = parsing.house_number_in(corrected)
    number = parsing.parse_quantity(said) if said else None
    if not pending.get("text"):
        return None
    if number is not None and str(number) != str(pending.get("number")):
        turn.say("utter_award_corrected", number=number)
        text = _HOUSE_NO.sub(f"{number}号", pending["text"], count=1)  # the request as corrected
        return answer_award(turn, Query(AWARD, text, None, str(number), None, None))
    with turn.session() as s:
        rule = match_rule(points.rules(s, turn.actor.village_id), corrected)
    if rule is None or rule.name == pending.get("rule"):
        return None
    turn.say("utter_award_reason_corrected", rule=rule.activity)
    house = str(pending["number"])
    return answer_award(turn, Query(AWARD, f"给{house}号加分，{corrected}", None, house, None, None))


# --- emergencies ------------------------------------------------------------------------------

def _caller(event) -> str:
    household = event.household
    if household is None:
        return phrases.UNLINKED_CALLER
    head = next((r.name for r in household.residents if r.is_head), "")
    return phrases.household_label(head, household.number)


def answer_emergencies(turn: Turn, query: Query) -> List[EventType]:
    """Open emergencies the staff member may respond to, and today's: a query, never an alarm."""
    tz = turn.settings.timezone
    today = _today(turn)
    with turn.session(write=True) as s:
        rows = emergency.staff_overview(s, turn.actor, since=day_start_utc(today, tz))
        items = []
        for event in rows:
            state = EMERGENCY_STATE_NAMES[event.state]
            if event.state is EmergencyState.acknowledged and event.acknowledged_by:
                responder = s.get(User, event.acknowledged_by)
                state = f"{responder.display_name}已经响应" if responder else state
            items.append(f"{_caller(event)}，{phrases.clock_time(to_local(event.at, tz), today)}，"
                         f"说“{event.text[:20]}”，{state}")
    if not items:
        turn.say("utter_no_emergencies")
        return []
    return read_list(turn, "utter_emergencies", items, count=len(items))


class ActionQueryEmergencies(XiangyinAction):
    """'今天有没有紧急求助' / '有没有人喊救命' from staff: a list. From anybody else it is no
    query: words of an emergency raise the alarm, anything else is told who can look."""

    action_name = "action_query_emergencies"

    def handle(self, turn: Turn) -> List[EventType]:
        if not turn.actor.is_staff:
            if emergency.is_emergency(turn.text):
                return raise_alarm_instead(turn)
            turn.say("utter_staff_only_emergencies")
            return []
        return staff_query(turn, EMERGENCIES)


def raise_alarm_instead(turn: Turn) -> List[EventType]:
    """A villager's words of an emergency are never a query (the turn pipeline routes them to the
    emergency action before the model; this is the same answer should the model ever see them)."""
    turn.say("utter_emergency")
    try:
        with turn.session(write=True) as s:
            emergency.raise_alarm(s, turn.actor, turn.text)
    except Exception:  # noqa: BLE001 - the person may be in danger: they get a sentence, the log the trace
        logger.exception("emergency alarm failed for %s", turn.tracker.sender_id)
        turn.say("utter_emergency_alarm_failed")
    return []


class ActionAckEmergency(XiangyinAction):
    """'收到，我这就过去' / '我去处理': when an alert is open for this person (the newest they
    were alerted about, else the newest in their grids), they take charge of it. Nothing is read
    back: acknowledging is not a write that waits for a yes. Otherwise it is just '好的'."""

    action_name = "action_ack_emergency"

    def handle(self, turn: Turn) -> List[EventType]:
        events = acknowledge_open_alert(turn)
        if events is None:
            turn.say("utter_ok")
            return []
        return events


def acknowledge_open_alert(turn: Turn) -> Optional[List[EventType]]:
    """Acknowledge the alert open for the speaker and say so; None when none is open."""
    actor = turn.actor
    if actor.user_id is None:
        return None
    with turn.session(write=True) as s:
        event = emergency.pending_alert_for(s, actor)
        if event is None:
            waiting = [e for e in emergency.active_emergencies(s, actor) if e.acknowledged_at is None]
            event = max(waiting, key=lambda e: (e.at, e.id)) if waiting else None
        if event is None:
            return None
        event = emergency.acknowledge(s, actor, event.id)
        who = _caller(event)
        household_id = event.household_id
        if event.acknowledged_by not in (None, actor.user_id):
            other = s.get(User, event.acknowledged_by)
            turn.say("utter_emergency_taken_by_other", who=who, name=other.display_name if other else "别人")
        else:
            turn.say("utter_emergency_acknowledged", who=who)
    return [SlotSet(slots.LAST_HOUSEHOLD, household_id)] if household_id else []


#: Staff question kinds answered here once the asker is known (after the PIN on a voice device).
ANSWERS.update({LIST: answer_list, AWARD: answer_award, EMERGENCIES: answer_emergencies})

