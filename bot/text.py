"""Chinese text helpers: the one copy of numerals, dates and times read aloud, ordinals,
spoken digit strings and toneless pinyin with accent folding.

Pure functions of strings and numbers (no database, no Rasa), so any layer may use them:
the domain, the actions, the channels, ``speech`` and ``knowledge``.

Reading Chinese (what people said → values)::

    parse_number("一百零五") -> 105      parse_number("12号") -> 12      parse_number("两") -> 2
    parse_ordinal("第二个") -> 2         parse_ordinal("选3") -> 3
    spoken_digits("幺两三四") -> "1234"  (PINs, phone and ticket numbers said digit by digit)

Writing Chinese (values → what a voice should say)::

    number_to_chinese(1250) -> "一千二百五十"      number_to_chinese(2000, liang=True) -> "两千"
    digits_to_chinese("482913") -> "四八二九一三"   phone_to_chinese("13812345678") -> "幺三八、…"
    date_to_chinese(2024, 11, 3) -> "十一月三日"   time_to_chinese(14, 30) -> "下午两点半"
    month_day(date) -> "11月3日"                    (dates in display text)

Pinyin::

    pinyin_syllables("王建国") -> ("wang", "jian", "guo")     toneless_pinyin("王建国") -> "wang jian guo"
    fold_syllable("zhang", ASR_CONFUSIONS) -> "zan"          sound_similarity("王建国", "王见过") -> 1.0
"""
from __future__ import annotations

import datetime as _dt
import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

# --------------------------------------------------------------------------- living alone

#: Every way of saying that someone lives alone ("独居", "一个人过", "单门独户", "单个儿过",
#: "家里就他自己一个"): the one vocabulary that staff lists (actions/staff.py), the list check of
#: the policy action (actions/policy.py) and a household follow-up (bot/nlu/goals.py) share.
LIVING_ALONE = (r"独居|独自|独门独户|单门独户|独个儿?(住|过)|单个儿?(住|过)|单过|单身(过|住)|一人户|一个人(住|过|生活|在家|单过)"
                r"|自个儿?(住|过)|自己(住|过)|自己一个人|(自个儿?|自己|独自)?一(个)?人(住|过|生活|守着|在家)"
                r"|就剩(他|她)?一个人?|(就|只有|只)(他|她)?(自己|自个儿?)一(个|人)"
                # keeping the house alone ("光剩老人自个儿守着屋")
                r"|(自个儿?|自己|独自|一个人)守着?(屋|家|房子|老屋|院子|老房子)|光剩(老人|老的|他|她)?(自个儿?|自己|一个)")


# --------------------------------------------------------------------------- reading numerals

#: Digit characters as said aloud, with the spoken variants 两 (2), 幺 (1, in numbers read
#: digit by digit) and 〇.
DIGIT_VALUES = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
                "六": 6, "七": 7, "八": 8, "九": 9}
#: Ordinal characters: which of the offered options (第二个, 三号). Only 1..9.
ORDINAL_VALUES = {c: v for c, v in DIGIT_VALUES.items() if 1 <= v <= 9 and c != "幺"}
_UNIT_VALUES = {"十": 10, "百": 100}
#: Every character :func:`parse_number` reads, for regular expressions (``f"[{NUMERAL_CHARS}]+号"``).
NUMERAL_CHARS = "".join(DIGIT_VALUES) + "".join(_UNIT_VALUES)
#: A house number's digits or numerals ("8", "十三"), for the regular expressions that read one
#: (``rf"{HOUSE_DIGITS}号"``).
HOUSE_DIGITS = rf"(\d{{1,3}}|[{NUMERAL_CHARS}]{{1,4}})"
_ASCII_NUMBER = re.compile(r"\d+")


