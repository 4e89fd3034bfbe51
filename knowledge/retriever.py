"""Policy and service Q&A over a small Chinese knowledge base, with sources.

Layout (``root`` defaults to ``knowledge/``)::

    knowledge/corpus/<area>/<slug>.md   county/national policy explanations
    knowledge/village/*.md              notices of the demo village (杏花村, 青山镇)
    knowledge/eval/questions.yml        villager questions -> expected entry id
    knowledge/eval/out_of_corpus.yml    questions the corpus cannot answer
    knowledge/eval/villager_questions.yml  villager-phrased questions, dev/heldout halves, per kind
    knowledge/synonyms.yml              dialect -> standard forms, synonym groups, intents

Every entry is a Markdown file with a ``---`` delimited YAML header (id, title, issuer,
date, region, topic, source, keywords, optional grid, label, asks) followed by the body.
The first body paragraph is a short spoken answer; later paragraphs give details.
``asks`` lists how villagers ask for the entry (written from its content, never from an
evaluation question); ``label`` is a short speakable name for clarifying questions.

Retrieval: a question's homophone slips are first put back (``KnowledgeBase.repair_sounds``:
a run of characters that sounds like one of the corpus's own subject words — 低包/滴保 -> 低保,
养劳金 -> 养老金, 条解 -> 调解 — is read as that word; corpus words and common words are never
rewritten), then it is put into standard forms (:mod:`knowledge.spoken`: 俺/咱/额,
咋整, 啥, 中不中, 闺女, 娃, 礼拜二 ..., fillers dropped; "地" stays a word: land). Text is
tokenised with jieba (search mode, no HMM guessing, plus the project user dictionary
``nlu_data/jieba/userdict.txt`` when present) and, to survive ASR homophone slips
(地保 -> 低保, 以保 -> 医保), with toneless pinyin of every word and of every pair of
adjacent Chinese characters (read in context), plus one ``syn:`` token per synonym group
(礼拜/星期, 着火/火灾, 钱/补助/补贴 ...) and one ``int:`` token per kind of answer asked for
(who / apply / amount / when / materials / benefit / list / stop; a question's kind-of-answer
token counts ``INTENT_QUERY_WEIGHT`` times, so that it tells an entry's siblings apart).  Passages (title + keywords + one
body paragraph; title + one example question) are ranked with BM25Okapi from
``rank_bm25``; an entry's score is its best passage plus a little of its second best.
Siblings of one topic that BM25 scores alike are then re-ranked by a learned view
(:mod:`knowledge.learned`: a linear classifier over entries trained at load time, in about a
second, on the entries' own titles, keywords, ``asks`` and body sentences: character n-grams,
fuzzy pinyin, kinds of answer), which keeps the leads between topics as BM25 made them; see
``LEARNED_WEIGHT``.

Confidence: the top score is divided by the score the query would get against a
passage that contains every query token exactly once at average length (the "self
score"; tokens unknown to the corpus count with the largest possible idf; for a long "story"
question, the better of that and the same measure for its last clauses, ``CLAUSE_LAST``).  A
confident answer needs that ratio >= ``CONFIDENCE_THRESHOLD``, a clear lead over the runner-up
(``CLEAR_LEAD``), three independent readings of the question that agree (its words, as jieba
and the synonym table make them, its sounds, the pinyin of adjacent character pairs, and the
learned view's choice among the close hits must all be the top entry, else the lead must be
``MAJORITY_LEAD`` when two of the three do and the question is no long story, ``DISAGREE_LEAD``
otherwise), and the evidence
check of :mod:`knowledge.evidence`: the question names the entry's subject (an anchor; a
mere detail of the entry needs a wider lead) and holds no look-alike noun (医保卡 for 医保,
a noun another entry has) and no place elsewhere (another province); see
``KnowledgeBase.decide``.  Near ties between a general entry and the village's own notice
on the topic go to the village notice (wider ties, ``LOCAL_TIE``, when the question asks when or
where: 几点开门, 上午在不在); grid notices are found by worker or area name from
anywhere in the village.  A question of two parts ("医保几月份交，手机上咋个交") whose parts
are each sure of one of the first two hits is answered from both (``Answer.also``, and
``Answer.text`` says both: ``KnowledgeBase._answer_parts``).  A long story (``STORY_MIN``
clauses) is ranked on its question part plus the story's subject words only
(``ranking_tokens``).  Not sure: ``Answer.clarify`` is one short question naming the one
to three close candidates by their labels ("您问的是A，还是B？", "您问的是A吗？") and
``KnowledgeBase.pick`` reads the reply (:mod:`knowledge.clarify`).  Thresholds: see
``CONFIDENCE_THRESHOLD``; the trade-off curve is
``python -m knowledge calibrate --file knowledge/eval/villager_questions.yml --split dev``
(add ``--stress noise`` or ``--stress noasks``).

The index (tokenised passages plus entry metadata) is persisted as JSON under
``<var>/knowledge-index/index.json``; ``<var>`` is the ``var_dir`` argument, else the
configured one (``bot.config``: ``XIANGYIN_VAR_DIR``, else ``<project>/var``).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import yaml
from rank_bm25 import BM25Okapi

from bot.config import PROJECT_ROOT, load_settings
from bot.text import INDEX_CONFUSIONS, fold_syllable, pinyin_syllables, toneless_pinyin
from knowledge import clarify as _clarify
from knowledge import confidence as _confidence
from knowledge import evidence as _evidence
from knowledge import learned as _learned
from knowledge import spoken as _spoken

logger = logging.getLogger(__name__)

USERDICT_PATH = PROJECT_ROOT / "nlu_data" / "jieba" / "userdict.txt"
INDEX_DIRNAME = "knowledge-index"
INDEX_FILENAME = "index.json"
INDEX_FORMAT = 1
TOKENIZER_VERSION = "spoken-norm+jieba-search-nohmm+pinyin-fuzzy-bigram+syn-v3"
#: jieba's HMM guesses new words for unknown character runs, which glues dialect to content
#: ("俺儿", "能告"); without it unknown runs fall apart into characters.
_JIEBA_HMM = False

#: Ratio of top score to the query's self score above which an answer may be "confident"
#: (with a clear lead, agreeing views and the evidence check, see ``decide``).
#:
#: How these were chosen: the held-out half of knowledge/eval/villager_questions.yml showed
#: that rules tuned on the dev half alone fit dev's phrasing (0.000 confidently wrong on dev,
#: 0.094 on held-out at 0.45). The dev half is saturated, so the confidence rule
#: (CONFIDENCE_THRESHOLD, CLEAR_LEAD, DISAGREE_LEAD, the two views) was chosen on dev and the
#: original set *and* on their stress versions (``python -m knowledge eval --stress noise`` /
#: ``--stress noasks``: homophone slips, entries without their example questions), which
#: produce the confidently-wrong answers dev no longer shows: averaged over the six, confident
#: and right 0.610 -> 0.614 and confidently wrong 0.020 -> 0.004 against the previous rule
#: (0.45, lead 1.04, no views). Checked on a fresh held-out set once (README: measured).
#:
#: Second pass (issue 19, after homophone repair, weighted kinds of answer and the local-notice
#: preference made the ranking sharper): 0.35 -> 0.30 and CLEAR_LEAD 1.1 -> 1.05, chosen on
#: every development file pooled (the original set, both villager halves, one half of
#: fresh_heldout.yml split by a hash of the question) with the other half of fresh_heldout.yml
#: as a check. Pooled confident and right 0.711 -> 0.737 at 0.005 confidently wrong and 0.958
#: abstention; relaxing the two-views rule further (a view that all but ties counts as
#: agreeing, or the sounds view with the kinds of answer) gained 0.02-0.05 but dropped
#: abstention below 0.95 and was left out.
CONFIDENCE_THRESHOLD = 0.30
#: When the words of a question and its sounds rank different entries first, the top entry
#: must lead the runner-up by this factor to be answered without asking back (see ``decide``).
DISAGREE_LEAD = 1.5
#: ... and by this factor when two of the three views (words, sounds, learned) name the top entry
#: and only one dissents (``views_majority``; not for a long story, ``STORY_MIN``: there a
#: majority answered three wrong entries and one right one on the development files). Issue 19's
#: fourth pass: the sounds view (pinyin of adjacent character pairs) is the noisy one
#: ("网格员是干啥的" sounds like 红白理事会), and a lone dissent blocked 51 of 75 right-at-top
#: answers. Measured on every development file pooled (original, both villager halves, fresh,
#: fresh2, fresh3; 900 in-corpus, 173 out-of-corpus questions): confident and right 0.730 ->
#: 0.774, confidently wrong 0.004 -> 0.010, abstention unchanged (0.942); 1.05 gave 0.778 /
#: 0.013, 1.2 0.765 / 0.009, 1.5 (= unanimity) 0.730 / 0.004. A cleaner sounds view was not
#: tried. With the rest of the fourth pass (look-alike and elsewhere fixes in
#: :mod:`knowledge.evidence`, answers from both parts, story ranking, synonyms, WEAK_ANCHOR_LEAD)
#: pooled 0.807 / 0.012 / 0.942 at 1.1 and 0.797 / 0.010 / 0.942 at 1.2. 1.2 was chosen for the
#: stress test (entries without their asks, fresh2 + fresh3 + both villager halves: 592 in-corpus,
#: 116 out-of-corpus): 1.1 gave 0.701 / 0.032 / 0.897, 1.2 0.686 / 0.027 / 0.905, 1.5 0.635 /
#: 0.019 / 0.914 — 1.1 passes the 0.03 goal for confidently wrong there; with homophone slips
#: (``--stress noise``, same files, 3 seeds) 1.1 0.723 / 0.026 / 0.931, 1.2 0.715 / 0.021 /
#: 0.934, 1.5 0.681 / 0.014 / 0.945.
#: Set back to DISAGREE_LEAD (the majority rule off) the same day, after the fourth held-out set
#: (fresh4_heldout.yml, measured once with 1.2: confidently wrong 0.063, goal 0.03) showed the
#: dev-tuned relaxation does not hold on unseen questions; with 1.5 there: 0.038. That choice
#: was made on fresh4, which is no longer held out (README: measured).
MAJORITY_LEAD = DISAGREE_LEAD
#: Score multiplier for entries whose topic equals the NLU topic hint.
TOPIC_BOOST = 1.25
#: The top entry must beat the runner-up by this factor to be answered without asking back
#: (BM25 scores of sibling entries on one topic differ by a few percent for unrelated reasons).
CLEAR_LEAD = 1.05
#: Score multiplier for grid notices of the user's grid, or of the grid the question names.
GRID_BOOST = 1.5
#: Lead needed when the question names only a detail of the entry, not its subject. 1.5 -> 1.3
#: in issue 19's fourth pass: on every development file a little more confident and right
#: (pooled 0.803 -> 0.807 at MAJORITY_LEAD 1.1) and not one more confidently wrong or
#: out-of-corpus answer.
WEAK_ANCHOR_LEAD = 1.3
#: A village notice within this factor of a general entry on the same topic is preferred.
VILLAGE_TIE = 1.15
#: A question about when or where something local happens (几点, 哪天, 上午, 开门, 几楼: see
#: ``local`` in synonyms.yml) is the village notice's to answer: the village's own notice on
#: the top general entry's topic, among the first three and within this factor, is preferred.
LOCAL_TIE = 1.6
#: Not sure, but anchored, not vetoed and ratio >= threshold * CLARIFY_RATIO: ask one short
#: question instead of reading out options, naming the top entry and the others within
#: CLARIFY_LEAD of it (the top one alone when none is: "您问的是A吗？").
CLARIFY_RATIO = 0.5
CLARIFY_LEAD = 1.6
#: ... and the third candidate is named too when the second leads it by less than this, when
#: CLARIFY_NAMES allows three.
CLARIFY_THIRD = 1.1
#: At most this many names in a clarifying question. Two since issue 19's second pass: on all
#: development files the third name was never the right one (of 80 questions asked back, the
#: right entry was the first or second name or none), and a voice question with three long
#: names is hard to follow.
CLARIFY_NAMES = 2
#: Homophone repair (see ``KnowledgeBase.repair_sounds``): windows of at most this many characters
#: that sound like a word of the corpus's own vocabulary are read as that word; a two-character
#: window that is itself a common word (jieba frequency >= SOUND_FIX_COMMON: 不住, 公式) is kept.
SOUND_FIX_MAX = 5
#: Everyday phrases whose sounds are those of a corpus word but never mean it: "那要是…" (and if)
#: sounds like 拿药 (take medicine).
NOT_SLIPS = ("那要",
             # land let to someone ("我那三亩地包给刘家种着", "地包出去了") is never 低保 by ear
             r"地包(?=给|出|了|出去|与|跟)",
             # boarding at school ("在乡上的中学住校") is never 注销 (cancelled) by ear
             "住校")
SOUND_FIX_COMMON = 100
#: Weight of an entry's second-best passage in its score (see search).
SECOND_PASSAGE_WEIGHT = 0.3
#: How many times a synonym-group token of the question counts (see query_tokens).
SYN_QUERY_WEIGHT = 2
#: How many times a kind-of-answer token of the question counts (int:who, int:apply ...): a
#: subject word counts four times (word, pinyin, sound pairs, synonym group), so without this
#: the kind of answer asked for (谁能领 vs 怎么申请) is drowned by passage length among an
#: entry's siblings.
INTENT_QUERY_WEIGHT = 8
#: The learned view (:mod:`knowledge.learned`, issue 19's third pass) re-ranks the siblings of a
#: topic: the hits of one topic within LEARNED_REACH of the topic's best BM25 score are scored
#: BM25 * exp(LEARNED_WEIGHT * (d - d_best)), d the classifier's decision value and d_best the
#: best among them, then scaled so that the topic's best score is its best BM25 score again. The
#: sibling the classifier prefers comes first (a gap of 0.35 in decision values, typical between
#: siblings, is a factor 2), and leads between topics stay as BM25 makes them: re-ranking across
#: topics too gained more confident answers (pooled confident and right 0.742 -> 0.784) but
#: confidently answered out-of-corpus look-alikes (abstention 0.983 -> 0.949; measured before
#: LEARNED_REACH and the bare-topic rule). Its best entry among the hits within LEARNED_REACH of
#: the best one is the third view (``answer``). It says nothing (no re-ranking, no view) on a
#: question that names only a topic ("养老保险", "低保的事儿"): there the classifier would only repeat
#: which sibling its training texts lean to. 0 turns it off (plain BM25). Chosen on the
#: development files (villager_questions dev, fresh2_heldout, the spent fresh_heldout, the
#: original set) among weight 1 / 2 / 3, reach 1.3 / 1.6 / 3 and the classifier's C 0.1 / 0.3 /
#: 1, each file left out in turn: C 0.3 and reach 1.6 (= CLARIFY_LEAD; 3 ties it but for one
#: out-of-corpus question, and lets the classifier overturn 2.5x BM25 leads: 低保要什么条件 -> 材料) hold
#: on every file; weight 3 ties 2 on two files but answers more wrongly on the third.
#: README: measured.
#:
#: Issue 19, sixth pass (2026-11-30): with 1,260 example questions written apart from the
#: entries (``knowledge/examples/``, by people who saw no evaluation question) the classifier
#: alone ranks the right entry first more often than BM25 does (development files: fresh4
#: 0.815 -> 0.908 with the examples, against the whole retriever's 0.836), so it now re-ranks
#: every hit within LEARNED_REACH of the best BM25 score, across topics, not only a topic's
#: siblings (the best hit's score stays the best BM25 score, so the confidence rule reads the
#: same scale). Chosen on the development files pooled (original, villager dev, fresh, fresh2,
#: fresh3, fresh4; 1,034 in corpus, 188 out): siblings only 0.898 / 0.732 / 0.015 / 0.963
#: (top-1 / right and confident / confidently wrong / abstention), across topics at reach 1.6
#: 0.926 / 0.801 / 0.018 / 0.963, reach 3 **0.930 / 0.800 / 0.016 / 0.963**, reach 2 0.928 /
#: 0.800 / 0.018; weight 3 0.931 / 0.806 / 0.019 / 0.952. Weight 2 overturned clear BM25 leads
#: on the commonest questions (申请低保要啥条件 -> the materials entry: "低保要" is in its examples)
#: and split two-part questions ("危房改造补多少，咋申请"), so with KIND_MISMATCH 0.5: weight 2 0.931
#: / 0.805 / 0.012 / 0.957 with one of four such canonical questions right, weight 1.5 0.930 /
#: 0.793 / 0.010, **weight 1 0.928 / 0.772 / 0.009 / 0.957** with all four right — chosen: fewer
#: confident mistakes matter more than confident answers (unseen sets have shown two to four
#: times dev's confidently-wrong share). A path that answered whenever the classifier's margin
#: was wide (>= 0.2) added nothing once it ranks across topics and was left out.
#:
#: Seventh pass (2026-11-30): 873 more example questions (2,133 in all) let the classifier fit
#: less regularised (``learned.C`` 1) and weigh more: dev pooled top-1 0.934 (C 0.3, weight 1) ->
#: 0.943 (C 1) -> **0.952 (C 1, weight 2)** -> 0.954 (weight 3, the original set down), every
#: development file up (fresh3 0.923 -> 0.952, fresh4 0.887 -> 0.924); the canonical questions of
#: the note above now hold (a two-part question is found close by BM25, before re-ranking).
#: Confidence is no longer this weight's concern: the calibration (knowledge/confidence.py) is
#: refitted on top of it.
LEARNED_WEIGHT = 2.0
LEARNED_REACH = 3.0
#: A follow-up ("那要带啥" right after an answer): the entry just answered gets this factor among
#: the close hits, so that a vague follow-up stays on it and one that asks for another kind of
#: answer (多少钱, 去哪办) still moves to the sibling that gives it.
STAY_BOOST = 3.0  # dev follow-ups (127 turns, 2026-11-30): 1.2 -> 3.0 right 92 -> 96, wrong 12 -> 12
#: A follow-up whose words name nothing of the close entries: the entry just answered gets this
#: factor instead of ``STAY_BOOST`` (689 development follow-up pairs, 2026-12-01: the learned view
#: left out there instead: right 513 -> 485, wrong 23 -> 40; kept, with the entry just answered
#: weighed 3 -> 4.5 / 6 / 9 / 12: right 513 -> 514 / 514 / 517 / 517, wrong 23 -> 23 / 21 / 21 / 21)
BARE_STAY_BOOST = 9.0
#: Among the hits the learned view re-ranks, when the question asks for a kind of answer
#: (``int:`` tokens: 啥条件 -> who, 带啥 -> materials, 多少钱 -> amount) and some hit's title says it
#: gives that kind, a hit whose title says it gives only other kinds is scaled by this (pooled
#: development files at weight 2: 1 -> 0.5 confidently wrong 0.015 -> 0.012; 0.3 no better).
KIND_MISMATCH = 0.5
#: When not sure between close siblings of one topic, the only one whose title gives the kind of
#: answer asked for is answered (``KnowledgeBase._kind_decides``: "高龄补贴咋领" is 怎么申请, not 每月
#: 多少钱). Development files pooled: right and confident 0.772 -> 0.776, confidently wrong 0.009
#: unchanged, abstention unchanged; on the development dialogues it answers follow-ups and mixed
#: sentences that were asked back. False turns it off.
KIND_DECIDES = True
#: A long question (at least CLAUSE_MIN clauses, a "story") is also measured by its last
#: CLAUSE_LAST clauses, where villagers put the question: the top entry's ratio is the better
#: of the two (the story around the question is mostly words no entry has, which sank the
#: ratio below the threshold).
CLAUSE_MIN = 3
CLAUSE_LAST = 2
_CLAUSE_RE = re.compile(r"[，,。！？!?；;：:\s]+")
#: Being from elsewhere, said of the asker or the one asked for ("外地的也算吗", "户口不在咱这").
_NOT_FROM_HERE = re.compile(r"外地|异地|外省|外来|户口不在|不是本地|不是这里的|不是咱这")
#: Being old, said with 上 ("上了岁数", "上年纪"): kept from the sound repair (伤了 sounds alike).
_AGE_SAID = re.compile(r"上了?(岁数|年纪|年岁)")
#: A story of at least STORY_MIN clauses is ranked (``ranking_tokens``) on its question part
#: (``story_focus``: the last CLAUSE_LAST clauses) plus only those words of the account before it
#: that name some entry's subject (evidence anchors: 高龄补贴, 残疾证, 土地): the rest of the
#: account (广东, 男方, 老规矩, 砖厂, 一家人高兴) pulls toward entries that happen to share it.
#: STORY_FOCUS_WEIGHT 0 turns it off. Measured on the development files: fresh3's stories top-1
#: 0.43 -> 0.52 (top-3 for the file 0.942 -> 0.961), pooled top-1 0.908 -> 0.913, confidently
#: wrong unchanged once a story needs all three views to agree (``MAJORITY_LEAD``). From 4
#: clauses on it lost one short villager story (the subject in the first of four clauses);
#: counting the question part twice on top of the whole question (weight 1, from 3 clauses)
#: instead lost more than it won (villager top-1 0.901 -> 0.870).
STORY_FOCUS_WEIGHT = 1
STORY_MIN = 5
#: At most this many characters in a spoken answer (sentences are never cut in half,
#: but at least one sentence is always kept).
MAX_ANSWER_CHARS = 90
#: A question of at most this many clauses may be two questions answered together
#: (``KnowledgeBase._answer_parts``); longer ones are stories. The joined answer keeps one whole
#: sentence of each entry at least (``both_summary``), so it may run past MAX_ANSWER_CHARS
#: (about 90-105 characters for the corpus's first sentences). Measured on the development
#: files (at MAJORITY_LEAD 1.1): fresh3's two-topic questions confident and right 0.545 -> 0.818
#: (two more answered, at no confidently wrong; 0.636 at the final MAJORITY_LEAD 1.2); one villager question now names falv-who first and falv-apply second
#: where falv-apply was expected. Looser variants (parts not required to ask something of their
#: own, the first three hits instead of the first two, the later part asked on the top entry's
#: topic) answered out-of-corpus questions ("出车祸了 ... 咋跟他打官司") and doubled
#: confidently wrong (pooled 0.010 -> 0.020).
BOTH_MAX_CLAUSES = 3
MAX_ANSWER_SENTENCES = 3

REQUIRED_FIELDS = ("id", "title", "issuer", "date", "region", "topic", "source", "keywords")

#: Canonical topic values -> corpus sub-directory used by ``ingest``.
TOPIC_DIRS: dict[str, str] = {
    "低保": "dibao",
    "特困供养": "tekun",
    "临时救助": "linshi-jiuzhu",
    "医保": "yibao",
    "养老保险": "yanglao",
    "高龄补贴": "gaoling",
    "残疾人补贴": "canji",
    "残疾证": "canji",
    "危房改造": "weifang",
    "耕地地力保护补贴": "gengdi",
    "土地流转": "tudi",
    "宅基地": "zhaijidi",
    "教育资助": "jiaoyu",
    "村规民约": "cunguiminyue",
    "红白理事会": "cunguiminyue",
    "村务公开": "cunwu",
    "积分制": "jifen",
    "网格": "wangge",
    "矛盾调解": "tiaojie",
    "法律援助": "falv",
}
TOPICS: tuple[str, ...] = tuple(TOPIC_DIRS)

DONT_KNOW_TEXT = "这个问题我现在答不准，您可以问问本网格的网格员，或者打村委会电话问一下。"

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_SENT_RE = re.compile(r"[^。！？!?；;]*[。！？!?；;]?")

# Words that carry no retrieval signal in villagers' questions.
_STOPWORDS = set(
    """
    的 了 吗 呢 吧 啊 呀 哦 嘛 么 哈 啦 嗯 噢 哎 诶 喂 呐 咧 哩 滴 得 着 过 被 把 让 叫
    撒 噻 啵 咯 哒 嗦 儿 咋地 啥时 时候 不咧 中不 能中 俩 仨
    我 你 您 他 她 它 我们 你们 他们 咱 咱们 俺 俺们 俺家 我家 人家 自己 大家 谁家
    是 有 在 和 与 跟 或 及 也 都 就 还 又 再 才 要 想 能 会 可 可以 能不能 可不可以 行不行
    这 那 这个 那个 这些 那些 这样 那样 这里 那里 这儿 那儿 哪 哪儿 哪里 哪个 哪些
    什么 啥 啥子 咋 咋样 咋办 怎 怎么 怎么样 怎样 怎么办 如何 为什么 为啥 多少 几 多
    家 上 下 里 去 来 到 说 人 请问 问 问问 问一下 一下 想问 打听 知道 告诉 说说 讲讲 帮 帮忙 麻烦 谢谢 你好 您好 老师 同志
    个 一 一个 些 点 一点 得了 不 没 没有 呗 嘞 哇 哟 么样 咋个 咋整 啷个 么子 晓得 弄 搞 办 给
    吗啊 呢啊 的话 就是 然后 那么 那就 还是 或者 因为 所以 如果 但是 现在 今年 去年
    多长时间 长时间 多长 算不算 不算 一回 那么些 到底 上哪 上哪儿 去哪 去哪儿 哪天 几号 行不行
    """.split()
)


class _HeaderLoader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text (we validate them ourselves)."""


_HeaderLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class KnowledgeFormatError(ValueError):
    """A knowledge file is malformed; the message names the file and the problem."""


@dataclass
class Entry:
    id: str
    title: str
    issuer: str
    date: str
    region: str
    topic: str
    source: str
    keywords: list[str]
    body: str
    path: str
    grid: str | None = None
    #: How villagers ask for this entry (optional ``asks:`` list in the header), written from
    #: the entry's content; indexed as extra passages.
    asks: list[str] = field(default_factory=list)
    #: Short speakable name (optional ``label:``), used in clarifying questions.
    label: str = ""
    #: More ways villagers ask for it, kept apart from the entry in ``examples/*.yml`` (entry id
    #: -> questions; written by people who did not write the entry, see :func:`load_examples`).
    examples: list[str] = field(default_factory=list)

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in re.split(r"\n\s*\n", self.body) if p.strip()]

    @property
    def citation(self) -> str:
        return f"来源：{self.issuer}《{self.title}》（{self.date}）"

    def to_dict(self) -> dict:
        return {
            "id": self.id, "title": self.title, "issuer": self.issuer, "date": self.date,
            "region": self.region, "topic": self.topic, "source": self.source,
            "keywords": list(self.keywords), "body": self.body, "path": self.path,
            "grid": self.grid, "asks": list(self.asks), "label": self.label,
            "examples": list(self.examples),
        }


