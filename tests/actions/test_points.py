"""Points: balance, history three at a time, rules, redemption with read-back and 对, and a
deduction appeal (offered, filed once)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from actions import slots
from actions.basics import ActionResolvePending
from actions.points import ActionPointsBalance, ActionPointsHistory, ActionPointsRules, ActionRedeemPoints
from bot import points
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.models import AuditLog, PointsAppeal, PointsEntry, User, utcnow
from tests.actions.harness import CONFIRM, VOICE_CHANNEL



def _balance(runner, sender: str) -> int:
    with session_scope(url=runner.settings.database.url) as s:
        return points.balance_of(s, resolve_actor(s, sender).household_id)


def _confirm(runner, sender: str, pending):
    """The user says 对 to what is pending."""
    return runner.run(ActionResolvePending(runner.settings), sender, "对", intent="affirm",
                      slots={slots.PENDING_WRITE: pending, slots.AWAITING_CONFIRMATION: True})


def test_points_balance_comes_from_the_ledger(runner):
    balance = _balance(runner, "cli:liguifang")
    said = runner.run(ActionPointsBalance(runner.settings), "cli:liguifang", "俺家积分还有多少", intent="check_points")
    assert said.text.startswith(f"您家现在有{balance}分。")
    assert "今年挣的积分在全村66户里排第" in said.text


def test_spending_in_the_shop_is_not_called_a_deduction_and_keeps_the_rank(runner):
    sender = "cli:hh030"
    before = runner.run(ActionPointsBalance(runner.settings), sender, "我家多少分", intent="check_points").text
    with session_scope(write=True, url=runner.settings.database.url) as s:
        actor = resolve_actor(s, sender)
        points.award(s, resolve_actor(s, "cli:chenzhiming"), actor.household_id, "义务清扫", "", "t-spend-topup")
        points.redeem(s, actor, "肥皂", 1, "t-spend-soap")
    after = runner.run(ActionPointsBalance(runner.settings), sender, "我家多少分", intent="check_points").text
    assert "兑换花了5分" in after and "扣了5分" not in after
    rank = lambda text: text[text.index("排第"):]  # noqa: E731
    # The award raised this year's earnings; the purchase took nothing from the standing.
    assert int(rank(after)[2:-2]) <= int(rank(before)[2:-2])


def test_this_months_deductions_asked_after_spending_say_spending_is_none(runner):
    sender = "cli:hh031"
    with session_scope(write=True, url=runner.settings.database.url) as s:
        actor = resolve_actor(s, sender)
        points.award(s, resolve_actor(s, "cli:chenzhiming"), actor.household_id, "义务清扫", "", "t-month-topup")
        points.redeem(s, actor, "肥皂", 1, "t-month-soap")
        month_start = utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        penalties = s.execute(select(PointsEntry).where(
            PointsEntry.household_id == actor.household_id, PointsEntry.delta < 0, PointsEntry.rule_id.is_not(None),
            PointsEntry.at >= month_start)).scalars().all()
    said = runner.run(ActionPointsHistory(runner.settings), sender, "这个月一共扣了我几分", intent="points_history")
    assert "兑换花了5分" in said.text and "不算扣分" in said.text
    if not penalties:
        assert said.texts[0] == "这个月没有扣分。"
    assert not said.sets(slots.PENDING_WRITE)


def test_an_unlinked_sender_is_told_how_to_link(runner):
    said = runner.run(ActionPointsBalance(runner.settings), "telegram:999000111", "我有多少积分",
                      intent="check_points")
    assert said.texts == ["这个要先绑定身份才能查。请找村委会要个绑定码，在电报里发“/link 绑定码”。"]


def test_history_is_read_three_at_a_time(runner):
    said = runner.run(ActionPointsHistory(runner.settings), "cli:hh008", "最近积分咋变的", intent="points_history")
    first = said.texts[0]
    assert first.startswith("最近的积分记录是：") and first.count("；") == 2 and first.endswith("分。")
    assert said.texts[1].startswith("还有") and said.texts[1].endswith("还要听吗？要听就说“要”。")
    pending = said.slot(slots.PENDING_WRITE)
    assert pending["kind"] == slots.WRITE_LIST_MORE and said.slot(slots.AWAITING_CONFIRMATION) is True
    more = _confirm(runner, "cli:hh008", pending)
    assert "月" in more.texts[0] and more.texts[0].endswith("分。")


def _deduct(runner, sender: str, key: str) -> int:
    with session_scope(write=True, url=runner.settings.database.url) as s:
        household_id = resolve_actor(s, sender).household_id
        worker = resolve_actor(s, "cli:wangxiulan")
        points.award(s, worker, household_id, "义务清扫", "", f"{key}-topup")
        return points.award(s, worker, household_id, "乱倒垃圾", "门口堆了垃圾", key).id


def test_a_deduction_is_explained_and_an_appeal_filed_once(runner):
    entry_id = _deduct(runner, "voice:device-003", "deduct-3")
    history = ActionPointsHistory(runner.settings)
    said = runner.run(history, "voice:device-003", "凭啥扣我分，我没乱倒", intent="points_history")
    assert "乱倒垃圾" in said.texts[0] and "扣5分" in said.texts[0]
    assert said.texts[1].startswith("村里的规定是：乱倒垃圾")
    assert "要帮您申诉" in said.texts[2] and "扣的5分" in said.texts[2] and said.texts[2].endswith(CONFIRM)
    pending = said.slot(slots.PENDING_WRITE)
    assert pending["kind"] == slots.WRITE_POINTS_APPEAL and pending["entry_id"] == entry_id

    assert _confirm(runner, "voice:device-003", pending).texts == ["申诉交上去了。网格员会来核实，有结果会告诉您。"]
    again = _confirm(runner, "voice:device-003", pending)  # 对 said twice
    assert again.texts == ["这笔扣分已经在申诉了，网格员核实后会告诉您结果。"]
    with session_scope(url=runner.settings.database.url) as s:
        appeal = s.execute(select(PointsAppeal)).scalar_one()
        assert appeal.entry_id == entry_id and "凭啥扣我分" in appeal.reason

    asked_again = runner.run(history, "voice:device-003", "凭啥扣我分", intent="points_history")
    assert not asked_again.sets(slots.PENDING_WRITE)  # no second offer for the same deduction
    assert asked_again.texts[-1].endswith("这笔扣分已经在申诉了，网格员核实后会告诉您结果。")


def test_a_deduction_asked_about_is_explained_with_how_to_appeal_and_nothing_waits_for_a_yes(runner):
    _deduct(runner, "voice:device-005", "deduct-5")
    said = runner.run(ActionPointsHistory(runner.settings), "voice:device-005", "前两天咋又扣俺分了",
                      intent="points_history")
    assert said.texts[1].startswith("村里的规定是：乱倒垃圾") and said.texts[-1].endswith("分不对，跟我说“申诉”就行。")
    assert not said.sets(slots.PENDING_WRITE)
    appeal = runner.run(ActionPointsHistory(runner.settings), "voice:device-005", "对，申诉", intent="affirm")
    assert appeal.slot(slots.PENDING_WRITE)["kind"] == slots.WRITE_POINTS_APPEAL  # read back, waits for its yes


def test_a_deduction_asked_about_without_wanting_an_appeal_is_explained_and_nothing_offered(runner):
    _deduct(runner, "voice:device-004", "deduct-4")
    said = runner.run(ActionPointsHistory(runner.settings), "voice:device-004", "我家咋被扣了分？我就问问，不申诉",
                      intent="points_history")
    assert "乱倒垃圾" in said.texts[0] and said.texts[1].startswith("村里的规定是：乱倒垃圾")
    assert not said.sets(slots.PENDING_WRITE) and not any("申诉" in t for t in said.texts)


def test_points_rules_come_from_the_village_table(runner):
    rules = ActionPointsRules(runner.settings)
    one = runner.run(rules, "cli:hh009", "志愿服务加几分", intent="ask_points_rules", entities={"activity": "志愿服务"})
    assert one.texts == ["每次参加村里组织的志愿服务，每半天加5分。"]
    all_rules = runner.run(rules, "cli:hh009", "怎么挣积分", intent="ask_points_rules")
    # everyday deeds first (what anyone can do), then the one that earns most
    assert all_rules.texts == ["挣积分的办法有：帮助调解矛盾加10分，参加志愿服务加5分，参加义务清扫加5分，照顾孤寡老人加5分，"
                               "见义勇为加50分。要扣分的有：乱倒垃圾扣5分，焚烧秸秆扣10分。"]


def test_redeem_reads_back_then_a_yes_gives_a_pickup_code_once(runner):
    before = _balance(runner, "cli:hh011")
    said = runner.run(ActionRedeemPoints(runner.settings), "cli:hh011", "我想换块肥皂", intent="redeem_points",
                      entities={"item": "肥皂"})
    assert said.texts == [f"用5分换1块肥皂，换完还剩{before - 5}分。{CONFIRM}"]
    pending = said.slot(slots.PENDING_WRITE)
    assert pending["kind"] == slots.WRITE_REDEEM and pending["item"] == "肥皂" and pending["quantity"] == 1
    assert _balance(runner, "cli:hh011") == before  # nothing written before the 对

    done = _confirm(runner, "cli:hh011", pending)
    assert done.text.startswith("换好了。取货码是") and f"领1块肥皂。还剩{before - 5}分。" in done.text
    assert done.slot(slots.PENDING_WRITE) is None
    replay = _confirm(runner, "cli:hh011", pending)  # a retried 对 carries the same key
    assert replay.text == done.text and _balance(runner, "cli:hh011") == before - 5


def test_redeem_refusals(runner):
    redeem = ActionRedeemPoints(runner.settings)
    balance = _balance(runner, "cli:hh011")
    assert runner.run(redeem, "cli:hh011", "换一盒鸡蛋", entities={"item": "鸡蛋"}).texts == \
        ["鸡蛋现在没货了，过几天再来看看。"]
    assert runner.run(redeem, "cli:hh011", "换个拖拉机", entities={"item": "拖拉机"}).text.startswith(
        "积分超市没找到这个东西。现在有大米、食用油、洗衣粉等。")
    assert balance < 500
    short = runner.run(redeem, "cli:hh011", "换十袋大米", entities={"item": "大米", "number": "十"})
    assert short.texts == [f"大米要500分，您家有{balance}分，还差{500 - balance}分。"]


def test_a_yes_that_can_no_longer_be_honoured_says_why(runner):
    """Between the read-back and the 对 the balance or the stock may have changed."""
    balance = _balance(runner, "cli:hh011")
    short = _confirm(runner, "cli:hh011", {"kind": slots.WRITE_REDEEM, "key": "k1", "item": "大米", "quantity": 10})
    assert short.text.startswith(f"积分不够，还差{500 - balance}分。")
    assert "{" not in short.text and short.slot(slots.PENDING_WRITE) is None
    sold_out = _confirm(runner, "cli:hh011", {"kind": slots.WRITE_REDEEM, "key": "k2", "item": "鸡蛋", "quantity": 1})
    assert sold_out.text.startswith("鸡蛋刚好没货了。")
    assert _balance(runner, "cli:hh011") == balance


def test_a_rule_named_in_everyday_words_is_answered_and_a_described_problem_offered_for_report(runner):
    rules = ActionPointsRules(runner.settings)
    asked = runner.run(rules, "cli:hh049", "烧麦秸要扣几分", intent="ask_points_rules")
    assert len(asked.texts) == 1 and "10分" in asked.text and not asked.sets(slots.PENDING_WRITE)
    mixed = runner.run(rules, "cli:hh031", "隔壁老烧麦秸，呛得人直咳嗽，这不该扣分吗", intent="ask_points_rules")
    assert "10分" in mixed.texts[0] and mixed.texts[-1].startswith("您说的这个问题，要我帮您报给网格员吗")
    offer = mixed.slot(slots.PENDING_WRITE)
    assert offer["kind"] == slots.WRITE_REPORT_OFFER and mixed.slot(slots.AWAITING_CONFIRMATION) is True


def test_a_count_said_with_its_measure_word_is_the_quantity(runner):
    said = runner.run(ActionRedeemPoints(runner.settings), "cli:hh035", "拿分换三袋洗衣粉", intent="redeem_points",
                      entities={"item": "洗衣粉"})
    assert said.text.startswith("用60分换3袋洗衣粉") and said.slot(slots.PENDING_WRITE)["quantity"] == 3


def test_a_rule_word_said_apart_still_names_the_rule(runner):
    said = runner.run(ActionPointsRules(runner.settings), "cli:hh021", "扫一回街给几分", intent="ask_points_rules")
    assert said.texts == ["参加村庄环境义务清扫，每次加5分。"]


@pytest.mark.parametrize("question, answer", [("喝完的饮料瓶子多少个算一分", "10个"), ("家里攒了一堆旧报纸纸壳子，能换分不", "2分"),
                                              ("儿子办喜事不摆大席，能给加分不", "20分"), ("扫了全村的道给几分", "5分")])
def test_rules_said_in_everyday_words(runner, question, answer):
    said = runner.run(ActionPointsRules(runner.settings), "cli:hh021", question, intent="ask_points_rules")
    assert len(said.texts) == 1 and answer in said.text, said.texts


def test_what_can_i_get_lists_the_shop_and_proposes_nothing(runner):
    balance = _balance(runner, "cli:hh010")
    said = runner.run(ActionRedeemPoints(runner.settings), "cli:hh010", "能换点啥不", intent="redeem_points")
    assert said.texts[0].startswith("积分超市现在有") and f"您家有{balance}分" in said.texts[0]
    assert said.texts[0].startswith("积分超市现在有大米50分")  # the shelf order: staples first
    assert "肥皂5分" in said.texts[0] and said.slot(slots.PENDING_WRITE, None) is None
    assert not said.sets(slots.AWAITING_CONFIRMATION)


def test_asking_about_another_household_is_told_only_ones_own(runner):
    said = runner.run(ActionPointsBalance(runner.settings), "cli:hh008", "帮俺瞧瞧隔壁老周家多少分",
                      intent="check_points")
    assert said.texts[0] == "积分只能查您自己家的。"


def test_staff_asking_a_households_points_get_that_households_summary(runner):
    said = runner.run(ActionPointsBalance(runner.settings), "cli:wangxiulan", "2号户积分现在多少", intent="check_points",
                      entities={"number": "2"})
    assert said.texts[0].startswith("李桂芳家，一组2号") and "积分" in said.texts[1]


def test_staff_on_a_voice_device_asking_a_households_points_are_asked_the_pin_not_to_link(runner):
    said = runner.run(ActionPointsBalance(runner.settings), "voice:staff-wangxiulan", "帮我看下张国强，五十四号的，攒了几分",
                      intent="check_points", channel=VOICE_CHANNEL)
    assert said.texts == [] and {"event": "followup", "name": slots.PIN_FORM} in [
        {k: e.get(k) for k in ("event", "name")} for e in said.events]


def test_a_problem_said_with_the_balance_question_is_offered_for_report_after_the_answer(runner):
    said = runner.run(ActionPointsBalance(runner.settings), "cli:hh013", "路口垃圾桶满了没人管，对了俺家积分多少",
                      intent="check_points")
    assert said.texts[0].startswith("您家现在有") and said.texts[-1].startswith("您说的这个问题，要我帮您报给网格员吗")
    assert said.slot(slots.PENDING_WRITE)["kind"] == slots.WRITE_REPORT_OFFER  # an offer: nothing filed yet


def test_what_can_i_get_is_the_catalogue_even_when_a_word_is_misheard_as_an_item(runner):
    said = runner.run(ActionRedeemPoints(runner.settings), "cli:hh010", "那能换点啥", intent="redeem_points",
                      entities={"item": "点啥"})
    assert said.texts[0].startswith("积分超市现在有")
    named = runner.run(ActionRedeemPoints(runner.settings), "cli:hh010", "能换肥皂啥的不", intent="redeem_points",
                       entities={"item": "肥皂"})
    assert "肥皂" in named.texts[0] and not named.texts[0].startswith("积分超市现在有")


def test_another_item_said_with_the_no_is_read_back_again_and_nothing_is_spent(runner):
    balance = _balance(runner, "cli:hh010")
    offered = runner.run(ActionRedeemPoints(runner.settings), "cli:hh010", "换个牙膏", intent="redeem_points")
    pending = offered.slot(slots.PENDING_WRITE)
    assert pending["item"] == "牙膏"
    said = runner.run(ActionResolvePending(runner.settings), "cli:hh010", "不是这个，俺说的是洗碗的洗洁精",
                      intent="deny", slots={slots.PENDING_WRITE: pending, slots.AWAITING_CONFIRMATION: True})
    again = said.slot(slots.PENDING_WRITE)
    assert again["kind"] == slots.WRITE_REDEEM and again["item"] == "洗洁精", said.texts
    assert "洗洁精" in said.texts[-1] and "对吗" in said.texts[-1]
    assert _balance(runner, "cli:hh010") == balance  # read back, not spent
    # a no that names no other item drops the exchange, as before
    dropped = runner.run(ActionResolvePending(runner.settings), "cli:hh010", "不换了", intent="deny",
                         slots={slots.PENDING_WRITE: pending, slots.AWAITING_CONFIRMATION: True})
    assert dropped.slot(slots.PENDING_WRITE, None) is None and _balance(runner, "cli:hh010") == balance


def test_a_price_heard_as_a_balance_question_is_the_price(runner):
    said = runner.run(ActionPointsBalance(runner.settings), "cli:hh010", "一支牙膏得几分", intent="check_points")
    assert "牙膏" in said.text and "10分" in said.text and not said.sets(slots.PENDING_WRITE), said.texts


def test_a_question_at_an_offer_to_report_is_a_new_question_not_a_no(runner):
    offer = {"kind": slots.WRITE_REPORT_OFFER, "text": "工地上让机器夹了手"}
    asked = runner.run(ActionResolvePending(runner.settings), "cli:hh010", "拖多长时间就不算数了", intent="deny",
                       slots={slots.PENDING_WRITE: offer, slots.AWAITING_CONFIRMATION: True})
    assert asked.texts == [] and asked.slot(slots.PENDING_WRITE, None) is None
    assert any(e.get("event") == "action_execution_rejected" for e in asked.events)  # the question goes on
    declined = runner.run(ActionResolvePending(runner.settings), "cli:hh010", "不用了", intent="deny",
                          slots={slots.PENDING_WRITE: offer, slots.AWAITING_CONFIRMATION: True})
    assert declined.texts and not any(e.get("event") == "action_execution_rejected" for e in declined.events)


def test_details_of_the_report_said_to_the_offer_start_it_with_them(runner):
    """"名字不用保密" to "要我帮您报给网格员吗" tells how to report it: the form starts with the name
    question answered (its read-back still waits for a yes); a bare "嗯" is asked again."""
    offer = {"kind": slots.WRITE_REPORT_OFFER, "text": "厨房顶上漏雨，接了好几盆"}
    told = runner.run(ActionResolvePending(runner.settings), "cli:hh010", "名字不用保密", intent="inform",
                      slots={slots.PENDING_WRITE: offer, slots.AWAITING_CONFIRMATION: True})
    assert told.followup == slots.GRIEVANCE_FORM and told.slot(slots.GRIEVANCE_ANONYMOUS) is False
    hum = runner.run(ActionResolvePending(runner.settings), "cli:hh010", "嗯", intent="inform",
                     slots={slots.PENDING_WRITE: offer, slots.AWAITING_CONFIRMATION: True})
    assert hum.followup != slots.GRIEVANCE_FORM and hum.texts


def test_a_price_asked_with_the_points_last_and_then_of_another_item_is_no_exchange(runner):
    """"一袋大米几分", then "那挂面呢": two prices, nothing proposed."""
    asked = runner.run(ActionRedeemPoints(runner.settings), "cli:hh013", "一袋大米几分", intent="redeem_points",
                       entities={"item": "大米"})
    assert asked.texts[0].startswith("大米1袋要50分") and not asked.sets(slots.PENDING_WRITE)
    events = [{"event": "user", "text": "一袋大米几分"}, {"event": "user", "text": "那挂面呢"}]
    again = runner.run(ActionRedeemPoints(runner.settings), "cli:hh013", "那挂面呢", intent="redeem_points",
                       entities={"item": "挂面"}, events=events)
    assert again.texts[0].startswith("挂面") and "要" in again.texts[0] and not again.sets(slots.PENDING_WRITE)


def test_a_price_asked_is_answered_and_the_exchange_waits_for_its_own_request(runner):
    """"换一袋大米得花多少分" asks the price: said with whether the household can afford it,
    nothing proposed; "那就给俺换一袋" right after is the exchange of that item, read back."""
    balance = _balance(runner, "cli:hh013")
    asked = runner.run(ActionRedeemPoints(runner.settings), "cli:hh013", "换一袋大米得花多少分", intent="redeem_points",
                       entities={"item": "大米"})
    assert asked.texts[0].startswith("大米1袋要50分") and f"您家有{balance}分" in asked.texts[0]
    assert not any(e.get("name") == slots.PENDING_WRITE for e in asked.events)  # nothing proposed
    events = [{"event": "user", "text": "换一袋大米得花多少分"}, {"event": "user", "text": "那就给俺换一袋"}]
    then = runner.run(ActionRedeemPoints(runner.settings), "cli:hh013", "那就给俺换一袋", intent="redeem_points",
                      events=events)
    assert "大米" in then.texts[0], then.texts
    pending = then.slot(slots.PENDING_WRITE)
    assert pending["item"] == "大米" and pending["quantity"] == 1 and _balance(runner, "cli:hh013") == balance


def test_points_asked_by_staff_or_a_relative_without_a_household_are_not_answered_with_how_to_link(runner):
    """Staff are asked which household; a relative's account (子女在外), linked by the village to
    one household, hears that household's balance and history (audited), but spends nothing."""
    staff = runner.run(ActionPointsHistory(runner.settings), "cli:wangxiulan", "扣吧", intent="points_history")
    assert staff.texts == ["您要查哪一户？说户主名字或者门牌号就行。"]
    with session_scope(url=runner.settings.database.url) as s:
        relative = resolve_actor(s, "cli:limingliang")
        balance = points.balance_of(s, points.reading_household_id(s, relative))
    relative = runner.run(ActionPointsBalance(runner.settings), "cli:limingliang", "我妈那户眼下还剩几分",
                          intent="check_points")
    assert f"{balance}分" in relative.text
    history = runner.run(ActionPointsHistory(runner.settings), "cli:limingliang", "最近加减过哪些分",
                         intent="points_history")
    assert history.texts and not history.texts[0].startswith(("这个要先绑定", "积分是按户记的"))
    with session_scope(url=runner.settings.database.url) as s:
        relative_id = s.execute(select(User.id).where(User.login == "limingliang")).scalar_one()
        read = s.execute(select(AuditLog).where(AuditLog.action == "read", AuditLog.object_type == "points_balance",
                                                AuditLog.actor_id == relative_id)).scalars().first()
        assert read is not None and read.household_id is not None
    spend = runner.run(ActionRedeemPoints(runner.settings), "cli:limingliang", "换一袋大米", intent="redeem_points",
                       entities={"item": "大米"})
    assert spend.texts[0].startswith("积分是按户记的") and not spend.sets(slots.PENDING_WRITE)


def test_an_exchange_heard_as_a_balance_question_is_read_back_and_going_home_is_no_other_household(runner):
    """"分够的话想换块肥皂家去" (家去: to take home) is an exchange asked for: read back, nothing spent;
    no other household is named in it."""
    balance = _balance(runner, "cli:hh010")
    said = runner.run(ActionPointsBalance(runner.settings), "cli:hh010", "分够的话想换块肥皂家去", intent="check_points")
    assert said.slot(slots.PENDING_WRITE)["kind"] == slots.WRITE_REDEEM and "肥皂" in said.text
    assert "只能查您自己家" not in said.text and _balance(runner, "cli:hh010") == balance
