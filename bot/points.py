"""Village points (积分制 / 道德银行 / 积分超市): balance, history, rules, awards,
redemption, corrections and appeals.

The ledger (``PointsEntry``) is append-only; a household's balance is the sum of its
entries. ``PointsBalance`` holds that sum as one row per household, updated in the same
transaction as each entry; the row is locked first, so concurrent writers to one
household queue and a balance or a stock can never go negative. Every write carries an
idempotency key: a retried request returns the first result instead of crediting twice,
and when two copies of one request race, the loser's unique-key violation is caught in a
SAVEPOINT and it returns the winner's entry. A mistaken entry is corrected by a reversing
entry, at most once (the database enforces it).

Appeals (扣分申诉): a household may appeal one of its deductions; the grid worker who
looks after the household is notified, and staff uphold or overturn it. Overturning posts
the reversing entry, keyed by the appeal, so deciding twice cannot refund twice.

Villages that count points per person (``Village.points_per_person``) credit each entry
to a resident (the household head unless another member is named); summary, history and
redemption then speak about the asking person's own points. The household row still holds
the household total, and its lock still serialises every writer.

Lock order, everywhere: household balance row, then the appeal or shop item row.
"""
from __future__ import annotations

import datetime as dt
import difflib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.outbox import notify
from bot.identity import Actor, AccessDenied, audit, require_household, require_staff
from bot.text import month_day
from bot.models import (
    AppealState,
    Household,
    PointsAppeal,
    PointsBalance,
    PointsEntry,
    PointsRule,
    Redemption,
    Resident,
    Role,
    ShopItem,
    User,
    utcnow,
)


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


class NotReversible(PointsError):
    """Redemptions and corrections themselves are not corrected with a reversing entry."""


class NotAppealable(PointsError):
    """Only a deduction that has not been corrected yet can be appealed."""


@dataclass
class AppealAlreadyOpen(PointsError):
    appeal_id: int


class AppealClosed(PointsError):
    """The appeal was decided already."""


@dataclass(frozen=True)
class BalanceSummary:
    balance: int
    change_this_month: int
    rank: int | None
    out_of: int  # households ranked, or residents when the village counts per person
    per_person: bool = False


@dataclass(frozen=True)
class LedgerLine:
    entry_id: int
    at: dt.datetime
    delta: int
    reason: str
    rule: str | None
    rule_description: str | None = None
    appealable: bool = False
    appeal_open: bool = False


@dataclass(frozen=True)
class RedemptionResult:
    item: str
    unit: str
    quantity: int
    points: int
    pickup_code: str
    balance_after: int
    replayed: bool = False


@dataclass(frozen=True)
class AppealView:
    id: int
    household_number: int
    entry_id: int
    entry_at: dt.datetime
    entry_reason: str
    delta: int
    reason: str
    created_at: dt.datetime


# --- whose points --------------------------------------------------------------------

def _own_household(s: Session, actor: Actor) -> Household:
    if actor.household_id is None:
        raise NoHousehold(actor.sender_id)
    return require_household(s, actor, actor.household_id, "points")


def _subject(s: Session, actor: Actor) -> tuple[Household, int | None]:
    """The household the actor speaks for and, in a per-person village, the actor's own
    resident id (None for a household device that speaks for the whole family)."""
    household = _own_household(s, actor)
    if not household.village.points_per_person or actor.user_id is None:
        return household, None
    resident_id = s.execute(
        select(Resident.id).join(User, User.resident_id == Resident.id)
        .where(User.id == actor.user_id, Resident.household_id == household.id)
    ).scalar_one_or_none()
    return household, resident_id


def _credited_resident(household: Household, resident_id: int | None) -> int | None:
    """Who an award is credited to: the named member, or in a per-person village the head."""
    if resident_id is not None:
        if resident_id not in {r.id for r in household.residents}:
            raise PointsError(f"resident {resident_id} is not in household {household.id}")
        return resident_id
    if not household.village.points_per_person or not household.residents:
        return None
    return next((r.id for r in household.residents if r.is_head), household.residents[0].id)


