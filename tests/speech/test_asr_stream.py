"""Streaming recognition (speech.asr.VoskStream) on the real Korean Vosk model: the same audio
gives the same transcript streamed in pieces as in one piece, whatever the piece sizes (marked
slow, like test_asr.py: each recognition costs seconds of CPU).

Kaldi adds random dither to every feature frame (the model's mfcc.conf keeps the default
``--dither=1``), drawn from the C library's ``rand()``: two decodings of the same audio in one
process differ in a word now and then. Each comparison below therefore seeds ``rand()`` the same
way before each decoding (:func:`same_dither`); the recogniser itself is untouched.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess

import pytest

from bot.channels.recognition import BufferedStream, StreamingRecognizer, utterance_stream
from speech import asr, audio

pytestmark = [
    pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None,
                       reason="espeak-ng and ffmpeg are needed"),
    pytest.mark.slow,
]

QUESTION = "안녕하세요 오늘 날씨가 좋습니다 내일 다시 오겠습니다"  # about three seconds


@pytest.fixture(scope="module")
def recognizer(ko_model_path) -> asr.Recognizer:
    return asr.Recognizer(ko_model_path)


@pytest.fixture(scope="module")
def pcm(tmp_path_factory) -> bytes:
    wav = tmp_path_factory.mktemp("stream") / "q.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", str(wav), QUESTION], check=True)
    return audio.normalise(wav.read_bytes())


_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))


def same_dither() -> None:
    """The same dither noise for the next decoding as for any other decoding after this call."""
    _LIBC.srand(2026)


def whole(recognizer: asr.Recognizer, pcm: bytes) -> asr.Transcript:
    same_dither()
    return recognizer.transcribe(pcm, is_pcm=True)


def streamed(recognizer: asr.Recognizer, pcm: bytes, sizes: list[int]) -> asr.Transcript:
    same_dither()
    stream = recognizer.start_stream()
    i, k = 0, 0
    while i < len(pcm):
        size = sizes[k % len(sizes)]
        stream.accept(pcm[i:i + size])
        i, k = i + size, k + 1
    return stream.finish()


@pytest.mark.parametrize("sizes", [[16000], [8000], [3202], [640, 9998, 1, 4801], [1 << 22]],
                         ids=["0.5s", "0.25s", "odd-cut", "ragged", "one-piece"])
def test_streamed_pieces_give_the_same_transcript_as_one_upload(recognizer, pcm, sizes):
    one = whole(recognizer, pcm)
    assert one.text and one.words
    again = streamed(recognizer, pcm, sizes)
    assert again.text == one.text
    assert again.raw_text == one.raw_text
    assert [(w.word, w.start, w.end) for w in again.words] == [(w.word, w.start, w.end) for w in one.words]


def test_a_wav_upload_and_its_pcm_streamed_agree(recognizer, pcm):
    streamed_text = streamed(recognizer, pcm, [16000]).text
    same_dither()
    assert streamed_text == recognizer.transcribe(audio.pcm_to_wav(pcm)).text


def test_long_pauses_inside_a_streamed_utterance_keep_every_segment(recognizer, pcm):
    gap = b"\0\0" * 16000 * 2  # Vosk closes a segment here: its result must not be lost
    long = pcm + gap + pcm
    one = whole(recognizer, long)
    again = streamed(recognizer, long, [16000])
    assert again.text == one.text and len(again.words) == len(one.words)


def test_silence_streamed_is_an_empty_transcript(recognizer):
    assert streamed(recognizer, b"\0\0" * 16000 * 2, [8000]).is_empty


def test_a_finished_or_closed_stream_takes_nothing_more(recognizer, pcm):
    stream = recognizer.start_stream()
    stream.accept(pcm[:16000])
    stream.finish()
    with pytest.raises(RuntimeError):
        stream.accept(pcm[:16000])
    with pytest.raises(RuntimeError):
        stream.finish()
    closed = recognizer.start_stream()
    closed.close()
    closed.close()
    with pytest.raises(RuntimeError):
        closed.accept(pcm[:16000])


def test_the_seam_streams_vosk_and_buffers_a_batch_recogniser(recognizer, pcm):
    assert isinstance(recognizer, StreamingRecognizer)
    assert isinstance(utterance_stream(recognizer), asr.VoskStream)

    class BatchOnly:  # a recogniser with the one-shot shape only
        def transcribe(self, audio_bytes):
            return recognizer.transcribe(audio_bytes)

    stream = utterance_stream(BatchOnly())
    assert isinstance(stream, BufferedStream)
    for i in range(0, len(pcm), 16000):
        stream.accept(pcm[i:i + 16000])
    same_dither()
    buffered = stream.finish().text
    assert buffered == whole(recognizer, pcm).text
