"""The dialogue sets (tests/data/dialogues/, dev and held-out halves, the second set
tests/data/dialogues_fresh/ and the third, tests/data/dialogues_third/, all development data now)
through the real servers:
text over the REST channel, ``voice:`` senders over the voice channel with the recogniser double, every
dialogue on a freshly restored village.

Two properties are checked on every dialogue of both halves: no write without an explicit yes
(a hard rule, never a rate), and a pass rate no lower than the one measured when the
dialogue work landed (a regression floor, printed with the table; README: measured figures)."""
from __future__ import annotations

import subprocess

import pytest

from bench.dialogues import (FRESH_DIALOGUES_DIR, THIRD_DIALOGUES_DIR, HttpTransport, format_summary, load_dialogues,
                             run_dialogue)
from bot.config import load_settings
from bot.security.devices import signed_headers
from bot.security.keys import rasa_api_token
from bot.security.tokens import Minter
from tests.support.asr_double import register
from tests.support.voice import device_key

# Measured pass rates when issue 18 landed (README); the floor leaves room for one or two
# dialogues of noise in training, not for a regression.
# Raised 2026-11-30 to what the fourth pass measured, less four to six dialogues of slack:
PASS_FLOOR = {"dev": 0.87, "heldout": 0.88,  # measured 0.93 (63/68) and 0.98 (63/64), both development data now
              "fresh": 0.87,  # the second set (0.80 when measured once; 0.94, 98/104, after the fourth pass)
              "third": 0.88}  # the third set (0.80 when measured once; 0.93, 90/97, after the fifth pass)
RESULTS: dict[str, list] = {"dev": [], "heldout": [], "fresh": [], "third": []}
DIALOGUES = load_dialogues() + load_dialogues(FRESH_DIALOGUES_DIR) + load_dialogues(THIRD_DIALOGUES_DIR)


def result_set(dialogue) -> str:
    for prefix in ("fresh", "third"):
        if dialogue.id.startswith(f"{prefix}-"):
            return prefix
    return dialogue.split


def speak(text: str) -> bytes:
    """A real recording of the sentence (espeak-ng), registered with the recogniser double."""
    audio = subprocess.run(["espeak-ng", "-v", "cmn", "--stdout", text or "嗯"], check=True,
                           capture_output=True).stdout
    register(audio, text)
    return audio


def sign_voice(device_id: str, path: str, body: bytes) -> dict:
    """What the seeded device would send: its request signed with its demo key."""
    return signed_headers(device_id, device_key(device_id), "POST", path, body)


@pytest.fixture(scope="module")
def transport(rasa_server) -> HttpTransport:
    """Text over the REST channel with a bearer token per sender, speech over the voice channel
    signed by the device, conversation state through Rasa's HTTP API with its token."""
    settings = load_settings()
    return HttpTransport(rasa_server, token=rasa_api_token(settings), speak=speak, bearer=Minter(settings),
                         sign_voice=sign_voice)


@pytest.mark.parametrize("dialogue", DIALOGUES, ids=lambda d: d.id)
def test_dialogue(dialogue, transport, seeded_db, fresh_village):
    result = run_dialogue(dialogue, transport, seeded_db)
    RESULTS[result_set(dialogue)].append(result)
    assert not result.unconfirmed_write, f"write without an explicit yes: {result.failures} {result.transcript}"


@pytest.mark.parametrize("split", ["dev", "heldout", "fresh", "third"])
def test_pass_rate_holds(split):
    results = RESULTS[split]
    if not results:
        pytest.skip("the dialogues did not run (select them together with this test)")
    print("\n" + "\n".join(format_summary(results, split)))
    rate = sum(r.passed for r in results) / len(results)
    assert rate >= PASS_FLOOR[split], [(r.dialogue.id, r.failures[:2]) for r in results if not r.passed]
