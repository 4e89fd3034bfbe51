"""Staff in the field (actions/staff.py), without a model: household lists by colour, group and
独居, visits due, a bare house number and follow-up questions, points awarded by rule (read
back, booked once on the yes, nothing on a no), emergencies queried (never raised) and
acknowledged. Through the trained model: tests/e2e/test_staff_conversations.py."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from actions import slots
from actions.basics import ActionAffirm, ActionChooseOption, ActionResolvePending
from actions.grievances import ActionGrievanceStatus
from actions.households import ActionHouseholdSummary, ActionResumeAfterPin
from actions.staff import (
    ActionAckEmergency,
    ActionAwardPoints,
    ActionListHouseholds,
    ActionQueryEmergencies,
    award_request,
    list_request,
)
from bot import emergency, households, points
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.models import AuditLog, CareColour, EmergencyEvent, Household, PointsEntry, utcnow
from tests.actions.harness import CONFIRM, VOICE_CHANNEL

WORKER = "cli:wangxiulan"  # 第一网格: 一组 and 二组, households 1-22
ADMIN = "cli:chenzhiming"
VILLAGER = "cli:wangjianguo"
YEAR = utcnow().year


# --- helpers --------------------------------------------------------------------------------

def _households(runner, **where) -> list[Household]:
    with session_scope(url=runner.settings.database.url) as s:
        rows = list(s.execute(select(Household).filter_by(**where).order_by(Household.number)).scalars())
        for h in rows:
            _ = [r.name for r in h.residents], h.grid.name  # loaded while the session is open
        return rows


def _head(h: Household) -> str:
    return next(r.name for r in h.residents if r.is_head)


def _entries(runner) -> int:
    with session_scope(url=runner.settings.database.url) as s:
        return s.execute(select(func.count(PointsEntry.id))).scalar_one()


def _emergencies(runner) -> int:
    with session_scope(url=runner.settings.database.url) as s:
        return s.execute(select(func.count(EmergencyEvent.id))).scalar_one()


def _raise(runner, house: int, text: str = "救命，我摔倒了") -> int:
    with session_scope(write=True, url=runner.settings.database.url) as s:
        return emergency.raise_alarm(s, resolve_actor(s, f"voice:device-{house:03d}"), text).id


def _say(runner, action_class, sender: str, text: str, intent: str, **kwargs):
    return runner.run(action_class(runner.settings), sender, text, intent=intent, **kwargs)


# --- what was asked for ------------------------------------------------------------------------

@pytest.mark.parametrize("text, colour, group, alone, due", [
    ("我网格里的连心户有哪些", CareColour.red, None, False, None),
    ("二组的关心户都有谁", CareColour.yellow, "二组", False, None),
    ("3组放心户名单", CareColour.green, "三组", False, None),
    ("三组独居的老人都有谁", None, "三组", True, None),
    ("我管的这片，独个儿住的老人列一下", None, None, True, None),
    ("四组哪几户老人是单个儿过日子的", None, "四组", True, None),
    ("这周该去谁家走访", None, None, False, "week"),
    ("今天该去谁家", None, None, False, "today"),
    ("哪些红色户好久没去了", CareColour.red, None, False, "today"),
    ("第二网格的连心户", CareColour.red, "第二网格", False, None),
    ("这礼拜我该上谁家转转", None, None, False, "week"),
    ("今天去谁家串串门", None, None, False, "today"),
    ("这礼拜我得先跑哪几户", None, None, False, "week"),  # "I must go first to which homes"
    ("二组单门独户的老人报一下", None, "二组", True, None),
    ("五组光剩老人自个儿守着老屋的有哪几户", None, "五组", True, None),  # keeping the house alone
])
def test_what_a_list_asks_for(text, colour, group, alone, due):
    request = list_request(text)
    assert (request.wanted.colour, request.wanted.group, request.wanted.living_alone, request.due) == (
        colour, group, alone, due)


@pytest.mark.parametrize("text, what", [
    ("我网格里的连心户有哪些", "您网格里的红色连心户"),
    ("三组独居的老人都有谁", "三组的独居老人"),
    ("四组的老人有哪些", "四组有老人的人家"),
    ("八十岁以上的老人有谁", "您网格里有80岁以上老人的人家"),
    ("一组的户都有谁", "一组的住户"),
])
def test_how_a_list_is_named(text, what):
    from actions.staff import describe

    assert describe(list_request(text).wanted, None) == what


def test_living_alone_said_as_single():
    assert list_request("五组单身过的老人，都有谁").wanted.living_alone
    assert list_request("三组一个人守着老屋的老人有谁").wanted.living_alone
    assert list_request("咱二组自个一人过的老人都是哪些").wanted.living_alone
    assert list_request("哪一组的老人最多").wanted.group is None  # 哪一组 asks which


def test_age_words_in_a_list():
    assert list_request("八十岁以上的老人有谁").wanted.min_age == 80
    assert list_request("二组的老人都有谁家").wanted.min_age == households.ELDERLY_AGE
    assert list_request("空巢老人有谁").wanted.elderly_only


@pytest.mark.parametrize("text, name, number, said, reason", [
    ("给8号户加5分，义务清扫", None, "8", 5, True),
    ("给王建国家加2分 垃圾分类", "王建国", None, 2, True),
    ("给王芳家加2分", "王芳", None, 2, False),
    ("给7号户扣5分 乱倒垃圾", None, "7", -5, True),
    ("给十二号户记上五分", None, "十二", 5, False),
    ("给5号加5分", None, "5", 5, False),
    ("给46号加两分，垃圾分得好——哦不对，是47号", None, "47", 2, True),  # corrected in the same breath
])
def test_what_an_award_says(text, name, number, said, reason):
    request = award_request(text)
    assert (request.name, request.number, request.points, request.reason_said) == (name, number, said, reason)


def test_a_house_number_taken_back_is_not_the_awards_even_when_the_model_kept_it():
    request = award_request("四十六，哦不是，四十八号周德福，今天来当志愿者了，加分", number="四十六")
    assert request.number == "四十八"


# --- lists ----------------------------------------------------------------------------------------

def test_a_grid_worker_lists_the_red_households_of_their_grid_three_at_a_time(runner):
    red = [h for h in _households(runner, care_colour=CareColour.red) if h.number <= 22]
    said = _say(runner, ActionListHouseholds, WORKER, "我网格里的连心户有哪些", "list_households")
    first = said.texts[0]
    assert first.startswith(f"您网格里的红色连心户有{len(red)}户：")
    for h in red[:3]:
        assert f"{_head(h)}家，{h.number}号，{h.care_reason}" in first
    assert not any(f"{_head(h)}家" in said.text for h in _households(runner, care_colour=CareColour.red)
                   if h.number > 22)  # only their own grid
    if len(red) > 3:
        assert said.slot(slots.PENDING_WRITE)["kind"] == slots.WRITE_LIST_MORE


def test_a_list_by_group_and_colour(runner):
    yellow = [h for h in _households(runner, care_colour=CareColour.yellow) if 12 <= h.number <= 22]
    said = _say(runner, ActionListHouseholds, WORKER, "二组的关心户都有谁", "list_households")
    assert said.texts[0].startswith(f"二组的黄色关心户有{len(yellow)}户：")
    assert all(f"{_head(h)}家" in said.text for h in yellow[:3])


def test_living_alone_means_one_resident_aged_sixty_or_more(runner):
    alone = [h for h in _households(runner) if h.grid.name == "三组" and len(h.residents) == 1
             and YEAR - h.residents[0].birth_year >= 60]
    assert alone, "the seed has an elderly person living alone in 三组"
    said = _say(runner, ActionListHouseholds, ADMIN, "三组独居的老人都有谁", "list_households")
    assert said.texts[0].startswith(f"三组的独居老人有{len(alone)}户：")
    for h in alone[:3]:
        assert f"{_head(h)}家，{h.number}号，{YEAR - h.residents[0].birth_year}岁" in said.texts[0]
    if len(alone) == 1:
        assert said.slot(slots.LAST_HOUSEHOLD) == alone[0].id  # "那他家…" is about it


def test_another_grid_is_not_listed_and_lists_are_audited(runner):
    said = _say(runner, ActionListHouseholds, WORKER, "三组独居的老人都有谁", "list_households")
    assert said.texts == ["三组的独居老人一户也没有。"]  # 三组 is not in 王秀兰's grid
    _say(runner, ActionListHouseholds, WORKER, "我网格里的连心户有哪些", "list_households")
    with session_scope(url=runner.settings.database.url) as s:
        listed = set(s.execute(select(AuditLog.household_id).where(AuditLog.detail.like("list:%"))).scalars())
    assert listed == {h.id for h in _households(runner, care_colour=CareColour.red) if h.number <= 22}


def test_villagers_may_not_list_households(runner):
    said = _say(runner, ActionListHouseholds, VILLAGER, "我网格里的连心户有哪些", "list_households")
    assert said.texts == ["这个只有网格员和村干部能查。"]


def test_visits_due_come_from_the_care_schedule_and_leave_out_a_household_visited_today(runner):
    from bot import care
    from bot.clock import local_date

    today = local_date(utcnow(), runner.settings.timezone)
    sunday = today + dt.timedelta(days=6 - today.weekday())
    with session_scope(write=True, url=runner.settings.database.url) as s:
        worker = resolve_actor(s, WORKER)
        due_today = care.visits_due(s, worker, on=today, tz=runner.settings.timezone)
        assert due_today, "the seed leaves some of 王秀兰's households due"
        visited = due_today[0]
        households.log_visit(s, worker, visited.household_id, "老人身体还行")
        expected = {when: [d for d in care.visits_due(s, worker, on=on, tz=runner.settings.timezone)]
                    for when, on in (("今天", today), ("这周", sunday))}
    for text, when in (("今天该去谁家", "今天"), ("这周该去谁家走访", "这周")):
        said = _say(runner, ActionListHouseholds, WORKER, text, "list_households")
        due = expected[when]
        assert said.texts[0].startswith(f"{when}该走访的有{len(due)}户，超期最久的先说：")
        assert f"{visited.head}家" not in said.text
        for d in due[:3]:
            assert f"{d.head}家，{d.number}号，{d.colour_name}，" in said.texts[0]


def test_voice_staff_say_their_pin_before_a_list(runner):
    staff = "voice:staff-wangxiulan"
    asked = _say(runner, ActionListHouseholds, staff, "我网格里的连心户有哪些", "list_households", channel=VOICE_CHANNEL)
    assert asked.texts == [] and asked.slot(slots.PENDING_QUERY)["kind"] == "list"
    resumed = runner.run(ActionResumeAfterPin(runner.settings), staff, "一二三四", channel=VOICE_CHANNEL,
                         slots={slots.PENDING_QUERY: asked.slot(slots.PENDING_QUERY), slots.PIN_VERIFIED: True})
    assert resumed.texts[0].startswith("您网格里的红色连心户有")


# --- a household by number, and follow-up questions -----------------------------------------------

def test_a_bare_house_number_from_staff_is_a_household_not_a_ticket(runner):
    said = _say(runner, ActionGrievanceStatus, WORKER, "8号户", "check_grievance_status")
    assert {"event": "followup", "name": "action_household_summary"} in [
        {k: e.get(k) for k in ("event", "name")} for e in said.events]
    said = _say(runner, ActionChooseOption, WORKER, "查一下8号", "choose_option")
    assert said.texts[0].startswith("赵丽华家，一组8号，") and said.slot(slots.LAST_HOUSEHOLD) is not None
    villager = _say(runner, ActionGrievanceStatus, VILLAGER, "8号户", "check_grievance_status")
    assert not any(e.get("event") == "followup" for e in villager.events)


def test_a_follow_up_question_is_about_the_household_looked_up_last(runner):
    lookup = _say(runner, ActionHouseholdSummary, WORKER, "查一下8号", "query_household")
    household_id = lookup.slot(slots.LAST_HOUSEHOLD)
    members = len(_households(runner, number=8)[0].residents)
    said = _say(runner, ActionHouseholdSummary, WORKER, "那他家几口人", "query_household",
                slots={slots.LAST_HOUSEHOLD: household_id})
    assert said.texts == [f"赵丽华家（8号）{members}口人。"]
    said = _say(runner, ActionHouseholdSummary, WORKER, "他家上次走访是啥时候", "query_household",
                slots={slots.LAST_HOUSEHOLD: household_id})
    assert len(said.texts) == 1 and said.texts[0].startswith("赵丽华家（8号）")
    assert "上次走访是" in said.texts[0] or "还没有走访记录" in said.texts[0]
    # Without a household talked about, it is asked for, as before.
    said = _say(runner, ActionHouseholdSummary, WORKER, "那他家几口人", "query_household")
    assert said.texts == ["您要查哪一户？说户主名字或者门牌号就行。"]


# --- points awards ------------------------------------------------------------------------------

def _award(runner, text: str, sender: str = WORKER, **entities):
    return _say(runner, ActionAwardPoints, sender, text, "award_points", entities=entities)


def _yes(runner, pending, sender: str = WORKER, text: str = "对"):
    return runner.run(ActionResolvePending(runner.settings), sender, text, intent="affirm",
                      slots={slots.PENDING_WRITE: pending, slots.AWAITING_CONFIRMATION: True})


def test_an_award_is_read_back_and_booked_once_on_the_yes(runner):
    before = _entries(runner)
    said = _award(runner, "给8号户加5分，义务清扫", household_no="8", number="5", activity="义务清扫")
    assert said.texts == [f"给赵丽华家（8号）记5分：义务清扫，{CONFIRM}"]
    pending = said.slot(slots.PENDING_WRITE)
    assert pending["kind"] == slots.WRITE_AWARD and said.slot(slots.AWAITING_CONFIRMATION) is True
    assert _entries(runner) == before  # nothing booked before the yes

    booked = _yes(runner, pending, text="记上吧")  # the offer's own verb is a yes
    assert booked.texts[0].startswith("记好了：赵丽华家（8号）记5分，义务清扫。现在一共")
    assert _entries(runner) == before + 1
    again = _yes(runner, pending)  # a retried yes replays the same entry
    assert _entries(runner) == before + 1 and again.texts[0].startswith("记好了")
    with session_scope(url=runner.settings.database.url) as s:
        entry = s.execute(select(PointsEntry).where(PointsEntry.idempotency_key == pending["key"])).scalar_one()
        assert (entry.delta, entry.rule.code, entry.household_id) == (5, "cleanup", pending["household_id"])
        assert entry.actor_id == resolve_actor(s, WORKER).user_id


@pytest.mark.parametrize("reply, action_class", [
    ("算了", ActionResolvePending), ("不记了", ActionResolvePending), ("不对", ActionResolvePending),
    ("嗯…等下", ActionResolvePending), ("行吧…算了不记了", ActionResolvePending),
])
def test_anything_but_a_yes_books_nothing(runner, reply, action_class):
    before = _entries(runner)
    pending = _award(runner, "给8号户加5分，义务清扫").slot(slots.PENDING_WRITE)
    said = runner.run(action_class(runner.settings), WORKER, reply,
                      slots={slots.PENDING_WRITE: pending, slots.AWAITING_CONFIRMATION: True})
    assert _entries(runner) == before
    if reply == "嗯…等下":  # unclear: asked again, still pending
        assert said.texts[0].startswith("没听清您的意思") and not said.sets(slots.PENDING_WRITE)
    else:
        assert said.slot(slots.PENDING_WRITE) is None
    if reply in ("算了", "不记了"):
        assert said.texts == ["好的，这次不记分，积分一分没动。"]


def test_an_award_by_the_head_of_household_name(runner):
    said = _award(runner, "给王建国家加2分 垃圾分类", person="王建国", number="2", activity="垃圾分类")
    assert said.texts == [f"给王建国家（1号）记2分：垃圾分类，{CONFIRM}"]  # 王秀兰 sees household 1 only


def test_an_award_for_a_house_number_corrected_in_the_same_breath(runner):
    # the model may keep the number taken back as the household entity
    said = _award(runner, "给8号……哦不是，9号周长生家加5分，参加义务清扫了", household_no="8", number="5")
    assert said.texts[0].startswith("给周长生家（9号）记5分：义务清扫")


def test_mediation_in_everyday_words_is_the_mediation_rule(runner):
    said = _award(runner, "8号赵丽华家帮着劝和了两家吵架的，调成了，记10分")
    assert said.texts[0].startswith("给赵丽华家（8号）记10分：矛盾调解")


@pytest.mark.parametrize("said,read_back", [
    ("赵丽华家，8号，又在田埂上点秸秆，照规矩扣", "扣10分：焚烧秸秆"),
    ("赵丽华家8号，垃圾分得蛮清爽，给她加两分", "记2分：垃圾分类"),
    ("给7号加五分义务清扫……哦说岔了，是8号", "记5分：义务清扫"),  # the house corrected after the request
    ("8号赵丽华家，可回收的分拣得利索，加2分", "记2分：垃圾分类"),
    ("给7号，呃不对，给8号，扫大街扫得干净，加五分", "记5分：义务清扫"),  # said again with its verb
    ("8号赵丽华，下午上养老院帮了半天忙，给记上", "记5分：照顾老人"),
    # the rule's words said apart, or the sweeping only said as done
    ("8号赵丽华，礼拜六跟大伙扫了祠堂前头的空场，给她加分", "记5分：义务清扫"),
    ("赵丽华家8号往塘边倒了两三车建筑垃圾，大家都瞅见了，按规矩扣分", "扣5分：乱倒垃圾"),
    # straw set alight, said with 点 ("点了坡上的稻草")
    ("8号赵丽华昨儿个点了坡上的稻草，按规矩扣", "扣10分：焚烧秸秆"),
])
def test_rules_said_in_field_words_are_found(runner, said, read_back):
    award = _award(runner, said)
    assert award.texts[0].startswith(f"给赵丽华家（8号）{read_back}"), award.texts


def test_the_rule_decides_the_points_and_a_different_number_is_pointed_out(runner):
    said = _award(runner, "给8号户加3分，义务清扫")
    assert said.texts == ["按村里的规定，义务清扫是加5分，不是3分。", f"给赵丽华家（8号）记5分：义务清扫，{CONFIRM}"]
    assert said.slot(slots.PENDING_WRITE)["points"] == 5


def test_a_deduction_by_rule(runner):
    said = _award(runner, "给7号户扣5分 乱倒垃圾")
    assert said.texts == [f"给周国强家（7号）扣5分：乱倒垃圾，{CONFIRM}"]
    booked = _yes(runner, said.slot(slots.PENDING_WRITE))
    assert booked.texts[0].startswith("扣好了：周国强家（7号）扣5分，乱倒垃圾。")


def test_a_penalty_told_in_everyday_words_finds_its_rule_and_an_unknown_one_lists_the_penalties(runner):
    said = _award(runner, "7号昨天夜里喝了酒在路口撒酒疯，按规矩扣")
    assert said.texts == [f"给周国强家（7号）扣10分：吵闹滋事，{CONFIRM}"]
    unknown = _award(runner, "7号把人家的鸡放跑了，按规矩扣")
    assert unknown.texts[0].startswith("村里的积分规定里没找到这一条。能记分的有：")
    assert "扣" in unknown.texts[0] and "加" not in unknown.texts[0].split("：", 1)[1]  # the penalties only
    assert not unknown.sets(slots.PENDING_WRITE)


def test_an_award_the_model_took_for_a_visit_or_a_report_is_read_back_as_an_award(runner):
    """Staff booking points by a rule the sentence names ("…送来纸壳子五公斤", "…给说和了，该给他加分"),
    whatever the model heard in it; a villager's report stays a report."""
    from actions.grievances import ActionStartGrievance
    from actions.households import ActionLogVisit

    visit = runner.run(ActionLogVisit(runner.settings), WORKER, "8号赵丽华把两家为水渠吵的架给劝和了，给她加分",
                       intent="log_visit")
    assert visit.followup == "action_award_points" or visit.sets(slots.PENDING_WRITE)
    cooked = runner.run(ActionLogVisit(runner.settings), WORKER, "赵丽华，8号，帮对门瘫着的老汉做了一礼拜饭，给她加点分",
                        intent="log_visit")
    assert cooked.followup == "action_award_points" or cooked.texts[0].startswith("给赵丽华家（8号）记5分：照顾老人")
    report = runner.run(ActionStartGrievance(runner.settings), WORKER, "赵丽华送来旧报纸四公斤，8号的",
                        intent="file_grievance")
    assert report.followup == "action_award_points"
    villager = runner.run(ActionStartGrievance(runner.settings), VILLAGER, "村口的路灯坏了三天了",
                          intent="file_grievance")
    assert villager.followup != "action_award_points"


