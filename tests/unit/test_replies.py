"""Replies to a read-back: every way of saying yes, no and stop, and the asymmetry that a
misheard or unclear no never reads as yes."""
from __future__ import annotations

import re

import pytest

from bot.replies import FILING_VERBS, Reply, after_stop, interpret, is_stop, refuses

YES = ["对", "对的", "是", "是的", "行", "中", "中中中", "成", "好", "好的", "好嘞", "可以", "可以，办吧", "嗯，就这个",
       "要得", "得行", "没问题", "没有问题", "没错", "妥了", "OK", "嗯嗯，对", "好的好的谢谢", "对，就这样", "就这么着",
       # south-western "no problem", leaving it to the assistant, a correction accepted
       "莫得问题", "没得问题", "就照你说的办", "听你的", "这回对了", "这下对了",
       # a particle after the yes, a short "that's it"
       "对喽", "对咯", "中，就这",
       # "can do", "that's how it is", a Cantonese no-problem
       "能成", "是这么回事", "冇得问题",
       # Cantonese 系, Henan 得劲 / 就恁着吧, Shandong 杠好, north-western 对着哩
       "系啊", "好勒", "得劲", "就恁着吧", "杠好", "对着哩", "中，就照恁说的办", "嗯呢，照这个记", "么得问题，整嘛",
       # Tianjin 得嘞, north-western 对着咧, Wu 对额 / 好额 with 侬 and 迭个, Hakka/Cantonese 冇错
       "对额", "好额好额", "系，冇错", "对额，就是迭个", "对着咧",
       # Hakka 做得, Anhui 管, north-western 么麻达 and 行了哇, Tianjin 您呐
       "做得做得", "管，就恁着", "么麻达", "行了哇", "得嘞您呐",
       # "that's how it is" of the read-back, a hedged "should be right", Cantonese thanks after the yes
       "是这么个事", "就这么个事儿", "应该没错", "系啊，唔该",
       # Jiang-Huai 照, Hainan 是啰, southern Wu 好个
       "照，照的", "是啰", "好个好个",
       # a yes with any closing particle
       "好嘎", "对昂", "行嗷", "要得哒", "中啵",
       # "that's the matter" and "as you see fit", a hedge around them
       "呃，是这事儿", "大概就是这么个事，你看着办吧",
       # "that's the situation", a north-western particle after the yes
       "呃，就是这个情况", "对呀么，就这样"]
STOP = ["算了", "算了不说了", "不说了", "先不弄了", "取消", "取消吧", "拉倒吧", "不弄了", "不办了", "就这样吧不申诉了",
        "行吧…算了不换了", "回头再说吧", "以后再说", "不用了", "不要了", "蒜了", "甭管了",
        "得了，不费那个劲了", "不折腾了", "懒得弄了",
        # Xiang (哒 for 了), Wu (覅), Cantonese (冇) and northern (算球) ways out
        "算哒算哒", "莫弄哒", "覅弄了", "冇搞喽", "算球", "容俺掂量掂量", "先莫交", "不说这个了",
        # 算了 misheard (散了) and 了 said as 勒 (an unsafe write in the eighth set, start code)
        "散了散了，不报勒", "不报勒", "酸了",
        # 不办了 misheard (搬 / 半), once or twice: a way out like 不办了 itself
        "不搬了", "不半了不半了",
        # 不报了 heard in another tone (an unsafe write in the ninth set, start code)
        "哎呀不包了不包了", "不抱了",
        # Cantonese, Minnan, Wu and south-western ways out
        "唔使了", "免了", "不消了", "算毬", "不整哪样了", "不麻烦你了", "呃……没事没事，你忙你的吧",
        "哎这个先放下", "曲消", "唔使报啦", "莫慌，我再想一哈",
        # north-western 嫑 (don't), 取消 misheard as 趣消, "later" said as 等下子
        "嫑报了，我自己再看看", "趣消趣消", "这个等下子说", "勿报了", "记不起来咯，下回想起来再讲吧",
        # 不 heard as 布 / 部 / 步 before the verb (an unsafe write in the fifteenth set, start code)
        "呃，布办了，我让闺女去说", "部弄了部弄了", "步记了",
        # thinking it over, asking the family first, leaving it, taking it back, doing it oneself
        "让我再琢磨琢磨", "等我问问我孙子", "这事跟老头子合计合计再说", "哎，别管了", "就当我啥也没说，当我没说",
        "俺改主意了", "那个不报了吧", "俺还是自个儿去讲吧", "回头再讲吧"]
