"""speech.asr without a speech model: a missing model's error, the default model path, and
the text helpers around recognition (segmenting phrases into model words with a vocabulary
stub, joining words, snapping transcripts onto known names and phrases by pinyin).
Recognition itself, on the real Korean test model: test_asr.py."""
from __future__ import annotations

import pytest

from speech import asr


def test_missing_model_has_a_clear_error(tmp_path):
    with pytest.raises(asr.ModelNotFoundError, match="python -m speech.model"):
        asr.Recognizer(tmp_path / "nope")


def test_default_model_path_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("XIANGYIN_VOSK_MODEL", str(tmp_path / "m"))
    assert asr.default_model_path() == tmp_path / "m"
    monkeypatch.delenv("XIANGYIN_VOSK_MODEL")
    monkeypatch.setenv("XIANGYIN_VAR_DIR", str(tmp_path))
    assert asr.default_model_path() == tmp_path / "models" / "vosk-model-small-cn-0.22"


# --------------------------------------------------------------------------- grammar


class _FakeModel:
    """Vocabulary stub to test Chinese segmentation (the Korean model has no Chinese)."""

    def __init__(self, words):
        self.words = set(words)

    def vosk_model_find_word(self, word):
        return 1 if word in self.words else -1


def test_chinese_phrases_are_segmented_into_model_words():
    model = _FakeModel({"积分", "查询", "我", "的", "王", "建国", "低保"})
    assert asr.segment_phrase("积分查询", model) == ["积分", "查询"]
    assert asr.segment_phrase("我的 积分", model) == ["我", "的", "积分"]
    assert asr.segment_phrase("王建国", model) == ["王", "建国"]
    assert asr.segment_phrase("医保报销", model) is None
    assert asr.build_grammar(["积分查询", "医保报销", "低保"], model) == \
        ["积分 查询", "低保", "[unk]"]


# --------------------------------------------------------------------------- text helpers


def test_join_words_removes_spaces_only_inside_chinese():
    assert asr.join_words(["我", "想", "查", "积分"]) == "我想查积分"
    assert asr.join_words(["查", "wifi", "密码"]) == "查 wifi 密码"
    assert asr.join_words(["안녕", "하세요"]) == "안녕 하세요"
    assert asr.join_words(["[unk]", "你好"]) == "你好"
    assert asr.normalise_text("今天 天气 怎么样") == "今天天气怎么样"


@pytest.mark.parametrize("heard, expected", [
    ("王健国", "王建国"),                      # homophone of a villager's name
    ("我想查王健国的积分", "我想查王建国的积分"),  # name inside a sentence
    ("积分查寻", "积分查询"),                   # whole-utterance phrase
    ("帮我查一下积查询", "帮我查一下积分查询"),    # a dropped syllable in a long phrase
    ("找南书记", "找蓝书记"),                   # n/l accent confusion
    ("今天天气怎么样", "今天天气怎么样"),          # nothing similar: unchanged
    ("", ""),
])
def test_snap(heard, expected):
    known = ["王建国", "李秀英", "蓝书记", "积分查询", "低保申请"]
    assert asr.snap(heard, known) == expected


def test_snap_threshold_and_scores():
    assert asr.snap("李秀", ["李秀英"], threshold=0.99) == "李秀"
    assert asr.similarity("张三", "张三") == 1.0
    assert asr.similarity("是", "四") > asr.similarity("是", "八")  # sh/s folded
    phrase, score = asr.best_match("积分差询", ["积分查询", "低保申请"])
    assert phrase == "积分查询" and 0.7 < score < 1.0
    assert asr.snap("abc", []) == "abc"