def test_an_award_without_a_known_rule_is_not_read_back(runner):
    unknown = _award(runner, "给8号户加5分 帮邻居收麦子")
    assert unknown.texts[0].startswith("村里的积分规定里没找到这一条。能记分的有：")
    assert not unknown.sets(slots.PENDING_WRITE)
    bare = _award(runner, "给8号加5分")
    assert bare.texts == ["给赵丽华家（8号）记分是因为啥？请连户一起再说一遍，比如“给8号户加5分，义务清扫”。"]
    nobody = _award(runner, "加5分 义务清扫")
    assert nobody.texts[0].startswith("给哪一户记分？") and not nobody.sets(slots.PENDING_WRITE)


def test_awards_are_for_staff_and_their_own_grids(runner):
    villager = _award(runner, "给8号户加5分，义务清扫", sender=VILLAGER)
    assert villager.texts == ["记分要由网格员或村干部来记。您做了好事，可以跟网格员说一声。"]
    assert not villager.sets(slots.PENDING_WRITE)
    outside = _award(runner, "给40号户加5分，义务清扫")  # 第二网格
    assert outside.texts == ["这户的信息您没有权限查看，或者查不到这户。"]


def test_two_households_with_the_same_head_are_asked_apart(runner):
    said = _award(runner, "给王建国家加2分 垃圾分类", sender=ADMIN, person="王建国")
    assert said.texts[0].startswith("有2户叫王建国：") and not said.sets(slots.PENDING_WRITE)


