"""Emergencies (救命, 摔倒了, 着火了): handled before anything else, and followed to the end.

The response loop: **alert → acknowledged → on site → closed**, each step with when and who
(columns on :class:`~bot.models.EmergencyEvent`).

* :func:`raise_alarm` records the event and alerts the household's first responder at once (its
  三线 contact, else its grid leader, else the village admin), and every relative linked to the
  household (子女在外).
* :func:`acknowledge` — any responsible person (the alerted one, a grid worker or group leader of
  the household's grid, the village admin, the township's staff) takes charge. The first one
  wins (a conditional UPDATE); the caller's household is told at once who is coming ("王秀兰已经
  收到，正在赶过去", outbox kind ``caller_update``), relatives are told, and the others who were
  alerted hear that somebody has it.
* :func:`arrive` (on site) and :func:`close` complete it; relatives are told each time.
* :func:`escalate_unacknowledged` (scheduler job) is the escalation chain: after
  ``settings.emergency.ack_minutes`` the group leader and the village admin are alerted too (step 1),
  after ``township_minutes`` the township duty officer (step 2). Each step is taken once, however
  many schedulers run: rows are locked FOR UPDATE SKIP LOCKED and every step is a conditional
  UPDATE on ``escalation_step``.
* :func:`response_report` — response times against the 30-minute target per grid and month.
"""
from __future__ import annotations

import datetime as dt
import re
import statistics
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.clock import local_date
from bot.config import EmergencySettings, load_settings
from bot.identity import (
    AccessDenied,
    area_name,
    Actor,
    audit,
    relative_household_ids,
    relatives_of,
    serves_township_of,
    system_actor,
    township_duty,
    village_admin_id,
    responsible_worker_id,
)
from bot.models import EmergencyEvent, Household, OutboxMessage, Role, User, utcnow
from bot.outbox import notify

#: The default of ``settings.emergency.ack_minutes`` (XIANGYIN_EMERGENCY_ACK_MINUTES).
ACK_MINUTES = EmergencySettings.ack_minutes
#: The default of ``settings.emergency.township_minutes``.
TOWNSHIP_MINUTES = EmergencySettings.township_minutes
#: The default of ``settings.emergency.target_minutes``: alert to responder on site.
TARGET_MINUTES = EmergencySettings.target_minutes

# Words that always mean an emergency, whatever the language model makes of the sentence.
EMERGENCY_WORDS = ("救命", "摔倒", "摔了一跤", "着火", "失火", "起火", "晕倒", "昏过去", "喘不上气", "喘不过气",
                   "快来人", "心脏难受", "胸口疼", "中风", "流血不止", "煤气中毒")