def balance_of(s: Session, household_id: int, resident_id: int | None = None) -> int:
    """The household's balance, or one resident's balance (the sum of their entries)."""
    if resident_id is not None:
        return s.execute(
            select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(PointsEntry.resident_id == resident_id)
        ).scalar_one()
    value = s.execute(
        select(PointsBalance.balance).where(PointsBalance.household_id == household_id)
    ).scalar_one_or_none()
    return value or 0


def spendable(s: Session, actor: Actor) -> int:
    """What the actor may spend: the household balance, or their own in a per-person village."""
    household, person = _subject(s, actor)
    return balance_of(s, household.id, person)


def ledger_sum(s: Session, household_id: int) -> int:
    return s.execute(
        select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(PointsEntry.household_id == household_id)
    ).scalar_one()


# --- reading ---------------------------------------------------------------------------

def summary(s: Session, actor: Actor, now: dt.datetime | None = None) -> BalanceSummary:
    household, person = _subject(s, actor)
    now = now or utcnow()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    balance = balance_of(s, household.id, person)
    mine = PointsEntry.resident_id == person if person else PointsEntry.household_id == household.id
    change = s.execute(
        select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(mine, PointsEntry.at >= month_start)
    ).scalar_one()
    village_id = household.village_id
    if person:
        out_of = s.execute(
            select(func.count(Resident.id)).join(Household).where(Household.village_id == village_id)
        ).scalar_one()
        per_resident = (
            select(PointsEntry.resident_id)
            .where(PointsEntry.village_id == village_id, PointsEntry.resident_id.is_not(None))
            .group_by(PointsEntry.resident_id)
            .having(func.sum(PointsEntry.delta) > balance)
            .subquery()
        )
        higher = select(func.count()).select_from(per_resident)
    else:
        out_of = s.execute(
            select(func.count(Household.id)).where(Household.village_id == village_id)
        ).scalar_one()
        higher = (
            select(func.count(PointsBalance.household_id))
            .join(Household, Household.id == PointsBalance.household_id)
            .where(Household.village_id == village_id, PointsBalance.balance > balance)
        )
    rank = s.execute(higher).scalar_one() + 1 if household.village.publish_ranking else None
    audit(s, actor, "read", "points_balance", household.id, f"resident {person}" if person else "",
          household_id=household.id)
    return BalanceSummary(balance=balance, change_this_month=change, rank=rank, out_of=out_of,
                          per_person=person is not None)


def _is_deduction(entry: PointsEntry) -> bool:
    """A penalty by rule or a correction that took points away; spending is not a deduction."""
    return entry.delta < 0 and (entry.rule_id is not None or entry.reverses_id is not None)


IS_DEDUCTION = (PointsEntry.delta < 0) & (PointsEntry.rule_id.is_not(None) | PointsEntry.reverses_id.is_not(None))


def history(s: Session, actor: Actor, limit: int = 5, only_deductions: bool = False,
            since: dt.datetime | None = None) -> list[LedgerLine]:
    household, person = _subject(s, actor)
    query = select(PointsEntry).where(PointsEntry.household_id == household.id)
    if person:
        query = query.where(PointsEntry.resident_id == person)
    if only_deductions:
        query = query.where(IS_DEDUCTION)
    if since is not None:
        query = query.where(PointsEntry.at >= since)
    rows = list(s.execute(query.order_by(PointsEntry.at.desc(), PointsEntry.id.desc()).limit(limit)).scalars())
    ids = [e.id for e in rows]
    reversed_ids = set(s.execute(select(PointsEntry.reverses_id).where(PointsEntry.reverses_id.in_(ids))).scalars())
    appealed = set(s.execute(select(PointsAppeal.entry_id).where(
        PointsAppeal.entry_id.in_(ids), PointsAppeal.state == AppealState.open)).scalars())
    return [
        LedgerLine(
            entry_id=e.id, at=e.at, delta=e.delta, reason=e.reason,
            rule=e.rule.name if e.rule else None, rule_description=e.rule.description if e.rule else None,
            appealable=_is_deduction(e) and e.id not in reversed_ids and e.id not in appealed,
            appeal_open=e.id in appealed,
        )
        for e in rows
    ]


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


# --- the ledger ----------------------------------------------------------------------

