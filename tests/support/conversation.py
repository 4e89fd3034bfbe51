"""Conversations with the running Rasa server, the way every channel has them: turns go to the
REST channel (so the turn pipeline of bot/channels/turn.py runs) through the project's one
client of Rasa's HTTP API, bot.channels.rasa_client. Two test-only calls sit beside it:
starting a sender's conversation afresh, and asking the model for an intent."""
from __future__ import annotations

from urllib.parse import quote

import httpx

from bot.channels.rasa_client import RasaClient
from bot.config import load_settings
from bot.security.keys import rasa_api_token
from bot.security.tokens import trusted_client_credentials

TIMEOUT = 180.0  # upper bound for one turn; a turn returns as soon as it is answered


class Conversation:
    """One user's conversation through the real dialogue stack (sender ``channel:id``)."""

    def __init__(self, base_url: str, sender: str, timeout: float = TIMEOUT):
        self.base_url, self.sender = base_url.rstrip("/"), sender
        self.client = RasaClient(self.base_url, timeout=timeout, **trusted_client_credentials(load_settings()))
        self.replies: list[dict] = []

    def restart(self) -> "Conversation":
        """Forgets everything this sender said before (their tracker has no events)."""
        forget_sender(self.base_url, self.sender)
        return self

    def say(self, text: str) -> str:
        """One turn; returns the reply texts joined by newlines (``replies`` has the messages)."""
        self.replies = self.client.send(self.sender, text)
        return "\n".join(r.get("text") or "" for r in self.replies)

    def buttons(self) -> list[str]:
        """The titles of the buttons the last reply offered."""
        return [b.get("title") for r in self.replies for b in r.get("buttons") or []]

    def tracker(self) -> dict:
        return self.client.tracker(self.sender)

    def slot(self, name: str):
        return (self.tracker().get("slots") or {}).get(name)

    def close(self) -> None:
        self.client.close()


def api_params() -> dict[str, str]:
    """``?token=`` for Rasa's HTTP API (the servers and this process share the run's secret)."""
    return {"token": rasa_api_token(load_settings())}


def bearer_header(sender: str) -> dict[str, str]:
    """``Authorization: Bearer`` for one sender, minted from the run's secret as our own
    processes (terminal chat, Telegram bridge) do."""
    from bot.security.tokens import issue

    return {"Authorization": f"Bearer {issue(load_settings(), sender)}"}


def forget_sender(base_url: str, sender: str) -> None:
    """Replaces the sender's tracker with an empty one (Rasa's ``PUT .../tracker/events``)."""
    url = f"{base_url.rstrip('/')}/conversations/{quote(sender, safe=':')}/tracker/events"
    httpx.put(url, json=[], params=api_params(), timeout=60).raise_for_status()


def parse_intents(base_url: str, texts: list[str]) -> list[str]:
    """The intent the model gives each text (``POST /model/parse``, NLU only, no dialogue)."""
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=60) as http:
        intents = []
        for text in texts:
            response = http.post("/model/parse", json={"text": text}, params=api_params())
            response.raise_for_status()
            intents.append(response.json()["intent"]["name"])
        return intents
