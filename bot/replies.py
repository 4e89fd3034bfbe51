"""What a short reply means when the assistant has just asked something: yes, no, stop, say
it again, unclear, or something else entirely.

The language model is good at whole requests but not at one-word answers in dialect, and a
misheard "no" must never become a write. So replies to a read-back are interpreted here, by
rules that are easy to read and to test, against the question that was asked:

- **yes** takes an explicit agreement: 对/是/行/中/成/好/可以/要得/得行/没问题/就这个 …, or
  the offer's own verb ("换吧", "报上去吧", "那就记上") — never a bare "嗯" or "啊", which are
  fillers or a request to hear it again;
- any sign of refusal (不/别/没 + verb, 算了, 拉倒, 取消 …, homophone slips such as 不四/布是
  for 不是 included) outweighs every sign of agreement: "行吧…算了不换了" is a stop;
- **stop** leaves the whole flow ("算了", "不报了", "先不弄了", "回头再说"); **no** only says
  the read-back is wrong ("不对", "不是", "错了"), which a form may take as a correction;
- a reply with none of these signals is **unclear** when it is short (ask again) and
  **other** when it is a sentence of its own (a new request: drop the pending write);
- details of a report said with the answer ("报上去吧，名字不用保密") count for neither side.
"""
from __future__ import annotations

import enum
import re
from functools import lru_cache

from pypinyin import lazy_pinyin

from bot.text import NUMERAL_CHARS, parse_number


#: The filing verbs of a report's read-back: repeating one is a yes to it ("报上去吧", "就这么写").
FILING_VERBS = ("报", "反映", "提交", "记", "登记", "写", "交")


class Reply(str, enum.Enum):
    YES = "yes"
    NO = "no"
    STOP = "stop"
    REPEAT = "repeat"
    UNCLEAR = "unclear"
    OTHER = "other"


# Agreement that contains a negation character but means yes.
YES_WITH_NEGATION = ("没有问题", "没啥问题", "没什么问题", "没问题", "没得问题", "莫得问题", "莫问题", "冇问题", "冇得问题",
                     "不成问题", "没错", "莫错", "不错", "可不是", "可不咋的", "不就是", "错不了", "没毛病",
                     "莫得毛病", "那还用说",
                     # "no problem" in south-western words (么得问题，整嘛)
                     "么得问题", "么问题",
                     # Cantonese / Hakka "not wrong" (冇错), Wu "not bad, right" (勿错)
                     "冇错", "唔错", "勿错",
                     # north-western "no trouble" (么麻达, 没麻达)
                     "么麻达", "没麻达", "莫麻达", "冇麻达", "没啥麻达",
                     # "should be right" ("应该没错吧……就照这么报"); a bare "应该是吧" stays unclear
                     "应该没错", "应该没问题", "应该不错",
                     # "no mistake in it" said with 得 / 有 (没得错, 没有错), and "nothing to change"
                     # ("没啥要改的，照这个交上去", "不用改了")
                     "没得错", "莫得错", "冇得错", "没有错", "没啥错", "没什么错", "没啥要改", "没什么要改", "没有要改",
                     "没啥可改", "没啥改的", "没什么改的", "不用改", "不需要改", "用不着改", "不用再改", "没啥毛病",
                     "没什么毛病",
                     # "not off at all" ("这下没差了", "一点不差")
                     "没差", "没得差", "一点不差", "一点没差", "分毫不差", "丝毫不差")

