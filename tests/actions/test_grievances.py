"""Grievances: the form prefilled from the first sentence, each slot's validation, the
read-back with corrections and duplicates, filing, status, staff commands, 回访."""
from __future__ import annotations

from typing import Any, Dict, Optional

import pytest
from sqlalchemy import select

from actions import slots
from actions.basics import ActionAffirm, ActionChooseOption, ActionDeny, ActionResolvePending, ActionSessionStart
from actions.grievances import (
    ActionAskGrievanceConfirmed,
    ActionGrievanceStatus,
    ActionHandleGrievance,
    ActionMyQueue,
    ActionStartGrievance,
    ActionSubmitGrievance,
    ValidateGrievanceForm,
)
from bot.db import session_scope
from bot.models import Grievance, GrievanceEvent, GrievanceState
from tests.actions.harness import CONFIRM

FORM = {slots.GRIEVANCE_DESCRIPTION: "村口的路灯坏了三天了", slots.GRIEVANCE_CATEGORY: "道路交通",
        slots.GRIEVANCE_PLACE: "村口", slots.GRIEVANCE_URGENCY: "一般", slots.GRIEVANCE_ANONYMOUS: False}


def _validate(runner, slot: str, value: Any, text: Optional[str] = None, intent: Optional[str] = None,
              entities: Optional[Dict[str, str]] = None, filled: Optional[Dict[str, Any]] = None):
    """Rasa extracted ``value`` for ``slot`` in the grievance form; validate_grievance_form runs."""
    text = str(value) if text is None else text
    events = [{"event": "user", "text": text}, {"event": "slot", "name": slot, "value": value}]
    tracker = runner.tracker("cli:hh007", text, intent=intent, entities=entities or {}, events=events,
                             slots={**(filled or {}), slot: value, slots.REQUESTED_SLOT: slot},
                             active_loop=slots.GRIEVANCE_FORM)
    return runner.run(ValidateGrievanceForm(), "cli:hh007", tracker=tracker)


def test_keep_my_name_private_said_to_the_category_question_answers_the_next_one(runner):
    said = _validate(runner, slots.GRIEVANCE_CATEGORY, "要保密", filled={slots.GRIEVANCE_DESCRIPTION: "网格员不来俺家"})
    assert said.slot(slots.GRIEVANCE_CATEGORY) == "其他" and said.slot(slots.GRIEVANCE_ANONYMOUS) is True
    plain = _validate(runner, slots.GRIEVANCE_CATEGORY, "卫生")
    assert plain.slot(slots.GRIEVANCE_CATEGORY) not in (None, "其他")
    assert slots.GRIEVANCE_ANONYMOUS not in {e.get("name") for e in plain.events if e.get("event") == "slot"}


def test_the_first_sentence_prefills_the_form(runner):
    said = runner.run(ActionStartGrievance(runner.settings), "cli:hh007", "村口的路灯坏了三天了",
                      intent="file_grievance", entities={"place": "村口"})
    assert said.slot(slots.GRIEVANCE_DESCRIPTION) == "村口的路灯坏了三天了"
    assert said.slot(slots.GRIEVANCE_CATEGORY) == "道路交通"
    assert said.slot(slots.GRIEVANCE_PLACE) == "村口"
    assert said.slot(slots.GRIEVANCE_URGENCY) == "一般"
    assert said.slot(slots.GRIEVANCE_CONFIRMED) is None and said.slot(slots.GRIEVANCE_DUPLICATE) is None


def test_a_bare_request_to_file_prefills_nothing_but_urgency(runner):
    said = runner.run(ActionStartGrievance(runner.settings), "cli:hh007", "我要反映个问题", intent="file_grievance")
    assert said.slot(slots.GRIEVANCE_DESCRIPTION) is None and said.slot(slots.GRIEVANCE_PLACE) is None
    assert said.slot(slots.GRIEVANCE_CATEGORY) is None and said.slot(slots.GRIEVANCE_URGENCY) == "一般"


def test_without_a_place_the_households_address_is_assumed(runner):
    said = runner.run(ActionStartGrievance(runner.settings), "cli:hh007", "着火了 快来人", intent="file_grievance")
    assert said.slot(slots.GRIEVANCE_PLACE) and said.slot(slots.GRIEVANCE_URGENCY) == "紧急"


