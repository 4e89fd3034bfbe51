"""What a sentence asks for, where the words decide it more reliably than the language model.

The model hears "隔壁天天烧秸秆，呛得人…这不是要扣分吗" as a complaint (it mostly is) and "烧秸秆要扣多少
分" as a policy question for the knowledge base. Both ask what the village's points rules say:
the answer is in the village's own rule table (``action_points_rules``), which also offers to
report a problem the sentence describes. Pure functions of the text, used by the
dialogue-control decision (bot/nlu/control.py).
"""
from __future__ import annotations

import re
from typing import Tuple

from bot.text import HOUSE_DIGITS, LIVING_ALONE, NUMERAL_CHARS, with_spoken_digit_runs


def flat_text(text: str | None) -> str:
    """The sentence without spaces and punctuation."""
    return re.sub(r"[\s，,。.!！?？、…~～]+", "", text or "")


# How many points a deed earns or costs ("扣多少分", "加几分", "给几分", "罚多少"), or whether it
# does ("扣不扣分", "要扣分", "会扣分吗", "能加分不", "算不算分", "不该扣分吗").
_AMOUNT = re.compile(r"(扣|加|罚|减|给|记|奖励?)(多少|几|好多|几多)(个)?分?|算(多少|几|好多|几多)(个)?分")  # 好多 / 几多: "how many" in the south
_WHETHER = re.compile(r"(扣|加)不(扣|加)分|(要|会|能|该|得|算)(扣|加|记)分|(扣|加)分(吗|嘛|不|没有?)$|算不算分|给不给分"
                      # "这个给不给加分", "能不能记分"
                      r"|(给|能|会|让|可)不(给|能|会|让|可)(以)?(加|扣|记)分")
_POINTS = re.compile(r"分")
# How points are earned ("积分咋挣", "怎么才能多攒点分"), or what earns them ("塑料瓶子能换积分不":
# things traded FOR points; the shop trades points for things: "积分能换啥").
_EARN = re.compile(r"(咋|怎么|怎样|如何|啥办法|什么办法|哪些|干啥|做啥|干什么|干点啥|做点啥|啥)(样)?(才|才能|能|可以)?(多)?"
                   r"(挣|赚|攒|得|拿|加|挣点|攒点)(点|些)?(积|鸡)?分(?!.{0,2}(换|兑))"
                   r"|(积|鸡)分(咋|怎么|怎样|如何|从哪)(样)?(挣|赚|攒|得|来|加)"
                   r"|(换|兑|兑换|抵|顶|算)(成)?(点|些)?(积|鸡)分"
                   # "旧报纸能换分不", "饮料瓶子多少个算一分": things traded for points, 积 unsaid
                   r"|(换|兑|算|顶|抵)(成)?(点|些)?分(不|吗|嘛|没|啵|伐)"
                   r"|(多少|几)(个|斤|公斤|袋|捆)?(能)?(算|换|顶|抵|兑)(一|1|几|多少)(个)?分")


def asks_points_rule(text: str) -> bool:
    """The sentence asks what the points rules say about a deed ("烧秸秆要扣多少分",
    "这不是要扣分吗") or how points are earned ("积分咋挣", "塑料瓶子能换积分不"), not about a
    household's own points ("俺家扣过分没有", "为啥扣我分")."""
    flat = flat_text(text)
    if not _POINTS.search(flat):
        return False
    return bool(_AMOUNT.search(flat) or _WHETHER.search(flat) or _EARN.search(flat))


# An explicit command word at the start of the sentence, as the README teaches staff to say it
# ("记录走访 黄玉珍家 …"): what follows is the visit's note, whatever policy words it mentions.
# "给他家记一条走访" / "帮这户登记一下走访" name the household talked about last.
_COMMANDS = ((re.compile(r"^(走访记录|((给|帮|替)(他|她|这|那)(们)?(一)?(家|户)?)?"
                         r"(记录|记|登记|添加|写|补)(一下|一条|个|一个|一次|上|下)?(走访|次走访))"), "action_log_visit"),)


def after_command(text: str) -> str:
    """The text after an explicit command word ("给他家记一条走访，老人挺好" → "，老人挺好")."""
    flat = (text or "").strip()
    for pattern, _ in _COMMANDS:
        match = pattern.match(flat)
        if match:
            return flat[match.end():]
    return flat


def command_action(text: str) -> str | None:
    """The action an explicit command word at the start of the sentence names, or None."""
    flat = (text or "").strip()
    for pattern, action in _COMMANDS:
        if pattern.match(flat):
            return action
    return None


# When and where the points shop opens ("积分超市几号开门", "超市在哪换东西"): a question for the
# village's own notice in the knowledge base, not about the rules or a household's points.
_SHOP = re.compile(r"(积分|鸡分)?超市|兑换点|换东西|兑东西")  # "哪天能拿着分去换东西": the shop unnamed
SHOP_NAME = "积分超市"
_OPENING = re.compile(r"开门|关门|开放|几号|几点|哪天|哪几天|几天开|礼拜几|星期几|啥时候|什么时候|多会儿|在哪|哪儿|哪里|咋走|时间"
                      r"|(啥|哪个|什么)日子|几时")


def asks_shop_opening(text: str) -> bool:
    """The sentence asks when or where the points shop opens."""
    flat = flat_text(text)
    return bool(_SHOP.search(flat) and _OPENING.search(flat))


def shop_question(text: str) -> str:
    """A question about the points shop's opening with the shop named, as the knowledge base's
    notice names it ("哪天能拿着分去换东西" → "积分超市 哪天能拿着分去换东西"); other text as it is."""
    if asks_shop_opening(text) and SHOP_NAME not in flat_text(text):
        return f"{SHOP_NAME} {text}"
    return text


# A household's own balance ("俺家还有多少分", "咱还剩几个分", "我攒了多少积分了"): points asked
# about as an amount held, without a deed (which would ask the rules: "扫雪加几分").
_HELD = re.compile(r"(还有|还剩|剩|有|攒了?|存了?|挣了?|一共|总共|现在)(多少|几多|几)(个)?(积|鸡)?分"
                   r"|(积|鸡)分(还有|还剩|有|剩|一共|总共|现在)?(多少|几个|几)"
                   # the household's rank ("俺家的积分放到全村排老几", "积分排第几")
                   r"|(积|鸡)分[^，,。？?]{0,8}排(到|在)?(老几|第几|多少|几名|哪)|(积|鸡)分[^，,。？?]{0,4}排名"
                   # ... the household's points said as "my family's points" ("我家的分排老几")
                   r"|(家|家里)(的)?分[^，,。？?]{0,6}排(到|在)?(老几|第几|多少|几名|哪)")
