"""Rasa's answers as WeChat text: an Official Account has no buttons under a text message, so
Rasa's buttons become a line naming the choices, and a choice typed back is sent as the
button's payload (kept here, per user, so a user cannot forge an ``/intent{...}`` message)."""
from __future__ import annotations

from bot.channels.turn import COMMAND_PREFIX
from bot.channels.wechat.texts import CHOICE_SEPARATOR, CHOICES

MAX_CHOICES_REMEMBERED = 50_000  # users whose last buttons are kept (oldest forgotten first)


def button_titles(reply: dict) -> list[str]:
    return [str(b.get("title") or "").strip() for b in reply.get("buttons") or []
            if b.get("payload") and str(b.get("title") or "").strip()]


def reply_text(reply: dict) -> str:
    """One Rasa message as text: its words, an image's URL, and the choices its buttons offer."""
    titles = button_titles(reply)
    lines = [reply.get("text") or "", reply.get("image") or "",
             CHOICES.format(options=CHOICE_SEPARATOR.join(titles)) if titles else ""]
    return "\n".join(line for line in lines if line)


def reply_texts(replies: list[dict]) -> list[str]:
    return [text for text in (reply_text(r) for r in replies) if text]


def offered_choices(replies: list[dict]) -> dict[str, str]:
    """Button title → payload, for the buttons of one turn's answers."""
    return {str(b["title"]).strip(): str(b["payload"]) for r in replies for b in r.get("buttons") or []
            if b.get("payload") and str(b.get("title") or "").strip()}


class Choices:
    """The buttons each user was offered last; a title typed back means its payload."""

    def __init__(self, limit: int = MAX_CHOICES_REMEMBERED):
        self.limit = limit
        self._offered: dict[str, dict[str, str]] = {}

    def remember(self, user: str, replies: list[dict]) -> None:
        self._offered.pop(user, None)
        choices = offered_choices(replies)
        if choices:
            if len(self._offered) >= self.limit:
                self._offered.pop(next(iter(self._offered)))
            self._offered[user] = choices

    def message_for(self, user: str, text: str) -> str:
        """What to send Rasa for ``text``: an offered button's payload when ``text`` is its title;
        the text itself otherwise. A typed ``/command`` is never passed on as a command."""
        payload = self._offered.get(user, {}).get(text.strip())
        if payload is not None:
            return payload
        return text.lstrip(COMMAND_PREFIX) if text.startswith(COMMAND_PREFIX) else text