# --- emergencies ---------------------------------------------------------------------------------

def test_a_staff_query_about_emergencies_lists_them_and_raises_none(runner):
    none = _say(runner, ActionQueryEmergencies, WORKER, "今天有没有紧急求助", "query_emergencies")
    assert none.texts == ["今天没有紧急求助，也没有没处理完的。"]
    _raise(runner, 8, "救命，我摔倒了")
    before = _emergencies(runner)
    said = _say(runner, ActionQueryEmergencies, WORKER, "有没有人喊救命", "query_emergencies")
    assert said.texts[0].startswith("有1起紧急求助：赵丽华家（8号），今天") and "等待响应" in said.texts[0]
    assert _emergencies(runner) == before  # a query never raises one
    outside = _say(runner, ActionQueryEmergencies, "cli:zhanglihua", "今天有没有紧急求助", "query_emergencies")
    assert outside.texts == ["今天没有紧急求助，也没有没处理完的。"]  # another grid's


@pytest.mark.parametrize("text", ["刚才是不是有人按了救命", "今儿个我那片有人喊救命没有"])
def test_staff_asking_about_alerts_in_words_the_model_hears_as_help_raise_none(runner, text):
    from actions.basics import ActionEmergency

    before = _emergencies(runner)
    said = _say(runner, ActionEmergency, WORKER, text, "emergency")
    assert {"event": "followup", "name": "action_query_emergencies"} in [
        {k: e.get(k) for k in ("event", "name")} for e in said.events]
    assert not said.texts and _emergencies(runner) == before
    villager = _say(runner, ActionEmergency, VILLAGER, text, "emergency")  # anybody else: the alarm
    assert villager.texts[0].startswith("别着急") and _emergencies(runner) == before + 1