@dataclass
class Hit:
    entry: Entry
    score: float
    passage: str
    ratio: float = 0.0  # top-passage score / query self score, in [0, 1]
    learned: float = 0.0  # decision value of the learned view (knowledge.learned)
    bm25: float = 0.0  # score before the learned view's factor
    village_tie: bool = False  # moved first: the village's own notice in a near tie


@dataclass
class Answer:
    text: str
    entry: Entry | None
    confident: bool
    alternatives: list[Entry] = field(default_factory=list)
    citation: str = ""
    score: float = 0.0
    ratio: float = 0.0
    #: Not sure but one to three plausible candidates: one short spoken question that tells
    #: them apart ("您问的是种地的补贴，还是养猪的补贴？", "您问的是临时救助吗？");
    #: ``candidates`` are their ids, in the order the question names them. Resolve the reply
    #: with ``KnowledgeBase.pick``.
    clarify: str = ""
    candidates: list[str] = field(default_factory=list)
    #: Why (not) confident: anchor words, look-alike nouns, places elsewhere, lead.
    why: dict = field(default_factory=dict)
    #: A two-part question ("医保几月份交，手机上咋个交") whose parts each have a sure answer:
    #: the other part's entry (``entry`` is the one ranked first for the whole question), and
    #: ``text`` says both, in the order asked (see ``KnowledgeBase._answer_parts``).
    also: list[Entry] = field(default_factory=list)


# --------------------------------------------------------------------------- parsing


