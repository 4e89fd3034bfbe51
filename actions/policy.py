"""Policy and service questions answered from the knowledge base, with sources."""
from __future__ import annotations

from typing import List

from rasa_sdk.events import EventType, FollowupAction, SlotSet

from actions import parsing, phrases, slots
from actions.common import Turn, XiangyinAction, clear_choices
from actions.pending import PendingWrite, propose_write
from bot.households import grid_area_name
from knowledge.retriever import Answer, Entry, KnowledgeBase, default_kb, spoken_summary

MAX_OPTIONS = 2  # "did you mean …": at most this many entries, then 找网格员


def knowledge(turn: Turn) -> KnowledgeBase:
    """The knowledge base of the configured folders (reloaded when the index changes)."""
    return default_kb(turn.settings.paths.knowledge_dir, var_dir=turn.settings.paths.var_dir)


def answer_entry(turn: Turn, entry_id: str) -> List[EventType]:
    """Say one entry; text channels also show its citation (data, so not a channel variant)."""
    entry = knowledge(turn).by_id.get(entry_id)
    if entry is None:
        turn.say("utter_kb_entry_missing")
        return []
    turn.show(spoken_summary(entry))
    if not turn.on_voice:
        turn.show(entry.citation)
    return [SlotSet(slots.KB_ENTRY, entry.id), SlotSet(slots.TOPIC, entry.topic), *clear_choices()]


def _search(turn: Turn, question: str, topic: str | None = None) -> Answer:
    with turn.session() as s:
        grid = grid_area_name(s, turn.actor.household_id)
    return knowledge(turn).answer(question, topic=topic, village_grid=grid)


def _options(result: Answer) -> List[Entry]:
    """The best entry and the alternatives, without repeats, at most :data:`MAX_OPTIONS`."""
    options: List[Entry] = []
    for entry in ([result.entry] if result.entry else []) + list(result.alternatives):
        if entry.id not in {o.id for o in options}:
            options.append(entry)
    return options[:MAX_OPTIONS]


class ActionPolicyAnswer(XiangyinAction):
    """A confident answer, else "did you mean" with the closest entries, else a person."""

    action_name = "action_policy_answer"

    def handle(self, turn: Turn) -> List[EventType]:
        question = turn.text
        # A follow-up without its own topic ("那要带什么材料?") stays on the last topic: the
        # topic word is added to the query, as the person would have said in full.
        topic = turn.entity(slots.ENTITY_TOPIC)
        if topic is None and turn.slot(slots.TOPIC):
            topic = turn.slot(slots.TOPIC)
            question = f"{topic} {question}"
        result = _search(turn, question, topic)
        if result.entry is not None and result.confident:
            events = answer_entry(turn, result.entry.id)
            if parsing.reports_problem(turn.text):
                # "房子漏得厉害，改造补助怎么申请": the question first, then offer to report.
                events += propose_write(turn, slots.WRITE_REPORT_OFFER, {"text": turn.text}, "utter_offer_report")
            return events
        options = _options(result)
        if not options:
            turn.say("utter_kb_no_answer")
            return []
        # Voice lists the options in words (the channel variant); text channels get buttons.
        buttons = [] if turn.on_voice else (
            [{"title": e.title, "payload": f'/choose_option{{"number":"{i + 1}"}}'} for i, e in enumerate(options)]
            + [{"title": phrases.HUMAN_BUTTON, "payload": "/request_human"}])
        turn.say("utter_kb_which", buttons=buttons,
                 options=phrases.series(phrases.spoken_option(i, e.title) for i, e in enumerate(options)))
        return [SlotSet(slots.CHOICES, [e.id for e in options]), SlotSet(slots.CHOICE_KIND, slots.OFFERED_KB)]


class ActionKnowledgeFallback(XiangyinAction):
    """NLU was not sure what was meant: a confident answer from the knowledge base (say a
    village notice added last week) is still given; otherwise ask to rephrase."""

    action_name = "action_knowledge_fallback"

    def handle(self, turn: Turn) -> List[EventType]:
        result = _search(turn, turn.text)
        if result.entry is not None and result.confident:
            return answer_entry(turn, result.entry.id)
        turn.say("utter_ask_rephrase")
        return []


class ActionPolicySource(XiangyinAction):
    """'这是哪个文件说的': the issuer, title and date of the entry last quoted."""

    action_name = "action_policy_source"

    def handle(self, turn: Turn) -> List[EventType]:
        entry = knowledge(turn).by_id.get(turn.slot(slots.KB_ENTRY) or "")
        if entry is None:
            turn.say("utter_kb_no_source")
            return []
        turn.say("utter_kb_source", issuer=entry.issuer, title=entry.title, date=entry.date)
        return []


def start_report(turn: Turn, pending: PendingWrite) -> List[EventType]:
    """The yes to "要帮您把这个问题报上去吗": the grievance form, prefilled from what was said."""
    from actions.grievances import prefill_from

    return [*prefill_from(turn, pending["text"]), FollowupAction(slots.GRIEVANCE_FORM)]