YES_WORDS = (
    "对", "是", "是的", "对的", "对头", "对着呢", "没错", "正确", "确认", "确定",
    "行", "行啊", "行吧", "中", "中中", "成", "好", "好的", "好嘞", "好咧", "好啊", "好吧", "好滴", "可以", "可",
    "要", "要得", "得行", "没问题", "妥", "妥了", "ok", "OK", "嗯嗯", "嗯呐", "嗯哪", "就这个", "就这样", "就它",
    "就是", "就是这个", "就这么办", "办吧", "弄吧", "那就这样", "没毛病", "可不是", "当然", "那当然", "肯定",
    "同意", "照办", "照着办", "按着办", "照着弄", "照着报", "照这办", "整吧", "来吧", "搞吧", "干吧", "那就办", "那就弄", "好好好", "行行行", "对对对", "是是是",
    "可以可以", "这么着", "就这么着", "就这么定", "定了",
    # Leaving it to the assistant ("就照你说的办", "听你的") and a correction accepted ("这回对了").
    "照你说的办", "按你说的办", "照你说的", "按你说的", "依你说的", "听你的", "依你", "就依你",
    "照恁说的办", "按恁说的办", "照恁说的", "按恁说的", "听恁的", "照这个记", "照这么记", "就这么记", "嗯呢",
    "照你讲的", "按你讲的", "依你讲的", "照您讲的", "按您讲的",
    # leaving the arrangements to the office ("情况就那样，你们看着安排吧")
    "看着安排", "你们安排", "您安排", "安排吧",
    "这回对了", "这下对了", "这次对了", "现在对了", "这回对", "这下对",
    "对喽", "对咯", "是喽", "中嘞", "能成", "能行", "要得咯", "好啦", "是这么回事", "就是这么回事", "就这么回事",
    # Cantonese 系 / 好勒, Henan 得劲 / 恁 ("就恁着吧"), Shandong 杠好, north-western 对着哩 / 嗯么,
    # south-western 整嘛, and 可不嘛
    "系", "系啊", "系呀", "系嘞", "好勒", "得劲", "杠好", "对着哩", "对着呢", "嗯么", "整嘛", "恁弄", "就恁着",
    "就恁", "可不嘛", "就这么弄", "中啊", "就系咁", "系咁", "系嘅",
    # Beijing-Tianjin 得嘞, north-western 对着咧, Wu 对额 / 好额 / 是额 (额 the particle)
    "得嘞", "得勒", "得咧", "对着咧", "对着嘞", "是着咧", "好额", "对额", "是额", "就是迭个", "就迭个",
    # Hakka 做得 (can do), Anhui / Henan 管 (fine)
    "做得", "管",
    # "that's how it is" said of the read-back ("是这么个事", "就这么个事儿")
    "是这么个事", "就这么个事", "是这个事", "就是这个事", "是这么个理", "就是这事", "就这事", "是这事",
    "是这么个情况", "就是这么个情况", "是这个情况", "就是这个情况", "情况就是这样", "是这样的", "就是这样",
    # leaving it to the assistant ("你看着办吧", "你看着给报吧": the verb is the offer's own)
    "看着办", "瞧着办", "看着弄", "看着处理",
    # Jiang-Huai 照 (fine, "照，照的"), Hainan / south-western 是啰, southern Wu 好个 ("好个好个")
    "照", "照的", "是啰", "是咯", "对啰", "好啰", "好个",
    # north-eastern "a must" (必须的, 那必须), "sure thing" (妥妥的); Cantonese "right" (啱, 啱晒,
    # 係), "fine" (得啦); south-western "just right" (巴适); "nothing more to say" (没得说)
    "必须的", "必须滴", "那必须", "必须", "妥妥的", "妥妥滴", "妥妥", "那是", "那是那是", "那可不",
    "啱", "啱啱", "啱晒", "啱嘅", "係", "係啊", "得啦", "得喇", "巴适", "没得说",
    "要得要得", "可以噻", "可以的", "行嘞", "都中", "中了", "中中中", "成成", "管管",
    # south-western "it will do" (可以得, 行得), and "that's what I mean" (就是这个意思)
    "可以得", "行得", "就是这个意思", "是这个意思", "就这个意思", "对这个意思",
    # Wu / Hui 是嗰 ("that's it"), a rhetorical yes ("那还能有假"), a nod told (外婆点头了)
    "是嗰", "对嗰", "好嗰", "还能有假", "还有假", "那还有假", "哪能有假", "点头了", "点了头", "点点头", "点头",
    # north-western "fine" (好着呢), "what you read is what I said" (你念的不就是我说的嘛)
    "好着呢", "好着哩", "就是我说的", "就是俺说的",
    # Shaanxi 嫽 ("fine, great": "嫽得很", "嫽扎咧")
    "嫽得很", "嫽扎了", "嫽扎咧", "嫽咧", "嫽",
    # north-western "very much so" (好得很, 对得很), Uyghur "good" (亚克西) said in Xinjiang Mandarin
    "好得很", "对得很", "行得很", "中得很", "亚克西",
    # Wu / Jiang-Huai "quite right" (蛮好), and "that's how it is" (就是这个样子)
    "蛮好", "蛮好的", "挺好的", "挺好", "就是这个样子", "是这个样子", "就这个样子", "就是这样子", "就这样子",
)
#: Replies that are a yes only as a clause of their own: Cantonese 得 ("fine"), Minnan 着 ("right",
#: "着啦着啦"), Yanbian 内 (Korean 네, "内，内"), Tibetan 啦索 (lags so, "all right"). Inside a
#: sentence they are other words (得到, 着火, 村内).
YES_ALONE = ("得", "着", "内", "啦索", "拉索", "啦嗦")
#: A yes relayed for someone else ("爷爷说对", "阿嬷讲就这样报", "我妈说行"): the relay is no
#: part of the answer. Anything refusing in the relayed words still refuses.
_RELAYED = re.compile(r"^(?:(?:我|俺|咱|阿)?(?:家)?(?:爷爷|奶奶|姥姥|姥爷|外公|外婆|阿公|阿嬷|阿婆|阿爷|阿妈啦|阿妈|阿爸|老妈|老爸"
                      r"|妈妈|爸爸|我妈|我爸|俺娘|俺爹|俺妈|俺爸|妈|爸|娘|爹|老伴|老头子|老头|老太婆|老婆子|老人家|老人"
                      r"|他|她|他们|她们|家里人|一家人)(?:也|都)?(?:听完|听了|听过)?(?:了)?(?:也|都)?"
                      r"(?:说|讲|讲了|说了|的意思是|讲的是|说的是)?|(?:说|讲)(?=就|对|行|是|好|中|可以|没错))(?:了|啦|咯)?")