_OWNER = re.compile(r"俺|咱|我|额|自家|家里")
_OTHER = re.compile(r"他家|她家|他们家|人家|隔壁|隔篱|别人|邻居|这户|那户|\d+号|号户")  # 隔篱: Cantonese next door


_LOOK_UP = re.compile(r"(查|看|瞧|瞅|问问|报|念)(一下|一查|一看|查|看|瞧|瞅|下)?(俺|我|咱|额)?(家|们家)?(的)?(积|鸡)分")


def asks_points_look_up(text: str) -> bool:
    """"先帮俺查查积分", "看看俺家积分": the household's points, asked as a look-up."""
    flat = flat_text(text)
    return asks_own_balance(flat) or (bool(_LOOK_UP.search(flat)) and not _OTHER.search(flat))


_POINTS_ALONE = re.compile(r"^(俺家|我家|咱家|俺的|我的)?(积|鸡)?分(呢|咧|嘞|哩|数呢)$")


def asks_own_balance(text: str) -> bool:
    """The sentence asks how many points the speaker's household holds ("分呢？" said alone too)."""
    flat = flat_text(text)
    if _POINTS_ALONE.match(flat):
        return True
    if not _HELD.search(flat) or asks_points_rule(flat) or _OTHER.search(flat):
        return False
    return bool(_OWNER.search(flat)) or len(flat) <= 8


# Another household named in a points question ("隔壁周国强家多少分", "他家积分多少"): a name or
# a pronoun before 家, or a house number; not the speaker's own (俺家, 咱们家, 自己家).
_OWN_HOME = ("俺", "我", "咱", "自", "额", "自己", "俺们", "我们", "咱们", "大", "全", "国", "回", "在", "老人")
# "换袋米家去": home, said in Jiang-Huai words; Cantonese 屋企 (home: "吴丽华屋企")
_SOMEBODY_HOME = re.compile(r"([\u4e00-\u9fa5]{1,3})(?:家|屋企)(?!去|来)")


def names_other_household(text: str) -> bool:
    """The points question is about a household other than the speaker's."""
    flat = flat_text(text)
    if _OTHER.search(flat):
        return True
    for match in _SOMEBODY_HOME.finditer(flat):
        owner = match.group(1)
        if not any(owner.endswith(own) for own in _OWN_HOME):
            return True
    return False


_AMOUNT_OF_POINTS = re.compile(r"(多少|几个|几多|几|甚些|啥些|么些)(个)?(积|鸡)?分|(积|鸡)分.{0,3}(多少|几个|几)|分(数)?(多不多|高不高|有多少|咋样)")


def asks_others_balance(text: str) -> bool:
    """"隔壁老李家多少分": another household's points (answered: only one's own)."""
    flat = flat_text(text)
    return bool(_AMOUNT_OF_POINTS.search(flat)) and not asks_points_rule(flat) and names_other_household(flat)


# A deduction disputed ("扣了俺家5分，说俺乱倒垃圾，俺根本没倒，这个要申诉", "凭啥扣俺分"): the
# household's deductions, the latest explained and an appeal offered (never filed without a yes).
_DEDUCTED = re.compile(r"扣")
#: Words against a deduction ("不服", "凭啥", "俺根本没倒"), shared by the two readings below.
_AGAINST = (r"不服|不认|凭啥|凭什么|搞错|弄错|扣错|没倒|没烧|没扔|没吵|没干|没有倒|没有烧"
            # "on what grounds" in Hunan / south-western / Cantonese words, and "I never did" ("根本冒在屋里")
            r"|凭么子?|凭啥子|凭哪样|凭乜|根本(就)?(没|冇|冒|莫|没有|不在)|从来(就)?(没|冇|冒|莫|没有)|压根(儿)?(就)?(没|冇|不在)")
_DISPUTE = re.compile(rf"申诉|冤|为啥|为什么|咋扣|{_AGAINST}")


#: Disagreement with a deduction, not only a question about it ("为啥扣我分" asks the reason).
_APPEAL = re.compile(r"(?<![不别甭])(申诉|申个诉)")
_DISAGREES = re.compile(rf"{_APPEAL.pattern}|冤|{_AGAINST}|不合理|不公平|不应该扣|不该扣|扣得不对|(扣|罚|分)[^，,。]{{0,12}}(说道说道|讨个说法)"
                        r"|(说道说道|讨个说法)[^，,。]{0,12}(扣|罚|分)")


#: An appeal declined ("想想还是勿要申诉了", "不申诉了", "莫去申诉"): no wish to appeal.
_NO_APPEAL_WISH = re.compile(r"(不|别|甭|勿|覅|莫|冇|唔|没|休)(要|想|用|去|再|必)*(申诉|申个诉|申了|申哒|申啦)")


def disagrees_with_deduction(text: str) -> bool:
    """'凭啥扣俺分，俺没倒垃圾' disputes the deduction (an appeal is offered); '前两天咋又扣俺分了'
    only asks why (the reason is told, and how to appeal)."""
    return bool(_DISAGREES.search(_NO_APPEAL_WISH.sub("", flat_text(text))))


def disputes_deduction(text: str) -> bool:
    """The speaker disputes or asks about a deduction from their own household's points, or asks
    to appeal ("对，申诉" after being told how)."""
    flat = _NO_APPEAL_WISH.sub("", flat_text(text))
    return bool((_DEDUCTED.search(flat) and _DISPUTE.search(flat)) or _APPEAL.search(flat)) \
        and not asks_points_rule(flat) and not names_other_household(_OWN_OR_BLAMED.sub("", flat))


#: In a dispute, one's own household, and somebody else blamed ("点秸秆的是人家，又不是我").
_OWN_OR_BLAMED = re.compile(r"俺家|我家|是人家|人家(干|烧|倒|扔|点|弄|搞)的?"
                            r"|(是)?(隔壁|邻居|旁边|对门|别家|别人)(家)?[^，,。]{0,3}(干|烧|倒|扔|点|弄|搞|整|堆|丢|撂|放|泼)"
                            # where the speaker was that day ("那天我人都在城里闺女家"): an alibi
                            r"|(在|到|去|上|住)[^，,。]{0,5}家")