# The same said in other ways, as people in trouble say it: a fall and not getting up (滑了一跤，
# 爬不起来了 / 跌倒喺地下，起唔到身), a fire (灶房烧起来了 / 火老大了), fainting, gas, water. A wrong
# alarm costs a grid worker a call; a missed one can cost a life, so these lean wide.
_EMERGENCY_SAID = re.compile(
    r"(摔|跌|滑|绊|栽)了?(一|个|一个)(跤|跟头|跟斗)|(摔|跌|滑|绊|栽)倒(了|在|喺|地|咯|啦|喽|哒|嘞)|(摔|跌|栽)(在|到|喺)(地上|地下|沟里|坑里)"
    r"|(爬|站|坐|起)不起来了?|起不来(了|咯|喽|啦|啰|哒|嘞)|起唔到身|起唔身|动弹不得|动不了了"
    r"|(烧|着)起来(了|啦|咯|喽|哒|嘞|唠)|火(老|好|很|太|可|特别|贼)大|火烧房|火(苗)?(蹿|窜|冒)得(老|好|很|多)?高"
    r"|晕过去|昏倒|不省人事|叫不醒|人没气了|没有呼吸|不喘气了|人事不省|抽过去了"
    r"|上不来气|透不过气|憋得慌|胸口(疼|痛|闷)|心口(疼|痛)|气(接|续|倒|喘|提)不上(来)?|(嘴皮|嘴唇|嘴巴)[^，。,]{0,2}(乌|紫|发紫|发乌|发青)"
    r"|煤气味|(煤气|燃气|天然气)(泄漏|漏了)|掉(进|到)?(水|河|塘|井|池塘)里|落水了"
    r"|血止不住|血.{0,5}(止不住|止不了|捂不住|按不住|不停|哗哗)|(好|很)多血|嘴歪了|半边(身子)?(不能动|动不了)"
    # asked for help in other words, a fall from somewhere, water, a stroke's face and speech, a
    # fire caught, violence, a bite that bleeds, someone crushed, an ambulance asked for
    r"|救救|快来救|救人啊|救人呐|喘不(上|过)来|从.{0,6}(床|楼梯|梯子|房顶|屋顶|树|墙)上?(掉|摔|滚|跌|栽)下(来|去)"
    r"|(头|脑袋|脑壳|额头)(磕|摔|撞|碰)(破|烂|开|出血)|(直|一直|哗哗)(流|淌|冒)血"
    # a snake bite ("脚脖子被条蛇叨了一下")
    r"|蛇[^，。,]{0,2}(咬|叨|叮|啄)"
    # bleeding that keeps coming ("血一直往外冒", "血哗哗地往下淌")
    r"|血[^，。,]{0,2}(一直|直|不停地?|哗哗地?|呼呼地?|汩汩地?)(往外|朝外|往下)?(流|淌|冒|涌|喷|滴)"
    # choking, and water or fire closing in on someone who cannot get out
    r"|噎住|卡住了?(喉咙|嗓子)|(脸|嘴唇)[^，。,]{0,2}(憋|发)?紫了?|((水|火|烟)[^。]{0,6}(漫|淹|进|烧|冒|灌|涨)|(进|冒|着|灌)(水|火|烟))[^。]{0,16}(出不去|跑不出|被困|困住)"
    r"|掉(进|到|在)?[^，。,]{0,4}(水|河|塘|井|池|渠)里|(脸|嘴)歪.{0,6}(说话|话)(不清|说不清|含糊)|说不出话"
    r"|(电线|房子|屋子|屋里|柴火?|草垛|麦秸|秸秆垛|厨房|灶房)[^，。,]{0,2}着了"
    r"|动刀|捅人|砍人|打出血|咬[^，。,]{0,3}(流血|出血)|摔[^，。,]{0,4}起不来|(我|俺|他|她|人)(快)?不行了"
    r"|打120|叫救护车|(压|埋)(着|住)(人|了人)|晕得站不住|站都站不住"
    r"|(满头|满脸|浑身|一身|一脸|一头)(都)?是血|撞(倒|伤)了?人|被车撞了?"
    # poisoning: a pesticide or rat poison swallowed, foam at the mouth
    r"|天旋地转|快(叫|喊)(个)?人(来)?(啊|呀|哟)?(?=$|[，。！!,])|吐白沫|(喝|吃|误喝|误吃|误服|服)(了|下|下了)?[^，。,]{0,2}(农药|老鼠药|耗子药|敌敌畏|百草枯|除草剂)|中毒了"
    # pills swallowed by the handful (a child who took grandfather's tablets for sweets), or by mistake
    r"|(药|药片|药丸|安眠药|降压药|止疼药)[^，。,]{0,10}(吃|吞|喝)(了|下|下了|进去)[^，。,]{0,2}(好几|一把|一大把|一瓶|半瓶|一板|整板|一盒|好多|很多|十几|一堆)"
    r"(?![年天月回次个顿])"
    r"|(吃|吞)(了|下|下了)(一把|一大把|一瓶|半瓶|整瓶|一板|整板|一盒|好几片|好几粒|一堆)[^，。,]{0,3}(药|药片|药丸|安眠药)|误(吃|服|食|喝)了"
    # Cantonese: fell (跌咗 / 仆亲), bleeding now (流紧血), cannot move (郁唔到), fainted (晕咗 /
    # 晕低), cannot be woken, cannot breathe (唞唔到气), chest pain (心口好痛), fire (火烛)
    r"|(跌|仆)(咗|亲|低)(落|喺|地|倒)(?!.{0,3}(几|好多|成日|次|回))|流紧血|郁(都)?郁唔(到|得|郁)|郁唔(到|得)|晕(咗|低)|叫(极)?唔醒|(唞|透|抖)唔(到|倒)气"
    r"|心口(好|好鬼)?(痛|翳)|火烛|救(下|吓)(我|佢|人)"
    # scalds and burns (开水浇了一腿, 皮都烫掉了), a child who cries until the breath stops (背过气)
    r"|(开水|热水|滚水|热油|油锅)[^，。,]{0,4}(浇|烫|泼|洒|淋|溅)|烫(伤|掉皮|起泡|烂|熟)|(皮|肉)[^，。,]{0,3}(起泡|烫掉|烫烂|掉了)"
    r"|烧伤|背过气"
    # a fall down the stairs or a step missed (一脚踩空滚下去了), and someone who does not answer
    r"|踩空[^，。,]{0,4}(滚|摔|跌|掉|栽)|(楼梯|台阶|梯子|坎子|坡)上?[^，。,]{0,2}(滚|摔|跌|掉|栽)下|(滚|摔|跌|栽)下(楼|楼梯|台阶|坡|坎)"
    r"|(叫|喊)(他|她|人|也|都|了)*(不应|不答应|没反应|没应|不吱声|不吭声|不出声|没声|没动静)(了|啦|咯)?(?=$|[，。！!,？?])"
    # a fall onto the ground said with 地上 ("摔地上了"), and a cry for people at the start ("来人啊，…")
    r"|(摔|跌|栽|倒)(在|到)?(地上|地下|地头)(了|啦|咯|哒)|^(快)?来人(啊|呀|呐|哪|哟)"
    # a charcoal brazier or coal stove indoors with headache, sickness or unsteadiness (CO)
    r"|(炭盆|炭火|火盆|烧炭|煤炉|炉子|蜂窝煤|煤球)[^。]{0,24}(头疼|头痛|脑袋疼|脑壳疼|头晕|想吐|恶心|吐了|站不稳|迷糊|发昏)"
    r"|站都站不稳|又(摔|跌|栽|晕|昏)(了|倒|过去|下去)"
    # a fit (抽起来了, 羊角风, 眼睛往上翻), chest pain that bores or spreads to the left arm
    r"|抽(起来|过去|搐|风)了?|羊角风|癫痫|眼睛[^，。,]{0,3}往上翻|翻白眼"
    # a snake bite; someone who cannot be woken however they are shaken (怎么拍都不醒)
    r"|(蛇|毒蛇|长虫)[^，。,]{0,2}咬|(让|被|叫|遭)蛇|(叫|喊|拍|推|摇|弄)[^，。,]{0,3}不醒"
    r"|(心口|胸口)[^，。,]{0,6}(疼|痛|闷)得|(左)?(胳膊|膀子|手臂)[^，。,]{0,2}(发麻|麻了|麻木)"
    # a fit said in northern words, a fever that brought one on; unconscious; breath that will not move
    r"|抽抽(了|起来|上了|个不停)|倒在?地上[^，。,]{0,3}抽|烧得?[^，。,]{0,2}抽(了|起来)|昏迷(了|过去|不醒)|没(有)?(知觉|意识)了|喘不动"
    r"|(瘫|倒|躺|趴)在?(那儿|那里|那块|地上|地下)[^，。,]{0,3}(不动了|动不了|起不来)"
    # into a water jar, a pit or a ditch; gas escaping; a house down with people inside; an electric shock
    r"|掉(进|到|在)?[^，。,]{0,4}(缸|粪坑|水坑|沟|渠)里|(煤气|燃气|天然气|液化气)罐?[^，。,]{0,2}(漏气|跑气)"
    r"|(塌|倒)了?[^。]{0,8}(人(还)?在(里面|里头|底下|下面)|压着人|压住了?人|埋了人|把人(给)?(埋|压))|触电"
    r"|(被|让|叫|遭)电(打|击|到|着)|电(打|击)(了|着)人"
    # an accident just now, a life in danger by one's own hand, blood coming up, a birth under way
    r"|出车祸了(?=$|[，,。！!])|想不开(?!过)|寻短见(?!过)|寻死(?!过)|上吊|割腕|(跳|投)(了)?(河|井|楼|塘|水库)|吐血|大出血|羊水破了"
    r"|(马上|眼看|这就)要生了|(嗓子|喉咙)?(里)?卡(了|住了?)(个|一个|一块|块)?(枣核|鱼刺|骨头|糖块|花生|豆子)"
    # fire and water closing in, the ground giving way
    r"|(着|起)大火|山火|火烧过来|(发|涨)大水了|(洪水|大水|山洪)[^，。,]{0,3}(淹|漫|灌|冲)进(屋|家|院)|泥石流(来了|下来了)"
    r"|(滑坡|塌方)[^，。,]{0,8}(埋|压)"
    # chest pain said with 窝 / 这块 (心口窝疼), breath that will not come evenly, a call for anyone
    r"|(心口|胸口)(窝子?|这块|这儿|这里)(疼|痛|闷)|气(都|也)?喘不(匀|上|过|动)|快来(个|几个)人(啊|呀|吧|哟|呐)?(?=$|[，。！!,])"
    # someone slipped or fell into water and not yet out ("滑进鱼塘里，还没捞上来")
    r"|(掉|滑|跌|栽|摔|落|翻)(进|到|入|下)了?[^，。,]{0,6}(水|河|塘|井|池|渠|缸|坑|沟|水库)(里|里头|里面|中)"
    r"|(还)?没(捞|救)(上来|出来)|捞不(上来|出来)"
    # a sudden collapse ("在灶台跟前一下倒了"; not "一下子倒了一车土"), and no waking however loud
    # the call ("喊破嗓子也没睁眼", "拍了半天都不睁眼")
    r"|(一下子?|突然|忽然|猛地|扑通|咕咚|一头)(就)?(倒|栽|瘫|躺)(了|下|在|到|地)(?![^，。,]{0,3}(车|堆|桶|筐|盆|垃圾|土|水|沙|渣))"
    r"|(喊|叫|拍|摇|推|晃)[^，。,]{0,6}(没|不|都不|也不|都没|也没)(醒|睁眼|睁开眼|睁开|反应|应声|吭声)"
    # pesticide poisoning told by its signs ("打完药回来就一直吐，嘴里一股农药味，人都迷糊了")
    r"|农药味[^。]{0,12}(一直吐|直吐|吐了|口吐|迷糊|昏|抽)|(一直吐|直吐|吐了|迷糊|昏)[^。]{0,16}农药味"
    r"|(打|喷|洒|撒)(完|了|过)(农)?药[^。]{0,8}(一直吐|直吐|吐个不停|吐得|迷糊|晕|昏)"
    # a weight on the chest, breath that will not come through ("心口像压了块石头，气都透不过来")
    r"|(心口|胸口)[^，。,]{0,3}(像|跟|好像)?(压|堵|坠|憋)(了|着|住)?(一)?(块|个)?(大)?(石头|石板|东西|磨盘)"
    r"|(气|气儿)(都|也)?透不(过|上)(来|气)?"
    # a stroke's face and side said with 也 / 都 ("嘴也歪了", "半边身子使不上劲")
    r"|(嘴|嘴角|嘴巴|脸)(也|都|一下)?(歪|斜)(了|到一边)|(半边|一边|半拉)(身子|胳膊|腿)?[^，。,]{0,2}(使不上劲|没劲了|不听使唤|动不了)"
    r"|眼前(一阵阵?|一下子?)?发黑"
    # a pan or a stove alight, flames reaching the beams ("油锅忽地着起来，火舌头舔到梁上了")
    r"|(油锅|锅里|灶|灶台|灶膛|屋|房子|梁|柴房|草房)[^，。,]{0,4}(着|烧)起来|火(舌|苗)(头|子)?[^，。,]{0,3}(舔|窜|蹿|烧|燎)(到|上)")


