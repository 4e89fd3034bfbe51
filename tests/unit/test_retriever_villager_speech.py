"""Retrieval of policy answers asked the way villagers ask (issue 19): dialect normalisation,
content words kept, synonym bridging, per-entry example questions, calibrated confidence
(anchor, look-alike nouns, places elsewhere), village-over-general ties, grid notices by
name, the clarifying question and reading its reply, and the per-split eval CLI.
No Rasa needed. The example questions here are written for the tests, not taken from
knowledge/eval."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from knowledge import clarify, evaluation, spoken
from knowledge import retriever as kbm
from knowledge.retriever import Hit, KnowledgeBase, KnowledgeFormatError, load_entry

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "knowledge"
VILLAGER = KNOWLEDGE / "eval" / "villager_questions.yml"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(KNOWLEDGE, use_index=False)


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize("said, standard", [
    ("俺闺女想上技校", "女儿"),
    ("这个咋整", "怎么办"),
    ("中不中", "行不行"),
    ("礼拜二有人不", "周二"),
    ("娃的学费", "孩子"),
    ("身上不得劲", "不舒服"),
    ("咱村的积分超市", "本村"),
    ("包工头欠钱能告他不", "起诉"),
])
def test_dialect_is_put_into_standard_forms(said, standard):
    assert standard in spoken.normalise_spoken(said)


@pytest.mark.parametrize("text", ["补助金额多少", "告诉我低保标准", "公告贴在哪", "中学的助学金"])
def test_normalisation_leaves_standard_words_alone(text):
    assert spoken.normalise_spoken(text).replace(" ", "") == text


def test_gone_blind_is_no_card_lost_and_an_aspirated_dibao_is_dibao():
    """掉 after a change of state says it happened ("耳朵聋掉了"), not that something was lost
    ("证搞掉了" stays); 提保 (d heard as t) is 低保, 提保险 is not."""
    assert "掉" not in spoken.normalise_spoken("我爹耳朵聋掉了，残疾证咋办")
    assert "掉" in spoken.normalise_spoken("残疾证搞掉了咋补")
    assert "低保" in spoken.normalise_spoken("提保要啥条件") and "低保" not in spoken.normalise_spoken("提保险的事")


def test_land_is_a_content_word_not_a_stopword():
    tokens = kbm.tokenize("俺家的地被人占了")
    assert "地" in tokens and "地被" not in tokens
    assert "俺儿" not in kbm.tokenize("俺儿在外地打工")


@pytest.mark.parametrize("a, b", [("礼拜几", "星期几"), ("着火了", "火灾"), ("闺女", "女儿"),
                                  ("瞧病", "就医"), ("补助", "补贴")])
def test_everyday_and_document_words_share_a_synonym_token(a, b):
    syn_a = {t for t in kbm.tokenize(a) if t.startswith("syn:")}
    syn_b = {t for t in kbm.tokenize(b) if t.startswith("syn:")}
    assert syn_a & syn_b, (syn_a, syn_b)


def test_homophone_slips_still_match_by_sound(kb):
    for slip, expected in (("底保要啥条件", "dibao-conditions"), ("调节室在哪", "xinghua-lawyer")):
        assert expected in [h.entry.id for h in kb.search(slip, k=3)], slip


# --------------------------------------------------------------- entry metadata


def test_every_entry_has_example_questions_and_a_label(kb):
    for e in kb.entries:
        assert 3 <= len(e.asks) <= 6, e.id
        assert e.label and len(e.label) <= 12, e.id


def test_asks_are_indexed_as_passages(kb):
    e = kb.by_id["tekun-care"]
    indexed = [kb.passage_text[i] for i, owner in enumerate(kb.passage_owner) if kb.entries[owner].id == e.id]
    assert len(indexed) == 1 + len(e.paragraphs) + len(e.asks)


def test_bad_asks_field_is_rejected(tmp_path):
    doc = (KNOWLEDGE / "corpus" / "dibao" / "dibao-process.md").read_text(encoding="utf-8")
    p = tmp_path / "bad.md"
    p.write_text(doc.replace("asks: [", "asks: {a: [").replace("步骤]", "步骤]}", 1), encoding="utf-8")
    with pytest.raises(KnowledgeFormatError, match="asks"):
        load_entry(p)


# ------------------------------------------------------------- confidence checks


@pytest.mark.parametrize("question", [
    "社保卡丢了怎么补",            # 社保卡 is not 社保: a look-alike noun
    "驾驶证到期了去哪换",          # matches 残疾证到期换证 on 到期/换 only: no anchor
    "在浙江交的低保能转回来吗",    # another province's rule
    "护照过期了怎么续",
])
def test_look_alike_questions_are_not_answered_confidently(kb, question):
    a = kb.answer(question)
    assert not a.confident and a.entry is None


@pytest.mark.parametrize("question, grid, expected", [
    ("家里着火了 日子过不下去了 能申请救助吗", None, "linshi-jiuzhu-scope"),
    ("俺闺女考上大学了 学费不够咋整", None, "jiaoyu-college-loan"),
    ("俺家的地被人占了咋整", None, "tudi-dispute"),
    ("我在广东打工 生病了医保能报吗", None, "yibao-offsite"),   # a place the entry covers
    ("俺们村网格员都有谁", "第二网格", "xinghua-grid-list"),    # the list, not the own grid
])
def test_villager_phrasings_are_answered_confidently(kb, question, grid, expected):
    a = kb.answer(question, village_grid=grid)
    if a.confident:
        assert a.entry.id == expected, a.why
    else:  # not sure enough to say it outright (an ASR slip of the name): asked back, right one first
        assert a.candidates and a.candidates[0] == expected, a.why


def test_answer_explains_itself(kb):
    a = kb.answer("社保卡丢了怎么补")
    assert set(a.why) >= {"ratio", "lead", "anchors", "lookalikes", "elsewhere"}
    b = kb.answer("低保要带啥材料")
    assert b.confident and b.why["anchors"] and b.why["strong"]


def test_near_tie_prefers_the_village_entry(kb):
    general, village = kb.by_id["yanglao-certification"], kb.by_id["xinghua-yanglao-cert"]
    hits = kbm._prefer_village([Hit(general, 10.0, ""), Hit(village, 9.5, ""), Hit(kb.by_id["dibao-process"], 3.0, "")])
    assert hits[0].entry is village and hits[0].village_tie
    far = kbm._prefer_village([Hit(general, 10.0, ""), Hit(village, 5.0, "")])
    assert far[0].entry is general
    other_topic = kbm._prefer_village([Hit(kb.by_id["dibao-process"], 10.0, ""), Hit(village, 9.9, "")])
    assert other_topic[0].entry.id == "dibao-process"


@pytest.mark.parametrize("question, grid, expected", [
    ("王秀兰在不在村委会", "第二网格", "xinghua-grid-1"),   # the worker's name, asked from another grid
    ("张立华哪天值班", "第一网格", "xinghua-grid-3"),        # ASR slip of 张丽华
    ("村东片的网格员电话多少", None, "xinghua-grid-1"),      # the area
])
def test_grid_notices_are_found_by_worker_or_area_from_anywhere(kb, question, grid, expected):
    a = kb.answer(question, village_grid=grid)
    if a.confident:
        assert a.entry.id == expected, a.why
    else:  # not sure enough to say it outright (an ASR slip of the name): asked back, right one first
        assert a.candidates and a.candidates[0] == expected, a.why


# --------------------------------------------------------------- clarification


def test_not_sure_between_close_entries_gives_one_short_question(kb):
    a = kb.answer("低保的事儿")
    assert not a.confident and a.entry is None
    assert a.clarify.startswith("您问的是") and a.clarify.endswith("？") and "还是" in a.clarify
    assert len(a.clarify) <= 40 and 2 <= len(a.candidates) <= 3
    assert all(kb.by_id[c].topic == "低保" for c in a.candidates)


def test_clarify_question_uses_the_labels(kb):
    text, ids = clarify.question(kb.by_id["dibao-materials"], kb.by_id["dibao-process"])
    assert text == "您问的是低保要带的材料，还是低保怎么申请？" and ids == ["dibao-materials", "dibao-process"]
    assert clarify.question(kb.by_id["dibao-process"], kb.by_id["dibao-process"]) == ("", [])


def test_clarify_question_names_one_or_three(kb):
    one = clarify.question(kb.by_id["linshi-jiuzhu-scope"])
    assert one == (f"您问的是{clarify.label(kb.by_id['linshi-jiuzhu-scope'])}吗？", ["linshi-jiuzhu-scope"])
    three = [kb.by_id[i] for i in ("dibao-materials", "dibao-process", "dibao-standard")]
    text, ids = clarify.question(*three)
    labels = [clarify.label(e) for e in three]
    assert text == f"您问的是{labels[0]}、{labels[1]}，还是{labels[2]}？" and ids == [e.id for e in three]
    # a repeated label is left out; what is left is still a choice between two
    text, ids = clarify.question(three[0], three[0], three[1])
    assert ids == ["dibao-materials", "dibao-process"] and text.count("还是") == 1
    assert clarify.alternatives(["甲"]) == "甲" and clarify.alternatives(["甲", "乙"]) == "甲，还是乙"


def test_close_candidates_are_the_ones_within_reach_of_the_top(kb, monkeypatch):
    e = [kb.by_id[i] for i in ("dibao-materials", "dibao-process", "dibao-standard", "dibao-review")]
    assert [h.entry for h in kbm._close_candidates([Hit(e[0], 10.0, ""), Hit(e[1], 5.0, "")])] == e[:1]
    assert [h.entry for h in kbm._close_candidates([Hit(e[0], 10.0, ""), Hit(e[1], 9.0, ""), Hit(e[2], 5.0, "")])] \
        == e[:2]
    three_close = [Hit(e[0], 10.0, ""), Hit(e[1], 9.0, ""), Hit(e[2], 8.5, ""), Hit(e[3], 8.4, "")]
    # a spoken question names two at most (issue 19: the third name was never the right one)
    assert [h.entry for h in kbm._close_candidates(three_close)] == e[:2]
    monkeypatch.setattr(kbm, "CLARIFY_NAMES", 3)
    assert [h.entry for h in kbm._close_candidates(three_close)] == e[:3]


@pytest.mark.parametrize("reply, expected", [
    ("第一个", "dibao-materials"), ("一", "dibao-materials"), ("前面那个", "dibao-materials"),
    ("第二个", "dibao-process"), ("后边的", "dibao-process"), ("2", "dibao-process"),
    ("要带啥材料", "dibao-materials"), ("问怎么申请", "dibao-process"),
    ("都不是", None), ("", None),
])
def test_pick_reads_the_reply(kb, reply, expected):
    assert kb.pick(reply, ["dibao-materials", "dibao-process"]) == expected


@pytest.mark.parametrize("reply, expected", [
    ("第三个", "dibao-standard"), ("最后那个", "dibao-standard"), ("第二个", "dibao-process"),
    ("头一个", "dibao-materials"), ("问每月领多少钱", "dibao-standard"), ("哪个都不是", None),
])
def test_pick_among_three(kb, reply, expected):
    assert kb.pick(reply, ["dibao-materials", "dibao-process", "dibao-standard"]) == expected


@pytest.mark.parametrize("reply, expected", [("对", "linshi-jiuzhu-scope"), ("是的", "linshi-jiuzhu-scope"),
                                             ("嗯 就是这个", "linshi-jiuzhu-scope"), ("不是", None), ("不对", None)])
def test_pick_after_a_yes_no_question_about_one_entry(kb, reply, expected):
    assert kb.pick(reply, ["linshi-jiuzhu-scope"]) == expected


# ------------------------------------------------------- the confidence decision


SURE = {"ratio": 0.8, "lead": 2.0, "anchored": True, "vetoed": False, "strong": True, "grid": False,
        "village_tie": False, "views_agree": True}


@pytest.mark.parametrize("change, confident", [
    ({}, True),
    ({"ratio": kbm.CONFIDENCE_THRESHOLD - 0.01}, False),              # covers too little of the question
    ({"anchored": False}, False),                                      # does not name the entry's subject
    ({"vetoed": True}, False),                                         # a look-alike noun / a place elsewhere
    ({"lead": kbm.CLEAR_LEAD - 0.01}, False),                          # a near tie with the runner-up
    ({"lead": kbm.CLEAR_LEAD - 0.01, "village_tie": True}, True),      # ... the village's own notice won it
    ({"views_agree": False, "lead": kbm.DISAGREE_LEAD - 0.01}, False),  # words and sounds disagree
    ({"views_agree": False, "lead": kbm.DISAGREE_LEAD}, True),          # ... but it leads widely
    ({"views_agree": False, "lead": 1.2, "village_tie": True}, False),  # a tie does not settle a disagreement
    ({"strong": False, "lead": kbm.WEAK_ANCHOR_LEAD - 0.01}, False),   # only a detail of the entry is named
    ({"grid": True, "lead": 1.0, "views_agree": False}, True),         # the asker's (or named) grid notice
    # two of the three views name the top entry: a smaller lead will do, but not in a long story
    ({"views_agree": False, "views_majority": True, "lead": kbm.MAJORITY_LEAD}, True),
    ({"views_agree": False, "views_majority": True, "lead": kbm.MAJORITY_LEAD - 0.01}, False),
    ({"views_agree": False, "views_majority": True, "story": True, "lead": kbm.DISAGREE_LEAD - 0.01}, False),
])
def test_decide(kb, change, confident):
    assert kb.decide({**SURE, **change}) is confident


@pytest.mark.parametrize("question, noun", [("老房子拆了重建用不用审批", "老房子"),   # an old one is still one
                                            ("地租出去要签合同不", "签合同")])         # a verb and the thing
def test_the_subject_said_with_a_verb_or_a_holder_is_no_look_alike(kb, question, noun):
    a = kb.answer(question)
    assert noun not in a.why["lookalikes"], a.why


@pytest.mark.parametrize("question, noun", [("医保卡丢了咋补办", "医保卡"), ("社保卡密码咋改", "社保卡"),
                                            ("独生子女奖励咋领", "独生子女")])  # a term of its own
def test_a_different_thing_built_on_the_subject_is_still_a_look_alike(kb, question, noun):
    a = kb.answer(question)
    assert noun in a.why["lookalikes"] and not a.confident


def test_a_place_in_the_story_part_is_where_somebody_lives(kb):
    story = "儿子在广州打工，家里就我一个，腿脚不好，高龄补贴咋申请"
    assert kb.answer(story).why["elsewhere"] == []
    # ... but where the scheme itself was (its clause names the subject), or a status, counts
    assert kb.answer("俺在河南交了几年养老保险，回来了，咋转过来").why["elsewhere"] == ["河南"]
    assert "外省" in kb.evidence.check("俺是外省嫁过来的，户口没迁，家里出事了，能申请救助不",
                                      "linshi-jiuzhu-scope").elsewhere
    # a place is a word of its own: 村西安置点 says 安置, not 西安
    assert kb.answer("村西安置点的网格员是谁").why["elsewhere"] == []


@pytest.mark.parametrize("question, first, second", [
    ("危房改造补多少，咋申请", "weifang-subsidy", "weifang-apply"),
    ("临时救助给多少，去哪申请", "linshi-jiuzhu-amount", "linshi-jiuzhu-apply"),
])
def test_a_two_part_question_is_answered_from_both_entries(kb, question, first, second):
    a = kb.answer(question)
    assert a.confident and {a.entry.id, *(e.id for e in a.also)} == {first, second}, a.why
    assert a.text == kbm.both_summary(kb.by_id[first], kb.by_id[second])
    assert "另外" in a.text and not a.clarify


def test_a_part_that_only_tells_is_no_question_of_its_own(kb):
    assert kbm._asks("手机上咋个交") and kbm._asks("补多少钱")
    assert not kbm._asks("出车祸了") and not kbm._asks("她刚满八十")


def test_a_long_story_is_ranked_on_its_question_and_its_subject_words(kb):
    story = "俺今年七十多了，闺女嫁到外县，儿子在城里上班，一家人平常都忙，听说高龄补贴快能领了，去哪登记，要带啥"
    tokens = set(kb.ranking_tokens(story))
    assert "高龄补贴" in tokens              # the story's subject word stays
    assert not tokens & {"一家人", "平常", "嫁", "int:when"}  # the rest of the account does not
    assert set(kb.query_tokens("去哪登记，要带啥")) <= tokens
    short = "高龄补贴去哪登记，要带啥"
    assert kb.ranking_tokens(short) == kb.query_tokens(short)


def test_words_and_sounds_are_two_readings_of_the_question(kb):
    # 地保 (an ASR slip of 低保): the words read 地 (land), the sounds read di_bao.
    a = kb.answer("俺家想申请地保要啥条件")
    assert set(a.why["views"]) == {"words", "sounds", "learned"}  # the third: knowledge.learned
    assert a.why["views"]["words"] != a.why["views"]["sounds"] or a.why["signals"]["views_agree"]
    assert kb.answer("低保要带啥材料").why["signals"]["views_agree"]


# --------------------------------------------------------------------- stress tests


def test_homophone_noise_is_seeded_and_keeps_the_expected_answers():
    items = [{"q": "低保要带什么材料", "id": "dibao-materials", "kind": "colloquial"}]
    a = evaluation.homophone_noise(items, rate=0.5, seeds=(1, 2))
    assert a == evaluation.homophone_noise(items, rate=0.5, seeds=(1, 2)) and len(a) == 2
    assert all(x["id"] == "dibao-materials" and len(x["q"]) == len(items[0]["q"]) for x in a)
    assert any(x["q"] != items[0]["q"] for x in a)
    from bot.text import toneless_pinyin
    for x in a:  # each swapped character sounds like the one it replaces
        assert all(toneless_pinyin(c) == toneless_pinyin(o) for c, o in zip(x["q"], items[0]["q"]))


def test_without_asks_indexes_no_example_questions(kb):
    bare = evaluation.without_asks(kb)
    assert all(not e.asks for e in bare.entries) and len(bare.entries) == len(kb.entries)
    assert len(bare.passage_tokens) == len(kb.passage_tokens) - sum(len(e.asks) for e in kb.entries)
    assert all(e.asks for e in kb.entries)  # the original is untouched


# --------------------------------------------------------------------- evaluation


def test_villager_set_splits_and_kinds():
    dev = evaluation.load_questions(VILLAGER, "dev")
    held = evaluation.load_questions(VILLAGER, "heldout")
    assert len(dev) + len(held) == len(evaluation.load_questions(VILLAGER, "all")) >= 150
    assert {i["split"] for i in dev} == {"dev"} and {i["split"] for i in held} == {"heldout"}
    assert {i["kind"] for i in dev} == {i["kind"] for i in held}
    with pytest.raises(ValueError):
        evaluation.evaluate_file(None, VILLAGER, "heldout", details=True)


@pytest.mark.slow  # answers the whole dev half (seconds of CPU)
def test_villager_dev_floor(kb):
    # Dev half, as shipped (threshold 0.35, lead 1.15, views). Measured at commit time: top1
    # 0.917, top3 0.948, confident and right 0.615, confidently wrong 0.000, asked back with
    # the right entry named 0.271, abstention 1.00 (README: measured).
    r = evaluation.evaluate_file(kb, VILLAGER, "dev")["by_kind"]["all"]
    assert r["top1"] >= 0.85 and r["top3"] >= 0.90
    # 2026-11-30 (calibration open to stories and look-alikes, fitted on eight files): right
    # and confident 0.948, confidently wrong 0.021 (two near siblings), abstention 0.92
    assert r["confident_right"] >= 0.85
    assert r["confident_wrong"] <= 0.03
    assert r["abstain"] >= 0.90


@pytest.mark.slow  # answers the whole dev half (seconds of CPU)
def test_eval_cli_prints_per_kind_and_curve():
    proc = subprocess.run([sys.executable, "-m", "knowledge", "eval", "--file", str(VILLAGER), "--split", "dev",
                           "--curve"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for word in ("story", "homophone", "colloquial", "grid", "ooc", "conf_wrong", "abstain", "threshold"):
        assert word in proc.stdout
    refused = subprocess.run([sys.executable, "-m", "knowledge", "eval", "--file", str(VILLAGER), "--split",
                              "heldout", "--details"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "dev split only" in refused.stderr


def test_livestock_lost_and_boarding_at_school_are_no_death_and_no_cancelling(kb):
    assert "损失" in spoken.normalise_spoken("今年羊死了好几只") and "死" not in spoken.normalise_spoken("今年羊死了好几只")
    assert "住校" in kb.repair_sounds("娃在镇上中学住校")  # never 注销 by ear
    answer = kb.answer("孩子住校吃饭的钱有补助吗")
    assert answer.confident and answer.entry.id == "jiaoyu-compulsory"


def test_breathing_ones_last_is_a_death_and_when_someone_is_here_is_the_villages_notice(kb):
    assert "去世" in spoken.normalise_spoken("我公公昨儿夜里咽的气")
    assert kb.asks_local("那个律师啥时候在村里") and not kb.asks_local("养老金啥时候发")


@pytest.mark.parametrize("question, expected", [
    ("在深圳打工被欠了工钱咋办", "falv-wage"),
    ("在广东工地上砸伤了脚，算工伤不", "falv-gongshang"),
])
def test_wages_owed_and_injuries_at_work_elsewhere_are_answered(kb, question, expected):
    """Migrant workers are owed wages and hurt far from home: the entries on both say what to do
    there, so a far city named is no reason to decline."""
    answer = kb.answer(question)
    assert answer.confident and answer.entry.id == expected, answer.why