NO = ["不对", "不是", "不行", "不中", "错了", "不", "对，不对不对", "不是这个", "地点说错了",
      # ASR slips of 不是 / 不对
      "不四", "布什", "布是", "不队",
      # south-western 莫得 (no), even beside 问题 when it is not "no problem"
      "莫得", "莫得那回事",
      # "said it wrong" in northern speech
      "说岔了", "说岔了，是16号周翠花家", "听岔了",
      # Cantonese and south-western no
      "唔系", "唔要", "冇", "不得行", "要不得", "么得",
      # Wu 勿 (not)
      "勿对勿对", "勿是", "不管", "管不了"]
UNCLEAR = ["", "嗯", "嗯…", "啊？", "哦", "满意", "咋", "什么", "管他呢",
           # a bare hedge is asked again
           "应该是吧", "差不多吧"]
REPEAT = ["再说一遍", "你说啥", "没听清", "你说什么，再念一遍", "麻烦你再读给我听听", "念给我听听", "俺没记住，再给俺念念"]
OTHER = ["俺家这个月加了几分", "低保要带啥材料", "我要反映个事",
         # 算了 as "counted"
         "村里给我家少算了三亩", "我算了一下账",
         # a report whose words hold 散了 is not a way out
         "村口那个棚子散了架", "人都散了才来收垃圾", "垃圾站从来不消毒",
         # the family consulted already, or doing it oneself told as a story: no way out
         "跟老伴商量过了，她也说该反映", "我自己去说过好几回了，没人管", "我问问我儿子的医保咋交"]


@pytest.mark.parametrize("text", YES)
def test_yes(text):
    assert interpret(text) is Reply.YES


@pytest.mark.parametrize("text", STOP)
def test_stop(text):
    assert interpret(text) is Reply.STOP


@pytest.mark.parametrize("text", NO)
def test_no(text):
    assert interpret(text) is Reply.NO


@pytest.mark.parametrize("text", UNCLEAR)
def test_unclear_is_asked_again(text):
    assert interpret(text) is Reply.UNCLEAR


@pytest.mark.parametrize("text", REPEAT)
def test_repeat(text):
    assert interpret(text) is Reply.REPEAT


@pytest.mark.parametrize("text", OTHER)
def test_a_new_request_is_other(text):
    assert interpret(text) is Reply.OTHER


@pytest.mark.parametrize("text,verbs", [("换吧", ("换", "兑")), ("那就换呗", ("换",)), ("报上去吧", ("报", "反映")),
                                        ("给报一下", ("报",)), ("那就记上", ("记",)), ("申诉吧", ("申诉",)),
                                        ("就报它，报上去", ("报",)), ("对的，记下", ("记",)), ("得嘞您呐，换", ("换",)),
                                        ("得行得行，就这样子报", ("报",)), ("管，就恁报", ("报",)),
                                        ("应该没错吧……嗯，就照这么报", ("报",)), ("系啊，换啦，唔该", ("换",))])
def test_the_offers_own_verb_is_yes(text, verbs):
    assert interpret(text, verbs) is Reply.YES
    if len([c for c in re.split(r"[，…]+", text) if c]) == 1:
        assert interpret(text) is not Reply.YES  # without the offer, the same words are no yes


@pytest.mark.parametrize("text,verbs", [("不换了", ("换",)), ("先不报", ("报",)), ("别记了", ("记",))])
def test_the_offers_verb_negated_is_stop(text, verbs):
    assert interpret(text, verbs) is Reply.STOP


def test_refusal_outweighs_agreement():
    for text in ["行吧…算了", "好，不对，等一下", "对不对啊", "是不是要扣分", "可以不换吗"]:
        assert interpret(text, ("换",)) is not Reply.YES, text
        assert refuses(text), text


def test_agreement_containing_a_negation_is_no_refusal():
    for text in ["没问题", "没错", "不错", "可不是"]:
        assert not refuses(text), text