# Leaving the flow altogether.
STOP_PATTERNS = (
    "算了", "蒜了", "算啦", "算哒", "算咯", "算喽", "算球", "拉倒", "先莫报", "先莫交", "先莫弄", "先莫记", "先莫往上", "先莫换", "掂量掂量",
    "先莫", "先别", "覅了", "覅啦", "覅要了", "不说这个了", "不说这了", "这个不说了", "先不说这个", "不提这个了", "这个先不说", "不讲这个了", "取消", "曲消", "去消", "趣消", "娶消", "不说了", "不弄了", "不办了", "不报了", "不换了", "不要了", "不申诉了",
    "不记了", "不反映了", "不查了", "别弄了", "别办了", "别报了", "别换了", "别记了", "甭弄了",
    "甭管了", "先不", "回头再说", "以后再说", "改天再说", "下回再说", "过两天再说", "再说吧", "没事了", "退出",
    "不想弄了", "不想报了", "不想换了", "不整了", "不搞了", "打住", "罢了", "作罢",
    # Not worth the trouble ("不费那个劲了", "懒得弄了", "不折腾了").
    "不费那个劲", "不费那劲", "不费这个劲", "不费劲了", "不折腾了", "别折腾了", "懒得弄", "懒得报", "懒得管",
    # "Leave it for now" ("先这样吧，俺再想想"): not now is not a yes.
    "先这样", "先这么着", "先这么地", "先放着", "先放一放", "放一放再", "再想想", "想想再说", "考虑考虑",
    "先放下", "先放一边", "先搁着", "先搁一边", "搁一搁",
    "再想一下", "再想一哈", "想一哈", "我想想", "谂下先", "谂谂先", "谂一谂", "谂清楚先", "再谂下", "容我想想", "让我想想", "莫慌", "莫急", "等一哈", "先等等",
    "再考虑", "等等再说", "等会再说", "等会儿再说", "过后再说", "下次再说", "以后说", "回头说",
    "下回再讲", "想起来再", "等下再说", "等下子说", "等下子再说", "等一下再说", "等下说", "待会再说", "待会儿再说", "待会说", "晚些再说",
    # Leaving the talk altogether ends whatever waits for an answer too.
    "再见", "拜拜", "回见", "先挂了",
    # 算了 said coarsely (算毬 / 算逑), 罢了 as 罢咧, south-western "do nothing more" (不整哪样了),
    # and "don't trouble yourself" (不麻烦了, 甭麻烦了)
    "算毬", "算求", "算逑", "罢咧", "罢罢", "不整哪样", "不报哪样", "不搞哪样", "不弄哪样",
    # 算了 with north-western and northern particles ("算咧", "算哩", "算唻")
    "算咧", "算哩", "算唻", "算嘞", "算罢",
    "不麻烦了", "不麻烦你了", "甭麻烦", "别麻烦了", "不用麻烦", "不劳烦", "不劳驾",
    # "Never mind, you're busy" ("没事没事，你忙你的吧")
    "没事没事", "你忙你的", "你先忙", "你忙吧", "不打扰你", "不打扰了", "不耽误你",
    # thinking it over, leaving it, taking it back ("我再琢磨琢磨", "甭管它了", "就当我没说")
    "琢磨琢磨", "再琢磨", "合计合计", "再合计", "先搁下", "搁下吧", "甭管了", "甭管它", "别管了", "莫管了", "不用管了",
    "不用你管", "你别管", "你莫管", "没啥事了", "当我没说", "改主意了", "改主意啦",
    # taking it back ("这个我撤回", "撤了吧")
    "撤回", "撤销", "撤了吧", "我撤了",
)
#: Doing it oneself, said as the end of a clause ("我还是自己去说吧", "我跟网格员当面说"): a way out;
#: not "我自己去说过好几回了" (a story).
_MYSELF_RE = re.compile(r"(我|俺)?(还是)?(自己|自个儿?)(去|来)?(说|讲|找(他|她|网格员|村里|村干部)?|跟(他|她|网格员|村里)说|去村里说?)"
                        r"(吧|算了|就行|得了|好了)?$|(?<!敢)当面(去)?(说|讲)(吧|去)?$")
# "No need" stops a read-back, but answers a yes/no question inside a form ("要不要保密？" "不用了").
SOFT_STOP_PATTERNS = ("不用了", "不要了", "不需要了", "用不着了", "不必了",
                      # Cantonese 唔使, Wu / Jiang-Huai 不消, Minnan 免 ("免了", "免啦")
                      "唔使", "唔洗", "不消了", "不消得", "不消咯", "不消嘞", "免了", "免啦", "免咯", "免喽")
NO_PATTERNS = (
    "不对", "不是", "不行", "不中", "不成", "不可以", "不要", "不用", "不同意", "错了", "不太对", "有错", "说错",
    "弄错", "搞错", "没说对", "没有", "不好", "不了", "莫得", "莫有",
    "岔了", "说岔", "弄岔", "搞岔", "记岔", "听岔", "整岔", "说差了", "听差了",
    # Cantonese 唔 (not) and 冇 (none), south-western 不得行 / 要不得 / 使不得, 么得 for 莫得
    "唔要", "唔系", "唔得", "唔对", "唔好", "冇要", "不得行", "要不得", "使不得", "么得",
    # Wu 勿 (not) and north-western 嫑 (don't)
    "勿对", "勿是", "勿要", "勿来事", "嫑", "覅",
    # a nod or a consent not (yet) given ("奶奶还没点头")
    "没点头", "不点头", "没答应", "不答应", "没同意",
    # 不 written 卜 by a recogniser (卜 reads bo / bu)
    "卜对", "卜是", "卜要", "卜行", "卜用", "卜中",
    # Korean 아니 ("no") said by Korean-Chinese speakers ("阿尼，不对")
    "阿尼",
)
#: Whole replies that are a no on their own (in a longer sentence they mean other things).
NO_ALONE = ("不", "布", "部", "步", "卜", "没", "别", "否", "甭", "冇", "冇得", "唔", "不得", "没得", "莫", "莫啊", "勿")
REPEAT_PATTERNS = (
    "再说一遍", "再说一次", "再念一遍", "再讲一遍", "没听清", "没听见", "你说啥", "你说什么", "说的啥", "啥意思",
    "什么意思", "重复一遍", "重说", "慢点说", "大点声", "再念念", "再说说", "再讲讲", "再来一遍", "没听明白", "没听懂",
    # trouble hearing is a wish to hear it again ("你讲慢些，我耳朵背")
    "耳朵背", "耳背", "听不清", "听不太清", "没跟上", "跟不上", "听不过来", "没听着", "没听到",
    # "read it to me again" ("再读给我听听", "念给我听")
    "再读", "读给我听", "念给我听", "再念", "再给我念", "再给我读", "重新念", "重新读", "再给俺念", "再给俺读",
    "念给俺听", "读给俺听",
)
#: "I didn't get it down" asks for it again only said on its own ("没记住"); in a sentence of its
#: own ("今天初几了，我咋老记不住") it is talk about something else.
REPEAT_SHORT = ("没记住", "记不住", "没记下")
REPEAT_SHORT_MAX = 8
#: "Say it again / slower" in any words ("再讲一回", "说慢些", "讲慢滴", "再念一道").
_REPEAT_RE = re.compile(r"再(说|讲|念|读|重复|来|讲过|说过)(一)?(遍|回|次|道|趟|下|哈|哈子|片)|(说|讲|念|读)(得)?慢(些|点|一点|滴|啲|哈)"
                        r"|慢(些|点|一点|滴|啲)(说|讲|念|读)|(讲|说)多(一)?(次|遍|回)|(讲|说)过(一)?(次|遍|回)|冇听(清|到|见)|听唔(清|到|明)")
