"""The training data, checked without training: the held-out NLU set (tests/data/nlu_heldout.yml)
is large enough and shares no example with nlu_data/. (`make test` also runs `rasa data
validate`; the model's accuracy on the set: tests/e2e/test_nlu.py.)"""
from __future__ import annotations

from bench.nlu_eval import load_heldout
from bot.config import PROJECT_ROOT


def test_heldout_is_not_in_training_data():
    from rasa.shared.nlu.training_data.loading import load_data

    training = {m.get("text") for m in load_data(str(PROJECT_ROOT / "nlu_data" / "nlu")).intent_examples}
    heldout = load_heldout()
    assert len(heldout) >= 200
    assert not training & {text for text, _ in heldout}
