"""Calibrated confidence: how likely the retriever's first entry is the right one.

The hand-written rule (``KnowledgeBase.decide``) answers only when every signal agrees: enough
of the question covered, the entry's subject named, nothing else named, a clear lead, the
three views agreeing. Measured on villagers' questions it is safe (about 1 in 100 answered
wrongly) but shy: a quarter of the questions whose first entry is right still hear "不太确定".
Each signal alone is weak; together they say a lot. This module weighs them with a logistic
regression fitted on the development question files (never on a held-out file), and the
retriever answers a question the rule would ask back when

* the question is not a story (three clauses or more: there the calibrated path, measured on
  the development files, gained as many right answers as wrong ones),
* the question names the entry's subject and nothing that vetoes it (the evidence check of
  :mod:`knowledge.evidence`, which keeps questions about things no entry covers out), and
* the fitted probability that the first entry is right is at least ``threshold``.

The other way round, an answer the rule would give is asked back when that probability is
below ``veto`` (0.4: well below even odds), which on the development files kept out
out-of-corpus questions whose words each matched something ("高考志愿咋填" -> 志愿服务的积分)
and lost no right answer.

The coefficients live in the knowledge folder they were fitted on (``knowledge/confidence.json``),
with how they were fitted and the leave-one-file-out figures they were chosen by; a folder
without the file (another village's corpus, a test's) gets the rule alone.
``python -m knowledge confidence --fit`` refits them after a retriever or corpus change (the
file names the features, and loading refuses a file whose features are not the ones computed
here). Scoring is a dot product: microseconds.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

#: The features, in order (see ``features``).
FEATURES = ("ratio", "log_lead", "anchored", "vetoed", "strong", "label", "views_agree", "views_majority",
            "story", "learned_margin", "learned_top", "uncovered", "unknown", "length", "village_tie", "grid")
FILENAME = "confidence.json"  # in the knowledge folder
#: Development question files the coefficients are fitted on besides the original set
#: (questions.yml + out_of_corpus.yml), with the split of each that is development data
#: (``knowledge/eval/``; every other file there is held out or kept for validation).
DEV_FILES = (("villager_questions.yml", "dev"), ("fresh_heldout.yml", "all"), ("fresh2_heldout.yml", "dev"),
             ("fresh3_heldout.yml", "dev"), ("fresh4_heldout.yml", "dev"),
             # measured once each (fresh5) or used for validation (fresh6) in earlier sessions, then
             # made development data on 2026-11-30 (their headers say so)
             ("fresh5_heldout.yml", "all"), ("fresh6_heldout.yml", "all"))
#: Thresholds tried when fitting; the lowest whose leave-one-file-out figures keep the
#: confidently wrong share within ``WRONG_BUDGET`` and answer no more out-of-corpus questions
#: than ``OOC_BUDGET`` above the rule alone is kept.
THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
WRONG_BUDGET = 0.02
OOC_BUDGET = 0.01
#: Below this probability the rule's own answer is asked back. The even odds (0.5) asked back
#: right answers in development dialogues (a village notice that won a near tie, "医宝今年啥时候
#: 交", p 0.46; a problem told before the question, p 0.47); at 0.4 the development questions
#: lose no right answer and two out-of-corpus ones are still asked back.
VETO = 0.4
#: Inverse regularisation of the logistic regression (0.1-10 gave the same figures).
C = 1.0
#: Questions longer than this many characters count as this long.
LENGTH_CAP = 60


def features(signals: dict, hits: Sequence, why: dict, question: str) -> list[float]:
    """The feature vector of one answer, from what ``KnowledgeBase.answer`` gathered: its
    signals, the learned view's decision values of the first hits (``Hit.learned``; 0 when the
    view was not asked), the uncovered and unknown content words, the question's length."""
    learned = [float(getattr(h, "learned", 0.0) or 0.0) for h in hits[:5]]
    margin = learned[0] - max(learned[1:]) if len(learned) > 1 else 1.0
    s = signals
    return [float(s["ratio"]), math.log(max(float(s["lead"]), 1e-3)), float(s["anchored"]), float(s["vetoed"]),
            float(s["strong"]), float(s["label"]), float(s["views_agree"]), float(s["views_majority"]),
            float(s["story"]), margin, float(bool(learned) and learned[0] == max(learned)),
            float(len(why.get("uncovered") or [])), float(len(why.get("unknown") or [])),
            min(len(question), LENGTH_CAP) / LENGTH_CAP, float(s["village_tie"]), float(s["grid"])]


@dataclass(frozen=True)
class Calibration:
    """Fitted weights of ``FEATURES`` and the probability at which an answer is given."""

    coef: tuple[float, ...]
    intercept: float
    threshold: float
    #: How it was fitted: files, counts, the leave-one-file-out table (for the README).
    fitted: dict
    veto: float = VETO

    def probability(self, x: Sequence[float]) -> float:
        z = self.intercept + sum(c * v for c, v in zip(self.coef, x))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_dict(self) -> dict:
        return {"features": list(FEATURES), "coef": [round(c, 6) for c in self.coef],
                "intercept": round(self.intercept, 6), "threshold": self.threshold, "veto": self.veto,
                "fitted": self.fitted}


class CalibrationError(ValueError):
    """The calibration file does not fit this code (other features): refit it."""


_LOADED: dict[Path, Calibration | None] = {}


