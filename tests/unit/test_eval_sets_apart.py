"""The held-out policy questions stay out of what the retriever is built from: no held-out
question (five characters or more, punctuation and spaces ignored) is one of an entry's example
questions (``asks``), and none of the held-out sets shares a question with a development set."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.config import PROJECT_ROOT
from knowledge.evaluation import load_questions

EVAL = PROJECT_ROOT / "knowledge" / "eval"
#: Held out: measured once, never tuned on (the header of each file says so).
#: fresh7 is measured (validation now, aggregates only); fresh5 and fresh6 became development
#: data on 2026-11-30 (their headers say so).
HELDOUT = [(EVAL / "fresh8_heldout.yml", "heldout"), (EVAL / "fresh7_heldout.yml", "heldout"),
           (EVAL / "villager_questions.yml", "heldout")]
DEV = [(EVAL / "fresh6_heldout.yml", "all"), (EVAL / "fresh5_heldout.yml", "all"), (EVAL / "fresh4_heldout.yml", "dev"), (EVAL / "fresh3_heldout.yml", "dev"), (EVAL / "fresh2_heldout.yml", "dev"), (EVAL / "fresh_heldout.yml", "all"),
       (EVAL / "villager_questions.yml", "dev")]
_FLAT = re.compile(r"[\s，,。.!！?？、…~～;；:：\"'“”]+")


def flat(text: str) -> str:
    return _FLAT.sub("", text or "")


def entry_asks() -> set[str]:
    """Every entry's ``asks`` and every question of knowledge/examples/*.yml, flattened."""
    asks = set()
    for path in sorted((PROJECT_ROOT / "knowledge" / "examples").glob("*.yml")):
        for questions in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).values():
            asks |= {flat(str(q)) for q in questions}
    for path in sorted((PROJECT_ROOT / "knowledge").glob("*/**/*.md")):
        head = path.read_text(encoding="utf-8").split("---")
        if len(head) < 3 or "eval" in path.parts:
            continue
        meta = yaml.safe_load(head[1]) or {}
        asks |= {flat(str(a)) for a in (meta.get("asks") or [])}
    return asks


def questions(files: list[tuple[Path, str]]) -> set[str]:
    return {flat(item["q"]) for path, split in files for item in load_questions(path, split)}


@pytest.mark.parametrize("name", ["fresh5_heldout.yml", "fresh6_heldout.yml"])
def test_the_newest_sets_are_complete_and_held_out(name):
    items = load_questions(EVAL / name, "all")
    assert len(items) >= 150 and all(i.get("split") == "heldout" for i in items)
    assert {i["kind"] for i in items} >= {"colloquial", "short", "homophone", "story", "proxy", "ooc"}


def test_heldout_questions_are_not_example_questions():
    asks = entry_asks()
    assert len(asks) > 300  # the example questions were found
    shared = {q for q in questions(HELDOUT) & asks if len(q) >= 5}
    assert not shared, f"held-out questions written into entries' asks: {sorted(shared)[:5]}"


def test_heldout_and_development_questions_are_apart():
    shared = {q for q in questions(HELDOUT) & questions(DEV) if len(q) >= 5}
    assert not shared, sorted(shared)[:5]