def test_description_is_validated(runner):
    short = _validate(runner, slots.GRIEVANCE_DESCRIPTION, "啊")
    assert short.slot(slots.GRIEVANCE_DESCRIPTION) is None and short.texts == ["请再说具体一点，是什么问题？"]
    ok = _validate(runner, slots.GRIEVANCE_DESCRIPTION, "家门口的水管爆了")
    assert ok.slot(slots.GRIEVANCE_DESCRIPTION) == "家门口的水管爆了" and ok.texts == []
    assert ok.slot(slots.GRIEVANCE_CATEGORY) == "水电气"  # inferred while the category is still open
    known = _validate(runner, slots.GRIEVANCE_DESCRIPTION, "家门口的水管爆了", filled={slots.GRIEVANCE_CATEGORY: "其他"})
    assert not known.sets(slots.GRIEVANCE_CATEGORY)
    assert len(_validate(runner, slots.GRIEVANCE_DESCRIPTION, "长" * 600).slot(slots.GRIEVANCE_DESCRIPTION)) == 500


@pytest.mark.parametrize("said,category", [("噪音", "噪音"), ("邻居家的狗天天叫", "动物"), ("说不上来", "其他")])
def test_category_is_validated(runner, said, category):
    assert _validate(runner, slots.GRIEVANCE_CATEGORY, said).slot(slots.GRIEVANCE_CATEGORY) == category


def test_place_is_validated(runner):
    assert _validate(runner, slots.GRIEVANCE_PLACE, "就在村委会门口").slot(slots.GRIEVANCE_PLACE) == "村委会门口"
    missing = _validate(runner, slots.GRIEVANCE_PLACE, "在")
    assert missing.slot(slots.GRIEVANCE_PLACE) is None and missing.texts == ["请说一下问题在什么地方。"]


@pytest.mark.parametrize("said,urgency", [("紧急", "紧急"), ("很急", "紧急"), ("不急", "一般"), ("随便", "一般")])
def test_urgency_is_validated(runner, said, urgency):
    assert _validate(runner, slots.GRIEVANCE_URGENCY, said).slot(slots.GRIEVANCE_URGENCY) == urgency


@pytest.mark.parametrize("value,anonymous", [(True, True), (False, False), ("不用", False), ("要保密", True)])
def test_anonymity_is_validated(runner, value, anonymous):
    said = _validate(runner, slots.GRIEVANCE_ANONYMOUS, value, text="要" if value is True else str(value))
    assert said.slot(slots.GRIEVANCE_ANONYMOUS) is anonymous and said.texts == []


def test_a_place_put_right_while_answering_the_name_question_is_taken(runner):
    """"哦说岔了，不是村口，是村尾，名字不用保密": the answer, and the place put right."""
    filled = {slots.GRIEVANCE_DESCRIPTION: "村口的路灯坏了三天了", slots.GRIEVANCE_PLACE: "村口"}
    said = _validate(runner, slots.GRIEVANCE_ANONYMOUS, "不用", text="哦说岔了，不是村口，是村尾，名字不用保密",
                     filled=filled)
    assert said.slot(slots.GRIEVANCE_ANONYMOUS) is False
    assert said.slot(slots.GRIEVANCE_PLACE) == "村尾" and said.slot(slots.GRIEVANCE_DESCRIPTION) == "村尾的路灯坏了三天了"


def test_an_unclear_anonymity_answer_is_asked_again(runner):
    said = _validate(runner, slots.GRIEVANCE_ANONYMOUS, "嗯")
    assert said.slot(slots.GRIEVANCE_ANONYMOUS) is None and said.texts == ["要保密就说“要”，不用就说“不要”。"]


def test_confirmation_yes_no_and_corrections(runner):
    yes = _validate(runner, slots.GRIEVANCE_CONFIRMED, "对", intent="affirm", filled=FORM)
    assert yes.slot(slots.GRIEVANCE_CONFIRMED) is True
    no = _validate(runner, slots.GRIEVANCE_CONFIRMED, "不对", intent="deny", filled=FORM)
    assert no.slot(slots.GRIEVANCE_CONFIRMED) is None
    assert no.texts == ["哪里不对？直接说对的就行，比如“地点是小学门口”。不报了就说“算了”。"]
    assert no.slot(slots.GRIEVANCE_CORRECTING) is True
    # a yes to "哪里不对？" is no yes to the report: nothing is confirmed, it is read back again
    after_no = _validate(runner, slots.GRIEVANCE_CONFIRMED, "对", intent="affirm",
                         filled={**FORM, slots.GRIEVANCE_CORRECTING: True})
    assert after_no.slot(slots.GRIEVANCE_CONFIRMED) is None and after_no.slot(slots.GRIEVANCE_CORRECTING) is None
    # ... in any words (Wu 好个, which the form would otherwise take as the report's new content): read
    # back again, never filed, the description kept
    wu = _validate(runner, slots.GRIEVANCE_CONFIRMED, "好个", intent="affirm", filled={**FORM, slots.GRIEVANCE_CORRECTING: True})
    assert wu.slot(slots.GRIEVANCE_CONFIRMED) is None and not wu.sets(slots.GRIEVANCE_DESCRIPTION)
    place = _validate(runner, slots.GRIEVANCE_CONFIRMED, "地点是三组小卖部门口", intent="inform", filled=FORM)
    assert place.slot(slots.GRIEVANCE_PLACE) == "三组小卖部门口" and place.slot(slots.GRIEVANCE_CONFIRMED) is None
    category = _validate(runner, slots.GRIEVANCE_CONFIRMED, "不对，类别算噪音", intent="deny", filled=FORM)
    assert category.slot(slots.GRIEVANCE_CATEGORY) == "噪音"
    entity = _validate(runner, slots.GRIEVANCE_CONFIRMED, "不对 在小学门口", intent="deny", filled=FORM,
                       entities={"place": "小学门口"})
    assert entity.slot(slots.GRIEVANCE_PLACE) == "小学门口"
    urgent = _validate(runner, slots.GRIEVANCE_CONFIRMED, "很急", intent="inform", filled=FORM)
    assert urgent.slot(slots.GRIEVANCE_URGENCY) == "紧急"
    content = _validate(runner, slots.GRIEVANCE_CONFIRMED, "路灯一闪一闪的", intent="inform", filled=FORM)
    assert content.slot(slots.GRIEVANCE_DESCRIPTION) == "路灯一闪一闪的"


