"""Policy and service questions answered from the knowledge base, with sources."""
from __future__ import annotations

from rasa_sdk.events import SlotSet

from actions.common import XiangyinAction, entity, latest_text
from bot.config import load_settings
from bot.db import session_scope
from bot.households import grid_area_name
from knowledge.retriever import default_kb, spoken_summary

HANDOFF = "要不要我请网格员联系您？要就说“找网格员”。"


def knowledge():
    return default_kb(load_settings().knowledge_dir)


def answer_entry(dispatcher, tracker, actor, entry_id: str):
    entry = knowledge().by_id.get(entry_id)
    if entry is None:
        dispatcher.utter_message(text="这个我不太清楚。" + HANDOFF)
        return []
    dispatcher.utter_message(text=spoken_summary(entry))
    if actor.channel != "voice":
        dispatcher.utter_message(text=entry.citation)
    return [SlotSet("kb_entry", entry.id), SlotSet("topic", entry.topic),
            SlotSet("choices", None), SlotSet("choice_kind", None)]


class ActionPolicyAnswer(XiangyinAction):
    action_name = "action_policy_answer"

    def handle(self, dispatcher, tracker, actor, domain):
        question = latest_text(tracker)
        # A follow-up without its own topic ("那要带什么材料?") stays on the last topic: the
        # topic word is added to the query, as the person would have said in full.
        topic = entity(tracker, "topic")
        if topic is None and tracker.get_slot("topic"):
            topic = tracker.get_slot("topic")
            question = f"{topic} {question}"
        with session_scope() as s:
            grid = grid_area_name(s, actor.household_id)
        result = knowledge().answer(question, topic=topic, village_grid=grid)
        if result.entry is not None and result.confident:
            return answer_entry(dispatcher, tracker, actor, result.entry.id)
        options = ([result.entry] if result.entry else []) + list(result.alternatives)
        options = [e for i, e in enumerate(options) if e.id not in {o.id for o in options[:i]}][:2]
        if not options:
            dispatcher.utter_message(text="这个问题我不知道，不敢乱说。" + HANDOFF)
            return []
        if actor.channel == "voice":
            listing = "，".join(f"{'一二'[i]}是{e.title}" for i, e in enumerate(options))
            dispatcher.utter_message(text=f"这个我不太确定。您是想问：{listing}？请说第几个，或者说“找网格员”。")
        else:
            dispatcher.utter_message(
                text="这个我不太确定。您是想问下面哪一个？也可以找网格员。",
                buttons=[{"title": e.title, "payload": f'/choose_option{{"number":"{i + 1}"}}'}
                         for i, e in enumerate(options)]
                + [{"title": "找网格员", "payload": "/request_human"}])
        return [SlotSet("choices", [e.id for e in options]), SlotSet("choice_kind", "kb")]


class ActionKnowledgeFallback(ActionPolicyAnswer):
    """NLU was not sure what was meant: a confident answer from the knowledge base (say a
    village notice added last week) is still given; otherwise ask to rephrase."""

    action_name = "action_knowledge_fallback"

    def handle(self, dispatcher, tracker, actor, domain):
        with session_scope() as s:
            grid = grid_area_name(s, actor.household_id)
        result = knowledge().answer(latest_text(tracker), village_grid=grid)
        if result.entry is not None and result.confident:
            return answer_entry(dispatcher, tracker, actor, result.entry.id)
        dispatcher.utter_message(response="utter_ask_rephrase")
        return []


class ActionPolicySource(XiangyinAction):
    action_name = "action_policy_source"

    def handle(self, dispatcher, tracker, actor, domain):
        entry = knowledge().by_id.get(tracker.get_slot("kb_entry") or "")
        if entry is None:
            dispatcher.utter_message(text="我刚才没有引用文件。您想问哪方面的政策？")
            return []
        dispatcher.utter_message(text=f"这是{entry.issuer}的《{entry.title}》里说的，时间是{entry.date}。"
                                      f"具体标准以本县公布为准。")
        return []
