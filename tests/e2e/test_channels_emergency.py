"""The emergency override of the turn pipeline (bot/channels/turn.py), through every channel.

"救命" — and a sentence with an emergency word buried in it that the trained model itself files
under another intent — reaches ``action_emergency`` from the terminal chat (REST channel), the
voice device (voice channel, recogniser double), Telegram text and a Telegram voice note (the
fake Bot API of test_telegram.py; the REST channel behind it). Each turn must answer that the
grid worker was told, and write an EmergencyEvent that keeps the user's own words.
"""
from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from bot.channels.terminal import repl
from bot.db import session_scope
from bot.models import EmergencyEvent
from tests.support.fake_telegram import (
    ScriptedRecognizer,
    TgUser,
    espeak_ogg,
    voice_note,
    code_for,
    contains,
    new_tg_id,
    telegram,
    texts,
)
from tests.support.voice import espeak_wav, post_voice
from tests.support.asr_double import register
from tests.support.conversation import parse_intents

ALERTED = "网格员"  # utter_emergency: 别着急，我已经通知网格员马上联系您。…
# Emergency words inside questions the model answers as something else (checked below, since a
# retrained model may read one of them right; one misread sentence is enough).
BURIED = ["我家的积分怎么扣了，隔壁老王刚才喊救命", "帮我查一下积分，我胸口疼", "请问低保怎么申请，我妈刚才摔倒了"]


@pytest.fixture(scope="module")
def misread(rasa_server) -> str:
    """A sentence with an emergency word that the model, on its own, does not call an emergency."""
    intents = parse_intents(rasa_server, BURIED)
    found = [text for text, intent in zip(BURIED, intents) if intent != "emergency"]
    assert found, f"the model reads all of {BURIED} as emergencies: add a sentence it misreads"
    return found[0]


@pytest.fixture(params=["plain", "buried"])
def saying(request, misread) -> str:
    return "救命" if request.param == "plain" else misread


def last_emergency(channel: str) -> EmergencyEvent:
    with session_scope() as s:
        event = s.execute(select(EmergencyEvent).where(EmergencyEvent.channel == channel)
                          .order_by(EmergencyEvent.id.desc())).scalars().first()
        assert event is not None, f"no emergency recorded from {channel}"
        s.expunge(event)
        return event


def test_terminal_chat(rasa_server, saying, monkeypatch, capsys):
    lines = iter([saying, "再见"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    repl(rasa_server, "hh021")
    assert ALERTED in capsys.readouterr().out
    assert last_emergency("cli").text == saying


def test_voice_device(rasa_server, saying):
    audio = espeak_wav(saying)
    register(audio, saying)
    status, _, body = post_voice(rasa_server, "device-014", audio)
    assert status == 200 and ALERTED in "".join(json.loads(body)["texts"])
    event = last_emergency("voice")
    assert event.text == saying and event.household_id is not None


def test_telegram_text(rasa_server, saying):
    tg = new_tg_id()

    async def scenario():
        async with telegram(rasa_server) as (fake, _):
            me = TgUser(fake, tg)
            await me.say(f"/link {code_for('hh022')}")
            return texts(await me.say(saying, until=contains(ALERTED)))

    assert ALERTED in asyncio.run(scenario())
    assert last_emergency("telegram").text == saying


def test_telegram_voice_note(rasa_server, saying, tmp_path):
    ogg, tg = espeak_ogg(saying, tmp_path), new_tg_id()

    async def scenario():
        async with telegram(rasa_server, recognizer=ScriptedRecognizer(saying)) as (fake, _):
            me = TgUser(fake, tg)
            await me.say(f"/link {code_for('hh023')}")
            return await me.send(voice=voice_note(fake, ogg), until=contains(ALERTED))

    answer = asyncio.run(scenario())
    assert answer[0]["text"] == f"我听到的是：{saying}"
    assert last_emergency("telegram").text == saying
