"""speech.device: the push-to-talk client against a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import base64
import email.parser
import json
import os
import struct
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest

from bot.ops.runtime import free_ports
from speech import audio, device
from tests.support.http_server import LocalServer

ROOT = Path(__file__).resolve().parents[2]
ANSWER_WAV = audio.pcm_to_wav(device.tone([440.0], 0.2), 16000)


class FakeVoiceServer(LocalServer):
    """A tiny voice webhook: parses the multipart form and answers like the real channel."""

    def __init__(self, port: int = 0, status: int = 200) -> None:
        self.requests: list[dict] = []
        self.other_paths: list[str] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if "/stream/" in self.path:  # an older server: no streaming endpoints
                    outer.other_paths.append(self.path)
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                msg = email.parser.BytesParser().parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
                fields = {}
                for part in msg.get_payload():
                    name = part.get_param("name", header="content-disposition")
                    fields[name] = {"data": part.get_payload(decode=True),
                                    "filename": part.get_filename(),
                                    "type": part.get_content_type()}
                outer.requests.append(fields)
                if outer.status != 200:
                    self.send_response(outer.status)
                    self.end_headers()
                    self.wfile.write(b"nope")
                    return
                answer = {"transcript": "我的积分有多少",
                          "texts": ["您的积分是一千二百五十分。"],
                          "audio_wav_base64": base64.b64encode(ANSWER_WAV).decode()}
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        super().__init__(Handler, port)


def free_port() -> int:
    return free_ports(1)[0]


@pytest.fixture()
def question_wav(tmp_path) -> Path:
    path = tmp_path / "question.wav"
    path.write_bytes(audio.pcm_to_wav(device.tone([300.0, 500.0], 0.3), 16000))
    return path


def run_cli(*args: str, var_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, XIANGYIN_VAR_DIR=str(var_dir), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "speech.device", "--no-play", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


# --------------------------------------------------------------------------- HTTP


def test_client_posts_multipart_and_parses_the_answer(tmp_path, question_wav):
    with FakeVoiceServer() as server:
        client = device.VoiceClient(server.url, "dev-7", queue_dir=tmp_path / "q")
        reply = client.send(question_wav.read_bytes(), "question.wav")
    assert reply.transcript == "我的积分有多少"
    assert reply.texts == ["您的积分是一千二百五十分。"]
    assert reply.audio_wav == ANSWER_WAV
    (req,) = server.requests
    assert req["device_id"]["data"] == b"dev-7"
    assert req["audio"]["data"] == question_wav.read_bytes()
    assert req["audio"]["filename"] == "question.wav"
    assert req["audio"]["type"] == "audio/wav"


def test_cli_wav_mode_saves_the_answer(tmp_path, question_wav):
    out = tmp_path / "answer.wav"
    with FakeVoiceServer() as server:
        proc = run_cli("--server", server.url, "--device-id", "d1", "--wav", str(question_wav),
                       "--out", str(out), "--queue-dir", str(tmp_path / "q"), "--json",
                       var_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == ANSWER_WAV
    assert "您的积分是一千二百五十分。" in proc.stdout
    assert json.loads(proc.stdout.splitlines()[0])["transcript"] == "我的积分有多少"
    assert server.requests[0]["device_id"]["data"] == b"d1"


def test_a_server_without_streaming_gets_the_one_shot_upload(tmp_path, question_wav):
    pcm = audio.normalise(question_wav.read_bytes())
    with FakeVoiceServer() as server:
        client = device.VoiceClient(server.url, "dev-8", queue_dir=tmp_path / "q")
        played = []
        reply = client.ask(pcm, played.append)
        again = client.ask(pcm, played.append)  # known now: no second try at streaming
    assert reply.texts == again.texts == ["您的积分是一千二百五十分。"]
    assert reply.audio_wav == ANSWER_WAV and not reply.played and not reply.streamed and played == []
    assert client.streaming is False
    assert server.other_paths == ["/webhooks/voice/stream/start"]
    assert len(server.requests) == 2
    assert audio.read_wav(server.requests[0]["audio"]["data"])[0] == pcm


def test_stream_urls_and_frames():
    assert device.stream_url_for("http://h:5005/webhooks/voice/webhook") == "http://h:5005/webhooks/voice/stream"
    assert device.stream_url_for("https://h/x/") == "https://h/webhooks/voice/stream"
    frames = b"".join(struct.pack(">I", len(p)) + p for p in (b'{"texts": []}', b"RIFF1", b"RIFF22", b""))
    pieces = [frames[i:i + 3] for i in range(0, len(frames), 3)]  # cut anywhere
    assert list(device.read_frames(pieces)) == [b'{"texts": []}', b"RIFF1", b"RIFF22", b""]
    with pytest.raises(device.RequestRejected):
        list(device.read_frames([frames[:-2]]))  # broken off inside the end
    one, two = (audio.pcm_to_wav(device.tone([f], 0.1)) for f in (300.0, 600.0))
    assert audio.read_wav(device.join_wavs([one, two]))[0] == audio.read_wav(one)[0] + audio.read_wav(two)[0]


def test_cli_queues_when_the_server_is_down_and_retries_when_it_is_up(tmp_path, question_wav):
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/voice/webhook"
    queue = tmp_path / "q"
    down = run_cli("--server", url, "--wav", str(question_wav), "--queue-dir", str(queue),
                   var_dir=tmp_path)
    assert down.returncode == device.EXIT_QUEUED, down.stderr
    assert "网络不太好，我稍后再帮您发送" in down.stdout
    queued = sorted(p.name for p in queue.iterdir())
    assert len(queued) == 2 and queued[0].endswith(".json") and queued[1].endswith(".wav")

    # Still down: the queue keeps the recording, the retry counter grows.
    still = run_cli("--server", url, "--flush-queue", "--queue-dir", str(queue),
                    var_dir=tmp_path)
    assert still.returncode == device.EXIT_QUEUED
    meta = json.loads(next(queue.glob("*.json")).read_text())
    assert meta["attempts"] == 1 and meta["next_try"] > meta["created"]

    with FakeVoiceServer(port=port) as server:
        # The next press sends the queued recording first, then the new one.
        up = run_cli("--server", url, "--wav", str(question_wav), "--queue-dir", str(queue),
                     "--retry-now", "--json", "--reply-dir", str(tmp_path / "replies"),
                     "--out", str(tmp_path / "a.wav"), var_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    assert len(server.requests) == 2
    assert all(r["audio"]["data"] == question_wav.read_bytes() for r in server.requests)
    assert list(queue.iterdir()) == []
    lines = [json.loads(line) for line in up.stdout.splitlines() if line.startswith("{")]
    assert lines[0]["queued"].endswith(".wav") and lines[1]["transcript"] == "我的积分有多少"
    assert len(list((tmp_path / "replies").glob("*.wav"))) == 1
    assert device.MSG_QUEUED_REPLY in up.stdout


def test_flush_honours_backoff_unless_forced(tmp_path, question_wav):
    port = free_port()
    client = device.VoiceClient(f"http://127.0.0.1:{port}/x", "d", queue_dir=tmp_path / "q",
                                backoff_base=60.0, connect_timeout=2.0)
    assert client.submit(question_wav.read_bytes()) is None  # down: queued
    assert len(client.pending()) == 1
    with FakeVoiceServer(port=port) as server:
        assert client.flush() == (0, 1)  # backoff not expired yet
        assert server.requests == []
        replies = []
        assert client.flush(force=True, on_reply=lambda r, item: replies.append(r)) == (1, 0)
    assert replies[0].texts == ["您的积分是一千二百五十分。"]


def test_backoff_grows_on_repeated_failures(tmp_path, question_wav):
    client = device.VoiceClient(f"http://127.0.0.1:{free_port()}/x", "d",
                                queue_dir=tmp_path / "q", backoff_base=1.0, backoff_max=3.0)
    client.enqueue(question_wav.read_bytes())
    delays = []
    for _ in range(4):
        client.flush(force=True)
        delays.append(client.pending()[0].meta["retry_delay"])
    assert delays == [1.0, 2.0, 3.0, 3.0]
    meta = client.pending()[0].meta
    assert meta["attempts"] == 4 and meta["last_error"]


def test_server_errors_queue_but_rejections_do_not(tmp_path, question_wav):
    with FakeVoiceServer(status=503) as server:
        client = device.VoiceClient(server.url, "d", queue_dir=tmp_path / "q")
        assert client.submit(question_wav.read_bytes()) is None
        assert len(client.pending()) == 1
    with FakeVoiceServer(status=400) as server:
        proc = run_cli("--server", server.url, "--wav", str(question_wav), "--queue-dir",
                       str(tmp_path / "q2"), var_dir=tmp_path)
    assert proc.returncode == device.EXIT_REJECTED
    assert not (tmp_path / "q2").exists() or list((tmp_path / "q2").iterdir()) == []


def test_queue_is_bounded(tmp_path):
    client = device.VoiceClient("http://127.0.0.1:9/x", "d", queue_dir=tmp_path / "q",
                                max_queue=3)
    for i in range(5):
        client.enqueue(bytes([i]) * 10)
    items = client.pending()
    assert len(items) == 3
    assert [it.audio_path.read_bytes()[0] for it in items] == [2, 3, 4]


def test_reply_parsing():
    r = device.Reply.from_json({"transcript": "你好", "texts": "一条", "audio_wav_base64": ""})
    assert r.texts == ["一条"] and r.audio_wav == b""
    with pytest.raises(device.RequestRejected):
        device.Reply.from_json(["not", "an", "object"])


# --------------------------------------------------------------------------- sound & VAD


def test_chimes_are_short_audible_tones():
    for chime in (device.START_CHIME, device.STOP_CHIME):
        seconds = audio.duration_seconds(chime)
        assert 0.1 < seconds < 0.5
        assert -20 < audio.rms_dbfs(chime) < -3
    assert device.START_CHIME != device.STOP_CHIME


def _frames(pcm: bytes, frame_bytes: int = 960):
    for i in range(0, len(pcm), frame_bytes):
        yield pcm[i:i + frame_bytes]


def _noise(seconds: float, level: float = 30.0, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.normal(0, level, int(16000 * seconds)).astype("<i2").tobytes()


def _feed_all(det: device.EndpointDetector, pcm: bytes) -> float:
    for frame in _frames(pcm):
        if det.feed(frame):
            break
    return det.elapsed


def test_vad_ends_after_silence_following_speech():
    speech = device.tone([220.0, 330.0, 440.0], 0.5, volume=0.3)
    det = device.EndpointDetector(silence_s=1.0)
    elapsed = _feed_all(det, _noise(0.5) + speech + _noise(5.0, seed=2))
    assert det.reason == "silence" and det.heard_speech
    assert 0.5 + 1.5 + 0.9 < elapsed < 0.5 + 1.5 + 1.3


def test_vad_gives_up_without_speech_and_caps_length():
    det = device.EndpointDetector(no_speech_s=2.0)
    _feed_all(det, _noise(10.0))
    assert det.reason == "no_speech" and not det.heard_speech
    det = device.EndpointDetector(max_seconds=3.0)
    _feed_all(det, device.tone([300.0], 10.0))
    assert det.reason == "max_length"
    assert det.feed(b"\0\0" * 480)  # stays ended


def test_vad_threshold_adapts_to_a_noisy_room():
    quiet = device.EndpointDetector()
    noisy = device.EndpointDetector()
    _feed_all(quiet, _noise(0.3, level=5.0))
    _feed_all(noisy, _noise(0.3, level=1000.0))
    assert noisy.threshold_dbfs > quiet.threshold_dbfs + 10