def test_a_duplicate_offer_is_joined_or_declined(runner):
    offered = {**FORM, slots.GRIEVANCE_DUPLICATE: "offer:260102"}
    join = _validate(runner, slots.GRIEVANCE_CONFIRMED, "对", intent="affirm", filled=offered)
    assert join.slot(slots.GRIEVANCE_CONFIRMED) is True and join.slot(slots.GRIEVANCE_DUPLICATE) == "join:260102"
    decline = _validate(runner, slots.GRIEVANCE_CONFIRMED, "不是", intent="deny", filled=offered)
    assert decline.slot(slots.GRIEVANCE_CONFIRMED) is None
    assert decline.slot(slots.GRIEVANCE_DUPLICATE) == "declined"


def test_the_form_is_read_back_before_filing(runner):
    filled = {**FORM, slots.GRIEVANCE_DESCRIPTION: "家门口的水管爆了 水流了一地", slots.GRIEVANCE_CATEGORY: "水电气",
              slots.GRIEVANCE_PLACE: "三组小卖部门口", slots.GRIEVANCE_URGENCY: "紧急",
              slots.GRIEVANCE_ANONYMOUS: True}
    said = runner.run(ActionAskGrievanceConfirmed(runner.settings), "cli:hh015", "要", slots=filled)
    assert said.texts == [f"我念一遍：三组小卖部门口，家门口的水管爆了 水流了一地，属于水电气，比较急，对邻居保密。{CONFIRM}"]


def test_an_open_ticket_on_the_same_problem_is_offered(runner):
    filled = {**FORM, slots.GRIEVANCE_DESCRIPTION: "三组垃圾桶满了没人清", slots.GRIEVANCE_CATEGORY: "环境卫生",
              slots.GRIEVANCE_PLACE: "三组"}
    said = runner.run(ActionAskGrievanceConfirmed(runner.settings), "cli:hh016", "不用", slots=filled)
    assert said.text.startswith("已经有人反映过类似的事：260102号，") and said.text.endswith("要就说“对”。")
    assert said.slot(slots.GRIEVANCE_DUPLICATE) == "offer:260102"
    declined = runner.run(ActionAskGrievanceConfirmed(runner.settings), "cli:hh016", "不是",
                          slots={**filled, slots.GRIEVANCE_DUPLICATE: "declined"})
    assert declined.text.startswith("我念一遍：三组，三组垃圾桶满了没人清，属于环境卫生，不算急，不用保密。")


def test_filing_is_acknowledged_with_a_ticket(runner):
    said = runner.run(ActionSubmitGrievance(runner.settings), "cli:hh007", "对",
                      slots={**FORM, slots.GRIEVANCE_CONFIRMED: True})
    ticket = said.slot(slots.TICKET)
    assert said.text.startswith(f"记下了，编号是{ticket}。") and said.text.endswith("会在8个小时内联系您。")
    assert all(said.slot(name) is None for name in slots.GRIEVANCE_FORM_SLOTS)
    with session_scope(url=runner.settings.database.url) as s:
        g = s.execute(select(Grievance).where(Grievance.ticket_no == ticket)).scalar_one()
        assert g.category == "道路交通" and g.reporter.login == "hh007" and g.state == GrievanceState.accepted


