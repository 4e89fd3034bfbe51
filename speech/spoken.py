"""Turn display text into text that reads well aloud, in Mandarin, for elderly listeners.

Public API (pure functions)::

    to_spoken(text, *, today=None, yao=True, read_year=None) -> str
    speech_sentences(text, max_chars=MAX_SENTENCE_CHARS, **to_spoken_kwargs) -> list[str]
    split_sentences(text, max_chars=MAX_SENTENCE_CHARS) -> list[str]
    number_to_chinese(value, *, liang=False) -> str     # "1250" -> 一千二百五十
    digits_to_chinese(digits, *, yao=False) -> str      # "482913" -> 四八二九一三
    phone_to_chinese(number, *, yao=True) -> str        # grouped 3-4-4 with pauses
    date_to_chinese(y, m, d, *, read_year=None, today=None) -> str
    time_to_chinese(hour, minute) -> str                # 14:30 -> 下午两点半

What ``to_spoken`` does:

* amounts and counts as people say them: ``积分 1250`` -> 一千二百五十, ``2000`` -> 两千,
  ``2个`` -> 两个, ``3.5`` -> 三点五, ``50%`` -> 百分之五十, ``-3℃`` -> 零下三度,
  ``1,250`` -> 一千二百五十, ``3-5天`` -> 三到五天;
* ticket/reference numbers (after 编号, 单号, 工单, 受理号, No., #, ...; numbers starting with
  0; any run of 9+ digits) digit by digit: 四八二九一三, with 一 read 幺 when ``yao``;
* mobile numbers digit by digit in 3-4-4 groups; landlines as area code + number;
* dates ``2024-11-03``/``2024/11/3``/``2024年11月3日`` -> 十一月三日; the year is read
  (二零二四年) only when ``read_year`` is True, or when it is None and the year is not the
  current one (``today``);
* times ``14:30`` -> 下午两点半, ``09:05`` -> 上午九点零五分, ranges with 到;
* markdown bullets/emphasis, emoji and decorative symbols are dropped.

``split_sentences`` cuts long answers into short sentences (ending at 。！？； and, for
long ones, at commas) so the device can pause between them.
"""
from __future__ import annotations

import datetime as _dt
import re

# The numerals, dates and times live in bot.text (the one copy); re-exported here because
# this module's API reads them aloud.
from bot.text import (  # noqa: F401 - re-exported
    date_to_chinese,
    digits_to_chinese,
    number_to_chinese,
    phone_to_chinese,
    time_to_chinese,
)

MAX_SENTENCE_CHARS = 24

# Measure words after which 2 is read 两.
_MEASURE = (
    "个位人次天年周岁斤两元块角毛分点件份张本条只头口户间亩层米里公家趟遍封项名台辆袋瓶箱"
    "种样句页组批小钟"
)


# --------------------------------------------------------------------------- normalisation

_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200d\u2B50\u2B55\u231A-\u231B\u23E9-\u23FA]"
)
_TICKET_KEYS = (
    r"(?:编号|单号|工单号?|受理号|订单号?|票号|流水号|号码|回执号|查询码|验证码|取件码|"
    r"[Nn][Oo]\.?|ID|#|＃)"
)


def _dates(text: str, today, read_year) -> str:
    def full(m):
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if not (1 <= mo <= 12 and 1 <= d <= 31):
            return m.group(0)
        return date_to_chinese(y, mo, d, read_year=read_year, today=today)

    text = re.sub(r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?:\s*[日号])?(?!\d)",
                  full, text)
    text = re.sub(r"(?<!\d)(\d{4})\s*年", lambda m: digits_to_chinese(m.group(1)) + "年", text)
    return text


_PERIODS = ("凌晨", "早上", "早晨", "上午", "中午", "下午", "傍晚", "晚上", "夜里", "晚")


def _times(text: str) -> str:
    def one(m, said=False):
        h, mi = int(m.group(1)), int(m.group(2))
        if h > 23 or mi > 59:
            return m.group(0)
        if not said and m.re is _TIME_RE:
            said = m.string[:m.start()].rstrip().endswith(_PERIODS)
        return time_to_chinese(h, mi, period=not said)

    def span(m):
        said = m.string[:m.start()].rstrip().endswith(_PERIODS)
        first = one(re.match(r"(\d+)[:：](\d+)", m.group(0)), said)
        second = one(re.search(r"(\d+)[:：](\d+)\s*$", m.group(0)), said)
        return first + "到" + second

    text = re.sub(_TIME_PATTERN + r"\s*[-~～—–至到]+\s*" + _TIME_PATTERN, span, text)
    return _TIME_RE.sub(one, text)


_TIME_PATTERN = r"(?<![\d:：.])(\d{1,2})[:：](\d{2})(?![\d:：])"
_TIME_RE = re.compile(_TIME_PATTERN)


def _phones(text: str, yao: bool) -> str:
    text = re.sub(r"(?<!\d)(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)",
                  lambda m: phone_to_chinese("".join(m.groups()), yao=yao), text)
    text = re.sub(r"(?<!\d)(0\d{2,3})-(\d{7,8})(?!\d)",
                  lambda m: phone_to_chinese("".join(m.groups()), yao=yao), text)
    return text


