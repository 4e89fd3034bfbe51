"""Xiangyin speech stack: offline recognition (Vosk) and Mandarin synthesis (espeak-ng).

One module per capability; each module docstring documents its public API.

* :mod:`speech.audio`   -- ``normalise(bytes) -> 16 kHz mono s16le PCM`` (ffmpeg), levels.
* :mod:`speech.asr`     -- ``Recognizer(...).transcribe(bytes) -> Transcript``, grammars,
  ``snap`` onto known names.
* :mod:`speech.tts`     -- ``get_synthesizer().synthesize(text, rate=None) -> WAV bytes``.
* :mod:`speech.spoken`  -- display text -> text that reads well aloud; sentence splitting.
* :mod:`speech.model`   -- ``python -m speech.model``: install the Chinese Vosk model.
* :mod:`speech.device`  -- ``python -m speech.device``: push-to-talk client.
* :mod:`bench.speech`   -- ``python -m bench.speech``: speed and accuracy figures.

Recognition and synthesis are blocking: call them from an executor, not the event loop.
"""