def test_joining_a_duplicate_and_not_filing(runner):
    joined = runner.run(ActionSubmitGrievance(runner.settings), "cli:hh016", "对",
                        slots={**FORM, slots.GRIEVANCE_CONFIRMED: True, slots.GRIEVANCE_DUPLICATE: "join:260102"})
    assert joined.texts == ["好的，已经把您的意见加到260102号里，一起办。"]
    with session_scope(url=runner.settings.database.url) as s:
        kinds = s.execute(select(GrievanceEvent.kind).join(Grievance).where(Grievance.ticket_no == "260102")
                          ).scalars().all()
        assert "joined" in kinds
    dropped = runner.run(ActionSubmitGrievance(runner.settings), "cli:hh007", "算了", slots=FORM)
    assert dropped.texts == ["好的，这件事先不记了。"] and not dropped.sets(slots.TICKET)


def test_status_of_one_and_of_all(runner):
    status = ActionGrievanceStatus(runner.settings)
    last = runner.run(status, "cli:liguifang", "我上次反映的那件事咋样了", intent="check_grievance_status")
    assert last.text.startswith(("260101号，", "260102号，")) and "现在" in last.text
    listing = runner.run(status, "cli:liguifang", "我反映的事都办得怎么样了", intent="check_grievance_status")
    assert listing.text.startswith("您有2件还在办：") and "260101号" in listing.text and "260102号" in listing.text
    missing = runner.run(status, "cli:liguifang", "999999号怎么样了", intent="check_grievance_status")
    assert missing.texts == ["没查到999999号，请再核对一下编号。"]
    none = runner.run(status, "cli:hh040", "我反映的事怎么样了", intent="check_grievance_status")
    assert none.texts == ["您还没有反映过问题。要反映的话，直接说遇到了什么事。"]


def test_has_anyone_seen_to_it_from_someone_who_reported_nothing_tells_the_open_report(runner):
    """"路灯咋还不亮，有人管没" from a villager who reported nothing: the village's open report on the
    street lamp, its number and state; a thing nobody reported is still "您还没有反映过"."""
    status = ActionGrievanceStatus(runner.settings)
    lamp = runner.run(status, "cli:hh040", "村口的路灯咋还不亮，有人管没", intent="check_grievance_status")
    assert lamp.texts == ["这件事已经有人反映了：260101号，村口路灯坏了好几天了，现在已受理。您有新情况，直接跟我说。"]
    bridge = runner.run(status, "cli:hh040", "河上那座桥的栏杆断了，有人修没", intent="check_grievance_status")
    assert bridge.texts == ["您还没有反映过问题。要反映的话，直接说遇到了什么事。"]


def test_staff_work_the_queue_with_read_back(runner):
    queue = runner.run(ActionMyQueue(runner.settings), "cli:zhouchunmei", "我的待办", intent="my_queue")
    assert queue.text.startswith("一共") and "260104号" in queue.text
    handle = ActionHandleGrievance(runner.settings)
    said = runner.run(handle, "cli:zhouchunmei", "受理260104 我下午去看", intent="handle_grievance")
    assert said.text.startswith("把260104号“") and said.text.endswith(f"”开始办理，我下午去看。{CONFIRM}")
    done = runner.run(ActionResolvePending(runner.settings), "cli:zhouchunmei", "对", intent="affirm",
                      slots={slots.PENDING_WRITE: said.slot(slots.PENDING_WRITE)})
    assert done.texts == ["好了，260104号现在正在办理，已经通知反映人。"]
    assert runner.run(handle, "cli:zhouchunmei", "260104办结了", intent="handle_grievance").texts == \
        ["请把结果或者原因也说一下。"]
    assert runner.run(handle, "cli:zhouchunmei", "办结了", intent="handle_grievance").texts == \
        ["请说编号和要做的事，比如“260101办结了，路灯换好了”。"]


def test_villagers_cannot_work_the_queue(runner):
    for action in (ActionMyQueue(runner.settings), ActionHandleGrievance(runner.settings)):
        assert runner.run(action, "cli:hh020", "260101办结了 路灯好了").texts == ["这个只有网格员和村干部能办。"]


def test_a_villagers_words_heard_as_the_queue_are_answered_as_what_they_are(runner):
    """A question is answered from the knowledge base, a problem is a report, an earlier report's
    progress is its status; the staff answer stays for ticket commands."""
    from rasa_sdk.events import FollowupAction

    queue = ActionMyQueue(runner.settings)
    for said, then in (("我两个儿子都不管我，病了都没人送，我该找谁", "action_policy_answer"),
                       ("村口的桥栏杆断了一截", "action_start_grievance"),
                       ("我报的那个事咋样了", "action_grievance_status")):
        done = runner.run(queue, "cli:hh020", said, intent="my_queue")
        assert not done.texts and FollowupAction(then) in done.events, said


