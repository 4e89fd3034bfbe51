"""Fuzz the running Rasa server's REST webhook and voice endpoint (reduced set of bot/fuzz.py):
a polite answer or a 4xx every time, never a 5xx or a dropped connection, bounded memory."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from bot.fuzz import MEMORY_BOUND_MB, pid_listening_on, run_fuzz

pytestmark = pytest.mark.rasa


def test_rest_and_voice_endpoints_answer_politely_under_fuzzing(rasa_server):
    pid = pid_listening_on(urlsplit(rasa_server).port)
    result = run_fuzz(rasa_server, pid=pid, reduced=True, timeout=120)
    assert not result["failures"], "\n".join(result["failures"])
    counts = result["counts"]
    assert sum(c.get("4xx", 0) for c in counts.values()) > 0  # malformed input is refused, not answered
    assert counts["voice huge audio"] == {"4xx": 1}
    before, after = result["rss"]
    if pid is not None:
        assert after - before < MEMORY_BOUND_MB, (before, after)
    # The server is still healthy afterwards.
    from tests.cluster_fixtures import say

    assert say(rasa_server, "cli:hh012", "你好").answered