def test_no_need_answers_a_yes_no_question_but_stops_a_read_back():
    assert is_stop("不用了")
    assert not is_stop("不用了", soft=False)
    assert is_stop("算了", soft=False)


def test_ordinary_reports_are_not_stops():
    for text in ["俺家那片这礼拜停了三回电了", "村口路灯坏了三天了", "不用保密", "要保密", "地点是三组小卖部门口"]:
        assert not is_stop(text), text


def test_what_is_left_after_the_way_out_is_a_request_said_in_the_same_breath():
    from bot.replies import after_stop

    assert after_stop("不办了，先帮俺查查积分") == "先帮俺查查积分"
    assert after_stop("不报了，低保咋申请") == "低保咋申请"
    for text in ("算了", "算了吧", "先这样吧，俺再想想", "拉倒吧，不弄了", "不用了"):
        assert after_stop(text) == "", text


def test_yes_with_a_dialect_particle_or_the_offer_said_again_in_other_words():
    from bot.replies import Reply, interpret

    for text, verbs in (("是嘞", ("换",)), ("中咧", ("换",)), ("就这么报", ("报",)), ("那就照这样报吧", ("报",)),
                        ("对，帮俺申诉", ("申诉",)), ("行，给俺换了吧", ("换",)),
                        ("要嘛，帮我往上报", ("报",)), ("往村里报吧", ("报",))):
        assert interpret(text, verbs) is Reply.YES, text
    for text in ("这样不行", "这么报不对", "不照这么报"):
        assert interpret(text, ("报",)) is not Reply.YES, text


def test_not_doing_it_any_more_with_any_verb_and_negator_is_a_way_out():
    from bot.replies import is_stop

    for text in ("甭报了，俺不想惹事", "莫搞了", "不用记了", "别再弄了", "不查了"):
        assert is_stop(text, soft=False), text
    for text in ("不用保密", "报吧", "不用了"):
        assert not is_stop(text, soft=False), text


READ_BACK = "给周德福家（48号）记5分：志愿服务，对吗？对就说“对”，不对就说“不对”。"


@pytest.mark.parametrize("text,verbs,said", [
    ("对，48号", ("记",), READ_BACK),
    ("那就按规矩给她记两分", ("记", "加"), "给李玉珍家（30号）记2分：垃圾分类，对吗？"),
    ("那就给俺换一袋", ("换",), "用50分换1袋大米，换完还剩6分。对吗？"),
    ("对，就照这个报", ("报",), ""),
])
def test_a_yes_that_repeats_the_read_back_is_yes(text, verbs, said):
    assert interpret(text, verbs, said) is Reply.YES


@pytest.mark.parametrize("text", ["对，46号", "是48号吗", "对，48号不对", "那就给俺换两袋"])
def test_details_that_differ_from_the_read_back_are_no_yes(text):
    said = READ_BACK + "用50分换1袋大米"
    assert interpret(text, ("记", "换"), said) is not Reply.YES


def test_one_character_of_the_item_read_back_is_an_echo_but_no_negator_is():
    said = "用50分换1袋大米，换完还剩49分。对吗？对就说“对”，不对就说“不对”。"
    assert interpret("嗯对，就米", ("换", "兑"), said) is Reply.YES
    assert interpret("嗯对，就不", ("换", "兑"), said) is not Reply.YES
    assert interpret("对，就油", ("换", "兑"), said) is not Reply.YES  # another item: no yes
    brooms = "用5分换1把扫帚，换完还剩43分。对吗？对就说“对”，不对就说“不对”。"
    assert interpret("对，换三把", ("换", "兑"), brooms) is not Reply.YES  # another amount: no yes


@pytest.mark.parametrize("text", [
    # north-eastern "a must", with haste; Henan "what you said is all right"; an old woman's yes with
    # thanks and the way she addresses the worker; Cantonese "right" three times; Hunan "this way"
    "必须的，整吧，麻溜儿的", "中，中，恁说哩都对", "哎，好好好，你就照这个给我记上吧，麻烦你了闺女", "啱啱啱",
    "要得咯，就咯样申", "对，谢谢闺女", "好的嘞，谢谢你啊同志", "你讲得对", "对的，就是那个", "那必须的", "得"])