def test_a_villager_asking_to_pass_a_problem_on_gets_the_report_form_not_the_staff_answer(runner):
    """"要嘛，帮我往上报" (heard as a staff command) after telling a problem: the report of that
    problem starts (its read-back still needs a yes); nothing is filed yet."""
    events = [{"event": "user", "text": "隔壁老往俺家地里排脏水，这种事找谁调解"},
              {"event": "user", "text": "要嘛，帮我往上报"}]
    said = runner.run(ActionHandleGrievance(runner.settings), "cli:hh020", "要嘛，帮我往上报",
                      intent="handle_grievance", events=events)
    assert "只有网格员" not in " ".join(said.texts)
    assert any(e.get("event") == "followup" and e.get("name") == "grievance_form" for e in said.events)
    assert "脏水" in said.slot(slots.GRIEVANCE_DESCRIPTION)


def test_after_resolution_the_reporter_is_asked_and_unsatisfied_reopens(runner):
    start = runner.run(ActionSessionStart(runner.settings), "cli:hh003", "")
    assert start.text.startswith("先问您一下：您反映的260103号“") and "您满意吗？" in start.text
    assert start.slot(slots.CHOICE_KIND) == slots.OFFERED_SATISFACTION and start.slot(slots.TICKET) == "260103"
    asked = {slots.TICKET: "260103", slots.CHOICE_KIND: slots.OFFERED_SATISFACTION,
             slots.CHOICES: ["满意", "基本满意", "不满意"]}
    unclear = runner.run(ActionChooseOption(runner.settings), "cli:hh003", "这个嘛", intent="satisfaction", slots=asked)
    assert unclear.texts == ["请说满意、基本满意或不满意。"]  # "还行吧" would be 基本满意 (parsing.VERDICTS)
    said = runner.run(ActionChooseOption(runner.settings), "cli:hh003", "不满意 还在漏", intent="satisfaction",
                      slots=asked)
    assert said.texts == ["对不起没让您满意，已经重新交给网格员办理。"] and said.slot(slots.CHOICE_KIND) is None
    with session_scope(url=runner.settings.database.url) as s:
        g = s.execute(select(Grievance).where(Grievance.ticket_no == "260103")).scalar_one()
        assert g.state == GrievanceState.in_progress and g.satisfaction == "不满意"


@pytest.mark.parametrize("action", [ActionAffirm, ActionDeny])
def test_yes_or_no_to_the_satisfaction_question(runner, action):
    asked = {slots.TICKET: "260103", slots.CHOICE_KIND: slots.OFFERED_SATISFACTION}
    yes = runner.run(action(runner.settings), "cli:hh003", "对", intent="affirm", slots=asked)
    assert yes.texts == ["谢谢您的评价。"]


def test_a_bare_request_right_after_a_described_problem_files_that_problem(runner):
    described = "俺家院墙裂了好长一道缝，这房子还能住不"
    request = "那你帮俺报上去，名字不用保密"
    events = [{"event": "user", "text": described, "parse_data": {}},
              {"event": "bot", "text": "……"},
              {"event": "user", "text": request, "parse_data": {}}]
    said = runner.run(ActionStartGrievance(runner.settings), "cli:hh064", request, intent="file_grievance",
                      events=events)
    assert said.slot(slots.GRIEVANCE_DESCRIPTION) == described
    assert said.slot(slots.GRIEVANCE_CATEGORY) == "房屋安全" and said.slot(slots.GRIEVANCE_PLACE)
    assert said.slot(slots.GRIEVANCE_ANONYMOUS) is False  # said with the request: not asked again
    # "要，你帮俺报给网格员": who it goes to is no problem described either
    to_worker = "要，你帮俺报给网格员"
    events[-1]["text"] = to_worker
    said = runner.run(ActionStartGrievance(runner.settings), "cli:hh064", to_worker, intent="file_grievance",
                      events=events)
    assert said.slot(slots.GRIEVANCE_DESCRIPTION) == described
    # with nothing described before, the form asks what the problem is
    alone = runner.run(ActionStartGrievance(runner.settings), "cli:hh064", request, intent="file_grievance")
    assert alone.slot(slots.GRIEVANCE_DESCRIPTION) is None and alone.slot(slots.GRIEVANCE_ANONYMOUS) is False


def test_a_policy_question_that_sounds_like_a_complaint_is_answered_not_filed(runner):
    """The real knowledge base decides: sure of the answer → it is said and the form does not
    start; a complaint without a question, or a question without a policy topic, is filed."""
    said = runner.run(ActionStartGrievance(runner.settings), "cli:hh020", "俺家种地补贴今年一直没到，是不是村里给扣下了",
                      intent="file_grievance", entities={"topic": "耕地地力保护补贴"})
    assert said.slot(slots.KB_ENTRY) == "gengdi-not-received"
    assert {"event": "followup", "name": "action_listen"} in [
        {k: e.get(k) for k in ("event", "name")} for e in said.events]
    complaint = runner.run(ActionStartGrievance(runner.settings), "cli:hh020", "村里分补贴不公道，我有意见",
                           intent="file_grievance", entities={"topic": "补贴"})
    assert complaint.slot(slots.GRIEVANCE_DESCRIPTION) and not complaint.slot(slots.KB_ENTRY, None)
    lamp = runner.run(ActionStartGrievance(runner.settings), "cli:hh020", "村口路灯坏了三天了，咋还没人修",
                      intent="file_grievance")
    assert lamp.slot(slots.GRIEVANCE_DESCRIPTION) and not lamp.slot(slots.KB_ENTRY, None)


