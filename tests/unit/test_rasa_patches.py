"""The Rasa performance patches keep Rasa's behaviour: a valid action result passes, an invalid
one raises Rasa's own ValidationError with its message (bot/ops/rasa_patches.py)."""
from __future__ import annotations

import pytest


def test_action_result_validation_is_rasas():
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction

    from bot.ops.rasa_patches import apply

    original = RemoteAction._validate_action_result
    try:
        assert apply() == ["action-result validation compiled once"]
        action = RemoteAction("action_x", None)
        valid = {"events": [{"event": "slot", "name": "ticket", "value": "260101"}],
                 "responses": [{"text": "好的"}]}
        assert action._validate_action_result(valid) is True
        assert action._validate_action_result({"events": [], "responses": []}) is True
        for invalid in ({"events": "not a list"}, {"responses": [1]}, {"events": [{"event": "no_such_event"}]}):
            with pytest.raises(ValidationError, match="Failed to validate Action server response"):
                action._validate_action_result(invalid)
            with pytest.raises(ValidationError):
                original(action, invalid)  # Rasa's own check agrees
    finally:
        RemoteAction._validate_action_result = original
