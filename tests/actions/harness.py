"""Actions run as rasa_sdk runs them, without a model or a server: a real ``Tracker`` and
``CollectingDispatcher`` (the style of rasa_sdk's own tests/test_forms.py), and the replies
rendered from ``domain.yml`` by Rasa's own response generator, for the channel a test names.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.config import PROJECT_ROOT, Settings

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"
TEXT_CHANNEL = "collector"  # the output channel of Rasa's REST channel (terminal, Telegram)
VOICE_CHANNEL = "voice"  # the voice channel's output channel
CONFIRM = "对吗？对就说“对”，不对就说“不对”。"  # how a read-back ends
_UNFILLED = re.compile(r"\{[^{}\n]+\}")
_UNSET = object()


@dataclass
class Outcome:
    """What one action run said and did."""

    events: List[Dict[str, Any]]
    messages: List[Dict[str, Any]]  # rendered as Rasa renders them: text, buttons, response
    raw: List[Dict[str, Any]] = field(default_factory=list)  # as the dispatcher collected them

    @property
    def texts(self) -> List[str]:
        return [m.get("text") or "" for m in self.messages]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def responses(self) -> List[Optional[str]]:
        return [m.get("response") for m in self.raw]

    def slot(self, name: str, default: Any = _UNSET) -> Any:
        """The value the run set ``name`` to (the last ``SlotSet``)."""
        values = [e["value"] for e in self.events if e.get("event") == "slot" and e.get("name") == name]
        if values:
            return values[-1]
        if default is _UNSET:
            raise AssertionError(f"slot {name!r} not set by {self.events}")
        return default

    def sets(self, name: str) -> bool:
        return any(e.get("event") == "slot" and e.get("name") == name for e in self.events)

    @property
    def followup(self) -> Optional[str]:
        """The action the run asked to run next (``FollowupAction``), if any."""
        names = [e.get("name") for e in self.events if e.get("event") == "followup"]
        return names[-1] if names else None


class Runner:
    """Runs actions for one database and renders their replies."""

    def __init__(self, settings: Settings, domain: Dict[str, Any]):
        from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator

        self.settings = settings
        self.domain = domain
        self.nlg = TemplatedNaturalLanguageGenerator(domain["responses"])

    def tracker(self, sender: str, text: str = "", intent: Optional[str] = None,
                entities: Iterable[Dict[str, Any]] = (), slots: Optional[Dict[str, Any]] = None,
                events: Optional[List[Dict[str, Any]]] = None, active_loop: Optional[str] = None,
                metadata: Optional[Dict[str, Any]] = None) -> Tracker:
        """A tracker as Rasa sends it: the latest message, the slots, and the events."""
        latest = {"text": text, "intent": {"name": intent, "confidence": 1.0} if intent else {},
                  "entities": [{"entity": e, "value": v} for e, v in entities.items()]
                  if isinstance(entities, dict) else list(entities),
                  "metadata": metadata or {}}
        user = {"event": "user", "text": text, "parse_data": latest}
        return Tracker(sender, dict(slots or {}), latest, list(events or [user]), False, None,
                       {"name": active_loop} if active_loop else {}, "action_listen")

    def run(self, action: Action, sender: str, text: str = "", *, channel: str = TEXT_CHANNEL,
            tracker: Optional[Tracker] = None, **tracker_args: Any) -> Outcome:
        tracker = tracker or self.tracker(sender, text, **tracker_args)
        dispatcher = CollectingDispatcher()
        events = asyncio.run(action.run(dispatcher, tracker, self.domain))
        return Outcome(events, [self.render(m, tracker, channel) for m in dispatcher.messages],
                       dispatcher.messages)

    def render(self, message: Dict[str, Any], tracker: Tracker, channel: str) -> Dict[str, Any]:
        """What Rasa makes of one dispatched message (RemoteAction._utter_responses): the
        named response for the channel, filled from the slots and the message's values."""
        message = dict(message)
        name = message.pop("response", None)
        if not name:
            return message
        assert name in self.domain["responses"], f"{name} is not a response in domain.yml"
        draft = self.nlg.generate_from_slots(name, tracker.current_slot_values(), channel, **message)
        assert draft is not None, name
        unfilled = _UNFILLED.findall(draft.get("text") or "")
        assert not unfilled, f"{name}: {unfilled} not filled in {draft.get('text')!r}"
        draft["buttons"] = list(draft.get("buttons") or []) + list(message.get("buttons") or [])
        draft["response"] = name
        return draft
