"""Fuzz the running Rasa server's REST webhook and voice endpoint (reduced set of bot/fuzz.py):
a polite answer or a 4xx every time, never a 5xx or a dropped connection, bounded memory.

Malformed JSON bodies failed against Rasa's own ``rest`` channel (500 / silence);
``credentials.yml`` names ``bot.channels.rest.RestInput``, which refuses them with a 4xx. Long texts stay at 2k characters here: one 20k-character message
grew the Rasa process by ~6.5 GB RSS (see bot/fuzz.py; the same wrapper refuses it with 413)."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from bench.fuzz import MEMORY_BOUND_MB, pid_listening_on, run_fuzz

pytestmark = pytest.mark.rasa

KNOWN_BAD = {"REST malformed JSON"}

def _fuzz(rasa_server, **kwargs):
    pid = pid_listening_on(urlsplit(rasa_server).port)
    return pid, run_fuzz(rasa_server, pid=pid, reduced=True, timeout=120, **kwargs)


def test_endpoints_answer_politely_under_fuzzing(rasa_server):
    pid, result = _fuzz(rasa_server, skip=KNOWN_BAD)
    assert not result["failures"], "\n".join(result["failures"])
    counts = result["counts"]
    assert counts["voice huge audio"] == {"4xx": 1}
    assert counts["voice bad device id"].get("4xx", 0) >= 4
    before, after = result["rss"]
    if pid is not None:
        assert after - before < MEMORY_BOUND_MB, (before, after)
    # The server is still healthy afterwards.
    from tests.support.cluster import say

    assert say(rasa_server, "cli:hh012", "你好").answered


def test_rest_webhook_refuses_malformed_json_with_a_4xx(rasa_server):
    pid, result = _fuzz(rasa_server, only=KNOWN_BAD)
    assert not result["failures"], "\n".join(result["failures"])
    before, after = result["rss"]
    if pid is not None:
        assert after - before < MEMORY_BOUND_MB, (before, after)


def test_rest_channel_wrapper_checks_bodies():
    from bot.channels.rest import check_body

    assert check_body(b'{"sender": "cli:hh003", "message": "\\u4f60\\u597d"}') is None
    for body in (b"", b"[]", b"null", b"42", b'"x"', b"{", b"[" * 5000, b'{"sender": "a"}',
                 b'{"sender": "a", "message": 1}', b'{"sender": 42, "message": "hi"}'):
        assert check_body(body)[0] == 400, body
    assert check_body(('{"sender": "a", "message": "%s"}' % ("啊" * 2001)).encode())[0] == 413