def test_villagers_asking_are_told_who_can_look_and_their_emergency_words_raise_the_alarm(runner):
    before = _emergencies(runner)
    said = _say(runner, ActionQueryEmergencies, VILLAGER, "今天有没有紧急求助", "query_emergencies")
    assert said.texts[0].startswith("这个只有网格员和村干部能查。") and _emergencies(runner) == before
    said = _say(runner, ActionQueryEmergencies, VILLAGER, "有没有人 救命", "query_emergencies")
    assert said.texts[0].startswith("别着急") and _emergencies(runner) == before + 1


def test_received_acknowledges_the_alert_open_for_the_staff_member(runner):
    event_id = _raise(runner, 8)
    said = _say(runner, ActionAckEmergency, WORKER, "收到，我这就过去", "ack_emergency")
    assert said.texts == ["好的，已记下您去处理赵丽华家（8号）的求助。"]
    with session_scope(url=runner.settings.database.url) as s:
        event = s.get(EmergencyEvent, event_id)
        assert event.acknowledged_at is not None and event.acknowledged_by == resolve_actor(s, WORKER).user_id
    # Nothing open any more: "收到" is just an acknowledgement.
    assert _say(runner, ActionAckEmergency, WORKER, "收到", "ack_emergency").texts == ["好的。"]


