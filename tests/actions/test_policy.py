"""Policy answers from the knowledge base: a confident answer with its source, the honest
"not sure" with options (buttons on text, read out on voice), and the source on request.

What the retriever answers for a given question is the knowledge tests' business (its tuning
changes); here a fake knowledge base gives the actions a confident, an unsure or an empty
result. Looking an entry up by id (choosing an option, asking for the source) uses the real
one, from the configured folders."""
from __future__ import annotations

import pytest

from actions import policy, slots
from actions.basics import ActionChooseOption
from actions.policy import ActionKnowledgeFallback, ActionPolicyAnswer, ActionPolicySource
from knowledge import spoken
from knowledge.retriever import Answer, Entry, spoken_summary
from tests.actions.harness import VOICE_CHANNEL

UNKNOWN = "护照过期了怎么续"  # a policy question the corpus does not cover


class FakeKnowledge:
    """A knowledge base that gives one prepared answer: what the actions do with an unsure
    or empty result, whatever the retriever's tuning does with a particular question."""

    def __init__(self, answer: Answer, on_topic: Answer | None = None):
        self.result, self.on_topic = answer, on_topic
        self.by_id = {e.id: e for a in (answer, on_topic) if a for e in [a.entry, *a.alternatives] if e is not None}
        self.asked: list[tuple] = []

    def answer(self, question: str, topic=None, village_grid=None, topic_mode="boost", previous=None) -> Answer:
        self.asked.append((question, topic, village_grid))
        self.previous = previous
        return self.on_topic if topic_mode == "filter" and self.on_topic else self.result

    @staticmethod
    def kinds_asked(question: str) -> frozenset:
        return frozenset(spoken.intent_tokens(spoken.normalise_spoken(question)))

    def kinds_offered(self, entry_id: str) -> frozenset:
        entry = self.by_id.get(entry_id)
        return self.kinds_asked(entry.title) if entry is not None else frozenset()

    @staticmethod
    def asks_local(question: str) -> bool:
        return spoken.asks_local(question)

    def is_village(self, entry_id: str) -> bool:
        entry = self.by_id.get(entry_id)
        return entry is not None and entry.region != "通用" and "/village/" in entry.path


def _entry(entry_id: str, title: str, body: str = "正文。") -> Entry:
    return Entry(entry_id, title, "青山县民政局", "2024-01-01", "青山县", "低保", "公告", [], body, f"{entry_id}.md")


DIBAO = _entry("dibao-process", "低保申请流程", "先到村委会提出申请，填写申请表。村里评议后报镇里审核。")


@pytest.fixture()
def confident(monkeypatch) -> FakeKnowledge:
    """The knowledge base is sure: the 低保 application entry."""
    kb = FakeKnowledge(Answer("", DIBAO, True))
    monkeypatch.setattr(policy, "knowledge", lambda turn: kb)
    return kb


def test_a_confident_answer_with_its_citation_on_text(runner, confident):
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "低保怎么申请", intent="ask_policy",
                      entities={"topic": "低保"})
    assert said.texts == [spoken_summary(DIBAO), "来源：青山县民政局《低保申请流程》（2024-01-01）"]
    assert said.slot(slots.KB_ENTRY) == "dibao-process" and said.slot(slots.TOPIC) == "低保"
    assert confident.asked[0][:2] == ("低保怎么申请", "低保")


def test_a_two_part_question_is_answered_from_both_entries(runner, monkeypatch):
    materials = _entry("dibao-materials", "申请低保要带的材料", "带户口本和身份证。")
    both = Answer("先到村委会提出申请。另外，带户口本和身份证。", DIBAO, True, also=[materials])
    kb = FakeKnowledge(both)
    kb.by_id[materials.id] = materials
    monkeypatch.setattr(policy, "knowledge", lambda turn: kb)
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "低保咋申请，要带啥", intent="ask_policy",
                      entities={"topic": "低保"})
    assert said.texts == ["先到村委会提出申请。另外，带户口本和身份证。",
                          "来源：青山县民政局《低保申请流程》（2024-01-01）",
                          "来源：青山县民政局《申请低保要带的材料》（2024-01-01）"]
    assert said.slot(slots.KB_ENTRY) == "dibao-process"  # follow-ups stay on the first

    kb.result = Answer("带户口本和身份证。另外，先到村委会提出申请。", DIBAO, True, also=[materials])  # asked the other way
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "要带啥，咋申请", intent="ask_policy",
                      entities={"topic": "低保"})
    assert said.texts[1:] == ["来源：青山县民政局《申请低保要带的材料》（2024-01-01）",
                              "来源：青山县民政局《低保申请流程》（2024-01-01）"]  # sources in the order said


