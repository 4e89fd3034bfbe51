"""The actions and domain.yml agree: every response an action names exists (Rasa would drop
the message silently otherwise), every response is used, every slot has its constant, every
action in the domain is served by the action server and the other way round."""
from __future__ import annotations

import re

from rasa_sdk.executor import ActionExecutor

from actions import slots
from bot.config import PROJECT_ROOT

ACTIONS_DIR = PROJECT_ROOT / "actions"
RESPONSE_NAME = re.compile(r"[\"'](utter_\w+)[\"']")
RASA_DEFAULTS = {"utter_default"}  # uttered by Rasa's own action_default_fallback
#: Not a response: the key under which Rasa keeps a response's name in a bot event's metadata.
RASA_KEYS = {"utter_action"}


def _used_in_actions() -> set[str]:
    return {name for path in ACTIONS_DIR.glob("*.py")
            for name in RESPONSE_NAME.findall(path.read_text("utf-8"))} - RASA_KEYS


def _used_in_dialogues() -> set[str]:
    return {name for path in (PROJECT_ROOT / "nlu_data").glob("*.yml")
            for name in re.findall(r"\b(utter_\w+)", path.read_text("utf-8"))}


def test_every_response_an_action_names_is_in_the_domain(domain):
    assert _used_in_actions() - set(domain["responses"]) == set()


def test_every_response_in_the_domain_is_used(domain):
    asked_by_forms = {f"utter_ask_{slot}" for form in domain["forms"].values() for slot in form["required_slots"]}
    used = _used_in_actions() | _used_in_dialogues() | asked_by_forms | RASA_DEFAULTS
    assert set(domain["responses"]) - used == set()


def test_every_response_has_a_default_variant(domain):
    """A channel variant only replaces the text for that channel; every other channel needs one."""
    for name, variants in domain["responses"].items():
        assert any("channel" not in v for v in variants), name


def test_slot_names_are_the_domains():
    import yaml

    domain_slots = set(yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text("utf-8"))["slots"])
    constants = {value for name, value in vars(slots).items()
                 if name.isupper() and isinstance(value, str) and not name.startswith(
                     ("ENTITY_", "INTENT_", "OFFERED_", "DUPLICATE_", "WRITE_")) and not name.endswith("_FORM")}
    assert constants - {slots.REQUESTED_SLOT} == domain_slots
    assert set(slots.GRIEVANCE_FORM_SLOTS) <= domain_slots


def test_entity_and_form_names_are_the_domains(domain):
    entities = {value for name, value in vars(slots).items() if name.startswith("ENTITY_")}
    assert entities == set(domain["entities"])
    assert {slots.PIN_FORM, slots.GRIEVANCE_FORM} == set(domain["forms"])


def test_the_action_server_serves_exactly_the_domains_actions(domain):
    executor = ActionExecutor()
    executor.register_package("actions")
    served = {name for name in executor.actions if not name.startswith("action_test_")}
    # an action is a name, or a name with its options ("validate_pin_form: {send_domain: true}")
    assert served == {a if isinstance(a, str) else next(iter(a)) for a in domain["actions"]}


def test_actions_that_read_the_domain_are_sent_it(domain):
    """Rasa sends the domain only to actions marked send_domain (endpoints.yml: selective
    domain); rasa_sdk's form validation reads the form's slots from it, so every validator is
    marked, and nothing else is."""
    import yaml
    from rasa_sdk import FormValidationAction

    from bot.config import PROJECT_ROOT

    executor = ActionExecutor()
    executor.register_package("actions")
    validators = {name for name, run in executor.actions.items()
                  if isinstance(getattr(run, "__self__", None), FormValidationAction)}
    marked = {next(iter(a)) for a in domain["actions"] if isinstance(a, dict)
              and next(iter(a.values())).get("send_domain")}
    assert validators == marked == {"validate_grievance_form", "validate_pin_form"}
    endpoints = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"]["enable_selective_domain"] is True