def _tickets(text: str, yao: bool) -> str:
    def ticket(m):
        key = m.group(0)[: m.start(2) - m.start(0)]
        if key.strip() in ("#", "＃"):
            key = ""
        return key + digits_to_chinese(m.group(2).upper(), yao=yao)

    text = re.sub(_TICKET_KEYS + r"(\s*[:：是为]?\s*)([A-Za-z]{0,3}-?\d{3,}[A-Za-z\d-]*)",
                  ticket, text)
    # Numbers written with a leading zero, or very long digit runs, are codes, not amounts.
    text = re.sub(r"(?<![\d.])(0\d{3,}|\d{9,})(?![\d.])",
                  lambda m: digits_to_chinese(m.group(1), yao=yao), text)
    return text


def _quantities(text: str) -> str:
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # 1,250 -> 1250
    text = re.sub(r"[¥￥]\s*(\d+(?:\.\d+)?)", r"\1元", text)
    text = re.sub(r"(-|−|零下)\s*(\d+(?:\.\d+)?)\s*(?:℃|°C|摄氏度)",
                  lambda m: "零下" + number_to_chinese(m.group(2)) + "度", text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s*(?:℃|°C)", lambda m: number_to_chinese(m.group(1)) + "度",
                  text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s*[%％]", lambda m: "百分之" + number_to_chinese(m.group(1)),
                  text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s*(?:㎡|m²|平方米|平米)",
                  lambda m: number_to_chinese(m.group(1)) + "平方米", text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s*(?:km|公里)(?![A-Za-z])",
                  lambda m: number_to_chinese(m.group(1)) + "公里", text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s*(?:kg|公斤)(?![A-Za-z])",
                  lambda m: number_to_chinese(m.group(1)) + "公斤", text)
    # Ranges: 3-5天 -> 三到五天
    text = re.sub(r"(?<![\d.])(\d+)\s*[-~～—–]\s*(\d+)(?![\d.])",
                  lambda m: number_to_chinese(m.group(1)) + "到" + number_to_chinese(m.group(2)),
                  text)
    # Everything else: counts and amounts.
    def num(m):
        s = m.group(1)
        nxt = text_after(m)
        prev = m.string[max(0, m.start() - 1):m.start()]
        liang = bool(nxt) and nxt[0] in _MEASURE and prev != "第"
        if "." not in s and len(s) > 1 and s.startswith("0"):
            return digits_to_chinese(s)
        return number_to_chinese(s, liang=liang or (len(s) >= 4 and "." not in s))

    def text_after(m):
        return m.string[m.end():m.end() + 1]

    return re.sub(r"(?<![\d.])(\d+(?:\.\d+)?)(?![\d])", num, text)


def _cleanup(text: str) -> str:
    text = _EMOJI.sub("", text)
    text = re.sub(r"^\s*(?:[-*•·●◆▶►]|\d+[.、)）])\s+", "", text, flags=re.M)  # list bullets
    text = re.sub(r"[*_`>|]+|#+(?![\d#])|#{2,}", " ", text)  # markdown emphasis, headings
    text = text.replace("&", "和").replace("~", "到").replace("～", "到")
    text = re.sub(r"[【〔\[]", "“", text)
    text = re.sub(r"[】〕\]]", "”", text)
    text = re.sub(r"https?://\S+", "", text)
    text = re.sub(r"[ \t\u3000]+", " ", text)
    # Spaces between Chinese characters are noise for the voice.
    text = re.sub(r"(?<=[\u4e00-\u9fff，。！？；：、])\s+|\s+(?=[\u4e00-\u9fff，。！？；：、])", "",
                  text)
    return text.strip()


def to_spoken(text: str, *, today: _dt.date | None = None, yao: bool = True,
              read_year: bool | None = None) -> str:
    """Normalise display text for a Mandarin voice (see the module docstring)."""
    if not text:
        return ""
    text = _cleanup(text)
    text = _dates(text, today, read_year)
    text = _times(text)
    text = _phones(text, yao)
    text = _tickets(text, yao)
    text = _quantities(text)
    text = re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", "", text)
    return text.strip()


# --------------------------------------------------------------------------- sentences

_END = "。！？；!?;…\n"
_SOFT = "，,：:"


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Split into short sentences: at 。！？；, then long ones at commas, then hard cuts."""
    text = (text or "").strip()
    if not text:
        return []
    parts = re.findall(rf"[^{_END}]+[{_END}]*|[{_END}]+", text)
    sentences: list[str] = []
    for part in parts:
        part = part.strip().replace("\n", "")
        if not part or all(c in _END + _SOFT + " " for c in part):
            if sentences and part.strip():
                sentences[-1] += part.strip()
            continue
        if len(part) <= max_chars:
            sentences.append(part)
            continue
        chunks = re.findall(rf"[^{_SOFT}]+[{_SOFT}]*|[{_SOFT}]+", part)
        current = ""
        for chunk in chunks:
            if current and len(current) + len(chunk) > max_chars:
                sentences.append(current)
                current = ""
            # No comma to cut at: tolerate up to twice the length, then cut hard.
            while len(chunk) > 2 * max_chars:
                sentences.append(chunk[:max_chars])
                chunk = chunk[max_chars:]
            current += chunk
        if current:
            sentences.append(current)
    return [s.strip() for s in sentences if s.strip()]


def speech_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS, **kwargs) -> list[str]:
    """``to_spoken`` then ``split_sentences``: what a synthesiser should say, in order."""
    return split_sentences(to_spoken(text, **kwargs), max_chars=max_chars)