def test_a_follow_up_without_a_topic_stays_on_the_last_one(runner, confident):
    runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "那要带什么材料", intent="ask_policy",
               slots={slots.TOPIC: "低保", slots.KB_ENTRY: "dibao-process"})
    # among the topic's own entries as said (the topic's name added would favour the entry that names
    # it most); the whole base, if that is not sure, with the topic's name
    assert confident.asked[0][:2] == ("那要带什么材料", "低保")
    assert confident.previous == "dibao-process"  # the entry just answered is favoured a little


def test_a_follow_up_is_not_pulled_to_the_entry_named_after_the_topic(runner):
    """The real knowledge base: after who may have a plot ("宅基地申请条件", the entry that names the
    topic most), building before the approval is the approval process, not the conditions again."""
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "没等批下来就开工会怎样", intent="ask_policy",
                      slots={slots.TOPIC: "宅基地", slots.KB_ENTRY: "zhaijidi-conditions"})
    assert said.slot(slots.KB_ENTRY) == "zhaijidi-process", said.texts


def test_a_follow_up_asking_when_in_the_village_gets_the_villages_notice_whatever_its_topic(runner):
    """The real knowledge base: after what the village lawyer does, "哪天来坐班" is the village's
    notice (filed under mediation), not the legal-aid entry of the topic just answered."""
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "那他哪天来村里坐班", intent="ask_policy",
                      slots={slots.TOPIC: "法律援助", slots.KB_ENTRY: "falv-village-lawyer"})
    assert said.slot(slots.KB_ENTRY) == "xinghua-lawyer", said.texts


def test_a_follow_up_naming_another_topic_as_who_the_person_is_stays_on_the_last_topic(runner):
    """The real knowledge base: after when 医保 is paid, "评上低保的人家…" asks about 医保 for a
    低保 household (the state pays part), though the model hears the topic 低保."""
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "评上低保的人家交这个还要自己出钱不",
                      intent="ask_policy", entities={"topic": "低保"},
                      # the topic slot is filled from the entity before the action runs
                      slots={slots.TOPIC: "低保", slots.KB_ENTRY: "yibao-payment-time"})
    assert said.slot(slots.KB_ENTRY) == "yibao-payment-subsidy", said.texts
    fresh = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "低保一个月能领多少", intent="ask_policy",
                       entities={"topic": "低保"}, slots={slots.TOPIC: "低保", slots.KB_ENTRY: "yibao-payment-time"})
    assert fresh.slot(slots.KB_ENTRY) == "dibao-standard", fresh.texts  # a new question on 低保 itself
    # unsure between two entries of 医保: asked or answered on 医保, never answered about 低保
    more = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "像俺这吃低保的，能多报点不", intent="ask_policy",
                      entities={"topic": "低保"}, slots={slots.TOPIC: "低保", slots.KB_ENTRY: "yibao-serious-illness"})
    said = more.slot(slots.KB_ENTRY, None) or ",".join((more.slot(slots.PENDING_WRITE, None) or {}).get("candidates", []))
    assert said.startswith("yibao"), more.texts
    # "屋里有低保" says who they are just the same
    has = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "俺屋里有低保，也得跟人家交一样多吗",
                     intent="ask_policy", entities={"topic": "低保"},
                     slots={slots.TOPIC: "低保", slots.KB_ENTRY: "yibao-payment-time"})
    said = has.slot(slots.KB_ENTRY, None) or ",".join((has.slot(slots.PENDING_WRITE, None) or {}).get("candidates", []))
    assert said.startswith("yibao"), has.texts


def test_an_unsure_follow_up_is_decided_by_the_entries_of_the_last_topic(runner, monkeypatch):
    materials = _entry("dibao-materials", "低保申请要带的材料")
    unsure = Answer("", materials, False, [_entry("canjizheng-materials", "办残疾证带的材料")],
                    clarify="您问的是低保要带的材料，还是办残疾证带的材料？",
                    candidates=["dibao-materials", "canjizheng-materials"])
    kb = FakeKnowledge(unsure, on_topic=Answer("", materials, True))
    monkeypatch.setattr(policy, "knowledge", lambda turn: kb)
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "那要带什么材料", intent="ask_policy",
                      slots={slots.TOPIC: "低保"})
    assert said.slot(slots.KB_ENTRY) == "dibao-materials" and said.slot(slots.PENDING_WRITE, None) is None
    # Without a topic answered before, the same question gets both answers, briefly.
    kb.asked.clear()
    asked = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "那要带什么材料", intent="ask_policy")
    assert asked.slot(slots.KB_ENTRY) == "dibao-materials" and "另外，" in asked.texts[0] and len(kb.asked) == 1


