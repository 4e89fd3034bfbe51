"""Tests for the policy/service knowledge base (bot/knowledge_base.py). No Rasa needed."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge import retriever as kbm
from knowledge.retriever import KnowledgeBase, KnowledgeFormatError, load_entry

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "knowledge"

GOOD_DOC = """---
id: test-jieyong-nongji
title: 村集体农机借用办法
issuer: 杏花村村民委员会
date: 2025-05-01
region: 青山镇杏花村
topic: 积分制
source: 杏花村农机共享管理公告（测试）
keywords: [农机, 拖拉机, 收割机, 借用, 共享]
---
村集体的拖拉机和收割机可以借，提前三天到村委会登记就行，按积分排队。

借用时带身份证，用完加满油归还。
"""


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load(KNOWLEDGE, use_index=False)


@pytest.fixture()
def tmp_kb(tmp_path, monkeypatch):
    """A private copy of knowledge/ and an empty var dir (also set via XIANGYIN_VAR_DIR)."""
    root = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    var = tmp_path / "var"
    monkeypatch.setenv("XIANGYIN_VAR_DIR", str(var))
    return root, var


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------- corpus


def test_corpus_size_and_topics(kb):
    corpus = [e for e in kb.entries if "/corpus/" in e.path.replace("\\", "/")]
    village = [e for e in kb.entries if "/village/" in e.path.replace("\\", "/")]
    assert len(corpus) >= 66
    assert len(village) >= 5
    assert all(e.topic in kbm.TOPICS for e in kb.entries)
    assert all(e.region == "青山镇杏花村" for e in village)
    counts = {t: sum(e.topic == t for e in corpus) for t in kbm.TOPICS}
    for big in ("低保", "医保", "养老保险", "积分制", "网格", "矛盾调解", "法律援助"):
        assert counts[big] >= 4, big


def test_spoken_answers_are_short(kb):
    for e in kb.entries:
        text = kbm.spoken_summary(e)
        assert text, e.id
        assert len(text) <= 100, (e.id, text)


# ---------------------------------------------------------------------- retrieval


@pytest.mark.parametrize(
    "question, expected",
    [
        ("低保要什么条件", "dibao-conditions"),
        ("俺家想申请地保要啥条件", "dibao-conditions"),  # ASR slip 地保 -> 低保
        ("办残疾证要带些啥材料", "canjizheng-materials"),
        ("异地就医备案在哪办", "yibao-offsite"),
        ("四议两公开是啥意思", "siyi-liang-gongkai"),
        ("积分超市几点开门", "xinghua-jifen-market"),
        ("包工头欠俺工资不给", "falv-wage"),
        ("村委会电话多少", "xinghua-office"),
    ],
)
def test_specific_questions(kb, question, expected):
    hits = kb.search(question, k=3)
    assert hits and hits[0].entry.id == expected, [h.entry.id for h in hits]
    a = kb.answer(question)
    if "地保" in question:
        # The words say 地 (land), the sounds say 低保: not said outright, asked back with the
        # right entry named first.
        assert (a.confident and a.entry.id == expected) or a.candidates[:1] == [expected], a.why
        return
    assert a.confident and a.entry is not None and a.entry.id == expected
    assert a.citation.startswith("来源：") and a.entry.title in a.citation
    assert len(a.text) <= 100


def test_grid_specific_notice(kb):
    a = kb.answer("我们网格员是谁", village_grid="第二网格")
    assert a.entry is not None and a.entry.id == "xinghua-grid-2"
    assert "李国强" in a.text
    # Other grids' notices are never offered to this user.
    hits = kb.search("网格员是谁", k=10, village_grid="第二网格")
    assert not {"xinghua-grid-1", "xinghua-grid-3"} & {h.entry.id for h in hits}


def test_topic_hint_boosts_and_filters(kb):
    q = "租金不给咋办"
    filtered = kb.search(q, topic="土地流转", k=5, topic_mode="filter")
    assert filtered and all(h.entry.topic == "土地流转" for h in filtered)
    plain = {h.entry.id: h.score for h in kb.search(q, k=50)}
    boosted = {h.entry.id: h.score for h in kb.search(q, topic="土地流转", k=50)}
    for eid, s in boosted.items():
        if kb.by_id[eid].topic == "土地流转":
            assert s == pytest.approx(plain[eid] * kbm.TOPIC_BOOST)


@pytest.mark.parametrize("question", ["明天会不会下雨", "这期彩票开的啥号", "买啥股票能挣钱", "怎么做红烧肉"])
def test_out_of_corpus_not_confident(kb, question):
    a = kb.answer(question)
    assert not a.confident
    assert a.entry is None and a.citation == ""
    assert a.text == kbm.DONT_KNOW_TEXT


def test_empty_question(kb):
    a = kb.answer("？？")
    assert not a.confident and a.entry is None


# ----------------------------------------------------------------------- parsing


def _write(tmp_path: Path, text: str | bytes, name: str = "doc.md") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def test_load_entry_ok(tmp_path):
    e = load_entry(_write(tmp_path, GOOD_DOC))
    assert e.id == "test-jieyong-nongji" and e.date == "2025-05-01"
    assert e.keywords[0] == "农机" and e.grid is None
    assert e.body.startswith("村集体")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("只有正文，没有头。\n", "missing metadata header"),
        (GOOD_DOC.replace("issuer: 杏花村村民委员会\n", ""), "missing required field 'issuer'"),
        (GOOD_DOC.replace("2025-05-01", "2025年5月1日"), "bad date"),
        (GOOD_DOC.replace("2025-05-01", "2025-13-40"), "bad date"),
        (GOOD_DOC.split("---\n村集体")[0] + "---\n\n   \n", "empty body"),
        (GOOD_DOC.replace("\n---\n村集体", "\n村集体"), "not closed"),
        ("---\nid: [\n---\n正文\n", "not valid YAML"),
    ],
)
def test_load_entry_errors(tmp_path, text, fragment):
    p = _write(tmp_path, text)
    with pytest.raises(KnowledgeFormatError) as info:
        load_entry(p)
    assert fragment in str(info.value)
    assert str(p) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_load_entry_non_utf8(tmp_path):
    p = _write(tmp_path, GOOD_DOC.encode("gbk"))
    with pytest.raises(KnowledgeFormatError, match="UTF-8"):
        load_entry(p)


# ------------------------------------------------------------- index and ingestion


def test_build_index_atomic_and_reused(tmp_kb):
    root, var = tmp_kb
    path = kbm.build_index(root)  # var dir from XIANGYIN_VAR_DIR
    assert path == var / "knowledge-index" / "index.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == kbm.INDEX_FORMAT and len(data["entries"]) >= 70
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]
    kb = KnowledgeBase.load(root)
    assert kb.fingerprint == data["fingerprint"]
    assert kb.search("低保要什么条件")[0].entry.id == "dibao-conditions"


def test_ingest_makes_new_document_answerable(tmp_kb, tmp_path):
    root, var = tmp_kb
    kbm.build_index(root, var_dir=var)
    q = "村里的收割机能借吗"
    assert not KnowledgeBase.load(root, var_dir=var).answer(q).confident
    src = _write(tmp_path, GOOD_DOC, "nongji.md")
    written = kbm.ingest([src], root=root, var_dir=var)
    assert written == [root / "corpus" / "jifen" / "test-jieyong-nongji.md"]
    kb = KnowledgeBase.load(root, var_dir=var)
    a = kb.answer(q)
    assert a.confident and a.entry.id == "test-jieyong-nongji"
    assert "杏花村村民委员会《村集体农机借用办法》（2025-05-01）" in a.citation
    ids = [e["id"] for e in json.loads(kbm.index_path(var).read_text(encoding="utf-8"))["entries"]]
    assert "test-jieyong-nongji" in ids


def test_ingest_unknown_topic_goes_to_local(tmp_kb, tmp_path):
    root, var = tmp_kb
    src = _write(tmp_path, GOOD_DOC.replace("topic: 积分制", "topic: 农机共享"), "n.md")
    assert kbm.ingest([src], root=root, var_dir=var) == [root / "corpus" / "local" / "test-jieyong-nongji.md"]


def test_ingest_bad_file_changes_nothing(tmp_kb, tmp_path):
    root, var = tmp_kb
    index = kbm.build_index(root, var_dir=var)
    before_index = index.read_bytes()
    before_tree = _snapshot(root)
    good = _write(tmp_path, GOOD_DOC, "good.md")
    bad = _write(tmp_path, GOOD_DOC.replace("id: test-jieyong-nongji", "id: other").replace("date: 2025-05-01", "date: 明年"), "bad.md")
    with pytest.raises(KnowledgeFormatError, match="bad.md"):
        kbm.ingest([good, bad], root=root, var_dir=var)  # all or nothing
    assert index.read_bytes() == before_index
    assert _snapshot(root) == before_tree


def test_ingest_duplicate_ids_in_batch_rejected(tmp_kb, tmp_path):
    root, var = tmp_kb
    a = _write(tmp_path, GOOD_DOC, "a.md")
    b = _write(tmp_path, GOOD_DOC, "b.md")
    before = _snapshot(root)
    with pytest.raises(KnowledgeFormatError, match="duplicate id"):
        kbm.ingest([a, b], root=root, var_dir=var)
    assert _snapshot(root) == before


def test_ingest_same_id_replaces_entry(tmp_kb, tmp_path):
    root, var = tmp_kb
    updated = (KNOWLEDGE / "village" / "xinghua-jifen-market.md").read_text(encoding="utf-8")
    updated = updated.replace("每月十号和二十五号开放", "每周六开放").replace("2025-03-01", "2025-06-01")
    src = _write(tmp_path, updated, "market.md")
    written = kbm.ingest([src], root=root, var_dir=var)
    assert written == [root / "village" / "xinghua-jifen-market.md"]  # stays a village notice
    kb = KnowledgeBase.load(root, var_dir=var)
    assert sum(e.id == "xinghua-jifen-market" for e in kb.entries) == 1
    a = kb.answer("积分超市几点开门")
    assert a.entry.id == "xinghua-jifen-market" and "每周六" in a.text and "2025-06-01" in a.citation


def test_cli_bad_file_exit_code_2(tmp_kb, tmp_path):
    root, var = tmp_kb
    bad = _write(tmp_path, "no header\n", "bad.md")
    proc = subprocess.run(
        [sys.executable, "-m", "knowledge", "--root", str(root), "--var-dir", str(var), "ingest", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "知识文件格式有误" in proc.stderr and "Bad knowledge file" in proc.stderr and "bad.md" in proc.stderr


# --------------------------------------------------------------------- evaluation


def test_eval_set_sizes_and_ids(kb):
    import yaml

    qs = yaml.safe_load((KNOWLEDGE / "eval" / "questions.yml").read_text(encoding="utf-8"))
    ooc = yaml.safe_load((KNOWLEDGE / "eval" / "out_of_corpus.yml").read_text(encoding="utf-8"))
    assert len(qs) >= 130 and len(ooc) >= 30
    for item in qs:
        for eid in kbm._expected_ids(item):
            assert eid in kb.by_id, eid


@pytest.mark.slow  # answers the whole evaluation set (seconds of CPU): `make test` runs it, test-fast does not
def test_eval_accuracy_floor(kb):
    r = kbm.evaluate(kb, KNOWLEDGE / "eval" / "questions.yml", KNOWLEDGE / "eval" / "out_of_corpus.yml")
    # Measured at commit time: top1 0.952, top3 1.000, ooc 1.000, confident 0.774 (threshold 0.35,
    # lead 1.1, words and sounds agreeing).
    # Floors leave room for corpus edits without hiding a real regression.
    assert r["top3"] >= 0.90
    assert r["top1"] >= 0.75
    assert r["ooc_correct_dont_know"] >= 0.85
    assert r["in_corpus_confident"] >= 0.75


# ------------------------------------------------------------------- the learned view


def test_learned_view_learns_from_the_entries_only_and_is_deterministic(kb):
    from knowledge import learned

    e = kb.by_id["dibao-process"]
    texts = [t for t, _ in learned.training_texts(e)]
    assert e.title in texts and all(a in texts for a in e.asks) and all(x in texts for x in e.examples)
    assert len(e.examples) >= 10  # knowledge/examples/*.yml were attached to their entries
    own = " ".join([e.title, e.label, *e.asks, *e.examples, e.body])
    assert all(t in own or t == " ".join([e.topic, *e.keywords]) for t in texts)
    again = learned.LearnedView(kb.entries, kbm._learned_text, kbm._run_syllables, kbm._learned_extra)
    q = kbm._learned_text("低保多长时间能批下来")
    assert again.scores(q, prepared=True) == kb.learned.scores(q, prepared=True)
    d = kb.learned.scores(q, prepared=True)
    assert max(d, key=d.get) == "dibao-process"


def test_learned_view_reorders_close_hits_and_keeps_the_best_score(kb):
    question = "低保批下来以后一个月给多少钱"
    plain = KnowledgeBase(kb.entries, kb.passage_tokens, kb.passage_owner, kb.passage_text)
    plain.learned_weight = 0.0
    before, after = plain.search(question, k=500), kb.search(question, k=500)
    assert {h.entry.id for h in before} == {h.entry.id for h in after}
    # the best hit's score is the best BM25 score (the confidence rule reads the same scale)
    assert abs(before[0].score - after[0].score) < 1e-9 * max(1.0, before[0].score)
    assert after[0].entry.id == "dibao-standard"
    # hits beyond LEARNED_REACH of the best BM25 score are left as BM25 scored them
    far = [h for h in after if h.bm25 * kbm.LEARNED_REACH < before[0].score]
    assert all(h.score == h.bm25 for h in far)


def test_the_learned_view_does_not_overturn_the_kind_of_answer_asked_for(kb):
    # "低保要" is in the materials entry's example questions; 条件 asks who qualifies
    assert kb.search("申请低保要啥条件", k=1)[0].entry.id == "dibao-conditions"


def test_the_kind_of_answer_asked_for_decides_between_close_siblings(kb):
    assert kb.answer("高龄补贴咋领").entry.id == "gaoling-apply"  # 咋领 asks how to apply
    a = kb.answer("重度残疾的护理补贴咋申请")  # close siblings of one topic; 咋申请 is "how to apply"
    assert a.confident and a.entry.id == "canji-subsidy-apply" and a.why.get("kind_decides") == "canji-subsidy-apply"
    kbm.KIND_DECIDES, saved = False, kbm.KIND_DECIDES
    kb.calibration, calibration = None, kb.calibration
    try:
        assert not kb.answer("重度残疾的护理补贴咋申请").confident  # asked back without it (and the calibration)
    finally:
        kbm.KIND_DECIDES, kb.calibration = saved, calibration


def test_every_shipped_example_question_belongs_to_an_entry(kb):
    examples = kbm.load_examples()
    assert set(examples) <= set(kb.by_id), sorted(set(examples) - set(kb.by_id))
    assert all(len(kb.by_id[i].examples) >= 8 for i in kb.by_id)  # every entry: 14 written, overlaps removed


def test_example_questions_of_an_entry_that_is_gone_are_left_out(tmp_path):
    import shutil

    root = tmp_path / "knowledge"
    shutil.copytree(kbm.PROJECT_ROOT / "knowledge" / "corpus" / "dibao", root / "corpus" / "dibao")
    (root / "examples").mkdir()
    (root / "examples" / "x.yml").write_text("dibao-process:\n  - 低保咋个申请嘛\ngone-entry:\n  - 这条没了\n",
                                             encoding="utf-8")
    entries = kbm.load_entries(root)
    assert {e.id: e.examples for e in entries}["dibao-process"] == ["低保咋个申请嘛"]
    (root / "examples" / "x.yml").write_text("- not a mapping\n", encoding="utf-8")
    with pytest.raises(kbm.KnowledgeFormatError, match="mapping"):
        kbm.load_entries(root)


@pytest.mark.parametrize("question", ["养老保险", "低保的事儿", "积分"])
def test_a_bare_topic_is_asked_back_not_guessed_by_the_learned_view(kb, question):
    a = kb.answer(question)
    assert not a.confident and "learned" not in a.why["views"]


def test_a_story_is_measured_by_its_last_clauses_too(kb):
    story = "俺家那口子前年在外头干活摔了腰，这两年地也种不了，娃还在念书，家里一年到头没啥进项，俺想问问低保咋申请"
    a = kb.answer(story)
    assert a.confident and a.entry.id == "dibao-process", a.why
    assert a.why["signals"]["ratio"] > kb.search(story, k=1)[0].ratio


def test_the_learned_view_is_cheap(kb):
    import time

    q = kbm._learned_text("俺娘的养老金咋还没打到卡上")
    kb.learned.scores(q, prepared=True)
    started = time.perf_counter()
    for _ in range(50):
        kb.learned.scores(q, prepared=True)
    assert (time.perf_counter() - started) / 50 < 0.005


def test_the_calibrated_confidence_answers_what_the_rule_asks_back_when_it_is_very_likely_right(kb):
    """knowledge/confidence.json (fitted on the development questions) weighs the signals the
    rule requires one by one; a folder without it gets the rule alone."""
    from knowledge import confidence

    assert kb.calibration is not None and kb.calibration.threshold >= 0.6
    question = "东屋的墙裂了好宽一道缝，夜里睡觉心慌，该咋办"  # names no entry's subject word
    kbm.KIND_DECIDES, saved = False, kbm.KIND_DECIDES
    calibration = kb.calibration
    try:
        kb.calibration = None
        assert not kb.answer(question).confident  # the rule alone asks back
        kb.calibration = calibration
        sure = kb.answer(question)
        assert sure.why["gate"] and len(sure.why["features"]) == len(confidence.FEATURES)
        assert sure.confident and sure.entry.id == "weifang-report"
        assert sure.why["probability"] >= kb.calibration.threshold
    finally:
        kbm.KIND_DECIDES, kb.calibration = saved, calibration
    # never for a question about something no entry covers (the evidence gate comes first)
    for ooc in ("驾照到期了去哪换", "修路征地一亩补偿多少"):
        a = kb.answer(ooc)
        assert not a.confident and not a.why["gate"] and a.why["beyond"], ooc


def test_a_calibration_fitted_on_other_features_is_refused(tmp_path):
    import json

    from knowledge import confidence

    (tmp_path / confidence.FILENAME).write_text(json.dumps({"features": ["ratio"], "coef": [1.0], "intercept": 0,
                                                            "threshold": 0.5}), encoding="utf-8")
    with pytest.raises(confidence.CalibrationError):
        confidence.load(tmp_path)
    assert confidence.load(tmp_path / "elsewhere") is None


def test_a_follow_up_leans_to_the_entry_just_answered(kb):
    """"俺才交了十来年，不够数咋整" after 养老金什么时候能领: the entry just answered (``previous``)
    is favoured among the close hits, so the follow-up is not confidently moved to who may join."""
    question, topic = "养老保险 俺才交了十来年，不够数咋整", "养老保险"
    alone = kb.answer(question, topic=topic)
    assert alone.why["top"] == "yanglao-enroll"  # the premise: without it, ranked away
    after = kb.answer(question, topic=topic, previous="yanglao-receive")
    assert after.why["top"] == "yanglao-receive"
    assert not (after.confident and after.entry.id == "yanglao-enroll")


def test_the_calibration_asks_back_what_the_rule_would_answer_when_it_is_more_likely_wrong(kb):
    """"小孩出生证明丢了咋补" passes every check of the rule (a newborn's insurance entry talks
    of the birth certificate); the signals together say it is unlikely to be right (below
    ``veto``)."""
    kb.calibration, calibration = None, kb.calibration
    try:
        assert kb.answer("小孩出生证明丢了咋补").confident  # the premise: the rule alone answers it
    finally:
        kb.calibration = calibration
    a = kb.answer("小孩出生证明丢了咋补")
    assert not a.confident and a.why["calibration_veto"] and a.why["probability"] < calibration.veto


def test_the_learned_view_and_the_index_are_saved_and_read_back_without_training_again(tmp_path, monkeypatch):
    """A restarted action server reads the index and the learned view from the var folder
    (plain arrays, no pickle) instead of tokenising and training again; same answers."""
    from knowledge import learned

    learned._CACHE.clear()
    first = KnowledgeBase.load(KNOWLEDGE, var_dir=tmp_path)
    scores = first.learned.scores("低保要带啥材料")
    saved = list((tmp_path / kbm.INDEX_DIRNAME).glob("learned-*.npz"))
    assert len(saved) == 1 and kbm.index_path(tmp_path).is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    learned._CACHE.clear()
    monkeypatch.setattr(learned, "_fit", no_training)
    again = KnowledgeBase.load(KNOWLEDGE, var_dir=tmp_path)
    assert again.learned.scores("低保要带啥材料") == scores
    assert again.answer("低保要带啥材料").entry.id == first.answer("低保要带啥材料").entry.id
    # a damaged save is trained again, never trusted
    saved[0].write_bytes(b"not an npz")
    learned._CACHE.clear()
    monkeypatch.undo()
    assert KnowledgeBase.load(KNOWLEDGE, var_dir=tmp_path).learned.scores("低保要带啥材料") == scores


def test_a_question_from_elsewhere_goes_to_the_entry_that_covers_elsewhere(kb):
    """"户口不在这" / a city far away, after (or instead of) the general entry: the sibling that
    covers people and care elsewhere comes first, even against the entry just answered."""
    a = kb.answer("临时救助 俺不是本地人也能申请不", topic="临时救助", previous="linshi-jiuzhu-apply")
    assert a.why["top"] == "linshi-jiuzhu-nonlocal"
    b = kb.answer("医保 俺闺女在广州打工，生病了在那边能报不", topic="医保", previous="yibao-payment-how")
    assert b.why["top"] == "yibao-offsite"


def test_being_old_is_not_repaired_into_an_injury(kb):
    """"上了岁数" sounds like 伤了 (shang le): the sound repair leaves it, so the work-injury
    entry does not win a question about the old-age allowance."""
    assert "伤" not in kb.repair_sounds("俺爹上了年纪腿脚不好")
    a = kb.answer("俺今年八十六了，听人说上了岁数有补贴，咋领")
    assert a.why["top"].startswith("gaoling-")


@pytest.mark.parametrize("question,entry_id", [
    ("包地的那家赖着租钱不给，咋办", "tudi-dispute"),  # rent withheld, in everyday words
    ("在工地上让钢筋扎伤了，老板不管，上哪讨个说法", "falv-gongshang"),  # an injury at work
    ("住院花了好几万，报完还得自己掏一大半，还有啥办法", "yibao-serious-illness"),  # what is left to pay
    ("俺这腿办得了残疾证不", "canjizheng-apply"),  # whether one can get it is how to get it
    ("闺女女婿都不管我，我这老头子找哪个去", "tiaojie-family"),  # children who do not support a parent
])
def test_a_dispute_or_an_injury_told_in_everyday_words_is_answered(kb, question, entry_id):
    answer = kb.answer(question)
    assert answer.confident and answer.entry.id == entry_id


def test_how_long_until_a_result_is_a_when_question_on_the_topic_followed(kb):
    answer = kb.answer("递上去多少天能批下来", topic="低保", topic_mode="filter", previous="dibao-materials")
    assert answer.confident and answer.entry.id == "dibao-process"


@pytest.mark.parametrize("question,topic,previous,entry_id", [
    ("错过了日子还能补交吗", "医保", "yibao-payment-how", "yibao-payment-time"),  # past the deadline
    ("非得本人去不", "高龄补贴", "gaoling-amount", "gaoling-apply"),  # in person, or for someone
    ("那上哪个部门去办", "低保", "dibao-materials", "dibao-process"),  # where to apply
])
def test_a_follow_up_asking_a_kind_of_answer_gets_that_kind_on_the_topic(kb, question, topic, previous, entry_id):
    answer = kb.answer(question, topic=topic, topic_mode="filter", previous=previous)
    assert answer.confident and answer.entry.id == entry_id


@pytest.mark.parametrize("question,entry_id", [
    ("屋里前几天着了一场火，灶房烧没了，能找政府拉一把吗", "linshi-jiuzhu-scope"),  # burnt down is no death
    ("俺娘血压高，天天吃药，门诊那块能报不", "yibao-outpatient"),  # 血压高 is 高血压, no other thing
    ("老人的后事想简单办，该找谁张罗", "hongbai-funeral"),  # a funeral kept simple
])
def test_a_fire_high_blood_pressure_and_a_simple_funeral_in_everyday_words(kb, question, entry_id):
    answer = kb.answer(question)
    assert answer.confident and answer.entry.id == entry_id, (answer.entry and answer.entry.id, answer.why)


def test_money_still_short_after_a_hospital_answer_asks_for_the_second_reimbursement(kb):
    answer = kb.answer("看病钞票花得交关多，还有别的好报伐", topic="医保", topic_mode="filter",
                       previous="yibao-inpatient")
    assert answer.confident and answer.entry.id == "yibao-serious-illness"


def test_a_story_that_ends_in_its_question_is_answered_by_that_question(kb):
    """The story's words sink the whole question; its last clause names the subject and is sure of
    the entry the whole question ranked first: that entry is answered."""
    said = kb.answer("老伴住了半个月院，家底都掏空了，娃还在念书，能申请点啥救助不")
    assert said.confident and said.entry.id.startswith("linshi-jiuzhu"), said.why
    # a last clause that names only a detail ("要抵押不") is no question of its own
    assert kb.answer("想买台旋耕机，信用社能借多少，要抵押不").entry is None


def test_by_the_way_in_the_middle_asks_what_follows(kb):
    said = kb.answer("隔壁老爷子上月走了，家里正办后事；顺便问问，高龄补贴登记要带啥")
    assert said.confident and said.entry.id == "gaoling-apply", said.why


def test_a_follow_up_that_names_nothing_stays_on_the_answer_just_given(kb, monkeypatch):
    """"一年到头最多给报多少" right after the outpatient answer asks about the outpatient limit, though
    the learned view leans to the inpatient one: never answered as the inpatient limit now (with the
    old weight it was, and surely)."""
    asked = "一年到头最多给报多少"
    stays = kb.answer(asked, topic="医保", topic_mode="filter", previous="yibao-outpatient")
    first = stays.entry or (stays.alternatives[0] if stays.alternatives else None)
    assert first is not None and first.id == "yibao-outpatient"
    monkeypatch.setattr(kbm, "BARE_STAY_BOOST", kbm.STAY_BOOST)
    moved = kb.answer(asked, topic="医保", topic_mode="filter", previous="yibao-outpatient")
    assert moved.confident and moved.entry.id == "yibao-inpatient"
    # a follow-up that names another entry's subject still moves ("那住院呢" names 住院)
    moves = kb.answer("那住院一年最多报多少", topic="医保", topic_mode="filter", previous="yibao-outpatient")
    assert moves.entry is not None and moves.entry.id == "yibao-inpatient"


def test_this_years_health_insurance_fee_asked_subject_first_is_the_villages_notice(kb):
    answer = kb.answer("医保今年交多少钱")
    assert answer.confident and answer.entry.id == "xinghua-yibao-2025"