def test_the_newest_open_alert_is_acknowledged_first(runner):
    older, newer = _raise(runner, 3), _raise(runner, 8)
    said = _say(runner, ActionAckEmergency, WORKER, "我去处理", "ack_emergency")
    assert said.texts == ["好的，已记下您去处理赵丽华家（8号）的求助。"]
    with session_scope(url=runner.settings.database.url) as s:
        assert s.get(EmergencyEvent, newer).acknowledged_at is not None
        assert s.get(EmergencyEvent, older).acknowledged_at is None


def test_received_said_without_an_alert_or_by_a_villager_acknowledges_nothing(runner):
    assert _say(runner, ActionAckEmergency, WORKER, "收到", "ack_emergency").texts == ["好的。"]
    event_id = _raise(runner, 8)
    assert _say(runner, ActionAckEmergency, VILLAGER, "收到", "ack_emergency").texts == ["好的。"]
    assert _say(runner, ActionAckEmergency, "cli:zhanglihua", "收到", "ack_emergency").texts == ["好的。"]
    with session_scope(url=runner.settings.database.url) as s:
        assert s.get(EmergencyEvent, event_id).acknowledged_at is None


def test_received_read_as_a_yes_still_acknowledges_an_open_alert(runner):
    _raise(runner, 8)
    said = _say(runner, ActionAffirm, WORKER, "收到", "affirm")
    assert said.texts == ["好的，已记下您去处理赵丽华家（8号）的求助。"]