def test_a_follow_up_asked_back_between_the_answer_just_given_and_another_gets_the_other(runner, monkeypatch):
    standard = _entry("dibao-standard", "低保每月领多少钱")
    unsure = Answer("", DIBAO, False, [standard], clarify="您问的是低保怎么申请，还是低保每月领多少钱？",
                    candidates=["dibao-process", "dibao-standard"])
    kb = FakeKnowledge(unsure, on_topic=unsure)
    monkeypatch.setattr(policy, "knowledge", lambda turn: kb)
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "批下来一个月能有多少", intent="ask_policy",
                      slots={slots.TOPIC: "低保", slots.KB_ENTRY: "dibao-process"})
    assert said.slot(slots.KB_ENTRY) == "dibao-standard" and said.texts[0] == spoken_summary(standard)
    # not after another answer: both answered, briefly, the first one followed up
    asked = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "批下来一个月能有多少", intent="ask_policy",
                       slots={slots.TOPIC: "低保", slots.KB_ENTRY: "gaoling-amount"})
    assert asked.slot(slots.KB_ENTRY) == "dibao-process" and "另外，" in asked.texts[0]


def test_a_follow_up_asking_what_the_other_entry_does_not_give_stays_on_the_answer_just_given(runner, monkeypatch):
    loan = _entry("jiaoyu-college-loan", "上大学钱不够：生源地助学贷款", "在户籍所在县的学生资助管理中心办。")
    compulsory = _entry("jiaoyu-compulsory", "上小学初中有哪些资助")
    unsure = Answer("", loan, False, [compulsory], clarify="您问的是上大学的助学贷款，还是上小学初中的资助？",
                    candidates=["jiaoyu-college-loan", "jiaoyu-compulsory"])
    monkeypatch.setattr(policy, "knowledge", lambda turn: FakeKnowledge(unsure, on_topic=unsure))
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "去边度办", intent="ask_policy",
                      slots={slots.TOPIC: "低保", slots.KB_ENTRY: "jiaoyu-college-loan"})  # _entry's topic
    assert said.slot(slots.KB_ENTRY) == "jiaoyu-college-loan" and said.texts[0] == spoken_summary(loan)


def test_asked_again_about_the_entry_just_answered_the_paragraph_asked_about_is_said(runner, monkeypatch):
    loan = _entry("jiaoyu-college-loan", "上大学钱不够：生源地助学贷款",
                  "在户籍所在县的学生资助管理中心办生源地信用助学贷款。\n\n上学期间利息由国家出，毕业后再慢慢还。")
    monkeypatch.setattr(policy, "knowledge", lambda turn: FakeKnowledge(Answer("", loan, True)))
    again = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "要还利息不", intent="ask_policy",
                       slots={slots.TOPIC: "低保", slots.KB_ENTRY: "jiaoyu-college-loan"})
    assert again.texts[0] == "上学期间利息由国家出，毕业后再慢慢还。"
    first = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "助学贷款要还利息不", intent="ask_policy")
    assert first.texts[0] == spoken_summary(loan)  # a first answer is the entry's summary


def test_voice_gets_the_answer_without_the_citation(runner, confident):
    said = runner.run(ActionPolicyAnswer(runner.settings), "voice:device-010", "低保怎么申请", intent="ask_policy",
                      channel=VOICE_CHANNEL)
    assert said.texts == [spoken_summary(DIBAO)] and said.slot(slots.KB_ENTRY) == "dibao-process"


@pytest.fixture()
def unsure(monkeypatch):
    """The knowledge base is not sure: two candidate entries."""
    answer = Answer("", _entry("a", "低保怎么申请"), False, [_entry("b", "低保要带什么材料")])
    monkeypatch.setattr(policy, "knowledge", lambda turn: FakeKnowledge(answer))


