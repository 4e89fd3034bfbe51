"""speech.audio: normalisation through ffmpeg, raw PCM, errors, level helpers."""
from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np
import pytest

from speech import audio

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def _sine_pcm(seconds: float, rate: int, freq: float = 440.0, channels: int = 1,
              volume: float = 0.5) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    x = (np.sin(2 * np.pi * freq * t) * volume * 32767).astype("<i2")
    if channels > 1:
        x = np.repeat(x[:, None], channels, axis=1).reshape(-1)
    return x.tobytes()


def _wav(pcm: bytes, rate: int, channels: int = 1) -> bytes:
    return audio.pcm_to_wav(pcm, rate, channels)


def _encode(wav: bytes, *args: str) -> bytes:
    proc = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", "pipe:0", *args,
                           "pipe:1"], input=wav, capture_output=True, check=True)
    return proc.stdout


@pytest.fixture(scope="module")
def tone_wav_44k_stereo() -> bytes:
    return _wav(_sine_pcm(1.0, 44100, channels=2), 44100, 2)


def _assert_about(pcm: bytes, seconds: float, tolerance: float = 0.1) -> None:
    assert len(pcm) % 2 == 0
    assert abs(audio.duration_seconds(pcm) - seconds) <= tolerance


def test_wav_44k_stereo_to_16k_mono(tone_wav_44k_stereo):
    pcm = audio.normalise(tone_wav_44k_stereo)
    _assert_about(pcm, 1.0, 0.01)
    assert audio.rms_dbfs(pcm) > -12


def test_wav_8k_upsampled():
    pcm = audio.normalise(_wav(_sine_pcm(0.5, 8000), 8000))
    _assert_about(pcm, 0.5, 0.01)


def test_16k_mono_wav_fast_path_is_exact():
    src = _sine_pcm(0.3, 16000)
    assert audio.normalise(_wav(src, 16000)) == src


@pytest.mark.parametrize("codec_args", [
    ("-f", "mp3"),
    ("-c:a", "libvorbis", "-f", "ogg"),
    ("-c:a", "libopus", "-f", "ogg"),
    ("-f", "flac"),
    ("-c:a", "pcm_u8", "-f", "wav"),
    ("-c:a", "pcm_f32le", "-ar", "48000", "-f", "wav"),
])
def test_compressed_and_odd_formats(tone_wav_44k_stereo, codec_args):
    encoded = _encode(tone_wav_44k_stereo, *codec_args)
    pcm = audio.normalise(encoded)
    _assert_about(pcm, 1.0, 0.12)
    assert audio.rms_dbfs(pcm) > -15


def test_m4a_with_index_at_the_end_uses_a_temp_file(tmp_path, tone_wav_44k_stereo):
    src = tmp_path / "in.wav"
    src.write_bytes(tone_wav_44k_stereo)
    out = tmp_path / "out.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(src), "-c:a", "aac",
                    str(out)], check=True)
    pcm = audio.normalise(out.read_bytes())
    _assert_about(pcm, 1.0, 0.15)


def test_sox_made_ogg(tmp_path, tone_wav_44k_stereo):
    if shutil.which("sox") is None:
        pytest.skip("sox not installed")
    src = tmp_path / "in.wav"
    src.write_bytes(tone_wav_44k_stereo)
    out = tmp_path / "out.ogg"
    subprocess.run(["sox", str(src), "-r", "22050", str(out)], check=True)
    _assert_about(audio.normalise(out.read_bytes()), 1.0, 0.12)


def test_raw_pcm_passthrough_and_resample():
    src = _sine_pcm(0.5, 16000)
    assert audio.normalise(src, raw=audio.RawFormat()) == src
    # odd trailing byte (truncated sample) is dropped
    assert audio.normalise(src + b"\x01", raw=audio.RawFormat()) == src
    pcm = audio.normalise(_sine_pcm(0.5, 8000, channels=2), raw=audio.RawFormat(8000, 2))
    _assert_about(pcm, 0.5, 0.01)
    f32 = (np.sin(np.arange(24000) / 10.0) * 0.5).astype("<f4").tobytes()
    pcm = audio.normalise(f32, raw=audio.RawFormat(48000, 1, "f32le"))
    _assert_about(pcm, 0.5, 0.01)


def test_rate_parameter():
    pcm = audio.normalise(_wav(_sine_pcm(1.0, 16000), 16000), rate=8000)
    assert abs(len(pcm) / 2 / 8000 - 1.0) < 0.01


@pytest.mark.parametrize("bad", [
    b"",
    b"\x00",
    bytes(range(256)) * 40,          # garbage
    b"RIFF\x24\x00\x00\x00WAVEfmt ",  # truncated header
    b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff" * 20,  # MP3 tag without frames
])
def test_garbage_raises_audio_error(bad):
    with pytest.raises(audio.AudioError) as info:
        audio.normalise(bad)
    assert str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_mp3_decodes_what_is_there(tone_wav_44k_stereo):
    mp3 = _encode(tone_wav_44k_stereo, "-f", "mp3")
    pcm = audio.normalise(mp3[: len(mp3) // 2])
    assert 0.2 < audio.duration_seconds(pcm) < 0.9


def test_size_limit():
    with pytest.raises(audio.AudioError, match="too large"):
        audio.normalise(b"\0" * 2000, max_bytes=1000)


def test_bad_raw_format():
    with pytest.raises(audio.AudioError):
        audio.RawFormat(16000, 1, "mulaw-ish")
    with pytest.raises(audio.AudioError):
        audio.RawFormat(5, 1)


def test_max_seconds_cuts_long_input():
    pcm = audio.normalise(_wav(_sine_pcm(3.0, 22050), 22050), max_seconds=1.0)
    _assert_about(pcm, 1.0, 0.05)


def test_levels_and_silence():
    silence = b"\0\0" * 16000
    loud = _sine_pcm(1.0, 16000, volume=0.5)
    assert audio.rms(silence) == 0.0
    assert audio.is_silent(silence)
    assert not audio.is_silent(loud)
    assert audio.rms_dbfs(loud) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.2)
    assert audio.duration_seconds(loud) == pytest.approx(1.0)
    frames = audio.frame_dbfs(silence + loud)
    assert len(frames) == 66  # 2 s in 30 ms frames
    assert frames[0] < -100 and frames[-1] > -10


def test_wav_round_trip():
    pcm = _sine_pcm(0.2, 22050)
    data, rate, channels = audio.read_wav(audio.pcm_to_wav(pcm, 22050))
    assert (data, rate, channels) == (pcm, 22050, 1)
    with wave.open(io.BytesIO(audio.pcm_to_wav(pcm, 22050))) as w:
        assert w.getsampwidth() == 2
    with pytest.raises(audio.AudioError):
        audio.read_wav(b"not a wav")
