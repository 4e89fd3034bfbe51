"""What every action shares: the settings, the actor behind a conversation, a database
session, replies by response name, and one polite answer for any failure.

An action subclasses :class:`XiangyinAction` and implements :meth:`XiangyinAction.handle`,
which receives one :class:`Turn`. Replies are ``domain.yml`` responses (``turn.say``); the
wording, and its voice/text variants, live there.
"""
from __future__ import annotations

import abc
import contextlib
import functools
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions import slots
from bot.config import Settings, load_settings
from bot.db import session_scope
from bot.identity import AccessDenied, Actor, resolve_actor

logger = logging.getLogger(__name__)

VOICE = "voice"  # the device channel's name (sender ids "voice:<device>")


@functools.lru_cache(maxsize=1)
def server_settings() -> Settings:
    """The action server's settings, read from its environment once, when rasa_sdk
    constructs the actions at start-up."""
    return load_settings()


class UsesSettings:
    """Actions are constructed by rasa_sdk without arguments: they then use
    :func:`server_settings`. Tests construct them with their own settings."""

    def __init__(self, settings: Optional[Settings] = None) -> None:
        self.settings = settings if settings is not None else server_settings()

    def session(self, write: bool = False) -> contextlib.AbstractContextManager[Session]:
        """A database session on the configured database (commits on success)."""
        return session_scope(write=write, url=self.settings.database.url)

    def load_actor(self, tracker: Tracker) -> Actor:
        """Who is talking: the user behind the conversation's sender id."""
        with self.session() as s:
            return resolve_actor(s, tracker.sender_id)


@dataclass
class Turn:
    """One run of one action: what Rasa sent, who is talking, and what the action may use."""

    dispatcher: CollectingDispatcher
    tracker: Tracker
    #: Empty except for actions marked ``send_domain`` in domain.yml (the form validators):
    #: Rasa sends the domain only to them (endpoints.yml ``enable_selective_domain``).
    domain: DomainDict
    actor: Actor
    action: UsesSettings

    # --- replies ----------------------------------------------------------------------

    def say(self, response: str, **values: Any) -> None:
        """Utter a ``domain.yml`` response; ``values`` fill its ``{placeholders}`` (slots fill
        the rest). Rasa picks the variant for the output channel."""
        self.dispatcher.utter_message(response=response, **values)

    def show(self, text: str, **message: Any) -> None:
        """Send text that is data, not wording (a knowledge-base answer, a repeated reply)."""
        self.dispatcher.utter_message(text=text, **message)

    # --- what was said ------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The latest user message, stripped."""
        return latest_text(self.tracker)

    @property
    def intent(self) -> Optional[str]:
        return (self.tracker.latest_message.get("intent") or {}).get("name")

    def entity(self, name: str) -> Optional[str]:
        """The latest message's first value of entity ``name`` (after synonym mapping)."""
        return latest_entity(self.tracker, name)

    def slot(self, name: str) -> Any:
        return self.tracker.get_slot(name)

    # --- who and where --------------------------------------------------------------------

    @property
    def on_voice(self) -> bool:
        """The person talks through a voice device: nothing confidential may be read out."""
        return self.actor.channel == VOICE

    @property
    def settings(self) -> Settings:
        return self.action.settings

    def session(self, write: bool = False) -> contextlib.AbstractContextManager[Session]:
        return self.action.session(write)


def latest_entity(tracker: Tracker, name: str) -> Optional[str]:
    """The latest message's first value of entity ``name`` (after synonym mapping), or None."""
    values = list(tracker.get_latest_entity_values(name))
    return str(values[0]) if values else None


def latest_text(tracker: Tracker) -> str:
    """The latest user message, stripped ('' for none)."""
    return (tracker.latest_message.get("text") or "").strip()


class XiangyinAction(UsesSettings, Action, abc.ABC):
    """Base class: resolves the actor, runs :meth:`handle`, and turns any failure into a
    polite Chinese answer (access refused, or "something went wrong") instead of silence."""

    action_name: ClassVar[str]

    def name(self) -> Text:
        return self.action_name

    @abc.abstractmethod
    def handle(self, turn: Turn) -> List[EventType]:
        """The action's work for one turn.

        Args:
            turn: the dispatcher, tracker and domain Rasa sent, the resolved actor, and
                access to the settings and the database.

        Returns:
            The events to apply (``SlotSet``, ``FollowupAction``, ...); ``[]`` for none.
            Replies go through ``turn.say`` (responses) or ``turn.show`` (data).

        Raises:
            AccessDenied: answered with ``utter_access_denied``.
            Exception: anything else is logged and answered with ``utter_error``; a pending
                write is dropped.
        """

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        try:
            turn = Turn(dispatcher, tracker, domain, self.load_actor(tracker), self)
            return self.handle(turn)
        except AccessDenied as exc:
            logger.info("access denied: %s", exc)
            dispatcher.utter_message(response="utter_access_denied")
            return []
        except Exception:  # noqa: BLE001 - the user gets a sentence, the log gets the trace
            logger.exception("action %s failed for %s", self.name(), tracker.sender_id)
            dispatcher.utter_message(response="utter_error")
            return clear_pending()


def forget(*names: str) -> List[EventType]:
    """Unset slots."""
    return [SlotSet(name, None) for name in names]


def clear_choices() -> List[EventType]:
    """The offered options have been answered."""
    return forget(slots.CHOICES, slots.CHOICE_KIND)


def clear_pending() -> List[EventType]:
    """No write is waiting for 对/不对 any more."""
    return [SlotSet(slots.PENDING_WRITE, None), SlotSet(slots.AWAITING_CONFIRMATION, False)]


def previous_user_text(tracker: Tracker) -> str:
    """What the user said in the turn before this one ('' if nothing)."""
    said = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]
    return said[-2].strip() if len(said) >= 2 else ""
