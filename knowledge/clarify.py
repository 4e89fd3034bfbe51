"""One short clarifying question instead of reading out two options, and reading the reply.

When the retriever is not sure between two close entries, a voice device should not read two
long titles ("一是……，二是……，请说第几个"). It asks one short question built from what tells the
two apart — "您问的是低保要带的材料，还是低保怎么申请？" — and answers after the reply:

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
_ORDINALS = (
    (0, re.compile(r"(第?[一1壹]个?|头一个|头个|前面|前边|前头|上一个|上面那|第一|首先那|先说的|前一个|刚才第一)")),
    (1, re.compile(r"(第?[二两2贰]个?|后面|后边|后头|下一个|后一个|第二|最后|后说的|另一个|另外一个|后者)")),
)
_NEITHER = re.compile(r"(都不是|都不对|哪个也不是|两个都不|不是这俩|都不要|别的)")


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


def question(a, b) -> tuple[str, list[str]]:
    """("您问的是A，还是B？", [a.id, b.id]) — A and B are the two labels, or ("", []) when the
    two entries cannot be told apart in words (same label)."""
    la, lb = label(a), label(b)
    if not la or not lb or la == lb:
        return "", []
    return f"您问的是{la}，还是{lb}？", [a.id, b.id]


def _words(entry, tokenize: Callable[[str], list[str]]) -> set[str]:
    text = " ".join([label(entry), str(entry.title), " ".join(entry.keywords)])
    return {t for t in tokenize(text) if not t.startswith("pb:")}


def pick(reply: str, candidates: Sequence, tokenize: Callable[[str], list[str]]) -> str | None:
    """The id of the candidate the reply means, or None.

    In order: "都不是" -> None; a word that only one candidate has (by sound or synonym too:
    "材料那个", "种地的"); an ordinal ("第一个", "二", "前面那个", "后边的")."""
    if not reply or not candidates:
        return None
    text = reply.strip()
    if _NEITHER.search(text):
        return None
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
        return candidates[0].id if re.search(r"(对|是|嗯|就是|行|好)", text) else None
    return None