def parse_number(text: str) -> int | None:
    """The number in ``text``: '12' → 12, '十二' → 12, '二十三' → 23, '一百零五' → 105, '三十' → 30,
    '两' → 2. Arabic digits win; otherwise every numeral character of the text is read, in
    order, up to 百. None when the text holds no number."""
    text = (text or "").strip()
    digits = _ASCII_NUMBER.search(text)
    if digits:
        return int(digits.group())
    chars = [c for c in text if c in DIGIT_VALUES or c in _UNIT_VALUES]
    if not chars:
        return None
    total, current = 0, 0
    for c in chars:
        if c in _UNIT_VALUES:
            total += (current or 1) * _UNIT_VALUES[c]
            current = 0
        else:
            current = DIGIT_VALUES[c]
    return total + current


def parse_ordinal(text: str) -> int | None:
    """Which option was chosen: '第二个' / '选2' / '二号' → 2 (the first Arabic number, else the
    first ordinal character 一..九). None when there is none."""
    digits = _ASCII_NUMBER.search(text or "")
    if digits:
        return int(digits.group())
    return next((ORDINAL_VALUES[c] for c in text or "" if c in ORDINAL_VALUES), None)


def is_spoken_number(text: str) -> bool:
    """Only digits, said or written (一二三四, 幺两三四, 1 2 3 4), with spaces or commas between:
    a PIN or a number said digit by digit, never words."""
    compact = "".join(c for c in (text or "") if c not in " ，,。、")
    return bool(compact) and all(c.isdigit() or c in DIGIT_VALUES for c in compact)


#: What is said before a PIN while recalling it ("嗯，我想想，二四六八", "密码是一三五七", "等一下…是幺二三四").
_PIN_LEAD_IN = re.compile(r"^(?:[嗯呃啊哦额唔噢哎诶，,。、…\s]|我?(再)?想(一)?想|让我想(一)?想|想一下|等(一)?下|等等|稍等"
                          r"|我的密码是|密码是|我的密码|密码|我记得是|好像是|就是|是)+")


def pin_said(text: str) -> str | None:
    """The PIN in a reply to "请说您的四位工作密码": the digits said (``is_spoken_number``), after
    words of recalling it; None when anything else is said."""
    rest = _PIN_LEAD_IN.sub("", (text or "").strip())
    return rest if is_spoken_number(rest) else None


def spoken_digits(text: str) -> str:
    """Digits said one by one, as a digit string: '一二三四' / '幺两三四' / '1 2 3 4' → '1234'.
    Everything else is dropped."""
    return "".join(str(DIGIT_VALUES[c]) if c in DIGIT_VALUES else c
                   for c in text or "" if c in DIGIT_VALUES or c.isdigit())


_SPOKEN_DIGIT_RUN = re.compile(r"[零〇一二三四五六七八九幺两]{6,}")


def with_spoken_digit_runs(text: str) -> str:
    """Runs of six or more digits said one by one written as digits ("二六零一零二那个" →
    "260102那个"): ticket numbers are said this way."""
    return _SPOKEN_DIGIT_RUN.sub(lambda m: spoken_digits(m.group()), text or "")


# --------------------------------------------------------------------------- writing numerals

_DIGITS = "零一二三四五六七八九"
_UNITS = ("", "十", "百", "千")
_SECTIONS = ("", "万", "亿", "万亿")


def _section(n: int) -> str:
    """0 < n < 10000 -> Chinese, without the leading-一十 simplification."""
    out = ""
    zero = False
    for pos in (3, 2, 1, 0):
        d = n // 10 ** pos % 10
        if d == 0:
            if out:
                zero = True
            continue
        if zero:
            out += "零"
            zero = False
        out += _DIGITS[d] + _UNITS[pos]
    return out


def _int_to_chinese(n: int) -> str:
    if n == 0:
        return "零"
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    out = ""
    need_zero = False
    for idx in range(len(groups) - 1, -1, -1):
        g = groups[idx]
        if g == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or g < 1000):
            out += "零"
        out += _section(g) + _SECTIONS[idx]
        need_zero = False
    if out.startswith("一十"):
        out = out[1:]
    return out


