"""Worker process for :class:`speech.tts.Pyttsx3Synthesizer`: renders ONE utterance.

Reads a JSON job from stdin: ``{"text", "path", "voice", "rate", "volume", "driver",
"timeout"}``, writes a WAV file to ``path`` with a fresh pyttsx3 engine and exits 0.
On failure it prints one line to stderr (read by the parent) and exits 1.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import threading


def render(job: dict) -> None:
    try:
        import pyttsx3

        engine = pyttsx3.init(job.get("driver") or "espeak")
    except Exception as exc:
        raise RuntimeError(
            f"pyttsx3 could not start espeak-ng ({exc}); install the Debian packages espeak-ng "
            f"and libespeak-ng1, or set XIANGYIN_TTS_ENGINE=espeak"
        ) from exc
    # Properties go to the driver directly: the engine queues them and the espeak driver
    # may apply them after the synthesis has started; the voice first (it resets the rate).
    driver = getattr(getattr(engine, "proxy", None), "_driver", None) or engine
    try:
        driver.setProperty("voice", job["voice"])
    except Exception as exc:
        raise RuntimeError(f"espeak-ng voice {job['voice']!r} unavailable: {exc}") from exc
    driver.setProperty("rate", int(job["rate"]))
    driver.setProperty("volume", float(job.get("volume", 1.0)))
    done = threading.Event()
    engine.connect("finished-utterance", lambda **_kw: done.set())
    # The rate once more as espeak's embedded command (\x01<wpm>S) at the head of the text: it is
    # applied with the synthesis itself, whatever the order in which espeak's queue applies the
    # parameters set above (under load a sentence once came back at the driver's default 200 wpm;
    # the same wpm gives the same audio either way, to the sample).
    engine.save_to_file(f"\x01{int(job['rate'])}S{job['text']}", job["path"])
    engine.runAndWait()  # espeak renders asynchronously: wait for the end of the utterance
    if not done.wait(float(job.get("timeout", 30))):
        raise RuntimeError("pyttsx3 did not finish the utterance in time")


def main() -> int:
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    try:
        with contextlib.redirect_stdout(open(os.devnull, "w")):  # "Audio saved to ..." noise
            render(job)
    except Exception as exc:
        print(f"{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: pyttsx3's espeak driver errors in __del__