def test_a_villager_asking_what_a_deed_costs_hears_the_rule_not_a_refusal(runner):
    said = _say(runner, ActionAwardPoints, VILLAGER, "乱倒垃圾要扣几分", "award_points")
    assert len(said.texts) == 1 and "5分" in said.text
    assert "网格员或村干部" not in said.text and not said.sets(slots.PENDING_WRITE)
    told = _say(runner, ActionAwardPoints, VILLAGER, "给8号户加5分 义务清扫", "award_points")
    assert told.texts == ["记分要由网格员或村干部来记。您做了好事，可以跟网格员说一声。"]
    # a neighbour's misdeed told with "this time it must be deducted" is a report to make
    reported = _say(runner, ActionAwardPoints, VILLAGER, "二十五号又把垃圾往河沟里倒，这回得扣", "award_points")
    assert reported.texts == [] and {"event": "followup", "name": "action_start_grievance"} in [
        {k: e.get(k) for k in ("event", "name")} for e in reported.events]


def test_a_correction_at_an_award_read_back_reads_the_corrected_award_back(runner):
    before = _entries(runner)
    pending = _award(runner, "给8号户加5分，义务清扫").slot(slots.PENDING_WRITE)
    said = _yes(runner, pending, text="不对，是13号")
    assert said.texts[0] == "好，改成13号户。"
    assert said.texts[1].startswith("给王建军家（13号）记5分：义务清扫") and said.texts[1].endswith(CONFIRM)
    corrected = said.slot(slots.PENDING_WRITE)
    assert corrected["number"] == 13 and corrected["key"] != pending["key"]
    assert _entries(runner) == before  # nothing booked: the corrected award waits for its own yes
    # A no that names no other household drops the award, as before.
    dropped = _yes(runner, pending, text="不对")
    assert dropped.slot(slots.PENDING_WRITE) is None and _entries(runner) == before


