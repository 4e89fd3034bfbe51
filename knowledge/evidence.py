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
  different thing; so is a question noun that some *other* entry has and this one lacks.  A noun
  that is the subject itself with a holder or its money (特困户, 隔壁家, 耕地补贴), an old/new
  (老房子) or a verb before it (签合同, 乱倒垃圾, unless jieba knows the whole as a term:
  独生子女) is not a look-alike (issue 19's fourth pass: these vetoed 14 right answers on the
  development files and no wrong or out-of-corpus one).
* **elsewhere** — a place outside the county (another province, a far city, 外省) that the entry
  does not cover ("在河南交的养老保险怎么转回来") is not this county's rule.  In a story
  (``STORY_MIN`` clauses) a named place in the account before the question part that does not
  name the entry's subject ("儿子在广东打工", "我在深圳上班") is where somebody lives, and does
  not count; a status (外省, 外地, 跨省) always does.  A place is a word of its own (村西安置点
  holds 安置, not 西安).

* **beyond** — a thing villagers ask about that no entry covers (征地, 高考志愿, 公积金; the
  ``beyond`` list of ``synonyms.yml``) and the entry does not mention is not answered from it.

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
    "手机 微信 手机交 网上 星期 女儿 孩子 老伴 一卡通 停发 值班 存款 车辆 公开 多久 多久公开 在哪办 怎么申请 多少钱 谁能领 能领 不发 没到账 多大 时间 几点 开放时间 办公时间 值班 本村 杏花村 "
    "我的网格员 名单 要点 禁止 免费 免费咨询 处理 处理流程 办理流程 申请流程 结果 办理结果".split()
)
#: Nouns of time and quantity are story context, never the thing asked about.
_TIME_WORDS = frozenset(
    "今天 明天 昨天 前天 后天 今儿 今儿个 夜里 半夜 晚上 早上 上午 下午 中午 天天 每天 往常 平时 "
    "月初 月底 年底 年初 上个月 下个月 这个月 今年 去年 明年 前年 冬天 夏天 春天 秋天 这回 上回 "
    "这两天 两天 几天 好几年 一辈子 以前 以后 现在 刚才 最近 这阵子".split()
)
_NOUN_FLAGS = ("n", "nr", "ns", "nt", "nz", "nl", "ng", "vn", "j")
#: A question noun that only extends the entry's own subject word is still that subject, not a
#: look-alike: the subject plus a holder or its money (特困户, 隔壁家, 耕地补贴), or an old/new
#: one (老房子). What else follows a subject makes another thing (医保卡, 结婚证, 医疗险).
_SAME_SUFFIX = frozenset("户 家 家里 补贴 补助 钱 费 们 人家".split())
_SAME_PREFIX = frozenset("老 旧 新 原 原来".split())
#: Clause separators (as the retriever's story measure splits a question).
_CLAUSE = re.compile(r"[，,。！？!?；;：:\s]+")
#: A question of at least this many clauses is a story: a place outside the county in the story
#: part (儿子在广东打工, 我在深圳上班) is where someone lives, not whose rule is asked for, unless
#: its clause names the entry's subject (在河南交的养老保险) or it is in the last STORY_LAST clauses.
STORY_MIN = 3
STORY_LAST = 2
#: A word jieba's dictionary holds this often is a term of its own (独生子女), not a verb and object.
_TERM_FREQ = 100