FILLERS = "嗯呃额啊哦噢喔哎唉诶欸呀吧呗啦嘛哈呢嘞咧哩喽咯哟噻唻"
_YES_ALONE_CLAUSE = re.compile(rf"^(?:[{FILLERS}]*(?:{'|'.join(sorted(YES_ALONE, key=len, reverse=True))})[{FILLERS}]*)+$")
# Syllables that follow 不 in a negative answer; matched in pinyin so that ASR slips of the
# characters (不四 / 布是 / 部队 …) still read as a refusal.
_NEGATED = {"dui", "shi", "si", "xing", "zhong", "cheng", "yao", "yong", "hao", "ke", "neng", "huan", "bao", "guan",
            "ban", "nong", "ji", "shen", "suan", "gan", "zuo", "qu"}
_NEGATORS = {"bu", "bie", "beng", "mei"}
_PUNCTUATION = re.compile(r"[\s，,。.!！?？、…~～;；:：\"“”'‘’()（）]+")


def normalise(text: str) -> str:
    return _PUNCTUATION.sub("", text or "").strip()


def _core(text: str) -> str:
    """The reply without fillers at either end ("嗯，行吧" → "行")."""
    core = normalise(text)
    while core and core[0] in FILLERS:
        core = core[1:]
    while core and core[-1] in FILLERS:
        core = core[:-1]
    return core


@lru_cache(maxsize=4096)
def _syllables(text: str) -> tuple[str, ...]:
    return tuple(s for s in lazy_pinyin(text, errors="ignore") if s)


def _negated_in_pinyin(text: str) -> bool:
    """不/别/没 (or a homophone of them) directly before a verb of answering."""
    syllables = _syllables(text)
    return any(a in _NEGATORS and b in _NEGATED for a, b in zip(syllables, syllables[1:]))


def _has_any(text: str, patterns) -> bool:
    return any(p in text for p in patterns)


def answers_read_back(text: str) -> bool:
    """A yes or a no (a correction: "地方不对，是…") to a report's read-back, its filing verbs
    counting as yes ("对，就这么写")."""
    return interpret(text, FILING_VERBS) in (Reply.YES, Reply.NO)


def asks_to_repeat(text: str) -> bool:
    """"再说一遍", "没听清", "前头说的再念念", "你说慢些再讲一回": the last thing said, again."""
    flat = normalise(text)
    return _has_any(flat, REPEAT_PATTERNS) or bool(_REPEAT_RE.search(flat)) \
        or (len(flat) <= REPEAT_SHORT_MAX and _has_any(flat, REPEAT_SHORT))


#: 算了 as "counted" ("给我家少算了三亩", "我算了一下账", "结算了"), no way out.
_COUNTED = re.compile(r"(少|多|错|漏|重|白|合|计|估|盘|核|结|清|换|折|预|推|核)算了|算了(一下|一遍|算|账|半天|好几|"
                      rf"[{NUMERAL_CHARS}\d])")


#: Courtesy and complaints about oneself that contain a negation but refuse nothing ("唔好意思",
#: "不好意思", "我耳朵不中用", "眼睛不好使").
NOT_REFUSAL = ("不好意思", "唔好意思", "冇好意思", "不中用", "不好使", "唔中用", "不灵光", "不大灵", "不灵了")


def refuses(text: str) -> bool:
    """Any sign of refusal, after removing the agreements that contain a negation."""
    flat = _COUNTED.sub("", normalise(text))
    for phrase in (*YES_WITH_NEGATION, *NOT_REFUSAL):
        flat = flat.replace(phrase, "")
    if not flat:
        return False
    return (_has_any(flat, STOP_PATTERNS) or _has_any(flat, NO_PATTERNS) or _negated_in_pinyin(flat)
            or flat in NO_ALONE or _core(flat) in NO_ALONE)


# Not doing it any more, said with any verb of the flows and any negator of any region
# ("甭报了", "莫搞了", "不用记了", "别再弄了"), 不 misheard as 布 / 部 / 步 included ("布报了"): a way
# out wherever it is said.
_STOP_RE = re.compile(r"(不|布|部|步|卜|别|甭|莫|覅|嫑|勿|冇爱|唔爱|毋爱|毋使|毋要|毋|冇|不要|不用|别再|不再|唔使|唔洗|唔好|唔要|唔|免)(要|想|用)?(再)?(往上|往上头|往上面|往村里|给村里|上去)?(报|记|弄|办|换|申诉|申|反映|整|搞|说|登记|登|上报|提交|查|问|写|拿|领|取|加|扣)"
                      r"(住|先|住先)?(了|啦|喽|咯|嘞|咧|哩|哈|哒|噻|嘍|勒|啰|罗|唠|喇|嘞)")
#: A clause that is nothing but 算了 misheard (散了, 酸了, 蒜了, said once or twice), or 不报了
#: misheard (不包了, 不抱了: 报 heard in another tone): a way out. Only as a clause of its own, so
#: that a report ("棚子散了架", "不包了饺子") keeps its words.
_SLIPPED_STOP_RE = re.compile(r"^(?:(?:算|散|酸|蒜|涮|不包|不抱|不爆|不豹|别包|别抱)(?:了|啦|喽|咯|勒|哒)){1,3}$")


#: "Don't report it" said as a clause of its own, without a closing particle ("冇要报，涯就问一下",
#: "别登记，我就问问"): a way out.
_DONT_FILE_RE = re.compile(r"(?:^|[，,。！!？?])(这个|这事儿?|那个|这)?(我|俺|涯|咱|额)?(还是)?(不|不要|冇要|唔要|不用|唔使|别|甭|莫|覅|嫑|冇爱|唔爱|毋爱|毋使|毋要)"
                           r"(帮我|给我|帮俺|给俺)?(报|登记|反映|上报|报上去|交|交上去)(了|啦|咯)?(吧)?(?=$|[，,。！!？?])")