def _lock_balance(s: Session, household_id: int) -> PointsBalance:
    query = (select(PointsBalance).where(PointsBalance.household_id == household_id)
             .with_for_update().execution_options(populate_existing=True))
    row = s.execute(query).scalar_one_or_none()
    if row is None:
        try:
            with s.begin_nested():
                s.add(PointsBalance(household_id=household_id, balance=0))
        except IntegrityError:
            pass  # a concurrent writer created the row first: lock theirs
        row = s.execute(query).scalar_one()
    return row


def _existing_entry(s: Session, key: str) -> PointsEntry | None:
    return s.execute(select(PointsEntry).where(PointsEntry.idempotency_key == key)).scalar_one_or_none()


def _replay(existing: PointsEntry, household: Household) -> PointsEntry:
    if existing.household_id != household.id:
        raise PointsError(f"idempotency key {existing.idempotency_key!r} belongs to another household")
    return existing


def post_entry(s: Session, actor: Actor, household: Household, delta: int, reason: str, key: str,
               rule: PointsRule | None = None, reverses_id: int | None = None,
               resident_id: int | None = None) -> PointsEntry:
    """Append one ledger entry and move the balance, under the household's row lock.

    Replays the entry already written under ``key``. A concurrent duplicate that slips
    past the check (the unique key, or the one-reversal-per-entry index) is caught in a
    SAVEPOINT, and the winner's entry is returned."""
    balance = _lock_balance(s, household.id)
    existing = _existing_entry(s, key)
    if existing is not None:
        return _replay(existing, household)
    available = balance.balance
    if resident_id is not None and household.village.points_per_person:
        available = min(available, balance_of(s, household.id, resident_id))
    if available + delta < 0:
        raise InsufficientPoints(reason, -delta, available, [])
    entry = PointsEntry(
        village_id=household.village_id, household_id=household.id, resident_id=resident_id,
        rule_id=rule.id if rule else None, delta=delta, reason=reason, actor_id=actor.user_id,
        idempotency_key=key, reverses_id=reverses_id,
    )
    try:
        with s.begin_nested():
            s.add(entry)
    except IntegrityError:
        winner = _existing_entry(s, key)
        if winner is None and reverses_id is not None:
            winner = _reversal_of(s, reverses_id)
        if winner is None:
            raise
        return _replay(winner, household)
    balance.balance += delta
    s.flush()
    return entry


def award(s: Session, actor: Actor, household_id: int, rule_text: str, reason: str, key: str,
          resident_id: int | None = None) -> PointsEntry:
    """Staff award or deduct points for a household (in a per-person village: for one of
    its residents, the head by default), always by a named rule."""
    require_staff(actor, "award points")
    household = require_household(s, actor, household_id, "award points")
    rule = find_rule(s, household.village_id, rule_text)
    entry = post_entry(s, actor, household, rule.points, f"{rule.name}：{reason}" if reason else rule.name,
                       key, rule=rule, resident_id=_credited_resident(household, resident_id))
    audit(s, actor, "write", "points_entry", entry.id, f"{rule.code} {rule.points:+d}", household_id=household.id)
    return entry


def _reversal_of(s: Session, entry_id: int) -> PointsEntry | None:
    return s.execute(select(PointsEntry).where(PointsEntry.reverses_id == entry_id)).scalar_one_or_none()


def _reverse_entry(s: Session, actor: Actor, household: Household, original: PointsEntry,
                   reason: str, key: str) -> PointsEntry:
    """The reversing entry for ``original``: written once; asking again returns it."""
    _lock_balance(s, household.id)
    existing = _existing_entry(s, key) or _reversal_of(s, original.id)
    if existing is not None:
        return _replay(existing, household)
    if original.reverses_id is not None:
        raise NotReversible("a correction is not corrected again; award or deduct by rule instead")
    if s.execute(select(Redemption.id).where(Redemption.entry_id == original.id)).first():
        raise NotReversible("a redemption is not reversed with a ledger correction")
    return post_entry(s, actor, household, -original.delta, reason, key, reverses_id=original.id,
                      resident_id=original.resident_id)


def reverse(s: Session, actor: Actor, entry_id: int, reason: str, key: str) -> PointsEntry:
    """Correct a mistaken entry with a reversing entry; the original stays in the ledger.
    An entry is reversed at most once: asking again returns the first correction."""
    require_staff(actor, "reverse points")
    original = s.get(PointsEntry, entry_id)
    if original is None:
        raise AccessDenied(f"no entry {entry_id}")
    household = require_household(s, actor, original.household_id, "reverse points")
    entry = _reverse_entry(s, actor, household, original, f"更正：{reason}", key)
    audit(s, actor, "write", "points_entry", entry.id, f"reverses {original.id}: {reason}",
          household_id=original.household_id)
    return entry