def test_who_to_turn_to_about_a_problem_is_answered_at_the_usual_bar_and_the_problem_offered(runner):
    """"该找谁" about a neighbour's trouble names no policy; the knowledge base is sure (but not all
    but certain) who settles it: that is said, reporting the trouble is offered, no form starts."""
    said = runner.run(ActionStartGrievance(runner.settings), "cli:hh020", "邻居家的鸡老跑我菜地里，这事能找谁出面",
                      intent="file_grievance")
    assert said.slot(slots.KB_ENTRY) == "tiaojie-how" and not said.slot(slots.GRIEVANCE_DESCRIPTION, None)
    assert 0.85 <= said_probability(runner, "邻居家的鸡老跑我菜地里，这事能找谁出面") < 0.95  # the case this is about


def test_whom_to_tell_about_a_problem_the_base_has_no_entry_for_gets_the_general_answer_and_the_offer(runner):
    """"这种事该跟谁说" about a trouble no entry covers: the general answer (the grid worker first;
    mediation when it is a quarrel with other people) and the offer to report it; nothing is filed,
    no form starts. A repair asked for ("该找谁来修") is a report: the form starts."""
    said = runner.run(ActionStartGrievance(runner.settings), "cli:hh020",
                      "村头那台变压器天天嗡嗡响到半夜，这种事该跟谁反映", intent="file_grievance")
    assert said_probability(runner, "村头那台变压器天天嗡嗡响到半夜，这种事该跟谁反映") < 0.85  # the case
    assert said.slot(slots.KB_ENTRY) == "wangge-contact" and not said.slot(slots.GRIEVANCE_DESCRIPTION, None)
    pending = said.slot(slots.PENDING_WRITE)
    assert pending and pending["kind"] == slots.WRITE_REPORT_OFFER and "网格员" in said.texts[0]
    workshop = runner.run(ActionStartGrievance(runner.settings), "cli:hh020",
                          "对门开了个木工作坊，电锯天天响到半夜，这种事该跟谁反映", intent="file_grievance")
    assert workshop.slot(slots.KB_ENTRY) == "tiaojie-how" and workshop.slot(slots.PENDING_WRITE)
    mend = runner.run(ActionStartGrievance(runner.settings), "cli:hh020", "灶房的烟囱叫风刮歪了，该找谁来给修修",
                      intent="file_grievance")
    assert mend.slot(slots.GRIEVANCE_DESCRIPTION) and not mend.slot(slots.KB_ENTRY, None)
    asked_around = runner.run(ActionStartGrievance(runner.settings), "cli:hh020", "后街没电一整天了，问谁都说不清楚",
                              intent="file_grievance")  # a story of asking around, no question of whom
    assert asked_around.slot(slots.GRIEVANCE_DESCRIPTION) and not asked_around.slot(slots.KB_ENTRY, None)


def said_probability(runner, question: str) -> float:
    from knowledge.retriever import default_kb

    return default_kb().answer(question, village_grid="第一网格").why["probability"]


def test_a_policy_question_with_close_candidates_is_answered_before_any_form(runner):
    """The real knowledge base is not sure between two entries of the policy named: both are
    answered briefly, then the report is offered (nothing waits to be written, no form); a report
    asked for in so many words is filed."""
    said = runner.run(ActionStartGrievance(runner.settings), "cli:hh020", "俺家楼上漏水，低保到底咋弄的嘛",
                      intent="file_grievance", entities={"topic": "低保"})
    pending = said.slot(slots.PENDING_WRITE)
    assert pending and pending["kind"] == slots.WRITE_REPORT_OFFER and "另外，" in said.texts[0]
    assert not said.slot(slots.GRIEVANCE_DESCRIPTION, None)
    filed = runner.run(ActionStartGrievance(runner.settings), "cli:hh020",
                       "我要反映，东头那家小洋楼都盖起来了，还年年吃低保，这叫啥道理", intent="file_grievance",
                       entities={"topic": "低保"})
    assert filed.slot(slots.GRIEVANCE_DESCRIPTION) and not filed.slot(slots.PENDING_WRITE, None)


