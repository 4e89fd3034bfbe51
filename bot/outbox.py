"""The notification outbox: domain code records messages here, delivery adapters send them.

Domain code never talks to a channel. It calls :func:`notify` inside its own transaction, so a
notification exists exactly when the change that caused it was committed.

Delivery goes through one interface, in the style of cosmicpython's
``adapters/notifications.py``: a :class:`DeliveryAdapter` knows one channel that *pushes*
(Telegram today; the web console and WeChat are further adapters) — whom it can reach
(:meth:`~DeliveryAdapter.recipients`) and how to send one message
(:meth:`~DeliveryAdapter.send`). A :class:`Deliverer` runs it: it *claims* due rows
(:func:`claim`), has the adapter send them, and marks them :func:`delivered` or, after a
permanent refusal, :func:`give_up`.

Channels that *pull* — the one-button voice device asks the server between button presses —
use a :class:`Mailbox` instead: :func:`pending` lists what the device may play (oldest first)
and :func:`confirm` marks what it played as delivered (bot/channels/voice_inbox.py).

A message may name the only channels that deliver it in its payload (``{"channels":
["voice"]}``: the notice offer "村里有一条新通知，要听吗？" is for a device to play); both sides
honour it (:func:`for_channel`).

Guarantees (tests/e2e/test_telegram.py checks them end to end):

* **claim before send**: a claim increments ``attempts`` with a compare-and-set on the value
  read, committed in its own transaction, before anything is sent; two workers never claim the
  same attempt.
* **delivered after accept**: ``delivered_at`` is committed right after the channel accepted
  the message; delivered rows are never selected again, so a restart sends no duplicates of
  finished deliveries.
* **retries with backoff**: a claimed row that was not delivered (sending failed, or the
  process died) is sent again later, after an exponential backoff (kept in memory: a restart
  retries at once) or the delay the channel asked for; after :data:`MAX_ATTEMPTS` attempts, or
  when every recipient refused it for good (blocked the bot, chat gone), it is not retried.
* only what happened after an account was linked is pushed to it.

The remaining edge: if the process dies (or the database write fails, or the channel's answer
is lost after it delivered) between the channel accepting a message and the ``delivered_at``
commit, that one notification is sent once more after the restart — the price of never losing
one, since chat APIs such as Telegram's sendMessage take no idempotency key. Run one delivery
worker per channel and database: a second worker would treat a row in flight elsewhere as failed
and retry it. A row for a user with several linked accounts counts as delivered when at least
one of them received it.
"""
from __future__ import annotations

import abc
import asyncio
import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db import session_scope
from bot.models import ChannelIdentity, OutboxMessage, utcnow

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE = 5.0  # seconds before the second attempt; doubled per failed attempt
BACKOFF_MAX = 3600.0
BATCH = 50  # rows claimed per run


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


# --------------------------------------------------------------------------- claiming


@dataclass(frozen=True)
class Recipient:
    address: str  # where the adapter sends: a Telegram chat id, a device id, ...
    since: dt.datetime  # when the account was linked; older messages are not pushed to it


@dataclass
class Recipients:
    """Whom one channel can reach: addresses per user, and per household (a message for a
    household goes to every linked account of the people who live there)."""

    users: dict[int, list[Recipient]] = field(default_factory=lambda: defaultdict(list))
    households: dict[int, list[Recipient]] = field(default_factory=lambda: defaultdict(list))

    def addresses(self, row: OutboxMessage) -> tuple[str, ...]:
        targets = self.users.get(row.user_id, []) if row.user_id is not None \
            else self.households.get(row.household_id, [])
        return tuple(dict.fromkeys(r.address for r in targets if r.since <= row.created_at))


def linked_recipients(s: Session, channel: str, accepts: Callable[[str], bool] = lambda external_id: True
                      ) -> Recipients:
    """Every account on ``channel`` linked to a user (whose ``external_id`` the adapter
    ``accepts`` as an address), by user and by the user's household."""
    found = Recipients()
    idents = s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == channel,
                                                     ChannelIdentity.user_id.is_not(None))).scalars()
    for ident in idents:
        if not accepts(ident.external_id):
            continue
        recipient = Recipient(ident.external_id, ident.created_at)
        found.users[ident.user_id].append(recipient)
        resident = ident.user.resident
        household_id = ident.household_id or (resident.household_id if resident else None)
        if household_id:
            found.households[household_id].append(recipient)
    return found


@dataclass(frozen=True)
class Claim:
    outbox_id: int
    text: str
    addresses: tuple[str, ...]
    attempt: int  # 1 for the first try
    kind: str = ""
    payload: dict = field(default_factory=dict)