# --- the shop --------------------------------------------------------------------------

def _pickup_code(s: Session, digits: int = 4) -> str:
    """A short code not yet used; longer once short codes get crowded."""
    for _ in range(20):
        code = str(10 ** (digits - 1) + secrets.randbelow(9 * 10 ** (digits - 1)))
        if not s.execute(select(Redemption.id).where(Redemption.pickup_code == code)).first():
            return code
    return _pickup_code(s, digits + 2)


def _add_redemption(s: Session, **fields) -> Redemption:
    """Insert a redemption; a pickup code taken by a concurrent redemption is drawn again."""
    for _ in range(10):
        redemption = Redemption(pickup_code=_pickup_code(s), **fields)
        try:
            with s.begin_nested():
                s.add(redemption)
            return redemption
        except IntegrityError:
            continue
    raise PointsError("could not draw a free pickup code")


def redeem(s: Session, actor: Actor, item_text: str, quantity: int, key: str) -> RedemptionResult:
    """Spend points on shop goods: checks price, balance and stock, then records the
    redemption, the ledger entry and the stock decrement in one transaction."""
    if quantity < 1 or quantity > 20:
        raise PointsError("quantity")
    household, person = _subject(s, actor)
    item = find_item(s, household.village_id, item_text)
    _lock_balance(s, household.id)
    replay = _existing_entry(s, key)
    if replay is not None:
        _replay(replay, household)
        red = s.execute(select(Redemption).where(Redemption.entry_id == replay.id)).scalar_one()
        return RedemptionResult(red.item.name, red.item.unit, red.quantity, red.points, red.pickup_code,
                                balance_of(s, household.id, person), replayed=True)
    available = balance_of(s, household.id, person)
    cost = item.price * quantity
    others = list(s.execute(
        select(ShopItem).where(ShopItem.village_id == household.village_id, ShopItem.stock > 0,
                               ShopItem.id != item.id).order_by(ShopItem.price)
    ).scalars())
    affordable = [o.name for o in others if o.price <= available][:3]
    if item.stock < quantity:
        raise OutOfStock(item.name, item.stock, affordable)
    if available < cost:
        raise InsufficientPoints(item.name, cost, available, affordable)
    # Conditional decrement: never below zero even if two writers race past the check.
    updated = s.execute(
        update(ShopItem).where(ShopItem.id == item.id, ShopItem.stock >= quantity)
        .values(stock=ShopItem.stock - quantity)
    )
    if updated.rowcount != 1:
        raise OutOfStock(item.name, 0, affordable)
    entry = post_entry(s, actor, household, -cost, f"积分超市兑换{item.name}{quantity}{item.unit}", key,
                       resident_id=person)
    red = _add_redemption(s, village_id=household.village_id, household_id=household.id, item_id=item.id,
                          quantity=quantity, points=cost, entry_id=entry.id, actor_id=actor.user_id)
    audit(s, actor, "write", "redemption", household.id, f"{item.name} x{quantity}", household_id=household.id)
    return RedemptionResult(item.name, item.unit, quantity, cost, red.pickup_code, balance_of(s, household.id, person))


# --- appeals ---------------------------------------------------------------------------