@dataclass
class Evidence:
    anchors: list[str] = field(default_factory=list)     # question words naming the entry's subject
    lookalikes: list[str] = field(default_factory=list)  # question nouns that are "something else"
    elsewhere: list[str] = field(default_factory=list)   # places the entry does not cover
    uncovered: list[str] = field(default_factory=list)   # question nouns the entry lacks (info)
    strong: bool = False  # an anchor is the entry's subject itself (topic-level word), not a detail
    unknown: list[str] = field(default_factory=list)     # question words no entry has (驾照, 换届)
    beyond: list[str] = field(default_factory=list)      # things no entry covers (synonyms.yml)
    concepts: int = 0  # distinct things the anchors name

    @property
    def anchored(self) -> bool:
        return bool(self.anchors)

    @property
    def vetoed(self) -> bool:
        return bool(self.lookalikes or self.elsewhere or self.beyond)


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
            if len(w) == 2:
                self._generic_tokens |= {t for t in tokenize(w) if t.startswith("pb:")}
        self.anchor_tokens: dict[str, set[str]] = {}
        self.strong_tokens: dict[str, set[str]] = {}  # from the entry's subject (topic-level words)
        self.anchor_words: dict[str, set[str]] = {}
        self.text: dict[str, tuple[str, str]] = {}
        for e in entries:
            siblings = by_topic[e.topic]
            shared = {k for k in e.keywords if sum(k in o.keywords for o in siblings) >= 2}
            handles = set((extra_handles or {}).get(e.id, ()))
            # the entry's declared subject (its topic, first keyword) anchors even when it is an
            # everyday word elsewhere (村委会 is the subject of the office-hours notice)
            declared = {w for w in {e.topic, *e.keywords[:1]} if w}
            subject = declared | {w for w in {*shared, *handles} if w and w not in generic}
            words = subject | {w for w in {*e.keywords, *self._nouns(e.title)} if w and w not in generic}
            self.anchor_words[e.id] = words
            toks, strong = set(), set()
            for w in words:
                got = self._anchor_tokens_of(w, sound=w in subject)
                toks |= got
                if w in subject:
                    strong |= got
            toks |= topic_syn.get(e.topic, set())
            strong |= topic_syn.get(e.topic, set())
            keep = set()
            for w in declared & generic:
                keep |= self._anchor_tokens_of(w, sound=True)
            self.anchor_tokens[e.id] = (toks - self._generic_tokens) | keep
            self.strong_tokens[e.id] = (strong - self._generic_tokens) | keep
            full = " ".join([e.title, " ".join(e.keywords), e.topic, e.body, " ".join(getattr(e, "asks", []))])
            full = _spoken.normalise_spoken(self._norm(full))
            self.text[e.id] = (full, self._py(full))
        self._all_text = " ".join(t for t, _ in self.text.values())
        self._all_py = self._py(self._all_text)
        self._elsewhere = set(table.groups.get("外地", ())) - {"外地", "异地"}
        #: Not a named place but a status (外省嫁过来的): it counts wherever it is said.
        self._elsewhere_status = {w for w in self._elsewhere if w[0] in "外省跨" or w.startswith("省")}

    # -- words ----------------------------------------------------------------

    def _anchor_tokens_of(self, word: str, sound: bool) -> set[str]:
        """Word-level tokens of a term (words of two or more characters, their pinyin, and the
        synonym groups filed under a topic); with ``sound`` also the pinyin of each
        two-character sub-word, so that an ASR slip (条解) still names the subject (调解)."""
        out = set()
        for t in self._tokenize(word):
            if t.startswith("syn:"):
                out.add(t)  # generic groups (钱, 补贴, 申请 ...) are removed by the caller
            elif not t.startswith(("py:", "pb:", "int:")) and len(t) >= 2 and _HAN.fullmatch(t):
                out.add(t)
                out |= {x for x in self._tokenize(t) if x.startswith("py:")}
        if sound:
            for run in _HAN.findall(word):
                for i in range(len(run) - 1):
                    out |= {t for t in self._tokenize(run[i:i + 2]) if t.startswith("pb:")}
        return out

    def _nouns(self, text: str, flags: tuple[str, ...] = _NOUN_FLAGS) -> list[str]:
        import jieba.posseg as pseg

        text = _spoken.normalise_spoken(self._norm(text))
        out = []
        for p in pseg.lcut(text):
            w = p.word.strip()
            if (len(w) >= 2 and _HAN.fullmatch(w) and p.flag.startswith(flags)
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
        strong = self.strong_tokens.get(entry_id, set())
        ev.strong = any(t in strong for t in ev.anchors)
        norm_q = _spoken.normalise_spoken(self._norm(question))
        anchor_words = self.anchor_words.get(entry_id, set())
        own = anchor_words | _subject_words(anchors) | _group_words(ev.anchors)
        for noun in self._nouns(question):
            if self.covers(entry_id, noun):
                continue
            ev.uncovered.append(noun)
            inside = [a for a in own if a in noun and a != noun]
            if inside and all(self._same_thing(noun, a) for a in inside):
                continue  # the subject itself, said with a holder, its money or a verb (签合同)
            if not inside and any(self._same_thing(noun, w) and self.covers(entry_id, w)
                                  for w in _cores(noun)):
                continue  # a verb and a thing the entry has (签合同 for an entry on 合同)
            # a question noun built on the entry's subject but naming something else
            if len(noun) >= 3 and inside:
                ev.lookalikes.append(noun)
            elif len(noun) >= 3 and self.known(noun):
                # another entry talks about exactly this thing; this one does not
                ev.lookalikes.append(noun)
        # words of the question (things and doings) that no entry has at all
        ev.unknown = [w for w in self._nouns(question, _NOUN_FLAGS + ("v",)) if not self.known(w)]
        concepts = {t for t in ev.anchors if t.startswith("syn:")}
        grouped = set().union(*(set(_spoken.table().groups.get(t[4:], ())) for t in concepts)) if concepts else set()
        concepts |= {t for t in ev.anchors if not t.startswith(("py:", "pb:", "syn:")) and t not in grouped
                     and not any(t in g or g in t for g in grouped)}
        ev.concepts = len(concepts) or (1 if ev.anchors else 0)
        beyond = _spoken.table().beyond
        if beyond is not None:
            ev.beyond = [m.group() for m in beyond.finditer(norm_q) if not self.covers(entry_id, m.group())]
        if self._names_elsewhere(norm_q) and not self.covers(entry_id, "外地"):
            clauses = [c for c in _CLAUSE.split(norm_q) if _HAN.search(c)]
            story = len(clauses) >= STORY_MIN
            for i, clause in enumerate(clauses):
                places = {p for p in self._elsewhere if _says_place(clause, p)}
                if story and i < len(clauses) - STORY_LAST and not (set(self._tokenize(clause)) & anchors):
                    places &= self._elsewhere_status  # a named place: where somebody lives or works
                ev.elsewhere.extend(sorted(places - set(ev.elsewhere)))
        return ev

    def mentions_elsewhere(self, question: str) -> bool:
        """The question names a place outside the county at all (the cheap first step of the
        ``elsewhere`` check, which only then looks at clauses and the entry)."""
        return self._names_elsewhere(_spoken.normalise_spoken(self._norm(question)))

    def _names_elsewhere(self, norm_q: str) -> bool:
        return any(p in norm_q for p in self._elsewhere)

    def _same_thing(self, noun: str, anchor: str) -> bool:
        """``noun`` is ``anchor`` with a holder or its money after it (特困户, 耕地补贴), an old/new
        before it (老房子), or a verb before it (签合同, 乱倒垃圾)."""
        import jieba
        import jieba.posseg as pseg

        pre, _, post = noun.partition(anchor)
        if not pre:
            return post in _SAME_SUFFIX
        if post:
            return False
        if pre in _SAME_PREFIX:
            return True
        # a verb and its object (签合同), unless jieba knows the whole as a term of its own (独生子女)
        return (jieba.dt.FREQ.get(noun, 0) < _TERM_FREQ
                and all(p.flag.startswith(("v", "d")) for p in pseg.lcut(pre)))


def _says_place(text: str, place: str) -> bool:
    """``place`` is said in ``text`` as a word of its own: not where its first or last character
    makes a common word with its neighbour (村西安置点 says 安置, not 西安)."""
    import jieba

    freq = jieba.dt.FREQ
    start = text.find(place)
    while start >= 0:
        end = start + len(place)
        before = text[start - 1:start + 1] if start > 0 else ""
        after = text[end - 1:end + 1] if end < len(text) else ""
        if not any(freq.get(w, 0) >= _TERM_FREQ for w in (before, after) if len(w) == 2):
            return True
        start = text.find(place, start + 1)
    return False


def _cores(noun: str) -> list[str]:
    """The two-or-more-character tails of a noun (签合同 -> 合同)."""
    return [noun[i:] for i in range(1, len(noun) - 1)]


def _subject_words(anchor_tokens: set[str]) -> set[str]:
    return {t for t in anchor_tokens if not t.startswith(("py:", "pb:", "syn:")) and len(t) >= 2}


def _group_words(anchor_tokens: Iterable[str]) -> set[str]:
    """Every word of the synonym groups among the anchors (社保 for syn:养老保险)."""
    groups = _spoken.table().groups
    return {w for t in anchor_tokens if t.startswith("syn:") for w in groups.get(t[4:], ()) if len(w) >= 2}
