"""The training data, checked without training: the held-out NLU sets (tests/data/nlu_heldout.yml,
tests/data/nlu_heldout2.yml) are large enough and share no example with nlu_data/ (spaces and
punctuation aside). (`make test` also runs `rasa data
validate`; the model's accuracy on the set: tests/e2e/test_nlu.py.)"""
from __future__ import annotations

from bench.nlu_eval import load_heldout
from bot.config import PROJECT_ROOT


def test_heldout_is_not_in_training_data():
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.nlu.goals import flat_text as flat

    training = {flat(m.get("text")) for m in load_data(str(PROJECT_ROOT / "nlu_data" / "nlu")).intent_examples}
    for path in (PROJECT_ROOT / "tests" / "data" / "nlu_heldout.yml", PROJECT_ROOT / "tests" / "data" / "nlu_heldout2.yml"):
        heldout = load_heldout(path)
        assert len(heldout) >= 200
        assert not training & {flat(text) for text, _ in heldout}, path.name
