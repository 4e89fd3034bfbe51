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

MAX_SENTENCE_CHARS = 24

_DIGITS = "零一二三四五六七八九"
_UNITS = ["", "十", "百", "千"]
_SECTIONS = ["", "万", "亿", "万亿"]

# Measure words after which 2 is read 两.
_MEASURE = (
    "个位人次天年周岁斤两元块角毛分点件份张本条只头口户间亩层米里公家趟遍封项名台辆袋瓶箱"
    "种样句页组批小钟"
)


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


def _hour_word(h: int) -> str:
    return "两" if h == 2 else number_to_chinese(h)


def time_to_chinese(hour: int, minute: int, *, period: bool = True) -> str:
    """14:30 -> 下午两点半, 9:05 -> 上午九点零五分, 12:00 -> 中午十二点, 0:15 -> 凌晨零点十五分.

    ``period=False`` leaves out 上午/下午/... (when the text already says it)."""
    want_period = period
    if hour < 5:
        period = "凌晨"
    elif hour < 9:
        period = "早上"
    elif hour < 12:
        period = "上午"
    elif hour < 13:
        period = "中午"
    elif hour < 18:
        period = "下午"
    else:
        period = "晚上"
    h12 = hour - 12 if hour > 12 else hour
    out = (period if want_period else "") + _hour_word(h12) + "点"
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