# Taking charge of an alert ("收到", "我这就过去", "好的我知道了，这就去赵淑珍家"): the staff
# member's own words for "I am on my way"; whether an alert is open is the action's to check.
_ACK = re.compile(r"收到|我(去|来)处理|(这就|马上|立马|立刻|现在就|这会儿就)(赶)?(过去|去|到|出发)|我过去|我去看看"
                  r"|(?<![横倒躺挡堵拦停扔撂堆摆放])在路上|已经出发|我到了|(这就|马上|立马|立刻|现在就)(往|到|去).{1,8}(跑|赶|去)(一趟)?"
                  r"|收着了|晓得了.{0,4}(去|赶)|(正|在|正在)(往|朝).{0,6}(赶|跑|去)|往那(边|儿|头)(赶|跑)"
                  # "我立马奔周大爷家去", "收着信儿了，立刻动身"
                  r"|(这就|马上|立马|立刻|现在就)(奔|赶往|赶到|动身|出门|过去看)|收着信|收到信"
                  # "瞧见了，马上骑车往赵丽华那儿赶", "晓得咯，我叫上他侄儿一起过去"
                  r"|(这就|马上|立马|立刻|现在就)[^，。,]{0,6}(往|到|去|奔)[^，。,]{0,10}(跑|赶|去|走)"
                  r"|(晓得|知道|明白|瞧见|看见|看到)(了|咯|啦|喽|哒)[，,。\s]*[^。]{0,12}(过去|赶过去|去一趟|赶到)"
                  # "我骑上车就往那边去": on the way there
                  r"|(我|俺)[^，。,]{0,6}(就|这就|马上)往那(边|儿|头|里)(去|赶|跑|走)")


#: Staff asking whether anybody is calling for help ("我片里现在可有人家在呼救"): the open alerts.
_ASKS_ABOUT_ALERTS = re.compile(r"(有没有|可有|有冇|有无|有人|谁家|哪家|哪户)[^，。,？?]{0,8}(呼救|求救|求助|喊救命|按了?(铃|按钮)|报警)"
                                r"|(呼救|求救|求助|报警)[^，。,]{0,4}(没有|吗|没|不|的有)")


def asks_about_alerts(text: str) -> bool:
    """A question whether anybody is calling for help (a query of the open alerts, never one)."""
    return bool(_ASKS_ABOUT_ALERTS.search(text or ""))


def acknowledges(text: str) -> bool:
    """The speaker takes charge of something they were alerted to."""
    return bool(_ACK.search(flat_text(text)))


# Where an answer comes from ("这是哪个文件说的", "有依据吗", "你咋知道的"): a question about the
# source; "办下来有啥子好处" (what the model may hear as one) asks about the policy itself.
_SOURCE = re.compile(r"文件|依据|出处|来源|根据|规定|哪来|哪儿来|从哪|谁说|谁定|哪个部门|原文|靠谱|准不准|咋知道|"
                     r"怎么知道|红头|定的|查的|看到的|空口|说的|写的|哪里说|哪说|哪儿说")


def asks_source(text: str) -> bool:
    """The sentence asks where the last answer comes from."""
    return bool(_SOURCE.search(flat_text(text)))


# Words that say something is wrong (broken, leaking, blocked, unfair, no power …): a question
# that also contains one of these describes a problem the person may want to report.
_TROUBLE_WORDS = ("坏", "漏", "裂", "塌", "断", "堵", "倒灌", "淹", "脏", "臭", "吵", "偷", "占了", "欠", "不给",
                  "不公", "有意见", "没人管", "不管", "歪", "危险", "掉了", "烂", "冒烟", "乱倒", "乱扔", "呛", "熏",
                  "天天烧", "乱烧", "乱堆", "乱搭", "占", "越界", "不听", "骂", "欺负", "纠纷", "拖欠", "跑了", "没给",
                  "垮", "大坑", "大沟", "陷下去", "砌过来", "盖过来", "挪过来", "往我家这边", "往俺家这边",
                  # leaning, loose, bulging, seeping ("电线杆斜得厉害", "护栏松了")
                  "斜", "松了", "松动", "晃悠", "鼓包", "冒水", "渗水", "往外冒", "没盖", "缺了",
                  # come off, will not close or open ("门板脱落了，合不拢"); burst ("水管崩了")
                  "脱落", "掉下来", "合不拢", "关不上", "锁不上", "打不开", "关不严", "崩了", "爆了", "炸了",
                  # welling over, a stench ("化粪池冒了，满院子都是那股味")
                  "冒了", "溢出", "漫出", "漫到", "那股味", "一股味", "怪味", "臭味",
                  # cheated or left out ("医保卡被刷了…这不是骗人嘛", "我们这破房子倒没份")
                  "骗人", "骗钱", "骗保", "坑人", "冒领", "冒用", "盗刷", "没份", "没我们的份", "没俺的份",
                  # charged twice or too much, and denied ("收了我两回钱，找他他还不认账")
                  "不认账", "赖账", "多收", "乱收费", "收了两回", "收了两次", "收两回", "收两次", "重复收",
                  # left out while others are favoured ("他家有车有楼都吃得低保，我家…反而评不上")
                  "评不上", "评不到", "轮不上", "轮不到", "有车有楼", "凭啥他", "凭什么他",
                  # a light still out ("那盏路灯咋还黑着")
                  "黑着", "还不亮",
                  # money owed and held back ("补偿款拖到如今还没到手")
                  "没到手", "拖到", "拖着不", "迟迟不", "克扣", "扣下了", "没发下来",
                  # noise that keeps people awake ("野猫半夜叫唤，孩子睡不着")
                  "睡不着", "叫唤", "闹腾", "吵人",
                  # a hazard left open ("电线头子露在外头")
                  "露在外", "露出来", "裸露", "漏电", "没遮", "没护栏",
                  # animals or people spoiling a crop ("羊钻到菜园子里，把白菜啃了个精光")
                  "啃了", "啃光", "精光", "糟蹋", "祸害", "拱了", "踩坏", "偷吃",
                  # rubbish nobody collects ("垃圾池都堆冒尖了，几天都不见人收")
                  "冒尖", "堆满", "没人收", "不见人收", "没人清", "没人拉", "没人来收",
                  # filth and dogs let loose ("墙根儿底下一溜儿全是狗屎，谁家的狗也不拴着")
                  "狗屎", "粪便", "不拴", "没拴", "污水", "脏水", "满地都是",
                  # money that never came, taken on the way ("半年了一分没到，肯定是叫谁截下了")
                  "截下", "截留", "截走", "私吞", "贪污", "一分没到", "一分钱没到", "一分都没到",
                  # a cover pried off and sold, someone who may fall in ("井盖叫人撬去卖废铁了")
                  "撬去", "撬走", "叫人撬", "让人撬", "被撬", "栽进去", "掉进去", "横在路上", "挡在路上",
                  # a dog that goes for people ("狗老窜出来咬人")
                  "咬人", "追着咬",
                  # rubbish nobody comes to clear, flies ("一个礼拜没人来清，苍蝇乱飞")
                  "没人来清", "没人来拉", "苍蝇乱飞", "苍蝇满天")