def number_to_chinese(value: int | float | str, *, liang: bool = False) -> str:
    """Read a number: 1250 -> 一千二百五十, 10 -> 十, 10050 -> 一万零五十, 3.50 -> 三点五.

    With ``liang`` a leading 2 before 千/万/亿 (and a lone 2) is read 两, as in counts.
    """
    s = str(value).strip().replace(",", "").replace("，", "")
    neg = s.startswith(("-", "−"))
    if neg or s.startswith("+"):
        s = s[1:]
    if not re.fullmatch(r"\d+(\.\d+)?|\.\d+", s):
        raise ValueError(f"not a number: {value!r}")
    int_part, _, frac = s.partition(".")
    frac = frac.rstrip("0")
    out = _int_to_chinese(int(int_part or "0"))
    if frac:
        out += "点" + "".join(_DIGITS[int(c)] for c in frac)
    elif liang:
        if out == "二":
            out = "两"
        if out.startswith("二百"):
            out = "两" + out[1:]
        out = re.sub(r"(?<![十])二(?=[千万亿])", "两", out)
    return ("负" if neg else "") + out


def digits_to_chinese(digits: str, *, yao: bool = False) -> str:
    """Read digit by digit: 482913 -> 四八二九一三 (一 -> 幺 with ``yao``); letters kept."""
    out = []
    for ch in str(digits):
        if ch.isdigit() and ch.isascii():
            out.append("幺" if (yao and ch == "1") else _DIGITS[int(ch)])
        elif ch in "-— ":
            continue
        else:
            out.append(ch)
    return "".join(out)


def phone_to_chinese(number: str, *, yao: bool = True) -> str:
    """Mobile numbers in 3-4-4 groups, landlines as area code + number, with pauses."""
    d = re.sub(r"\D", "", number)
    if len(d) == 11 and d.startswith("1"):
        groups = [d[:3], d[3:7], d[7:]]
    elif d.startswith("0") and len(d) in (10, 11, 12):
        cut = 3 if d[:2] in ("01", "02") else 4
        groups = [d[:cut], d[cut:]]
    else:
        groups = [d[i:i + 4] for i in range(0, len(d), 4)]
    return "、".join(digits_to_chinese(g, yao=yao) for g in groups)


# --------------------------------------------------------------------------- dates and times

def _hour_word(h: int) -> str:
    return "两" if h == 2 else number_to_chinese(h)


def day_period(hour: int) -> str:
    """凌晨 (0-4), 早上 (5-8), 上午 (9-11), 中午 (12), 下午 (13-17), 晚上 (18-23)."""
    for limit, name in ((5, "凌晨"), (9, "早上"), (12, "上午"), (13, "中午"), (18, "下午")):
        if hour < limit:
            return name
    return "晚上"


def time_to_chinese(hour: int, minute: int, *, period: bool = True) -> str:
    """14:30 -> 下午两点半, 9:05 -> 上午九点零五分, 12:00 -> 中午十二点, 0:15 -> 凌晨零点十五分.

    ``period=False`` leaves out 上午/下午/... (when the text already says it)."""
    h12 = hour - 12 if hour > 12 else hour
    out = (day_period(hour) if period else "") + _hour_word(h12) + "点"
    if minute == 30:
        out += "半"
    elif minute:
        out += ("零" if minute < 10 else "") + number_to_chinese(minute) + "分"
    return out


def date_to_chinese(year: int | None, month: int, day: int, *, read_year: bool | None = None,
                    today: _dt.date | None = None) -> str:
    """2024-11-03 -> 十一月三日 (year read as 二零二四年 when asked for or not this year)."""
    today = today or _dt.date.today()
    say_year = year is not None and (read_year if read_year is not None else year != today.year)
    out = (digits_to_chinese(str(year)) + "年") if say_year else ""
    return out + number_to_chinese(month) + "月" + number_to_chinese(day) + "日"


