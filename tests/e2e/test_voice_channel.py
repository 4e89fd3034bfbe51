"""The voice channel end to end: real HTTP upload, real audio decoding, the trained model,
the action server, the database and real speech synthesis; a test double stands in for
the recogniser only (see tests/support/asr_double.py), for uploads and streamed utterances alike
(the real Vosk stream: tests/speech/test_asr_stream.py)."""
from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.models import ChannelIdentity, EmergencyEvent
from tests.support.asr_double import register
from speech.audio import normalise, read_wav
from tests.support.voice import (device_key, espeak_wav, frames, post_voice, stream_end, stream_piece, stream_start,
                                 wav_seconds)


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


# --- the streamed utterance: pieces while speaking, the answer sentence by sentence ----------

PIECE = 16000  # half a second of 16 kHz s16le


def device_client(base_url: str, device_id: str, tmp_path):
    from speech.device import VoiceClient

    return VoiceClient(f"{base_url}/webhooks/voice/webhook", device_id, queue_dir=tmp_path / "queue",
                       key=device_key(device_id))


def test_a_streamed_question_is_answered_like_the_upload(rasa_server, tmp_path):
    recording = espeak_wav("我有多少积分")
    register(recording, "我有多少积分")
    status, _, body = post_voice(rasa_server, "device-004", recording)
    assert status == 200
    upload = json.loads(body)

    client = device_client(rasa_server, "device-004", tmp_path)
    played: list[bytes] = []
    streamed = client.ask(normalise(recording), played.append)  # the device client, as on the device
    assert client.streaming is True and streamed.streamed and streamed.played
    assert streamed.transcript == upload["transcript"] == "我有多少积分"
    assert streamed.texts == upload["texts"] and any("分" in text for text in streamed.texts)
    # the same speech, one WAV per sentence (the server's synthesiser cache makes it bit-equal)
    assert len(played) >= 1
    assert read_wav(streamed.audio_wav)[0] == read_wav(base64.b64decode(upload["audio_wav_base64"]))[0]
    assert wav_seconds(played[0]) > 0.5


def test_the_framed_answer_and_its_pieces_over_plain_http(rasa_server):
    recording = espeak_wav("你好")
    register(recording, "你好")
    pcm = normalise(recording)
    status, opened = stream_start(rasa_server, "device-005")
    assert status == 200 and opened["format"] == "s16le" and opened["rate"] == 16000
    pieces = [pcm[i:i + PIECE] for i in range(0, len(pcm), PIECE)]
    for seq, piece in enumerate(pieces[:-1]):
        assert stream_piece(rasa_server, "device-005", opened["utterance"], seq, piece) == (200, {"next": seq + 1})
    status, headers, body = stream_end(rasa_server, "device-005", opened["utterance"], len(pieces) - 1, pieces[-1])
    assert status == 200 and headers["Content-Type"].startswith("application/x-xiangyin-voice-frames")
    header, segments = frames(body)
    assert header["transcript"] == "你好" and header["texts"] and header["rate"] == "normal"
    assert segments and all(segment[:4] == b"RIFF" for segment in segments)


def test_streamed_silence_is_asked_again_and_emergencies_still_alert(rasa_server, seeded_db, tmp_path):
    client = device_client(rasa_server, "device-006", tmp_path)
    assert client.ask(b"\x00\x00" * 16000 * 2).texts == ["没听清，请再说一遍。"]

    recording = espeak_wav("救命")
    register(recording, "救命啊我摔倒了")
    client = device_client(rasa_server, "device-012", tmp_path)
    reply = client.ask(normalise(recording))
    assert reply.streamed and "网格员" in "".join(reply.texts)
    with session_scope(url=seeded_db) as s:
        event = s.execute(select(EmergencyEvent).where(EmergencyEvent.channel == "voice")
                          .order_by(EmergencyEvent.id.desc())).scalars().first()
        assert event.household.number == 12 and "摔倒" in event.text


def refusal(status_and_json, status: int) -> str:
    got, answer = status_and_json
    assert got == status, answer
    assert answer["error"] and not any(word in answer["error"] for word in ("Traceback", "Error", "error"))
    return answer["error"]


def test_pieces_that_do_not_belong_are_refused_politely(rasa_server):
    _, opened = stream_start(rasa_server, "device-007")
    utterance = opened["utterance"]
    piece = b"\x01\x00" * 8000
    # another provisioned device, correctly signed with its own key: not its utterance
    assert "设备" in refusal(stream_piece(rasa_server, "device-008", utterance, 0, piece), 403)
    status, _, body = stream_end(rasa_server, "device-008", utterance, 0)
    assert status == 403
    # unsigned, or signed with the wrong key
    assert stream_piece(rasa_server, None, utterance, 0, piece)[0] == 401
    assert stream_piece(rasa_server, "device-007", utterance, 0, piece, key=device_key("device-008"))[0] == 401
    # out of order: piece 1 before piece 0, piece 0 twice, an end that skips a piece
    refusal(stream_piece(rasa_server, "device-007", utterance, 1, piece), 409)
    assert stream_piece(rasa_server, "device-007", utterance, 0, piece)[0] == 200
    refusal(stream_piece(rasa_server, "device-007", utterance, 0, piece), 409)
    status, _, body = stream_end(rasa_server, "device-007", utterance, 2)
    assert status == 409 and json.loads(body)["error"]
    # the end, then a piece after it
    status, _, body = stream_end(rasa_server, "device-007", utterance, 1, piece)
    assert status == 200 and frames(body)[0]["texts"] == ["没听清，请再说一遍。"]
    assert "结束" in refusal(stream_piece(rasa_server, "device-007", utterance, 2, piece), 409)
    # an utterance nobody opened; a piece that is not 16-bit PCM
    refusal(stream_piece(rasa_server, "device-007", "0" * 32, 0, piece), 404)
    _, other = stream_start(rasa_server, "device-007")
    refusal(stream_piece(rasa_server, "device-007", other["utterance"], 0, b"\x01\x00\x02"), 400)


def test_streams_are_bounded(rasa_server):
    _, opened = stream_start(rasa_server, "device-009")
    limit = opened["max_piece_bytes"]
    pieces_allowed = int(opened["max_seconds"] * 16000 * 2) // limit
    refusal(stream_piece(rasa_server, "device-009", opened["utterance"], 0, b"\x00" * (limit + 2)), 413)
    for seq in range(pieces_allowed):
        assert stream_piece(rasa_server, "device-009", opened["utterance"], seq, b"\x00" * limit)[0] == 200
    assert "太长" in refusal(stream_piece(rasa_server, "device-009", opened["utterance"], pieces_allowed,
                                          b"\x00" * limit), 413)
    refusal(stream_piece(rasa_server, "device-009", opened["utterance"], pieces_allowed + 1, b"\x00\x00"), 413)
    # open utterances per device
    assert stream_start(rasa_server, "device-010")[0] == 200
    assert stream_start(rasa_server, "device-010")[0] == 200
    refusal(stream_start(rasa_server, "device-010"), 429)
    assert stream_start(rasa_server, "device-011")[0] == 200  # another device is not held up
