"""Free-text parsers the actions use: what a villager or a grid worker said, turned into values.

Pure functions of strings (no Rasa, no database), tested in ``tests/actions/test_parsing.py``.
Numerals are read by :mod:`bot.text`, the project's one copy of the Chinese text helpers.
What a value *means* (categories, urgency levels, satisfaction answers) stays in the domain
modules; these functions only find it in the words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple

from bot import text as cn
from bot.nlu.goals import (  # noqa: F401 - re-exported for the actions
    AWARDED_POINTS,
    DELIVERED_QUANTITY,
    STAFF_VERBS,
    after_command,
    asks_question,
    asks_to_file,
    asks_to_file_last,
    asks_who_handles,
    flat_text,
    reports_problem,
    tells_award,
    tells_penalty,
    wants_to_complain,
    wants_to_complain_last,
)
from bot.replies import Reply, interpret, is_stop, verdict_in

URGENT = "紧急"
NORMAL = "一般"

_TICKET = re.compile(r"\d{6}")
_URGENT_WORDS = ("着火", "危险", "马上", "赶紧", "很急", "紧急", "塌了", "漏电")
_CALM_WORDS = ("不急", "不着急")
_GENERIC_REQUESTS = ("反映", "投诉", "举报", "诉求", "问题", "报告")
_FILING_PREAMBLE = re.compile(r"^(我要|俺要|我想|俺想|帮我|给我)?(反映|投诉|举报|报告)(一下|个)?(问题|事儿|事)?")
_PLACE_PREFIX = re.compile(r"^(在|就在|地点是|地方是)")
_NEGATION = re.compile(r"^[哎嗯哦噢啊呃唉诶欸\s，,]*((不对|不是|错了)[，,\s]*)+")


# --- numbers and choices -------------------------------------------------------------------

def parse_choice(text: str) -> Optional[int]:
    """Which of the offered options: '第二个' / '选2' / '二号' → 2."""
    return cn.parse_ordinal(text or "")


def parse_quantity(text: str) -> Optional[int]:
    """How many: '3' / '三' / '十二' → the number, or None when none is said."""
    return cn.parse_number(text or "")


# A count said with its measure word: "两袋洗衣粉", "3块肥皂", "一提卫生纸".
_COUNTED = re.compile(rf"(\d{{1,3}}|[{cn.NUMERAL_CHARS}]{{1,3}})\s*(袋|块|瓶|包|桶|条|卷|提|盒|个|把|斤|支|双|箱|份|件|只|板)")


def counted_quantity(text: str) -> Optional[int]:
    """How many of a thing: '换两袋洗衣粉' → 2, '3块肥皂' → 3; None when no count is said."""
    match = _COUNTED.search(text or "")
    return cn.parse_number(match.group(1)) if match else None


_HOUSE_NUMBER = re.compile(rf"(?<!\d){cn.HOUSE_DIGITS}号(?!码)")
#: ... and counted as the nth household ("第37户户主是哪个"); "3户人家" is a count, not a house.
_NTH_HOUSE = re.compile(rf"第{cn.HOUSE_DIGITS}(号)?户(?!口|籍)")
#: A house number said as the door plate ("黄小红那户门牌11", "门牌号是二十三"), with or without 号.
_DOORPLATE = re.compile(rf"门牌(?:号)?(?:是)?{cn.HOUSE_DIGITS}(?:号)?(?![\d{cn.NUMERAL_CHARS}])")


def _door_plates_as_numbers(text: str) -> str:
    """'门牌11' → '11号', '门牌号是二十三' → '二十三号': a door plate said as the house number it is."""
    return _DOORPLATE.sub(lambda m: f"{m.group(1)}号", text)


_BARE_NUMBER = re.compile(rf"^\s*{cn.HOUSE_DIGITS}\s*[号。.!！]?\s*$")


def bare_number(text: str) -> Optional[str]:
    """The number said alone ('38', '五十二'), else None."""
    match = _BARE_NUMBER.match(text or "")
    return match.group(1) if match else None


def house_number_in(text: str) -> Optional[str]:
    """A house number said anywhere in the text ('8号户', '查一下8号' → '8'); a six-digit
    grievance ticket is not one."""
    said = _door_plates_as_numbers(text or "")  # "黄小红那户门牌11": house 11
    match = _HOUSE_NUMBER.search(said) or _NTH_HOUSE.search(said)
    return match.group(1) if match and not ticket_in(text) else None


# A house number corrected in the same breath ("给12号……哦不是，13号王建军家", "查8号，不对，9号"):
# the number said first and the correction words go, the corrected one stays.
_TAKEN_BACK = (r"(不是|不对|说错了|说岔了|看岔了|看错了|记岔了|记错了|弄错了|搞岔了|岔了|错了|搞错了|口误|不不|不(?=[\s…，,、—\-])"
               r"|讲错了|讲岔了|嘴瓢了|说反了|说错|讲错|看错|记错)")
_HESITATION = r"(哎呀|哎哟|唉呀|哦|噢|哎|呃|嗯|啊|唉|嗐|咳|嗨)?"
_BREAK = r"[\s…。.，,、—\-－~～]"
# How the right number is said again: "是66号", "给65号", "是给65号", "查9号"; with the household's
# name first ("嗐不是，是吴明亮，61号").
_RESTATED = rf"(是给|是|给|查|到)?(?P<name>(?:(?![{cn.NUMERAL_CHARS}号户家])[\u4e00-\u9fa5]){{2,3}}[，,、\s]*)?"
# The first number may be said bare when the taking back follows at once ("四十六，哦不是，四十八号").
# The corrected number may come without 号 ("十八号，哎不对，是十六，周翠花…"): it is the house.
_SELF_CORRECTED = re.compile(rf"(?<![\d{cn.NUMERAL_CHARS}]){cn.HOUSE_DIGITS}(号(户|家)?{_BREAK}*|{_BREAK}+){_HESITATION}"
                             rf"[\s…，,—\-]*({_TAKEN_BACK}[\s…，,、—\-]*)+{_RESTATED}?(?P<meant>{cn.HOUSE_DIGITS})"
                             rf"(号|(?=[\s…。.，,、]|$))")
# ... and after the rest of the request ("给60号加五分义务清扫……哦说岔了，是66号", "给46号加两分，垃圾分得好——哦不对，
# 是47号"): the number said last takes the place of the first; the request between them stays.
_LATE_CORRECTED = re.compile(rf"{cn.HOUSE_DIGITS}号(?P<between>[^…。.]{{1,16}}?){_BREAK}*{_HESITATION}"
                             rf"[\s…，,—\-]*({_TAKEN_BACK}[\s…，,、—\-]*)+{_RESTATED}?(?P<meant>{cn.HOUSE_DIGITS})号(?P<rest>.*)$")


# A report that starts by naming the wrong group or house and takes it back ("三组……不是，五组路口那棵
# 大树倒了"): what follows the taking back is the report.
_FALSE_START = re.compile(rf"^\s*{cn.HOUSE_DIGITS}(组|号|队)[\s…。.，,、]+{_HESITATION}[\s…，,]*{_TAKEN_BACK}"
                          rf"[\s…，,、]*(是)?(?P<rest>{cn.HOUSE_DIGITS}(组|号|队).+)$")


def without_false_start(text: str) -> str:
    """'三组……不是，五组路口那棵大树倒了' → '五组路口那棵大树倒了'; anything else unchanged."""
    match = _FALSE_START.match(text or "")
    return match.group("rest") if match else (text or "")


def without_self_corrections(text: str) -> str:
    """The sentence as finally meant (a door plate as a house number: '门牌11' → '11号'):
    '给12号……哦不是，13号王建军家加5分' → '给13号王建军家加5分';
    '给60号加五分义务清扫……哦说岔了，是66号' → '给66号加五分义务清扫'."""
    text = _door_plates_as_numbers(text or "")
    text = _SELF_CORRECTED.sub(lambda m: f"{(m.group('name') or '').strip('，,、 ')}{m.group('meant')}号", text or "")
    late = _LATE_CORRECTED.search(text)
    if late:
        text = text[:late.start()] + f"{late.group('meant')}号{late.group('between')}{late.group('rest')}"
    return text


def ticket_in(text: str) -> Optional[str]:
    """A six-digit grievance ticket number said anywhere in the text (its digits said one by one
    too: "二六零一零二")."""
    match = _TICKET.search(cn.with_spoken_digit_runs(text))
    return match.group() if match else None


# --- filing a grievance --------------------------------------------------------------------

def strip_filing_request(text: str) -> str:
    """'我要反映一下问题村口路灯坏了' → '村口路灯坏了': the words that only ask to file."""
    return _FILING_PREAMBLE.sub("", (text or "").strip()).strip()


def describes_problem(content: str, category: Optional[str]) -> bool:
    """Whether what is left after :func:`strip_filing_request` already says what is wrong
    (rather than only '我要反映个问题')."""
    if len(content) < 4:
        return False
    generic = category is None and any(word in content for word in _GENERIC_REQUESTS)
    return not (generic and len(content) < 8)


# Words that only ask for a report to be made, and details of it that describe no problem.
_REQUEST_ONLY = re.compile(
    r"名字不用保密|名字要保密|不用保密|要保密|保密|匿名|名字写上|写上名字|"
    r"报上去|报一下|报给|报个|上报|反映一下|反映反映|反映|登记一下|登记|记一下|记下来|投诉|举报|报修|报告|诉求|"
    r"那你|那就|你给|给俺|给我|帮俺|帮我|麻烦|赶紧|快点|一下|这个|那个|这事|那事|事儿|事情|问题|情况|"
    r"网格员|村委会|村干部|村里|上面|领导|组长|乡里|镇上|"
    r"递上去|交上去|送上去|转上去|递个话|捎个话|说一声|递|交|帮忙|"
    r"要得|得行|可以|没问题|好嘞|好的|中|行|成|对|好|嘛|呢|"
    # courtesy around the request ("那您受累给报一下吧", "劳驾替我报上去")
    r"受累|劳驾|辛苦|替|请|您|"
    r"我要|俺要|我想|俺想|想|要|你|俺|我|给|帮|报|就|吧|呗|啊|了|的|个|去|上|事|呀|哈|嗯|那|这")
_PUNCT = re.compile(r"[\s，,。.!！?？、…~～;；:：]+")


def only_asks_to_file(text: str) -> bool:
    """'那你给报一下吧，名字不用保密' asks for a report but says no problem; '路灯坏了' says one."""
    return len(_REQUEST_ONLY.sub("", _PUNCT.sub("", text or ""))) < 2



# "能换点啥不", "积分超市都有啥", "俺这分够换啥": what can be had, not a named item.
_ASKS_CATALOGUE = re.compile(r"(换|兑|超市|买|领).{0,4}(啥|什么|哪些|哪样|些啥|点啥)|(啥|什么|哪些)(东西)?(能|可以)?(换|兑)"
                             r"|有(啥|什么|哪些)(东西|货)?(能|可以)?(换|兑)?")


# "换一袋大米得花多少分", "肥皂几分一块", "洗衣粉要多少分": the price asked, not an exchange.
_ASKS_PRICE = re.compile(r"(花|要|得|需要|值|用|扣|是)(多少|几多|好多|几)(个)?分|(多少|几多|好多|几)(个)?分(一|能换|才能换|换)|(?<![有剩了攒存])(多少|几多|几)(个)?分[呢啊呀嘛哇哦]?$|"
                         r"(多少|几)分钱|价钱|价格|啥价|什么价|贵不贵")


def asks_price(text: str) -> bool:
    """The question asks what an item costs ("换一袋大米得花多少分"), not to exchange it."""
    return bool(_ASKS_PRICE.search(_PUNCT.sub("", text or "")))


#: "那卫生纸呢", "肥皂呢": the same question again about another thing.
_SAME_AGAIN = re.compile(r"^(那|那么|那要是)?[^，,。？?]{1,8}?(呢|嘞|咧|哩)[？?。]?$")


def asks_same_again(text: str) -> bool:
    """A short "那X呢": the question just asked, asked again of another thing."""
    return bool(_SAME_AGAIN.match((text or "").strip()))


def asks_catalogue(text: str) -> bool:
    """The question asks what the points shop offers ("能换点啥不"), not for one item."""
    return bool(_ASKS_CATALOGUE.search(_PUNCT.sub("", text or "")))


def urgency_in(text: str) -> Optional[str]:
    """'不急' → 一般, '着火了' / '很急' / '急' → 紧急, otherwise None (not said)."""
    text = text or ""
    if any(word in text for word in _CALM_WORDS):
        return NORMAL
    if any(word in text for word in _URGENT_WORDS) or text in ("急", "急的"):
        return URGENT
    return None


def strip_place_prefix(text: str) -> str:
    """'就在村委会门口' → '村委会门口'."""
    return _PLACE_PREFIX.sub("", (text or "")).strip()


_NOT_PRIVATE = re.compile(r"(不|甭|别|莫|不用|不要|不需要|用不着|没必要|唔使|唔洗|不消|免|覅)(用)?(保|匿名|瞒|藏)|"
                          r"写(上)?(我|俺)?(的)?名字|留(我|俺)?(的)?名字|名字写上|名字照写|照写|照实写|如实写|照直写|直接写|只管写|尽管写|"
                          # "why keep it secret" ("保啥密", "有啥好保密的", "保密干啥")
                          r"保(个)?(啥|什么|甚么|么子|哪样|啥子)(子)?密|(有|莫得|没得|没有|没|冇|冇得)(啥子?|什么|么子|甚)(好|可|要)?保密|保密(干啥|干嘛|做啥|作啥|有啥用)|实名|写真名|真名实姓|不怕|大大方方|"
                          r"无所谓|冇所谓|没所谓|不打紧|不要紧|没关系|随便写|写就写|名字写着|写着名字|名字就写|"
                          r"保密不保密都|保不保密都|保不保都|都行|都可以|都成|都中|"
                          r"不怕.{0,4}(晓得|知道)|"
                          # the object first ("保密的不要", "保密就不用了", "名字保密不需要")
                          r"(保密|匿名)(的|就|倒|么)*(不要|不用|不需要|用不着|没必要|免了)")
_PRIVATE = re.compile(r"保(个|一下|点)?密|匿名|惹事|得罪|(?<!不)怕.{0,4}(知道|晓得|报复|找)|别(让|叫).{0,6}(知道|晓得)|"
                      r"不想让.{0,6}(知道|晓得)|莫(让|叫).{0,6}(知道|晓得)|"
                      r"别说是我|不想.{0,3}(露|出)名|名字别|藏起来|藏着|(把|将)?名字.{0,3}藏")
_NAME_LEFT_OUT = re.compile(r"(别|不|甭|莫|不要|唔好|唔要|覅)(要)?(写|留|报|说|提)(上)?(我|俺|咱)?(的)?名字?|别留名|不留名|"
                            r"名字(别|不要|甭|莫|唔好|覅)(写|留|提|说)")


def anonymity_in(text: str) -> Optional[bool]:
    """The answer to 'keep your name from the neighbours?': "不用保密", "写上我名字", "不要" →
    False; "要", "得保密", "俺不想惹事", "别让他知道是我" → True; anything else (a way out, a
    question) → None, and the question is asked again."""
    flat = flat_text(text)
    if _NAME_LEFT_OUT.search(flat):  # "别写我名字": the name left out, though it says 写…名字
        return True
    if _NOT_PRIVATE.search(flat):
        return False
    if _PRIVATE.search(flat):
        return True
    reply = interpret(flat)
    if reply is Reply.YES:
        return True
    if reply is Reply.NO or (reply is Reply.STOP and not is_stop(flat, soft=False)):  # "不用了"
        return False
    return None


def anonymity_said(text: str) -> Optional[bool]:
    """Whether a request to file already says it ("名字不用保密" → False, "给俺保密" → True);
    None when it does not talk about the name being kept private."""
    if not any(word in (text or "") for word in ("保密", "匿名")):
        return None
    return anonymity_in(text)


def strip_negation(text: str) -> str:
    """'不对，地点是小学门口' → '地点是小学门口': the correction said with the 不对."""
    return _NEGATION.sub("", text or "")


_SWAP = re.compile(r"不(?:是|在)([^，,。\s]{1,12}?)[，,。\s]*"
                   # "我记岔了" said in between ("哦不是五组，我记岔了，是六组打谷场边上")
                   r"(?:(?:我|俺|咱)?[^，,。\s是]{0,4}(?:岔|错|差|混|串|瓢|秃噜|口误)(?:了|啦|咯|喽)?[，,。\s]*)?"
                   r"(?:而)?(?:是|在)([^，,。]{1,20})$")
_SWAP_REVERSED = re.compile(r"(?:^|[，,。\s]|不是|不在)(?:是|在)([^，,。\s]{1,12}?)[，,。\s]*(?:而)?不(?:是|在)([^，,。\s]{1,12}?)[的吧啊呀呢嘞。，,\s]*$")
_TRAILING_PLACE = re.compile(r"(那段|那块|那边|那里|那儿|这段|那条|那个)?(才是|才对)?[的吧啊呀呢嘞。，,\s]*$")


_LOCATIVES = ("门口", "前头", "后头", "前面", "后面", "旁边", "边上", "对面", "附近", "里头", "外头", "东头", "西头",
              "南头", "北头", "那边", "这边", "路口", "跟前")


def swap_in(text: str, fields: Tuple[str, ...]) -> Optional[Tuple[str, str]]:
    """A correction said as "不是X，是Y" where X is part of one of the ``fields`` read back:
    (X, Y-as-it-fits). "哦不是小学，是幼儿园门口那段" against "小学门口" gives ('小学', '幼儿园'): the
    rest of Y that the field already says after X (门口) is not doubled. None when no field
    holds X."""
    said = []
    match = _SWAP.search(text or "")
    if match:
        said.append((match.group(1), _TRAILING_PLACE.sub("", match.group(2)).strip()))
    match = _SWAP_REVERSED.search(text or "")  # "是村尾，不是村口": the right one first
    if match:
        said.append((match.group(2), _TRAILING_PLACE.sub("", match.group(1)).strip()))
    for old, new in said:
        swapped = _swapped(old, new, fields)
        if swapped is not None:
            return swapped
    return None


def _swapped(old: str, new: str, fields: Tuple[str, ...]) -> Optional[Tuple[str, str]]:
    whole = None  # X is all a field says after it (the place "五组"): a field that goes on decides
    for field in fields:
        if old and new and field and old in field:
            after = field.split(old, 1)[1]
            if not after:
                whole = whole or (old, new)
                continue
            said_where = next((loc for loc in _LOCATIVES if after.startswith(loc)), None)
            if said_where and new.endswith(_LOCATIVES):  # "卫生院前头" → "学校后头", not "学校后头前头"
                return old + said_where, new
            for k in range(len(after), 0, -1):  # the longest start of what follows X, said again in Y
                if new.endswith(after[:k]) and len(new) > k:
                    return old, new[:-k]
            for k in range(len(after), 1, -1):  # ... said again inside Y ("六组打谷场边上" for 五组打谷场边的…)
                at = new.find(after[:k])
                if at > 0:
                    return old, new[:at]
            return old, new
    return whole


#: Fields a read-back correction can name explicitly.
PLACE, CATEGORY, DESCRIPTION = "place", "category", "description"


def named_correction(text: str) -> Optional[Tuple[str, str]]:
    """A correction that names its field: '地点是三组小卖部门口' → ('place', '三组小卖部门口'),
    '类别算噪音' → ('category', '噪音'), '内容是水管爆了' → ('description', '水管爆了')."""
    if re.match(r"^(地点|地方|位置|在)", text):
        place = re.sub(r"^(地点|地方|位置)(也)?((说|写|记|弄|搞)?(错|岔|差|反)了?)?[，,\s]*(应该)?(是|在)?|^在", "", text)
        return PLACE, re.sub(r"(才是|才对|那儿|那里)?[的吧啊呀。，,\s]*$", "", place).strip()
    if re.match(r"^(类别|类型|分类)", text):
        return CATEGORY, re.sub(r"^(类别|类型|分类)(是|算)?", "", text).strip()
    if re.match(r"^(内容|事情|问题)", text):
        return DESCRIPTION, re.sub(r"^(内容|事情|问题)(是)?", "", text).strip()
    return None


# --- after a grievance ------------------------------------------------------------------------

def satisfaction_in(text: str, answers: Tuple[str, ...]) -> Optional[str]:
    """Which of ``answers`` (满意, 基本满意, 不满意) was said, or the everyday verdict that means
    it (:func:`bot.replies.verdict_in`: "还行吧" 基本满意, "又坏了" 不满意)."""
    answer = verdict_in(text)
    return answer if answer in answers else None


def refers_to_last(text: str) -> bool:
    """'我上次反映的那件事' points at the latest grievance rather than asking for all of them."""
    return "上次" in text or "那件" in text


# --- staff commands -------------------------------------------------------------------------

def parse_staff_command(text: str) -> Tuple[Optional[str], str]:
    """'260101办结了 路灯已经换好了' → ('resolve', '路灯已经换好了'); no verb → (None, '')."""
    for action, verbs in STAFF_VERBS:
        for verb in sorted(verbs, key=len, reverse=True):  # "报到村里去" whole, not "报到村" and "里去"
            if verb in text:
                before, after = text.split(verb, 1)
                note = re.sub(r"^[了吧啦掉一下\s，,。:：]*", "", after)
                note = re.sub(r"\d{6}号?", "", note).strip(" ，,。")
                if not note:  # "260101村口那个灯换上新的了，这件可以结了": what was done is said first
                    note = re.sub(r"\d{6}号?", "", before)
                    note = re.sub(r"[，,。\s]*(我|俺|你|您)?(这边)?(打算|想|准备|要|就)?(给|把|帮)?(它|这件|我)?$", "", note)
                    note = re.sub(r"[，,。\s]*(这件|这个|这事|这单|那件)?(事)?(就|也)?(可以|能|该)?$", "", note).strip(" ，,。")
                return action, note
    return None, ""




_CONTAINERS = ("袋", "箱", "捆")


def delivered_quantity(text: str) -> Optional[int]:
    """How much was delivered: the count in the rule's own measure when a container is named too
    ("拎来一袋塑料瓶，数了是四十个" → 40, not the one bag), else the first count said."""
    found = list(DELIVERED_QUANTITY.finditer(text or ""))
    counted = [m for m in found if m.group(2) not in _CONTAINERS] or found
    return cn.parse_number(counted[0].group(1)) if counted else None


# --- households -----------------------------------------------------------------------------

@dataclass(frozen=True)
class HouseholdRef:
    """Which household a grid worker means: a head's name, a house number, a group."""

    name: Optional[str] = None
    number: Optional[str] = None
    group: Optional[str] = None

    @property
    def empty(self) -> bool:
        return not self.name and not self.number