# A stroke long past is a condition, not an emergency ("老头子中风后瘫炕上起不来，那护理补贴上哪申请"):
# said so, the stroke alone raises no alarm (any other word of danger in the sentence still does).
_PAST_STROKE = re.compile(r"(前年|去年|早年|以前|那年|几年前|早些年)?(中风|脑梗|脑溢血)(后|以后|之后|过后|那年|好几年|多年|几年"
                          r"|[一二三四五六七八九十两几好多]+年)|(中|得|犯)过(风|脑梗|脑溢血)"
                          r"|(前年|去年|早年|以前|几年前|早些年)(中风|脑梗|脑溢血)")


# ... and so is one said with how long it has lasted ("俺爹中风瘫床上三年了，…护理补贴咋办").
_LONG_STANDING = re.compile(r"[一二三四五六七八九十两几好多\d]+年了|好几年|好些年|多年|常年|这些年|几个月了|[一二三四五六七八九十两\d]+个月了")
_STROKE = re.compile(r"中风|脑梗|脑溢血")


# Trouble told as past ("上个礼拜俺家灶屋着火烧光了，…临时救助够条件不", "去年摔了一跤，腿就瘸了，现在走道得
# 拄拐棍，…残疾证"): the time word and what follows it in its clause raise no alarm. The past stops at a
# word of now (现在, 还, 刚, 又, 今天 …), so what is said from there is still heard, with or without
# punctuation (speech has none): "上礼拜摔了一跤今天又摔了" is an emergency. Trouble of the last days
# that still goes on ("前两天摔了一跤，到现在还起不来") is one as a whole; a year-old fall that still
# troubles the leg is a condition.
_NOW = r"现在|眼下|这会|此刻|还|刚|正在|又|今天|今儿|今早|今晚|这阵|这下|救命|赶紧|马上|快来|快叫|快救"
_UNTIL_NOW = rf"(?:(?!{_NOW})[^，,。；;！!？?]){{0,20}}"
_LONG_AGO_TOLD = re.compile(r"(去年|前年|那年|几年前|早年|早些年|好些年前|年前|[一二三四五六七八九十两几\d]+年(以前|之前|前))"
                            + _UNTIL_NOW)
