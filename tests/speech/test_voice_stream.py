"""The bookkeeping of streamed utterances (bot.channels.voice_stream): order, ownership, limits,
idle and lifetime expiry, with a clock the test moves. The recogniser behind the streams is a
batch recogniser that records what it is given, seen through the seam's BufferedStream; the real
Vosk stream is tested in test_asr_stream.py and the HTTP side end to end in
tests/e2e/test_voice_channel.py."""
from __future__ import annotations

import threading

import pytest

from bot.channels import voice_stream as vs
from bot.channels.recognition import BufferedStream

SECOND = vs.BYTES_PER_SECOND


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recording:
    """A recogniser with the batch shape only, recording what it is asked: the registry sees it
    through the seam's BufferedStream, as it would see any batch recogniser."""

    def __init__(self) -> None:
        self.heard: list[bytes] = []

    def transcribe(self, wav: bytes):
        from speech import audio

        pcm, _rate, _channels = audio.read_wav(wav)
        self.heard.append(pcm)
        return type("T", (), {"text": f"{len(pcm)} bytes"})()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def registry(clock):
    reg = vs.StreamRegistry(vs.StreamLimits(max_open_per_device=2, max_open=3, idle_seconds=10,
                                            max_seconds=2, max_piece_bytes=SECOND, max_lifetime_seconds=60),
                            clock=clock)
    yield reg
    reg.close_all()


def refused(status: int, call, *args):
    with pytest.raises(vs.StreamRefused) as info:
        call(*args)
    assert info.value.status == status and info.value.message and "Traceback" not in info.value.message
    return info.value


def test_pieces_in_order_reach_the_recogniser_and_end_gives_the_transcript(registry):
    rec = Recording()
    u = registry.open("device-001", lambda: BufferedStream(rec), "slow")
    assert len(u.id) == 32 and u.speech_rate == "slow"
    pieces = [bytes([i]) * 1000 for i in range(1, 5)]
    for seq, piece in enumerate(pieces[:3]):
        registry.piece(u.id, "device-001", seq, piece)
    ended = registry.end(u.id, "device-001", 3, pieces[3])
    assert ended.finish(timeout=30).text == "4000 bytes"
    assert rec.heard == [b"".join(pieces)]
    assert registry.open_count() == 0


def test_another_devices_piece_is_refused_and_changes_nothing(registry):
    u = registry.open("device-001", lambda: BufferedStream(Recording()))
    refused(403, registry.piece, u.id, "device-002", 0, b"\0\0")
    refused(403, registry.end, u.id, "device-002", 0, b"")
    registry.piece(u.id, "device-001", 0, b"\0\0")  # the owner's piece 0 is still expected
    registry.end(u.id, "device-001", 1).finish(timeout=30)
    refused(403, registry.piece, u.id, "device-002", 1, b"\0\0")  # ended, still not theirs


def test_out_of_order_after_end_and_unknown_pieces_are_refused(registry):
    u = registry.open("device-001", lambda: BufferedStream(Recording()))
    refused(409, registry.piece, u.id, "device-001", 1, b"\0\0")
    registry.piece(u.id, "device-001", 0, b"\0\0")
    refused(409, registry.piece, u.id, "device-001", 0, b"\0\0")  # a replayed number
    refused(409, registry.end, u.id, "device-001", 2, b"")  # a piece was lost on the way
    registry.end(u.id, "device-001", 1).finish(timeout=30)
    assert refused(409, registry.piece, u.id, "device-001", 2, b"\0\0").message == vs.ENDED
    refused(409, registry.end, u.id, "device-001", 2, b"")
    refused(404, registry.piece, "0" * 32, "device-001", 0, b"\0\0")


def test_audio_over_the_limit_drops_the_utterance(registry):
    u = registry.open("device-001", lambda: BufferedStream(Recording()))
    refused(413, registry.piece, u.id, "device-001", 0, b"\0" * (SECOND + 2))  # one piece too big
    registry.piece(u.id, "device-001", 0, b"\0" * SECOND)
    registry.piece(u.id, "device-001", 1, b"\0" * SECOND)
    assert refused(413, registry.piece, u.id, "device-001", 2, b"\0\0").message == vs.TOO_LONG
    assert registry.open_count() == 0
    refused(413, registry.end, u.id, "device-001", 2, b"")


def test_open_utterances_are_bounded_per_device_and_in_all(registry):
    registry.open("device-001", lambda: BufferedStream(Recording()))
    registry.open("device-001", lambda: BufferedStream(Recording()))
    assert refused(429, registry.open, "device-001", lambda: BufferedStream(Recording())).message == vs.TOO_MANY
    registry.open("device-002", lambda: BufferedStream(Recording()))
    refused(503, registry.open, "device-003", lambda: BufferedStream(Recording()))
    assert registry.open_count("device-001") == 2 and registry.open_count() == 3


def test_idle_and_old_utterances_are_dropped(registry, clock):
    idle = registry.open("device-001", lambda: BufferedStream(Recording()))
    busy = registry.open("device-002", lambda: BufferedStream(Recording()))
    for seq in range(6):  # device-002 keeps sending, device-001 says nothing
        clock.now += 5
        if seq < 2:
            registry.piece(busy.id, "device-002", seq, b"\0\0")
    assert registry.open_count() == 0  # idle after 10 s of nothing
    assert refused(410, registry.piece, idle.id, "device-001", 0, b"\0\0").message == vs.EXPIRED
    refused(403, registry.piece, idle.id, "device-002", 0, b"\0\0")
    old = registry.open("device-001", lambda: BufferedStream(Recording()))
    for seq in range(13):  # never idle, but older than the 60 s lifetime in the end
        clock.now += 5
        try:
            registry.piece(old.id, "device-001", seq, b"\0\0")
        except vs.StreamRefused as exc:
            assert exc.status == 410 and seq == 12
    assert registry.open_count() == 0


def test_a_failing_recogniser_is_reported_at_the_end(registry):
    class Broken:
        def accept(self, pcm):
            raise ValueError("broken model")

        def finish(self):
            raise AssertionError("never reached")

        def close(self):
            pass

    u = registry.open("device-001", Broken)
    registry.piece(u.id, "device-001", 0, b"\0\0")
    with pytest.raises(ValueError):
        registry.end(u.id, "device-001", 1).finish(timeout=30)


def test_a_recogniser_that_cannot_be_built_frees_its_place(registry):
    def no_model():
        raise FileNotFoundError("no model")

    with pytest.raises(FileNotFoundError):
        registry.open("device-001", no_model)
    assert registry.open_count() == 0


def test_pieces_fed_from_many_threads_arrive_in_order(clock):
    """Each utterance's pieces are fed one after the other, in order, whatever thread sent them."""
    reg = vs.StreamRegistry(vs.StreamLimits(max_open=8, max_open_per_device=8), workers=4, clock=clock)
    recs = {d: Recording() for d in ("a", "b", "c", "d")}
    opened = {d: reg.open(d, lambda d=d: BufferedStream(recs[d])) for d in recs}

    def send(d):
        for seq in range(50):
            reg.piece(opened[d].id, d, seq, seq.to_bytes(2, "big"))

    threads = [threading.Thread(target=send, args=(d,)) for d in recs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for d, u in opened.items():
        reg.end(u.id, d, 50).finish(timeout=30)
        assert recs[d].heard == [b"".join(seq.to_bytes(2, "big") for seq in range(50))]
    reg.close_all()
