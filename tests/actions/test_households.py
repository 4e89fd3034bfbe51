"""Household lookup and visit logs: staff only, grid boundaries, the spoken PIN on voice
devices, confidential notes kept off the voice channel, visits read back before saving."""
from __future__ import annotations

import pytest

from sqlalchemy import select

from actions import phrases
from actions import slots
from actions.basics import ActionChooseOption, ActionResolvePending
from actions.households import ActionHouseholdSummary, ActionLogVisit, ActionResumeAfterPin, ValidatePinForm
from bot.db import session_scope
from bot.models import Household, VisitLog
from tests.actions.harness import CONFIRM, VOICE_CHANNEL

DENIED = ["这户的信息您没有权限查看，或者查不到这户。"]


def _sensitive_household(runner) -> tuple[int, str]:
    """A household of 第一网格 (王秀兰's) with a confidential note in the seed."""
    with session_scope(url=runner.settings.database.url) as s:
        return s.execute(select(Household.number, Household.sensitive_note)
                         .where(Household.sensitive_note != "", Household.number <= 22)
                         .order_by(Household.number)).first()


def test_grid_worker_gets_a_household_summary(runner):
    said = runner.run(ActionHouseholdSummary(runner.settings), "cli:wangxiulan", "查一下李桂芳家",
                      intent="query_household", entities={"person": "李桂芳"})
    assert said.texts[0].startswith("李桂芳家，一组2号，") and "口人" in said.texts[0]
    assert said.texts[1].startswith("三线联系人是") and "件诉求在办，积分" in said.texts[1]


def test_the_heads_age_is_a_follow_up_about_the_household():
    import types

    from actions.households import FOLLOW_UPS

    summary = types.SimpleNamespace(head="黄志明", head_birth_year=1969)
    answer = next(say for words, say in FOLLOW_UPS if any(w in "他今年多大岁数" for w in words))
    assert answer(summary).startswith("户主黄志明，1969年生，今年")
    assert phrases.head_age("黄志明", 1969, 2026) == "户主黄志明，1969年生，今年57岁"


def test_a_summary_leaves_out_grievances_when_none_is_in_progress():
    assert phrases.open_grievances(2) == "有2件诉求在办，" and phrases.open_grievances(0) == ""
    assert phrases.open_grievances(0, clause=False) == "没有在办的诉求"  # when asked


def test_villagers_may_not_look_up_households(runner):
    said = runner.run(ActionHouseholdSummary(runner.settings), "cli:wangjianguo", "查一下李桂芳家",
                      intent="query_household", entities={"person": "李桂芳"})
    assert said.texts == ["这个只有网格员和村干部能查。"]


def test_outside_the_grid_is_answered_like_a_missing_household(runner):
    lookup = ActionHouseholdSummary(runner.settings)
    outside = runner.run(lookup, "cli:wangxiulan", "查一下40号户", intent="query_household")  # 第二网格
    missing = runner.run(lookup, "cli:wangxiulan", "查一下99号户", intent="query_household")
    assert outside.texts == missing.texts == DENIED


def test_a_number_said_alone_is_the_household(runner):
    for said in ("2", "二"):
        told = runner.run(ActionHouseholdSummary(runner.settings), "cli:wangxiulan", said, intent="inform",
                          entities={"number": said})
        assert told.texts[0].startswith("李桂芳家，一组2号，"), said


def test_an_unnamed_household_is_asked_for(runner):
    said = runner.run(ActionHouseholdSummary(runner.settings), "cli:wangxiulan", "查一下", intent="query_household")
    assert said.texts == ["您要查哪一户？说户主名字或者门牌号就行。"]
    said = runner.run(ActionLogVisit(runner.settings), "cli:wangxiulan", "记录走访", intent="log_visit")
    assert said.texts == ["记录哪一户的走访？请说户主名字，再说情况。"]


def test_confidential_notes_are_shown_on_text_only(runner):
    number, note = _sensitive_household(runner)
    said = runner.run(ActionHouseholdSummary(runner.settings), "cli:wangxiulan", f"查一下{number}号户",
                      intent="query_household")
    assert said.texts[-1] == f"注意（内部信息）：{note}"


