"""Fuzz the running Rasa server's REST webhook and voice endpoint (reduced set of bench/fuzz.py):
a polite answer or a 4xx every time, never a 5xx or a dropped connection, bounded memory.

Malformed JSON bodies failed against Rasa's own ``rest`` channel (500 / silence);
``credentials.yml`` names ``bot.channels.rest.RestInput``, which refuses them with a 4xx. Long texts stay at 2k characters here: one 20k-character message
grew the Rasa process by ~6.5 GB RSS (see bench/fuzz.py; the same wrapper refuses it with 413).
The wrapper's checks on their own: tests/unit/test_rest_input.py."""
from __future__ import annotations

from bench.fuzz import MEMORY_BOUND_MB, run_fuzz
from tests.support.cluster import say

KNOWN_BAD = {"REST malformed JSON"}


def _fuzz(server, **kwargs):
    """The reduced fuzz run against the tier's Rasa server, measuring that process's memory."""
    return run_fuzz(server.url, pid=server.pid, reduced=True, timeout=120, **kwargs)


def test_endpoints_answer_politely_under_fuzzing(servers):
    result = _fuzz(servers["rasa"], skip=KNOWN_BAD)
    assert not result["failures"], "\n".join(result["failures"])
    counts = result["counts"]
    assert counts["voice huge audio"] == {"4xx": 1}
    assert counts["voice bad device id"].get("4xx", 0) >= 4
    before, after = result["rss"]
    assert after - before < MEMORY_BOUND_MB, (before, after)
    # The server is still healthy afterwards.
    assert say(servers["rasa"].url, "cli:hh012", "你好").answered


def test_rest_webhook_refuses_malformed_json_with_a_4xx(servers):
    result = _fuzz(servers["rasa"], only=KNOWN_BAD)
    assert not result["failures"], "\n".join(result["failures"])
    before, after = result["rss"]
    assert after - before < MEMORY_BOUND_MB, (before, after)
