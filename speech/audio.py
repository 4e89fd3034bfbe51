"""Audio normalisation and small signal helpers.

Everything the recogniser consumes is 16 kHz, mono, signed 16-bit little-endian PCM
("s16le").  :func:`normalise` turns whatever a device or a browser sends (WAV, OGG/Opus,
MP3, FLAC, WebM, M4A, any sample rate and channel count) into that format by piping it
through ``ffmpeg`` (stdin -> stdout, bounded size, bounded time).

Public API (all pure, synchronous, thread-safe):

* ``normalise(data, *, raw=None, max_bytes=MAX_INPUT_BYTES, timeout=FFMPEG_TIMEOUT_S,
  max_seconds=MAX_SECONDS, rate=16000) -> bytes`` -- mono s16le PCM at ``rate``.  Pass
  ``raw=RawFormat(rate, channels, "s16le")`` when ``data`` is headerless PCM.
* ``AudioError(ValueError)`` -- raised for empty, garbage, oversized or undecodable input;
  its message is safe to log.
* ``RawFormat(rate=16000, channels=1, sample_format="s16le")``
* ``pcm_to_wav(pcm, rate=16000, channels=1) -> bytes`` and
  ``read_wav(data) -> (pcm, rate, channels)`` for 16-bit PCM WAV.
* ``duration_seconds(pcm, rate=16000, channels=1) -> float``
* ``rms(pcm) -> float`` (0..1), ``rms_dbfs(pcm) -> float``,
  ``is_silent(pcm, threshold_dbfs=SILENCE_DBFS) -> bool``,
  ``frame_dbfs(pcm, rate=16000, frame_ms=30) -> list[float]``.
"""
from __future__ import annotations

import io
import math
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass

import numpy as np

from bot.config import Settings, load_settings

SAMPLE_RATE = 16000
CHANNELS = 1
SAMPLE_WIDTH = 2  # bytes, s16le
MAX_INPUT_BYTES = 20 * 1024 * 1024
FFMPEG_TIMEOUT_S = 30.0
MAX_SECONDS = 120.0  # longer input is cut: one button press is never this long
SILENCE_DBFS = -50.0

# ffmpeg sample formats accepted for raw input.
_RAW_FORMATS = {"s16le": 2, "s16be": 2, "u8": 1, "s8": 1, "s32le": 4, "f32le": 4, "f64le": 8}


class AudioError(ValueError):
    """The input could not be turned into speech audio (empty, garbage, too big...)."""


@dataclass(frozen=True)
class RawFormat:
    """Describes headerless PCM input."""

    rate: int = SAMPLE_RATE
    channels: int = CHANNELS
    sample_format: str = "s16le"

    def __post_init__(self) -> None:
        if self.sample_format not in _RAW_FORMATS:
            raise AudioError(
                f"unsupported raw sample format {self.sample_format!r}; "
                f"use one of {sorted(_RAW_FORMATS)}"
            )
        if not (1000 <= int(self.rate) <= 384000):
            raise AudioError(f"implausible sample rate {self.rate}")
        if not (1 <= int(self.channels) <= 32):
            raise AudioError(f"implausible channel count {self.channels}")

    @property
    def frame_bytes(self) -> int:
        return _RAW_FORMATS[self.sample_format] * self.channels


def ffmpeg_binary(settings: Settings | None = None) -> str:
    """Path of the ffmpeg executable (``settings.speech.ffmpeg``, env XIANGYIN_FFMPEG, overrides)."""
    path = (settings or load_settings()).speech.ffmpeg or shutil.which("ffmpeg")
    if not path:
        raise AudioError("ffmpeg is not installed; install the Debian package 'ffmpeg'")
    return path


def normalise(
    data: bytes,
    *,
    raw: RawFormat | None = None,
    max_bytes: int = MAX_INPUT_BYTES,
    timeout: float = FFMPEG_TIMEOUT_S,
    max_seconds: float = MAX_SECONDS,
    rate: int = SAMPLE_RATE,
) -> bytes:
    """Return ``data`` as mono s16le PCM at ``rate`` (default 16 kHz).

    ``data`` is an encoded file (any format ffmpeg knows) unless ``raw`` describes it as
    headerless PCM.  Raises :class:`AudioError` with a clear message on failure.
    """
    if data is None or len(data) == 0:
        raise AudioError("empty audio: no bytes received")
    if len(data) > max_bytes:
        raise AudioError(
            f"audio too large: {len(data)} bytes (limit {max_bytes} bytes)"
        )
    data = bytes(data)
    max_out = int(max_seconds * rate) * SAMPLE_WIDTH

    if raw is not None:
        usable = len(data) - len(data) % raw.frame_bytes
        if usable == 0:
            raise AudioError("raw audio shorter than one sample frame")
        data = data[:usable]
        if (raw.rate, raw.channels, raw.sample_format) == (rate, 1, "s16le"):
            return data[:max_out]  # passthrough, already in the target format
        args = ["-f", raw.sample_format, "-ar", str(int(raw.rate)), "-ac", str(int(raw.channels))]
        return _run_ffmpeg(args, data, timeout, max_seconds, rate)

    fast = _fast_wav(data, rate)
    if fast is not None:
        return fast[:max_out]

    try:
        return _run_ffmpeg([], data, timeout, max_seconds, rate)
    except AudioError:
        # MP4/M4A/MOV with the index at the end cannot be decoded from a pipe.
        if data[4:8] == b"ftyp":
            return _run_ffmpeg_file(data, timeout, max_seconds, rate)
        raise


