"""The free-text parsers of actions/parsing.py: what people say, turned into values."""
from __future__ import annotations

import pytest

from actions import parsing


@pytest.mark.parametrize("said,choice", [
    ("第二个", 2), ("选2", 2), ("二号", 2), ("两个", 2), ("第3个", 3), ("就第一个吧", 1), ("好的", None), ("", None),
])
def test_parse_choice(said, choice):
    assert parsing.parse_choice(said) == choice


@pytest.mark.parametrize("said,number", [("3", 3), ("三", 3), ("十二", 12), ("两", 2), ("", None), ("肥皂", None)])
def test_parse_quantity(said, number):
    assert parsing.parse_quantity(said) == number


@pytest.mark.parametrize("said,ticket", [
    ("260101号办得怎么样了", "260101"), ("受理260104 我下午去看", "260104"), ("12345号", None), ("我上次反映的", None),
])
def test_ticket_in(said, ticket):
    assert parsing.ticket_in(said) == ticket


@pytest.mark.parametrize("said,content", [
    ("我要反映一下问题村口路灯坏了", "村口路灯坏了"),
    ("投诉 三组垃圾桶满了", "三组垃圾桶满了"),
    ("俺想举报个事儿", ""),
    ("村口的路灯坏了三天了", "村口的路灯坏了三天了"),
])
def test_strip_filing_request(said, content):
    assert parsing.strip_filing_request(said) == content


@pytest.mark.parametrize("content,category,substantive", [
    ("村口路灯坏了", "道路交通", True),
    ("路灯坏了", None, True),
    ("路灯坏", None, False),  # too short
    ("有个问题", None, False),  # too short
    ("我有个问题要说", None, False),  # only asks to file
    ("我有个问题要说一下吧啊", None, True),  # long enough to be the content
    ("问题是水管爆了", "水电气", True),  # a category makes it a problem
])
def test_describes_problem(content, category, substantive):
    assert parsing.describes_problem(content, category) is substantive


@pytest.mark.parametrize("said,urgency", [
    ("不急", "一般"), ("不着急，慢慢来", "一般"), ("很急", "紧急"), ("着火了", "紧急"), ("急", "紧急"),
    ("急的", "紧急"), ("还行吧", None), ("", None),
])
def test_urgency_in(said, urgency):
    assert parsing.urgency_in(said) == urgency


@pytest.mark.parametrize("said,place", [("就在村委会门口", "村委会门口"), ("地点是小学门口", "小学门口"),
                                        ("三组小卖部", "三组小卖部"), ("在", "")])
def test_strip_place_prefix(said, place):
    assert parsing.strip_place_prefix(said) == place


@pytest.mark.parametrize("said,anonymous", [
    ("不用", False), ("不要", False), ("不需要保密", False), ("要", True), ("保密", True), ("匿名吧", True),
    ("嗯", None),
    # Cantonese, Wu and Minnan "no need", indifference, and the name left out in other words
    ("唔使保密", False), ("不消保密", False), ("无所谓", False), ("名字唔好写", True), ("莫提我名字", True),
    # the object said first: no secrecy wanted
    ("匿名的就不用了", False), ("保密么没必要", False),
])
def test_anonymity_in(said, anonymous):
    assert parsing.anonymity_in(said) is anonymous


@pytest.mark.parametrize("said,rest", [("不对，地点是小学门口", "地点是小学门口"), ("错了 是噪音", "是噪音"),
                                       ("不对", ""), ("地点是小学", "地点是小学")])
def test_strip_negation(said, rest):
    assert parsing.strip_negation(said) == rest


@pytest.mark.parametrize("said,correction", [
    ("地点是三组小卖部门口", ("place", "三组小卖部门口")),
    ("地方在村口", ("place", "村口")),
    ("在小学门口", ("place", "小学门口")),
    ("类别算噪音", ("category", "噪音")),
    ("分类是动物", ("category", "动物")),
    ("内容是水管爆了", ("description", "水管爆了")),
    ("问题是路灯不亮", ("description", "路灯不亮")),
    ("很急", None),
    ("水管爆了", None),
])
def test_named_correction(said, correction):
    assert parsing.named_correction(said) == correction