def test_voice_staff_say_their_pin_first_and_notes_are_not_read_out(runner):
    number, note = _sensitive_household(runner)
    staff = "voice:staff-wangxiulan"
    asked = runner.run(ActionHouseholdSummary(runner.settings), staff, f"查一下{number}号户", intent="query_household",
                       channel=VOICE_CHANNEL)
    assert asked.texts == [] and {"event": "followup", "name": slots.PIN_FORM} in [
        {k: e.get(k) for k in ("event", "name")} for e in asked.events]
    query = asked.slot(slots.PENDING_QUERY)
    assert query["kind"] == "summary" and asked.slot(slots.PIN_ATTEMPTS) == 0

    pin = _say_pin(runner, staff, "一二三四")
    assert pin.slot(slots.PIN_VERIFIED) is True and pin.texts == []

    resumed = runner.run(ActionResumeAfterPin(runner.settings), staff, "一二三四", channel=VOICE_CHANNEL,
                         slots={slots.PENDING_QUERY: query, slots.PIN_VERIFIED: True})
    assert "口人" in resumed.text and note not in resumed.text
    assert resumed.texts[-1] == "还有些情况不方便说出来，请在电报或工作台里看。"
    assert resumed.slot(slots.PENDING_QUERY) is None

    again = runner.run(ActionHouseholdSummary(runner.settings), staff, "查一下12号户", intent="query_household",
                       slots={slots.PIN_VERIFIED: True}, channel=VOICE_CHANNEL)
    assert "口人" in again.text and not again.sets(slots.PENDING_QUERY)  # verified for the session


def _say_pin(runner, sender: str, said: str, attempts: int = 0):
    events = [{"event": "user", "text": said}, {"event": "slot", "name": slots.PIN, "value": said}]
    tracker = runner.tracker(sender, said, events=events, active_loop=slots.PIN_FORM,
                             slots={slots.PIN: said, slots.REQUESTED_SLOT: slots.PIN, slots.PIN_ATTEMPTS: attempts})
    return runner.run(ValidatePinForm(runner.settings), sender, tracker=tracker, channel=VOICE_CHANNEL)


def test_three_wrong_pins_read_nothing(runner):
    staff = "voice:staff-liguoqiang"
    first = _say_pin(runner, staff, "九九九九")
    assert first.texts == ["密码不对，请再说一遍。"] and first.slot(slots.PIN) is None
    assert first.slot(slots.PIN_ATTEMPTS) == 1
    third = _say_pin(runner, staff, "七七七七", attempts=2)
    assert third.texts == [] and third.slot(slots.PIN) == "failed" and third.slot(slots.PIN_VERIFIED) is False
    refused = runner.run(ActionResumeAfterPin(runner.settings), staff, "七七七七", channel=VOICE_CHANNEL,
                         slots={slots.PENDING_QUERY: {"kind": "summary", "text": "查一下30号户"},
                                slots.PIN_VERIFIED: False})
    assert refused.texts == ["密码不对，户里的信息不能读。请找村委会重置密码。"]


def test_a_visit_is_read_back_saved_and_its_problem_offered_for_filing(runner):
    said = runner.run(ActionLogVisit(runner.settings), "cli:wangxiulan", "记录走访 李桂芳家 老人身体还行 屋顶漏雨",
                      intent="log_visit", entities={"person": "李桂芳"})
    assert said.texts == [f"给李桂芳家记一条走访：老人身体还行 屋顶漏雨。{CONFIRM}"]
    saved = runner.run(ActionResolvePending(runner.settings), "cli:wangxiulan", "对", intent="affirm",
                       slots={slots.PENDING_WRITE: said.slot(slots.PENDING_WRITE)})
    assert saved.texts == ["走访记好了。", f"记录里提到“老人身体还行 屋顶漏雨”。要我帮李桂芳家反映这个问题，{CONFIRM}"]
    with session_scope(url=runner.settings.database.url) as s:
        visit = s.execute(select(VisitLog).order_by(VisitLog.id.desc())).scalars().first()
        assert visit.note == "老人身体还行 屋顶漏雨" and visit.worker.login == "wangxiulan"
    filed = runner.run(ActionResolvePending(runner.settings), "cli:wangxiulan", "对", intent="affirm",
                       slots={slots.PENDING_WRITE: saved.slot(slots.PENDING_WRITE)})
    assert filed.text.startswith("已经帮他们反映了，编号是")


