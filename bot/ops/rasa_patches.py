"""Measured fixes for Rasa 3.6's own per-turn costs, applied by our Rasa launcher
(:mod:`bot.ops.rasa_server`) before Rasa starts. Each one keeps Rasa's behaviour and is pinned
to the Rasa minor version it was measured on; on any other version nothing is patched.

1. **Action-result validation.** ``RemoteAction._validate_action_result`` calls
   ``jsonschema.validate(result, schema)`` after every custom action, which re-checks the
   schema itself and builds a new validator each time: 27% of the Rasa server's CPU in a
   single-user profile (py-spy, 240 turns; README "Measured"). Here the validator is built
   once and reused; the same schema, the same ``ValidationError`` with Rasa's message.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Dict

log = logging.getLogger(__name__)
RASA_MINOR = "3.6."


def _cached_validator(schema_factory):
    from jsonschema.validators import validator_for

    schema = schema_factory()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def apply() -> list[str]:
    """Applies the patches that fit the installed Rasa; returns their names."""
    import rasa
    from rasa.core.actions import action as rasa_action

    if not rasa.__version__.startswith(RASA_MINOR):
        log.warning("Rasa %s is not %sx: performance patches not applied", rasa.__version__, RASA_MINOR)
        return []
    original = rasa_action.RemoteAction._validate_action_result
    validator = functools.lru_cache(maxsize=1)(
        lambda: _cached_validator(rasa_action.RemoteAction.action_response_format_spec))

    def _validate_action_result(self, result: Dict[str, Any]) -> bool:
        from jsonschema import ValidationError

        try:
            error = next(validator().iter_errors(result), None)
        except Exception:  # noqa: BLE001 - anything unexpected: Rasa's own path decides
            return original(self, result)
        if error is None:
            return True
        try:  # Rasa's own message and exception for an invalid result
            return original(self, result)
        except ValidationError:
            raise
        except Exception:  # pragma: no cover - cannot happen: the schemas are the same
            raise error

    rasa_action.RemoteAction._validate_action_result = _validate_action_result
    return ["action-result validation compiled once"]