@pytest.mark.parametrize("said,answer", [
    ("满意", "满意"), ("基本满意吧", "基本满意"), ("不满意 还在漏", "不满意"), ("还行", "基本满意"), ("嗯那个", None),
])
def test_satisfaction_in(said, answer):
    assert parsing.satisfaction_in(said, ("满意", "基本满意", "不满意")) == answer


@pytest.mark.parametrize("said,last", [("我上次反映的那件事咋样了", True), ("那件事呢", True),
                                       ("我反映的事都办得怎么样了", False)])
def test_refers_to_last(said, last):
    assert parsing.refers_to_last(said) is last


@pytest.mark.parametrize("said,command", [
    ("260101办结了 路灯已经换好了", ("resolve", "路灯已经换好了")),
    ("受理260104 我下午去看", ("accept", "我下午去看")),
    ("260104不受理，不归村里管", ("reject", "不归村里管")),  # not read as 受理
    ("260102上报给镇里", ("escalate", "给镇里")),
    ("260101那个路灯得换整根杆子，组里弄不了，往村里报", ("escalate", "那个路灯得换整根杆子，组里弄不了")),
    ("260104广场舞那事我这边压不住，报到村里去", ("escalate", "广场舞那事我这边压不住")),  # not "里去"
    ("260103备注：已经联系电工", ("note", "已经联系电工")),
    ("260101办结了", ("resolve", "")),
    ("260104跳舞那个喇叭的事摆平了，给它结掉", ("resolve", "跳舞那个喇叭的事摆平了")),  # "给它" is no part of the note
    ("260101怎么样了", (None, "")),
])
def test_parse_staff_command(said, command):
    assert parsing.parse_staff_command(said) == command


@pytest.mark.parametrize("said,name,number,ref", [
    ("查一下李桂芳家", None, None, parsing.HouseholdRef(name="李桂芳")),
    ("查一下40号户", None, None, parsing.HouseholdRef(number="40")),
    ("看看三组十二号", None, None, parsing.HouseholdRef(number="十二", group="三组")),
    ("查一下", None, None, parsing.HouseholdRef()),
    ("记录走访 李桂芳家 屋顶漏雨", "李桂芳", None, parsing.HouseholdRef(name="李桂芳")),  # NLU's entity wins
    ("查一下12号", None, "7", parsing.HouseholdRef(number="7")),
    ("周德福家在哪一组", None, None, parsing.HouseholdRef(name="周德福")),  # 哪一组 asks for the group
])
def test_household_reference(said, name, number, ref):
    assert parsing.household_reference(said, name, number) == ref


def test_a_household_reference_without_name_or_number_is_empty():
    assert parsing.HouseholdRef(group="三组").empty
    assert not parsing.HouseholdRef(name="李桂芳").empty


@pytest.mark.parametrize("said,head,note", [
    ("记录走访 李桂芳家 老人身体还行 屋顶漏雨", "李桂芳", "老人身体还行 屋顶漏雨"),
    ("走访了李桂芳，一切正常记一下", "李桂芳", "一切正常"),
    ("记录走访 李桂芳家", "李桂芳", ""),
])
def test_visit_note(said, head, note):
    assert parsing.visit_note(said, head) == note


@pytest.mark.parametrize("said,deductions,last_month", [
    ("为啥扣我分", True, False), ("上个月积分咋变的", False, True), ("上月扣了多少", True, True),
    ("最近积分咋变的", False, False),
])
def test_points_history_questions(said, deductions, last_month):
    assert parsing.asks_for_deductions(said) is deductions
    assert parsing.asks_for_last_month(said) is last_month


@pytest.mark.parametrize("said,count", [
    ("换两袋洗衣粉", 2), ("3块肥皂", 3), ("一提卫生纸", 1), ("换袋米", None), ("一百分能换几斤鸡蛋", None), ("换个脸盆", None),
])
def test_counted_quantity(said, count):
    assert parsing.counted_quantity(said) == count


@pytest.mark.parametrize("said,question", [
    ("烧秸秆要扣多少分", True), ("这不是要扣分吗", True), ("打扫卫生能加分不", True), ("扣过分没", True),
    ("给8号户加5分，义务清扫", False), ("12号户乱扔垃圾 扣5分", False),
])
def test_asks_question(said, question):
    assert parsing.asks_question(said) is question