_TROUBLE = re.compile(r"停.{0,4}(电|水)|没(电|水)(?!费|钱|平|准|表|工|器|瓶)|不亮|黑灯瞎火|不出水|断水|断电|冲(出|垮|坏|毁|断|走|没|空|塌)"
                      # a hazard someone nearly came to harm by ("一地的碎玻璃…差点扎了脚")
                      r"|差点(儿)?(扎|摔|绊|掉|砸|撞|滑|戳|割|淹|电)|碎玻璃|玻璃碴"
                      # a cadre's relative favoured ("补贴让村干部他小舅子拿去了")
                      r"|(村干部|干部|支书|书记|主任|组长|会计)[^，,。]{0,4}(亲戚|小舅子|舅子|兄弟|侄子|儿子|闺女|女婿|连襟|家里人)"
                      # something fallen across the way ("五组路口那棵大树倒了，把路都拦了")
                      r"|(树|墙|杆|牌|棚|房|屋)[^，。,]{0,4}倒了|(拦|挡|堵)(住|了)(路|道)|把(路|道).{0,2}(拦|挡|堵)")


#: Where to go and say it, whom to tell ("这种事该上哪儿去说", "该跟谁反映"): a question, not a request
#: to file (its 反映 asks for nothing).
_WHOM_TO_TELL = (r"(上|到|去)(哪|哪儿|哪里|哪个地方|啥地方)(去)?(说|讲|反映|告|评理|投诉)"
                 r"|(跟|和|向|对|同)(谁|哪个|哪位)(说|讲|反映|投诉|提)")
_ASKS_TO_FILE = re.compile(r"报上去|报一下|报给|上报|(帮|给|替)(我|俺|咱)(们)?(报|递|反映|交)|反映|递上去|交上去|投诉|登记一下"
                           # told on someone's behalf ("我是她外孙女，替我外婆说一下，…")
                           r"|替[^，,。？?]{0,6}(说|讲|报|反映)(一下|一声|下)")


# A wish for information or a service said without a question word ("房子裂了，想申请危房改造"):
# not a bare complaint.
_WANTS_SERVICE = re.compile(r"申请|想办|想领|想问|想了解|想知道|打听|咨询")


def complains_without_asking(text: str) -> bool:
    """'前年村里征地，给俺家的补偿款拖到如今还没到手': a problem told, nothing asked or wanted
    but to have it dealt with — a report, even when the model hears a policy question."""
    return reports_problem(text) and not asks_question(text) and not _WANTS_SERVICE.search(text or "")


# A complaint said as one ("这事我不服，得反映", "俺得投诉"), whatever policy it names.
_WANTS_TO_COMPLAIN = re.compile(r"(得|要|想|必须|非得|非要)(去|找人)?(投诉|告状|举报|上访)|(得|要|非得|必须)(去|找人)?反映"
                                r"|不服|有意见|讨个说法|要个说法|给个说法|讲不通|说不通|没道理|不讲理|不合理|(我|俺|咱)(要|得|想)(给|跟|向)?(村里|上面|你们)?提(出来|上去|一提)"
                                # "跟你们反映一下，…" / "向村里反映个事": the opening of a report
                                r"|^(我|俺|咱)?(跟|给|向|和|同)(你们|您|你|村里|村上|上面|领导|政府)反映(一下|个事|点事|件事|个情况|点情况)"
                                # taking it higher up ("我非得把这事捅上去", "要把这事闹到镇上")
                                r"|(非得|非要|一定要|必须|得|要)把(这|这个|这件|那|那个)?(事|事儿|事情|情况)?(捅|闹|告|反映|报)"
                                r"(上去|到上面|到上头|到镇|到乡|到县)|捅(上去|到上面|到上头|到镇|到乡|到县)")


# Asking how a report made earlier is going ("前阵子反映垃圾桶那档子事，如今弄到哪步啦"): an earlier
# report referred to, and a question of progress.
_EARLIER_REPORT = re.compile(r"(前阵子|前些天|前几天|前两天|前些日子|前段时间|前一阵|上回|上次|之前|早先|前头|上个?(礼拜|星期|周|月))"
                             r"[^，,。？?！!]{0,8}(反映|报|说|讲|提|登记|投诉)(过|了)?的?"
                             r"|(反映|报|说|提|登记)(过|了)的(那|这)|(我|俺|咱)(家)?(反映|报|提|登记|投诉)(过|了)?的")
_PROGRESS = re.compile(r"(弄|办|搞|整|处理|修)到(哪|啥|什么)(一)?步|到(哪|啥)(一)?步了?|(咋|怎么|怎)样了|进展|进度"
                       r"|有(没有)?(信|动静|回音|下文|消息)(了)?(没|吗|冇|不)?$"
                       r"|(弄|办|修|处理|解决)(好|完)(了)?(没|没有|吗|不|冇|啵)|有人(来)?(管|修|弄|处理|看)(了)?(没|吗|冇|不)"
                       r"|(修|弄|办|处理|解决|管|换)了(没|吗|冇|不曾)")


def asks_report_status(text: str) -> bool:
    """'前阵子反映垃圾桶那档子事，如今弄到哪步啦': how an earlier report is going (an earlier report
    referred to in one clause, progress asked)."""
    clauses = [c for c in re.split(r"[，,。？?！!；;…\s]+", text or "") if c]
    return any(_EARLIER_REPORT.search(c) for c in clauses) and any(_PROGRESS.search(c) for c in clauses)


_LAST_CLAUSE = re.compile(r"[^，,。.!！?？；;…]+[，,。.!！?？；;…]*$")


def last_words(text: str) -> str:
    """The last clause of a sentence, read after its closing marks are stripped ('' for none)."""
    last = _LAST_CLAUSE.search((text or "").strip("，,。！!？? "))
    return last.group() if last else ""


def wants_to_complain_last(text: str) -> bool:
    """A complaint said as the last words ("钱咋花的一张纸都不贴，我要投诉"), whatever was asked on the way."""
    last = _LAST_CLAUSE.search((text or "").strip())
    return bool(last) and bool(_WANTS_TO_COMPLAIN.search(last.group())) and not asks_question(last.group())