def test_a_yes_with_thanks_the_way_of_addressing_or_in_other_words_is_yes(text):
    assert interpret(text, ("记", "换", "申诉", "申")) is Reply.YES


@pytest.mark.parametrize("text,meant", [
    ("唔好意思呀，我谂下先，唔报住啦", Reply.STOP),  # an apology is no "no"; "not for now" is a way out
    ("想想还是勿要申诉了，就这样", Reply.STOP),
    ("嗯，中，俺孙子回来再说", Reply.STOP),  # later, not now
    ("等他爹回来了再弄", Reply.STOP),
    ("啊？你说慢些再讲一回，我耳朵不中用", Reply.REPEAT),  # bad hearing is no refusal
    ("你说的不对", Reply.NO),
    ("说得对但是地方错了", Reply.NO),
])
def test_apologies_later_and_bad_hearing_are_read_for_what_they_are(text, meant):
    assert interpret(text, ("报", "申诉")) is meant


@pytest.mark.parametrize("text", ["好，那个人老是来", "对，就这么办，俺先去地里了"])
def test_a_yes_then_words_we_do_not_know_is_asked_again_not_written_and_not_dropped(text):
    assert interpret(text, ("换",)) is Reply.UNCLEAR


@pytest.mark.parametrize("text", ["对了，我想问问低保", "行，顺便问下低保咋申请"])
def test_by_the_way_or_a_new_question_after_a_yes_is_a_new_request(text):
    assert interpret(text, ("换",)) is Reply.OTHER


@pytest.mark.parametrize("text", [
    # Minnan 着 ("right"), Yanbian 内 (Korean 네), Tibetan 啦索, each as a clause of its own, alone or
    # before more agreement; a yes relayed for a grandparent or a parent; south-western 可以得
    "着着", "着啦，就按这样", "内内", "内，对的", "啦索", "拉索拉索，报吧", "奶奶说行", "我爸讲就这么记",
    "阿公说对，报上去", "可以得", "行得，换吧", "是这个意思"])
def test_a_yes_of_its_own_clause_relayed_or_regional_is_yes(text):
    assert interpret(text, ("报", "记", "换")) is Reply.YES


@pytest.mark.parametrize("text,meant", [
    ("奶奶说不对", Reply.NO),  # a relayed no is a no
    ("我妈讲算了", Reply.STOP),
    ("着火了", Reply.UNCLEAR),  # 着 inside words is no yes (the emergency is the policy's to catch)
    ("村内那条路还没修", Reply.OTHER),
    ("他说", Reply.UNCLEAR),  # a relay with nothing relayed
    ("内，不对不对", Reply.NO),  # refusal outweighs the yes word
    ("奶奶还没点头呢", Reply.NO),  # a nod not given is no yes
    ("还问啥", Reply.UNCLEAR),  # impatience alone is asked again
])
def test_yes_words_of_their_own_clause_never_outweigh_a_refusal_or_mean_other_words(text, meant):
    assert interpret(text, ("报", "记", "换")) is meant


@pytest.mark.parametrize("text,meant", [
    ("覅了，屋里还有", Reply.STOP),  # Wu "don't want"
    ("是嗰是嗰，就介样", Reply.YES),  # Wu / Hui "that's it"
    ("那还能有假，就这么报", Reply.YES),  # a rhetorical yes
    ("爷爷听了点点头，讲就这么办", Reply.YES),  # a nod relayed
    ("慢着，先别加，我再问问", Reply.STOP),  # "not yet" is no yes
])
def test_wu_no_rhetorical_yes_a_nod_and_not_yet_are_read_for_what_they_are(text, meant):
    assert interpret(text, ("报", "加", "换")) is meant


@pytest.mark.parametrize("text,verbs,meant", [
    ("好着哩，往上递吧", ("申诉", "递"), Reply.YES),  # north-western "fine" with the offer's verb
    ("你说的不就是我讲的嘛，还问啥", ("报",), Reply.YES),  # what was read is what was said
    ("能报就报吧，让他们早点来修", ("报",), Reply.YES),  # "if it can be done, do it", and a request
    ("能换就换，过两天叫孙子来拿", ("换",), Reply.YES),  # picking the goods up later is no condition
    ("没记住", ("换",), Reply.REPEAT),
    ("对了我问一下，明天是几号，我老是记不住", ("换",), Reply.OTHER),  # other talk: the write is dropped
    ("不领了", ("换",), Reply.STOP),
])
def test_conditional_rhetorical_and_north_western_yes_and_memory_trouble(text, verbs, meant):
    assert interpret(text, verbs) is meant


