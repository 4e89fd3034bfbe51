"""Starting a report (the grievance form) from what was already said: the form's slots
prefilled from a sentence, for a report asked for directly (actions/grievances.py), after an
offer to report (actions/basics.py) or together with the pick of a clarifying question
(actions/policy.py)."""
from __future__ import annotations

from typing import List, Optional

from rasa_sdk.events import EventType, FollowupAction, SlotSet

from actions import parsing, slots
from actions.common import Turn, forget
from actions.pending import PendingWrite
from bot.grievances import CATEGORIES, infer_category
from bot.models import Household


def prefill_from(turn: Turn, text: str, category: Optional[str] = None, place: Optional[str] = None,
                 urgency: Optional[str] = None) -> List[EventType]:
    """The grievance form's slots as far as ``text`` already says them (and the request itself,
    ``turn.text``, says about keeping the name private: "那你给报一下吧，名字不用保密"); when it
    tells the problem, the user hears that it is being reported (``utter_report_taking``)."""
    meant = parsing.without_false_start(text)
    if meant != text:  # "三组……不是，五组路口…": the group taken back is no place of the report
        text, place = meant, (place if place and place in meant else None)
    category = category or infer_category(text)
    content = parsing.strip_filing_request(text)
    has_content = parsing.describes_problem(content, category) and not parsing.only_asks_to_file(content)
    if not place and turn.actor.household_id and has_content:
        with turn.session() as s:
            place = s.get(Household, turn.actor.household_id).address
    urgency = urgency or parsing.urgency_in(text) or parsing.NORMAL
    if has_content:
        # the problem is told already: say that it is being reported before the form's first
        # question ("要不要对邻居保密您的名字？" alone does not say what it is for)
        turn.say("utter_report_taking")
    return forget(*slots.GRIEVANCE_FORM_SLOTS) + [
        SlotSet(slots.GRIEVANCE_DESCRIPTION, content if has_content else None),
        SlotSet(slots.GRIEVANCE_CATEGORY, category if category in CATEGORIES else None),
        SlotSet(slots.GRIEVANCE_PLACE, place),
        SlotSet(slots.GRIEVANCE_URGENCY, urgency),
        SlotSet(slots.GRIEVANCE_ANONYMOUS, parsing.anonymity_said(turn.text)),
    ]


def start_report(turn: Turn, pending: PendingWrite) -> List[EventType]:
    """The yes to "要帮您把这个问题报上去吗" (after a policy or points answer): the grievance form,
    prefilled from what was said."""
    return [*prefill_from(turn, pending["text"]), FollowupAction(slots.GRIEVANCE_FORM)]