def wants_to_complain(text: str) -> bool:
    """'地力补贴…少算了三亩，这事我不服，得反映': a complaint to report, not a policy question; said
    as the last words ("钱咋花的一张纸都不贴，我要投诉"), whatever was asked on the way."""
    if wants_to_complain_last(text) or (asks_to_file_last(text) and bool(_WANTS_TO_COMPLAIN.search(text or ""))):
        return True  # "…，我对这个有意见，给我登记上": the complaint and the report asked for, last
    return bool(_WANTS_TO_COMPLAIN.search(text or "")) and not asks_question(text)


#: A report asked for as the last words ("…给我登记上", "…帮我往上报", "…我要投诉"): filed, whatever
#: was asked on the way, and never a follow-up question.
_FILE_IT_LAST = re.compile(r"(给|帮|替)(我|俺|咱)(们)?(往上|往村里|往镇上)?(登记|记|报|反映|递|交)(上|上去|一下|下|反映)?"
                           r"(吧|呗|啊|嘛|撒|哈)?$|(登记|报|反映)(上|上去)(吧|呗)?$|我要(投诉|举报|反映)$")


def asks_to_file_last(text: str) -> bool:
    """A report asked for as the last words of the sentence (see ``_FILE_IT_LAST``)."""
    return bool(_FILE_IT_LAST.search((text or "").strip("，,。！!？?；;… ")))


def asks_to_file(text: str) -> bool:
    """'中，那你给俺报上去': the reply asks for the problem to be reported."""
    return bool(_ASKS_TO_FILE.search(re.sub(_WHOM_TO_TELL, "", text or "")))


def reports_problem(text: str) -> bool:
    """'房子漏得厉害，这个改造补助怎么申请' reports a problem as well as asking; '低保怎么申请'
    does not."""
    text = text or ""
    # an accusation ("…刷了好几回药，我一回都没去拿过，这不是骗人嘛") is a complaint about something
    return any(word in text for word in _TROUBLE_WORDS) or bool(_TROUBLE.search(text)) or bool(_ACCUSING.search(text))


_QUESTION = re.compile(r"[?？]|多少|几分|(?<![好十这前过那头上么])几个|吗|嘛$|么$|(?<!着)呢$|啥|什么|咋|怎么|怎样|能不能|会不会|是不是|要不要|算不算"
                       r"|找谁|问谁|谁管|谁能|请谁|叫谁|让谁|谁来|谁给|谁帮|去哪|上哪|到哪|在哪|哪里|哪儿|多久|多长时间|几时"
                       # who decides ("村里大事到底谁说了算"); Jiang-Huai 哪块 (where: "这事找哪块要去")
                       r"|谁说了算|哪块|寻谁|寻哪个|几成|多少成"
                       # which day ("那他哪天来村里")
                       r"|哪(一)?(天|日|年|月|号|会儿|阵)|(礼拜|星期|周)几"
                       # whom to tell ("这种事该跟谁反映")
                       rf"|{_WHOM_TO_TELL}"
                       # "要几天里头办好" asks; "好几天了", "十几岁", "这几年" tell
                       r"|(?<![好十这前过那头上])几(?:天|年|岁|号|月)(?!都|了|没|不|也|还|以来)"
                       r"|可不可以|有没有|行不行|中不中|不[呀啊哩嘞咯哦噻撒]?$|没有?[呀啊哩嘞咯哦噻撒]?$"
                       # "管了没管", "修了没修": a verb asked as A-了没-A; a rank asked ("排老几", "第几")
                       # ("这都第几回了" is a complaint, not a question)
                       r"|(?P<done>[\u4e00-\u9fa5])了?没(?P=done)|排(到|在)?(老几|第几)|第几名|老几(?=$|[呢啊呀])"
                       # "还给不给", "管不管": a verb asked as A-not-A; "该找哪个", "哪个部门"
                       r"|(?<!不)(?P<verb>[\u4e00-\u9fa5])[不唔冇](?P=verb)|哪个|哪位|哪家|哪天|哪样"
                       # regional question words: Xiang 么子, Cantonese 咩 / 乜 / 边度 / 边个 / 点样 / 几多 /
                       # 有冇 ("要唔要抵押", "去边度办"), northern 多会儿
                       r"|么子|咩|乜|边度|边个|边处|点样|点解|几多|有冇|多会儿?"
                       # Gan / Hubei "how" ("嘛格办咯", "么格搞")
                       r"|(嘛|么)(格|个)(办|搞|弄|整|回事)"
                       # Wu 哪能 (how: "残疾证哪能去办")
                       r"|哪能(去)?(办|弄|报|申请|领|交|搞)"
                       # Wu 伐 closing a question ("有规定伐")
                       r"|伐$|冇[呀啊咯哦]?$"
                       # "is there no other way" ("报完了还差好几万，就没别的路子了")
                       r"|(没|没有|冇|莫得|没得)(别的|其他|其它|旁的)(路子|办法|法子|招|门路|出路)")


# Asking to look something up ("查一下", "瞅瞅", "帮我瞧瞧").
_LOOK = r"(帮我|给我|你)?(查查?|查一下|查下|看看|看一下|瞅瞅|瞅一下|瞅一眼|瞧瞧|瞧一下|翻翻|调出|调一下)"
# A house number said on its own ("七号", "16号户", "十六号那家"): staff asking for that household.
_HOUSE_NUMBER = re.compile(rf"^{_LOOK}?{HOUSE_DIGITS}号(户|家|那家|那户|的情况|家的情况)?(呢|吧)?$"
                           # "六十五号屋里啥情况么，给我说一哈", "七号户咋样了": how that household is doing
                           rf"|^{_LOOK}?{HOUSE_DIGITS}号(户|家|那家|那户)?(屋里|家里|那边|那儿)?(现在|最近|眼下)?(是)?"
                           r"(啥|什么|咋个)?(情况|咋样|怎么样|咋个样)(了)?(么|呢|啊|呀|嘛)?"
                           r"(给我|跟我|给俺|跟俺)?(说|讲|念)?(一哈|一下|一声|说|讲|下)?(呗|吧|嘛)?$"
                           # "十二号户是谁家", "15号住的是哪家": whose house it is
                           rf"|^{HOUSE_DIGITS}号(户|院|院子)?(是|住的是?|住着)(谁家|哪家|谁|哪个|哪一家|哪户)(的|人)?(呀|啊|呢|来着)?$")