#: Later, not now ("俺孙子回来再说", "等他爹回来了再弄", "忙完这阵再办"): a way out for now.
_LATER_RE = re.compile(r"(回头|回来|回去|明天|明儿|后天|过两天|过几天|过阵子|过些天|有空|得空|忙完|赶明儿|改日|改天|等.{1,10}?)"
                       r"[^，,。]{0,8}?(了)?(再|才)(说|讲|弄|办|报|换|看|讲吧|定|查|问|结|记|加|扣)"
                       # something to do first, then the write ("我先去三组瞅一眼再结", "先核实清楚再说");
                       # not the write itself first ("先报上去再说")
                       r"|先(?!报|记|交|登|办|换|加|扣|弄|申|结|上报)[^，,。]{1,12}?再(说|讲|弄|办|报|定|结|记|加|扣|换|申诉)"
                       # making sure first ("核实清楚再说", "问明白了再记")
                       r"|(核实|核对|确认|问清|问明白|弄清|搞清|查清|打听)(清楚|明白|一下|好)?(了)?(再|才)(说|讲|弄|办|报|定|结|记|加|扣)"
                       # asking the family first ("回头我问问我儿子", "我跟老伴商量商量再说")
                       r"|(问问|问一下)(我|俺)?(家)?(儿子|闺女|女儿|老伴|孩子|孙子|孙女|媳妇|老头子?|老婆子?|家里人|家里)(?!的|说|讲)"
                       r"|(跟|和|同)(我|俺)?(家)?(儿子|闺女|女儿|老伴|孩子|孙子|孙女|媳妇|老头子?|老婆子?|家里人|家里)"
                       r"(商量|合计)(商量|合计|一下)?(?!好|过|了)"
                       # talking it over first, with anyone ("我跟她合计一下再讲", "商量好了再报")
                       r"|(商量|合计|琢磨|考虑|商议|核计|掂量)(商量|合计|琢磨|考虑|商议|一下|下|好|好了|清楚|过)?(了)?(再|才)(说|讲|弄|办|报|定|来|换)"
                       # asking someone first, when they come ("等晚上大儿子打视频过来我问问他")
                       r"|等[^，,。]{1,16}?(我|俺)(再)?(问问|问一下|商量商量|商量一下|合计合计|合计一下)"
                       # ... or talking it over with them when they are back ("等他回来商量商量")
                       r"|等[^，,。]{1,16}?(回来|到家|回家|来了)(再|了)?(一起|一块儿?)?(商量|合计|商议)")


#: The flows' verbs by sound, for a way out the recogniser spelt otherwise: 报 (report), 办 (do it).
_DONT_FILE_VERB_SOUNDS = ("bao", "ban", "ji")  # 报, 办, 记 (别寄了 for 别记了)


def _sounds_like_dont_file(clause: str) -> bool:
    """A clause that sounds like 不报了 / 不办了 whatever characters the recogniser chose ("不暴了",
    "卜报啦", "不半了"), said once or again ("不半了不半了"): a negator, the verb, a closing particle;
    nothing more."""
    syllables = _syllables(_core(clause))
    if not syllables or len(syllables) % 3 or len(syllables) > 9:
        return False
    return all(a in (*_NEGATORS, "bo") and b in _DONT_FILE_VERB_SOUNDS and c in ("le", "la", "lou", "luo", "lo")
               for a, b, c in zip(syllables[::3], syllables[1::3], syllables[2::3]))


def is_stop(text: str, verbs: tuple[str, ...] = (), soft: bool = True) -> bool:
    """The user wants out of whatever is going on. ``soft=False`` when the question just asked
    was itself a yes/no question, where "不用了" is an answer rather than a way out."""
    flat = _COUNTED.sub("", normalise(text))
    if _has_any(flat, STOP_PATTERNS) or _STOP_RE.search(flat) or (soft and _has_any(flat, SOFT_STOP_PATTERNS)) \
            or _LATER_RE.search(flat):
        return True
    if any(_SLIPPED_STOP_RE.match(_core(clause)) or _MYSELF_RE.search(_core(clause)) or _sounds_like_dont_file(clause)
           for clause in _PUNCTUATION.split(text or "")):
        return True
    if _DONT_FILE_RE.search(text or ""):
        return True
    return any(f"{neg}{verb}了" in flat or f"先不{verb}" in flat for verb in verbs for neg in ("不", "别", "甭"))


#: "I was only asking" said after the way out: no request of its own.
_JUST_ASKING = re.compile(r"^(我|俺|涯|咱|额)?(就|只是|只|就是)?(想)?(随便)?(问|打听)(一下|问|下|打听)?(而已|罢了)?$")


def after_stop(text: str) -> str:
    """What is left of a sentence once its way out is taken ("不办了，先帮俺查查积分" →
    "先帮俺查查积分"): a request said in the same breath, or '' when nothing is left."""
    rest = _DONT_FILE_RE.sub("，", _PUNCTUATION.sub("，", text or ""))
    for pattern in sorted((*STOP_PATTERNS, *SOFT_STOP_PATTERNS), key=len, reverse=True):
        rest = rest.replace(pattern, "")
    core = _core(rest)
    for glue in ("吧", "那", "就", "先", "了", "啊", "呀", "这个", "那个"):
        if core == glue:
            return ""
    if _JUST_ASKING.match(core):
        return ""  # "冇要报，涯就问一下": nothing more is asked for
    return core if len(core) >= 3 else ""


# Details of the report said together with the answer ("报上去吧，名字不用保密", "行，不急"): they
# are neither a yes nor a no to the offer (the form reads them), so they are set aside first.
REMARKS = ("名字不用保密", "名字要保密", "名字保密", "不用保密", "不要保密", "不消保密", "不必保密", "不需要保密",
           "用不着保密", "唔使保密", "免保密", "要保密", "得保密", "保密",
           "不用匿名", "不匿名", "匿名", "名字写上", "写我名字", "写上名字", "不着急", "不急", "很急", "挺急", "急得很",
           # "that is all there is to it" ("情况就这些，你报吧")
           "情况就这些", "事情就这些", "就这些情况", "就这么些", "就这些了", "就这些", "没别的了", "没有别的了", "就这么多",
           "情况就是那样", "情况就那样", "事情就那样", "情况就这样",
           # not afraid to be named, the complaint as "my opinion" ("不用保密，我敢说", "我这意见要提")
           "我敢说", "我不怕", "不怕他们", "不怕他", "我这意见", "这个意见", "这意见",
           # "I dare say it to their face" (我敢当面讲): not afraid to be named, no way out
           "我敢当面讲", "我敢当面说", "敢当面讲", "敢当面说")


