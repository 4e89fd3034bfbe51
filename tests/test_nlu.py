"""NLU quality on the held-out set (never used for training) and on ASR homophone slips."""
from __future__ import annotations

import pytest

from bench.nlu_eval import evaluate_agent, load_heldout

# Honest floors, set below what the current model measures (see the README's figures):
# a drop under them is a regression worth failing the build for.
# Measured with 26 intents on 324 held-out examples: accuracy 0.836, macro F1 0.856.
INTENT_ACCURACY_FLOOR = 0.80
MACRO_F1_FLOOR = 0.82


@pytest.fixture(scope="module")
def heldout_report(agent, event_loop_session):
    return evaluate_agent(agent, event_loop_session, load_heldout())


def test_heldout_is_not_in_training_data():
    from rasa.shared.nlu.training_data.loading import load_data

    from tests.conftest import PROJECT_ROOT

    training = {m.get("text") for m in load_data(str(PROJECT_ROOT / "nlu_data" / "nlu")).intent_examples}
    heldout = load_heldout()
    assert len(heldout) >= 200
    assert not training & {text for text, _ in heldout}


def test_heldout_intent_accuracy(heldout_report):
    assert heldout_report["accuracy"] >= INTENT_ACCURACY_FLOOR, heldout_report
    assert heldout_report["macro_f1"] >= MACRO_F1_FLOOR, heldout_report


@pytest.mark.parametrize("text,intent", [
    ("俺家鸡分还有多少", "check_points"),        # 积分 → 鸡分
    ("我想申请地保", "ask_policy"),              # 低保 → 地保
    ("救命啊", "emergency"),
    ("再说一遍", "repeat"),
    ("村口路灯坏了三天了", "file_grievance"),
    ("查一下王建国家", "query_household"),
])
def test_typical_utterances(agent, event_loop_session, text, intent):
    parsed = event_loop_session.run_until_complete(agent.parse_message(text))
    assert parsed["intent"]["name"] == intent, parsed["intent"]
