"""One short clarifying question instead of reading out two options, and reading the reply.

When the retriever is not sure between two or three close entries, a voice device should not
read long titles ("一是……，二是……，请说第几个"). It asks one short question built from what
tells them apart — "您问的是低保要带的材料，还是低保怎么申请？" — and answers after the reply
(when one entry is clearly ahead but the question says little of it: "您问的是临时救助吗？"):

    a = kb.answer("低保的事儿咋弄")
    if not a.confident and a.clarify:
        say(a.clarify)                                   # the action speaks it
        entry_id = kb.pick(reply, a.candidates)          # "材料那个" / "第二个" / "后面那个"

Pure functions over entries (anything with ``id``, ``title``, ``keywords``, ``topic`` and
optionally ``label``); the tokenizer is passed in, so this module does not import the retriever.
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

MAX_LABEL_CHARS = 12

_CUT = re.compile(r"[、，,：:（(；;]")
#: Which candidate an ordinal reply means; tried in this order (下一个 / 后一个 hold 一个 too).
#: ``-1``: the last one named.
_ORDINALS = (
    (2, re.compile(r"(第?[三3叁]个|第三|^[三3]$)")),
    (1, re.compile(r"(第?[二两2贰]个|第二|^[二两2]$|下一个|第二样)")),
    (-1, re.compile(r"(后面|后边|后头|最后|后说的|后一个|后者|另一个|另外一个|末了那)")),
    (0, re.compile(r"(第?[一1壹]个|第一|^[一1]$|头一个|头个|前面|前边|前头|上一个|上面那|首先那|先说的|前一个|刚才第一)")),
)
_NEITHER = re.compile(r"(都不是|都不对|哪个也不是|哪个都不是|两个都不|三个都不|不是这俩|都不要|别的)")
_YES = re.compile(r"(对|是|嗯|就是|行|好|中|没错)")
_NO = re.compile(r"(不对|不是|不行|不中|没有|错了)")


def label(entry) -> str:
    """A short speakable name of an entry: its ``label`` if it has one, else the title up to
    the first separator ("残疾证到期换证、丢了补办" -> "残疾证到期换证")."""
    own = getattr(entry, "label", None)
    if own:
        return str(own)
    title = str(entry.title).strip()
    head = _CUT.split(title, maxsplit=1)[0].strip() or title
    if len(head) > MAX_LABEL_CHARS and len(title) <= MAX_LABEL_CHARS:
        head = title
    return head


MAX_CANDIDATES = 3


def alternatives(labels: Sequence[str]) -> str:
    """How two or three names are offered in one breath: "A，还是B" / "A、B，还是C" (one name:
    itself)."""
    labels = list(labels)
    if len(labels) <= 1:
        return "".join(labels)
    return "、".join(labels[:-1]) + "，还是" + labels[-1]


def question(*entries) -> tuple[str, list[str]]:
    """One short question naming the candidates, and their ids in the order named:

    * one entry: ("您问的是A吗？", [a.id]) — the best candidate is clearly ahead but the
      question says little of it;
    * two or three: ("您问的是A，还是B？", ...) / ("您问的是A、B，还是C？", ...).

    Entries whose label repeats an earlier one's are left out (they cannot be told apart in
    words); ("", []) when fewer than the two asked for remain, or when none is given."""
    chosen, labels = [], []
    for e in entries[:MAX_CANDIDATES]:
        name = label(e)
        if name and name not in labels:
            chosen.append(e)
            labels.append(name)
    if not chosen or (len(entries) >= 2 and len(chosen) < 2):
        return "", []
    if len(chosen) == 1:
        return f"您问的是{labels[0]}吗？", [chosen[0].id]
    return f"您问的是{alternatives(labels)}？", [e.id for e in chosen]


def _words(entry, tokenize: Callable[[str], list[str]]) -> set[str]:
    text = " ".join([label(entry), str(entry.title), " ".join(entry.keywords)])
    return {t for t in tokenize(text) if not t.startswith("pb:")}


def says_neither(reply: str) -> bool:
    """"都不是" / "哪个也不是" / "别的": none of the candidates named."""
    return bool(_NEITHER.search(reply or ""))


def pick(reply: str, candidates: Sequence, tokenize: Callable[[str], list[str]]) -> str | None:
    """The id of the candidate the reply means, or None.

    In order: "都不是" -> None; the whole label of exactly one candidate (a button, or the
    name repeated); a word that only one candidate has (by sound or synonym too: "材料那个",
    "种地的"); an ordinal ("第一个", "二", "前面那个", "后边的", "最后那个"); with a single
    candidate ("您问的是A吗？"), a yes."""
    if not reply or not candidates:
        return None
    text = reply.strip()
    if says_neither(text):
        return None
    named = [c for c in candidates if label(c) and label(c) in text]
    if len(named) == 1:
        return named[0].id
    words = [_words(c, tokenize) for c in candidates]
    if len(candidates) >= 2:
        distinct = [w - set().union(*(o for j, o in enumerate(words) if j != i)) for i, w in enumerate(words)]
        said = {t for t in tokenize(text) if not t.startswith("pb:")}
        hits = [len(said & d) for d in distinct]
        best = max(hits)
        if best > 0 and hits.count(best) == 1:
            return candidates[hits.index(best)].id
    for index, rx in _ORDINALS:
        if index < len(candidates) and rx.search(text):
            return candidates[index].id
    if len(candidates) == 1:
        return candidates[0].id if _YES.search(text) and not _NO.search(text) else None
    return None
