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


def test_not_sure_between_two_gives_one_short_question(kb):
    a = kb.answer("低保的事儿")
    assert not a.confident and a.entry is None
    assert a.clarify.startswith("您问的是") and a.clarify.endswith("？") and "还是" in a.clarify
    assert len(a.clarify) <= 40 and len(a.candidates) == 2
    assert all(kb.by_id[c].topic == "低保" for c in a.candidates)


def test_clarify_question_uses_the_labels(kb):
    text, ids = clarify.question(kb.by_id["dibao-materials"], kb.by_id["dibao-process"])
    assert text == "您问的是低保要带的材料，还是低保怎么申请？" and ids == ["dibao-materials", "dibao-process"]
    assert clarify.question(kb.by_id["dibao-process"], kb.by_id["dibao-process"]) == ("", [])


@pytest.mark.parametrize("reply, expected", [
    ("第一个", "dibao-materials"), ("一", "dibao-materials"), ("前面那个", "dibao-materials"),
    ("第二个", "dibao-process"), ("后边的", "dibao-process"), ("2", "dibao-process"),
    ("要带啥材料", "dibao-materials"), ("问怎么申请", "dibao-process"),
    ("都不是", None), ("", None),
])
def test_pick_reads_the_reply(kb, reply, expected):
    assert kb.pick(reply, ["dibao-materials", "dibao-process"]) == expected


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
    # Dev half, threshold as shipped (0.45). Measured at commit time: top1 0.917, top3 0.948,
    # confident and right 0.625, confidently wrong 0.000, abstention 0.96 (README: measured).
    r = evaluation.evaluate_file(kb, VILLAGER, "dev")["by_kind"]["all"]
    assert r["top1"] >= 0.85 and r["top3"] >= 0.90
    assert r["confident_right"] >= 0.55
    assert r["confident_wrong"] <= 0.02
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
