"""A rule-based dialogue policy that runs before all others: the way out, and read-backs.

Two things must not depend on what the learned policies happen to predict:

- **Stop anywhere.** While a form is active or a write waits for a yes, a reply that means
  "stop" ("算了", "不报了", "先不弄了", the ``stop`` intent) leads to ``action_stop``, which
  leaves the form, drops the pending write and says what was dropped.
- **Every reply to a read-back is interpreted in context.** While a write waits for a yes
  (slot ``awaiting_confirmation``), the next action is always ``action_resolve_pending``: it
  performs the write only on an explicit yes to that write (:mod:`bot.replies`), asks again
  when the reply is unclear, and otherwise drops the pending write and hands the turn back to
  the other policies (``ActionExecutionRejected``), so a new request is answered as usual.

After either action the bot listens: nothing a learned policy might add follows a way out.

Three more readings where the words decide better than the learned policies (bot/nlu/control.py):

- **A question inside a form** ("哎对了，低保要带啥材料" while it asks "要不要保密？") is
  answered by its usual action, then the form asks its question again; the form's free-text
  slots never take such a question as their answer (``not_intent`` in domain.yml).
- **A question about the points rules** that the model hears as a complaint or a policy
  question ("隔壁天天烧秸秆…这不是要扣分吗") is answered from the village's rule table, which
  then offers to report the problem it describes.
- **A short follow-up after a policy answer** that the model files elsewhere ("外地的呢",
  "一年交多少") goes back to the policy answer, which keeps the topic.

Emergencies are left to the rules (they interrupt everything). The policy has nothing to
train; it predicts with confidence 1 and a priority above the RulePolicy, or abstains.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot.nlu.control import RESOLVE_ACTION, STOP_ACTION, Turn, decide  # noqa: F401 - re-exported


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=False
)
class DialogueControlPolicy(Policy):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 7}  # above RulePolicy (4) and Memoization (3)

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain,
              **kwargs: Any) -> Resource:
        return self._resource

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: Optional[Dict[Text, Any]] = None,
                                     **kwargs: Any) -> PolicyPrediction:
        action = self.next_action(tracker)
        probabilities = self._default_predictions(domain)
        if action is None or action not in domain.action_names_or_texts:
            return self._prediction(probabilities)
        probabilities[domain.index_for_action(action)] = 1.0
        # Marked like the RulePolicy's "continue the active form" prediction, which otherwise
        # overrules every prediction based on the user's words: among such predictions the
        # higher priority wins, and this policy's is the highest.
        return self._prediction(probabilities, is_no_user_prediction=True)

    @staticmethod
    def next_action(tracker: DialogueStateTracker) -> Optional[str]:
        """The action this policy insists on, or None to let the others decide."""
        message = tracker.latest_message
        return decide(Turn(
            latest_action=tracker.latest_action_name,
            text=(message.text or "") if message else "",
            intent=((message.intent or {}).get("name") if message else None),
            confidence=float((message.intent or {}).get("confidence") or 0) if message else 0.0,
            awaiting_confirmation=bool(tracker.get_slot("awaiting_confirmation")),
            active_loop=tracker.active_loop_name,
            requested_slot=tracker.get_slot("requested_slot"),
            previous_action=previous_action(tracker),
            choice_kind=tracker.get_slot("choice_kind"),
        ))


def previous_action(tracker: DialogueStateTracker) -> Optional[str]:
    """The bot's last action before the latest user message, action_listen aside."""
    seen_user = False
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            if seen_user:
                return None
            seen_user = True
        elif seen_user and isinstance(event, ActionExecuted) and event.action_name not in (
                None, "action_listen", "action_extract_slots"):
            return event.action_name
    return None