def for_channel(payload: dict | None, channel: str | None) -> bool:
    """Whether a message may go out on ``channel``: its payload may name the only channels that
    deliver it (``{"channels": ["voice"]}``); without that list, any channel may."""
    channels = (payload or {}).get("channels")
    return channel is None or not channels or channel in channels


def claim(s: Session, recipients: Recipients, limit: int = BATCH,
          skip: Callable[[int], bool] = lambda outbox_id: False, channel: str | None = None) -> list[Claim]:
    """Claims up to ``limit`` undelivered rows the recipients can receive on ``channel`` (oldest
    first, except those ``skip`` names). Each claim is a compare-and-set ``attempts + 1``; commit
    the session before sending anything. Rows that cannot be claimed now (meant for another
    channel, older than the account, waiting for a retry) are read past, page by page, so they
    never hold up the rows behind them."""
    if not recipients.users:
        return []
    households = list(recipients.households) or [-1]
    claims: list[Claim] = []
    after = 0
    while len(claims) < limit:
        rows = s.execute(
            select(OutboxMessage).where(
                OutboxMessage.id > after, OutboxMessage.delivered_at.is_(None),
                OutboxMessage.attempts < MAX_ATTEMPTS,
                OutboxMessage.user_id.in_(list(recipients.users))
                | (OutboxMessage.user_id.is_(None) & OutboxMessage.household_id.in_(households)))
            .order_by(OutboxMessage.id).limit(limit)
        ).scalars().all()
        for row in rows:
            after = row.id
            addresses = recipients.addresses(row)
            if skip(row.id) or not addresses or not for_channel(row.payload, channel):
                continue
            won = s.execute(update(OutboxMessage)
                            .where(OutboxMessage.id == row.id, OutboxMessage.delivered_at.is_(None),
                                   OutboxMessage.attempts == row.attempts)
                            .values(attempts=row.attempts + 1)
                            .execution_options(synchronize_session=False)).rowcount
            if won == 1:
                claims.append(Claim(row.id, row.text, addresses, row.attempts + 1, row.kind, dict(row.payload or {})))
                if len(claims) >= limit:
                    break
        if len(rows) < limit:
            break
    return claims


def _finish(s: Session, outbox_id: int, **values) -> None:
    s.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id, OutboxMessage.delivered_at.is_(None))
              .values(**values).execution_options(synchronize_session=False))


def delivered(s: Session, outbox_id: int, now: dt.datetime | None = None) -> None:
    """The channel accepted the message: it is never sent again."""
    _finish(s, outbox_id, delivered_at=now or utcnow())


def give_up(s: Session, outbox_id: int) -> None:
    """Every recipient refused the message for good: it is not retried."""
    _finish(s, outbox_id, attempts=MAX_ATTEMPTS)


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt``."""
    return min(BACKOFF_BASE * 2 ** (attempt - 1), BACKOFF_MAX)


# --------------------------------------------------------------------------- pulling channels


@dataclass(frozen=True)
class Mailbox:
    """What one pulling device answers for: its staff member (``user_id``), or the household it
    belongs to (``household_id``: messages for the household that name no user), from the moment
    it was registered (``since``)."""

    channel: str
    user_id: int | None
    household_id: int | None
    since: dt.datetime

    @classmethod
    def of(cls, ident: ChannelIdentity) -> "Mailbox":
        household_id = None if ident.user_id is not None else ident.household_id
        return cls(ident.channel, ident.user_id, household_id, ident.created_at)

    def _mine(self):
        if self.user_id is not None:
            return OutboxMessage.user_id == self.user_id
        if self.household_id is not None:
            return OutboxMessage.user_id.is_(None) & (OutboxMessage.household_id == self.household_id)
        return None


def pending(s: Session, box: Mailbox, limit: int = BATCH) -> list[OutboxMessage]:
    """Undelivered messages the device may play, oldest first (a read: nothing is claimed; a
    message counts as delivered only when the device :func:`confirm` s it). A push channel's
    failed attempts do not count here: a message Telegram gave up on still reaches the device."""
    mine = box._mine()
    if mine is None:
        return []
    found: list[OutboxMessage] = []
    after = 0
    while len(found) < limit:
        rows = s.execute(select(OutboxMessage).where(
            mine, OutboxMessage.id > after, OutboxMessage.delivered_at.is_(None),
            OutboxMessage.created_at >= box.since).order_by(OutboxMessage.id).limit(limit)).scalars().all()
        found += [row for row in rows if for_channel(row.payload, box.channel)]
        if len(rows) < limit:
            break
        after = rows[-1].id
    return found[:limit]


def confirm(s: Session, box: Mailbox, outbox_ids: list[int], now: dt.datetime | None = None
            ) -> tuple[list[OutboxMessage], list[int]]:
    """The device played these messages: each becomes delivered, once. Returns (the messages
    this call delivered, in id order; the ids it did not: somebody else's, unknown, or delivered
    already — a repeated confirmation changes nothing)."""
    mine = box._mine()
    ids = sorted({int(i) for i in outbox_ids})
    if mine is None or not ids:
        return [], ids
    now = now or utcnow()
    done = []
    for row in s.execute(select(OutboxMessage).where(mine, OutboxMessage.id.in_(ids),
                                                     OutboxMessage.created_at >= box.since)
                         .order_by(OutboxMessage.id)).scalars().all():
        if not for_channel(row.payload, box.channel):
            continue
        won = s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id, OutboxMessage.delivered_at.is_(None))
                        .values(delivered_at=now).execution_options(synchronize_session=False)).rowcount
        if won == 1:
            done.append(row)
    delivered_ids = {row.id for row in done}
    return done, [i for i in ids if i not in delivered_ids]


# --------------------------------------------------------------------------- adapters


@dataclass(frozen=True)
class SendResult:
    """What happened when an adapter sent one claimed message to its addresses."""

    delivered: bool = False  # at least one address accepted it
    refused: bool = False  # every address refused it for good
    retry_in: float | None = None  # the channel asked for this delay; None: the usual backoff
    pause: bool = False  # the channel asked us to slow down: send nothing more in this run


class DeliveryAdapter(abc.ABC):
    """One channel's way of pushing outbox messages."""

    channel: str

    @abc.abstractmethod
    def recipients(self, s: Session) -> Recipients:
        """Whom this channel can reach (runs in a worker thread, inside a transaction)."""

    @abc.abstractmethod
    async def send(self, claim: Claim) -> SendResult:
        """Sends one claimed message to ``claim.addresses``; never raises for a refusal."""


