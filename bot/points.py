"""Village points (积分制 / 道德银行 / 积分超市): balance, history, rules, awards, redemption.

The ledger (``PointsEntry``) is append-only; a household's balance is the sum of its
entries. ``PointsBalance`` holds that sum as one row per household, updated in the same
transaction as each entry; the row is locked first, so concurrent writers queue and a
balance or a stock can never go negative. Every write carries an idempotency key: a
retried request returns the first result instead of crediting twice.
"""
from __future__ import annotations

import datetime as dt
import difflib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.identity import Actor, AccessDenied, audit, require_household, require_staff
from bot.models import Household, PointsBalance, PointsEntry, PointsRule, Redemption, ShopItem, utcnow


class PointsError(Exception):
    pass


class NoHousehold(PointsError):
    """The actor is not linked to a household."""


@dataclass
class InsufficientPoints(PointsError):
    item: str
    needed: int
    balance: int
    affordable: list[str]

    @property
    def shortfall(self) -> int:
        return self.needed - self.balance


@dataclass
class OutOfStock(PointsError):
    item: str
    stock: int
    alternatives: list[str]


@dataclass
class UnknownItem(PointsError):
    text: str
    suggestions: list[str]


@dataclass
class UnknownRule(PointsError):
    text: str
    suggestions: list[str]


@dataclass(frozen=True)
class BalanceSummary:
    balance: int
    change_this_month: int
    rank: int | None
    households: int


@dataclass(frozen=True)
class LedgerLine:
    at: dt.datetime
    delta: int
    reason: str
    rule: str | None


@dataclass(frozen=True)
class RedemptionResult:
    item: str
    unit: str
    quantity: int
    points: int
    pickup_code: str
    balance_after: int
    replayed: bool = False


def _own_household(s: Session, actor: Actor) -> Household:
    if actor.household_id is None:
        raise NoHousehold(actor.sender_id)
    return require_household(s, actor, actor.household_id, "points")


def balance_of(s: Session, household_id: int) -> int:
    value = s.execute(
        select(PointsBalance.balance).where(PointsBalance.household_id == household_id)
    ).scalar_one_or_none()
    return value or 0


def ledger_sum(s: Session, household_id: int) -> int:
    return s.execute(
        select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(PointsEntry.household_id == household_id)
    ).scalar_one()


def summary(s: Session, actor: Actor, now: dt.datetime | None = None) -> BalanceSummary:
    household = _own_household(s, actor)
    now = now or utcnow()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    balance = balance_of(s, household.id)
    change = s.execute(
        select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
            PointsEntry.household_id == household.id, PointsEntry.at >= month_start
        )
    ).scalar_one()
    rank = None
    total = s.execute(
        select(func.count(Household.id)).where(Household.village_id == household.village_id)
    ).scalar_one()
    if household.village.publish_ranking:
        higher = s.execute(
            select(func.count(PointsBalance.household_id))
            .join(Household, Household.id == PointsBalance.household_id)
            .where(Household.village_id == household.village_id, PointsBalance.balance > balance)
        ).scalar_one()
        rank = higher + 1
    audit(s, actor, "read", "points_balance", household.id)
    return BalanceSummary(balance=balance, change_this_month=change, rank=rank, households=total)


def history(s: Session, actor: Actor, limit: int = 5, only_deductions: bool = False,
            since: dt.datetime | None = None) -> list[LedgerLine]:
    household = _own_household(s, actor)
    query = select(PointsEntry).where(PointsEntry.household_id == household.id)
    if only_deductions:
        query = query.where(PointsEntry.delta < 0)
    if since is not None:
        query = query.where(PointsEntry.at >= since)
    rows = s.execute(query.order_by(PointsEntry.at.desc(), PointsEntry.id.desc()).limit(limit)).scalars()
    return [LedgerLine(at=e.at, delta=e.delta, reason=e.reason, rule=e.rule.name if e.rule else None) for e in rows]


def rules(s: Session, village_id: int, activity: str | None = None) -> list[PointsRule]:
    all_rules = list(s.execute(
        select(PointsRule).where(PointsRule.village_id == village_id).order_by(PointsRule.points.desc())
    ).scalars())
    if activity:
        matched = [r for r in all_rules if activity in (r.activity, r.name) or activity in r.name]
        if matched:
            return matched
        close = difflib.get_close_matches(activity, [r.activity for r in all_rules], n=1, cutoff=0.4)
        return [r for r in all_rules if close and r.activity == close[0]]
    return all_rules


def find_rule(s: Session, village_id: int, text: str) -> PointsRule:
    matched = rules(s, village_id, text)
    if len(matched) == 1:
        return matched[0]
    names = [r.activity for r in rules(s, village_id)]
    raise UnknownRule(text, difflib.get_close_matches(text, names, n=3, cutoff=0.2) or names[:3])


def find_item(s: Session, village_id: int, text: str) -> ShopItem:
    items = list(s.execute(select(ShopItem).where(ShopItem.village_id == village_id)).scalars())
    text = (text or "").strip()
    for item in items:
        if text == item.name or text in (item.aliases or []):
            return item
    for item in items:
        if item.name in text or any(alias and alias in text for alias in item.aliases or []):
            return item
    names = {name: item for item in items for name in [item.name, *(item.aliases or [])]}
    close = difflib.get_close_matches(text, list(names), n=1, cutoff=0.5)
    if close:
        return names[close[0]]
    raise UnknownItem(text, [i.name for i in items if i.stock > 0][:3])


