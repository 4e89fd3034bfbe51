"""The pure parts of delivering the loops' messages: the voice inbox's ack bodies and the
conversation a played question opens (bot/channels/voice_inbox.py), the Telegram alert's
"收到，我去处理" button (keyboards, delivery). Through the real servers:
tests/e2e/test_loops_channels.py."""
from __future__ import annotations

import pytest
from telegram.ext import InvalidCallbackData

from actions import slots
from bot.channels.telegram.delivery import markup_for
from bot.channels.telegram.keyboards import ack_keyboard, acknowledged_emergency
from bot.channels.voice_inbox import Played, opening_events, parse_ack
from bot.outbox import Claim, for_channel


@pytest.mark.parametrize("body, ids", [
    (b'{"ids": [3, 1]}', [3, 1]), (b'{"ids": []}', []),
    (b"", None), (b"[1]", None), (b'{"ids": "1"}', None), (b'{"ids": [true]}', None), (b'{"ids": [0]}', None),
    (b'{"ids": [1.5]}', None), (b'{"ids": [' + b",".join(b"1" for _ in range(101)) + b"]}", None),
    (b"\xff\xfe", None),
])
def test_ack_bodies(body, ids):
    assert parse_ack(body) == ids


def _slots(events) -> dict:
    return {e.key: e.value for e in events if e.type_name == "slot"}


def test_a_played_followup_question_opens_the_satisfaction_answer():
    played = Played(7, "followup_question", "回访：……您满意吗？", {"ticket_no": "260188", "expects": "satisfaction"})
    events = opening_events(played)
    assert events[0].type_name == "bot" and events[0].text == played.text
    assert events[-1].type_name == "action" and events[-1].action_name == "action_listen"
    assert _slots(events) == {slots.TICKET: "260188", slots.CHOICE_KIND: slots.OFFERED_SATISFACTION,
                              slots.CHOICES: ["满意", "基本满意", "不满意"], slots.PENDING_WRITE: None,
                              slots.AWAITING_CONFIRMATION: False}


def test_a_played_notice_offer_waits_for_yes_to_read_the_notice():
    played = Played(8, "notice_offer", "村里有一条新通知：防火。要听吗？",
                    {"notice_id": 3, "text": "【村务公开】防火：周六检查。", "expects": "yes_no", "channels": ["voice"]})
    values = _slots(opening_events(played))
    assert values[slots.PENDING_WRITE]["kind"] == slots.WRITE_LIST_MORE
    assert values[slots.PENDING_WRITE]["items"] == ["【村务公开】防火：周六检查。"]
    assert values[slots.AWAITING_CONFIRMATION] is True


def test_messages_that_ask_nothing_leave_the_conversation_alone():
    assert opening_events(Played(9, "caller_update", "王秀兰已经收到，正在赶过去。", {"emergency_id": 1})) == []
    assert opening_events(Played(9, "followup_question", "回访", {"expects": "satisfaction"})) == []  # no ticket
    alert = opening_events(Played(10, "emergency", "紧急求助……", {"emergency_id": 1, "expects": "acknowledge"}))
    assert _slots(alert) == {slots.PENDING_WRITE: None, slots.AWAITING_CONFIRMATION: False}  # "收到" reaches it


def test_channel_hints():
    assert for_channel({"channels": ["voice"]}, "voice") and not for_channel({"channels": ["voice"]}, "telegram")
    assert for_channel({}, "telegram") and for_channel(None, "voice") and for_channel({"channels": ["voice"]}, None)


def test_the_alert_button_takes_charge_even_from_an_expired_cache():
    markup = ack_keyboard(42)
    (row,) = markup.inline_keyboard
    (button,) = row
    assert button.text == "收到，我去处理" and len(button.callback_data.encode()) <= 64
    assert acknowledged_emergency(button.callback_data) == 42
    assert acknowledged_emergency(InvalidCallbackData(button.callback_data)) == 42  # sent by the CLI, or before a restart
    assert acknowledged_emergency("满意") is None and acknowledged_emergency('/ack_emergency{"id": 42}') is None
    assert acknowledged_emergency(InvalidCallbackData("x" * 40)) is None and acknowledged_emergency(None) is None


def test_alerts_carry_the_button_and_questions_their_answers():
    alert = Claim(1, "紧急求助：……回复“收到”表示您去处理。", ("7",), 1, "emergency",
                  {"emergency_id": 5, "expects": "acknowledge"})
    assert acknowledged_emergency(markup_for(alert).inline_keyboard[0][0].callback_data) == 5
    taken = Claim(2, "紧急求助，王秀兰已经接手处理。", ("7",), 1, "emergency_taken", {"emergency_id": 5})
    assert markup_for(taken) is None
    survey = Claim(3, "您满意吗？请说满意、基本满意或不满意。", ("7",), 1, "followup_question", {"expects": "satisfaction"})
    assert [b.text for b in markup_for(survey).inline_keyboard[0]] == ["满意", "基本满意", "不满意"]
