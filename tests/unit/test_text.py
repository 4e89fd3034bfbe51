"""bot.text: the one copy of the Chinese text helpers (numerals, dates, ordinals, pinyin)."""
from __future__ import annotations

import datetime as dt

import pytest

from bot import text


@pytest.mark.parametrize("said, value", [
    ("12", 12), ("12号", 12), ("十二", 12), ("二十三", 23), ("三十", 30), ("一百零五", 105), ("两", 2),
    ("十", 10), ("一百", 100), ("两百五十", 250), ("买三个", 3), ("幺", 1), ("零", 0), (" 7 ", 7),
])
def test_parse_number(said, value):
    assert text.parse_number(said) == value


@pytest.mark.parametrize("said", ["", None, "没有数字", "好的"])
def test_parse_number_without_a_number(said):
    assert text.parse_number(said) is None


@pytest.mark.parametrize("said, value", [
    ("第二个", 2), ("选2", 2), ("二号", 2), ("两", 2), ("第九", 9), ("12", 12), ("第一个吧", 1),
])
def test_parse_ordinal(said, value):
    assert text.parse_ordinal(said) == value


@pytest.mark.parametrize("said", ["", None, "零", "幺", "随便"])
def test_parse_ordinal_without_a_choice(said):
    assert text.parse_ordinal(said) is None


@pytest.mark.parametrize("said, digits", [
    ("一二三四", "1234"), ("幺两三四", "1234"), ("1 2 3 4", "1234"), ("零〇九", "009"), ("我的是四八二九一三", "482913"),
])
def test_spoken_digits(said, digits):
    assert text.spoken_digits(said) == digits


@pytest.mark.parametrize("n, said", [
    (0, "零"), (7, "七"), (10, "十"), (12, "十二"), (15, "十五"), (20, "二十"), (30, "三十"), (105, "一百零五"),
    (110, "一百一十"), (1000, "一千"), (1001, "一千零一"), (1250, "一千二百五十"), (10000, "一万"),
    (10050, "一万零五十"), (30020, "三万零二十"), (120000, "十二万"), (1000000, "一百万"),
    (100000001, "一亿零一"), ("3.50", "三点五"), (-3, "负三"), ("-3.14", "负三点一四"),
])
def test_number_to_chinese(n, said):
    assert text.number_to_chinese(n) == said


def test_number_to_chinese_liang_and_errors():
    assert text.number_to_chinese(2, liang=True) == "两"
    assert text.number_to_chinese(2000, liang=True) == "两千"
    assert text.number_to_chinese(22000, liang=True) == "两万两千"
    assert text.number_to_chinese(12000, liang=True) == "一万两千"
    assert text.number_to_chinese(120000, liang=True) == "十二万"
    with pytest.raises(ValueError):
        text.number_to_chinese("abc")


def test_numbers_round_trip():
    for n in list(range(0, 200)):
        assert text.parse_number(text.number_to_chinese(n)) == n


def test_digits_and_phones():
    assert text.digits_to_chinese("482913") == "四八二九一三"
    assert text.digits_to_chinese("482913", yao=True) == "四八二九幺三"
    assert text.phone_to_chinese("13812345678") == "幺三八、幺二三四、五六七八"
    assert text.phone_to_chinese("010-12345678") == "零幺零、幺二三四五六七八"
    assert text.phone_to_chinese("138-1234-5678", yao=False) == "一三八、一二三四、五六七八"
    assert text.spoken_digits(text.digits_to_chinese("13812345678", yao=True)) == "13812345678"


@pytest.mark.parametrize("hour, minute, said", [
    (14, 30, "下午两点半"), (9, 5, "上午九点零五分"), (12, 0, "中午十二点"), (0, 15, "凌晨零点十五分"),
    (7, 45, "早上七点四十五分"), (20, 10, "晚上八点十分"), (19, 0, "晚上七点"),
])
def test_time_to_chinese(hour, minute, said):
    assert text.time_to_chinese(hour, minute) == said


def test_time_without_period():
    assert text.time_to_chinese(14, 30, period=False) == "两点半"


def test_dates():
    today = dt.date(2024, 6, 1)
    assert text.date_to_chinese(2024, 11, 3, today=today) == "十一月三日"
    assert text.date_to_chinese(2025, 1, 2, today=today) == "二零二五年一月二日"
    assert text.date_to_chinese(2024, 1, 2, read_year=True, today=today) == "二零二四年一月二日"
    assert text.month_day(dt.datetime(2024, 11, 3, 9, 0)) == "11月3日"


def test_pinyin():
    assert text.pinyin_syllables("王建国") == ("wang", "jian", "guo")
    assert text.toneless_pinyin("王建国") == "wang jian guo"
    assert text.toneless_pinyin("王建国", sep="") == "wangjianguo"
    assert text.toneless_pinyin("低保") == text.toneless_pinyin("地保")  # homophones
    assert text.toneless_pinyin("A区3号", sep="", keep_other=False) == "quhao"


@pytest.mark.parametrize("syllable, folded", [("zhang", "zan"), ("shi", "si"), ("lan", "nan"), ("ren", "nen"),
                                              ("fu", "hu"), ("ming", "min"), ("feng", "hen"), ("a", "a")])
def test_asr_confusions(syllable, folded):
    assert text.fold_syllable(syllable, text.ASR_CONFUSIONS) == folded


@pytest.mark.parametrize("syllable, folded", [("zhang", "zan"), ("nan", "lan"), ("ning", "lin"), ("dong", "don"),
                                              ("ng", "ng"), ("n", "l"), ("hng", "hn")])
def test_index_confusions(syllable, folded):
    assert text.fold_syllable(syllable, text.INDEX_CONFUSIONS) == folded


def test_sound_similarity():
    assert text.sound_similarity("张三", "张 三") == 1.0
    assert text.sound_similarity("", "张三") == 0.0
    assert text.sound_similarity("是", "四") > text.sound_similarity("是", "八")  # sh/s folded
    assert text.sound_similarity("王建国", "王见过") > 0.75  # a mis-heard name still matches