@pytest.mark.parametrize("said,only_request", [
    ("那你给报一下吧，名字不用保密", True), ("我要反映个事", True), ("我要报修", True),
    ("那就劳驾您替我报上去", True), ("辛苦你给登记一下", True),
    ("村口路灯坏了", False), ("停电了", False), ("有人乱倒垃圾", False),
])
def test_only_asks_to_file(said, only_request):
    assert parsing.only_asks_to_file(said) is only_request


@pytest.mark.parametrize("said,anonymous", [
    ("那你帮俺报上去，名字不用保密", False), ("给俺保密啊", True), ("报上去吧", None), ("不要写俺名字", None),
])
def test_anonymity_said(said, anonymous):
    assert parsing.anonymity_said(said) is anonymous


@pytest.mark.parametrize("said, meant", [
    ("给12号……哦不是，13号王建军家加5分", "给13号王建军家加5分"),
    ("查8号，不对，9号", "查9号"),
    ("给十二号，说错了，是十三号加5分", "给十三号加5分"),
    ("12号不是低保户", "12号不是低保户"),
    # taken back after the rest of the request
    ("给60号加五分义务清扫……哦说岔了，是66号", "给66号加五分义务清扫"),
    ("给8号加5分，不是扣分", "给8号加5分，不是扣分"),
    ("给46号加两分，垃圾分得好——哦不对，是47号", "给47号加两分，垃圾分得好"),
    # the first number said bare
    ("四十六，哦不是，四十八号周德福加分", "四十八号周德福加分"),
    ("查二十三，不对不对，二十四号", "查二十四号"),
    ("他家住了5年，不是说错了", "他家住了5年，不是说错了"),
    # the corrected number said without 号
    ("十八号，哎不对，是十六，周翠花，今儿扫了大街，加五分", "十六号，周翠花，今儿扫了大街，加五分"),
    ("给5号，不对，十分", "给5号，不对，十分"),
    # a bare 不 takes it back too ("哦不，"), but not 不 inside words
    ("十一号……哦不，十二号，她家最近咋样", "十二号，她家最近咋样"),
    ("12号不行了，快去看看", "12号不行了，快去看看"),
    # the right number said again with its verb ("给…", "查…")
    ("给30号，呃不对，给31号加五分", "给31号加五分"),
    ("查9号，不是，查19号", "查19号"),
])
def test_a_house_number_corrected_in_the_same_breath(said, meant):
    assert parsing.without_self_corrections(said) == meant


@pytest.mark.parametrize("said", ["要得，那你帮我递上去嘛", "中，那你给俺报上去", "好，那你帮我交上去"])
def test_a_yes_with_a_request_to_file_says_no_problem_of_its_own(said):
    assert parsing.only_asks_to_file(parsing.strip_filing_request(said))
    assert parsing.asks_to_file(said)


def test_a_boundary_dispute_reports_a_problem():
    assert parsing.reports_problem("隔壁盖房子把墙垒到我家地界上来了，跟他说他也不听，这种事能找人调解不")


@pytest.mark.parametrize("said, private", [
    ("不用保密", False), ("要保密", True), ("要", True), ("不要", False), ("不用了", False), ("要得保个密嘛", True),
    ("俺不想惹事", True), ("别让他知道是我", True), ("写我名字也行", False), ("名字不用保密", False),
    ("嗯", None), ("啥意思", None), ("甭报了", None),  # not an answer: asked again (a way out is the policy's)
    # hiding the name, or writing it as it is, in everyday words
    ("名字给俺藏起来", True), ("别写我名字", True), ("不留名", True), ("名字照写", False), ("不用藏名字", False),
])
def test_the_answer_to_keeping_the_name_private(said, private):
    assert parsing.anonymity_in(said) is private


@pytest.mark.parametrize("said,note", [("260101村口那个灯换上新的了，这件可以结了", "村口那个灯换上新的了"),
                                       ("260101办结了 路灯已经换好了", "路灯已经换好了")])
def test_a_ticket_closed_in_the_workers_own_words(said, note):
    assert parsing.parse_staff_command(said) == ("resolve", note)