def test_a_visit_to_a_head_named_without_the_models_entity_is_read_back_for_that_household(runner):
    """A name that the language model did not mark ("…去看了李桂芳，…") is found among the heads the
    worker may see; a name of another grid is asked for, like a household not named."""
    said = runner.run(ActionLogVisit(runner.settings), "cli:wangxiulan", "上午去看了李桂芳，老人精神头还行，记一笔",
                      intent="log_visit")
    assert said.texts[0].startswith("给李桂芳家记一条走访：") and said.sets(slots.PENDING_WRITE)
    elsewhere = runner.run(ActionLogVisit(runner.settings), "cli:wangxiulan", "上午去看了没这个人，记一笔",
                           intent="log_visit")
    assert not elsewhere.sets(slots.PENDING_WRITE)


def test_living_alone_is_a_follow_up_about_the_household(runner):
    looked = runner.run(ActionHouseholdSummary(runner.settings), "cli:wangxiulan", "查一下李桂芳家",
                        intent="query_household", entities={"person": "李桂芳"})
    alone = runner.run(ActionHouseholdSummary(runner.settings), "cli:wangxiulan", "她一个人住吗",
                       intent="query_household", slots={slots.LAST_HOUSEHOLD: looked.slot(slots.LAST_HOUSEHOLD)})
    assert alone.texts[0].startswith("李桂芳家") and "口人" in alone.texts[0]


@pytest.mark.parametrize("asked, intent", [
    ("屋里头是三口人吧", "nlu_fallback"),  # a size said to be checked
    ("家里人口多少", "query_household"),  # the home said first is the home of the household just looked up
])
def test_a_size_asked_or_said_to_be_checked_is_answered_with_the_size(runner, asked, intent):
    looked = runner.run(ActionHouseholdSummary(runner.settings), "cli:wangxiulan", "查一下李桂芳家",
                        intent="query_household", entities={"person": "李桂芳"})
    checked = runner.run(ActionHouseholdSummary(runner.settings), "cli:wangxiulan", asked,
                         intent=intent, slots={slots.LAST_HOUSEHOLD: looked.slot(slots.LAST_HOUSEHOLD)})
    assert len(checked.texts) == 1 and checked.texts[0].startswith("李桂芳家") and "口人" in checked.texts[0], checked.texts


def test_a_household_offered_by_number_is_summarised(runner):
    with session_scope(url=runner.settings.database.url) as s:
        household_id = s.execute(select(Household.id).where(Household.number == 2)).scalar_one()
    said = runner.run(ActionChooseOption(runner.settings), "cli:wangxiulan", "第一个", intent="choose_option",
                      slots={slots.CHOICES: [household_id], slots.CHOICE_KIND: slots.OFFERED_HOUSEHOLD})
    assert "口人" in said.texts[0] and said.slot(slots.CHOICE_KIND) is None


def test_a_villager_question_taken_for_a_staff_lookup_is_answered_from_the_knowledge_base(runner):
    from actions.staff import ActionListHouseholds

    said = runner.run(ActionListHouseholds(runner.settings), "cli:hh010", "老人八十多了有啥补贴没",
                      intent="list_households")
    answered = said.slot(slots.KB_ENTRY, "") or ""
    asked = (said.slot(slots.PENDING_WRITE, None) or {}).get("candidates") or []
    assert answered.startswith("gaoling") or (asked and all(c.startswith("gaoling") for c in asked)), said.texts
    refused = runner.run(ActionListHouseholds(runner.settings), "cli:hh010", "三组独居的都有谁",
                         intent="list_households")
    assert refused.texts == ["这个只有网格员和村干部能查。"]


@pytest.mark.parametrize("said, back", [("积分呢", True), ("那几口人", True), ("几口人呢？", True),
                                        ("他家电话多少", True), ("三组的连心户呢", False), ("积分多少", False)])
def test_a_short_question_ending_in_ne_is_about_the_household_just_talked_about(said, back):
    from actions.households import refers_back

    assert refers_back(said) is back
