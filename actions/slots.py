"""Names the actions share with ``domain.yml``: slots, entities, forms and the small
vocabularies stored in slots. One constant per name; a test checks them against the domain.
"""
from __future__ import annotations

from typing import Final, Tuple

# --- slots -------------------------------------------------------------------------------
TOPIC: Final = "topic"
KB_ENTRY: Final = "kb_entry"
CHOICES: Final = "choices"
CHOICE_KIND: Final = "choice_kind"
TICKET: Final = "ticket"
ITEM: Final = "item"
NUMBER: Final = "number"
ACTIVITY: Final = "activity"
PERSON: Final = "person"
HOUSEHOLD_NO: Final = "household_no"
LAST_HOUSEHOLD: Final = "last_household"  # the household staff talked about last ("那他家几口人")
PENDING_WRITE: Final = "pending_write"
AWAITING_CONFIRMATION: Final = "awaiting_confirmation"
GRIEVANCE_DESCRIPTION: Final = "grievance_description"
GRIEVANCE_CATEGORY: Final = "grievance_category"
GRIEVANCE_PLACE: Final = "grievance_place"
GRIEVANCE_URGENCY: Final = "grievance_urgency"
GRIEVANCE_ANONYMOUS: Final = "grievance_anonymous"
GRIEVANCE_CONFIRMED: Final = "grievance_confirmed"
GRIEVANCE_DUPLICATE: Final = "grievance_duplicate"
#: True after a plain "不对" at the read-back, until the correction (or a yes, which hears the
#: read-back again: a yes to "哪里不对？" is no yes to the report).
GRIEVANCE_CORRECTING: Final = "grievance_correcting"
PIN: Final = "pin"
PIN_VERIFIED: Final = "pin_verified"
PIN_ATTEMPTS: Final = "pin_attempts"
PENDING_QUERY: Final = "pending_query"
REQUESTED_SLOT: Final = "requested_slot"  # Rasa's own, set by forms

#: The grievance form's slots, cleared together when a filing starts or ends.
GRIEVANCE_FORM_SLOTS: Final[Tuple[str, ...]] = (
    GRIEVANCE_DESCRIPTION, GRIEVANCE_CATEGORY, GRIEVANCE_PLACE, GRIEVANCE_URGENCY,
    GRIEVANCE_ANONYMOUS, GRIEVANCE_CONFIRMED, GRIEVANCE_DUPLICATE, GRIEVANCE_CORRECTING,
)

# --- entities (the NLU's names; synonyms are mapped before actions see them) ---------------
ENTITY_TOPIC: Final = "topic"
ENTITY_CATEGORY: Final = "category"
ENTITY_PLACE: Final = "place"
ENTITY_PERSON: Final = "person"
ENTITY_HOUSEHOLD_NO: Final = "household_no"
ENTITY_ITEM: Final = "item"
ENTITY_ACTIVITY: Final = "activity"
ENTITY_TICKET: Final = "ticket"
ENTITY_NUMBER: Final = "number"
ENTITY_URGENCY: Final = "urgency"

# --- forms -------------------------------------------------------------------------------
PIN_FORM: Final = "pin_form"
GRIEVANCE_FORM: Final = "grievance_form"

# --- intents the actions look at -----------------------------------------------------------
INTENT_AFFIRM: Final = "affirm"
INTENT_DENY: Final = "deny"

# --- values of the ``choice_kind`` slot: what the offered ``choices`` are ------------------
OFFERED_KB: Final = "kb"  # knowledge-base entry ids
OFFERED_HOUSEHOLD: Final = "household"  # household ids
OFFERED_SATISFACTION: Final = "satisfaction"  # 满意 / 基本满意 / 不满意 after a resolved grievance

# --- values of the ``grievance_duplicate`` slot ---------------------------------------------
DUPLICATE_OFFER: Final = "offer:"  # + ticket: asking whether to join that open ticket
DUPLICATE_JOIN: Final = "join:"  # + ticket: the user said yes
DUPLICATE_DECLINED: Final = "declined"

# --- kinds of writes waiting in ``pending_write`` for 对/不对 (see actions/pending.py) -------
WRITE_REDEEM: Final = "redeem"
WRITE_POINTS_APPEAL: Final = "points_appeal"
WRITE_GRIEVANCE_TRANSITION: Final = "grievance_transition"
WRITE_VISIT: Final = "visit"
WRITE_VISIT_GRIEVANCE: Final = "visit_grievance"
WRITE_REPORT_OFFER: Final = "report_offer"  # not a write yet: "要帮您报上去吗" starts the form
WRITE_AWARD: Final = "award"  # staff award or deduct points by rule
WRITE_LIST_MORE: Final = "list_more"  # not a write: "还要听吗" before the rest of a list
WRITE_CLARIFY: Final = "clarify"  # not a write: "您问的是低保，还是临时救助？" waits for the pick
WRITE_FORWARD_QUESTION: Final = "forward_question"  # pass an unanswered question to the village office