def load(root: str | Path = "knowledge") -> Calibration | None:
    """The calibration of the knowledge folder ``root`` (cached per process); None when it has
    none."""
    path = Path(root) / FILENAME
    if path not in _LOADED:
        if not path.is_file():
            _LOADED[path] = None
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            if tuple(data.get("features", ())) != FEATURES or len(data.get("coef", ())) != len(FEATURES):
                raise CalibrationError(f"{path} was fitted on other features; refit: python -m knowledge confidence --fit")
            _LOADED[path] = Calibration(tuple(float(c) for c in data["coef"]), float(data["intercept"]),
                                        float(data["threshold"]), dict(data.get("fitted", {})),
                                        float(data.get("veto", VETO)))
    return _LOADED[path]


# --------------------------------------------------------------------------- fitting


def dev_items(root: str | Path = "knowledge") -> list[dict]:
    """The development questions the calibration is fitted on, each with its ``src`` file."""
    from knowledge import evaluation

    eval_dir = Path(root) / "eval"
    items = [dict(it, src="questions.yml")
             for it in evaluation.load_legacy(eval_dir / "questions.yml", eval_dir / "out_of_corpus.yml")]
    for name, split in DEV_FILES:
        items += [dict(it, src=name) for it in evaluation.load_questions(eval_dir / name, split)]
    return items


def observe(kb, items: Sequence[dict]) -> list[dict]:
    """For each question, with the calibrated path off: the features, whether the first entry
    is right (``ok``; never for out-of-corpus), whether the rule alone answered it, and right."""
    from knowledge import evaluation

    old, kb.calibration = kb.calibration, None
    try:
        rows = []
        for it in items:
            want = evaluation.expected_ids(it)
            a = kb.answer(it["q"], topic=it.get("topic"), village_grid=it.get("grid"))
            x = a.why.get("features")
            rows.append({"src": it.get("src", ""), "in_corpus": bool(want), "x": x,
                         "gate": bool(a.why.get("gate")), "ok": bool(want) and a.why.get("top") in want,
                         "rule": a.confident,
                         "rule_right": a.confident and a.entry is not None and a.entry.id in want})
        return rows
    finally:
        kb.calibration = old


def _fit_lr(rows: Sequence[dict]):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.array([r["x"] for r in rows])
    y = np.array([int(r["ok"]) for r in rows])
    return LogisticRegression(C=C, max_iter=5000).fit(x, y)


def figures(rows: Sequence[dict], probs: Sequence[float], threshold: float | None) -> dict:
    """Right and wrong confident shares of in-corpus questions, answered share of out-of-corpus
    ones, when the calibrated path adds to the rule at ``threshold`` and vetoes its answers
    below ``VETO`` (None: the rule alone)."""
    n_in = sum(r["in_corpus"] for r in rows) or 1
    n_ooc = sum(not r["in_corpus"] for r in rows) or 1
    right = wrong = ooc = 0
    for r, p in zip(rows, probs):
        extra = (threshold is not None and not r["rule"] and r["gate"] and r["x"] is not None
                 and p >= threshold)
        rule = r["rule"] and (threshold is None or p >= VETO)  # the rule's answer, unless vetoed
        if r["in_corpus"]:
            right += (rule and r["rule_right"]) or (extra and r["ok"])
            wrong += (rule and not r["rule_right"]) or (extra and not r["ok"])
        else:
            ooc += rule or extra
    return {"confident_right": round(right / n_in, 3), "confident_wrong": round(wrong / n_in, 3),
            "ooc_answered": round(ooc / n_ooc, 3)}


def fit(kb, items: Sequence[dict]) -> tuple[Calibration, list[dict]]:
    """Fit on ``items`` and choose the threshold by leave-one-file-out: each file's questions
    are scored by a model fitted on the other files. Returns the calibration (fitted on all)
    and the table it was chosen by."""
    rows = [r for r in observe(kb, items) if r["x"] is not None]
    probs = [0.0] * len(rows)
    for src in sorted({r["src"] for r in rows}):
        train = [r for r in rows if r["src"] != src]
        model = _fit_lr(train)
        idx = [i for i, r in enumerate(rows) if r["src"] == src]
        for i, p in zip(idx, model.predict_proba([rows[i]["x"] for i in idx])[:, 1]):
            probs[i] = float(p)
    base = figures(rows, probs, None)
    table = [dict(threshold=None, **base)] + [dict(threshold=t, **figures(rows, probs, t)) for t in THRESHOLDS]
    ok = [row for row in table[1:] if row["confident_wrong"] <= WRONG_BUDGET
          and row["ooc_answered"] <= base["ooc_answered"] + OOC_BUDGET]
    chosen = min(ok, key=lambda row: row["threshold"])["threshold"] if ok else max(THRESHOLDS)
    model = _fit_lr(rows)
    fitted = {"files": ["questions.yml + out_of_corpus.yml", *[f"{n} ({s})" for n, s in DEV_FILES]],
              "questions": len(rows), "leave_one_file_out": table}
    cal = Calibration(tuple(float(c) for c in model.coef_[0]), float(model.intercept_[0]), chosen, fitted)
    return cal, table


def save(cal: Calibration, root: str | Path = "knowledge") -> Path:
    path = Path(root) / FILENAME
    path.write_text(json.dumps(cal.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    _LOADED.pop(path, None)
    return path
