"""The REST channel's input checks (bot/channels/rest.py), on their own: malformed bodies are
refused with a 400 and over-long messages with a 413, before Rasa sees them. The running
server under fuzzing: tests/e2e/test_fuzz_endpoints.py."""
from __future__ import annotations


def test_rest_channel_wrapper_checks_bodies():
    from bot.channels.rest import check_body

    assert check_body(b'{"sender": "cli:hh003", "message": "\\u4f60\\u597d"}') is None
    for body in (b"", b"[]", b"null", b"42", b'"x"', b"{", b"[" * 5000, b'{"sender": "a"}',
                 b'{"sender": "a", "message": 1}', b'{"sender": 42, "message": "hi"}'):
        assert check_body(body)[0] == 400, body
    assert check_body(('{"sender": "a", "message": "%s"}' % ("啊" * 2001)).encode())[0] == 413