_RECENTLY_TOLD = re.compile(r"(上个?(礼拜|星期|周|月)|上回|前(几|些|两|一阵|阵)(天|日子|子|个月)?|前天|前儿个?|前晚"
                            r"|[一二三四五六七八九十两几\d]+(天|个月)(以前|之前|前))" + _UNTIL_NOW)
#: ... the story of what happened then goes on past its first clause ("前天晚上摸黑回来，在石桥上绊了一跤，
#: 桥面有块石板翘起老高": a hazard to report), to a word of now
_STORY_UNTIL_NOW = rf"(?:(?!{_NOW})[^。；;！!？?]){{0,24}}"
_RECENTLY_TOLD_STORY = re.compile(r"^(我|俺|咱)?(家)?[^，,。]{0,4}(前天|前儿个?|前晚|前几天|前两天|前些天|上个?(礼拜|星期|周))"
                                  + _STORY_UNTIL_NOW)
_STILL = re.compile(r"到现在|现在还|眼下还|这会儿?还|还[^，,。]{0,2}(不|没|疼|痛|流|烧|着|在地)|刚|正在|救命|赶紧|马上")


# A stroke's signs said without its name (老伴刚才舌头发硬，话也说不清，一边胳膊腿不听使唤): a tongue
# gone stiff, speech that will not come out clearly, one side of the body that will not obey. Heard
# as an emergency when they came on suddenly (突然, 刚才, 一下子 …); the same signs told of a stroke
# survivor asking about a disability card are a condition.
_STROKE_SIGNS = re.compile(r"舌头[^，。,]{0,4}(发硬|硬了|僵|打结|不听使唤|不利索|不转)|(?<!电)话(也|都)?说不(清|利索|囫囵|出)"
                           r"|口齿不清|(一边|半边|半拉|一侧|左边|右边)的?(身子|胳膊|腿|胳膊腿|手脚|手|脸)[^，。,]{0,4}"
                           r"(不听使唤|不能动|动不了|没劲|使不上劲|没知觉|不好使|麻了|发麻|抬不起来|举不起来|抬不动)"
                           # a face gone crooked, speech gone slurred ("嘴角一下子歪到一边", "说话也含糊了")
                           r"|(嘴|嘴角|嘴巴|脸)[^，。,]{0,4}歪|说话[^，。,]{0,2}(含糊|含含糊糊|不清|大舌头|不利索)|吐字不清|口齿含糊")