def appeal(s: Session, actor: Actor, entry_id: int, reason: str) -> PointsAppeal:
    """A household appeals one of its deductions; its contact grid worker is notified.
    One open appeal per entry: a second one raises ``AppealAlreadyOpen``."""
    household = _own_household(s, actor)
    _lock_balance(s, household.id)  # serialises appeals and decisions for this household
    entry = s.get(PointsEntry, entry_id)
    if entry is None or entry.household_id != household.id:
        audit(s, actor, "refused", "points_entry", entry_id, "appeal")
        raise AccessDenied(f"{actor.sender_id} may not appeal entry {entry_id}")
    if not _is_deduction(entry):
        raise NotAppealable(f"entry {entry_id} is not a deduction")
    if _reversal_of(s, entry.id) is not None:
        raise NotAppealable(f"entry {entry_id} was corrected already")
    found = _open_appeal(s, entry.id)
    if found is not None:
        raise AppealAlreadyOpen(found.id)
    new = PointsAppeal(entry_id=entry.id, household_id=household.id, reason=(reason or "").strip()[:500],
                       state=AppealState.open)
    try:
        with s.begin_nested():
            s.add(new)
    except IntegrityError:
        found = _open_appeal(s, entry.id)  # a concurrent appeal for the same entry won
        if found is None:
            raise
        raise AppealAlreadyOpen(found.id) from None
    notify(s, household.contact_user_id, "points_appeal",
           f"{household.number}号户（{household.address}）对{month_day(entry.at)}的扣分"
           f"“{entry.reason}”（{-entry.delta}分）提出申诉，申诉编号{new.id}。"
           f"理由：{new.reason or '没有说明'}。请核实后维持或撤销。",
           f"points_appeal:{new.id}", payload={"appeal_id": new.id, "entry_id": entry.id})
    audit(s, actor, "write", "points_appeal", new.id, f"entry {entry.id}", household_id=household.id)
    return new


def _open_appeal(s: Session, entry_id: int) -> PointsAppeal | None:
    return s.execute(select(PointsAppeal).where(
        PointsAppeal.entry_id == entry_id, PointsAppeal.state == AppealState.open)).scalar_one_or_none()


def decide_appeal(s: Session, staff_actor: Actor, appeal_id: int, overturn: bool, note: str,
                  now: dt.datetime | None = None) -> PointsAppeal:
    """Staff uphold or overturn an appeal. Overturning posts the reversing entry under a
    key derived from the appeal, so a repeated decision cannot refund twice."""
    require_staff(staff_actor, "decide appeal")
    found = s.get(PointsAppeal, appeal_id)
    if found is None:
        raise AccessDenied(f"no appeal {appeal_id}")
    household = require_household(s, staff_actor, found.household_id, "decide appeal")
    _lock_balance(s, household.id)
    s.refresh(found)  # its state as of now, under the household lock
    if found.state != AppealState.open:
        raise AppealClosed(f"appeal {appeal_id} is {found.state.value}")
    entry = found.entry
    note = (note or "").strip()
    if overturn:
        _reverse_entry(s, staff_actor, household, entry, f"申诉成立，撤销扣分：{note or entry.reason}",
                       f"appeal:{found.id}:overturn")
        found.state = AppealState.overturned
        text = f"您家对{month_day(entry.at)}扣分的申诉，核实后已经撤销，{-entry.delta}分退回来了。"
    else:
        found.state = AppealState.upheld
        text = f"您家对{month_day(entry.at)}扣分的申诉，核实后维持原来的扣分。" + (f"说明：{note}。" if note else "")
    found.decided_by = staff_actor.user_id
    found.decided_at = now or utcnow()
    found.decision_note = note
    s.flush()
    notify(s, None, "points_appeal_decided", text, f"points_appeal:{found.id}:decided",
           household_id=household.id, payload={"appeal_id": found.id, "state": found.state.value})
    audit(s, staff_actor, "write", "points_appeal", found.id, f"{found.state.value}: {note}",
          household_id=found.household_id)
    return found


def open_appeals(s: Session, staff_actor: Actor) -> list[AppealView]:
    """Open appeals the staff member may decide: their grids (an admin: the whole village)."""
    require_staff(staff_actor, "list appeals")
    query = (
        select(PointsAppeal, Household, PointsEntry)
        .join(Household, Household.id == PointsAppeal.household_id)
        .join(PointsEntry, PointsEntry.id == PointsAppeal.entry_id)
        .where(PointsAppeal.state == AppealState.open, Household.village_id == staff_actor.village_id)
        .order_by(PointsAppeal.created_at, PointsAppeal.id)
    )
    if staff_actor.role != Role.admin:
        query = query.where(Household.grid_id.in_(staff_actor.grid_ids))
    return [
        AppealView(id=a.id, household_number=h.number, entry_id=e.id, entry_at=e.at, entry_reason=e.reason,
                   delta=e.delta, reason=a.reason, created_at=a.created_at)
        for a, h, e in s.execute(query).all()
    ]
