"""Spoken rural Mandarin -> text the retriever can match.

Villagers ask in dialect and with fillers ("额家那个啥，俺闺女上学咋整"); entries are written in
standard document Chinese.  These bridge them, all driven by ``knowledge/synonyms.yml``
(curated by hand, never from evaluation questions):

* :func:`normalise_spoken` rewrites dialect and colloquial forms to standard ones (俺/咱/额 -> 我,
  咋整 -> 怎么办, 啥 -> 什么, 中不中 -> 行不行, 闺女 -> 女儿, 娃 -> 孩子, 礼拜二 -> 周二 ...) and
  drops fillers, before jieba sees the text;
* :func:`synonym_tokens` adds one shared token per synonym group found in a text (``syn:补贴``
  for 补贴/补助/津贴 ...), for questions and entries alike, so everyday words meet document
  words without changing either;
* :func:`intent_tokens` adds ``int:<kind>`` for the kind of answer a text asks for or offers
  (who may / where to apply / how much / when / what to bring / what one gets / the whole list / after a
  death), because the question words that say it (谁, 哪, 多少, 几号) are stopwords;
* :func:`related_words` lists every word a key word may appear as in an entry (its synonym
  group), for the retriever's "key noun not covered" check; :func:`is_generic` tells everyday
  nouns that never make a question about something else (家里, 老人, 钱 ...).

Homophone slips (地保/低保) are handled by the retriever (``KnowledgeBase.repair_sounds`` and its
pinyin tokens), not here.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TABLE_PATH = Path(__file__).resolve().with_name("synonyms.yml")


@dataclass
class SpokenTable:
    rules: list[tuple[re.Pattern, str]] = field(default_factory=list)
    fillers: list[str] = field(default_factory=list)
    multi: dict[str, list[str]] = field(default_factory=dict)   # multi-char word -> group keys
    single: dict[str, list[str]] = field(default_factory=dict)  # one-char word -> group keys
    groups: dict[str, list[str]] = field(default_factory=dict)  # group key -> words
    topic_of: dict[str, str] = field(default_factory=dict)      # group key -> topic
    generic: frozenset[str] = frozenset()
    intents: list[tuple[str, re.Pattern]] = field(default_factory=list)
    local: re.Pattern | None = None
    beyond: re.Pattern | None = None  # things villagers ask about that no entry covers
    fingerprint: str = "none"


_TABLE: SpokenTable | None = None
_TABLE_STAMP: int | None = None


def load_table(path: str | Path = TABLE_PATH) -> SpokenTable:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError:
        return SpokenTable()
    data = yaml.safe_load(raw.decode("utf-8")) or {}
    t = SpokenTable(fingerprint=hashlib.sha1(raw, usedforsecurity=False).hexdigest()[:12])
    for pair in data.get("dialect") or []:
        pattern, repl = pair
        t.rules.append((re.compile(pattern), str(repl)))
    t.fillers = sorted({str(f) for f in data.get("fillers") or [] if f}, key=len, reverse=True)
    for topic, groups in (data.get("synonyms") or {}).items():
        for words in groups or []:
            words = [str(w) for w in words if str(w).strip()]
            if len(words) < 2:
                continue
            key = words[0]
            if key in t.groups:  # same first word in two topics: keep them apart
                key = f"{key}@{topic}"
            t.groups[key] = words
            t.topic_of[key] = str(topic)
            for w in words:
                (t.multi if len(w) > 1 else t.single).setdefault(w, []).append(key)
    t.generic = frozenset(str(w) for w in data.get("generic") or [])
    for name, patterns in (data.get("intents") or {}).items():
        t.intents.append((str(name), re.compile("|".join(f"(?:{p})" for p in patterns))))
    if data.get("local"):
        t.local = re.compile("|".join(f"(?:{p})" for p in data["local"]))
    if data.get("beyond"):
        t.beyond = re.compile("|".join(f"(?:{p})" for p in data["beyond"]))
    return t


def table() -> SpokenTable:
    """The shared table, reloaded when synonyms.yml changes on disk."""
    global _TABLE, _TABLE_STAMP
    try:
        stamp = TABLE_PATH.stat().st_mtime_ns
    except OSError:
        stamp = None
    if _TABLE is None or stamp != _TABLE_STAMP:
        _TABLE = load_table()
        _TABLE_STAMP = stamp
    return _TABLE


def fingerprint() -> str:
    return table().fingerprint


def normalise_spoken(text: str, t: SpokenTable | None = None) -> str:
    """Dialect/colloquial forms -> standard forms, fillers removed (text already NFKC+lower)."""
    t = t or table()
    for f in t.fillers:
        if f in text:
            text = text.replace(f, " ")
    for rx, repl in t.rules:
        text = rx.sub(repl, text)
    return re.sub(r"[ \t]{2,}", " ", text)


def synonym_tokens(text: str, words: list[str], t: SpokenTable | None = None) -> list[str]:
    """One ``syn:<group>`` token per occurrence of a synonym-group word.

    Multi-character words are found anywhere in ``text`` (overlaps allowed: 老房子 is both a
    老宅子 and a 房子); single characters only where jieba made them a word of their own."""
    t = t or table()
    out: list[str] = []
    for w, keys in t.multi.items():
        start = text.find(w)
        while start >= 0:
            out.extend(f"syn:{k}" for k in keys)
            start = text.find(w, start + 1)
    for w in words:
        for k in t.single.get(w, ()):
            out.append(f"syn:{k}")
    return out


def intent_tokens(text: str, t: SpokenTable | None = None) -> list[str]:
    """``int:<name>`` for each kind of answer the (normalised) text asks for or offers."""
    t = t or table()
    text = re.sub(r"\s+", "", text)
    return [f"int:{name}" for name, rx in t.intents if rx.search(text)]


def related_words(word: str, t: SpokenTable | None = None) -> set[str]:
    """The word and every word of its synonym groups."""
    t = t or table()
    out = {word}
    for k in (t.multi if len(word) > 1 else t.single).get(word, ()):
        out.update(t.groups[k])
    return out


def is_generic(word: str, t: SpokenTable | None = None) -> bool:
    return word in (t or table()).generic


def asks_local(text: str, t: SpokenTable | None = None) -> bool:
    """The (normalised) question asks when or where something happens in the village (opening
    hours, duty days, which room): the village's own notice answers that, not a general rule."""
    t = t or table()
    return bool(t.local and t.local.search(re.sub(r"\s+", "", text)))