# A look-up by the head's name ("查一下李满仓家", "瞅瞅周满仓家的情况"): nothing to log, no visit said.
_NAME_LOOKUP = re.compile(rf"^{_LOOK}[\u4e00-\u9fa5]{{2,3}}(家|那家|那户|这户)(的情况|的信息|的底子)?(呢|吧)?$"
                          # "黄志明家现在咋样": how a household is doing, asked by its head's name
                          rf"|^{_LOOK}?(?![我俺咱你])[\u4e00-\u9fa5]{{2,3}}(家|那家|那户|这户|那边|那儿)(现在|最近|眼下|这阵子?|这些天)?(的)?(情况)?"
                          r"(咋样|怎么样|怎样|如何|啥情况|什么情况|好不好|还好吧)(了)?(呢|吧|啊|哇)?$")


#: Where a named household lives ("陈春生住哪个门牌来着", "李桂芳家是几号"): a look-up by name.
_WHERE_LIVES = re.compile(r"^[\u4e00-\u9fa5]{2,3}(家)?(是|住|在|住在)(哪个门牌|哪个门|几号|多少号|门牌(号)?(是)?多少|哪一户|哪户|哪个组|哪一组|哪组)")


def asks_where_lives(text: str) -> bool:
    """'陈春生住哪个门牌来着': the number of a household asked by its head's name."""
    return bool(_WHERE_LIVES.search(flat_text(text)))


def looks_up_by_name(text: str) -> bool:
    """The sentence only asks to look a household up by its head's name."""
    return bool(_NAME_LOOKUP.match(flat_text(text)))


# ... or the number alone ("38", "五十二"), when nothing asked for a number or a choice.
_BARE_NUMBER = re.compile(rf"^{HOUSE_DIGITS}(呢|吧|啊)?$")


def says_house_number(text: str) -> bool:
    """The sentence is a house number and nothing else (a look-up asked the short way)."""
    flat = flat_text(text)
    return bool(_HOUSE_NUMBER.match(flat) or _BARE_NUMBER.match(flat))


# A question about a household's details ("屋里住着几个人", "他家几口", "啥颜色的户", "户主叫啥"),
# which follows a look-up; no sign that somebody needs help.
_HOUSEHOLD_DETAIL = re.compile(r"几(个)?(口|人)|多少(口|人)|人口|住着|住了|户主|颜色|啥色|什么色|哪(一)?组|电话|"
                               rf"多大(岁数|年纪)|几岁|(今年|现在|本人|他|她)(有)?多大|多大了|高寿|哪年(生|出生|生的)|{LIVING_ALONE}|走访|积分|分数|哪种户|啥户|什么户|"
                               r"[红黄绿]的|[红黄绿]色|放心户|关心户|连心户|分(还)?(有|剩)(几|多少)|(几|多少)(个)?分"
                               # a size checked ("家里就两个人吧", "是三口人吗")
                               r"|[一两二三四五六七八九十\d](个|口)人?(吧|吗|嘛|是吧|对吧|是不是|对不对)")
_HELP_NEEDED = re.compile(r"救|摔|晕|倒了|起不来|不行了|喘|血|火|疼|痛|快来|赶紧|出事")


#: Words that ask for people or households by name ("有哪些", "都有谁", "谁家"): staff work,
#: whatever a policy text explains.
ASKS_FOR_PEOPLE = re.compile(r"有哪些|哪些户|哪些人|都有谁|有谁|是谁|谁家|哪家|哪几家|哪几户|哪户|名单"
                             # Shanxi / north-western "what (people)" ("五组有甚老汉是独个儿住的")
                             r"|有甚|有啥人|有哪个|有哪几个")


#: What a staff list is of: a care colour (said as a plate too: "挂了黄牌子的"), living alone, a
#: group, a grid, a patch of one's own.
_LIST_OF = re.compile(rf"(红|黄|绿)(色|牌|户|的)|连心|关心户|放心户|{LIVING_ALONE}|[一二三四五六七八九十\d]组|网格|(那|这|我那|我这)片")


def asks_for_a_list(text: str) -> bool:
    """"我那片挂了黄牌子的是谁家": the households of a kind asked for by name (a staff list)."""
    flat = flat_text(_INDEFINITE.sub("", text or ""))  # "不知道谁家的狗…": somebody, no list asked
    return bool(ASKS_FOR_PEOPLE.search(flat)) and bool(_LIST_OF.search(flat))


# Who handles a problem ("这个理该找哪个评", "这种事该找谁"): a question for the knowledge base.
_WHO_HANDLES = re.compile(r"(找|问|请|寻)(谁|哪个|哪位|哪里|哪儿|什么人|啥人|哪个部门|哪家|么子人|么人|哪些人|啥部门|哪个单位|边个|哪块)"
                          # who decides it ("这事该归谁来断", "谁能给评评理")
                          r"|(归|由)(谁|哪个|哪位|哪家)(来)?(断|管|处理|评|定|说了算|解决)"
                          r"|(谁|哪个|哪位)(能|来|可以|会)(给|帮)?(我|俺|咱)?(们)?(评|断|调解|说和|做主|主持公道)"
                          rf"|{_WHOM_TO_TELL}")


# Asking to have something explained ("你给讲讲三线联系", "说说啥是红白理事会"): a question.
_EXPLAIN = re.compile(r"讲讲|说说|介绍(一下|介绍)?|解释|是啥|是什么|啥意思|什么意思|咋回事|怎么回事")


_WHAT_IT_IS = re.compile(r"啥是|什么是|是(干|做)(啥|什么)的?|是啥|是什么|啥意思|什么意思")


def asks_to_explain(text: str) -> bool:
    """The speaker asks for something to be explained (answered from the knowledge base), not
    for a person: "你给讲讲三线联系", "啥是网格员" (a role named in what is asked about)."""
    flat = flat_text(text)
    return bool(_EXPLAIN.search(flat)) and (bool(_WHAT_IT_IS.search(flat)) or not asks_for_a_person(flat))


def asks_who_handles(text: str) -> bool:
    """The speaker asks whom to go to about something, not to be put through to a person."""
    return bool(_WHO_HANDLES.search(flat_text(text)))


# Asking for a person ("我要找网格员", "让人给我回个电话", "转人工", "叫个人来一趟").
_WANTS_PERSON = re.compile(r"人工|真人|(找|叫|来|派)(个)?人|网格员|村干部|干部|书记|主任|(打|回)(个)?电话|联系我|来一趟|上门|当面")


def asks_for_a_person(text: str) -> bool:
    """The speaker wants a person to talk to or to come, not an answer."""
    return bool(_WANTS_PERSON.search(flat_text(text)))


