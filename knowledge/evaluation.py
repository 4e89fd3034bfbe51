"""Evaluation of the retriever on villager-phrased question sets, per split and per kind.

Two kinds of question files are understood:

* ``knowledge/eval/questions.yml`` + ``out_of_corpus.yml`` (the project's original set: every
  question has an ``id``/``ids``; the out-of-corpus file has none);
* ``knowledge/eval/villager_questions.yml`` (written before the retriever change): every item
  has ``q``, ``id`` | ``ids`` | ``id: null`` (out of corpus), ``kind`` and ``split`` (``dev`` |
  ``heldout``), optionally ``grid``.

Metrics, per kind and overall (in-corpus = an expected id; out-of-corpus = ``id: null``):

``top1`` / ``top3``       expected entry first / among the first three hits (in-corpus)
``confident``             share of in-corpus questions answered confidently (right or wrong)
``confident_right``       share of in-corpus questions given the right answer confidently
``confident_wrong``       share of in-corpus questions answered confidently with a wrong entry
``clarify``               share of in-corpus questions answered with a clarifying question
``clarify_hit``           ... of which the clarifying question offers the expected entry
``abstain``               share of out-of-corpus questions *not* answered confidently

Stress tests (``--stress``, for tuning confidence without a fresh question set): the dev
questions with a share of their characters swapped for common homophones (``noise``: what a
small recogniser does to them), and the corpus without the entries' ``asks`` (``noasks``: how
villagers ask when nobody foresaw the phrasing).  A confidence rule tuned on dev alone fits
dev's phrasing; one that stays right under these stays right on new questions more often.

Honesty: the held-out half is for reporting only.  ``details`` (the questions that failed) is
refused for it, so that nobody tunes on held-out text by accident.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Sequence

import yaml

SPLITS = ("dev", "heldout", "all")
DEFAULT_THRESHOLDS = (0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.60)


def _read(path: str | os.PathLike) -> list:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("questions", [])
    return data or []


def expected_ids(item: dict) -> set[str]:
    v = item.get("id") or item.get("ids")
    return {v} if isinstance(v, str) else set(v or [])


def load_questions(path: str | os.PathLike, split: str = "all") -> list[dict]:
    """Items of a villager question file, restricted to one split ('dev', 'heldout', 'all')."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    items = []
    for raw in _read(path):
        item = dict(raw) if isinstance(raw, dict) else {"q": str(raw), "id": None}
        item.setdefault("kind", "ooc" if not expected_ids(item) else "in-corpus")
        if split != "all" and item.get("split", "dev") != split:
            continue
        items.append(item)
    return items


def load_legacy(questions_path: str | os.PathLike, ooc_path: str | os.PathLike) -> list[dict]:
    """The original eval set as items with a kind ('original' / 'ooc')."""
    items = [dict(it, kind="original") for it in _read(questions_path)]
    for raw in _read(ooc_path):
        q = raw["q"] if isinstance(raw, dict) else str(raw)
        items.append({"q": q, "id": None, "kind": "ooc"})
    return items


def _homophones() -> dict[str, list[str]]:
    """Common characters grouped by toneless pinyin, from jieba's frequency dictionary."""
    global _HOMOPHONES
    if _HOMOPHONES is None:
        import jieba

        from bot.text import toneless_pinyin

        by_sound: dict[str, list[str]] = {}
        for line in (Path(jieba.__file__).parent / "dict.txt").read_text(encoding="utf-8").splitlines():
            word, freq, *_ = line.split(" ")
            if len(word) == 1 and "\u4e00" <= word <= "\u9fff" and int(freq) >= 2000:
                by_sound.setdefault(toneless_pinyin(word), []).append(word)
        _HOMOPHONES = by_sound
    return _HOMOPHONES


_HOMOPHONES: dict[str, list[str]] | None = None


def homophone_noise(items: Sequence[dict], rate: float = 0.15, seeds: Sequence[int] = (1, 2, 3)) -> list[dict]:
    """Copies of the items (one per seed) with each Chinese character swapped, with
    probability ``rate``, for a common homophone: a recogniser's slips on the same questions."""
    import random

    from bot.text import toneless_pinyin

    by_sound = _homophones()
    out = []
    for seed in seeds:
        rng = random.Random(seed)  # nosec B311 - seeded generator for reproducible demo or benchmark data, not for secrets
        for item in items:
            chars = []
            for ch in item["q"]:
                if "\u4e00" <= ch <= "\u9fff" and rng.random() < rate:
                    choices = [c for c in by_sound.get(toneless_pinyin(ch), []) if c != ch]
                    chars.append(rng.choice(choices) if choices else ch)
                else:
                    chars.append(ch)
            out.append(dict(item, q="".join(chars)))
    return out


def without_asks(kb):
    """The same knowledge base built from entries without their ``asks`` (example questions)."""
    import dataclasses

    return type(kb)([dataclasses.replace(e, asks=[]) for e in kb.entries], fingerprint="stress-noasks")


STRESS = ("noise", "noasks")


def stressed(kb, items: Sequence[dict], stress: str | None):
    """(knowledge base, items) for one stress test (see the module docstring), or unchanged."""
    if not stress:
        return kb, list(items)
    if stress == "noise":
        return kb, homophone_noise(items)
    if stress == "noasks":
        return without_asks(kb), list(items)
    raise ValueError(f"stress must be one of {STRESS}, not {stress!r}")


def _blank() -> dict:
    return {"n_in": 0, "n_ooc": 0, "top1": 0, "top3": 0, "confident": 0, "confident_right": 0,
            "confident_wrong": 0, "clarify": 0, "clarify_hit": 0, "abstain": 0}


