"""The turn pipeline (bot/channels/turn.py) on its own: input limits and the emergency override,
on a stand-in for Rasa's UserMessage. Through the running server and every channel:
tests/e2e/test_channels_emergency.py."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.channels import turn


@dataclass
class Collector:
    messages: list = field(default_factory=list)

    async def send_text_message(self, recipient_id, text):
        self.messages.append({"recipient_id": recipient_id, "text": text})


@dataclass
class Message:  # the attributes of rasa.core.channels.channel.UserMessage the pipeline uses
    text: str
    sender_id: str = "cli:hh001"
    output_channel: Collector = field(default_factory=Collector)
    parse_data: dict | None = None
    metadata: dict | None = None


STAFF = {"cli:wangxiulan", "voice:staff-wangxiulan"}


def through_pipeline(text: str, max_chars: int = turn.MAX_CHARS, sender: str = "cli:hh001",
                     asked: list | None = None) -> tuple[list, Message]:
    reached: list = []

    async def on_new_message(message):
        reached.append(message)

    def is_staff(sender_id: str) -> bool:  # stands in for the database lookup
        if asked is not None:
            asked.append(sender_id)
        return sender_id in STAFF

    message = Message(text, sender_id=sender)
    asyncio.run(turn.pipeline(on_new_message, max_chars, is_staff=is_staff)(message))
    return reached, message


def test_emergency_words_go_to_the_emergency_intent_with_the_words_kept():
    reached, message = through_pipeline("我家的积分怎么扣了，隔壁老王刚才喊救命")
    assert reached == [message]
    assert message.text == "我家的积分怎么扣了，隔壁老王刚才喊救命"  # what the tracker records
    assert message.parse_data["intent"] == {"name": "emergency", "confidence": 1.0}
    assert message.parse_data["text"] == message.text and message.parse_data["entities"] == []
    assert message.metadata == {"override": "emergency"}


def test_other_messages_and_rasa_commands_are_left_to_the_model():
    for text in ("我有多少积分", '/inform{"note": "救命"}', "/emergency"):
        reached, message = through_pipeline(text)
        assert reached == [message] and message.parse_data is None and message.metadata is None


def test_blank_and_over_long_messages_are_answered_without_the_model():
    for text, reply in (("", turn.EMPTY), ("  \n\t", turn.EMPTY), ("路" * 11, turn.TOO_LONG.format(limit=10))):
        reached, message = through_pipeline(text, max_chars=10)
        assert reached == [] and message.output_channel.messages == [{"recipient_id": "cli:hh001", "text": reply}]


def test_refusal():
    assert turn.refusal("你好") is None
    assert turn.refusal(None) == turn.EMPTY
    assert "500" in turn.refusal("啊" * 501, 500)


STAFF_QUESTIONS = ("今天有没有人喊救命", "有没有人喊救命", "这礼拜有几个喊救命的", "刚才谁家喊救命了？",
                   "今天有人喊救命吗", "查一下今天喊救命的记录", "俺网格里今天有没有着火的")


def test_staff_asking_about_emergencies_get_the_open_alerts_whatever_the_model_hears():
    for text in STAFF_QUESTIONS + ("刚刚黄翠花家是不是喊了救命", "这会儿片里有人喊救急没有", "我手上还压着什么急事没办的"):
        for sender in STAFF:
            reached, message = through_pipeline(text, sender=sender)
            assert reached == [message], (text, sender)
            assert message.parse_data["intent"] == {"name": "query_emergencies", "confidence": 1.0}, (text, sender)
            assert message.metadata == {"override": "query_emergencies"}


def test_a_villager_asking_the_same_raises_the_alarm():
    for text in STAFF_QUESTIONS:
        reached, message = through_pipeline(text, sender="voice:device-008")
        assert message.parse_data["intent"]["name"] == "emergency", text


def test_staff_in_danger_or_reporting_one_raise_the_alarm():
    for text in ("救命", "救命啊 有没有人", "快来人啊，有没有人", "我摔倒了，有没有人", "我家着火了 有没有人来",
                 "老王摔倒了，有没有人管", "三组着火了", "隔壁喊救命 快来", "救救我 胸口疼"):
        reached, message = through_pipeline(text, sender="cli:wangxiulan")
        assert message.parse_data["intent"]["name"] == "emergency", text


def test_whether_the_sender_is_staff_is_looked_up_only_for_questions_about_emergencies():
    asked: list = []
    for text in ("救命", "我摔倒了", "我有多少积分", "低保咋申请"):
        through_pipeline(text, sender="cli:wangxiulan", asked=asked)
    assert asked == []
    through_pipeline("今天有没有人喊救命", sender="cli:wangxiulan", asked=asked)
    through_pipeline("今天有没有紧急求助", sender="cli:wangxiulan", asked=asked)  # alert words, no emergency word
    assert asked == ["cli:wangxiulan", "cli:wangxiulan"]
    reached, message = through_pipeline("今天有没有紧急求助", sender="voice:device-008")
    assert message.parse_data is None  # a villager's question without an emergency word: the model's


def test_when_staff_cannot_be_told_the_alarm_is_raised(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr(turn, "_database_url", broken)
    assert turn.sender_is_staff("cli:wangxiulan") is False
    message = Message("今天有没有人喊救命", sender_id="cli:wangxiulan")
    turn.route(message)
    assert message.parse_data["intent"]["name"] == "emergency"


def test_asks_about_emergencies():
    assert all(turn.asks_about_emergencies(t) for t in STAFF_QUESTIONS)
    for text in ("救命", "救命啊有没有人", "快来人", "我摔倒了有没有人", "老王摔倒了有没有人管", "我老伴晕倒了 咋办",
                 "隔壁着火了", "俺家起火了吗没人来", "俺家有急事，快来人"):
        assert not turn.asks_about_emergencies(text), text


def test_emergencies_said_without_the_listed_words_raise_the_alarm():
    """A fall and not getting up, a fire, fainting, gas, water, a stroke: said the way people in
    trouble say it (bot.emergency._EMERGENCY_SAID), not only the listed words."""
    for text in ("俺在院里滑了一跤，爬不起来了", "阿婆跌倒喺地下，起唔到身", "老头摔在地上了", "俺起不来了",
                 "灶屋烧起来了", "柴垛着起来了，火老大了", "俺娘晕过去了叫不醒",
                 "屋里一股煤气味", "天然气漏了", "娃掉塘里了", "他嘴歪了，半边身子动不了", "胸口闷得上不来气",
                 "手割了，血止不住",
                 # asked for help in other words, falls from somewhere, a stroke's speech, violence
                 "救救我", "俺娘从床上滚下来了", "老头子喘不上来气了", "她脸歪了说话不清楚", "电线着了",
                 "有人打架动刀了", "被狗咬了流血", "俺摔了起不来", "快打120", "房子塌了压着人了",
                 "他喝了农药了", "娃误吃了耗子药", "嘴里吐白沫", "我头晕眼花，天旋地转的，快叫人来",
                 # not getting up, with a particle; a stroke now, and a new danger after an old stroke
                 "我起不来咯……腿使不上劲，家里没旁人", "爷爷好像中风了", "去年中风，今天又摔倒了",
                 # a fall down the stairs, a head cut open
                 "哎呀俺婆婆从楼梯上滚下去了，头磕破了直流血",
                 # choking; water or smoke closing in on someone who cannot get out
                 "老太太吃汤圆噎住了，脸都憋紫了", "水都漫到床边了，我这老婆子腿脚不好，出不去啊",
                 "屋里进烟了，门打不开出不去",
                 # Cantonese: a fall down the stairs, bleeding, cannot move; a bite that keeps bleeding
                 "阿爷喺楼梯度跌咗落嚟，个头流紧血，郁都郁唔到", "我孙娃儿遭狗咬了，腿上好大个口子，血咋个都止不住",
                 # trouble long ago said with a word of now
                 "前两天摔了一跤，到现在还起不来",
                 # a scald, a child who cries until the breath stops, charcoal fumes indoors, a step
                 # missed on the stairs and someone who does not answer
                 "热水瓶倒了，滚水烫了娃的脚背", "娃哭得背过气去了", "屋里烧着煤炉，俺头晕想吐",
                 "俺爹下台阶踩空摔下去了", "我喊她半天，叫也不应",
                 # a fit, chest pain spreading to the arm, a fall said with a particle
                 "俺家老头子突然抽过去了", "胸口闷得慌，左手臂发麻", "哎哟，灶屋门口滑倒啦，腰起不来",
                 # a snake bite, someone who cannot be woken
                 "俺爹在田埂上叫蛇咬了，腿肿起来了", "娃喝了酒睡死过去了，咋摇都不醒",
                 # pills swallowed by the handful or by mistake; a fall again after an old one
                 "孙子把奶奶的安眠药吞了一把", "老头子误服了消毒水", "前几天跌了一跤今儿又摔倒了",
                 # a cry for people, a fall onto the ground, no answer, a fire with a particle
                 "快来人呀，俺娘倒在地上了", "我喊了他也不出声", "锅里的油烧起来啦", "灶屋的火苗蹿得好高",
                 # a stroke's signs come on suddenly, without its name
                 "俺爹吃着饭忽然舌头僵了，说话也说不清", "奶奶一下子左边胳膊没劲了，口齿不清",
                 # breath that will not come, lips gone dark
                 "老汉一口气提不上来，嘴唇发青",
                 # a fit in northern words, unconscious, into a water jar, gas escaping, a house down on
                 # people, an electric shock, an accident now, a life in danger by one's own hand, blood,
                 # a birth under way, choking, fire and water closing in, the ground giving way
                 "俺爹倒在地上抽抽起来了", "奶奶昏迷过去了", "娃掉到粪坑里了", "液化气罐跑气了满屋子味",
                 "墙倒了，人还在底下", "他干活让电打了", "老伴刚出车祸了", "邻居家媳妇想不开要跳河",
                 "婆婆大口吐血", "儿媳妇羊水破了", "孩子嗓子里卡了块骨头", "后山起大火了",
                 "洪水冲进院子了", "塌方把路边那户人家埋了",
                 # a stroke's crooked mouth and slurred speech, chest pain said with 窝, breath that
                 # will not come evenly, a call for anyone, someone slipped into water and not out yet
                 "奶奶嘴角一下子歪了，右边胳膊抬不起来", "我心口窝子疼得厉害", "他气都喘不匀了",
                 "快来个人啊", "小孙子滑进水渠里，还没捞上来"):
        reached, message = through_pipeline(text, sender="voice:device-008")
        assert message.parse_data["intent"]["name"] == "emergency", text


def test_words_near_an_emergency_that_are_not_one_are_left_to_the_model():
    for text in ("小学门口那段路坑坑洼洼的，娃们老摔跤", "焚烧秸秆扣几分", "我去年摔断了腿，残疾证咋办",
                 "早上起不来，几点开门", "站起来说话", "火灾保险有没有补贴", "电动车轮胎没气了",
                 "砖厂烟囱天天冒黑烟了，呛得慌", "这个办法不行了", "120是急救电话吗", "树上的果子掉下来了",
                 "河里的鱼死了", "农药补贴怎么领", "买农药能报销不", "快叫人来帮我搬东西",
                 # a stroke long past is a condition asked about, not an emergency
                 "俺家老头子中风后瘫炕上起不来，那护理补贴上哪申请", "我爹中过风，能办残疾证不",
                 "俺爹中风瘫床上三年了，听说有个护理补贴，咋办", "这水太脏了出不去", "紫菜汤咋做",
                 # a fire or a fall told as past, asked about; bikes that keep falling on a bad road
                 "上个礼拜俺家灶屋着火烧光了，俺听人讲有临时救助，像俺这样够条件不",
                 "去年冬天我摔了一跤，腿落下毛病，医保能报吗", "村尾嗰条路有个大窿，单车跌咗几次啦",
                 # charcoal asked about, a door knocked at without an answer
                 "冬天屋里烧炭盆取暖要注意啥", "敲门叫他不应我就先回来了",
                 # a fall long past told with a word of now: the leg it left is a condition
                 "前年从梯子上摔下来，现在腿脚不灵便，能领残疾补贴不",
                 "上个月跌了一跤住了院，现在出院了，住院的钱咋报", "降压药吃多了伤不伤肾",
                 # medicine taken for years or days is no overdose
                 "俺这降压药吃了十几年了，门诊能报不", "这药吃了好几天了也不见好",
                 "来人家里吃饭要提前说吗", "钥匙掉地上了",
                 # the same signs long standing, or words that only sound like them
                 "老伴半边身子不好使好几年了，护理补贴咋申请", "这事在电话里话说不清，我去村委会当面说",
                 "养老金为啥少了，问了几个人都说不清",
                 # the same words long past, or as what someone is, or a question about a past one
                 "他年轻时想不开过，如今好好的", "昏迷的病人住院咋报", "腿没知觉十来年了，护理补贴能领不",
                 "去年发大水冲了房子，有补助吗", "上个月触电住了院，能报销吗", "闺女下个月要生了，医保咋办",
                 "我家缸里没水了", "儿子出车祸住院了，医保能报多少",
                 # a blocked drain that lets rain into the yard is a report, not an alarm
                 "屋后的水沟堵了，一下雨水就灌进院里",
                 # someone asked to come and mend a thing; a wall's paint, not a face, gone at once
                 "快来个人修修路灯", "墙上的漆一下子掉了一大块"):
        reached, message = through_pipeline(text, sender="voice:device-008")
        assert message.parse_data is None, text