_SUDDEN = re.compile(r"突然|忽然|猛地|猛然|一下子|刚才|刚刚|才刚|今早|早上起来|一觉醒来|冷不丁")


# A fall nearly had ("老人去拿药差点绊一跤", "险些栽进去"): a hazard to report, nobody down.
_NEAR_MISS = re.compile(r"(差点|差一点|差些|险些|好悬|好险)(儿|子)?(就|没)?(摔|跌|绊|滑|栽|翻|掉|踩空)[^，。,]{0,6}")


def is_emergency(text: str) -> bool:
    """Whether ``text`` says someone is in danger now (see ``EMERGENCY_WORDS``)."""
    text = _NEAR_MISS.sub("", _LONG_AGO_TOLD.sub("", _PAST_STROKE.sub("", text or "")))
    if not _STILL.search(text):
        text = _RECENTLY_TOLD.sub("", _RECENTLY_TOLD_STORY.sub("", text))
    if _LONG_STANDING.search(text):
        text = _STROKE.sub("", text)
    return (any(word in text for word in EMERGENCY_WORDS) or bool(_EMERGENCY_SAID.search(text))
            or bool(_STROKE_SIGNS.search(text) and _SUDDEN.search(text)))


class EmergencyClosed(Exception):
    """The emergency was closed already; nothing more can happen to it."""


@dataclass(frozen=True)
class ResponseRow:
    """Response times of one grid (第一网格 …) in one local month."""

    grid: str
    month: str  # "2026-11"
    alerts: int
    acknowledged: int
    on_site: int
    within_target: int  # on site within the target minutes of the alert
    escalated: int  # needed at least one escalation step
    median_ack_minutes: float | None
    median_on_site_minutes: float | None
    max_on_site_minutes: float | None
    target_minutes: int = TARGET_MINUTES

    @property
    def target_rate(self) -> float:
        return self.within_target / self.alerts if self.alerts else 0.0


# --------------------------------------------------------------------------- who


def _head_name(household: Household | None) -> str:
    if household is None or not household.residents:
        return ""
    return next((r.name for r in household.residents if r.is_head), household.residents[0].name)


def _head_phone(household: Household | None) -> str:
    if household is None:
        return ""
    return next((r.phone for r in household.residents if r.is_head and r.phone), "")


def _first_responder(s: Session, household: Household | None) -> int | None:
    """Who answers the household's alarm first: the worker responsible for its care."""
    return responsible_worker_id(household) if household is not None else None


def _group_leader(s: Session, household: Household | None) -> int | None:
    """The leader of the household's own (lowest) grid: the 组长 of a third-level grid."""
    grid = household.grid if household is not None else None
    while grid is not None and grid.leader_id is None:
        grid = grid.parent
    return grid.leader_id if grid is not None else None


def _where(household: Household | None, event: EmergencyEvent) -> str:
    if household is None:
        return f"未绑定的{event.channel}用户"
    head = _head_name(household)
    phone = _head_phone(household)
    return f"{household.address}（{head}家{('，电话' + phone) if phone else ''}）"


def _name(s: Session, user_id: int | None) -> str:
    user = s.get(User, user_id) if user_id else None
    return user.display_name if user is not None else "工作人员"


def may_respond(s: Session, actor: Actor, event: EmergencyEvent) -> bool:
    """Whether the actor is one of the people responsible for this emergency."""
    if actor.user_id is None:
        return False
    if actor.user_id == event.alerted_user_id:
        return True
    household = event.household
    village_id = event.village_id or (household.village_id if household else None)
    if actor.role == Role.admin:
        return village_id is None or actor.village_id == village_id
    if actor.role == Role.grid_worker:
        if household is None:
            return actor.village_id == village_id
        return household.grid_id in actor.grid_ids or household.contact_user_id == actor.user_id
    if actor.role == Role.township:
        return serves_township_of(s, actor, village_id)
    return False


def _require_responder(s: Session, actor: Actor, event: EmergencyEvent, purpose: str) -> None:
    if not may_respond(s, actor, event):
        audit(s, actor, "refused", "emergency", event.id, purpose, household_id=event.household_id)
        raise AccessDenied(f"{actor.sender_id} may not {purpose} emergency {event.id}")


def _get(s: Session, emergency_id: int) -> EmergencyEvent:
    event = s.get(EmergencyEvent, emergency_id)
    if event is None:
        raise LookupError(f"no emergency {emergency_id}")
    return event


def _tell_relatives(s: Session, event: EmergencyEvent, stage: str, text: str) -> None:
    for relative in relatives_of(s, event.household_id):
        notify(s, relative.id, "emergency_relative", text, f"emergency:{event.id}:relative:{relative.id}:{stage}",
               payload={"emergency_id": event.id, "household_id": event.household_id, "state": stage})


# --------------------------------------------------------------------------- the loop