@pytest.mark.parametrize("said,place", [("哎不对，地方说岔了，卫生院后头那段才是", "卫生院后头那段"),
                                        ("地方说错了，是五组篮球场边上", "五组篮球场边上"),
                                        ("不对不对，地方是村委会门口", "村委会门口")])
def test_a_place_corrected_in_everyday_words(said, place):
    assert parsing.named_correction(parsing.strip_negation(said)) == (parsing.PLACE, place)


def test_a_house_number_corrected_twice_over():
    said = "给11号……不对不对，是16号周翠花家，参加义务清扫加5分"
    assert parsing.without_self_corrections(said) == "给16号周翠花家，参加义务清扫加5分"


@pytest.mark.parametrize("said,count", [("拎来一袋塑料瓶，数了是四十个", 40), ("塑料瓶三十个", 30), ("两袋塑料瓶", 2),
                                        ("废纸五公斤", 5), ("来看看", None)])
def test_the_count_delivered_is_in_the_rules_measure_not_the_bag(said, count):
    assert parsing.delivered_quantity(said) == count


@pytest.mark.parametrize("said,fields,swap", [
    ("哦不是小学，是幼儿园门口那段", ("小学门口", "村小学门口那段路面塌了个坑"), ("小学门口", "幼儿园门口")),
    ("不是东头，是西头", ("三组东头", "东头路灯坏了"), ("东头", "西头")),
    ("不是卫生院，在学校后头", ("卫生院前头",), ("卫生院前头", "学校后头")),
    ("不是卫生院，是学校", ("卫生院前头",), ("卫生院", "学校")),
    ("不对，不在村西，在村东那口井边上", ("三组", "村西那口井边上的盖子丢了"), ("村西", "村东")),  # 不在…在…
    ("在南头，不在北头", ("北头晒场",), ("北头", "南头")),
    ("不是这个意思", ("三组东头",), None),  # nothing read back is named
    ("是小学门口", ("小学门口",), None),
    # words about the slip said in between; the group alone as the place, and again in the story
    ("不是二组，俺说差了，是三组晒场那头", ("二组", "二组晒场那头的电线掉下来了"), ("二组", "三组")),
])
def test_a_word_read_back_is_put_right_where_it_stands(said, fields, swap):
    assert parsing.swap_in(said, fields) == swap


@pytest.mark.parametrize("said, meant", [
    ("三组……不是，五组路口那棵大树倒了，把路都拦了", "五组路口那棵大树倒了，把路都拦了"),
    ("12号，说错了，13号门口水管爆了", "13号门口水管爆了"),
    ("路灯，不是坏了，是歪了", "路灯，不是坏了，是歪了"),  # no group or house taken back
    ("三组路口的灯坏了", "三组路口的灯坏了"),
])
def test_a_report_that_starts_with_the_wrong_group_starts_again(said, meant):
    assert parsing.without_false_start(said) == meant


def test_a_correction_said_right_one_first_is_a_swap():
    """"不是不是，是村尾不是村口": the right place first, then the wrong one."""
    assert parsing.swap_in("不是不是，是村尾不是村口", ("村口",)) == ("村口", "村尾")
    assert parsing.swap_in("是幼儿园门口，不是小学门口", ("小学门口",)) == ("小学门口", "幼儿园门口")
    assert parsing.swap_in("不是这个", ("小学门口",)) is None


@pytest.mark.parametrize("said,price", [
    ("一包盐几分", True), ("香皂多少分啊", True), ("换一袋大米得花多少分", True),
    ("我还有多少分", False), ("俺家还剩几分", False), ("攒了多少分了", False), ("换一袋大米", False)])
def test_a_price_is_asked_by_the_points_at_the_end_not_by_a_balance(said, price):
    assert parsing.asks_price(said) is price


@pytest.mark.parametrize("said,again", [("那卫生纸呢", True), ("肥皂呢？", True), ("那要是换两袋呢", True),
                                        ("我想换卫生纸", False), ("那卫生纸给我换一提吧，我家里没了呢", False)])
def test_a_short_that_one_then_asks_the_same_of_another_thing(said, again):
    assert parsing.asks_same_again(said) is again
