"""How a channel gets its speech recogniser: the one place that builds one.

``spec`` names a factory as ``"module:callable"`` (the voice channel's ``recognizer`` credential
or ``settings.speech.asr_factory``; tests plug in a double at the ASR boundary this way); without
one, the offline Vosk recogniser configured by ``settings.speech``. Building is deferred to the
first voice message: loading a model takes seconds and may fail when none is installed.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from bot.config import Settings


def recognizer_factory(spec: str | None = None, settings: Settings | None = None) -> Callable[[], Any]:
    """A no-argument function that builds the recogniser (call it off the event loop)."""
    if spec:
        module, _, attr = spec.partition(":")
        return getattr(importlib.import_module(module), attr)

    def vosk_recognizer() -> Any:
        from speech.asr import Recognizer

        return Recognizer.from_settings(settings)

    return vosk_recognizer