#: What is asked for with a yes to a report or an exchange, which is no part of the yes or the no:
#: someone to come and look ("派人来瞧瞧"), the goods picked up later ("我下礼拜让她来拿").
_REMARKS_RE = re.compile(r"(派|叫|让|找)(个)?人(来)?(看看|瞧瞧|瞅瞅|看一下|瞧一下|修修|修一下|弄弄|处理一下)"
                         # "叫村里来修", "让他们过来看看"
                         r"|(叫|让|请)(村里|他们|人家|镇上|上面)(派人)?(来|过来)(修|看|弄|处理|管)(一下|修|看|下)?"
                         r"|((让|叫)(他们|人家|他|她|村里)?)?(早|快)(点|些)来(人)?(修|看)?|(我|俺|她|他)?(下礼拜|下星期|下周|明天|明儿|回头|过两天|改天|等会儿?)?"
                         r"(让|叫)?[^，,。]{0,3}(来|去|再来)(拿|取|领)(吧|哈|啊)?")
#: A conditional yes ("能换就换上", "能报就报"): the offer's verb said as "if it can be done, do it".
_IF_IT_CAN = re.compile(r"能(换|报|记|加|扣|办|申诉|申)就(换|报|记|加|扣|办|申诉|申)(上|了|吧)?")


#: A rhetorical "what else is there but to do it" ("不报上去还能咋地？报！", "不换还能咋整"): it refuses
#: nothing and agrees to nothing by itself; the words around it decide.
_WHAT_ELSE = re.compile(r"不[^，,。？?！!]{1,5}?还(能|能够|有啥|有什么|可以)(咋|怎么|怎样|咋样|咋个|干啥|干嘛|啥办法)"
                        r"(地|的|办|样|整|弄|着)?(呢|嘛|啊|呀|哩|嘞)?")


def _without_remarks(text: str) -> str:
    for remark in REMARKS:
        text = text.replace(remark, "")
    return _WHAT_ELSE.sub("", _REMARKS_RE.sub("", text))


def only_details(text: str) -> bool:
    """The reply is nothing but details of a report ("不用保密", "不急，名字写上"): to an offer to
    report, they say how it should go, which is a yes to it (the form still reads it all back)."""
    flat = normalise(text)
    return bool(flat) and flat != normalise(_without_remarks(flat)) and not _core(normalise(_without_remarks(flat)))


#: Yes words inside phrases that are no yes ("管他呢": whatever).
NOT_AGREEMENT = ("管他", "管它")


# Words that may stand around an agreement without changing it ("那就给我换了吧").
GLUE = ("那就", "那你", "给我", "帮我", "给俺", "帮俺", "赶紧", "马上", "快点", "一下", "上去", "麻烦", "谢谢",
        "往上头", "往上面", "往上", "往村里", "往镇上", "往镇里",
        "照这么", "就这么", "这么", "这样", "这个", "那个", "这件", "那件", "那样", "按规矩", "照规矩", "按规定", "这", "按", "搞", "整", "弄",
        "照", "你", "我", "俺", "咱", "他", "她", "给", "帮", "就", "快", "上", "去", "了",
        "吧", "呗", "啦", "呀", "啊", "嗯", "哈", "哦", "嘞", "唻", "咧", "哩", "嘛", "喽", "咯", "哟", "噻", "撒",
        "那", "的", "也", "都", "先", "侬", "阿拉", "迭个", "额",
        # "就报它", "行了哇", "得嘞您呐", "就这样子报", "对的，记下"
        "它", "哇", "您呐", "呐", "您", "子", "下",
        # a hedge or "as you see fit" around a yes ("差不多就这么个事，你看着给报吧")
        "差不多", "大差不差", "大概", "看着",
        # north-western and Tibetan-area particles (是呀么, 对着么), Wu 介 (so: "就介加")
        "么", "介",
        # thanks after the yes (Cantonese 唔该, 多谢)
        "唔该", "多谢", "儿",
        # "记下来", "报上去" said with where it goes; "must" ("这个意见我得提")
        "下来", "得",
        # Wu "this way" (就噶报), Cantonese "it" (换佢), "you all" (你们看着安排)
        "噶", "佢", "你们",
        # more closing particles ("好嘎", "对昂", "行嗷", "中啵", "要得哒")
        "啰", "嘎", "嗷", "昂", "哒", "啵", "噢", "喔",
        # "this way" in Hunan, Wu and Cantonese words ("就咯样申", "就介样", "就咁样")
        "咯样", "噶样", "介样", "迭样", "个样", "咁样", "咁", "恁样",
        # Henan / Shandong "you" ("恁说哩都对"); "the matter" ("事情就这样")
        "恁", "事情", "事儿",
        # Wu "this way" (搿能, 介能: "就搿能报") and "this" (搿个)
        "搿能", "介能", "搿个", "搿样")

#: What people say around a yes to the person they talk to, which is neither yes nor no: thanks,
#: "sorry to trouble you", the way they address them ("闺女", "老妹儿", "同志"), and haste ("麻溜儿的").
SOCIAL = ("麻烦你了", "麻烦您了", "麻烦你", "麻烦您", "麻烦了", "辛苦你了", "辛苦您了", "辛苦了", "谢谢你", "谢谢您",
          "谢谢啊", "多谢你", "多谢晒", "唔该晒", "费心了", "劳驾", "感谢", "谢了",
          "麻烦你们了", "麻烦你们", "麻烦大家了", "麻烦大家", "谢谢你们", "谢谢大家", "多谢你们", "辛苦大家了",
          "你们受累了", "您受累了", "你受累了", "受累了", "受累", "你们辛苦了", "辛苦你们了", "让你费心了",
          "闺女", "姑娘", "丫头", "小伙子", "小伙", "老妹儿", "老妹", "大妹子", "妹子", "小妹", "妹儿", "幺妹", "大姐",
          "大哥", "大兄弟", "兄弟", "老弟", "老铁", "小同志", "同志", "领导", "书记", "主任", "娃娃", "娃儿", "孩子",
          "后生", "靓女", "靓仔", "阿妹", "阿哥", "阿姐", "老乡", "师傅", "小姑娘", "伢子", "妹伢子", "老表", "乡亲",
          "麻溜儿的", "麻溜的", "麻溜儿", "麻溜", "快些", "快点儿", "赶紧的", "抓紧", "利索点", "利索的",
          # impatience around a yes ("…，还问啥"): no answer by itself
          "还问啥", "还用问", "还问什么")

