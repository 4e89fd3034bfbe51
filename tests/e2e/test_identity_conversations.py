"""Who may see what, through the trained model: role boundaries, the spoken PIN on staff
voice devices, and sensitive facts kept off the voice channel. The domain rules underneath:
tests/domain/test_identity.py."""
from __future__ import annotations

from sqlalchemy import select

from bot.db import session_scope
from bot.models import Household


def test_outside_the_grid_is_answered_like_a_missing_household(talk):
    chat = talk("cli:wangxiulan")  # 第一网格: households 1-22
    outside = chat.say("查一下40号户")
    missing = talk("cli:wangxiulan").say("查一下99号户")
    assert outside == missing and "40" not in outside


def test_voice_device_staff_say_their_pin_first(talk, seeded_db):
    chat = talk("voice:staff-wangxiulan")
    reply = chat.say("查一下李桂芳家")
    assert "密码" in reply and "李桂芳家" not in reply
    reply = chat.say("一二三四")
    assert "李桂芳家" in reply and "口人" in reply
    # Household 2 has a sensitive note in the seed (低保): never spoken on the voice channel.
    with session_scope(url=seeded_db) as s:
        note = s.execute(select(Household.sensitive_note).where(Household.number == 2)).scalar_one()
    assert note, "the seed gives household 2 a sensitive note"
    assert note not in reply and "不方便说" in reply
    # Verified for the rest of the conversation.
    assert "密码" not in chat.say("查一下12号户")


def test_wrong_pin_three_times_reads_nothing(talk):
    chat = talk("voice:staff-liguoqiang")
    assert "密码" in chat.say("查一下30号户")
    assert "不对" in chat.say("九九九九")
    assert "不对" in chat.say("八八八八")
    reply = chat.say("七七七七")
    assert "不能读" in reply and "口人" not in reply


def test_text_channel_shows_sensitive_notes_to_staff(talk, seeded_db):
    with session_scope(url=seeded_db) as s:
        number, note = s.execute(select(Household.number, Household.sensitive_note)
                                 .where(Household.sensitive_note != "", Household.number <= 22)
                                 .order_by(Household.number)).first()
    reply = talk("cli:wangxiulan").say(f"查一下{number}号户")
    assert note in reply