def test_a_corrected_deed_at_an_award_read_back_reads_the_award_back_with_that_rule(runner):
    before = _entries(runner)
    pending = _award(runner, "给8号户加分，参加志愿服务了").slot(slots.PENDING_WRITE)
    assert pending["rule"] and "志愿服务" in pending["what"]
    said = _yes(runner, pending, text="不对，是照顾老人")
    assert said.texts[0] == "好，改成照顾老人。"
    assert said.texts[1].startswith("给赵丽华家（8号）记5分：照顾老人") and said.texts[1].endswith(CONFIRM)
    assert said.slot(slots.PENDING_WRITE)["number"] == 8 and _entries(runner) == before
    same = _yes(runner, pending, text="不对，是志愿服务")  # the same deed: nothing to correct, dropped
    assert same.slot(slots.PENDING_WRITE) is None and _entries(runner) == before


def test_a_deed_said_in_field_words_is_the_rule(runner):
    said = _award(runner, "5号张建国今天扫了村道，给他家加5分")
    assert said.texts and "义务清扫" in said.texts[-1] and said.texts[-1].endswith(CONFIRM), said.texts


def test_he_and_his_household_after_a_lookup_mean_that_household(runner):
    from actions.households import ActionLogVisit
    from actions.points import ActionPointsBalance

    household_id = _say(runner, ActionHouseholdSummary, WORKER, "查一下8号", "query_household").slot(
        slots.LAST_HOUSEHOLD)
    points_said = _say(runner, ActionPointsBalance, WORKER, "他家积分多少", "check_points",
                       slots={slots.LAST_HOUSEHOLD: household_id})
    assert points_said.texts[0].startswith("赵丽华家（8号）积分") and points_said.texts[0].endswith("分。")
    visit = _say(runner, ActionLogVisit, WORKER, "给他家记一条走访，老人身体挺好", "log_visit",
                 slots={slots.LAST_HOUSEHOLD: household_id})
    pending = visit.slot(slots.PENDING_WRITE)
    assert pending["household_id"] == household_id and pending["note"] == "老人身体挺好"
    # Nobody looked up yet: the household is asked for.
    asked = _say(runner, ActionLogVisit, WORKER, "给他家记一条走访", "log_visit")
    assert asked.slot(slots.PENDING_WRITE, None) is None
    # "家里几口人" names nobody but asks a follow-up: the household just looked up
    size = _say(runner, ActionHouseholdSummary, WORKER, "家里几口人", "query_household",
                slots={slots.LAST_HOUSEHOLD: household_id})
    assert size.texts and size.texts[0].startswith("赵丽华家（8号）") and "口人" in size.texts[0], size.texts
    nobody = _say(runner, ActionHouseholdSummary, WORKER, "家里几口人", "query_household")
    assert nobody.texts == ["您要查哪一户？说户主名字或者门牌号就行。"]
    score = _say(runner, ActionHouseholdSummary, WORKER, "分数多少", "query_household",
                 slots={slots.LAST_HOUSEHOLD: household_id})
    assert score.texts and "积分" in score.texts[0] and score.texts[0].startswith("赵丽华家（8号）"), score.texts


