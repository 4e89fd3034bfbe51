"""Loading the trained model without tracing a training step (bot/ops/rasa_patches.py, patch 3)
gives the same model as Rasa's own load: the same intent, confidence and entities for every
sentence of the held-out NLU set. Both loads run here, in this process, on the trained model."""
from __future__ import annotations

import asyncio

import pytest

from bench.nlu_eval import load_heldout


def _parses(model_path, texts: list[str], patched: bool) -> list[tuple]:
    from rasa.core.agent import load_agent
    from rasa.utils.tensorflow.models import RasaModel

    from bot.ops.rasa_patches import apply

    original = RasaModel.__dict__["load"]
    try:
        if patched:
            assert "model loaded without tracing a training step" in apply()
        agent = asyncio.run(load_agent(model_path=str(model_path)))

        async def parse_all():
            return [await agent.parse_message(text) for text in texts]

        parsed = asyncio.run(parse_all())
    finally:
        RasaModel.load = original
    return [(p["intent"]["name"], p["intent"]["confidence"],
             sorted((e["entity"], str(e["value"])) for e in p["entities"])) for p in parsed]


def test_the_patched_load_predicts_exactly_what_rasas_own_load_does(trained_model):
    texts = [text for text, _ in load_heldout()][::4]
    assert len(texts) >= 50
    own = _parses(trained_model, texts, patched=False)
    patched = _parses(trained_model, texts, patched=True)
    assert [(i, e) for i, _, e in patched] == [(i, e) for i, _, e in own]
    assert [c for _, c, _ in patched] == pytest.approx([c for _, c, _ in own], abs=1e-5)
