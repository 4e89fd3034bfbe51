"""Greeting, emergency, repeat, slower speech, hand-off, 对/不对 with nothing pending, the
base class's polite failures."""
from __future__ import annotations

from typing import List

from rasa_sdk.events import ActiveLoop, EventType
from sqlalchemy import select

from actions import slots
from actions.basics import (
    ActionAffirm,
    ActionChooseOption,
    ActionDeny,
    ActionEmergency,
    ActionGreet,
    ActionRepeat,
    ActionRequestHuman,
    ActionResolvePending,
    ActionSlowDown,
)
from actions.common import Turn, XiangyinAction
from bot.config import load_settings
from bot.db import session_scope
from bot.identity import AccessDenied, identity_settings
from bot.models import EmergencyEvent, OutboxMessage
from tests.actions.harness import VOICE_CHANNEL


def test_greeting_uses_the_villagers_name(runner):
    said = runner.run(ActionGreet(runner.settings), "cli:wangjianguo", "你好", intent="greet")
    assert said.texts == ["王建国，您好！我是乡音村务小助手。可以问政策、反映问题、查积分。您想办点啥？"]


def test_an_unknown_sender_is_greeted_without_a_name(runner):
    said = runner.run(ActionGreet(runner.settings), "telegram:999000111", "你好", intent="greet")
    assert said.texts == ["您好！我是乡音村务小助手。可以问政策、反映问题、查积分。您想办点啥？"]


def test_emergency_answers_and_alerts_the_grid_worker(runner):
    said = runner.run(ActionEmergency(runner.settings), "voice:device-009", "救命 我摔倒了", intent="emergency",
                      slots={slots.PENDING_WRITE: {"kind": "redeem"}}, active_loop=slots.GRIEVANCE_FORM,
                      channel=VOICE_CHANNEL)
    assert said.texts == ["别着急，我已经通知网格员马上联系您。有危险请先打120或者119。"]
    # Whatever was going on stops: the form, and any write waiting for 对.
    assert ActiveLoop(None) in said.events
    assert said.slot(slots.PENDING_WRITE) is None and said.slot(slots.REQUESTED_SLOT) is None
    with session_scope(url=runner.settings.database.url) as s:
        event = s.execute(select(EmergencyEvent)).scalar_one()
        assert event.household.number == 9 and event.alerted_user_id is not None and "摔倒" in event.text
        assert s.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"emergency:{event.id}:worker")
                         ).scalar_one().user_id == event.alerted_user_id