def raise_alarm(s: Session, actor: Actor, text: str, now: dt.datetime | None = None) -> EmergencyEvent:
    """Records the emergency and alerts the first responder and the household's relatives."""
    now = now or utcnow()
    household = s.get(Household, actor.household_id) if actor.household_id else None
    village_id = household.village_id if household is not None else actor.village_id
    worker_id = _first_responder(s, household) or village_admin_id(s, village_id)
    event = EmergencyEvent(village_id=village_id, household_id=household.id if household else None,
                           user_id=actor.user_id, channel=actor.channel, text=(text or "")[:500], at=now,
                           alerted_user_id=worker_id, escalation_step=0)
    s.add(event)
    s.flush()
    who = _where(household, event) if household else f"未绑定用户{actor.sender_id}"
    notify(s, worker_id, "emergency", f"紧急求助：{who}说“{event.text[:60]}”，请马上联系！回复“收到”表示您去处理。",
           f"emergency:{event.id}:worker",
           payload={"emergency_id": event.id, "household_id": event.household_id, "step": 0,
                    "expects": "acknowledge"})
    if household is not None:
        _tell_relatives(s, event, "alert",
                        f"{household.address}{_head_name(household)}家刚才紧急求助：“{event.text[:40]}”。"
                        f"已经通知{_name(s, worker_id)}，有人响应后会马上告诉您。")
    audit(s, actor, "write", "emergency", event.id, event.text[:200], household_id=event.household_id)
    return event


def acknowledge(s: Session, actor: Actor, emergency_id: int, now: dt.datetime | None = None) -> EmergencyEvent:
    """A responsible person takes charge; the escalation chain stops. The first one wins: when
    somebody else acknowledged first, the event is returned unchanged (``acknowledged_by`` says
    who). The caller hears who is coming, relatives are told, the other alerted people too."""
    event = _get(s, emergency_id)
    _require_responder(s, actor, event, "acknowledge")
    now = now or utcnow()
    won = s.execute(
        update(EmergencyEvent)
        .where(EmergencyEvent.id == event.id, EmergencyEvent.acknowledged_at.is_(None),
               EmergencyEvent.closed_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=actor.user_id)
        .execution_options(synchronize_session=False)).rowcount
    s.refresh(event)
    if won != 1:
        return event
    name = actor.display_name or _name(s, actor.user_id)
    notify(s, event.user_id, "caller_update", f"{name}已经收到，正在赶过去。", f"emergency:{event.id}:caller_update",
           household_id=event.household_id, payload={"emergency_id": event.id, "state": "acknowledged",
                                                     "responder": name})
    household = event.household
    _tell_relatives(s, event, "acknowledged",
                    f"{name}已经收到{_head_name(household)}家的求助，正在赶过去。")
    alerted = set(s.execute(select(OutboxMessage.user_id).where(
        OutboxMessage.kind == "emergency", OutboxMessage.dedupe_key.like(f"emergency:{event.id}:%"),
        OutboxMessage.user_id.is_not(None))).scalars())
    for user_id in sorted(alerted - {actor.user_id}):
        notify(s, user_id, "emergency_taken", f"{_where(household, event)}的紧急求助，{name}已经接手处理。",
               f"emergency:{event.id}:taken:{user_id}", payload={"emergency_id": event.id})
    audit(s, actor, "write", "emergency", event.id, "acknowledged", household_id=event.household_id)
    return event


def arrive(s: Session, actor: Actor, emergency_id: int, now: dt.datetime | None = None) -> EmergencyEvent:
    """The responder is on site (acknowledging too, if nobody had)."""
    event = _get(s, emergency_id)
    _require_responder(s, actor, event, "arrive at")
    if event.closed_at is not None:
        raise EmergencyClosed(f"emergency {event.id} is closed")
    now = now or utcnow()
    if event.acknowledged_at is None:
        acknowledge(s, actor, emergency_id, now)
    won = s.execute(
        update(EmergencyEvent).where(EmergencyEvent.id == event.id, EmergencyEvent.on_site_at.is_(None))
        .values(on_site_at=now, on_site_by=actor.user_id).execution_options(synchronize_session=False)).rowcount
    s.refresh(event)
    if won == 1:
        _tell_relatives(s, event, "on_site",
                        f"{actor.display_name or _name(s, actor.user_id)}已经到了{_head_name(event.household)}家。")
        audit(s, actor, "write", "emergency", event.id, "on site", household_id=event.household_id)
    return event


def close(s: Session, actor: Actor, emergency_id: int, note: str, now: dt.datetime | None = None) -> EmergencyEvent:
    """The emergency is handled (``note``: what happened, e.g. 已送镇卫生院 / 误按). Closing an
    unacknowledged one acknowledges it first. Closing twice changes nothing."""
    event = _get(s, emergency_id)
    _require_responder(s, actor, event, "close")
    note = (note or "").strip()[:500]
    if not note:
        raise ValueError("a note on how the emergency was handled is required")
    now = now or utcnow()
    if event.acknowledged_at is None:
        acknowledge(s, actor, emergency_id, now)
    won = s.execute(
        update(EmergencyEvent).where(EmergencyEvent.id == event.id, EmergencyEvent.closed_at.is_(None))
        .values(closed_at=now, closed_by=actor.user_id, close_note=note)
        .execution_options(synchronize_session=False)).rowcount
    s.refresh(event)
    if won == 1:
        _tell_relatives(s, event, "closed", f"{_head_name(event.household)}家的紧急求助已经处理好了：{note}")
        audit(s, actor, "write", "emergency", event.id, f"closed: {note[:100]}", household_id=event.household_id)
    return event