def test_a_plain_no_to_the_satisfaction_question_is_not_satisfied_and_reopens(runner):
    asked = {slots.TICKET: "260103", slots.CHOICE_KIND: slots.OFFERED_SATISFACTION}
    said = runner.run(ActionDeny(runner.settings), "cli:hh003", "不中，才过了两天又坑坑洼洼的了", intent="deny",
                      slots=asked)
    assert said.texts == ["对不起没让您满意，已经重新交给网格员办理。"]
    with session_scope(url=runner.settings.database.url) as s:
        g = s.execute(select(Grievance).where(Grievance.ticket_no == "260103")).scalar_one()
        assert g.state == GrievanceState.in_progress and g.satisfaction == "不满意"


def test_words_at_the_read_back_that_are_neither_a_yes_nor_a_problem_are_asked_again(runner):
    """An unknown way of saying yes ("俺寻思就那么着吧") at the report's read-back is heard
    again, never read back as the report's new content."""
    from actions.grievances import ValidateGrievanceForm

    tracker = runner.tracker("cli:hh020", "俺寻思就那么着吧", intent="inform", active_loop="grievance_form",
                             slots={"requested_slot": slots.GRIEVANCE_CONFIRMED,
                                    slots.GRIEVANCE_DESCRIPTION: "村口路灯坏了", slots.GRIEVANCE_PLACE: "村口"})
    from rasa_sdk.executor import CollectingDispatcher
    dispatcher = CollectingDispatcher()
    got = ValidateGrievanceForm().validate_grievance_confirmed("俺寻思就那么着吧", dispatcher, tracker, runner.domain)
    assert got == {slots.GRIEVANCE_CONFIRMED: None, slots.GRIEVANCE_CORRECTING: None}
    assert [m.get("response") for m in dispatcher.messages] == ["utter_confirm_again"]


def test_an_answer_about_the_name_heard_as_a_question_is_read_but_never_an_emergency(runner):
    """At 保密: "不怕别人晓得" heard as a policy question is the answer (not private); an
    emergency said there fills nothing (the alarm goes first)."""
    import asyncio

    from rasa_sdk.executor import CollectingDispatcher

    from actions.grievances import ValidateGrievanceForm

    def extract(text, intent):
        tracker = runner.tracker("cli:hh020", text, intent=intent, active_loop="grievance_form",
                                 slots={"requested_slot": slots.GRIEVANCE_ANONYMOUS})
        return asyncio.run(ValidateGrievanceForm().extract_grievance_anonymous(CollectingDispatcher(), tracker,
                                                                              runner.domain))

    assert extract("不怕别人晓得", "ask_policy") == {slots.GRIEVANCE_ANONYMOUS: "不怕别人晓得"}
    assert extract("哎呀不好，灶房着火了", "emergency") == {}
    assert extract("低保要带啥材料", "ask_policy") == {}  # a question inside the form stays one


def test_a_report_started_from_a_problem_told_says_it_is_being_reported_before_the_first_question(runner):
    """"要不要对邻居保密您的名字？" alone does not say what it is for: a report started from a
    problem already told says first that it is being reported; one started without a problem
    asks for the problem and says nothing more."""
    told = runner.run(ActionStartGrievance(runner.settings), "cli:hh020", "后山那条机耕路叫雨冲出一道深沟",
                      intent="file_grievance")
    assert told.texts == ["好，这件事我帮您报给网格员。"] and told.slot(slots.GRIEVANCE_DESCRIPTION)
    bare = runner.run(ActionStartGrievance(runner.settings), "cli:hh020", "我想反映个事", intent="file_grievance")
    assert bare.texts == [] and not bare.slot(slots.GRIEVANCE_DESCRIPTION, None)


def test_a_villagers_accusation_naming_a_policy_heard_as_the_queue_is_a_report(runner):
    """The topic word of this very turn (医保) is no earlier answer: an accusation told without a
    question, heard as the staff queue, starts the report."""
    from rasa_sdk.events import FollowupAction

    done = runner.run(ActionMyQueue(runner.settings), "cli:hh020", "卫生室用我的医保卡开了好几回药，我压根没去过，这不是糊弄人嘛",
                      intent="my_queue", entities={"topic": "医保"}, slots={"topic": "医保"})
    assert FollowupAction("action_start_grievance") in done.events
    after_answer = runner.run(ActionMyQueue(runner.settings), "cli:hh020", "村里去说了他们还是不当回事",
                              intent="my_queue", slots={"topic": "医保", "kb_entry": "yibao-outpatient"})
    assert FollowupAction("action_policy_answer") in after_answer.events  # more of the answer just given