def _lock_balance(s: Session, household_id: int) -> PointsBalance:
    row = s.execute(
        select(PointsBalance).where(PointsBalance.household_id == household_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        row = PointsBalance(household_id=household_id, balance=0)
        s.add(row)
        s.flush()
    return row


def _existing_entry(s: Session, key: str) -> PointsEntry | None:
    return s.execute(select(PointsEntry).where(PointsEntry.idempotency_key == key)).scalar_one_or_none()


def post_entry(s: Session, actor: Actor, household: Household, delta: int, reason: str, key: str,
               rule: PointsRule | None = None, reverses_id: int | None = None) -> PointsEntry:
    """Append one ledger entry and move the balance, under the household's row lock."""
    balance = _lock_balance(s, household.id)
    existing = _existing_entry(s, key)
    if existing is not None:
        return existing
    if balance.balance + delta < 0:
        raise InsufficientPoints(reason, -delta, balance.balance, [])
    entry = PointsEntry(
        village_id=household.village_id, household_id=household.id, rule_id=rule.id if rule else None,
        delta=delta, reason=reason, actor_id=actor.user_id, idempotency_key=key, reverses_id=reverses_id,
    )
    s.add(entry)
    balance.balance += delta
    s.flush()
    return entry


def award(s: Session, actor: Actor, household_id: int, rule_text: str, reason: str, key: str) -> PointsEntry:
    """Staff award or deduct points for a household, always by a named rule."""
    require_staff(actor, "award points")
    household = require_household(s, actor, household_id, "award points")
    rule = find_rule(s, household.village_id, rule_text)
    entry = post_entry(s, actor, household, rule.points, f"{rule.name}：{reason}" if reason else rule.name,
                       key, rule=rule)
    audit(s, actor, "write", "points_entry", entry.id, f"{rule.code} {rule.points:+d}")
    return entry


def reverse(s: Session, actor: Actor, entry_id: int, reason: str, key: str) -> PointsEntry:
    """Correct a mistaken entry with a reversing entry; the original stays in the ledger."""
    require_staff(actor, "reverse points")
    original = s.get(PointsEntry, entry_id)
    if original is None:
        raise AccessDenied(f"no entry {entry_id}")
    household = require_household(s, actor, original.household_id, "reverse points")
    return post_entry(s, actor, household, -original.delta, f"更正：{reason}", key, reverses_id=original.id)


def _pickup_code(s: Session) -> str:
    while True:
        code = f"{secrets.randbelow(9000) + 1000}"
        if not s.execute(select(Redemption.id).where(Redemption.pickup_code == code)).first():
            return code


def redeem(s: Session, actor: Actor, item_text: str, quantity: int, key: str) -> RedemptionResult:
    """Spend points on shop goods: checks price, balance and stock, then records the
    redemption, the ledger entry and the stock decrement in one transaction."""
    if quantity < 1 or quantity > 20:
        raise PointsError("quantity")
    household = _own_household(s, actor)
    item = find_item(s, household.village_id, item_text)
    balance = _lock_balance(s, household.id)
    replay = _existing_entry(s, key)
    if replay is not None:
        red = s.execute(select(Redemption).where(Redemption.entry_id == replay.id)).scalar_one()
        return RedemptionResult(item.name, item.unit, red.quantity, red.points, red.pickup_code,
                                balance.balance, replayed=True)
    cost = item.price * quantity
    others = list(s.execute(
        select(ShopItem).where(ShopItem.village_id == household.village_id, ShopItem.stock > 0,
                               ShopItem.id != item.id).order_by(ShopItem.price)
    ).scalars())
    if item.stock < quantity:
        raise OutOfStock(item.name, item.stock, [o.name for o in others if o.price <= balance.balance][:3])
    if balance.balance < cost:
        raise InsufficientPoints(item.name, cost, balance.balance,
                                 [o.name for o in others if o.price <= balance.balance][:3])
    # Conditional decrement: never below zero even if two writers race past the check.
    updated = s.execute(
        update(ShopItem).where(ShopItem.id == item.id, ShopItem.stock >= quantity)
        .values(stock=ShopItem.stock - quantity)
    )
    if updated.rowcount != 1:
        raise OutOfStock(item.name, 0, [o.name for o in others][:3])
    entry = post_entry(s, actor, household, -cost, f"积分超市兑换{item.name}{quantity}{item.unit}", key)
    code = _pickup_code(s)
    s.add(Redemption(village_id=household.village_id, household_id=household.id, item_id=item.id,
                     quantity=quantity, points=cost, pickup_code=code, entry_id=entry.id, actor_id=actor.user_id))
    audit(s, actor, "write", "redemption", household.id, f"{item.name} x{quantity}")
    return RedemptionResult(item.name, item.unit, quantity, cost, code, balance.balance)


def with_retry_on_conflict(fn, attempts: int = 3):
    """Run a write that may lose an idempotency-key race; the loser replays the winner."""
    for attempt in range(attempts):
        try:
            return fn()
        except IntegrityError:
            if attempt == attempts - 1:
                raise
