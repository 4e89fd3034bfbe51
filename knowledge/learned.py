"""A learned view of the knowledge base: a small linear classifier over entries.

BM25 (:mod:`knowledge.retriever`) scores a question against passages one by one; sibling
entries of one topic (低保的申请条件 / 低保怎么申请 / 低保没批下来怎么办) share most of their
words, so their scores differ by a few percent and the ranking cannot tell which one is meant.
This module learns, from the entries themselves only, which features tell the entries apart:
a linear SVM (one-vs-rest, scikit-learn's ``LinearSVC``) over sublinear, l2-normalised TF-IDF of

* character 1-3-grams of the text in standard forms (:mod:`knowledge.spoken`),
* toneless fuzzy pinyin syllables and syllable pairs (homophone slips: 低包 ~ 低保),
* the kind-of-answer tokens (``int:who``, ``int:apply`` ...) and the multi-character synonym
  groups (``syn:...``) of :mod:`knowledge.spoken`,

trained on each entry's title, label, topic and keywords, example questions (``asks``) and the
sentences of its body, nothing else (never on evaluation questions). For ~100 entries
(~3,000 texts) it trains in about three seconds, deterministically (fixed ``random_state``),
once for the same training texts (:func:`view_for`): kept per process, and, given a folder
(the knowledge index's), saved there as plain arrays (``learned-<hash>.npz``, loaded without
pickle) so that a restarted action server answers its first question without training again. A question is scored with numpy
alone in well under a millisecond: ``LearnedView.scores`` gives one decision value per
entry id (higher: more likely; not a probability).

How the retriever uses it (see ``LEARNED_WEIGHT`` and ``KnowledgeBase.answer``): it re-ranks
the siblings of each topic among the BM25 hits, and its best entry is a third view that must
agree with the words and the sounds of the question for the answer to count as agreed.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_ALNUM_RE = re.compile(r"[a-z0-9]+")
_SENT_SPLIT = re.compile(r"[。！？!?；;\n]+")

#: Inverse regularisation strength of the linear SVM (larger: fits the entries' own sentences
#: more tightly). 0.1-0.3 ranked best on the development questions; 1 and above overfit.
C = 1.0
#: Sample weights: an example question says how villagers ask; a body sentence is a detail.
WEIGHTS = {"title": 2.0, "label": 2.0, "keywords": 1.0, "ask": 2.0, "example": 2.0, "body": 1.0}
#: Body sentences shorter than this (after normalising) are too thin to learn from.
MIN_SENTENCE = 4


def training_texts(entry) -> list[tuple[str, float]]:
    """(text, weight) pairs that stand for one entry: its own words only."""
    out: list[tuple[str, float]] = [(entry.title, WEIGHTS["title"])]
    if entry.label:
        out.append((entry.label, WEIGHTS["label"]))
    out.append((" ".join([entry.topic, *entry.keywords]), WEIGHTS["keywords"]))
    out.extend((a, WEIGHTS["ask"]) for a in entry.asks)
    out.extend((a, WEIGHTS["example"]) for a in getattr(entry, "examples", ()))
    for para in entry.paragraphs:
        for s in _SENT_SPLIT.split(para):
            s = re.sub(r"^\s*\d+[.、]\s*", "", s).strip()
            if len(s) >= MIN_SENTENCE:
                out.append((s, WEIGHTS["body"]))
    return out


class LearnedView:
    """Scores over entries for a question (see the module docstring).

    ``prepare`` puts raw text into the form the features are taken from (NFKC, lower case,
    spoken standard forms); ``syllables`` gives the fuzzy pinyin of a run of Chinese
    characters; ``extra`` gives the kind-of-answer and synonym tokens of prepared text.

    The model is fitted with scikit-learn; a question is then scored with numpy alone (TF-IDF
    of its features times the weights of the features it has), which takes well under a
    millisecond: scikit-learn's own input checks cost more than the arithmetic."""

    def __init__(self, entries: Sequence, prepare: Callable[[str], str],
                 syllables: Callable[[str], list[str]], extra: Callable[[str], list[str]]):
        import numpy as np
        from scipy.sparse import csr_matrix

        self._prepare, self._syllables, self._extra = prepare, syllables, extra
        self.ids = [e.id for e in entries]
        rows, labels, weights = [], [], []
        for i, e in enumerate(entries):
            for text, w in training_texts(e):
                rows.append(self.features(self._prepare(text)))
                labels.append(i)
                weights.append(w)
        vocab: dict[str, int] = {}
        df: list[int] = []
        for feats in rows:
            for f in set(feats):
                j = vocab.setdefault(f, len(vocab))
                if j == len(df):
                    df.append(0)
                df[j] += 1
        n = len(rows)
        self.vocab = vocab
        self.idf = np.log((1 + n) / (1 + np.asarray(df, dtype=float))) + 1.0
        data, ind, ptr = [], [], [0]
        for feats in rows:
            idx, val = self._vector(feats)
            data.extend(val)
            ind.extend(idx)
            ptr.append(len(ind))
        x = csr_matrix((data, ind, ptr), shape=(n, len(vocab)))
        model = _fit(x, labels, weights)
        classes = [int(c) for c in model.classes_]
        coef = np.zeros((len(entries), len(vocab)))
        bias = np.full(len(entries), -1e9)
        coef[classes] = model.coef_
        bias[classes] = model.intercept_
        self.coef_t = np.ascontiguousarray(coef.T)  # feature-major: a question's rows are cheap
        self.bias = bias

    def _vector(self, feats: list[str]) -> tuple[list[int], list[float]]:
        """Column indices and l2-normalised sublinear TF-IDF values of known features."""
        import math

        tf: dict[int, int] = {}
        for f in feats:
            j = self.vocab.get(f)
            if j is not None:
                tf[j] = tf.get(j, 0) + 1
        idx = sorted(tf)
        val = [(1.0 + math.log(tf[j])) * float(self.idf[j]) for j in idx]
        norm = math.sqrt(sum(v * v for v in val)) or 1.0
        return idx, [v / norm for v in val]

    def features(self, text: str) -> list[str]:
        """Features of prepared text: character 1-3-grams, fuzzy pinyin syllables and pairs,
        kind-of-answer and synonym tokens."""
        out: list[str] = []
        for run in _HAN_RE.findall(text):
            n = len(run)
            for k in (1, 2, 3):
                out.extend("c:" + run[i:i + k] for i in range(n - k + 1))
            syl = self._syllables(run)
            out.extend("s:" + s for s in syl if s)
            out.extend(f"s:{a}_{b}" for a, b in zip(syl, syl[1:]) if a and b)
        out.extend("w:" + w for w in _ALNUM_RE.findall(text))
        out.extend(self._extra(text))
        return out

    def scores(self, question: str, prepared: bool = False) -> dict[str, float]:
        """Decision value of each entry id for the question (higher: more likely)."""
        text = question if prepared else self._prepare(question)
        idx, val = self._vector(self.features(text))
        s = self.bias.copy()
        if idx:
            s += np.asarray(val) @ self.coef_t[idx]
        return dict(zip(self.ids, s.tolist()))