#: Words that name a report made ("我报的", "诉求", "260104").
_REPORT_NAMED = r"诉求|反映|投诉|举报|报的|报过|报了|工单|编号|单号|\d{6}"


def names_a_report(text: str) -> bool:
    """The sentence names a report made ("我报的那个", "诉求", "260104"), whatever else it asks."""
    return bool(re.search(_REPORT_NAMED, flat_text(text)))


# Words about a report already made ("我报的", "诉求", "260104", "修好了没"): a status question.
_ABOUT_A_REPORT = re.compile(rf"{_REPORT_NAMED}|到哪(一)?步|到哪(儿)?了|进展|进度|有人管|有信|动静"
                             r"|有人(来)?(管|修|弄|处理)(了)?(没|吗|冇|不)"
                             r"|(修|弄|办|处理|解决)(好|完)|(修|弄|办|处理|解决|管|换)了(没|吗|冇)")


def about_a_report(text: str) -> bool:
    """The sentence is about a report made before (its number, its progress, the word 诉求)."""
    return bool(_ABOUT_A_REPORT.search(flat_text(text)))


def asks_household_detail(text: str) -> bool:
    """A question about the household just looked up, with no sign of an emergency."""
    flat = flat_text(text)
    return bool(_HOUSEHOLD_DETAIL.search(flat)) and not _HELP_NEEDED.search(flat)


# "Somebody, who knows who" ("不晓得哪家的羊钻到我菜园子里", "不知道让谁给弄走了"): an indefinite,
# not a question.
_INDEFINITE = re.compile(r"(不晓得|不知道|不知|不清楚|也不知|谁知道|肯定|准是|八成|指定|保准|怕是|估计|兴许|多半)(是)?"
                         r"((让|被|叫|给)(谁|哪个|哪家)|哪家|谁家|哪个|哪位|什么人|啥人|哪里来的|哪来的|哪儿来的)")


# An accusation said as a question ("这不是骗人嘛", "这不是欺负人吗"): nothing is asked.
_ACCUSING = re.compile(r"(这|那|这样|这么|这还)?(不是|不就是|不明摆着|明摆着|分明|分明是)[^，。,？?]{0,4}(骗人|骗钱|坑人|欺负人|胡来|乱来|瞎搞|糊弄人|明抢|耍赖|骗子)"
                       r"(嘛|吗|么|呢|哩|嘞)?[？?]?")


def asks_question(text: str) -> bool:
    """'烧秸秆要扣多少分' / '这不是要扣分吗' ask; '给8号户加5分，义务清扫' tells; '这不是骗人嘛'
    accuses."""
    return bool(_QUESTION.search(_ACCUSING.sub("", _INDEFINITE.sub("", (text or "").strip()))))


# Staff work the queue by voice: "260101办结了 路灯已经换好了". Checked in order: "不受理"
# must be read as a rejection before "受理" is read as accepting.
STAFF_VERBS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("reject", ("不受理", "退回", "驳回", "打回", "退了")),
    ("escalate", ("上报", "报上去", "报给", "转给", "转到", "往上报", "往村里报", "往村上报", "往镇里报", "往镇上报",
                  "报村里", "报到村", "报镇上", "报到镇", "交给村", "交给镇", "交村里", "报上级", "报到村里去",
                  "报到村里", "报到镇上去", "报到镇上", "报到镇里", "报村里去", "报镇上去", "往村里头报", "报到村里头",
                  "往镇里头报", "报村里头")),
    ("resolve", ("办结", "办好", "办完", "处理完", "处理好", "搞定", "完事", "修好", "结案", "了结", "可以结", "能结",
                 "结了", "结掉", "摆平", "解决了", "关单", "结单", "销号", "清运完", "可以关")),
    ("note", ("进展", "备注", "更新", "补充", "进度", "情况")),
    ("accept", ("受理", "接了", "接手", "我来办", "接单", "开始办")),
)
_TICKET = re.compile(r"(?<!\d)\d{6}(?!\d)")


def commands_ticket(text: str) -> bool:
    """A staff command on a ticket ("260104广场舞那事压不住，报到村里去"): a six-digit ticket
    number and a verb of working it, and no question."""
    text = with_spoken_digit_runs(text)  # "二六零一零二那个…结掉吧"
    return bool(_TICKET.search(text)) and not asks_question(text) \
        and any(verb in text for _, verbs in STAFF_VERBS for verb in verbs)


#: The verbs of working a ticket that only staff say ("办结", "受理", "退回", "往村里报"): with them a
#: ticket may be named by what it is about ("三组垃圾桶老满那一件…我打算给它办结").
_STAFF_ONLY_VERBS = re.compile(r"办结|结案|结掉|结单|销号|关单|(?<!不)受理|退回|驳回|打回|往(村|镇)(里|上)(头)?报|报到(村|镇)|报(给)?(村|镇)(里|上)"
                               r"|接手|我来办|(改成|改为|算)在办")
#: A ticket named by its subject: "…那一件", "…那档子事", "…那个事", "…那单".
_NAMED_BY_SUBJECT = re.compile(r"(那|这)(一)?(件事儿?|件|档子事儿?|档事|桩事|桩|单子?|个单子|个事儿?|事儿?)|的单子")


def ticket_subject_said(text: str) -> str:
    """The words that name the ticket by its subject, up to "那件" ("三组垃圾桶老满那一件，保洁员讲都清完了"
    → "三组垃圾桶老满那一件"); '' when none."""
    found = _NAMED_BY_SUBJECT.search(text or "")
    return (text or "")[:found.end()] if found else ""


def commands_ticket_by_subject(text: str) -> bool:
    """A staff command on a ticket named by what it is about, not by its number ("三组垃圾桶老满
    那一件，保洁员讲都清完了，我打算给它办结"): a staff verb, the matter pointed at, no question."""
    text = text or ""
    return not _TICKET.search(with_spoken_digit_runs(text)) and bool(_STAFF_ONLY_VERBS.search(text)) \
        and bool(_NAMED_BY_SUBJECT.search(text)) and not asks_question(text)


# Staff awards: the points said ("加5分", "记上十分") and a quantity delivered ("塑料瓶三十个",
# "废纸五公斤", for the rules by quantity).
AWARDED_POINTS = re.compile(rf"(加|扣|减|记|奖励?|给|罚|添)(?:上|了|个|他|她|他家|她家|他们家|她们家)*\s*([{NUMERAL_CHARS}\d]{{1,4}})\s*分")
DELIVERED_QUANTITY = re.compile(rf"([{NUMERAL_CHARS}\d]{{1,5}})\s*(个|斤|公斤|千克|袋|瓶|只|捆|箱)")


