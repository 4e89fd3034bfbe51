"""Why the retriever may (or may not) be sure: what the question and the best entry share.

BM25 scores say how much of a question an entry matches, not whether the entry is *about* what
was asked.  A question about a driving licence that expires ("驾照到期了上哪换") matches the
disability-card renewal entry on 到期/换 quite well; a question about the medical-insurance
*card* ("医保卡里还剩多少钱") matches every 医保 entry.  Three checks, all explainable:

* **anchor** — the question must name the entry's subject: a word of the entry's topic
  vocabulary (the topic, the keywords its topic's entries share, the entry's first keyword,
  its title nouns, the synonym groups filed under the topic in ``synonyms.yml``, a grid
  notice's worker/area names), matched exactly, by sound (pinyin) or by synonym.  Generic words
  (补贴, 申请, 材料 ...) never anchor.
* **look-alike noun** (the "key noun not covered" check) — a noun of the question that contains
  an anchor word but is not in the entry (医保卡 vs 医保, 社保卡 vs 社保, 结婚证 vs 结婚) is a
  different thing; so is a question noun that some *other* entry has and this one lacks.
* **elsewhere** — a place outside the county (another province, a far city, 外省) that the entry
  does not cover ("在河南交的养老保险怎么转回来") is not this county's rule.

The module knows nothing of BM25: :class:`EvidenceModel` is built from the entries and the
retriever's tokenizer, so that it sees words exactly as the index does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

from knowledge import spoken as _spoken

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_NUMERAL = re.compile(r"[0-9一二三四五六七八九十百千万两几半俩仨]")

#: Words that never decide what a question is about (they are in every topic).
GENERIC_ANCHORS = frozenset(
    "补贴 补助 津贴 申请 办理 材料 条件 标准 多少钱 时间 流程 资助 待遇 政策 规定 手续 办法 问题 "
    "情况 电话 钱 金额 发放 到账 多少 本人 老人 家庭 农村 本村 村里 村委会 乡镇 县里 怎么办 "
    "什么 谁 哪里 身份证 户口本 户口 银行卡 一卡通 证明 到期 丢了 补办 变更 查询 申请条件 "
    "每月 每年 一次 公示 审核 审批 通知 服务 保障 帮扶 家里 费用 保险 反映问题 反映 换证 迁移 找谁 "
    "在哪办 怎么申请 多少钱 谁能领 能领 不发 没到账 多大 时间 几点 开放时间 办公时间 值班 本村 杏花村 "
    "我的网格员 名单 要点 禁止 免费 免费咨询 处理 处理流程 办理流程 申请流程 结果 办理结果".split()
)
#: Nouns of time and quantity are story context, never the thing asked about.
_TIME_WORDS = frozenset(
    "今天 明天 昨天 前天 后天 今儿 今儿个 夜里 半夜 晚上 早上 上午 下午 中午 天天 每天 往常 平时 "
    "月初 月底 年底 年初 上个月 下个月 这个月 今年 去年 明年 前年 冬天 夏天 春天 秋天 这回 上回 "
    "这两天 两天 几天 好几年 一辈子 以前 以后 现在 刚才 最近 这阵子".split()
)
_NOUN_FLAGS = ("n", "nr", "ns", "nt", "nz", "nl", "ng", "vn", "j")


@dataclass
class Evidence:
    anchors: list[str] = field(default_factory=list)     # question words naming the entry's subject
    lookalikes: list[str] = field(default_factory=list)  # question nouns that are "something else"
    elsewhere: list[str] = field(default_factory=list)   # places the entry does not cover
    uncovered: list[str] = field(default_factory=list)   # question nouns the entry lacks (info)

    @property
    def anchored(self) -> bool:
        return bool(self.anchors)

    @property
    def vetoed(self) -> bool:
        return bool(self.lookalikes or self.elsewhere)


class EvidenceModel:
    def __init__(self, entries: Iterable, tokenize: Callable[[str], list[str]],
                 fuzzy_pinyin: Callable[[str], str], normalise: Callable[[str], str],
                 stopwords: frozenset[str] | set[str], extra_handles: dict[str, list[str]] | None = None):
        import jieba.posseg  # noqa: F401  (loaded lazily: only when confidence is asked for)

        self._tokenize = tokenize
        self._py = fuzzy_pinyin
        self._norm = normalise
        self._stop = stopwords
        entries = list(entries)
        table = _spoken.table()
        by_topic: dict[str, list] = {}
        for e in entries:
            by_topic.setdefault(e.topic, []).append(e)
        topic_syn = {}
        for key, topic in table.topic_of.items():
            topic_syn.setdefault(topic, set()).add(f"syn:{key}")
        generic = set(GENERIC_ANCHORS) | set(table.generic)
        self._generic_tokens = set(generic) | {f"syn:{k}" for k in table.groups if k.split("@")[0] in generic}
        for w in generic:
            self._generic_tokens |= {t for t in tokenize(w) if t.startswith("py:") and len(w) >= 2}
        self.anchor_tokens: dict[str, set[str]] = {}
        self.anchor_words: dict[str, set[str]] = {}
        self.text: dict[str, tuple[str, str]] = {}
        for e in entries:
            siblings = by_topic[e.topic]
            words = {e.topic, *e.keywords}
            words |= {w for w in self._nouns(e.title)}
            words |= set((extra_handles or {}).get(e.id, ()))
            words = {w for w in words if w and w not in GENERIC_ANCHORS}
            self.anchor_words[e.id] = words
            toks = set()
            for w in words:
                toks |= self._anchor_tokens_of(w)
            toks |= topic_syn.get(e.topic, set())
            toks -= self._generic_tokens
            self.anchor_tokens[e.id] = toks
            full = " ".join([e.title, " ".join(e.keywords), e.topic, e.body, " ".join(getattr(e, "asks", []))])
            full = _spoken.normalise_spoken(self._norm(full))
            self.text[e.id] = (full, self._py(full))
        self._all_text = " ".join(t for t, _ in self.text.values())
        self._all_py = self._py(self._all_text)
        self._elsewhere = set(table.groups.get("外地", ())) - {"外地", "异地"}

    # -- words ----------------------------------------------------------------

    def _anchor_tokens_of(self, word: str) -> set[str]:
        """Word-level tokens of a term (no lone characters), their pinyin, synonym groups and
        the sound of each two-character sub-word (so 条解 finds 调解)."""
        out = set()
        for t in self._tokenize(word):
            if t.startswith("syn:"):
                out.add(t)
            elif t.startswith("py:"):
                if len(t) > 5:
                    out.add(t)
            elif t.startswith("pb:"):
                continue
            elif len(t) >= 2:
                out.add(t)
        for sub in _HAN.findall(word):
            if len(sub) == 2:
                out |= {t for t in self._tokenize(sub) if t.startswith("pb:")}
        import jieba
        for sub in jieba.lcut_for_search(word, HMM=False):
            if len(sub) == 2 and _HAN.fullmatch(sub):
                out |= {t for t in self._tokenize(sub) if t.startswith("pb:")}
        return out

    def _nouns(self, text: str) -> list[str]:
        import jieba.posseg as pseg

        text = _spoken.normalise_spoken(self._norm(text))
        out = []
        for p in pseg.lcut(text):
            w = p.word.strip()
            if (len(w) >= 2 and _HAN.fullmatch(w) and p.flag.startswith(_NOUN_FLAGS)
                    and w not in self._stop and w not in _TIME_WORDS and not _spoken.is_generic(w)
                    and not _NUMERAL.search(w)):
                out.append(w)
        return out

    def covers(self, entry_id: str, word: str) -> bool:
        text, py = self.text[entry_id]
        if any(w in text for w in _spoken.related_words(word)):
            return True
        p = self._py(word)
        return len(word) >= 2 and bool(p) and p in py

    def known(self, word: str) -> bool:
        if any(w in self._all_text for w in _spoken.related_words(word)):
            return True
        p = self._py(word)
        return len(word) >= 2 and bool(p) and p in self._all_py

    # -- the checks ------------------------------------------------------------

    def check(self, question: str, entry_id: str, q_tokens: Iterable[str] | None = None) -> Evidence:
        ev = Evidence()
        q_tokens = set(q_tokens if q_tokens is not None else self._tokenize(question))
        anchors = self.anchor_tokens.get(entry_id, set())
        ev.anchors = sorted(t for t in q_tokens if t in anchors)
        norm_q = _spoken.normalise_spoken(self._norm(question))
        anchor_words = self.anchor_words.get(entry_id, set())
        for noun in self._nouns(question):
            if self.covers(entry_id, noun):
                continue
            ev.uncovered.append(noun)
            # a question noun built on the entry's subject but naming something else
            if len(noun) >= 3 and any(a in noun and a != noun for a in anchor_words | _subject_words(anchors)):
                ev.lookalikes.append(noun)
            elif len(noun) >= 3 and self.known(noun):
                # another entry talks about exactly this thing; this one does not
                ev.lookalikes.append(noun)
        for place in self._elsewhere:
            if place in norm_q and not self.covers(entry_id, "外地"):
                ev.elsewhere.append(place)
        return ev


def _subject_words(anchor_tokens: set[str]) -> set[str]:
    return {t for t in anchor_tokens if not t.startswith(("py:", "pb:", "syn:")) and len(t) >= 2}