class Deliverer:
    """Runs one adapter: claim due rows, send them, record the outcome (see the module
    docstring for the guarantees). ``clock`` drives the retry backoff."""

    def __init__(self, adapter: DeliveryAdapter, db_url: str | None = None,
                 clock: Callable[[], float] = time.monotonic, batch: int = BATCH):
        self.adapter, self.db_url, self.clock, self.batch = adapter, db_url, clock, batch
        self._next_try: dict[int, float] = {}  # outbox id → earliest clock() for the next attempt
        self._inflight: set[int] = set()

    def _waiting(self, outbox_id: int, now: float) -> bool:
        return outbox_id in self._inflight or self._next_try.get(outbox_id, 0) > now

    def claim_due(self) -> list[Claim]:
        """Claims (and commits) the rows due now; they are in flight until finished."""
        now = self.clock()
        with session_scope(write=True, url=self.db_url) as s:
            claims = claim(s, self.adapter.recipients(s), self.batch, lambda outbox_id: self._waiting(outbox_id, now),
                           channel=self.adapter.channel)
        self._inflight.update(c.outbox_id for c in claims)
        return claims

    def _record(self, finish: Callable[[Session, int], None], outbox_id: int) -> None:
        with session_scope(write=True, url=self.db_url) as s:
            finish(s, outbox_id)

    async def deliver_once(self) -> int:
        """One run; returns how many messages were delivered. When the channel asks for a pause,
        the rest of the batch waits as long as the message that was paused."""
        count = 0
        claims = await asyncio.to_thread(self.claim_due)
        try:
            for n, item in enumerate(claims):
                result = await self.adapter.send(item)
                await self._settle(item, result)
                count += result.delivered
                if result.pause:
                    resume = self.clock() + (result.retry_in or 0)
                    self._next_try.update((rest.outbox_id, resume) for rest in claims[n + 1:])
                    break
        finally:  # finished, paused, or the adapter failed: no claim stays in flight
            self._inflight.difference_update(c.outbox_id for c in claims)
        return count

    async def _settle(self, item: Claim, result: SendResult) -> None:
        if result.delivered:
            await asyncio.to_thread(self._record, delivered, item.outbox_id)
            self._next_try.pop(item.outbox_id, None)
        elif result.refused:
            await asyncio.to_thread(self._record, give_up, item.outbox_id)
        else:
            delay = result.retry_in if result.retry_in is not None else backoff(item.attempt)
            self._next_try[item.outbox_id] = self.clock() + delay
            logger.info("outbox %s (%s): attempt %s failed, next in %.0f s",
                        item.outbox_id, self.adapter.channel, item.attempt, delay)

