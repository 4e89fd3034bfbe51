"""speech.device against a stand-in server on 127.0.0.1 that checks every request's signature
the way the server does (bot.security.devices.sign over the exact bytes received): uploads and
inbox polls are signed, the inbox is played oldest first up to the first question and confirmed,
a lost confirmation never replays a message, and an unregistered device is told so. The real
voice inbox: tests/e2e/test_loops_channels.py."""
from __future__ import annotations

import hmac
import json
import os
import secrets
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bot.security.devices import (
    HEADER_DEVICE,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIME,
    sign,
    write_key_file,
)
from speech import audio, device
from tests.support.http_server import LocalServer

ROOT = Path(__file__).resolve().parents[2]
KEY = secrets.token_hex(32)
QUESTION = {"id": 3, "kind": "followup_question", "text": "回访：您满意吗？请说满意、基本满意或不满意。",
            "expects": "satisfaction"}


class SigningServer(LocalServer):
    """Voice webhook + voice inbox that accept only requests signed with :data:`KEY`."""

    def __init__(self, messages: list[dict] | None = None, fail_acks: int = 0) -> None:
        self.messages = list(messages or [])
        self.fail_acks = fail_acks
        self.requests: list[tuple[str, str, bool]] = []  # (method, path, signature valid)
        self.acked: list[list[int]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _verify(self, body: bytes) -> bool:
                h = self.headers
                expected = sign(KEY, self.command, self.path, h.get(HEADER_DEVICE, ""), h.get(HEADER_TIME, ""),
                                h.get(HEADER_NONCE, ""), body)
                ok = hmac.compare_digest(expected, h.get(HEADER_SIGNATURE, ""))
                outer.requests.append((self.command, self.path, ok))
                return ok

            def _answer(self, status: int, data: dict) -> None:
                raw = json.dumps(data, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self):  # noqa: N802
                if not self._verify(b""):
                    return self._answer(401, {"error": "这台设备还没有登记，请找村里帮忙设置。"})
                waiting = [m for m in outer.messages if m["id"] not in sum(outer.acked, [])]
                self._answer(200, {"device": "d1", "rate": "normal", "messages": waiting, "more": False})

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not self._verify(body):
                    return self._answer(401, {"error": "这台设备还没有登记，请找村里帮忙设置。"})
                if self.path.endswith("/ack"):
                    if outer.fail_acks:
                        outer.fail_acks -= 1
                        return self._answer(503, {"error": "busy"})
                    outer.acked.append(json.loads(body)["ids"])
                    return self._answer(200, {"acked": outer.acked[-1], "ignored": [], "conversation": None})
                self._answer(200, {"transcript": "你好", "texts": ["您好！"], "audio_wav_base64": ""})

            def log_message(self, *args):
                pass

        super().__init__(Handler)


def client(server: SigningServer, tmp_path: Path, key: str | None = KEY) -> device.VoiceClient:
    return device.VoiceClient(server.url, "d1", queue_dir=tmp_path / "q", key=key)


def listener(tmp_path) -> tuple[device.Speaker, list[str]]:
    heard: list[str] = []
    return device.Speaker(enabled=False, out=heard.append), heard


def test_uploads_and_polls_are_signed_over_the_bytes_sent(tmp_path):
    wav = audio.pcm_to_wav(device.tone([440.0], 0.2), 16000)
    with SigningServer() as server:
        voice = client(server, tmp_path)
        assert voice.send(wav).texts == ["您好！"]
        assert voice.poll() == []
        with pytest.raises(device.RequestRejected) as refused:
            client(server, tmp_path, key=secrets.token_hex(32)).poll()  # somebody else's key
    assert refused.value.status == 401
    assert server.requests == [("POST", "/webhooks/voice/webhook", True), ("GET", "/webhooks/voice_inbox/messages", True),
                               ("GET", "/webhooks/voice_inbox/messages", False)]


def test_the_inbox_plays_up_to_the_first_question_and_confirms_it(tmp_path):
    update = {"id": 1, "kind": "caller_update", "text": "王秀兰已经收到，正在赶过去。", "expects": None}
    later = {"id": 4, "kind": "notice_offer", "text": "村里有一条新通知：防火检查。要听吗？", "expects": "yes_no"}
    with SigningServer([update, QUESTION, later]) as server:
        speaker, heard = listener(tmp_path)
        inbox = device.DeviceInbox(client(server, tmp_path), speaker)
        question = inbox.check()
        assert question == device.InboxMessage(3, "followup_question", QUESTION["text"], "satisfaction")
        assert heard == [update["text"], QUESTION["text"]] and server.acked == [[1, 3]]
        # The question is answered by the next press; the offer after it waits for the next round.
        assert inbox.check().expects == "yes_no" and heard[-1] == later["text"] and server.acked[-1] == [4]
        assert inbox.check() is None and len(heard) == 3


def test_a_lost_confirmation_is_repeated_without_playing_again(tmp_path):
    update = {"id": 7, "kind": "caller_update", "text": "刘建华已经收到，正在赶过去。", "expects": None}
    with SigningServer([update], fail_acks=1) as server:
        speaker, heard = listener(tmp_path)
        inbox = device.DeviceInbox(client(server, tmp_path), speaker)
        inbox.check()
        assert heard == [update["text"]] and server.acked == []
        inbox.check()
        assert heard == [update["text"]] and server.acked == [[7]]


def test_a_server_without_an_inbox_only_means_nothing_is_played(tmp_path):
    speaker, heard = listener(tmp_path)
    gone = device.VoiceClient("http://127.0.0.1:9/webhooks/voice/webhook", "d1", queue_dir=tmp_path / "q", key=KEY,
                              connect_timeout=1)
    inbox = device.DeviceInbox(gone, speaker)
    assert inbox.check() is None and heard == [] and isinstance(inbox.error, device.ServerUnavailable)


def test_cli_reads_the_key_file_and_plays_the_inbox(tmp_path):
    key_file = tmp_path / "device.key"
    write_key_file(key_file, KEY)
    env = dict(os.environ, XIANGYIN_VAR_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    with SigningServer([QUESTION]) as server:
        played = subprocess.run([sys.executable, "-m", "speech.device", "--no-play", "--server", server.url,
                                 "--device-id", "d1", "--key-file", str(key_file), "--inbox-only"],
                                capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        key_file.chmod(0o644)
        exposed = subprocess.run([sys.executable, "-m", "speech.device", "--no-play", "--server", server.url,
                                  "--device-id", "d1", "--key-file", str(key_file), "--inbox-only"],
                                 capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        unsigned = subprocess.run([sys.executable, "-m", "speech.device", "--no-play", "--server", server.url,
                                   "--device-id", "d1", "--key-file", str(tmp_path / "missing.key"), "--inbox-only"],
                                  capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert played.returncode == device.EXIT_OK, played.stderr
    assert QUESTION["text"] in played.stdout and server.acked == [[3]]
    assert exposed.returncode == device.EXIT_ERROR and "chmod 600" in exposed.stderr  # a key others can read
    assert unsigned.returncode == device.EXIT_REJECTED and device.MSG_NOT_REGISTERED in unsigned.stdout
