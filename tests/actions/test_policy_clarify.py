"""Not sure which policy entry is meant: one candidate is answered at once, named as a guess; two
are both answered briefly (people do not answer "您问的是A，还是B？": they ask the next thing); with
more, one short clarifying question instead of options read out, and the reply that picks one (by
name, by "第一个/前面那个", by a yes), says "都不是" (the offer to pass the question to the village
office, sent only on a yes), is unclear (asked once more) or is a new request (handed back to the
other policies). The replies are tested on the question as asked (the pending pick).

Real components throughout: the retriever over a small corpus written here (two 低保 entries
that only their labels tell apart, one 临时救助 entry), the seeded demo village in its own
database, the actions as rasa_sdk runs them, replies rendered from domain.yml."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from actions import slots
from actions.basics import ActionResolvePending, ActionStop
from actions.policy import ActionKnowledgeFallback, ActionPolicyAnswer
from bot.config import load_settings
from bot.db import session_scope
from bot.identity import resolve_actor, village_admin
from bot.models import OutboxMessage
from knowledge.retriever import KnowledgeBase, both_summary, spoken_summary
from tests.actions.harness import Runner, VOICE_CHANNEL

ENTRIES = {
    "dibao-a": ("低保申请条件", "低保的申请条件", "低保", "[低保, 申请条件, 家庭收入]",
                "家里人均收入低于本县低保标准的，可以申请低保。"),
    "dibao-b": ("低保申请流程", "低保怎么申请", "低保", "[低保, 申请流程, 村委会]",
                "先到村委会提出申请，填写申请表，村里评议后报镇里审核。"),
    "linshi-jiuzhu": ("临时救助的范围", "临时救助", "临时救助", "[临时救助, 救急, 火灾]",
                      "家里遇到火灾、车祸、重病等突发困难，生活一时过不去的，可以申请临时救助。"),
}
TWO = "低保"  # both 低保 entries match it equally
ONE = "俺想问问临时救助的事 家里老人病了好几年"  # clearly 临时救助, but it says little of it
ASK_TWO = "您问的是低保的申请条件，还是低保怎么申请？"
GUESS_ONE = "我猜您问的是临时救助。"
OFFER = "这个我答不准。要不要我把您的问题转给村委会，请他们给您回个话？要就说“要”，不用就说“不用”。"
VILLAGER = "cli:hh010"


def _write_corpus(root: Path) -> Path:
    folder = root / "knowledge" / "corpus" / "test"
    folder.mkdir(parents=True)
    for entry_id, (title, label, topic, keywords, body) in ENTRIES.items():
        (folder / f"{entry_id}.md").write_text(
            f"---\nid: {entry_id}\ntitle: {title}\nlabel: {label}\nissuer: 县民政局\ndate: 2024-03-01\n"
            f"region: 通用\ntopic: {topic}\nsource: 测试\nkeywords: {keywords}\n---\n{body}\n", encoding="utf-8")
    return root / "knowledge"


@pytest.fixture()
def runner(fresh_db, tmp_path, domain) -> Runner:
    """Actions that read the small corpus above, on a private copy of the demo village."""
    knowledge_dir = _write_corpus(tmp_path)
    settings = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "var"), "XIANGYIN_DATABASE_URL": fresh_db,
                              "XIANGYIN_KNOWLEDGE_DIR": str(knowledge_dir)})
    return Runner(settings, domain)


@pytest.fixture()
def kb(runner) -> KnowledgeBase:
    return KnowledgeBase.load(runner.settings.paths.knowledge_dir, var_dir=runner.settings.paths.var_dir)


def _summary(kb: KnowledgeBase, entry_id: str) -> str:
    return spoken_summary(kb.by_id[entry_id])


def _asked(runner: Runner, question: str, channel: str = VOICE_CHANNEL, sender: str = "voice:device-010"):
    return runner.run(ActionPolicyAnswer(runner.settings), sender, question, intent="ask_policy", channel=channel)


def _reply(runner: Runner, pending: dict, text: str, intent: str = "inform", sender: str = "voice:device-010"):
    return runner.run(ActionResolvePending(runner.settings), sender, text, intent=intent, channel=VOICE_CHANNEL,
                      slots={slots.PENDING_WRITE: pending, slots.AWAITING_CONFIRMATION: True})


def test_the_retriever_is_really_unsure_here(kb):
    # The premise of every test below, checked on the real retriever.
    two, one = kb.answer(TWO), kb.answer(ONE)
    assert not two.confident and two.candidates == ["dibao-a", "dibao-b"]
    assert not one.confident and one.candidates == ["linshi-jiuzhu"]


def test_two_candidates_are_both_answered_briefly_the_first_one_followed_up(runner, kb):
    said = _asked(runner, TWO)
    assert said.texts == [both_summary(kb.by_id["dibao-a"], kb.by_id["dibao-b"])]
    assert said.slot(slots.KB_ENTRY) == "dibao-a" and not said.slot(slots.PENDING_WRITE, None)


def test_chat_shows_the_sources_of_both(runner, kb):
    said = _asked(runner, TWO, channel="collector", sender=VILLAGER)
    assert said.texts[1:] == ["来源：县民政局《低保申请条件》（2024-03-01）", "来源：县民政局《低保申请流程》（2024-03-01）"]


def _pending(candidates=("dibao-a", "dibao-b"), question: str = TWO) -> dict:
    """The pick the clarifying question waits for (asked with three or more candidates)."""
    return {"kind": slots.WRITE_CLARIFY, "candidates": list(candidates), "question": question, "repeats": 0}


def test_the_question_asked_again_on_chat_names_the_candidates_and_neither_as_buttons(runner):
    said = runner.run(ActionResolvePending(runner.settings), VILLAGER, "啊？", intent="inform",
                      slots={slots.PENDING_WRITE: _pending(), slots.AWAITING_CONFIRMATION: True})
    assert said.texts == ["没听清。", ASK_TWO]
    assert said.messages[1]["buttons"] == [{"title": "低保的申请条件", "payload": "低保的申请条件"},
                                           {"title": "低保怎么申请", "payload": "低保怎么申请"},
                                           {"title": "都不是", "payload": "都不是"}]


def test_one_clear_candidate_is_answered_at_once_named_as_a_guess(runner, kb):
    # people do not answer "您问的是X吗？": they ask the next thing (development dialogues)
    said = _asked(runner, ONE)
    assert said.texts == [GUESS_ONE, _summary(kb, "linshi-jiuzhu")]
    assert said.slot(slots.KB_ENTRY) == "linshi-jiuzhu" and not said.slot(slots.PENDING_WRITE, None)


@pytest.mark.parametrize("reply, expected", [
    ("低保怎么申请", "dibao-b"),      # the name (what a button sends, too)
    ("问的是条件", "dibao-a"),        # a word only one of them has
    ("第二个", "dibao-b"),
    ("前面那个", "dibao-a"),
    ("后边的", "dibao-b"),
])
def test_the_reply_picks_one_and_it_is_answered(runner, kb, reply, expected):
    pending = _pending()
    said = _reply(runner, pending, reply)
    assert said.texts == [_summary(kb, expected)]
    assert said.slot(slots.KB_ENTRY) == expected
    assert said.slot(slots.PENDING_WRITE) is None and said.slot(slots.AWAITING_CONFIRMATION) is False


def test_text_channels_also_show_the_source_of_the_picked_entry(runner, kb):
    pending = _pending()
    said = runner.run(ActionResolvePending(runner.settings), VILLAGER, "低保的申请条件", intent="inform",
                      slots={slots.PENDING_WRITE: pending, slots.AWAITING_CONFIRMATION: True})
    assert said.texts == [_summary(kb, "dibao-a"), "来源：县民政局《低保申请条件》（2024-03-01）"]


def test_neither_offers_to_pass_the_question_on_and_only_a_yes_sends_it(runner):
    pending = _pending()
    offered = _reply(runner, pending, "都不是", intent="deny")
    assert offered.texts == [OFFER]
    forward = offered.slot(slots.PENDING_WRITE)
    assert forward["kind"] == slots.WRITE_FORWARD_QUESTION and forward["text"] == TWO
    assert offered.slot(slots.AWAITING_CONFIRMATION) is True
    url = runner.settings.database.url

    def forwarded() -> list:
        with session_scope(url=url) as s:
            return list(s.execute(select(OutboxMessage).where(OutboxMessage.kind == "policy_question")).scalars())

    assert forwarded() == []  # nothing is sent before the yes
    dropped = _reply(runner, forward, "不用了", intent="deny")
    assert dropped.texts == ["好的，不转了。还有什么要帮忙的吗？"] and forwarded() == []

    sent = _reply(runner, forward, "要", intent="affirm")
    with session_scope(url=url) as s:
        admin = village_admin(s, resolve_actor(s, "voice:device-010").village_id)
        assert sent.texts == [f"好的，已经转给{admin.display_name}了，会尽快给您回话。"]
        [note] = forwarded()
        assert note.user_id == admin.id and f"“{TWO}”" in note.text
        assert note.payload == {"sender_id": "voice:device-010", "question": TWO}
    again = _reply(runner, forward, "要", intent="affirm")  # the same yes again: sent once
    assert again.texts == sent.texts and len(forwarded()) == 1


def test_an_unclear_reply_hears_the_question_once_more_then_the_offer(runner):
    pending = _pending()
    first = _reply(runner, pending, "啊？")
    assert first.texts == ["没听清。", ASK_TWO]
    again = first.slot(slots.PENDING_WRITE)
    assert again["repeats"] == 1 and again["candidates"] == pending["candidates"]
    second = _reply(runner, again, "嗯…")
    assert second.texts == [OFFER]


def test_a_new_request_drops_the_question_and_goes_back_to_the_policies(runner):
    pending = _pending()
    said = _reply(runner, pending, "俺家积分还有多少", intent="ask_points")
    assert said.texts == []
    assert any(e.get("event") == "action_execution_rejected" for e in said.events)
    assert said.slot(slots.PENDING_WRITE) is None and said.slot(slots.AWAITING_CONFIRMATION) is False


def test_another_question_on_the_same_policy_instead_of_a_pick_is_answered_on_that_policy(runner, kb):
    pending = _pending()
    said = _reply(runner, pending, "那得先去村委会填表吗")
    assert said.texts and said.texts[0] == _summary(kb, "dibao-b"), said.texts
    assert said.slot(slots.PENDING_WRITE) is None
    # the one candidate that gives the kind of answer asked for ("where to apply")
    where = _reply(runner, _pending(), "那上哪个部门去递")
    assert where.texts and where.texts[0] == _summary(kb, "dibao-b"), where.texts


def test_no_followed_by_a_question_of_its_own_is_a_new_request(runner):
    pending = _pending()
    said = _reply(runner, pending, "不是 我问的是家里房子漏雨", intent="deny")
    assert said.texts == [] and any(e.get("event") == "action_execution_rejected" for e in said.events)


def test_stop_drops_the_question_quietly(runner):
    pending = _pending()
    said = runner.run(ActionStop(runner.settings), "voice:device-010", "算了", intent="stop", channel=VOICE_CHANNEL,
                      slots={slots.PENDING_WRITE: pending, slots.AWAITING_CONFIRMATION: True})
    assert said.texts == ["好的。"] and said.slot(slots.PENDING_WRITE) is None


def test_an_unsure_parse_is_answered_the_same_way(runner, kb):
    said = runner.run(ActionKnowledgeFallback(runner.settings), "voice:device-010", TWO, intent="nlu_fallback",
                      channel=VOICE_CHANNEL)
    assert said.texts == [both_summary(kb.by_id["dibao-a"], kb.by_id["dibao-b"])]


def test_a_question_that_also_reports_a_problem_gets_the_report_offer_after_the_pick(runner, kb):
    pending = {"kind": slots.WRITE_CLARIFY, "candidates": ["dibao-a", "dibao-b"], "question": "房子漏得厉害 低保咋弄",
               "repeats": 0}
    said = _reply(runner, pending, "第一个")
    assert said.texts[0] == _summary(kb, "dibao-a") and said.texts[1].startswith("您说的这个问题，要我帮您报给网格员吗")
    offer = said.slot(slots.PENDING_WRITE)
    assert offer["kind"] == slots.WRITE_REPORT_OFFER and offer["text"] == "房子漏得厉害 低保咋弄"


@pytest.mark.parametrize("reply, answered", [("第一个，帮俺报上去", True), ("要得，那你帮我递上去嘛", False)])
def test_a_pick_said_with_a_request_to_report_starts_the_report(runner, kb, reply, answered):
    question = "房子漏得厉害 低保咋弄"
    pending = {"kind": slots.WRITE_CLARIFY, "candidates": ["dibao-a", "dibao-b"], "question": question, "repeats": 0}
    said = _reply(runner, pending, reply)
    assert (said.texts[:1] == [_summary(kb, "dibao-a")]) is answered
    assert said.slot(slots.PENDING_WRITE) is None  # nothing is written before the form's read-back
    assert said.slot(slots.GRIEVANCE_DESCRIPTION) == question
    assert any(e.get("event") == "followup" and e.get("name") == "grievance_form" for e in said.events)


def test_no_request_to_report_said_with_a_no_starts_nothing(runner):
    pending = {"kind": slots.WRITE_CLARIFY, "candidates": ["dibao-a", "dibao-b"], "question": "房子漏得厉害 低保咋弄",
               "repeats": 0}
    said = _reply(runner, pending, "不用报上去，俺就问问")
    assert not any(e.get("event") == "followup" and e.get("name") == "grievance_form" for e in said.events)
    assert not said.sets(slots.GRIEVANCE_DESCRIPTION)
