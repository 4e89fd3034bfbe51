"""The recogniser in its own process (speech/server.py) and its client backend (speech/remote.py).

The real ``python -m speech.server`` with the real Korean Vosk model recognises real recordings
(espeak-ng) exactly as the in-process recogniser does — text, raw text, every word's confidence
and times — whether a recording is sent whole or streamed in the pieces a device cuts, one at a
time or several at once; a worker killed mid-run is replaced while clients wait. The model is the
test model with Kaldi's dither off (conftest: ``ko_model_without_dither``), so that two decodings
can be compared exactly. Those tests cost seconds (a model load, real decoding) and are ``slow``;
the client's failures (nothing listening, nothing answering) and the wire format are fast.
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.channels.recognition import BatchRecognizer, StreamingRecognizer, recognizer_factory
from bot.config import load_settings
from speech import asr, audio
from speech.protocol import Event, ProtocolError, parse_address, read_event_from
from speech.remote import RecognizerUnavailable, RemoteRecognizer
from speech.server import listen

needs_audio_tools = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None,
                                       reason="espeak-ng and ffmpeg are needed")

QUESTIONS = ["안녕하세요 날씨가 좋습니다", "제 포인트가 얼마예요"]  # about 1.5 s each: decoding costs real time
START_SECONDS = 120  # a bound for the model load on a busy 2-core machine, not an assertion on speed


@dataclass(frozen=True)
class Server:
    address: str
    proc: subprocess.Popen
    log: Path

    def worker(self) -> int:
        """The supervisor's current worker process."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])


def start_server(folder: Path, model: Path) -> Server:
    from bot.ops.runtime import start_asr_server

    address, log = str(folder / "asr.sock"), folder / "asr.log"
    proc = start_asr_server(address, log, env={"XIANGYIN_VOSK_MODEL": str(model), "XIANGYIN_VAR_DIR": str(folder)})
    return Server(address, proc, log)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("questions")
    wavs = []
    for n, text in enumerate(QUESTIONS):
        subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", str(folder / f"{n}.wav"), text], check=True)
        wavs.append((folder / f"{n}.wav").read_bytes())
    return wavs


@pytest.fixture(scope="module")
def expected(ko_model_without_dither, recordings) -> list[asr.Transcript]:
    """What the in-process recogniser makes of each recording."""
    local = asr.Recognizer(ko_model_without_dither)
    transcripts = [local.transcribe(wav) for wav in recordings]
    assert all(t.text and t.words for t in transcripts)
    return transcripts


@pytest.fixture(scope="module")
def server(ko_model_without_dither, tmp_path_factory):
    from bot.ops.runtime import stop, wait_for_asr

    server = start_server(tmp_path_factory.mktemp("asr"), ko_model_without_dither)
    try:
        assert wait_for_asr(server.address, START_SECONDS, server.proc)["state"] == "ready", server.log.read_text()
        yield server
    finally:
        stop(server.proc)


# --- the real recogniser process (slow) ------------------------------------------------------

@needs_audio_tools
@pytest.mark.slow
def test_a_recording_is_recognised_in_the_recogniser_process_as_in_this_one(server, expected, recordings):
    remote = RemoteRecognizer(server.address)
    # text, raw text, every word with its confidence and times
    assert [remote.transcribe(wav) for wav in recordings] == expected


@needs_audio_tools
@pytest.mark.slow
@pytest.mark.parametrize("sizes", [[8000], [640, 9998, 1, 4801]], ids=["0.25s", "ragged"])
def test_an_utterance_streamed_in_pieces_gives_the_same_transcript(server, expected, recordings, sizes):
    pcm = audio.normalise(recordings[0])
    stream = RemoteRecognizer(server.address).start_stream()
    i = k = 0
    while i < len(pcm):
        stream.accept(pcm[i:i + sizes[k % len(sizes)]])
        i, k = i + sizes[k % len(sizes)], k + 1
    assert stream.finish() == expected[0]


@needs_audio_tools
@pytest.mark.slow
def test_concurrent_utterances_each_get_their_own_transcript(server, expected, recordings):
    """Four devices speaking at once (two of each question), their pieces interleaved."""
    pcms = [audio.normalise(wav) for wav in recordings]
    who = [n % len(pcms) for n in range(4)]
    remote = RemoteRecognizer(server.address)
    everyone_open = threading.Barrier(len(who))

    def speak(n: int):
        stream = remote.start_stream()
        everyone_open.wait(30)
        for i in range(0, len(pcms[n]), 8000):
            stream.accept(pcms[n][i:i + 8000])
        return stream.finish()

    with ThreadPoolExecutor(len(who)) as pool:
        heard = list(pool.map(speak, who))
    assert heard == [expected[n] for n in who]


@needs_audio_tools
@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_clients_wait_for_the_new_one(server, expected, recordings):
    """The supervisor keeps the socket: an utterance sent while no worker runs is answered by the
    next one once it has loaded the model; the supervisor itself carries on."""
    old = server.worker()
    os.kill(old, signal.SIGKILL)
    assert RemoteRecognizer(server.address).transcribe(recordings[1]) == expected[1]
    assert server.proc.poll() is None and server.worker() != old
    assert f"recogniser worker (pid {old}) was killed by SIGKILL; starting a new one in 1 s" in server.log.read_text()