def test_an_unsure_answer_offers_the_closest_entries_as_buttons(runner, unsure):
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", UNKNOWN, intent="ask_policy")
    assert not said.sets(slots.KB_ENTRY)
    assert said.texts == ["这个我不太确定。您是想问下面哪一个？也可以找网格员。"]
    assert said.messages[0]["buttons"] == [
        {"title": "低保怎么申请", "payload": '/choose_option{"number":"1"}'},
        {"title": "低保要带什么材料", "payload": '/choose_option{"number":"2"}'},
        {"title": "找网格员", "payload": "/request_human"}]
    assert said.slot(slots.CHOICES) == ["a", "b"] and said.slot(slots.CHOICE_KIND) == slots.OFFERED_KB


def test_on_voice_the_options_are_read_out_instead_of_shown(runner, unsure):
    said = runner.run(ActionPolicyAnswer(runner.settings), "voice:device-010", UNKNOWN, intent="ask_policy",
                      channel=VOICE_CHANNEL)
    assert said.texts == ["这个我不太确定。您是想问：一是低保怎么申请，二是低保要带什么材料？请说第几个，或者说“找网格员”。"]
    assert said.messages[0]["buttons"] == []


def test_no_candidate_at_all_is_said_honestly(runner, monkeypatch):
    monkeypatch.setattr(policy, "knowledge", lambda turn: FakeKnowledge(Answer("", None, False)))
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", UNKNOWN, intent="ask_policy")
    assert said.texts == ["这个问题我不知道，不敢乱说。要不要我请网格员联系您？要就说“找网格员”。"]
    assert not said.sets(slots.CHOICES)


def test_an_offered_entry_is_chosen_by_number(runner, unsure):
    said = runner.run(ActionChooseOption(runner.settings), "cli:hh010", "第二个", intent="choose_option",
                      slots={slots.CHOICES: ["a", "b"], slots.CHOICE_KIND: slots.OFFERED_KB})
    assert said.slot(slots.KB_ENTRY) == "b" and said.slot(slots.CHOICE_KIND) is None
    assert said.texts[0] == spoken_summary(_entry("b", "低保要带什么材料"))


def test_the_source_of_the_last_answer(runner, confident):
    source = ActionPolicySource(runner.settings)
    said = runner.run(source, "cli:hh010", "这是哪个文件说的", intent="ask_source",
                      slots={slots.KB_ENTRY: "dibao-process"})
    assert said.texts == ["这是青山县民政局的《低保申请流程》里说的，时间是2024-01-01。具体标准以本县公布为准。"]
    nothing = runner.run(source, "cli:hh010", "这是哪个文件说的", intent="ask_source")
    assert nothing.texts == ["我刚才没有引用文件。您想问哪方面的政策？"]


def test_an_entry_that_is_gone_is_not_guessed_at(runner, confident):
    said = runner.run(ActionChooseOption(runner.settings), "cli:hh010", "第一个", intent="choose_option",
                      slots={slots.CHOICES: ["removed-notice"], slots.CHOICE_KIND: slots.OFFERED_KB})
    assert said.texts == ["这个我不太清楚。要不要我请网格员联系您？要就说“找网格员”。"]


def test_the_knowledge_base_is_the_configured_one(runner, monkeypatch):
    opened = []
    monkeypatch.setattr(policy, "default_kb", lambda root, var_dir: opened.append((root, var_dir)) or FakeKnowledge(
        Answer("", None, False)))
    runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", "低保怎么申请", intent="ask_policy")
    assert opened == [(runner.settings.paths.knowledge_dir, runner.settings.paths.var_dir)]


def test_an_unsure_parse_still_gets_a_confident_answer(runner, confident):
    said = runner.run(ActionKnowledgeFallback(runner.settings), "cli:hh010", "低保怎么申请", intent="nlu_fallback")
    assert said.slot(slots.KB_ENTRY) == "dibao-process"
    assert said.slot(slots.PENDING_WRITE, None) is None  # nothing to report in it


def test_an_unsure_parse_answered_with_a_problem_in_it_offers_to_report_it(runner, confident):
    said = runner.run(ActionKnowledgeFallback(runner.settings), "cli:hh010",
                      "屋顶漏雨漏得被子都湿了，找谁来看看", intent="nlu_fallback")
    assert said.slot(slots.KB_ENTRY) == "dibao-process"  # the fake base's one answer
    assert said.texts[-1].startswith("您说的这个问题，要我帮您报给网格员吗")
    assert said.slot(slots.PENDING_WRITE)["kind"] == slots.WRITE_REPORT_OFFER



def test_an_unsure_parse_without_a_confident_answer_is_asked_again(runner, unsure):
    said = runner.run(ActionKnowledgeFallback(runner.settings), "cli:hh010", "嗯那个啥", intent="nlu_fallback")
    assert said.texts == ["不好意思，我没太听懂，您能换个说法再说一遍吗？"]


