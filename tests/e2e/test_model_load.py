"""Loading the trained model without tracing a training step (bot/ops/rasa_patches.py, patch 3)
gives the same model as Rasa's own load: the same intent, confidence and entities for every
fourth sentence of the held-out NLU set. Each load runs in a fresh process, as the server's does
(bench/model_load.py), so no state of this test process (Jieba's or pypinyin's dictionaries, as
other tests leave them) takes part."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.nlu_eval import load_heldout
from bot.config import PROJECT_ROOT


def _load_and_parse(model_path, texts_file, own: bool) -> list:
    cmd = [sys.executable, "-m", "bench.model_load", str(model_path), "--parse", str(texts_file)]
    out = subprocess.run(cmd + (["--own"] if own else []), check=True, capture_output=True, text=True,  # nosec B603 - this interpreter, fixed arguments
                         cwd=PROJECT_ROOT, timeout=900).stdout
    return json.loads(out.strip().splitlines()[-1])["parses"]


def test_the_patched_load_predicts_exactly_what_rasas_own_load_does(trained_model, tmp_path):
    texts = [text for text, _ in load_heldout()][::4]
    assert len(texts) >= 50
    texts_file = tmp_path / "texts.txt"
    texts_file.write_text("\n".join(texts), encoding="utf-8")
    own = _load_and_parse(trained_model, texts_file, own=True)
    patched = _load_and_parse(trained_model, texts_file, own=False)
    assert len(own) == len(patched) == len(texts)
    assert [(i, e) for i, _, e in patched] == [(i, e) for i, _, e in own]
    assert [c for _, c, _ in patched] == pytest.approx([c for _, c, _ in own], abs=1e-5)