def _fit(x, labels, weights):
    from sklearn.svm import LinearSVC

    # random_state: liblinear visits the samples in a random order; fixed, so that the same
    # entries always give the same model
    return LinearSVC(C=C, max_iter=5000, random_state=0).fit(x, labels, sample_weight=weights)


_CACHE: dict[str, LearnedView] = {}
#: Bumped when the saved arrays change meaning (features, scoring).
SAVED_FORMAT = 1


def _saved_path(folder: Path, key: str) -> Path:
    return folder / f"learned-{key[:16]}.npz"


def _load_saved(path: Path, key: str, prepare, syllables, extra) -> LearnedView | None:
    """The view saved at ``path`` for exactly these training texts, or None (missing, another
    key, unreadable: then it is trained again)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            view = LearnedView.__new__(LearnedView)
            view._prepare, view._syllables, view._extra = prepare, syllables, extra
            view.ids = [str(i) for i in data["ids"]]
            view.vocab = {str(f): j for j, f in enumerate(data["features"])}
            view.idf, view.coef_t, view.bias = data["idf"], np.ascontiguousarray(data["coef_t"]), data["bias"]
            return view
    except (OSError, ValueError, KeyError):
        return None


def _save(view: LearnedView, path: Path, key: str) -> None:
    """Saved atomically next to the knowledge index; older saves of other texts are removed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        features = [f for f, _ in sorted(view.vocab.items(), key=lambda kv: kv[1])]
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        np.savez_compressed(tmp, key=np.array(key), ids=np.array(view.ids), features=np.array(features),
                            idf=view.idf, coef_t=view.coef_t, bias=view.bias)
        os.replace(tmp, path)
        for old in path.parent.glob("learned-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:  # a read-only var folder: the view is kept in memory only
        pass


def view_for(entries: Sequence, prepare: Callable[[str], str], syllables: Callable[[str], list[str]],
             extra: Callable[[str], list[str]], folder: Path | None = None) -> LearnedView:
    """The view of these entries, trained once for the same training texts: kept per process,
    and saved in ``folder`` (the knowledge index's) when one is given."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(f"{SAVED_FORMAT}|{C}|{WEIGHTS}|{MIN_SENTENCE}".encode())
    for e in entries:
        h.update(e.id.encode())
        for text, w in training_texts(e):
            h.update(f"\x00{prepare(text)}\x01{w}".encode())
    key = h.hexdigest()
    view = _CACHE.get(key)
    if view is None:
        if len(_CACHE) >= 8:
            _CACHE.clear()
        saved = _saved_path(folder, key) if folder is not None else None
        view = _load_saved(saved, key, prepare, syllables, extra) if saved is not None and saved.is_file() else None
        if view is None:
            view = LearnedView(entries, prepare, syllables, extra)
            if saved is not None:
                _save(view, saved, key)
        _CACHE[key] = view
    return view