def load_entry(path: str | os.PathLike) -> Entry:
    """Parse and validate one knowledge file; raise KnowledgeFormatError if it is bad."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise KnowledgeFormatError(f"{p}: cannot read file ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KnowledgeFormatError(
            f"{p}: file is not valid UTF-8 (bad byte at offset {exc.start}); save it as UTF-8"
        ) from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.lstrip().startswith("---"):
        raise KnowledgeFormatError(f"{p}: missing metadata header (file must start with a '---' line)")
    text = text.lstrip()
    m = re.match(r"^---[ \t]*\n(.*?)\n---[ \t]*(?:\n|$)(.*)\Z", text, flags=re.S)
    if not m:
        raise KnowledgeFormatError(f"{p}: metadata header is not closed by a '---' line")
    header_text, body = m.group(1), m.group(2)
    try:
        meta = yaml.load(header_text, Loader=_HeaderLoader)  # nosec B506 - _HeaderLoader is a SafeLoader subclass
    except (yaml.YAMLError, ValueError) as exc:
        raise KnowledgeFormatError(f"{p}: metadata header is not valid YAML ({exc})") from exc
    if not isinstance(meta, dict):
        raise KnowledgeFormatError(f"{p}: metadata header must be 'key: value' lines")
    for name in REQUIRED_FIELDS:
        value = meta.get(name)
        if value is None or (isinstance(value, (str, list)) and not value):
            raise KnowledgeFormatError(f"{p}: missing required field '{name}'")
    entry_id = str(meta["id"]).strip()
    if not _ID_RE.match(entry_id):
        raise KnowledgeFormatError(
            f"{p}: bad id {entry_id!r} (use lowercase letters, digits and '-', e.g. 'dibao-conditions')"
        )
    date_value = meta["date"]
    if isinstance(date_value, _dt.datetime):
        date_value = date_value.date()
    if isinstance(date_value, _dt.date):
        date_str = date_value.isoformat()
    else:
        date_str = str(date_value).strip()
        try:
            _dt.date.fromisoformat(date_str)
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date_str):
                raise ValueError
        except ValueError:
            raise KnowledgeFormatError(
                f"{p}: bad date {date_str!r} (expected YYYY-MM-DD, e.g. 2024-03-01)"
            ) from None
    keywords = meta["keywords"]
    if isinstance(keywords, str):
        keywords = [k for k in re.split(r"[,，、\s]+", keywords) if k]
    if not isinstance(keywords, list) or not all(isinstance(k, (str, int)) for k in keywords):
        raise KnowledgeFormatError(f"{p}: field 'keywords' must be a list like [低保, 申请条件]")
    for name in ("title", "issuer", "region", "topic", "source") + (("label",) if meta.get("label") else ()):
        if not isinstance(meta[name], (str, int, float)):
            raise KnowledgeFormatError(f"{p}: field '{name}' must be a single line of text")
    body = body.strip()
    if not body:
        raise KnowledgeFormatError(f"{p}: empty body (write at least one answer paragraph after the header)")
    grid = meta.get("grid")
    asks = meta.get("asks") or []
    if isinstance(asks, str):
        asks = [a for a in re.split(r"[;；\n]+", asks) if a.strip()]
    if not isinstance(asks, list) or not all(isinstance(a, (str, int)) for a in asks):
        raise KnowledgeFormatError(f"{p}: field 'asks' must be a list of questions like [低保咋申请, 低保去哪办]")
    return Entry(
        id=entry_id,
        title=str(meta["title"]).strip(),
        issuer=str(meta["issuer"]).strip(),
        date=date_str,
        region=str(meta["region"]).strip(),
        topic=str(meta["topic"]).strip(),
        source=str(meta["source"]).strip(),
        keywords=[str(k).strip() for k in keywords if str(k).strip()],
        body=body,
        path=str(p),
        grid=str(grid).strip() if grid not in (None, "") else None,
        asks=[str(a).strip() for a in asks if str(a).strip()],
        label=str(meta.get("label") or "").strip(),
    )


def _entry_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for sub in ("corpus", "village"):
        d = root / sub
        if d.is_dir():
            files.extend(sorted(f for f in d.rglob("*.md") if not f.name.startswith(".")))
    return files


def _example_files(root: Path) -> list[Path]:
    d = root / "examples"
    return sorted(f for f in d.glob("*.yml") if not f.name.startswith(".")) if d.is_dir() else []


def load_examples(root: str | os.PathLike = "knowledge") -> dict[str, list[str]]:
    """Example questions per entry id from root/examples/*.yml (a mapping of entry id to a list
    of questions in each file). They are how villagers ask, written apart from the entries and
    never from evaluation questions; the learned view trains on them."""
    out: dict[str, list[str]] = {}
    for f in _example_files(_resolve_root(root)):
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise KnowledgeFormatError(f"{f}: expected a mapping of entry id to a list of questions")
        for entry_id, questions in data.items():
            out.setdefault(str(entry_id), []).extend(str(q).strip() for q in questions if str(q).strip())
    return out


def load_entries(root: str | os.PathLike = "knowledge") -> list[Entry]:
    """Load every entry under root/corpus and root/village; ids must be unique. Example
    questions (:func:`load_examples`) are attached to their entries; those of an id that no
    longer exists (an entry the office removed) are left out."""
    root_p = _resolve_root(root)
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for f in _entry_files(root_p):
        e = load_entry(f)
        if e.id in seen:
            raise KnowledgeFormatError(f"{f}: duplicate id '{e.id}' (already used by {seen[e.id]})")
        seen[e.id] = str(f)
        entries.append(e)
    examples = load_examples(root_p)
    for e in entries:
        e.examples = examples.get(e.id, [])
    return entries


# ------------------------------------------------------------------------- tokenising

_jieba_ready = False

# Domain words jieba's default dictionary splits badly; harmless for other users of jieba.
_DOMAIN_WORDS = (
    "低保 特困 特困供养 临时救助 城乡居民医保 医保 居民医保 养老保险 高龄补贴 残疾证 两项补贴 "
    "护理补贴 生活补贴 危房改造 地力补贴 耕地地力保护补贴 土地流转 土地承包 宅基地 一户一宅 "
    "村规民约 红白理事会 村务公开 四议两公开 积分制 积分超市 网格员 网格长 中心户长 三线联系 "
    "放心户 关心户 连心户 人民调解 法律援助 法律顾问 助学金 助学贷款 雨露计划 慢特病 异地就医 "
    "起付线 一站式结算 资格认证 敬老院 集中供养 分散供养 彩礼 大操大办 村委会 村务监督委员会"
).split()


def _ensure_jieba():
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        jieba.setLogLevel(logging.WARNING)
        if USERDICT_PATH.is_file():
            try:
                jieba.load_userdict(str(USERDICT_PATH))
            except Exception as exc:  # a broken user dict must not take the KB down
                logger.warning("could not load jieba user dictionary %s: %s", USERDICT_PATH, exc)
        for w in _DOMAIN_WORDS:
            jieba.add_word(w)
        _jieba_ready = True
    return jieba


def _userdict_fingerprint() -> str:
    try:
        return hashlib.sha1(USERDICT_PATH.read_bytes(), usedforsecurity=False).hexdigest()[:12]
    except OSError:
        return "none"


def _pinyin(text: str) -> str:
    return toneless_pinyin(text, sep="", keep_other=False)


def _fuzzy(syllable: str) -> str:
    """Fuzzy pinyin for the bigram tokens: merge sounds that many rural speakers (and ASR
    models listening to them) confuse: -n/-ng finals, zh/z ch/c sh/s, and n/l initials."""
    return fold_syllable(syllable, INDEX_CONFUSIONS)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return text.lower()


def _fuzzy_pinyin(text: str) -> str:
    """Fuzzy toneless pinyin of the Chinese characters of text, syllables joined by '_'
    (with leading/trailing '_', so that a substring test matches whole syllables)."""
    syl = [s for run in _HAN_RE.findall(text) for s in _run_syllables(run)]
    return "_" + "_".join(s for s in syl if s) + "_" if syl else ""


def _run_syllables(run: str) -> list[str]:
    """Fuzzy pinyin of each character of a run of Chinese characters, read in context."""
    syl = list(pinyin_syllables(run, keep_other=False))
    if len(syl) != len(run):  # not expected for a pure Han run; be safe
        syl = [_pinyin(c) for c in run]
    return [_fuzzy(x) for x in syl]


def tokenize(text: str) -> list[str]:
    """Tokens for BM25: jieba words, 'py:'+toneless pinyin of words, 'pb:' pinyin bigrams,
    'syn:' synonym groups (knowledge/synonyms.yml).

    The text is first put into standard forms (dialect and fillers, :mod:`knowledge.spoken`).
    "地" is a content word here (land), not the adverb particle."""
    jieba = _ensure_jieba()
    text = _spoken.normalise_spoken(normalise(text))
    tokens: list[str] = []
    words = [w.strip() for w in jieba.lcut(text, HMM=_JIEBA_HMM)]
    tokens.extend(_spoken.synonym_tokens(text, words))
    tokens.extend(_spoken.intent_tokens(text))
    for w in jieba.lcut_for_search(text, HMM=_JIEBA_HMM):
        w = w.strip()
        if not w or w in _STOPWORDS:
            continue
        if not (_HAN_RE.search(w) or w.isalnum()):
            continue  # punctuation
        tokens.append(w)
        if _HAN_RE.fullmatch(w):
            tokens.append("py:" + _pinyin(w))
    # Pinyin of adjacent-character pairs, independent of word segmentation, so that a
    # homophone slip segmented differently (底保 -> 底/保 vs 低保) still shares tokens with the
    # right entry. Stopwords are skipped (their neighbours pair up: 低保(要)材料); runs
    # break at punctuation and other non-Chinese text. (Breaking at stopwords too, or
    # dropping lone characters as words, measured worse on the dev questions.)
    runs, cur = [], ""
    for w in words:
        if w and w not in _STOPWORDS and _HAN_RE.fullmatch(w):
            cur += w
        elif w in _STOPWORDS:
            continue
        else:
            runs.append(cur)
            cur = ""
    runs.append(cur)
    for run in runs:
        if len(run) < 2:
            continue
        syl = _run_syllables(run)  # read in context: 调解 -> tiao jie, not diao jie
        for i in range(len(run) - 1):
            if syl[i] and syl[i + 1]:
                tokens.append(f"pb:{syl[i]}_{syl[i + 1]}")
    return tokens


# --------------------------------------------------------------------------- index


def _resolve_root(root: str | os.PathLike) -> Path:
    p = Path(root)
    if not p.is_absolute() and not p.exists() and (PROJECT_ROOT / p).exists():
        return PROJECT_ROOT / p
    return p


def _resolve_var(var_dir: str | os.PathLike | None) -> Path:
    if var_dir is None:
        return load_settings().var_dir
    p = Path(var_dir)
    if not p.is_absolute() and not Path.cwd().joinpath(p).exists() and PROJECT_ROOT.joinpath(p).exists():
        return PROJECT_ROOT / p
    return p


def index_path(var_dir: str | os.PathLike | None = None) -> Path:
    return _resolve_var(var_dir) / INDEX_DIRNAME / INDEX_FILENAME


def _corpus_fingerprint(files: Sequence[Path]) -> str:
    h = hashlib.sha1(usedforsecurity=False)
    h.update(TOKENIZER_VERSION.encode())
    h.update(_userdict_fingerprint().encode())
    h.update(_spoken.fingerprint().encode())
    for f in files:
        h.update(str(f.name).encode())
        h.update(hashlib.sha1(f.read_bytes(), usedforsecurity=False).digest())
    return h.hexdigest()


def _passages_for(entry: Entry) -> list[tuple[str, str]]:
    """(passage text shown to callers, text that is indexed) pairs of one entry."""
    head = f"{entry.title} {' '.join(entry.keywords)} {entry.topic}"
    if entry.grid:
        head += f" {entry.grid}"
    out = [(entry.title, head + " " + head)]  # title/keyword passage, weighted twice
    for para in entry.paragraphs:
        out.append((para, head + "\n" + para))
    # How villagers ask for it: one short passage per question, with the title for context.
    for ask in entry.asks:
        out.append((entry.title, f"{entry.title} {ask}"))
    return out


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class TermCachedBM25(BM25Okapi):
    """rank_bm25's BM25Okapi whose ``get_scores`` keeps each term's column of scores (one value
    per passage) once computed: rank_bm25's own arithmetic, term by term in the query's order, so
    the same floats, without a Python loop over every passage for every query term (a third of
    the action server's time on a policy question, py-spy; README "Measured")."""

    def __init__(self, corpus):
        super().__init__(corpus)
        self._doc_len = np.array(self.doc_len)
        self._columns: dict[str, np.ndarray] = {}

    def _column(self, q: str) -> np.ndarray:
        column = self._columns.get(q)
        if column is None:
            q_freq = np.array([(doc.get(q) or 0) for doc in self.doc_freqs])
            column = (self.idf.get(q) or 0) * (q_freq * (self.k1 + 1) / (
                q_freq + self.k1 * (1 - self.b + self.b * self._doc_len / self.avgdl)))
            if q in self.idf:  # a word no passage has is not kept (any word may be asked)
                self._columns[q] = column
        return column

    def get_scores(self, query):
        score = np.zeros(self.corpus_size)
        for q in query:
            score += self._column(q)
        return score


class KnowledgeBase:
    def __init__(self, entries: list[Entry], passage_tokens: list[list[str]] | None = None,
                 passage_owner: list[int] | None = None, passage_text: list[str] | None = None,
                 fingerprint: str = ""):
        self.entries = entries
        self.by_id = {e.id: e for e in entries}
        self.fingerprint = fingerprint
        if passage_tokens is None:
            passage_tokens, passage_owner, passage_text = [], [], []
            for i, e in enumerate(entries):
                for shown, indexed in _passages_for(e):
                    passage_tokens.append(tokenize(indexed))
                    passage_owner.append(i)
                    passage_text.append(shown)
        self.passage_tokens = passage_tokens
        self.passage_owner = passage_owner or []
        self.passage_text = passage_text or []
        if not entries:
            raise KnowledgeFormatError("knowledge base is empty: no *.md entries under corpus/ or village/")
        self.bm25 = TermCachedBM25(passage_tokens)
        n = len(passage_tokens)
        self._oov_idf = math.log((n + 0.5) / 0.5)
        self.threshold = CONFIDENCE_THRESHOLD
        self.disagree_lead = DISAGREE_LEAD
        self.clear_lead = CLEAR_LEAD
        self.learned_weight = LEARNED_WEIGHT
        self.clause_ratio = True
        self.story_focus = STORY_FOCUS_WEIGHT
        #: weights of the signals fitted on development questions (knowledge/confidence.py):
        #: answers the rule would ask back when the first entry is very likely right; they
        #: belong to the knowledge folder they were fitted on (``load`` reads them from there)
        self.calibration: _confidence.Calibration | None = None
        #: where the learned view is saved (the persisted index's folder; None: kept in memory)
        self.index_dir: Path | None = None

    # -- construction -------------------------------------------------------------

    @classmethod
    def load(cls, root: str | os.PathLike = "knowledge", var_dir: str | os.PathLike | None = None,
             use_index: bool = True) -> "KnowledgeBase":
        """Load entries under root; reuse the persisted index when it is up to date."""
        root_p = _resolve_root(root)
        files = _entry_files(root_p) + _example_files(root_p)
        fp = _corpus_fingerprint(files)
        kb = None
        if use_index:
            try:
                data = json.loads(index_path(var_dir).read_text(encoding="utf-8"))
                if data.get("format") == INDEX_FORMAT and data.get("fingerprint") == fp:
                    entries = [Entry(**d) for d in data["entries"]]
                    kb = cls(entries, data["passage_tokens"], data["passage_owner"],
                             data["passage_text"], fingerprint=fp)
            except (OSError, ValueError, KeyError, TypeError):
                pass
        if kb is None:
            kb = cls(load_entries(root_p), fingerprint=fp)
            if use_index:
                # missing or out of date: written now, so that the next start reads it instead of
                # tokenising every passage again (a read-only var folder only costs that time)
                try:
                    kb.save_index(var_dir)
                except OSError:
                    pass
        kb.calibration = _confidence.load(root_p)
        kb.index_dir = index_path(var_dir).parent if use_index else None
        return kb

    def save_index(self, var_dir: str | os.PathLike | None = None) -> Path:
        """Write the persisted index atomically; returns its path."""
        ip = index_path(var_dir)
        _atomic_write_text(ip, json.dumps(self.to_index_dict(), ensure_ascii=False))
        return ip

    def to_index_dict(self) -> dict:
        return {
            "format": INDEX_FORMAT,
            "tokenizer": TOKENIZER_VERSION,
            "fingerprint": self.fingerprint,
            "built": _dt.datetime.now().isoformat(timespec="seconds"),
            "entries": [e.to_dict() for e in self.entries],
            "passage_tokens": self.passage_tokens,
            "passage_owner": self.passage_owner,
            "passage_text": self.passage_text,
        }

    # -- retrieval ----------------------------------------------------------------

    def _self_score(self, q_tokens: list[str]) -> float:
        # Score of a passage holding each query token once, at average length: for
        # BM25 that is sum(idf) (tf=1, dl=avgdl). Unknown tokens get the largest idf.
        return sum(self.bm25.idf.get(t, self._oov_idf) or 0.0 for t in q_tokens) or 1.0

    def _grid_handles(self) -> dict[str, list[tuple[str, str]]]:
        """Per grid-specific entry: the words that name it and no other grid entry (grid
        name, worker's name, area), each with its fuzzy pinyin for ASR slips (张立华)."""
        cached = getattr(self, "_handles", None)
        if cached is not None:
            return cached
        grid_entries = [e for e in self.entries if e.grid]
        handles: dict[str, list[tuple[str, str]]] = {}
        for e in grid_entries:
            others = {k for o in grid_entries if o.id != e.id for k in o.keywords + [o.grid or ""]}
            words = {e.grid or ""} | {k for k in e.keywords if len(k) >= 2 and k not in others}
            words = {w for w in words if w and not _spoken.is_generic(w)}
            handles[e.id] = sorted((w, _fuzzy_pinyin(w)) for w in words)
        self._handles = handles
        return handles

    def _names_grid(self, entry: Entry, query: str) -> bool:
        q = normalise(query)
        qpy = None
        for word, py in self._grid_handles().get(entry.id, ()):
            if word in q:
                return True
            if len(word) >= 3:
                qpy = qpy if qpy is not None else _fuzzy_pinyin(q)
                if py and py in qpy:
                    return True
        return False

    def _sound_vocab(self) -> tuple[dict[str, str | None], frozenset[str]]:
        """The corpus's own subject words (topics, keywords, labels' words, grid names, the
        topic synonym groups, the domain words) by fuzzy pinyin (None: two words sound alike)."""
        cached = getattr(self, "_sound_vocab_cache", None)
        if cached is not None:
            return cached
        t = _spoken.table()
        words: set[str] = set(_DOMAIN_WORDS)
        for e in self.entries:
            words |= {e.topic, *e.keywords, *([e.grid] if e.grid else [])}
        synonyms = {w for key, group in t.groups.items() if t.topic_of.get(key) != "通用" for w in group}
        # a synonym that is a subject word plus a verb (加积分, 吃低保) would pull a slip of
        # the subject word alone (家鸡分 -> 加积分, not 家积分): keep only the subject word
        words |= {w for w in synonyms if not any(o != w and len(o) >= 2 and o in w for o in words | synonyms)}
        generic = set(t.generic) | set(_evidence.GENERIC_ANCHORS)
        by_sound: dict[str, str | None] = {}
        kept = set()
        for w in words:
            w = normalise(str(w)).strip()
            if len(w) < 2 or len(w) > SOUND_FIX_MAX or not _HAN_RE.fullmatch(w) or w in generic or w in _STOPWORDS:
                continue
            kept.add(w)
            key = "_".join(_run_syllables(w))
            by_sound[key] = w if by_sound.get(key, w) == w else None
        self._sound_vocab_cache = (by_sound, frozenset(kept))
        return self._sound_vocab_cache

    def _common_word(self, window: str) -> bool:
        """A real everyday word (jieba's own dictionary, not the project's user dictionary,
        which lists ASR slips such as 一保 on purpose)."""
        own = getattr(self, "_userdict_words", None)
        if own is None:
            try:
                lines = USERDICT_PATH.read_text(encoding="utf-8").splitlines()
            except OSError:
                lines = []
            own = self._userdict_words = frozenset(ln.split()[0] for ln in lines if ln.strip())
        return window not in own and (_ensure_jieba().get_FREQ(window) or 0) >= SOUND_FIX_COMMON

    def repair_sounds(self, question: str) -> str:
        """A question with its homophone slips put back: a run of characters that sounds like one
        subject word of the corpus (低包/滴保 -> 低保, 养劳金 -> 养老金, 条解 -> 调解, 高铃 -> 高龄)
        is replaced by that word, so that words, sounds and the evidence check all see it.
        Longest windows first; a window that is already a corpus word is kept; a two-character
        window that is a common word of its own is kept."""
        by_sound, vocab = self._sound_vocab()
        text = _AGE_SAID.sub("年纪大", normalise(question))  # "上了岁数" is not 伤了 said by ear
        out, last = [], 0
        for m in _HAN_RE.finditer(text):
            run = m.group(0)
            syl = _run_syllables(run)
            # characters of words the corpus already has (积分, 敬老院) are never rewritten, so a
            # window across a word boundary (家积分 ~ 加积分, 住敬 ~ 租金) cannot eat them
            kept = [False] * len(run)
            for phrase in NOT_SLIPS:  # "那要是…" (and if…) is never 拿药 (take medicine) by ear
                for hit in re.finditer(phrase, run):
                    kept[hit.start():hit.end()] = [True] * (hit.end() - hit.start())
            for a in range(len(run)):
                for b in range(min(len(run), a + SOUND_FIX_MAX), a + 1, -1):
                    if run[a:b] in vocab:
                        kept[a:b] = [True] * (b - a)
                        break
            i, pieces = 0, []
            while i < len(run):
                step, piece = 1, run[i]
                for n in range(min(SOUND_FIX_MAX, len(run) - i), 1, -1):
                    window = run[i:i + n]
                    if any(kept[i:i + n]):
                        continue
                    word = by_sound.get("_".join(syl[i:i + n]))
                    if word and not (n == 2 and self._common_word(window)):
                        step, piece = n, word
                        break
                pieces.append(piece)
                i += step
            out.append(text[last:m.start()] + "".join(pieces))
            last = m.end()
        out.append(text[last:])
        return "".join(out)

    def query_tokens(self, query: str) -> list[str]:
        """Tokens of a question; a synonym-group match counts SYN_QUERY_WEIGHT times, as much
        as a word matched exactly (word + pinyin), so that 礼拜 finds 星期 as well as 星期 does."""
        tokens = tokenize(query)
        extra = [t for t in tokens if t.startswith("syn:")] * (SYN_QUERY_WEIGHT - 1)
        extra += [t for t in tokens if t.startswith("int:")] * (INTENT_QUERY_WEIGHT - 1)
        return tokens + extra

    def ranking_tokens(self, query: str) -> list[str]:
        """The tokens a question is ranked on: ``query_tokens``; for a long story (see
        ``STORY_FOCUS_WEIGHT``) those of its question part and, of the account before it, only
        the tokens that name some entry's subject."""
        focus = story_focus(query) if self.story_focus else ""
        if not focus:
            return self.query_tokens(query)
        clauses = [c for c in _CLAUSE_RE.split(normalise(query)) if _HAN_RE.search(c)]
        head = "，".join(clauses[:-CLAUSE_LAST])
        subject = self._subject_tokens
        return self.query_tokens(focus) + [t for t in self.query_tokens(head) if t in subject]

    @property
    def _subject_tokens(self) -> frozenset[str]:
        got = getattr(self, "_subject_token_set", None)
        if got is None:
            got = self._subject_token_set = frozenset().union(*self.evidence.anchor_tokens.values())
        return got

    def search(self, query: str, topic: str | None = None, k: int = 3,
               village_grid: str | None = None, topic_mode: str = "boost") -> list[Hit]:
        """Top-k entries for query. topic: NLU topic hint ('boost' or 'filter' via topic_mode)."""
        return self._search_all(query, topic, village_grid, topic_mode)[0][:k]

    def _search_all(self, query: str, topic: str | None, village_grid: str | None,
                    topic_mode: str, previous: str | None = None) -> tuple[list[Hit], str | None]:
        """Every hit, best first (those close to the best re-ranked by the learned view, see
        ``LEARNED_WEIGHT``), and the learned view's own best entry among them (None when off)."""
        query = self.repair_sounds(query)
        hits = self._rank(self.ranking_tokens(query), query, topic, village_grid, topic_mode)
        for h in hits:
            h.bm25 = h.score
        if not self.learned_weight or not hits:
            return hits, None
        view = self.learned  # trained on the first question, whatever it is (a warm-up)
        text = _learned_text(query)
        if not self._says_more_than_topic(text):
            # "养老保险", "低保的事儿": nothing tells the siblings apart; the classifier would
            # only repeat which sibling its training texts lean to
            return hits, None
        d = view.scores(text, prepared=True)
        top_bm25 = max(h.score for h in hits)
        close = [h for h in hits if h.score * LEARNED_REACH >= top_bm25]
        for h in hits:
            h.learned = d.get(h.entry.id, 0.0)
        best = max(h.learned for h in close)
        for h in close:
            h.score *= math.exp(self.learned_weight * (h.learned - best))
        asked = set(_spoken.intent_tokens(text))
        if asked and KIND_MISMATCH < 1 and any(self._kinds(h.entry) & asked for h in close):
            for h in close:
                if self._kinds(h.entry) and not self._kinds(h.entry) & asked:
                    h.score *= KIND_MISMATCH
        for h in close:
            if h.entry.id == previous:  # a follow-up: the entry just answered, unless words move on
                # ... and more when the words name nothing of any close entry ("一年最多能报多少" right
                # after the outpatient answer: the classifier leans to the inpatient limit)
                named = any(self.evidence.check(query, c.entry.id).anchors for c in close[:3])
                h.score *= STAY_BOOST if named else BARE_STAY_BOOST
        top_new = max(h.score for h in close)
        for h in close:  # the best hit keeps the best BM25 score: the confidence rule's scale
            h.score *= top_bm25 / top_new
        # the learned view's own choice, among the entries BM25 finds within reach of its best
        reach = [h for h in hits if h.bm25 * LEARNED_REACH >= top_bm25]
        learned_top = max(reach, key=lambda h: (h.learned, h.entry.id)).entry.id
        hits.sort(key=lambda h: (-h.score, h.entry.id))
        return hits, learned_top

    def _kind_decides(self, question: str, hits: list[Hit], ev, anchored: bool) -> Hit | None:
        """Of the close candidates a clarifying question would name (siblings of one topic), the
        only one whose title gives the kind of answer asked for ("高龄补贴咋领": 怎么申请, not 每月多少
        钱), when the question names the topic and nothing vetoes it; else None."""
        if ev.vetoed or not anchored or hits[0].ratio < self.threshold * CLARIFY_RATIO:
            return None
        close = _close_candidates(hits)
        if len(close) < 2 or len({h.entry.topic for h in close}) != 1:
            return None
        asked = set(_spoken.intent_tokens(_learned_text(question)))
        matching = [h for h in close if self._kinds(h.entry) & asked]
        return matching[0] if asked and len(matching) == 1 else None

    def _kinds(self, entry: Entry) -> frozenset[str]:
        """The kinds of answer an entry's title and short name say it gives (``int:`` tokens:
        谁能领, 怎么申请, 要带的材料, 领多少钱); empty for most entries."""
        cache = self.__dict__.setdefault("_kinds_cache", {})
        got = cache.get(entry.id)
        if got is None:
            got = cache[entry.id] = frozenset(_spoken.intent_tokens(_learned_text(f"{entry.title} {entry.label}")))
        return got

    def kinds_asked(self, question: str) -> frozenset[str]:
        """The kinds of answer a question asks for (``int:`` tokens: 去哪办 → apply, 给多少 → amount)."""
        return frozenset(_spoken.intent_tokens(_learned_text(self.repair_sounds(question))))

    def kinds_offered(self, entry_id: str) -> frozenset[str]:
        """The kinds of answer an entry's title and short name say it gives (empty when unknown)."""
        entry = self.by_id.get(entry_id)
        return self._kinds(entry) if entry is not None else frozenset()

    def _says_more_than_topic(self, text: str) -> bool:
        """The (normalised) text asks for a kind of answer (``int:`` tokens: 谁能领, 怎么申请,
        要什么材料) or has a content word besides the names of topics: not a stopword, not a
        generic word (事, 事儿, 情况, 政策: synonyms.yml ``generic``)."""
        if _spoken.intent_tokens(text):
            return True
        rest = text
        for w in self._topic_names_in(text).split():
            rest = rest.replace(w, " ")
        generic = _spoken.table().generic
        return any(w.strip() and w not in _STOPWORDS and w not in generic and w.rstrip("儿") not in generic
                   and (_HAN_RE.search(w) or w.isalnum())
                   for w in _ensure_jieba().lcut(rest, HMM=_JIEBA_HMM))

    def _topic_names_in(self, text: str) -> str:
        """The names of topics the (normalised) text says, joined: the topics of the entries and,
        from each topic's own synonym groups (synonyms.yml), the group that names the topic
        (低保户 for 低保, 社保 for 养老保险, 积分 for 积分制); longest first."""
        names = getattr(self, "_topic_names", None)
        if names is None:
            topics = {normalise(e.topic) for e in self.entries}
            t = _spoken.table()
            names = set(topics)
            for key, group in t.groups.items():
                tp = normalise(t.topic_of.get(key, ""))
                if tp in topics and any(len(w) >= 2 and (w in tp or tp in w) for w in group):
                    names |= {normalise(w) for w in group if len(w) >= 2}
            names = self._topic_names = sorted(names, key=lambda w: (-len(w), w))
        found = []
        for w in names:
            if w in text:
                found.append(w)
                text = text.replace(w, " ")
        return " ".join(found)

    def asks_local(self, question: str) -> bool:
        """The question asks when or where something happens in the village ("他哪天来坐班"): the
        village's own notice answers it (synonyms.yml ``local``)."""
        return _spoken.asks_local(_label_text(self.repair_sounds(question)))

    def is_village(self, entry_id: str) -> bool:
        """The entry is the village's own notice, not a general rule."""
        entry = self.by_id.get(entry_id)
        return entry is not None and _is_village(entry)

    def names_topic(self, question: str) -> bool:
        """The question names one of the base's topics (低保, 种地补贴, 村务公开 …), in its own
        words or a synonym of the topic's name."""
        return bool(self._topic_names_in(normalise(self.repair_sounds(question))))

    @property
    def learned(self) -> _learned.LearnedView:
        """The learned view (:mod:`knowledge.learned`), trained on first use (about a second;
        shared by knowledge bases of the same entries in one process)."""
        model = getattr(self, "_learned_model", None)
        if model is None:
            model = _learned.view_for(self.entries, _learned_text, _run_syllables, _learned_extra,
                                      folder=self.index_dir)
            self._learned_model = model
        return model

    def _rank(self, q_tokens: list[str], query: str, topic: str | None, village_grid: str | None,
              topic_mode: str) -> list[Hit]:
        """Every entry with a positive score for these query tokens, best first."""
        if not q_tokens:
            return []
        scores = self.bm25.get_scores(q_tokens)
        self_score = self._self_score(q_tokens)
        best: dict[int, tuple[float, int]] = {}
        second: dict[int, float] = {}
        # Only passages that match at all (BM25Okapi's scores are never negative, so a zero
        # changes neither an entry's best nor its second best): the same hits, in a tenth of
        # the loop.
        for pi in np.flatnonzero(scores > 0).tolist():
            s = scores[pi]
            ei = self.passage_owner[pi]
            if ei not in best or s > best[ei][0]:
                if ei in best:
                    second[ei] = best[ei][0]
                best[ei] = (float(s), pi)
            elif s > second.get(ei, 0.0):
                second[ei] = float(s)
        names_other_grid = any(e.grid and e.grid != village_grid and self._names_grid(e, query)
                               for e in self.entries)
        hits: list[Hit] = []
        for ei, (s, pi) in best.items():
            if s <= 0:
                continue
            # An entry is its best passage, plus a little of its second best: a question that
            # two passages of one entry answer (title and a body paragraph) is more surely it.
            s += SECOND_PASSAGE_WEIGHT * second.get(ei, 0.0)
            e = self.entries[ei]
            if topic and topic_mode == "filter" and e.topic != topic:
                continue
            if e.grid and e.grid != village_grid and not self._names_grid(e, query):
                # Grid-specific notices are for people in that grid, or for whoever names
                # the grid, its worker or its area (王秀兰, 村东片) from anywhere in the
                # village; everybody else is served by the village-wide entry.
                continue
            ratio = min(1.0, best[ei][0] / self_score)
            if topic and e.topic == topic:
                s *= TOPIC_BOOST
            if e.grid and (self._names_grid(e, query) or (e.grid == village_grid and "int:list" not in q_tokens
                                                          and not names_other_grid)):
                # the asker's own grid, unless the question names another grid's worker or
                # area, or asks for the whole list ("网格员都有谁")
                s *= GRID_BOOST
            hits.append(Hit(entry=e, score=s, passage=self.passage_text[pi], ratio=ratio))
        hits.sort(key=lambda h: (-h.score, h.entry.id))
        return hits

    def answer(self, question: str, topic: str | None = None, village_grid: str | None = None,
               topic_mode: str = "boost", parts: bool = True, previous: str | None = None) -> Answer:
        """Best entry for a question. ``topic_mode="filter"`` keeps a follow-up ("那要带什么
        材料?") on the topic of the previous answer. Confident needs a high enough ratio and
        a clear lead over the runner-up, and the evidence check (knowledge/evidence.py): the
        question names the entry's subject (anchor) and holds no noun that is something else
        (医保卡 for 医保) or a place elsewhere. A near tie between a general entry and the
        village's own entry on the same topic is answered from the village entry; the words
        and the sounds of the question and the learned view must agree on the entry (see
        ``decide``). When not sure,
        ``Answer.clarify`` holds one short question naming the close candidates. A question said
        after "顺便问问" in the middle is asked on its own first (``asked_after_marker``); a story the
        whole of which is unsure is answered by its last clause when that clause is sure of the
        entry the whole ranked first and names its subject (``last_clause``)."""
        asked = asked_after_marker(question) if parts else ""
        if asked:
            focused = self.answer(asked, topic, village_grid, topic_mode, parts, previous)
            if focused.entry is not None and focused.confident:
                return focused
        whole = self._answer_whole(question, topic, village_grid, topic_mode, parts, previous)
        last = last_clause(question) if parts and not whole.confident else ""
        if last:
            # a story that ends in its question ("…屋里也进了半尺水，这种情况可以要点救助吗"): the story's
            # words sank the whole question; the last clause alone is sure, of an entry the whole
            # question also ranked first
            focused = self._answer_whole(last, topic, village_grid, topic_mode, parts, previous)
            close = {e.id for e in whole.alternatives[:1]}
            if focused.entry is not None and focused.confident and focused.entry.id in close \
                    and focused.why.get("strong"):  # it names the entry's subject, not a detail ("要抵押不")
                focused.why["last_clause"] = last
                return focused
        return whole

    def _answer_whole(self, question: str, topic: str | None, village_grid: str | None, topic_mode: str,
                      parts: bool, previous: str | None) -> Answer:
        """:meth:`answer` for the question as a whole."""
        question = self.repair_sounds(question)
        hits, learned_top = self._search_all(question, topic, village_grid, topic_mode, previous)
        if not hits:
            return Answer(DONT_KNOW_TEXT, None, False, [], "")
        hits = self._prefer_elsewhere(question, hits)[:5]
        hits = _prefer_village(hits, local=_spoken.asks_local(_label_text(question)))
        top = hits[0]
        runner = hits[1] if len(hits) > 1 else None
        lead = top.score / runner.score if runner and runner.score > 0 else float("inf")
        own_grid = village_grid is not None and top.entry.grid == village_grid
        named_grid = bool(top.entry.grid) and self._names_grid(top.entry, question)
        ev = self.evidence.check(question, top.entry.id, self.query_tokens(question))
        anchored = ev.anchored or named_grid or own_grid or (topic is not None and top.entry.topic == topic
                                                            and topic_mode == "filter")
        # The words and the sounds of the question, and the learned view, must point at the
        # same entry (or the village notice must have won a near tie against the entry they
        # point at).
        agreeing = {top.entry.id} | ({runner.entry.id} if runner is not None and top.village_tie else set())
        views = self._view_tops(question, topic, village_grid, topic_mode)
        if learned_top is not None:
            views["learned"] = learned_top
        ratio = max(top.ratio, self._clause_ratio(question, top.entry)) if self.clause_ratio else top.ratio
        signals = {"ratio": ratio, "lead": min(lead, 99.0), "anchored": anchored, "vetoed": ev.vetoed,
                   "label": _says_label(question, top.entry, [h.entry for h in hits[1:3]]),
                   "strong": ev.strong or topic_mode == "filter", "grid": own_grid or named_grid,
                   "village_tie": top.village_tie,
                   "views_agree": all(v is None or v in agreeing for v in views.values()),
                   "views_majority": sum(v in agreeing for v in views.values() if v is not None) >= 2,
                   "story": bool(self.story_focus and story_focus(question))}
        why = {"ratio": round(ratio, 3), "lead": round(min(lead, 99.0), 3), "anchors": ev.anchors,
               "lookalikes": ev.lookalikes, "elsewhere": ev.elsewhere, "beyond": ev.beyond, "uncovered": ev.uncovered,
               "strong": ev.strong, "unknown": ev.unknown, "concepts": ev.concepts, "views": views,
               "signals": signals}
        why["top"] = top.entry.id
        # the calibrated path (below) is closed to a question about a place outside the county;
        # whether it names the entry's subject, holds a look-alike noun or is a story is left to
        # the calibration (they are among its features): with the development files doubled
        # (fresh5, fresh6; 1,753 questions, leave one file out, threshold 0.85), opening it to
        # them raised right and confident 0.815 -> 0.854 for confidently wrong 0.014 -> 0.018 and
        # out-of-corpus answered 0.056 -> 0.060 (one question); stories had been kept out on 84
        # development stories only
        why["gate"] = not ev.elsewhere and not ev.beyond
        why["features"] = _confidence.features(signals, hits, why, question)
        calibration = self.calibration if parts else None  # a part of a question: the rule alone
        p = calibration.probability(why["features"]) if calibration is not None else None
        if p is not None:
            why["probability"] = round(p, 3)
        if p is not None and p < calibration.veto:
            # the signals together say the first entry is unlikely to be right: asked back even
            # where each signal alone passes the rule ("高考志愿咋填" -> 志愿服务积分)
            why["calibration_veto"] = True
            return self._not_sure(hits, why, ev, anchored)
        both = self._answer_parts(question, hits, topic, village_grid) if parts else None
        if self.decide(signals):
            sure = _sure_answer(top, hits, why)
            if both is not None and top in both:
                # sure of the top entry, and the question asks for its runner-up too
                why["both"] = [both[0].entry.id, both[1].entry.id]
                sure.text = both_summary(both[0].entry, both[1].entry)
                sure.also = [h.entry for h in both if h is not top]
            return sure
        if both is not None:
            first, second = both  # in the order asked
            main, other = (first, second) if hits.index(first) < hits.index(second) else (second, first)
            why["both"] = [first.entry.id, second.entry.id]
            return Answer(
                text=both_summary(first.entry, second.entry),
                entry=main.entry,
                confident=True,
                alternatives=[h.entry for h in hits if h is not main][:3],
                citation=main.entry.citation,
                score=main.score,
                ratio=main.ratio,
                why=why,
                also=[other.entry],
            )
        picked = self._kind_decides(question, hits, ev, anchored) if KIND_DECIDES else None
        if picked is not None:
            why["kind_decides"] = picked.entry.id
            return _sure_answer(picked, hits, why)
        if p is not None and why["gate"] and p >= calibration.threshold:
            return _sure_answer(top, hits, why)
        return self._not_sure(hits, why, ev, anchored)

    def _prefer_elsewhere(self, question: str, hits: list[Hit]) -> list[Hit]:
        """A question about a place outside the county ("我爸在杭州住院了，医保能报不") that the
        first entry does not cover is answered from an entry that does (the one on care
        elsewhere): among the next seven, one within ``CLARIFY_LEAD`` of the first or of its topic."""
        top = hits[0]
        if self.evidence.covers(top.entry.id, "外地"):
            return hits
        if not _NOT_FROM_HERE.search(question) and not (
                self.evidence.mentions_elsewhere(question)  # the full check only when a place is named
                and self.evidence.check(question, top.entry.id, self.query_tokens(question)).elsewhere):
            return hits
        for h in hits[1:8]:
            close = h.score * CLARIFY_LEAD >= top.score or h.entry.topic == top.entry.topic
            if close and self.evidence.covers(h.entry.id, "外地"):
                return [h] + [x for x in hits if x is not h]
        return hits

    def _not_sure(self, hits: list[Hit], why: dict, ev, anchored: bool) -> Answer:
        """Not sure: say so, and offer the closest entries so the dialogue can ask back; when
        two candidates are close and both plausible, one short question tells them apart."""
        top = hits[0]
        answer = Answer(DONT_KNOW_TEXT, None, False, [h.entry for h in hits[:3]], "",
                        score=top.score, ratio=top.ratio, why=why)
        if not ev.vetoed and anchored and top.ratio >= self.threshold * CLARIFY_RATIO:
            text, ids = _clarify.question(*[h.entry for h in _close_candidates(hits)])
            if text:
                answer.clarify, answer.candidates = text, ids
        return answer

    def _answer_parts(self, question: str, hits: list[Hit], topic: str | None,
                      village_grid: str | None) -> tuple[Hit, Hit] | None:
        """A question of two parts ("医保几月份交，手机上咋个交", "危房改造啥人能申请，补多少钱"):
        the first two hits (within ``CLARIFY_LEAD`` of each other) when its parts, each asked on
        its own, are sure of one each, in the order asked; None when there is no such split. A
        later part that names no subject of its own ("手机上咋个交") is asked on the topic of the
        first part's answer, as the dialogue does for a follow-up; each part must ask something
        itself (``_asks``)."""
        clauses = [c for c in _CLAUSE_RE.split(normalise(question)) if _HAN_RE.search(c)]
        if not 2 <= len(clauses) <= BOTH_MAX_CLAUSES:
            return None
        top = hits[0]
        # close by the words of the question (BM25, before the learned view re-ranked them: a
        # two-part question is close to both entries, even where the view prefers one)
        close = {h.entry.id: h for h in hits[:3] if (h.bm25 or h.score) * CLARIFY_LEAD >= (top.bm25 or top.score)}
        if len(close) < 2:
            return None
        for k in range(1, len(clauses)):
            parts = ("，".join(clauses[:k]), "，".join(clauses[k:]))
            if not all(_asks(p) for p in parts):
                continue  # a part that only tells ("出车祸了", "她刚满八十") is no question of its own
            first = self.answer(parts[0], topic, village_grid, parts=False)
            if not (first.confident and first.entry.id in close):
                continue
            second = self.answer(parts[1], topic, village_grid, parts=False)
            if not second.confident and not second.why.get("signals", {}).get("anchored"):
                # "手机上咋个交" after "医保几月份交": asked on the first part's topic
                second = self.answer(parts[1], first.entry.topic, village_grid, topic_mode="filter", parts=False)
            if second.confident and second.entry.id in close and second.entry.id != first.entry.id:
                return close[first.entry.id], close[second.entry.id]
        return None

    def decide(self, signals: dict) -> bool:
        """Whether an answer may be given without asking back, from the signals ``answer``
        gathers (also kept in ``Answer.why["signals"]``, so thresholds can be swept without
        searching again):

        * the top entry covers enough of the question (``ratio`` >= ``self.threshold``);
        * the question names the entry's subject (``anchored``) and nothing else (not
          ``vetoed``: no look-alike noun, no place elsewhere);
        * it leads the runner-up clearly: by ``self.clear_lead``; by ``WEAK_ANCHOR_LEAD`` when
          the question names only a detail of the entry (not ``strong``); by
          ``self.disagree_lead`` when the words and the sounds of the question, or the learned
          view, rank different entries first (not ``views_agree``), and by ``MAJORITY_LEAD``
          when two of the three name the top entry (``views_majority``). A village notice that won
          a near tie against the general entry on its topic counts as leading, when nothing
          stricter applies. A grid notice of the asker's grid, or named by its worker or area, needs no lead; nor
          does an entry whose own short name (``label``) the question says ("低保怎么申请"),
          when no close runner-up's name is said too — even when the sounds rank another
          entry first ("低保咋个申请法": the syllable fa pulled the sounds to 法律).
        """
        s = signals
        if s["ratio"] < self.threshold or not s["anchored"] or s["vetoed"]:
            return False
        if s["grid"]:
            return True
        need = 1.0 if s.get("label") else self.clear_lead
        if not s["strong"]:
            need = max(need, WEAK_ANCHOR_LEAD)
        if not s["views_agree"] and not s.get("label"):
            need = max(need, MAJORITY_LEAD if s.get("views_majority") and not s.get("story")
                       else self.disagree_lead)
        return s["lead"] >= need or (s["village_tie"] and need == self.clear_lead)

    def _clause_ratio(self, question: str, entry: Entry) -> float:
        """A long ("story") question: how much of its last clauses, where villagers put the
        question itself, the entry covers (same measure as ``Hit.ratio``); 0 for short ones."""
        clauses = [c for c in _CLAUSE_RE.split(normalise(question)) if _HAN_RE.search(c)]
        if len(clauses) < CLAUSE_MIN:
            return 0.0
        tokens = self.query_tokens("，".join(clauses[-CLAUSE_LAST:]))
        if not tokens:
            return 0.0
        owned = getattr(self, "_passages_of", None)
        if owned is None:
            owned = self._passages_of = {}
            for pi, ei in enumerate(self.passage_owner):
                owned.setdefault(self.entries[ei].id, []).append(pi)
        scores = self.bm25.get_batch_scores(tokens, owned.get(entry.id, []))
        best = max((float(sc) for sc in scores), default=0.0)
        return min(1.0, best / self._self_score(tokens))

    def _view_tops(self, question: str, topic: str | None, village_grid: str | None,
                   topic_mode: str) -> dict[str, str | None]:
        """The best entry by two readings of the question (``answer`` adds the learned view's
        as a third, ``views["learned"]``): its words (jieba words,
        synonym groups, kinds of answer: what segmentation and the synonym table make of it)
        and its sounds (pinyin of adjacent character pairs, whatever the segmentation); None
        for a view the question has no tokens in."""
        q_tokens = self.ranking_tokens(question)
        out: dict[str, str | None] = {}
        for view, keep in (("words", lambda t: not t.startswith(("py:", "pb:"))),
                           ("sounds", lambda t: t.startswith("pb:"))):
            hits = self._rank([t for t in q_tokens if keep(t)], question, topic, village_grid, topic_mode)
            out[view] = hits[0].entry.id if hits else None
        return out

    @property
    def evidence(self) -> _evidence.EvidenceModel:
        model = getattr(self, "_evidence_model", None)
        if model is None:
            handles = {eid: [w for w, _ in hs] for eid, hs in self._grid_handles().items()}
            model = _evidence.EvidenceModel(self.entries, tokenize, _fuzzy_pinyin, normalise, _STOPWORDS,
                                            extra_handles=handles)
            self._evidence_model = model
        return model

    def pick(self, reply: str, candidates: Sequence[str]) -> str | None:
        """Which of the candidates of a clarifying question the villager's reply means (by
        number, "第一个/前面那个", or by a word that tells them apart); None if unclear."""
        return _clarify.pick(reply, [self.by_id[c] for c in candidates if c in self.by_id], tokenize)


#: "By the way, I'd ask" said in the middle ("屋顶掀了几块瓦…；顺便问问，高龄补贴登记要带啥"): what follows
#: the marker is the question, whatever was told before it.
_ASKS_AFTER = re.compile(r"((顺便|顺带|顺道|另外|还想|再)(问|打听)(问|一下|下|一声|个事儿?|件事)?"
                         r"|(我|俺|额)(想|要)?(问|打听)(问|一下|下|一声|个事儿?|件事)|请问)"
                         # not asking someone first ("我问问我儿子再说", "回头我问问支书")
                         r"(?![问我俺咱他她儿女闺老家村支孙媳爹妈娘])")
#: ... when at least this many characters of a question follow it.
ASKED_AFTER_MIN = 4


def asked_after_marker(question: str) -> str:
    """The question said after a "by the way, I'd ask" in the middle of the text, "" when there is
    no such marker after something else was said first."""
    found = list(_ASKS_AFTER.finditer(question or ""))
    if not found or found[-1].start() == 0:
        return ""
    rest = question[found[-1].end():].lstrip("，,：:、…. ")
    return rest if len("".join(_HAN_RE.findall(rest))) >= ASKED_AFTER_MIN else ""


#: A question of at least this many clauses may be asked by its last clause alone (see ``answer``).
LAST_CLAUSE_MIN = CLAUSE_MIN


def last_clause(question: str) -> str:
    """The last clause of a question of at least ``LAST_CLAUSE_MIN`` clauses, when it asks
    something of at least ``ASKED_AFTER_MIN`` characters; "" otherwise."""
    clauses = [c for c in _CLAUSE_RE.split(normalise(question)) if _HAN_RE.search(c)]
    if len(clauses) < LAST_CLAUSE_MIN or len("".join(_HAN_RE.findall(clauses[-1]))) < ASKED_AFTER_MIN:
        return ""
    return clauses[-1] if _asks(clauses[-1]) else ""


def story_focus(question: str) -> str:
    """The question part of a story (a question of at least ``STORY_MIN`` clauses): its last
    ``CLAUSE_LAST`` clauses, where villagers put what they ask; "" for a shorter question."""
    clauses = [c for c in _CLAUSE_RE.split(normalise(question)) if _HAN_RE.search(c)]
    if len(clauses) < STORY_MIN:
        return ""
    return "，".join(clauses[-CLAUSE_LAST:])


def _learned_text(text: str) -> str:
    return _spoken.normalise_spoken(normalise(text))


def _learned_extra(text: str) -> list[str]:
    return _spoken.intent_tokens(text) * 2 + _spoken.synonym_tokens(text, [])


def _label_text(text: str) -> str:
    return re.sub(r"\s+", "", _spoken.normalise_spoken(normalise(text)))


def _says_label(question: str, entry: Entry, others: Sequence[Entry]) -> bool:
    """The question says the entry's own short name ("低保咋申请" -> 低保怎么申请) and not the
    name of any of ``others``."""
    q = _label_text(question)
    named = lambda e: bool(e.label) and _label_text(e.label) in q  # noqa: E731
    return named(entry) and not any(named(o) for o in others)


def _sure_answer(hit: Hit, hits: list[Hit], why: dict) -> Answer:
    """A confident answer from ``hit``'s entry; the next three hits are its alternatives."""
    return Answer(text=spoken_summary(hit.entry), entry=hit.entry, confident=True,
                  alternatives=[h.entry for h in hits if h is not hit][:3], citation=hit.entry.citation,
                  score=hit.score, ratio=hit.ratio, why=why)


def _close_candidates(hits: list[Hit]) -> list[Hit]:
    """The hits a clarifying question names: the top one alone when it leads the runner-up by
    ``CLARIFY_LEAD`` or more ("您问的是A吗？"); else the top two ("您问的是A，还是B？"), and, when
    ``CLARIFY_NAMES`` allows three, the third as well when it is about as close to the second
    as the second is to the top ("A、B，还是C？")."""
    top = hits[0]
    close = [h for h in hits[1:CLARIFY_NAMES] if h.score > 0 and top.score < h.score * CLARIFY_LEAD]
    if not close:
        return [top]
    if len(close) == 2 and close[0].score >= close[1].score * CLARIFY_THIRD:
        close = close[:1]
    return [top, *close]


def _is_village(entry: Entry) -> bool:
    return "/village/" in entry.path.replace("\\", "/") or (entry.region != "通用" and not entry.grid)


def _prefer_village(hits: list[Hit], local: bool = False) -> list[Hit]:
    """A near tie between a general entry and the village's own notice on the same topic is
    answered from the village notice (it is the local, more specific rule). The village hit
    moves first and is marked ``village_tie`` (its lead counts as clear). With ``local`` (the
    question asks when or where: 几点开门, 上午去行不), the village notice on the topic is
    preferred from a wider gap (``LOCAL_TIE``) and from third place too: general entries
    have no opening hours or rooms."""
    if len(hits) < 2:
        return hits
    a = hits[0]
    if local and not _is_village(a.entry):
        for j, b in enumerate(hits[1:3], start=1):
            if (_is_village(b.entry) and not b.entry.grid and b.entry.topic == a.entry.topic
                    and b.score * LOCAL_TIE >= a.score):
                b.village_tie = True
                return [b] + hits[:j] + hits[j + 1:]
    b = hits[1]
    if (not _is_village(a.entry) and _is_village(b.entry) and a.entry.topic == b.entry.topic
            and b.score * VILLAGE_TIE >= a.score):
        b.village_tie = True
        return [b, a] + hits[2:]
    if _is_village(a.entry) and not _is_village(b.entry) and a.entry.topic == b.entry.topic \
            and a.score <= b.score * VILLAGE_TIE:
        a.village_tie = True
    return hits


#: Something asked: a question word or a question-ending particle (after spoken normalisation:
#: 啥 -> 什么, 咋 -> 怎么), or a kind of answer (``int:`` tokens).
_ASKS_RE = re.compile(r"(吗|么|呢|什么|怎么|哪|谁|多少|几|能不能|可不可以|行不行|是不是|有没有|还是|要不要|不$|没$|不给$)")


def _asks(part: str) -> bool:
    text = _label_text(part)
    return bool(_ASKS_RE.search(text) or _spoken.intent_tokens(text))


def both_summary(first: Entry, second: Entry) -> str:
    """The spoken answer to a two-part question: each entry's first sentences within half of
    ``MAX_ANSWER_CHARS`` (at least one whole sentence each), the second after "另外，"."""
    half = MAX_ANSWER_CHARS // 2
    return spoken_summary(first, half, 2) + "另外，" + spoken_summary(second, half, 2)


def spoken_summary(entry: Entry, max_chars: int = MAX_ANSWER_CHARS,
                   max_sentences: int = MAX_ANSWER_SENTENCES) -> str:
    """First paragraph cut to <= max_sentences whole sentences and about max_chars."""
    paras = entry.paragraphs
    return _spoken_cut(re.sub(r"\s+", "", paras[0]) if paras else "", max_chars, max_sentences)


def _spoken_cut(paragraph: str, max_chars: int, max_sentences: int) -> str:
    """A paragraph cut to <= max_sentences whole sentences and about max_chars."""
    sentences = [s for s in _SENT_RE.findall(paragraph) if s.strip()]
    out = ""
    for i, s in enumerate(sentences[:max_sentences]):
        if i > 0 and len(out) + len(s) > max_chars:
            break
        out += s
    return out or paragraph[:max_chars]


_HAN_PAIR = re.compile(r"(?=([\u4e00-\u9fa5]{2}))")


def _pairs(text: str) -> set[str]:
    return set(_HAN_PAIR.findall(_learned_text(text)))


def spoken_part(entry: Entry, question: str, max_chars: int = MAX_ANSWER_CHARS,
                max_sentences: int = MAX_ANSWER_SENTENCES) -> str:
    """The paragraph of ``entry`` that a follow-up on it asks about ("要还利息不" after the student
    loan: the paragraph on interest), when a later paragraph shares more of the question's words
    (pairs of characters, spoken forms normalised) than the first; else :func:`spoken_summary`."""
    asked = _pairs(question) - _pairs(entry.title)  # the subject itself tells no paragraph apart
    paras = [re.sub(r"\s+", "", p) for p in entry.paragraphs]
    if not asked or len(paras) < 2:
        return spoken_summary(entry, max_chars, max_sentences)
    overlap = [len(asked & _pairs(p)) for p in paras]
    best = max(range(len(paras)), key=lambda i: (overlap[i], -i))
    if best == 0 or overlap[best] <= overlap[0]:
        return spoken_summary(entry, max_chars, max_sentences)
    return _spoken_cut(paras[best], max_chars, max_sentences)


# ------------------------------------------------------------------ persistence/ingest


def build_index(root: str | os.PathLike = "knowledge", var_dir: str | os.PathLike | None = None) -> Path:
    """Validate every entry, then write the index atomically. Returns the index path."""
    return KnowledgeBase.load(root, var_dir=var_dir, use_index=False).save_index(var_dir)


def ingest(paths: Iterable[str | os.PathLike], root: str | os.PathLike = "knowledge",
           var_dir: str | os.PathLike | None = None) -> list[Path]:
    """Add new documents: validate all first (all or nothing), copy, rebuild the index.

    Each file goes to root/corpus/<area of its topic>/<id>.md ('local' for topics not in
    TOPICS). A file whose id already exists *replaces* the old entry in place (an
    updated notice; a village notice stays under village/).
    Raises KnowledgeFormatError, leaving corpus and index untouched, if any file is bad,
    if two new files share an id, or if the resulting corpus would not load.
    """
    root_p = _resolve_root(root)
    paths = [Path(p) for p in paths]
    if not paths:
        raise KnowledgeFormatError("no files given to ingest")
    new_entries = [load_entry(p) for p in paths]
    ids: dict[str, Path] = {}
    for e, p in zip(new_entries, paths):
        if e.id in ids:
            raise KnowledgeFormatError(f"{p}: duplicate id '{e.id}' (also in {ids[e.id]})")
        ids[e.id] = p
    existing = {e.id: Path(e.path) for e in load_entries(root_p)}

    # Stage a full copy of root with the new files applied, and prove it loads.
    staging = Path(tempfile.mkdtemp(prefix="kb-ingest-"))
    try:
        stage_root = staging / "knowledge"
        shutil.copytree(root_p, stage_root,
                        ignore=shutil.ignore_patterns("eval", "__pycache__", "*.py", "*.pyc"))
        plan: list[tuple[Path, Path, Path | None]] = []  # (src, dest, replaced)
        for e, p in zip(new_entries, paths):
            replaced = existing.get(e.id)
            if replaced is not None:
                # An update keeps the old file's place (a village notice stays in village/).
                rel = replaced.resolve().relative_to(root_p.resolve())
                (stage_root / rel).unlink(missing_ok=True)
                dest = root_p / rel
            else:
                rel = Path("corpus") / TOPIC_DIRS.get(e.topic, "local") / f"{e.id}.md"
                dest = root_p / rel
            sdest = stage_root / rel
            sdest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, sdest)
            plan.append((p, dest, replaced))
        load_entries(stage_root)  # raises on any inconsistency; nothing touched yet
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    written: list[Path] = []
    for src, dest, replaced in plan:
        if replaced is not None and replaced.resolve() != dest.resolve():
            replaced.unlink(missing_ok=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.resolve() != dest.resolve():
            tmp = dest.with_name(f".tmp-{dest.name}")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        written.append(dest)
    build_index(root_p, var_dir=var_dir)
    return written


# -------------------------------------------------------------------------- evaluation


def _load_questions(path: str | os.PathLike) -> list[dict]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("questions", [])
    return data or []


def _expected_ids(item: dict) -> set[str]:
    v = item.get("id") or item.get("ids")
    return {v} if isinstance(v, str) else set(v or [])


def evaluate(kb: KnowledgeBase, questions_path: str | os.PathLike = "knowledge/eval/questions.yml",
             ooc_path: str | os.PathLike = "knowledge/eval/out_of_corpus.yml",
             threshold: float | None = None, details: bool = False) -> dict:
    """top1/top3 accuracy, share of out-of-corpus questions answered 'not confident',
    share of in-corpus questions answered confidently (and confidently wrong)."""
    old = kb.threshold
    if threshold is not None:
        kb.threshold = threshold
    try:
        qs = _load_questions(_resolve_root(questions_path))
        ooc = _load_questions(_resolve_root(ooc_path))
        top1 = top3 = conf = conf_wrong = top1_hint = 0
        misses = []
        for item in qs:
            want = _expected_ids(item)
            hits = kb.search(item["q"], topic=item.get("topic"), k=3, village_grid=item.get("grid"))
            got = [h.entry.id for h in hits]
            a = kb.answer(item["q"], topic=item.get("topic"), village_grid=item.get("grid"))
            if got[:1] and got[0] in want:
                top1 += 1
            else:
                misses.append({"q": item["q"], "want": sorted(want), "got": got,
                               "ratio": round(hits[0].ratio, 3) if hits else 0})
            if want & set(got):
                top3 += 1
            # Same question with the topic an ideal NLU would pass (topic of the first
            # expected entry), to show what the topic boost adds.
            hint = next((kb.by_id[i].topic for i in sorted(want) if i in kb.by_id), None)
            hh = kb.search(item["q"], topic=hint, k=1, village_grid=item.get("grid"))
            if hh and hh[0].entry.id in want:
                top1_hint += 1
            if a.confident:
                conf += 1
                if a.entry is None or a.entry.id not in want:
                    conf_wrong += 1
        dont_know = 0
        ooc_fails = []
        for item in ooc:
            a = kb.answer(item["q"] if isinstance(item, dict) else str(item))
            if not a.confident:
                dont_know += 1
            else:
                ooc_fails.append({"q": item["q"] if isinstance(item, dict) else item,
                                  "got": a.entry.id if a.entry else None, "ratio": round(a.ratio, 3)})
        n, m = max(len(qs), 1), max(len(ooc), 1)
        result = {
            "n_questions": len(qs),
            "n_out_of_corpus": len(ooc),
            "threshold": kb.threshold,
            "top1": top1 / n,
            "top3": top3 / n,
            "top1_with_topic_hint": top1_hint / n,
            "ooc_correct_dont_know": dont_know / m,
            "in_corpus_confident": conf / n,
            "in_corpus_confident_wrong": conf_wrong / n,
        }
        if details:
            result["misses"] = misses
            result["ooc_confident"] = ooc_fails
        return result
    finally:
        kb.threshold = old


def calibrate(kb: KnowledgeBase, questions_path: str | os.PathLike = "knowledge/eval/questions.yml",
              ooc_path: str | os.PathLike = "knowledge/eval/out_of_corpus.yml",
              grid: Sequence[float] = tuple(x / 100 for x in range(10, 81, 5))) -> list[dict]:
    """Sweep thresholds; 'balanced' = mean of ooc_correct_dont_know and in-corpus
    confident-and-right share. Pick the threshold with the best balanced value."""
    rows = []
    for t in grid:
        r = evaluate(kb, questions_path, ooc_path, threshold=t)
        right = r["in_corpus_confident"] - r["in_corpus_confident_wrong"]
        r["balanced"] = (r["ooc_correct_dont_know"] + right) / 2
        rows.append(r)
    return rows


_DEFAULT_KB: KnowledgeBase | None = None
_DEFAULT_KB_STAMP: tuple | None = None


def default_kb(root: str | os.PathLike = "knowledge", var_dir: str | os.PathLike | None = None) -> KnowledgeBase:
    """The shared knowledge base of a long-running process (the action server).

    Loaded once, and reloaded when the persisted index changes, so documents added with
    ``python -m knowledge ingest`` become answerable without a restart."""
    global _DEFAULT_KB, _DEFAULT_KB_STAMP

    def stamp() -> tuple:
        try:
            mtime = index_path(var_dir).stat().st_mtime_ns
        except OSError:
            mtime = None
        return str(_resolve_root(root)), str(_resolve_var(var_dir)), mtime  # another folder is another KB

    if _DEFAULT_KB is None or stamp() != _DEFAULT_KB_STAMP:
        _DEFAULT_KB = KnowledgeBase.load(root, var_dir=var_dir)
        _DEFAULT_KB_STAMP = stamp()  # after the load, which writes a missing index
    return _DEFAULT_KB