def test_a_problem_told_in_an_unsure_parse_is_offered_for_report_not_asked_again(runner, unsure):
    said = runner.run(ActionKnowledgeFallback(runner.settings), "cli:hh010",
                      "楼上那家天天夜里搬东西，吵得人睡不着，这该找哪个", intent="nlu_fallback")
    assert said.texts == ["您说的这个问题，要我帮您报给网格员吗？要就说“要”，不用就说“不用”。"]
    assert said.slot(slots.PENDING_WRITE)["kind"] == slots.WRITE_REPORT_OFFER


def test_out_of_scope_without_a_sure_answer_says_what_the_assistant_can_do(runner, unsure):
    from actions.policy import ActionKnowledgeFallback

    said = runner.run(ActionKnowledgeFallback(runner.settings), "cli:hh010", "你会唱歌不", intent="out_of_scope")
    assert said.texts == ["这个我帮不上忙。我能回答村里的政策，帮您反映问题、查积分。"]
    assert said.slot(slots.PENDING_WRITE, None) is None


@pytest.mark.parametrize("action,text,intent,followup", [
    # a head named in full, unsure to the model
    ("ActionKnowledgeFallback", "李桂芳那边最近咋样", "nlu_fallback", "action_household_summary"),
    # the house number put right, unsure to the knowledge base
    ("ActionPolicyAnswer", "一号……哦不，二号，那边最近咋样", "ask_policy", "action_household_summary"),
    # households of a kind, heard as a policy question
    ("ActionPolicyAnswer", "一组有几个老人是自个儿过的", "ask_policy", "action_list_households"),
])
def test_staff_asking_about_households_in_words_nobody_placed_hear_about_them(runner, action, text, intent, followup):
    """Staff get the household or the list instead of "say it again" or a policy's clarifying
    question; a villager saying the same gets neither."""
    from actions import policy

    act = getattr(policy, action)(runner.settings)
    assert runner.run(act, "cli:wangxiulan", text, intent=intent).followup == followup
    assert runner.run(act, "cli:wangjianguo", text, intent=intent).followup != followup


def test_whom_to_turn_to_about_a_trouble_no_entry_is_sure_of_is_answered_and_the_trouble_offered(runner):
    """The real knowledge base is not sure of "该去找哪个说理" after a quarrel told, nor of "这种事该找
    谁" after a humming transformer: who settles a quarrel (mediation) or whom to tell (the grid
    worker first) is said, and reporting the trouble offered; nothing is written."""
    from knowledge.retriever import default_kb

    quarrel = "我家跟后头那户为一棵老枣树归谁闹了几年，该去找哪个说理"
    assert not default_kb().answer(quarrel).confident  # the case this is about
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010", quarrel, intent="ask_policy")
    assert said.slot(slots.KB_ENTRY) == "tiaojie-how"
    assert said.slot(slots.PENDING_WRITE)["kind"] == slots.WRITE_REPORT_OFFER
    hum = "村头那台变压器天天嗡嗡响到半夜，这种事该找谁"
    assert not default_kb().answer(hum).confident
    fallback = runner.run(ActionKnowledgeFallback(runner.settings), "cli:hh010", hum, intent="nlu_fallback")
    assert fallback.slot(slots.KB_ENTRY) == "wangge-contact"
    assert fallback.slot(slots.PENDING_WRITE)["kind"] == slots.WRITE_REPORT_OFFER


def test_another_topic_asked_about_is_no_description_of_the_asker():
    from actions.policy import _names_who_they_are

    assert _names_who_they_are("低保", "俺屋里有低保，也得交一样多吗") and _names_who_they_are("低保", "吃低保的能少交不")
    assert not _names_who_they_are("低保", "那领低保要什么条件") and not _names_who_they_are("低保", "我能享受低保吗")


def test_the_topic_heard_first_gives_way_to_the_question_alone_when_that_is_sure(runner):
    """"残疾证前些天刚办下来，那份护理补助上哪办": the model's topic is the card named first, the question
    is about the care subsidy — answered from the question alone, which the base is sure of."""
    said = runner.run(ActionPolicyAnswer(runner.settings), "cli:hh010",
                      "我爹中风以后一直躺着，残疾证前些天刚办下来，那份护理补助上哪办", intent="ask_policy",
                      entities={"topic": "残疾证"})
    assert said.slot(slots.KB_ENTRY) in ("canji-subsidy-apply", "canji-two-subsidies"), said.texts