def household_reference(text: str, name: Optional[str] = None, number: Optional[str] = None) -> HouseholdRef:
    """'查一下三组12号' → number '12', group '三组'; '看看李桂芳家' → name '李桂芳'.
    ``name`` and ``number`` are what NLU already found; the text fills in what it missed."""
    number = number or house_number_in(text)
    group = re.search(r"(?<!哪)([一二三四五六])组", text)  # "是哪一组的" asks for the group
    if not name and not number:
        match = re.search(r"(?:查一下|查查|看看|记录走访|走访了?|去了)?\s*([\u4e00-\u9fa5]{2,3})家", text)
        name = match.group(1) if match else None
    return HouseholdRef(name, number, group.group(0) if group else None)


def visit_note(text: str, head: str) -> str:
    """What a visit log says after the household is named: '记录走访 李桂芳家 屋顶漏雨' → '屋顶漏雨'
    ('' when nothing is said about the visit)."""
    note = text
    for marker in (f"{head}家", head):
        if marker and marker in note:
            note = note.split(marker, 1)[1]
            break
    else:
        note = after_command(note)  # "给他家记一条走访，老人挺好": the household is the one talked about
    return re.sub(r"^[\s，,。]*|记一下$|记下来$", "", note).strip()


# --- points ---------------------------------------------------------------------------------

def asks_for_deductions(text: str) -> bool:
    """'为啥扣我分' asks about deductions only."""
    return "扣" in text


_NO_APPEAL = re.compile(r"(不|不用|不想|不是要|没想|用不着|甭|别)(去)?申诉|(只是|就是|就|只)(想)?问问|随便问问|问一下而已|"
                        r"打听打听|问个明白|不是不服")


def declines_appeal(text: str) -> bool:
    """'我就问问，不申诉': the reason of a deduction is wanted, not an appeal."""
    return bool(_NO_APPEAL.search(text or ""))


def asks_for_last_month(text: str) -> bool:
    return "上个月" in text or "上月" in text


_THIS_MONTH = re.compile(r"这个?月|本月|今个月|这一个月|当月")


def asks_for_this_month(text: str) -> bool:
    """'这个月一共扣了我几分': this month only."""
    return bool(_THIS_MONTH.search(text or ""))