def _fast_wav(data: bytes, rate: int) -> bytes | None:
    """Skip ffmpeg for WAV files that are already 16 kHz mono 16-bit PCM."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getcomptype()) != (
                rate, 1, 2, "NONE"
            ):
                return None
            pcm = w.readframes(w.getnframes())
    except (wave.Error, EOFError, ValueError):
        return None
    pcm = pcm[: len(pcm) - len(pcm) % 2]
    return pcm or None  # empty/truncated: let ffmpeg produce the precise error


def _ffmpeg_cmd(input_args: list[str], source: str, max_seconds: float, rate: int) -> list[str]:
    return [
        ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error",
        *input_args, "-i", source,
        "-vn", "-sn", "-dn", "-t", f"{max_seconds:g}",
        "-ac", "1", "-ar", str(int(rate)), "-acodec", "pcm_s16le", "-f", "s16le", "pipe:1",
    ]


def _check_output(proc: subprocess.CompletedProcess) -> bytes:
    err = proc.stderr.decode("utf-8", "replace").strip()
    out = proc.stdout or b""
    out = out[: len(out) - len(out) % 2]
    if proc.returncode != 0 and not out:
        last = err.splitlines()[-1] if err else f"ffmpeg exit code {proc.returncode}"
        raise AudioError(f"cannot decode audio: {last}")
    if not out:
        raise AudioError("cannot decode audio: no audio samples found (garbage or truncated input)")
    return out


def _run_ffmpeg(input_args: list[str], data: bytes, timeout: float, max_seconds: float,
                rate: int) -> bytes:
    cmd = _ffmpeg_cmd(input_args, "pipe:0", max_seconds, rate)
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)  # nosec B603 - fixed executable and argument list, no shell
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"audio decoding timed out after {timeout:g} s") from exc
    return _check_output(proc)


def _run_ffmpeg_file(data: bytes, timeout: float, max_seconds: float, rate: int) -> bytes:
    with tempfile.NamedTemporaryFile(prefix="xiangyin-audio-", suffix=".bin") as tmp:
        tmp.write(data)
        tmp.flush()
        cmd = _ffmpeg_cmd([], tmp.name, max_seconds, rate)
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)  # nosec B603 - fixed executable and argument list, no shell
        except subprocess.TimeoutExpired as exc:
            raise AudioError(f"audio decoding timed out after {timeout:g} s") from exc
    return _check_output(proc)


# --------------------------------------------------------------------------- WAV helpers


def pcm_to_wav(pcm: bytes, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """Wrap 16-bit PCM in a WAV container."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def read_wav(data: bytes) -> tuple[bytes, int, int]:
    """Return ``(pcm, rate, channels)`` of a 16-bit PCM WAV; AudioError otherwise."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if w.getsampwidth() != 2 or w.getcomptype() != "NONE":
                raise AudioError("WAV is not 16-bit PCM")
            return w.readframes(w.getnframes()), w.getframerate(), w.getnchannels()
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"not a valid WAV file: {exc}") from exc


# --------------------------------------------------------------------------- measurements


def _samples(pcm: bytes) -> np.ndarray:
    n = len(pcm) - len(pcm) % 2
    return np.frombuffer(pcm[:n], dtype="<i2").astype(np.float64) / 32768.0


def duration_seconds(pcm: bytes, rate: int = SAMPLE_RATE, channels: int = 1) -> float:
    """Duration of 16-bit PCM in seconds."""
    return len(pcm) / float(SAMPLE_WIDTH * channels * rate)


def rms(pcm: bytes) -> float:
    """Root-mean-square level of 16-bit PCM, 0.0 (silence) .. 1.0 (full scale)."""
    x = _samples(pcm)
    if x.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(x * x)))


def to_dbfs(level: float) -> float:
    return 20.0 * math.log10(level) if level > 1e-10 else -200.0


def rms_dbfs(pcm: bytes) -> float:
    """RMS level in dB relative to full scale (-200 for digital silence)."""
    return to_dbfs(rms(pcm))


def is_silent(pcm: bytes, threshold_dbfs: float = SILENCE_DBFS, frame_ms: int = 30) -> bool:
    """True when no 30 ms frame of the audio rises above ``threshold_dbfs``."""
    frames = frame_dbfs(pcm, frame_ms=frame_ms)
    return not frames or max(frames) < threshold_dbfs


def frame_dbfs(pcm: bytes, rate: int = SAMPLE_RATE, frame_ms: int = 30) -> list[float]:
    """Per-frame RMS levels (dBFS) of mono 16-bit PCM; a trailing partial frame is dropped."""
    x = _samples(pcm)
    n = max(1, int(rate * frame_ms / 1000))
    count = x.size // n
    if count == 0:
        return []
    frames = x[: count * n].reshape(count, n)
    levels = np.sqrt(np.mean(frames * frames, axis=1))
    return [to_dbfs(float(v)) for v in levels]