# Points booked by the rule's name, without a number ("按调解给她家加分", "记一次义务清扫"); a
# visit logged ("记一次走访") is not an award.
# A penalty told by its verb at the end ("照规矩扣", "这回得扣", "该罚他家").
_PENALTY_SAID = re.compile(r"((照|按)(着)?(村里|村上|咱村|咱们村)?(的)?(规矩|规定|村规民约|村规|规约|章程)|得|该|要|就)(给|把)?(他|她|他家|她家|他们家)?(扣|罚)"
                           # "照规矩扣他家的分"
                           r"(分|他|她|他家|她家|他们家|的|一下|了|吧|掉)*$")
AWARD_SAID = re.compile(r"(加|记|奖励?)(个|上|了|点|些)?分|把分(给)?(加|记)|分(给)?(他|她|他家|她家)?(加|记)(起|上|起来)|记(一次|一回|一笔|上一笔)|按(照)?[^，,。]{1,6}(给|加|记)"
                        r"|给(他|她|他们|他家|她家)(把分)?(加上|记上)"
                        # a custom the council confirmed ("…彩礼没要，大席也没摆，理事会那边认了")
                        r"|(理事会|评议会|村里|村委)[^，,。]{0,4}(认了|认可|确认了|核实了|同意了)"
                        r"|照(着)?[^，,。]{0,4}(那条|规矩|规定)[^，,。]{0,3}(给|加|记)"
                        rf"|{_PENALTY_SAID.pattern}")


#: "Whatever is due" said as the order ("该扣多少扣多少", "该加几分就加几分"): booked by the rule, no question.
_AS_DUE = re.compile(r"(该|应该|应当)(扣|罚|加|记)(多少|几分|几个)(分)?(就)?(扣|罚|加|记)(多少|几分|几个)(分)?")


def _without_as_due(text: str) -> str:
    return _AS_DUE.sub("", text or "")


#: ... or as an order of its own after the story, verb first ("…，该罚就罚，扣他家分"); matched from
#: the clause's start, so that "先不扣他家分" is no order.
_PENALTY_ORDER_LAST = re.compile(r"(就|得|该)?(扣|罚)(他|她|他家|她家|他们家)(的)?(分|款)?(吧|了|呗)?$")


def _penalty_ordered_last(text: str) -> bool:
    """The last clause is a penalty ordered verb first (``_PENALTY_ORDER_LAST``)."""
    last = _LAST_CLAUSE.search((text or "").strip())
    return bool(last) and bool(_PENALTY_ORDER_LAST.match(last.group().strip("，,。.!！?？；;… ")))


def tells_penalty(text: str) -> bool:
    """'二十五号…又把垃圾往河沟里倒，这回得扣': a penalty to book (or, from a villager, a report)."""
    flat = flat_text(text)
    said = _PENALTY_SAID.search(flat) or any(m.group(2) in "扣罚" for m in _AS_DUE.finditer(flat)) \
        or _penalty_ordered_last(text)
    return bool(said) and not asks_question(_without_as_due(text))
_VISIT_SAID = re.compile(r"走访|看望|探望|去了|上门")


def tells_award(text: str) -> bool:
    """'56号陈春生家送来塑料瓶三十个' / '给8号户加5分 义务清扫' / '记一次义务清扫' tell points to
    book (the rule is the caller's to find), not a question about the household."""
    text = text or ""
    said = AWARDED_POINTS.search(text) or DELIVERED_QUANTITY.search(text) or _AS_DUE.search(text) \
        or (AWARD_SAID.search(text) and not _VISIT_SAID.search(text))
    if said and not asks_question(_without_as_due(text)):
        return True
    # the order said as the last words after a story that wonders on the way ("…冇她还不晓得要闹成
    # 么子样，给她家加分咯"): the last clause is what is asked for
    last = _LAST_CLAUSE.search(text.strip())
    said_last = bool(last) and bool(AWARD_SAID.search(last.group()) or AWARDED_POINTS.search(last.group())
                                    or _penalty_ordered_last(text))
    return bool(last) and last.start() > 0 and said_last \
        and not _VISIT_SAID.search(last.group()) and not asks_question(_without_as_due(last.group()))


# A visit told as done ("刘丽华那户二十六号，我才走访完，老人家气色挺好", "刚从8号家看望回来"): a
# visit to log, not a look-up of the household.
_VISIT_DONE = re.compile(r"(走访|看望|探望|上门)(了|完|过)|(才|刚|刚刚|今天|上午|下午)(去)?(走访|看望|探望|去看)"
                         # "刚上杨丽华家那旮旯转了一圈": a round made at a household
                         r"|(上|去|到)[^，,。]{1,12}(家|那|那儿|那边)[^，,。]{0,4}(转|走|串)了(一|个)?(圈|趟|遍|门)"
                         r"|从[^，,。]{1,8}(家|那儿|那里|那边)(走访|看望|看)?[^，,。]{0,2}(回来|出来)"
                         # "到刘丽华屋里去了一趟", "张翠花那儿我去过了": been to the household
                         r"|(家|屋里|屋头|家里|那儿|那里|那边|那块)[^，,。]{0,2}((去|走)(了)?(一趟|一回|一遭)|去过)")


def tells_visit(text: str) -> bool:
    """A staff member says a visit was made (the household and the note are the action's to read)."""
    return bool(_VISIT_DONE.search(text or "")) and not asks_question(text)


# Asking for slower speech ("你说慢点，俺没听清", "讲得忒快了"): said again, slowly.
_SLOWER = re.compile(r"慢(点|些|一点|一些|着点)|太快|忒快|快了|说慢|讲慢|听不过来|跟不上|慢慢说|慢慢讲")


def wants_slower(text: str) -> bool:
    """The speaker asks the assistant to speak more slowly."""
    return bool(_SLOWER.search(flat_text(text)))


# "还要", "还有吗", "接着说" said when nothing is left to read out: more of nothing.
_MORE = re.compile(r"^(还要|还有吗?|还有呢|还有没有|继续|接着说|接着念|往下说|往下念|下一个|后面呢|然后呢|再来)(啊|呀|吧|嘛|呢)?$")


def asks_for_more(text: str) -> bool:
    """The speaker asks for the rest of something (a list, an answer) — with nothing pending."""
    return bool(_MORE.search(flat_text(text)))