def test_emergency_answers_first_even_when_the_alarm_fails(runner, tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    broken = load_settings({"XIANGYIN_DATABASE_URL": f"sqlite:///{tmp_path / 'not-a-folder' / 'x.db'}"})
    said = runner.run(ActionEmergency(broken), "voice:device-009", "救命", intent="emergency")
    assert said.texts == ["别着急，我已经通知网格员马上联系您。有危险请先打120或者119。",
                          "通知没发出去，请马上打120或者喊邻居帮忙！"]


def test_repeat_says_the_previous_answer_again(runner):
    events = [{"event": "user", "text": "我家有多少积分"},
              {"event": "bot", "text": "您家现在有120分。"}, {"event": "bot", "text": "这个月加5分。"},
              {"event": "user", "text": "再说一遍"}]
    said = runner.run(ActionRepeat(runner.settings), "cli:hh005", "再说一遍", intent="repeat", events=events)
    assert said.texts == ["您家现在有120分。", "这个月加5分。"]
    nothing = runner.run(ActionRepeat(runner.settings), "cli:hh005", "再说一遍", intent="repeat")
    assert nothing.texts == ["我刚才还没说话呢。您想办点啥？"]


def test_repeat_after_slow_down_says_the_answer_before_it(runner):
    """"慢点说" then "再说一遍": the answer is said again, not "好的，我以后说慢一点"."""
    events = [{"event": "user", "text": "高龄补贴一个月给多少钱"},
              {"event": "bot", "text": "高龄补贴按年龄分档。", "metadata": {"utter_action": "utter_policy_answer"}},
              {"event": "user", "text": "你说得太快了，慢点说"},
              {"event": "bot", "text": "好的，我以后说慢一点。", "metadata": {"utter_action": "utter_slow_down"}},
              {"event": "user", "text": "再说一遍"}]
    said = runner.run(ActionRepeat(runner.settings), "voice:device-013", "再说一遍", intent="repeat", events=events)
    assert said.texts == ["高龄补贴按年龄分档。"]


def test_slow_down_is_remembered_for_the_device(runner):
    said = runner.run(ActionSlowDown(runner.settings), "voice:device-013", "慢一点", intent="slow_down")
    assert said.texts == ["好的，我以后说慢一点。"]
    with session_scope(url=runner.settings.database.url) as s:
        assert identity_settings(s, "voice", "device-013")["speech_rate"] == "slow"


def test_slower_said_with_not_heard_says_the_answer_again(runner):
    events = [{"event": "user", "text": "高龄补贴一个月给多少钱"},
              {"event": "bot", "text": "高龄补贴按年龄分档。", "metadata": {"utter_action": "utter_policy_answer"}},
              {"event": "user", "text": "你说慢点，俺没听清"}]
    said = runner.run(ActionSlowDown(runner.settings), "voice:device-013", "你说慢点，俺没听清", intent="slow_down",
                      events=events)
    assert said.texts == ["好的，我以后说慢一点。", "高龄补贴按年龄分档。"]
    hard_of_hearing = runner.run(ActionSlowDown(runner.settings), "voice:device-013", "你讲慢些，我耳朵背",
                                 intent="slow_down", events=events)
    assert hard_of_hearing.texts == ["好的，我以后说慢一点。", "高龄补贴按年龄分档。"]


def test_asking_for_a_person_notifies_the_contact(runner):
    said = runner.run(ActionRequestHuman(runner.settings), "cli:hh005", "找网格员", intent="request_human")
    assert said.text.startswith("好的，我已经告诉") and "会尽快联系您。电话是139" in said.text
    with session_scope(url=runner.settings.database.url) as s:
        note = s.execute(select(OutboxMessage).where(OutboxMessage.kind == "callback_request")).scalar_one()
        assert note.text.endswith("想找人说话，请回个电话。") and note.payload == {"sender_id": "cli:hh005"}


def test_yes_and_no_with_nothing_pending(runner):
    yes = runner.run(ActionAffirm(runner.settings), "cli:hh005", "对", intent="affirm")
    no = runner.run(ActionDeny(runner.settings), "cli:hh005", "不对", intent="deny")
    assert yes.texts == no.texts == ["好的。还有什么要帮忙的吗？"]


def test_no_cancels_a_pending_write(runner):
    said = runner.run(ActionResolvePending(runner.settings), "cli:hh011", "不对", intent="deny",
                      slots={slots.PENDING_WRITE: {"kind": "redeem", "key": "k", "item": "肥皂", "quantity": 1},
                             slots.AWAITING_CONFIRMATION: True})
    assert said.texts == ["好的，不换了，积分一分没动。"]
    assert said.slot(slots.PENDING_WRITE) is None and said.slot(slots.AWAITING_CONFIRMATION) is False


def test_a_choice_that_was_not_offered_is_not_understood(runner):
    said = runner.run(ActionChooseOption(runner.settings), "cli:hh010", "第三个", intent="choose_option",
                      slots={slots.CHOICES: ["dibao-process", "dibao-materials"], slots.CHOICE_KIND: slots.OFFERED_KB})
    assert said.responses == ["utter_default"]


class _Failing(XiangyinAction):
    """Fails with ``error``. (rasa_sdk's executor registers every Action subclass it can
    construct, this one too: the domain contract test leaves out action_test_*.)"""

    action_name = "action_test_failing"

    def __init__(self, settings=None, error: Exception = RuntimeError("boom")):
        super().__init__(settings)
        self.error = error

    def handle(self, turn: Turn) -> List[EventType]:
        raise self.error


def test_any_failure_is_a_polite_sentence_and_drops_the_pending_write(runner):
    said = runner.run(_Failing(runner.settings, RuntimeError("boom")), "cli:hh005", "换肥皂",
                      slots={slots.PENDING_WRITE: {"kind": "redeem"}})
    assert said.texts == ["系统刚才出了点问题，这次没办成，请您稍后再说一遍。"]
    assert said.slot(slots.PENDING_WRITE) is None and said.slot(slots.AWAITING_CONFIRMATION) is False


def test_access_denied_is_answered_like_a_missing_household(runner):
    said = runner.run(_Failing(runner.settings, AccessDenied("no")), "cli:hh005", "查一下3号户")
    assert said.texts == ["这户的信息您没有权限查看，或者查不到这户。"] and said.events == []