#: "What you said is right" ("恁说哩都对", "你讲得对", "念得冇错").
_SAID_RIGHT = re.compile(r"(说|讲|念|读|写|记)(的|得|哩|嘞|嘅|滴|咧)?(都|全|也|全都|倒|一点)?(对|是|没错|冇错|在理|不错|啱|中|准|没差|不差)"
                         r"|(你|您)?(念|读|说|写)的(不)?就是(我|俺|咱)(说|讲)的"
                         # "as you read it" ("就按你念的整", "照你读的报")
                         r"|(按|照|依)(着)?(你|您|恁)?(刚才|刚刚)?(念|读|写|记)的"
                         # "not one character off" ("一个字都没差", "一点不差")
                         r"|((说|讲|念|读|写|记)(的|得)?)?(一个字|一字|一点儿?|半点|半个字|一丝|丝毫|分毫)(都|也)?(没|不|冇|莫|唔)(差|错)"
                         # "that's the one I mean" ("没错，说的就是它")
                         r"|(我)?(说|讲)的就是(它|这个|这事|这|那个|那事)")


_NUMBER_RUN = re.compile(rf"[{NUMERAL_CHARS}\d]+")


def _numbers_as_digits(text: str) -> str:
    """'记两分' → '记2分', '换一袋' → '换1袋': numbers written alike, whichever way they were said."""
    return _NUMBER_RUN.sub(lambda m: str(parse_number(m.group())), text)


def _echoes(rest: str, said: str) -> str:
    """``rest`` without the runs of it (two characters or more, or a number) that repeat the
    read-back ``said``: "对，48号" after "…（48号）记5分，对吗？" leaves nothing."""
    rest, said = _numbers_as_digits(rest), _numbers_as_digits(normalise(said))
    for size in range(len(rest), 0, -1):
        i = 0
        while i + size <= len(rest):
            piece = rest[i:i + size]
            if (size >= 2 or piece.isdigit()) and piece in said:
                rest = rest[:i] + rest[i + size:]
            else:
                i += 1
    return rest


_NEGATING_CHARS = "不没别莫甭冇唔否休免勿嫑"


def _item_part(said: str) -> str:
    """The read-back without its closing question ("对吗？对就说“对”…"), whose words are no echo."""
    return re.split(r"对吗|对不对|行不行|好吗", said or "", maxsplit=1)[0]


def _agrees(core: str, verbs: tuple[str, ...], said: str = "", hit: bool = False) -> bool:
    """Every part of the reply is an agreement, the offer's verb, glue around them, or a
    repetition of what was read back (``said``: "那就给俺换一袋", "对，48号"). ``hit``: a yes was
    said already (a clause of its own, see ``_answer_part``)."""
    if core.lower() in ("ok", "okay", "yes"):
        return True
    if any(words in core for words in NOT_AGREEMENT):
        return False
    rest = _IF_IT_CAN.sub("", _SAID_RIGHT.sub("", core))
    hit = hit or rest != core
    for word in sorted({*YES_WORDS, *YES_WITH_NEGATION, *(v for v in verbs if v)}, key=len, reverse=True):
        if word in rest:
            rest, hit = rest.replace(word, ""), True
    if not hit:
        return False
    for glue in sorted({*SOCIAL, *GLUE, *FILLERS}, key=len, reverse=True):
        rest = rest.replace(glue, "")
    if rest and said:
        # one character of the thing read back ("嗯对，就米" after "…换1袋大米"): never a negator,
        # and never beside a number, which may be another amount ("对，换三把" is no yes to 1把)
        single = len(rest) == 1 and not _NUMBER_RUN.search(core)
        rest = _echoes(rest, said)
        if single and len(rest) == 1 and rest in _item_part(said) and rest not in _NEGATING_CHARS:
            rest = ""
    return rest == ""


def _answer_part(text: str) -> tuple[str, bool]:
    """The reply without the clauses that are a yes of their own ("着啦着啦", "内，内") and without
    a relay before the answer ("爷爷说对"): (what is left, whether such a yes was said)."""
    kept, alone = [], False
    for clause in _PUNCTUATION.split(text or ""):
        if not clause:
            continue
        if _YES_ALONE_CLAUSE.match(clause):
            alone = True
        else:
            kept.append(_RELAYED.sub("", clause))
    return "，".join(c for c in kept if c), alone


#: A yes on a condition the assistant was not told ("记的是今天吧？是今天就记上", "是上午的话就报"):
#: no yes to write on, and no new request to drop the write for — asked again. A condition that is
#: only the read-back being right ("要是没错就记上") is a yes (see ``_agrees``).
_CONDITIONAL_YES = re.compile(r"(?:^|[，,。？?])(?:要是|如果|若是|是)(?P<condition>[^，,。？?]{1,8}?)(?:的话)?就"
                              r"(?:记|报|换|加|扣|办|交|登记|写|提交)")
_RIGHT = re.compile(r"没错|对|不错|行|可以|这样|这么|这个|那样")


def _on_a_condition(text: str) -> bool:
    found = _CONDITIONAL_YES.search(text or "")
    return bool(found) and not _RIGHT.search(found.group("condition"))