@pytest.mark.parametrize("text,verbs,meant", [
    ("中嘞，照你读的往上报", ("报",), Reply.YES),  # "as you read it"
    ("不换还能咋整，换吧", ("换",), Reply.YES),  # "what else is there": the verb after it decides
    ("不记还能怎么办呢", ("记",), Reply.UNCLEAR),  # the rhetorical alone agrees to nothing
    ("事情就这些了，报上去", ("报",), Reply.YES),  # "that is all there is" around the yes
    ("就这些", ("报",), Reply.UNCLEAR),
    ("没别的了，不报了", ("报",), Reply.STOP),
    ("照你念的不对", ("报",), Reply.NO),
])
def test_as_read_what_else_and_that_is_all_around_a_yes(text, verbs, meant):
    assert interpret(text, verbs) is meant


@pytest.mark.parametrize("text,verbs,meant", [
    ("嫽扎咧，报吧", ("报",), Reply.YES),  # Shaanxi "great"
    ("好的好的，辛苦你们了", ("报",), Reply.YES),  # thanks to the office after the yes
    ("别登记，我就问问", ("报",), Reply.STOP),  # "don't file it" without a closing particle
    ("他们不要报，我要报", ("报",), Reply.NO),  # someone else's words are no way out, but 不要 refuses
    # the offer to report answered "write it down, I have a say" (its verbs: 报, 登记, 记, 提 …)
    ("那你记下来，这个意见我得提", ("报", "反映", "登记", "记", "提"), Reply.YES),
    ("我敢说，不怕他们", ("报", "反映", "登记", "记", "提"), Reply.UNCLEAR),  # no answer to the offer
])
def test_shaanxi_yes_thanks_and_dont_file_it(text, verbs, meant):
    assert interpret(text, verbs) is meant


def test_only_asking_after_the_way_out_asks_for_nothing_more():
    assert after_stop("甭登记，俺就随便问问") == ""
    assert after_stop("不报了，帮俺问下积分超市几号开") == "帮俺问下积分超市几号开"


@pytest.mark.parametrize("text,verbs,meant", [
    ("对的，没得错，就这么报", FILING_VERBS, Reply.YES),  # "no mistake" said with 得
    ("行，麻烦你们了", FILING_VERBS, Reply.YES),  # thanks to the office after the yes
    ("不用改了，交上去吧", FILING_VERBS, Reply.YES),  # nothing to change; 交 is handing it in
    ("这个我不交", FILING_VERBS, Reply.STOP),  # not handed in
    ("那我撤回吧", FILING_VERBS, Reply.STOP),  # taken back
    ("我不往上报了", FILING_VERBS, Reply.STOP),  # not passed up
    ("等我老伴从地里回来，跟他商量一下再说", FILING_VERBS, Reply.STOP),  # talked over first, with anyone
    ("我考虑好了再报", FILING_VERBS, Reply.STOP),
])
def test_no_mistake_thanks_nothing_to_change_taking_back_and_talking_it_over(text, verbs, meant):
    assert interpret(text, verbs) is meant


@pytest.mark.parametrize("text,verbs,meant", [
    ("记的是昨天吧？是昨天就记上", ("记",), Reply.UNCLEAR),  # a condition we were not told: asked again
    ("如果是上午的话就报", FILING_VERBS, Reply.UNCLEAR),
    ("是这样就记上", ("记",), Reply.YES),  # the condition is the read-back itself
    ("要是没错就报吧", FILING_VERBS, Reply.YES),
])
def test_a_yes_on_a_condition_we_were_not_told_is_asked_again(text, verbs, meant):
    assert interpret(text, verbs) is meant