@pytest.mark.slow
def test_without_a_model_the_recogniser_says_so_for_every_utterance(tmp_path):
    """No model installed (a fresh machine before `make model`): the process keeps serving and
    refuses each utterance with a clear error, which the channels answer politely."""
    from bot.ops.runtime import stop, wait_for_asr

    server = start_server(tmp_path, tmp_path / "no-such-model")
    try:
        info = wait_for_asr(server.address, START_SECONDS, server.proc)
        assert info["state"] == "no-model" and "no-such-model" in info["problem"]
        with pytest.raises(RecognizerUnavailable, match="no-such-model") as refused:
            RemoteRecognizer(server.address).transcribe(b"\0\0" * 8000, is_pcm=True)
        assert refused.value.code == "model-missing"
        assert server.proc.poll() is None
        report = _health(server.address, tmp_path)
        assert report["recogniser"]["state"] == "no-model" and "no-such-model" in report["recogniser"]["problem"]
        assert any(w.startswith("recogniser no-model") for w in report["warnings"])
    finally:
        stop(server.proc)
    assert not Path(server.address).exists()  # the supervisor removes its socket when it stops


def _health(address: str, folder: Path) -> dict:
    """The health report of a process told to use the recogniser at ``address``."""
    from bot.config import load_settings
    from bot.ops.health import health

    return health(load_settings({"XIANGYIN_ASR_SERVER": address, "XIANGYIN_VAR_DIR": str(folder),
                                 "XIANGYIN_DATABASE_URL": f"sqlite:///{folder / 'none.db'}"}))


@pytest.mark.slow
def test_health_reports_the_recogniser_ready_with_its_model(server, tmp_path):
    report = _health(server.address, tmp_path)
    assert report["recogniser"] == {"address": server.address, "up": True, "state": "ready",
                                    "model": report["recogniser"]["model"], "problem": None}
    assert report["recogniser"]["model"] and not any("recogniser" in w for w in report["warnings"])


# --- the client when the recogniser is not there (fast) ---------------------------------------

def test_health_warns_when_the_recogniser_does_not_answer(tmp_path):
    report = _health(str(tmp_path / "asr.sock"), tmp_path)
    assert report["recogniser"]["up"] is False
    assert any(w.startswith("recogniser not answering") for w in report["warnings"])
    assert report["status"] != "ok"

def test_a_recogniser_that_is_not_running_is_reported_at_once(tmp_path):
    remote = RemoteRecognizer(str(tmp_path / "asr.sock"))
    started = time.monotonic()
    with pytest.raises(RecognizerUnavailable, match="asr.sock.* does not answer"):
        remote.start_stream()
    with pytest.raises(RecognizerUnavailable):
        remote.transcribe(b"\0\0" * 1600, is_pcm=True)
    with pytest.raises(RecognizerUnavailable):
        RemoteRecognizer(f"127.0.0.1:{_free_port()}").start_stream()
    assert time.monotonic() - started < 5


def test_a_recogniser_that_never_answers_times_out(tmp_path):
    """A socket that takes connections and never replies (a hung recogniser): the utterance
    fails after the client's timeout instead of holding the device forever."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as hung:
        hung.bind(str(tmp_path / "asr.sock"))
        hung.listen(8)
        remote = RemoteRecognizer(str(tmp_path / "asr.sock"), timeout=0.5)
        started = time.monotonic()
        with pytest.raises(RecognizerUnavailable, match="no transcript"):
            remote.transcribe(b"\0\0" * 1600, is_pcm=True)
        assert time.monotonic() - started < 5


def test_the_channels_recogniser_is_the_process_when_an_address_is_set(tmp_path):
    remote = recognizer_factory(None, load_settings({"XIANGYIN_ASR_SERVER": str(tmp_path / "asr.sock")}))()
    assert isinstance(remote, RemoteRecognizer)
    assert isinstance(remote, StreamingRecognizer) and isinstance(remote, BatchRecognizer)
    double = recognizer_factory("tests.support.asr_double:KnownTranscripts",
                                load_settings({"XIANGYIN_ASR_SERVER": str(tmp_path / "asr.sock")}))
    assert double.__name__ == "KnownTranscripts"  # a factory (the tests' double) still wins
    assert recognizer_factory(None, load_settings({})).__name__ == "vosk_recognizer"  # unset: Vosk in this process


# --- the socket and the wire format (fast) ------------------------------------------------------

def test_a_stale_socket_file_is_replaced_and_a_live_one_refused(tmp_path):
    path = tmp_path / "run" / "asr.sock"
    path.parent.mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:  # a run that died left its file
        gone.bind(str(path))
    with listen(str(path)) as live:
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        with pytest.raises(OSError, match="already listening"):
            listen(str(path))
        assert live.fileno() >= 0


def test_events_round_trip_and_bad_ones_are_refused():
    event = Event("audio-chunk", {"rate": 16000, "width": 2, "channels": 1}, b"\x01\x02" * 10)
    wire = io.BytesIO(event.encode() + Event("audio-stop").encode())
    assert read_event_from(wire) == event
    assert read_event_from(wire) == Event("audio-stop")
    assert read_event_from(wire) is None
    inline = io.BytesIO(b'{"type": "transcript", "data": {"text": "hi"}}\n')  # older Wyoming peers
    assert read_event_from(inline) == Event("transcript", {"text": "hi"})
    for bad in (b"not json\n", b'{"type": "x", "payload_length": 99999999999}\n', b'{"type": "x", "payload_length": 4}\nab'):
        with pytest.raises(ProtocolError):
            read_event_from(io.BytesIO(bad))


def test_addresses():
    assert parse_address("/var/run/asr.sock") == (socket.AF_UNIX, "/var/run/asr.sock")
    assert parse_address("127.0.0.1:5093") == (socket.AF_INET, ("127.0.0.1", 5093))
    assert parse_address("[::1]:5093") == (socket.AF_INET6, ("::1", 5093))
    for bad in ("asr.sock", "localhost", ":5093", "host:port"):
        with pytest.raises(ValueError):
            parse_address(bad)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
