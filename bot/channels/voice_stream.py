"""Utterances streamed by voice devices while the user speaks: the bookkeeping behind
``/webhooks/voice/stream/...`` (the HTTP side and the protocol are in :mod:`bot.channels.voice`).

An :class:`Utterance` belongs to the device that opened it, takes numbered pieces of 16 kHz mono
s16le PCM strictly in order, and feeds them to its recogniser stream
(:class:`bot.channels.recognition.UtteranceStream`) on a small worker pool, one piece after the
other, while the device keeps recording: at the end of speech only the tail is left to recognise.

:class:`StreamRegistry` holds the open utterances and bounds them (:class:`StreamLimits`): open
utterances per device and in all, audio per utterance (seconds, so bytes), bytes per piece, idle
time between pieces and total lifetime; an idle or expired utterance is dropped (its recogniser
freed) on the next request of any device. Every refusal is a :class:`StreamRefused` with an HTTP
status and a short spoken-Chinese message; the reason in English goes to the log only.

Nothing here imports Rasa, Sanic or the database; the clock is injectable for tests.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from bot.channels.recognition import STREAM_SAMPLE_RATE, UtteranceStream

log = logging.getLogger(__name__)

BYTES_PER_SECOND = STREAM_SAMPLE_RATE * 2  # mono s16le

NOT_FOUND = "这段录音找不到了，请再说一遍。"
ENDED = "这段录音已经结束了，请重新按按钮说话。"
EXPIRED = "这段录音等得太久，已经作废了，请再说一遍。"
NOT_YOURS = "这段录音不是这台设备的。"
OUT_OF_ORDER = "录音的顺序乱了，请再说一遍。"
TOO_LONG = "录音太长了，请说短一点。"
PIECE_TOO_BIG = "这一段录音太大了，请分小一点发送。"
TOO_MANY = "上一句还没说完，请稍等一下再说。"
BUSY = "系统有点忙，请稍后再说一遍。"


@dataclass(frozen=True)
class StreamLimits:
    max_open_per_device: int = 2
    """Open utterances one device may hold; one more is refused (429) until one ends or expires."""

    max_open: int = 32
    """Open utterances in all (each holds a recogniser); one more is refused (503)."""

    idle_seconds: float = 15.0
    """An utterance with no request for this long is dropped."""

    max_seconds: float = 30.0
    """Audio per utterance; more is refused (413) and the utterance dropped."""

    max_piece_bytes: int = 10 * BYTES_PER_SECOND
    """Bytes per request (10 s of audio)."""

    max_lifetime_seconds: float = 120.0
    """An utterance older than this is dropped, however busy."""

    @property
    def max_bytes(self) -> int:
        return int(self.max_seconds * BYTES_PER_SECOND)


class StreamRefused(Exception):
    """A stream request that is refused: ``status`` for HTTP, ``message`` for the user, ``reason``
    for the log."""

    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.message, self.reason = status, message, reason


@dataclass(eq=False)
class Utterance:
    id: str
    device_id: str
    opened: float
    last_seen: float
    speech_rate: str = "normal"  # the device's speaking rate, read when it opened the utterance
    next_seq: int = 0
    bytes: int = 0
    stream: UtteranceStream | None = None
    error: BaseException | None = None
    _queue: deque = field(default_factory=deque)
    _draining: bool = False
    _closed: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    # -- fed in order on the worker pool

    def submit(self, pcm: bytes, pool: ThreadPoolExecutor) -> None:
        """Queues a piece; one worker at a time feeds this utterance's pieces in order."""
        with self._cond:
            if self._closed:
                return
            self._queue.append(pcm)
            if self._draining:
                return
            self._draining = True
        pool.submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self._cond:
                if not self._queue or self._closed or self.error is not None:
                    self._queue.clear()
                    self._draining = False
                    if self._closed:
                        self._close_stream()
                    self._cond.notify_all()
                    return
                pcm = self._queue.popleft()
            try:
                self.stream.accept(pcm)
            except BaseException as exc:  # noqa: BLE001 - kept for finish(), which reports it
                log.exception("recognising a streamed piece failed (%s)", self.device_id)
                with self._cond:
                    self.error = exc

    def finish(self, timeout: float | None = None) -> Any:
        """Waits until every piece is fed, then the recogniser's final transcript (blocking)."""
        with self._cond:
            if not self._cond.wait_for(lambda: not self._draining, timeout):
                raise TimeoutError("the recogniser did not keep up")
            if self.error is not None:
                raise self.error
            self._closed = True
            stream, self.stream = self.stream, None
        return stream.finish()

    def close(self) -> None:
        """Drops the utterance: the recogniser is freed now, or by the worker when it is busy."""
        with self._cond:
            self._closed = True
            if not self._draining:
                self._close_stream()

    def _close_stream(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                log.exception("closing a recogniser stream failed")


class StreamRegistry:
    """The open utterances of every device, bounded by :class:`StreamLimits` (thread-safe)."""

    REMEMBERED = 1024  # ended or dropped utterance ids kept, to say why a late piece is refused

    def __init__(self, limits: StreamLimits | None = None, workers: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or StreamLimits()
        self.clock = clock
        self._open: dict[str, Utterance] = {}
        self._gone: OrderedDict[str, tuple[str, str]] = OrderedDict()  # id -> (device, why)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="voice-stream")

    # -- bookkeeping

    def open_count(self, device_id: str | None = None) -> int:
        """Utterances open now (idle and expired ones are dropped first)."""
        self.sweep()
        with self._lock:
            return sum(1 for u in self._open.values() if device_id is None or u.device_id == device_id)

    def sweep(self) -> int:
        """Drops idle and expired utterances; how many were dropped."""
        now = self.clock()
        with self._lock:
            stale = [u for u in self._open.values()
                     if now - u.last_seen > self.limits.idle_seconds
                     or now - u.opened > self.limits.max_lifetime_seconds]
            for u in stale:
                self._forget(u, "expired")
        for u in stale:
            log.info("voice stream %s of %s dropped: idle or too old", u.id[:8], u.device_id)
            u.close()
        return len(stale)

    def _forget(self, u: Utterance, why: str) -> None:  # under self._lock
        self._open.pop(u.id, None)
        self._gone[u.id] = (u.device_id, why)
        while len(self._gone) > self.REMEMBERED:
            self._gone.popitem(last=False)

    def open(self, device_id: str, make_stream: Callable[[], UtteranceStream], speech_rate: str = "normal") -> Utterance:
        """A new utterance of ``device_id`` (``make_stream`` builds its recogniser stream; it may
        take seconds the first time, when the model loads: call this off the event loop)."""
        self.sweep()
        now = self.clock()
        with self._lock:
            mine = sum(1 for u in self._open.values() if u.device_id == device_id)
            if mine >= self.limits.max_open_per_device:
                raise StreamRefused(429, TOO_MANY, f"{device_id} already has {mine} open utterances")
            if len(self._open) >= self.limits.max_open:
                raise StreamRefused(503, BUSY, f"{len(self._open)} utterances open in all")
            u = Utterance(secrets.token_hex(16), device_id, now, now, speech_rate)
            self._open[u.id] = u  # holds its place while the recogniser is built
        try:
            u.stream = make_stream()
        except BaseException:
            with self._lock:
                self._open.pop(u.id, None)
            raise
        return u

    def _checked(self, utterance_id: str, device_id: str, seq: int, pcm: bytes) -> Utterance:
        """The utterance a piece belongs to, after every check (under self._lock)."""
        u = self._open.get(utterance_id)
        if u is None:
            gone = self._gone.get(utterance_id)
            if gone is None:
                raise StreamRefused(404, NOT_FOUND, f"unknown utterance {utterance_id[:16]!r}")
            owner, why = gone
            if owner != device_id:
                raise StreamRefused(403, NOT_YOURS, f"{device_id} sent a piece of {owner}'s utterance")
            if why == "ended":
                raise StreamRefused(409, ENDED, "piece after the end of the utterance")
            if why == "too_long":
                raise StreamRefused(413, TOO_LONG, "piece of an utterance dropped for its length")
            raise StreamRefused(410, EXPIRED, f"piece of an utterance dropped ({why})")
        if u.device_id != device_id:
            raise StreamRefused(403, NOT_YOURS, f"{device_id} sent a piece of {u.device_id}'s utterance")
        if seq != u.next_seq:
            raise StreamRefused(409, OUT_OF_ORDER, f"piece {seq} where {u.next_seq} was expected")
        if len(pcm) > self.limits.max_piece_bytes:
            raise StreamRefused(413, PIECE_TOO_BIG, f"piece of {len(pcm)} bytes")
        if u.bytes + len(pcm) > self.limits.max_bytes:
            self._forget(u, "too_long")
            u.close()
            raise StreamRefused(413, TOO_LONG, f"utterance over {self.limits.max_seconds:g} s")
        return u

    def piece(self, utterance_id: str, device_id: str, seq: int, pcm: bytes) -> Utterance:
        """Accepts piece ``seq`` (0, 1, 2, …) of an utterance; recognition runs on the pool and
        this returns at once."""
        self.sweep()
        with self._lock:
            u = self._checked(utterance_id, device_id, seq, pcm)
            u.next_seq, u.bytes, u.last_seen = seq + 1, u.bytes + len(pcm), self.clock()
        if pcm:
            u.submit(pcm, self._pool)
        return u

    def end(self, utterance_id: str, device_id: str, seq: int, pcm: bytes = b"") -> Utterance:
        """Ends an utterance: ``seq`` is the number of pieces sent before this request, and
        ``pcm`` (possibly empty) the last piece. Call :meth:`Utterance.finish` (blocking) for
        the transcript."""
        self.sweep()
        with self._lock:
            u = self._checked(utterance_id, device_id, seq, pcm)
            u.next_seq, u.bytes, u.last_seen = seq + 1, u.bytes + len(pcm), self.clock()
            self._forget(u, "ended")
        if pcm:
            u.submit(pcm, self._pool)
        return u

    def close_all(self) -> None:
        with self._lock:
            open_now = list(self._open.values())
            for u in open_now:
                self._forget(u, "closed")
        for u in open_now:
            u.close()
        self._pool.shutdown(wait=False)