@pytest.mark.parametrize("text,verbs,meant", [
    ("好额好额，就噶记", ("记",), Reply.YES),  # Wu: "this way"
    ("係，换佢啦", ("换",), Reply.YES),  # Cantonese: "change it"
    ("行，就照你讲的记", ("记",), Reply.YES),
    ("情况就是那样，你们看着安排", FILING_VERBS, Reply.YES),  # leaving the arrangements to the office
    ("卜是", FILING_VERBS, Reply.NO),  # 不 written 卜
    ("不鲍了", FILING_VERBS, Reply.STOP),  # sounds like 不报了
    ("卜报啦", FILING_VERBS, Reply.STOP),
])
def test_wu_and_cantonese_yes_leaving_it_to_the_office_and_bu_misheard(text, verbs, meant):
    assert interpret(text, verbs) is meant


def test_daring_to_say_it_to_their_face_is_no_way_out():
    from bot.replies import only_details

    assert not is_stop("不用保密，我敢当面说") and only_details("不用保密，我敢当面说")
    assert is_stop("算了，我自己当面去说")


@pytest.mark.parametrize("text,meant", [
    ("那行，给我登记上，叫他们来修", Reply.YES),  # who should come is no part of the yes
    ("那就麻烦给登个记", Reply.YES),  # 登记 said apart
    ("不了，叫村里来修也白搭", Reply.NO),
])
def test_the_offer_to_report_answered_with_who_should_come(text, meant):
    assert interpret(text, ("报", "反映", "要", "递", "交", "转", "登记", "登个记", "记", "提")) is meant


@pytest.mark.parametrize("text", ["对，这下没差了", "是的，劳烦你们跑一趟", "你念得一点没错，就照这个来", "行，谢谢你们操心"])
def test_a_yes_then_words_that_change_nothing_is_yes(text):
    said = "我念一遍：三组，村口的路灯不亮了，属于道路交通，不算急，不用保密。对吗？对就说“对”，不对就说“不对”。"
    assert interpret(text, FILING_VERBS, said) is Reply.YES, text


@pytest.mark.parametrize("text", ["对，是四组的", "对，不过别写我名字", "行，还有个事", "对，再加一句", "好，等我问问",
                                  "对，两个路灯都坏了", "对，其实是昨天的事", "你好，小助手"])
def test_a_yes_then_words_that_may_change_the_write_is_asked_again(text):
    said = "我念一遍：三组，村口的路灯不亮了，属于道路交通，不算急，不用保密。对吗？对就说“对”，不对就说“不对”。"
    assert interpret(text, FILING_VERBS, said) is not Reply.YES, text


def test_talking_it_over_first_in_other_words_is_a_way_out():
    assert is_stop("等孩子他爸下班回来，我俩商议商议再说")


def test_asking_someone_first_when_they_come_is_a_way_out():
    assert is_stop("等我孙女放学回来，我问问她再讲") and is_stop("等老伴从地里回来我合计一下")


@pytest.mark.parametrize("text", ["是唻", "是唻，给记上", "好唻"])
def test_a_yes_with_the_shandong_particle_is_yes(text):
    assert interpret(text, ("记",)) is Reply.YES, text


@pytest.mark.parametrize("text", ["一字不差，照这个报", "念的一点儿都没错", "半个字都不差"])
def test_nothing_off_in_the_read_back_is_yes(text):
    assert interpret(text, FILING_VERBS) is Reply.YES, text


def test_a_character_being_wrong_is_still_a_no():
    assert interpret("有一个字不对", FILING_VERBS) is not Reply.YES


@pytest.mark.parametrize("text", ["嗯……等我家那口子到家一块儿商量", "等她爹回来再合计"])
def test_waiting_for_someone_to_talk_it_over_is_a_way_out(text):
    assert is_stop(text), text


@pytest.mark.parametrize("text, verbs, meant", [
    ("亚克西，就这么报", FILING_VERBS, Reply.YES),  # Xinjiang: Uyghur "good"
    ("对得很", FILING_VERBS, Reply.YES),  # north-western "very much so"
    ("算咧", (), Reply.STOP),  # 算了 with a north-western particle
    ("冇爱报咯", FILING_VERBS, Reply.STOP),  # Hakka "don't want to report"
    ("毋使报", FILING_VERBS, Reply.STOP),  # Hakka / Minnan "no need to report"
    ("阿尼阿尼", FILING_VERBS, Reply.NO),  # Korean-Chinese "no"
])
def test_north_western_hakka_and_korean_chinese_yes_and_no(text, verbs, meant):
    assert interpret(text, verbs) is meant, text
