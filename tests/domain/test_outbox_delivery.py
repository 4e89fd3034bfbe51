"""The outbox delivery interface (bot/outbox.py) with a stand-in adapter: claim before send,
delivered after the channel accepted, retries after a backoff, refusals not retried, flood
control pauses a run, nothing delivered is sent again after a restart, and only what happened
after an account was linked is pushed. Telegram as the real adapter: tests/e2e/test_telegram.py."""
from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from bot import outbox
from bot.db import session_scope
from bot.models import ChannelIdentity, OutboxMessage, User


class FakeAdapter(outbox.DeliveryAdapter):
    channel = "fake"

    def __init__(self, url: str, results: list[outbox.SendResult] | None = None):
        self.url, self.results = url, list(results or [])
        self.sent: list[tuple[int, tuple[str, ...], int]] = []  # (outbox id, addresses, attempts committed)

    def recipients(self, s):
        return outbox.linked_recipients(s, self.channel, accepts=lambda external_id: external_id != "bad")

    async def send(self, claim):
        with session_scope(url=self.url) as s:  # the claim is committed before anything is sent
            committed = s.get(OutboxMessage, claim.outbox_id).attempts
        self.sent.append((claim.outbox_id, claim.addresses, committed))
        return self.results.pop(0) if self.results else outbox.SendResult(delivered=True)


def link(url: str, login: str, *addresses: str) -> int:
    with session_scope(write=True, url=url) as s:
        user = s.execute(select(User).where(User.login == login)).scalar_one()
        for address in addresses:
            s.add(ChannelIdentity(channel="fake", external_id=address, user_id=user.id, settings={}))
        return user.id


def record(url: str, user_id: int | None, text: str, household_id: int | None = None) -> int:
    with session_scope(write=True, url=url) as s:
        outbox.notify(s, user_id, "test", text, f"test:{uuid.uuid4().hex}", household_id=household_id)
        s.flush()
        return s.execute(select(OutboxMessage.id).order_by(OutboxMessage.id.desc())).scalars().first()


def row(url: str, outbox_id: int) -> tuple[int, bool]:
    with session_scope(url=url) as s:
        message = s.get(OutboxMessage, outbox_id)
        return message.attempts, message.delivered_at is not None


def test_claim_send_deliver_and_never_again(fresh_db):
    elsewhere = record(fresh_db, link(fresh_db, "hh031"), "给没绑定这个渠道的人")
    user_id = link(fresh_db, "hh032", "a1", "a2", "bad")
    first = record(fresh_db, user_id, "您反映的事有新进展")
    adapter = FakeAdapter(fresh_db)
    deliverer = outbox.Deliverer(adapter, fresh_db)
    assert asyncio.run(deliverer.deliver_once()) == 1
    assert adapter.sent == [(first, ("a1", "a2"), 1)]  # claimed (attempts 1, committed) before sending
    assert row(fresh_db, first) == (1, True)
    assert asyncio.run(outbox.Deliverer(adapter, fresh_db).deliver_once()) == 0  # a restart: nothing again
    assert row(fresh_db, elsewhere) == (0, False)  # nobody this channel can reach


def test_failed_sends_back_off_and_refusals_stop(fresh_db):
    user_id = link(fresh_db, "hh033", "b1")
    flaky, refused = record(fresh_db, user_id, "第一条"), record(fresh_db, user_id, "第二条")
    now = [1000.0]
    adapter = FakeAdapter(fresh_db, [outbox.SendResult(), outbox.SendResult(refused=True)])
    deliverer = outbox.Deliverer(adapter, fresh_db, clock=lambda: now[0])
    assert asyncio.run(deliverer.deliver_once()) == 0
    assert row(fresh_db, flaky) == (1, False) and row(fresh_db, refused) == (outbox.MAX_ATTEMPTS, False)
    asyncio.run(deliverer.deliver_once())  # still backing off: not even claimed
    assert row(fresh_db, flaky) == (1, False)
    now[0] += outbox.backoff(1)
    assert asyncio.run(deliverer.deliver_once()) == 1
    assert row(fresh_db, flaky) == (2, True) and [s[0] for s in adapter.sent] == [flaky, refused, flaky]


def test_flood_control_pauses_the_run_and_waits_as_asked(fresh_db):
    user_id = link(fresh_db, "hh034", "c1")
    ids = [record(fresh_db, user_id, f"通知{n}") for n in range(3)]
    now = [0.0]
    adapter = FakeAdapter(fresh_db, [outbox.SendResult(retry_in=30, pause=True)])
    deliverer = outbox.Deliverer(adapter, fresh_db, clock=lambda: now[0])
    assert asyncio.run(deliverer.deliver_once()) == 0
    assert [s[0] for s in adapter.sent] == [ids[0]]  # nothing else sent in that run
    assert row(fresh_db, ids[1]) == (1, False)  # claimed in the same batch: waits as long
    assert asyncio.run(deliverer.deliver_once()) == 0
    now[0] += 30
    assert asyncio.run(deliverer.deliver_once()) == 3
    assert [row(fresh_db, i) for i in ids] == [(2, True), (2, True), (2, True)]


def test_household_messages_reach_linked_members_only_after_linking(fresh_db):
    with session_scope(url=fresh_db) as s:
        user = s.execute(select(User).where(User.login == "hh035")).scalar_one()
        user_id, household_id = user.id, user.resident.household_id
    old = record(fresh_db, None, "链接以前的户通知", household_id=household_id)
    link(fresh_db, "hh035", "d1")
    new = record(fresh_db, None, "户里的新通知", household_id=household_id)
    adapter = FakeAdapter(fresh_db)
    assert asyncio.run(outbox.Deliverer(adapter, fresh_db).deliver_once()) == 1
    assert adapter.sent == [(new, ("d1",), 1)] and row(fresh_db, old) == (0, False)