def test_a_report_asked_for_as_the_last_words_is_filed_even_after_a_policy_question(runner):
    """"…发给谁、发多少从来不公布，我有意见，帮我报上去": the question in it is no reason to answer
    instead — the report asked for is started (and read back before anything is written)."""
    said = runner.run(ActionStartGrievance(runner.settings), "cli:hh020",
                      "高龄补贴都发给谁了、一人多少，村里从不公布，我有意见，帮我报上去",
                      intent="file_grievance", entities={"topic": "高龄补贴"})
    assert said.slot(slots.GRIEVANCE_DESCRIPTION) and not said.slot(slots.KB_ENTRY, None)


def test_whom_to_ask_about_the_villages_own_money_is_the_supervision_committee(runner):
    """The knowledge base is not sure of it; the committee that oversees the village's accounts is
    said, and reporting it offered."""
    question = "前年村里打井花的钱，张榜的数跟大家算的对不上，这种事该找哪个部门"
    assert said_probability(runner, question) < 0.85  # the case this is about
    said = runner.run(ActionStartGrievance(runner.settings), "cli:hh020", question, intent="file_grievance")
    assert said.slot(slots.KB_ENTRY) == "cunwu-jiandu" and said.slot(slots.PENDING_WRITE)


@pytest.mark.parametrize("said", ["对，{}，这回没错",
                                  # the place first, the yes after it (read as words of their own)
                                  "嗯，{}，没错，交上去吧"])
def test_a_yes_that_names_the_place_as_it_was_read_back_files(runner, said):
    """"对，村口，这回没错" after the place was read back as 村口: nothing changes, so it is a yes; the
    same words naming another place put that place right and read back again, never filing."""
    same = _validate(runner, slots.GRIEVANCE_CONFIRMED, said.format("村口"), intent="affirm", filled=FORM,
                     entities={"place": "村口"})
    assert same.slot(slots.GRIEVANCE_CONFIRMED) is True
    other = _validate(runner, slots.GRIEVANCE_CONFIRMED, said.format("小学门口"), intent="affirm", filled=FORM,
                      entities={"place": "小学门口"})
    assert other.slot(slots.GRIEVANCE_CONFIRMED) is None and other.slot(slots.GRIEVANCE_PLACE) == "小学门口"


def test_a_problem_heard_as_a_status_question_from_someone_who_reported_nothing_is_answered(runner):
    """"两个儿子都不管我" heard as a status question: the knowledge base's answer (support owed by
    children), not "您还没有反映过问题"."""
    status = ActionGrievanceStatus(runner.settings)
    sons = runner.run(status, "cli:hh040", "我两个儿子都不管我，饭都不送一口", intent="check_grievance_status")
    assert sons.slot(slots.KB_ENTRY) == "tiaojie-family" and "您还没有反映过" not in sons.text


def test_staff_name_a_ticket_of_their_queue_by_its_subject(runner):
    """"三组垃圾桶那一件…我打算给它办结": the one ticket of the asker's queue it is about, read back
    before anything is done; a subject that fits none of them names none."""
    handle = ActionHandleGrievance(runner.settings)
    said = runner.run(handle, "cli:zhaodefu", "三组垃圾桶那一件，保洁员讲桶都清空了，我打算给它办结", intent="nlu_fallback")
    assert said.text.startswith("把260102号“") and said.text.endswith(CONFIRM), said.text
    assert said.slot(slots.PENDING_WRITE)
    assert "三组垃圾桶那一件" not in said.text  # the words that named it are no part of the note
    # closing it says what was done: the subject alone is no result
    bare = runner.run(handle, "cli:zhaodefu", "三组垃圾桶那件事，我这边打算办结了", intent="my_queue")
    assert len(bare.texts) == 1 and bare.texts[0].startswith("260102号“") and "结果" in bare.texts[0], bare.texts
    assert not bare.sets(slots.PENDING_WRITE)
    other = runner.run(handle, "cli:zhaodefu", "河边柳树那一件，已经处理好了，我打算给它办结", intent="nlu_fallback")
    assert other.texts == ["请说编号和要做的事，比如“260101办结了，路灯换好了”。"]


def test_a_report_taken_back_and_told_anew_at_the_read_back_is_read_back_anew(runner):
    """"哦我讲岔了，灯是好的，是电线杆歪了" at the read-back: the no and the new telling in one breath —
    the new telling is the report now (read back again), not "哪里不对？"."""
    anew = _validate(runner, slots.GRIEVANCE_CONFIRMED, "哦我讲岔了，灯是好的，是电线杆歪了", intent="deny", filled=FORM)
    assert anew.slot(slots.GRIEVANCE_CONFIRMED) is None
    assert anew.slot(slots.GRIEVANCE_DESCRIPTION) == "灯是好的，是电线杆歪了"
    plain = _validate(runner, slots.GRIEVANCE_CONFIRMED, "不对", intent="deny", filled=FORM)
    assert plain.slot(slots.GRIEVANCE_CORRECTING) is True  # "哪里不对？"