def interpret(text: str, verbs: tuple[str, ...] = (), said: str = "") -> Reply:
    """Interpret a reply to a yes/no question about a write. ``verbs`` are the offer's own
    verbs (e.g. ("换", "兑") for a redemption), which count as yes when repeated; so do the
    details of the read-back ``said`` (the house number, the item, the points) after a yes or
    the verb ("对，48号", "那就按规矩给她记两分")."""
    flat = normalise(_without_remarks(normalise(text)))
    if not flat:
        return Reply.UNCLEAR
    if asks_to_repeat(flat):
        return Reply.REPEAT
    if is_stop(flat, verbs) or _DONT_FILE_RE.search(text):  # the latter needs the clauses
        return Reply.STOP
    if refuses(flat):
        return Reply.NO
    if _on_a_condition(text):
        return Reply.UNCLEAR
    rest, alone = _answer_part(text)
    rest = normalise(_without_remarks(normalise(rest)))
    if alone and not _core(rest):
        return Reply.YES  # "着啦着啦", "内，内"
    core = _core(flat)
    if not core:
        return Reply.UNCLEAR  # only fillers: "嗯…", "啊？"
    if _agrees(rest, verbs, said, hit=alone):
        return Reply.YES
    if len(core) <= 3 or core in ("什么", "啥", "咋", "怎么"):
        return Reply.UNCLEAR
    clauses = _yes_then_something(text, verbs, said)
    if clauses:
        return Reply.YES if _tail_is_harmless(clauses, said) else Reply.UNCLEAR
    return Reply.OTHER


#: "By the way" (对了，…) opens a new request; it is no yes to what was read back.
BY_THE_WAY = ("对了", "对啦", "对咯", "对喽")
#: ... and so do "well then" openings before something else (好了，…).
_OPENS_SOMETHING_ELSE = (*BY_THE_WAY, "好了", "行了")


def _yes_then_something(text: str, verbs: tuple[str, ...], said: str) -> list[str]:
    """A yes said first, then a few words that are neither a yes nor a new question ("必须的，整吧，
    {words we do not know}"): no new request to drop the write for — a yes when those words change
    nothing of it (``_tail_is_harmless``), else asked again. The reply's clauses; [] when it is not so."""
    clauses = [c for c in _PUNCTUATION.split(text or "") if _core(c)]
    if len(clauses) < 2 or _core(clauses[0]) in _OPENS_SOMETHING_ELSE or not _agrees(clauses[0], verbs, said):
        return []
    rest = "".join(clauses[1:])
    return clauses if len(rest) <= 12 and not re.search(r"[吗呢么嘛]$|[?？]|什么|啥|咋|怎么|多少|几|哪|谁", rest) else []


#: After a yes, what may change the write or hold it back: a negation (what contains one and still
#: agrees is taken out first), a question, a correction or an addition (改, 其实, 还有, 另外, 再, 补,
#: 但是 …), a condition, a delay, a number, or 是 naming something ("对，是三组的"): with any of them the
#: yes is asked again. Words of none of these kinds (thanks, "这回没错了", "辛苦你们跑一趟", "就照这个来")
#: leave the yes a yes: the list of what is harmless can never be complete, the list of what is not can.
_TAIL_RISK = re.compile(rf"[{_NEGATING_CHARS}吗呢?？]|什么|啥|咋|怎|多少|几|哪|谁|改|错|其实|应该|还有|还要|另外|另|再|补|加上"
                        r"|但|可是|不过|只是|除了|要是|如果|若|万一|的话|等|先|商|问|换成|写成|记成|弄成|算成|重新|是.|[\d"
                        rf"{NUMERAL_CHARS}]"
                        # a choice named ("对，就油", "行，要那个红的"): another item, place or amount
                        r"|(?:就|要|拿|换|选)(?!照|按|这|那样|那么|是|行|好|中|对|来|去|办|弄|整|报|记|写|交)[^，,。]{1,3}$")


#: A tail longer than this tells something of its own (another trouble, another place): asked again.
_TAIL_MAX = 8
_ONCE = re.compile(r"一(趟|下|声|回|遍|眼)")
_GREETINGS = ("你好", "您好", "你们好", "大家好", "好")
#: Words in a tail that contain a negation or a number and still change nothing, longest first.
_HARMLESS_PHRASES = tuple(sorted({*YES_WITH_NEGATION, *NOT_REFUSAL, *SOCIAL}, key=len, reverse=True))


def _tail_is_harmless(clauses: list[str], said: str) -> bool:
    """A yes first (``clauses[0]``), then words that change nothing of the write ("对，这回没错了",
    "对，辛苦你们跑一趟")."""
    if _core(clauses[0]) in _GREETINGS:
        return False  # "你好，小助手": 好 greets
    tail = "".join(clauses[1:])
    for phrase in _HARMLESS_PHRASES:
        tail = tail.replace(phrase, "")
    tail = _ONCE.sub("", tail)  # "跑一趟", "说一声": no amount
    if said:
        tail = _echoes(tail, said)
    return len(normalise(tail)) <= _TAIL_MAX and not _TAIL_RISK.search(tail)


#: 回访's "满意吗": the three answers (in the order they are offered), and everyday verdicts on the
#: work done (checked in order: "没修好" before "修好了").
SATISFACTION = ("满意", "基本满意", "不满意")
VERDICTS: tuple[tuple[str, "re.Pattern[str]"], ...] = (
    ("不满意", re.compile(r"没修好|没弄好|没办好|没解决|又坏|又坑|还是不行|还那样|白修|没人来|没人弄|没人管|一个样|老样子|"
                        r"原样|没动静")),
    ("基本满意", re.compile(r"还行|还可以|凑合|马马虎虎|一般般?|差不多")),
    ("满意", re.compile(r"挺好|很好|不错|修好了|弄好了|办好了|解决了|没毛病")),
)


def verdict_in(text: str) -> str | None:
    """满意 / 基本满意 / 不满意 as said ("不满意" is not read as "满意"), else the everyday verdict
    ("还行吧" 基本满意, "又坑坑洼洼的了" 不满意); None when the text gives none."""
    for answer in sorted(SATISFACTION, key=len, reverse=True):  # "不满意" is not "满意"
        if answer in (text or ""):
            return answer
    for answer, words in VERDICTS:
        if words.search(text or ""):
            return answer
    return None