# --------------------------------------------------------------------------- lists


def open_emergencies(s: Session, village_id: int | None) -> list[EmergencyEvent]:
    """Alerts nobody has acknowledged yet (oldest first)."""
    query = (select(EmergencyEvent)
             .where(EmergencyEvent.acknowledged_at.is_(None), EmergencyEvent.closed_at.is_(None))
             .order_by(EmergencyEvent.at))
    return [e for e in s.execute(query).scalars()
            if village_id is None or (e.village_id or (e.household.village_id if e.household else None))
            in (None, village_id)]


def active_emergencies(s: Session, actor: Actor) -> list[EmergencyEvent]:
    """Emergencies not closed yet that the actor may respond to (oldest first)."""
    query = select(EmergencyEvent).where(EmergencyEvent.closed_at.is_(None)).order_by(EmergencyEvent.at)
    events = [e for e in s.execute(query).scalars() if may_respond(s, actor, e)]
    for e in events:
        audit(s, actor, "read", "emergency", e.id, "active list", household_id=e.household_id)
    return events


def staff_overview(s: Session, actor: Actor, since: dt.datetime) -> list[EmergencyEvent]:
    """What a staff member hears when asking "今天有没有紧急求助": every emergency they may respond
    to that is still open, and those raised since ``since`` whatever their state (newest first).
    A query: it never raises anything. Audited per household."""
    if not actor.is_staff:
        raise AccessDenied(f"{actor.sender_id} may not list emergencies")
    query = (select(EmergencyEvent)
             .where((EmergencyEvent.closed_at.is_(None)) | (EmergencyEvent.at >= since))
             .order_by(EmergencyEvent.at.desc(), EmergencyEvent.id.desc()))
    rows = [e for e in s.execute(query).scalars() if may_respond(s, actor, e)]
    for event in rows:
        audit(s, actor, "read", "emergency", event.id, "staff overview", household_id=event.household_id)
    return rows


def pending_alert_for(s: Session, actor: Actor) -> EmergencyEvent | None:
    """The newest unacknowledged emergency the actor was alerted about: what "收到" / "我去处理"
    refers to in a conversation. None when there is none."""
    if actor.user_id is None:
        return None
    rows = s.execute(select(OutboxMessage.payload).where(
        OutboxMessage.user_id == actor.user_id, OutboxMessage.kind == "emergency")
        .order_by(OutboxMessage.id.desc()).limit(20)).scalars()
    for payload in rows:
        event = s.get(EmergencyEvent, (payload or {}).get("emergency_id") or -1)
        if event is not None and event.acknowledged_at is None and event.closed_at is None:
            return event
    return None


def for_relative(s: Session, actor: Actor, limit: int = 5) -> list[EmergencyEvent]:
    """A relative's view: the latest emergencies of the households they are linked to, with
    their state (``event.state``, ``EMERGENCY_STATE_NAMES``)."""
    household_ids = relative_household_ids(s, actor.user_id) if actor.role == Role.relative else []
    if not household_ids:
        return []
    rows = list(s.execute(select(EmergencyEvent).where(EmergencyEvent.household_id.in_(household_ids))
                          .order_by(EmergencyEvent.at.desc(), EmergencyEvent.id.desc()).limit(limit)).scalars())
    for household_id in household_ids:
        audit(s, actor, "read", "emergency", None, "relative view", household_id=household_id)
    return rows


# --------------------------------------------------------------------------- escalation


def _take_step(s: Session, event: EmergencyEvent, step: int, now: dt.datetime) -> bool:
    """Moves the event from step - 1 to ``step``, once (a conditional UPDATE)."""
    won = s.execute(
        update(EmergencyEvent)
        .where(EmergencyEvent.id == event.id, EmergencyEvent.escalation_step == step - 1,
               EmergencyEvent.acknowledged_at.is_(None), EmergencyEvent.closed_at.is_(None))
        .values(escalation_step=step, escalated_at=now).execution_options(synchronize_session=False)).rowcount
    s.refresh(event)
    return won == 1


