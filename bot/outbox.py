"""The notification outbox: domain code records messages here, delivery adapters send them.

Domain code never talks to a channel. It calls :func:`notify` inside its own transaction, so a
notification exists exactly when the change that caused it was committed. Delivery adapters
(Telegram today; voice devices, the web console and WeChat are further adapters) claim pending
rows for the users they can reach, send them, and mark them delivered.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import OutboxMessage


def notify(s: Session, user_id: int | None, kind: str, text: str, dedupe_key: str,
           household_id: int | None = None, payload: dict | None = None) -> None:
    """Record one message for a user (or for whoever answers for a household).

    ``dedupe_key`` makes the call idempotent: the same key is recorded once. A message with
    neither a user nor a household has no recipient and is not recorded.
    """
    if user_id is None and household_id is None:
        return
    exists = s.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)).first()
    if not exists:
        s.add(OutboxMessage(user_id=user_id, household_id=household_id, kind=kind, text=text,
                            payload=payload or {}, dedupe_key=dedupe_key))