def test_an_award_for_her_household_after_a_lookup_and_points_are_no_house_number(runner):
    household_id = _say(runner, ActionHouseholdSummary, WORKER, "查一下8号", "query_household").slot(
        slots.LAST_HOUSEHOLD)
    said = _say(runner, ActionAwardPoints, WORKER, "给她家加5分，帮着打扫村部", "award_points",
                entities={"household_no": "5", "number": "5"}, slots={slots.LAST_HOUSEHOLD: household_id})
    assert said.texts[-1].startswith("给赵丽华家（8号）记5分：义务清扫"), said.texts
    # Without anybody looked up, "3分" is no house: the household is asked for.
    asked = _say(runner, ActionAwardPoints, WORKER, "给她家加3分，帮着打扫村部", "award_points",
                 entities={"household_no": "3", "number": "3"})
    assert asked.slot(slots.PENDING_WRITE, None) is None


def test_recyclables_delivered_said_as_a_lookup_are_an_award_read_back(runner):
    from actions.households import ActionHouseholdSummary

    said = _say(runner, ActionHouseholdSummary, WORKER, "8号赵丽华家送来塑料瓶三十个", "query_household")
    assert said.texts[0].startswith("给赵丽华家（8号）记3分") and said.slot(slots.PENDING_WRITE)["kind"] == slots.WRITE_AWARD
    paper = _say(runner, ActionHouseholdSummary, WORKER, "十一号黄小红，纸壳子称了三公斤", "query_household")
    assert paper.texts[0].startswith("给黄小红家（11号）记6分"), paper.texts
    plain = _say(runner, ActionHouseholdSummary, WORKER, "8号赵丽华家几口人", "query_household")
    assert not plain.sets(slots.PENDING_WRITE)
    # the count of bottles, not of the bag they came in
    bagged = _say(runner, ActionAwardPoints, WORKER, "8号赵丽华拎来一袋塑料瓶，数了是四十个", "award_points")
    assert bagged.texts[0].startswith("给赵丽华家（8号）记4分"), bagged.texts


def test_a_door_plate_names_the_house_and_snow_cleared_is_cleaning(runner):
    plate = _award(runner, "周国强那户门牌7，往河滩上倒了一车装修垃圾，照规矩扣她家分")
    assert plate.texts == [f"给周国强家（7号）扣5分：乱倒垃圾，{CONFIRM}"]
    snow = _award(runner, "7号前天把村道上的积雪铲了个干净，给他家记上加分")
    assert snow.texts == [f"给周国强家（7号）记5分：义务清扫，{CONFIRM}"]
    # helping out with something no rule names is volunteering; a deed a rule names still decides
    helped = _award(runner, "7号上礼拜在村委会帮着发选票，给记5分")
    assert helped.texts == [f"给周国强家（7号）记5分：志愿服务，{CONFIRM}"]
    mediated = _award(runner, "7号帮着把两家吵架的劝和了，给加分")
    assert "矛盾调解" in mediated.texts[0]