def _notify_step(s: Session, event: EmergencyEvent, step: int, minutes: int) -> None:
    household = event.household
    village_id = event.village_id or (household.village_id if household else None)
    who = _where(household, event)
    payload = {"emergency_id": event.id, "household_id": event.household_id, "step": step, "expects": "acknowledge"}
    text = f"紧急求助{minutes}分钟无人响应：{who}说“{event.text[:60]}”，请马上处理！回复“收到”表示您去处理。"
    if step == 1:
        leader_id = _group_leader(s, household)
        admin_id = village_admin_id(s, village_id)
        if leader_id and leader_id != event.alerted_user_id:
            notify(s, leader_id, "emergency", text, f"emergency:{event.id}:leader", payload=payload)
        # The admin always hears of it (a reminder, when they were the first responder).
        notify(s, admin_id, "emergency", text, f"emergency:{event.id}:admin", payload=payload)
    else:
        duty = township_duty(s, village_id)
        if duty is not None:
            notify(s, duty.id, "emergency", f"（村里{minutes}分钟无人响应，请镇里协调）{text}",
                   f"emergency:{event.id}:township", payload=payload)
        else:
            admin_id = village_admin_id(s, village_id)
            notify(s, admin_id, "emergency",
                   f"紧急求助{minutes}分钟仍无人响应，镇里没有值班账号，请马上打镇值班电话：{who}说“{event.text[:60]}”。",
                   f"emergency:{event.id}:township-missing", payload=payload)
    audit(s, system_actor(village_id), "write", "emergency", event.id, f"escalation step {step}",
          household_id=event.household_id)


def escalate_unacknowledged(s: Session, now: dt.datetime | None = None, ack_minutes: int | None = None,
                            township_minutes: int | None = None) -> list[int]:
    """Scheduler job: the escalation chain. Alerts unacknowledged for ``ack_minutes`` (default:
    ``settings.emergency.ack_minutes``) go to the group leader and the village admin (step 1),
    those unacknowledged for ``township_minutes`` to the township duty officer (step 2); a
    scheduler that was down takes the due steps in order. Returns the ids that moved."""
    now = now or utcnow()
    if ack_minutes is None or township_minutes is None:
        configured = load_settings().emergency
        ack_minutes = configured.ack_minutes if ack_minutes is None else ack_minutes
        township_minutes = configured.township_minutes if township_minutes is None else township_minutes
    township_minutes = max(township_minutes, ack_minutes)
    step_one = now - dt.timedelta(minutes=ack_minutes)
    step_two = now - dt.timedelta(minutes=township_minutes)
    rows = s.execute(
        select(EmergencyEvent)
        .where(EmergencyEvent.acknowledged_at.is_(None), EmergencyEvent.closed_at.is_(None),
               ((EmergencyEvent.escalation_step < 1) & (EmergencyEvent.at < step_one))
               | ((EmergencyEvent.escalation_step < 2) & (EmergencyEvent.at < step_two)))
        .order_by(EmergencyEvent.id)
        .with_for_update(skip_locked=True)
    ).scalars().all()
    moved = []
    for event in rows:
        due = 2 if event.at < step_two else 1
        for step in range(event.escalation_step + 1, due + 1):
            if not _take_step(s, event, step, now):
                break
            _notify_step(s, event, step, ack_minutes if step == 1 else township_minutes)
            if event.id not in moved:
                moved.append(event.id)
    return moved


# --------------------------------------------------------------------------- report




def _minutes(start: dt.datetime, end: dt.datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 60, 1)


def response_report(s: Session, actor: Actor, since: dt.datetime | None = None, until: dt.datetime | None = None,
                    target_minutes: int | None = None, tz: str | None = None) -> list[ResponseRow]:
    """Response times per grid (第一网格 …) and local month against the target (alert → on
    site within ``target_minutes``, default ``settings.emergency.target_minutes``). Admins and
    township staff see every grid of their village(s), a grid worker the grids they serve."""
    if actor.role not in (Role.admin, Role.township, Role.grid_worker) or actor.user_id is None:
        raise AccessDenied(f"{actor.sender_id} may not read the emergency report")
    if target_minutes is None:
        target_minutes = load_settings().emergency.target_minutes
    query = select(EmergencyEvent).order_by(EmergencyEvent.at)
    if since is not None:
        query = query.where(EmergencyEvent.at >= since)
    if until is not None:
        query = query.where(EmergencyEvent.at < until)
    groups: dict[tuple[str, str], list[EmergencyEvent]] = {}
    for event in s.execute(query).scalars():
        household = event.household
        village_id = event.village_id or (household.village_id if household else None)
        if actor.role == Role.township:
            if not serves_township_of(s, actor, village_id):
                continue
        elif village_id != actor.village_id:
            continue
        if actor.role == Role.grid_worker and (household is None or household.grid_id not in actor.grid_ids):
            continue
        month = local_date(event.at, tz).strftime("%Y-%m")
        groups.setdefault((area_name(household), month), []).append(event)
    rows = []
    for (grid, month), events in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0])):
        ack = [m for m in (_minutes(e.at, e.acknowledged_at) for e in events) if m is not None]
        site = [m for m in (_minutes(e.at, e.on_site_at) for e in events) if m is not None]
        rows.append(ResponseRow(
            grid=grid, month=month, alerts=len(events), acknowledged=len(ack), on_site=len(site),
            within_target=sum(1 for m in site if m <= target_minutes),
            escalated=sum(1 for e in events if e.escalation_step > 0),
            median_ack_minutes=statistics.median(ack) if ack else None,
            median_on_site_minutes=statistics.median(site) if site else None,
            max_on_site_minutes=max(site) if site else None, target_minutes=target_minutes,
        ))
    audit(s, actor, "read", "emergency_report", None, f"{len(rows)} rows")
    return rows

