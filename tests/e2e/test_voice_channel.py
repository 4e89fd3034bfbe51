"""The voice channel end to end: real HTTP upload, real audio decoding, the trained model,
the action server, the database and real speech synthesis; a test double stands in for
the recogniser only (see tests/support/asr_double.py)."""
from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.models import ChannelIdentity, EmergencyEvent
from tests.support.asr_double import register
from tests.support.voice import espeak_wav, post_voice, wav_seconds


def test_spoken_question_gets_a_spoken_answer(rasa_server):
    audio = espeak_wav("我有多少积分")
    register(audio, "我有多少积分")
    status, _, body = post_voice(rasa_server, "device-004", audio)
    assert status == 200
    reply = json.loads(body)
    assert reply["transcript"] == "我有多少积分"
    assert any("分" in text for text in reply["texts"])
    assert wav_seconds(base64.b64decode(reply["audio_wav_base64"])) > 1.0


def test_wav_response_when_asked_for_audio(rasa_server):
    audio = espeak_wav("你好")
    register(audio, "你好")
    status, headers, body = post_voice(rasa_server, "device-005", audio, accept="audio/wav")
    assert status == 200 and headers["Content-Type"].startswith("audio/wav")
    assert wav_seconds(body) > 1.0 and "X-Texts" in headers


@pytest.mark.parametrize("audio", [b"\x00garbage\xff" * 100, b"\x00\x00" * 16000])
def test_unintelligible_audio_is_asked_again(rasa_server, audio):
    status, _, body = post_voice(rasa_server, "device-006", audio)
    assert status == 200
    assert json.loads(body)["texts"] == ["没听清，请再说一遍。"]


def test_unsigned_request_or_missing_audio_is_a_polite_4xx(rasa_server):
    status, _, body = post_voice(rasa_server, None, espeak_wav("你好"))
    assert status == 401 and "设备" in json.loads(body)["error"]
    status, _, _ = post_voice(rasa_server, "device-006", b"")
    assert status == 400


def test_oversized_upload_is_refused(rasa_server):
    status, _, _ = post_voice(rasa_server, "device-006", b"\x00" * (11 * 1024 * 1024))
    assert status == 413


def test_emergency_words_alert_the_grid_worker(rasa_server, seeded_db):
    audio = espeak_wav("我摔倒了")
    register(audio, "哎呀我摔倒了起不来")
    status, _, body = post_voice(rasa_server, "device-012", audio)
    assert status == 200 and "网格员" in "".join(json.loads(body)["texts"])
    with session_scope(url=seeded_db) as s:
        event = s.execute(select(EmergencyEvent).where(EmergencyEvent.channel == "voice")
                          .order_by(EmergencyEvent.id.desc())).scalars().first()
        assert event.household.number == 12 and "摔倒" in event.text


def test_slow_down_is_remembered_for_the_device(rasa_server, seeded_db):
    audio = espeak_wav("说慢一点")
    register(audio, "说慢一点")
    status, _, body = post_voice(rasa_server, "device-013", audio)
    assert status == 200
    with session_scope(url=seeded_db) as s:
        settings = s.execute(select(ChannelIdentity.settings).where(
            ChannelIdentity.external_id == "device-013")).scalar_one()
        assert settings.get("speech_rate") == "slow"
    again = espeak_wav("再说一遍")
    register(again, "再说一遍")
    _, _, body = post_voice(rasa_server, "device-013", again)
    assert json.loads(body)["rate"] == "slow"