def _finish(c: dict) -> dict:
    n, m = c["n_in"], c["n_ooc"]
    out = {"n_in": n, "n_ooc": m}
    for key in ("top1", "top3", "confident", "confident_right", "confident_wrong", "clarify", "clarify_hit"):
        out[key] = c[key] / n if n else None
    out["abstain"] = c["abstain"] / m if m else None
    return out


def evaluate_items(kb, items: Sequence[dict], threshold: float | None = None,
                   details: bool = False) -> dict:
    """Metrics overall and per kind for a list of items (see module docstring)."""
    old = kb.threshold
    if threshold is not None:
        kb.threshold = threshold
    try:
        counts: "OrderedDict[str, dict]" = OrderedDict(all=_blank())
        failures = []
        for item in items:
            want = expected_ids(item)
            kind = item.get("kind") or ("ooc" if not want else "in-corpus")
            c = counts.setdefault(kind, _blank())
            grid = item.get("grid")
            a = kb.answer(item["q"], topic=item.get("topic"), village_grid=grid)
            if want:
                hits = kb.search(item["q"], topic=item.get("topic"), k=3, village_grid=grid)
                got = [h.entry.id for h in hits]
                ok1 = bool(got) and got[0] in want
                row = {"top1": ok1, "top3": bool(want & set(got)), "confident": a.confident,
                       "confident_right": a.confident and a.entry is not None and a.entry.id in want}
                row["confident_wrong"] = a.confident and not row["confident_right"]
                clar = bool(getattr(a, "clarify", "")) and not a.confident
                row["clarify"] = clar
                row["clarify_hit"] = clar and bool(want & set(getattr(a, "candidates", []) or []))
                for cc in (counts["all"], c):
                    cc["n_in"] += 1
                    for key, v in row.items():
                        cc[key] += int(bool(v))
                if details and not row["confident_right"]:
                    failures.append({"kind": kind, "q": item["q"], "want": sorted(want), "got": got,
                                     "confident": a.confident, "ratio": round(a.ratio, 3),
                                     "answered": a.entry.id if a.entry else None,
                                     "clarify": getattr(a, "clarify", "")})
            else:
                for cc in (counts["all"], c):
                    cc["n_ooc"] += 1
                    cc["abstain"] += int(not a.confident)
                if details and a.confident:
                    failures.append({"kind": kind, "q": item["q"], "want": None,
                                     "answered": a.entry.id if a.entry else None, "ratio": round(a.ratio, 3)})
        result = {"threshold": kb.threshold, "by_kind": {k: _finish(v) for k, v in counts.items()}}
        if details:
            result["failures"] = failures
        return result
    finally:
        kb.threshold = old


def evaluate_file(kb, path: str | os.PathLike, split: str = "dev", threshold: float | None = None,
                  details: bool = False) -> dict:
    if details and split != "dev":
        raise ValueError("details (the failed questions) are shown for the dev split only")
    r = evaluate_items(kb, load_questions(path, split), threshold=threshold, details=details)
    r["split"] = split
    return r


def tradeoff(kb, items: Sequence[dict], thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> list[dict]:
    """Confident share vs confidently wrong (and abstention) at several thresholds."""
    rows = []
    for t in thresholds:
        r = evaluate_items(kb, items, threshold=t)["by_kind"]["all"]
        rows.append({"threshold": t, **r})
    return rows


def format_table(result: dict, title: str = "") -> str:
    cols = ("n_in", "n_ooc", "top1", "top3", "confident", "confident_right", "confident_wrong",
            "clarify", "clarify_hit", "abstain")
    heads = ("in", "ooc", "top1", "top3", "conf", "conf_ok", "conf_wrong", "clarify", "clar_hit", "abstain")
    lines = []
    if title:
        lines.append(title)
    lines.append(f"  {'kind':12s}" + "".join(f"{h:>11s}" for h in heads))
    for kind, r in result["by_kind"].items():
        cells = []
        for c in cols:
            v = r.get(c)
            cells.append(f"{'-':>11s}" if v is None else (f"{v:11d}" if isinstance(v, int) else f"{v:11.3f}"))
        lines.append(f"  {kind:12s}" + "".join(cells))
    return "\n".join(lines)


def format_tradeoff(rows: Sequence[dict], title: str = "") -> str:
    lines = [title] if title else []
    lines.append("  threshold   conf  conf_ok  conf_wrong  abstain   top1")
    for r in rows:
        f = lambda v: "    -" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"  {r['threshold']:9.2f}  {f(r['confident'])}   {f(r['confident_right'])}      "
                     f"{f(r['confident_wrong'])}    {f(r['abstain'])}  {f(r['top1'])}")
    return "\n".join(lines)


def report(kb, root: str | os.PathLike = "knowledge") -> list[str]:
    """Lines for ``make bench``: the original set and both halves of the villager set, per kind."""
    root = Path(root)
    lines = []
    sets = [("original", load_legacy(root / "eval" / "questions.yml", root / "eval" / "out_of_corpus.yml"))]
    villager = root / "eval" / "villager_questions.yml"
    if villager.is_file():
        sets += [(f"villager-{split}", load_questions(villager, split)) for split in ("dev", "heldout")]
    for name, items in sets:
        r = evaluate_items(kb, items)
        for kind, m in r["by_kind"].items():
            cells = [f"{k} {m[k]:.3f}" for k in ("top1", "top3", "confident", "confident_right", "confident_wrong",
                                                 "abstain") if m.get(k) is not None]
            lines.append(f"{name}/{kind} (n={m['n_in'] + m['n_ooc']}): " + ", ".join(cells))
    return lines