def month_day(at: _dt.date) -> str:
    """A date in display text, without the year: 11月3日 (``speech`` reads it aloud as 十一月三日)."""
    return f"{at.month}月{at.day}日"


# --------------------------------------------------------------------------- pinyin

@lru_cache(maxsize=65536)
def pinyin_syllables(text: str, keep_other: bool = True) -> tuple[str, ...]:
    """Toneless pinyin of ``text``, one item per Han character. ``keep_other``: runs of other
    characters are kept as items (as they are); otherwise they are dropped."""
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(text, style=Style.NORMAL, errors="default" if keep_other else "ignore"))


def toneless_pinyin(text: str, sep: str = " ", keep_other: bool = True) -> str:
    """'王建国' → 'wang jian guo' (``sep=""``: 'wangjianguo'); homophones give the same string."""
    return sep.join(pinyin_syllables(text, keep_other))


@dataclass(frozen=True)
class Confusions:
    """Sounds that speakers (and recognisers listening to them) confuse, folded together
    before syllables are compared: the first matching initial, then the first matching final,
    is replaced. Syllables in ``keep`` are left alone."""

    initials: tuple[tuple[str, str], ...]
    finals: tuple[tuple[str, str], ...]
    keep: tuple[str, ...] = ()


#: Southern and rural Mandarin accents, for snapping transcripts onto known names
#: (speech.asr; its snap threshold was tuned with these): zh/z ch/c sh/s, l/n, r/n, f/h,
#: -ing/-in, -eng/-en, -ang/-an.
ASR_CONFUSIONS = Confusions(
    initials=(("zh", "z"), ("ch", "c"), ("sh", "s"), ("l", "n"), ("r", "n"), ("f", "h")),
    finals=(("ing", "in"), ("eng", "en"), ("ang", "an"), ("uan", "uan")),
)
#: The knowledge index's pinyin bigrams (knowledge.retriever; its tokens and confidence
#: threshold were calibrated with these): zh/z ch/c sh/s, n→l, every -ng final → -n.
INDEX_CONFUSIONS = Confusions(
    initials=(("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l")),
    finals=(("ng", "n"),),
    keep=("ng",),
)


def fold_syllable(syllable: str, confusions: Confusions = ASR_CONFUSIONS) -> str:
    """One toneless pinyin syllable with confusable sounds folded: 'zhang' → 'zan' (ASR)."""
    if syllable in confusions.keep:
        return syllable
    for a, b in confusions.initials:
        if syllable.startswith(a):
            syllable = b + syllable[len(a):]
            break
    for a, b in confusions.finals:
        if syllable.endswith(a):
            syllable = syllable[: -len(a)] + b
            break
    return syllable


#: Han characters (CJK unified ideographs, extension A, compatibility ideographs), for character classes.
HAN_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN = re.compile(f"[{HAN_CHARS}]")


@lru_cache(maxsize=8192)
def sound_of(ch: str, confusions: Confusions = ASR_CONFUSIONS) -> str:
    """The folded syllable of one character; other characters lower-cased as they are."""
    if not _HAN.match(ch):
        return ch.lower()
    return fold_syllable(pinyin_syllables(ch)[0], confusions)


def sound_similarity(a: str, b: str, confusions: Confusions = ASR_CONFUSIONS) -> float:
    """0..1 similarity of two strings: mostly sound (folded pinyin), partly characters.
    Whitespace is ignored; homophones score high, so a mis-heard name still matches."""
    a = "".join(a.split())
    b = "".join(b.split())
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    chars = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    sounds = difflib.SequenceMatcher(None, [sound_of(c, confusions) for c in a],
                                     [sound_of(c, confusions) for c in b], autojunk=False).ratio()
    return 0.7 * sounds + 0.3 * chars
