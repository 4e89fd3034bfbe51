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

Where points are earned: staff award by rule for one household (:func:`award`), by quantity
for recyclables (:func:`award_by_quantity`: "王大娘送来30个塑料瓶" → 3 分 under 塑料瓶 10个=1分), or
for many households at once (:func:`award_bulk`, idempotent per household and event key).
Villagers apply for points for a deed (:func:`apply_for_points`); staff approve (the entry is
booked once, keyed by the application) or reject with a reason (:func:`decide_application`).

The shop keeper (role ``shopkeeper``) may do exactly two things: hand out a redemption by its
pickup code (:func:`collect_pickup`) and book delivered stock (:func:`replenish_stock`).

Lock order, everywhere: household balance rows (ascending household id when there are several),
then the appeal, application or shop item row.
"""
from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import secrets
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.outbox import notify
from bot.identity import (
    Actor,
    AccessDenied,
    audit,
    relative_household_ids,
    require_household,
    require_role,
    require_staff,
    village_admin_id,
)
from bot.text import month_day
from bot.models import (
    AppealState,
    ApplicationState,
    Household,
    PointsAppeal,
    PointsApplication,
    PointsBalance,
    PointsEntry,
    PointsRule,
    Redemption,
    Resident,
    Role,
    ShopItem,
    StockReceipt,
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
    earned_this_month: int = 0
    deducted_this_month: int = 0  # penalties by rule (扣分), as a positive number
    spent_this_month: int = 0  # spent in the points shop (兑换), as a positive number
    earned_this_year: int = 0  # what the rank is based on


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
    spent: bool = False  # points spent in the shop: no deduction (see IS_SPENDING)


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

def reading_household_id(s: Session, actor: Actor) -> int | None:
    """Whose points the actor may hear: their own household's, or, for a relative's account
    (子女在外) linked by the village to exactly one household, that household's (read only:
    spending and appeals stay with the household itself)."""
    if actor.household_id is not None:
        return actor.household_id
    if actor.is_relative:
        linked = relative_household_ids(s, actor.user_id)
        if len(linked) == 1:
            return linked[0]
    return None


def _own_household(s: Session, actor: Actor, reading: bool = False) -> Household:
    if reading and actor.household_id is None:
        household_id = reading_household_id(s, actor)
        household = s.get(Household, household_id) if household_id is not None else None
        if household is None or household.village_id != actor.village_id:
            raise NoHousehold(actor.sender_id)
        # a relative's linked household, found by the link itself; every such read is audited
        audit(s, actor, "read", "points_linked", household.id, "relative", household_id=household.id)
        return household
    if actor.household_id is None:
        raise NoHousehold(actor.sender_id)
    return require_household(s, actor, actor.household_id, "points")


def _subject(s: Session, actor: Actor, reading: bool = False) -> tuple[Household, int | None]:
    """The household the actor speaks for and, in a per-person village, the actor's own
    resident id (None for a household device that speaks for the whole family). ``reading``:
    a balance or history only, which a linked relative may hear too."""
    household = _own_household(s, actor, reading)
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

IS_DEDUCTION = (PointsEntry.delta < 0) & (PointsEntry.rule_id.is_not(None) | PointsEntry.reverses_id.is_not(None))
#: Points spent in the shop (a redemption's entry): neither a penalty nor a loss of standing.
IS_SPENDING = (PointsEntry.delta < 0) & PointsEntry.rule_id.is_(None) & PointsEntry.reverses_id.is_(None)


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    """The first instant of ``now``'s month (UTC, as the ledger's times are)."""
    return (now or utcnow()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _month_totals(s: Session, mine, since: dt.datetime) -> tuple[int, int, int]:
    """Points earned, deducted (penalties) and spent in the shop since ``since``, each positive."""
    earned, deducted, spent = s.execute(
        select(func.coalesce(func.sum(case((PointsEntry.delta > 0, PointsEntry.delta), else_=0)), 0),
               func.coalesce(func.sum(case((IS_DEDUCTION, -PointsEntry.delta), else_=0)), 0),
               func.coalesce(func.sum(case((IS_SPENDING, -PointsEntry.delta), else_=0)), 0))
        .where(mine, PointsEntry.at >= since)
    ).one()
    return earned, deducted, spent


def _own(household: Household, person: int | None):
    return PointsEntry.resident_id == person if person else PointsEntry.household_id == household.id


def month_totals(s: Session, actor: Actor, now: dt.datetime | None = None) -> tuple[int, int, int]:
    """This month's points earned, deducted (penalties) and spent in the shop: the figures of the
    balance's month clause, without the balance and the rank."""
    household, person = _subject(s, actor, reading=True)
    audit(s, actor, "read", "points_balance", household.id, f"resident {person}" if person else "",
          household_id=household.id)
    return _month_totals(s, _own(household, person), month_start(now))


def summary(s: Session, actor: Actor, now: dt.datetime | None = None) -> BalanceSummary:
    """The balance, this month's points earned / deducted (penalties) / spent in the shop
    separately, and the rank by points *earned* this year (spending in the points shop must
    not lower anyone's standing)."""
    household, person = _subject(s, actor, reading=True)
    this_month = month_start(now)
    year_start = this_month.replace(month=1)
    balance = balance_of(s, household.id, person)
    mine = _own(household, person)
    earned, deducted, spent = _month_totals(s, mine, this_month)
    village_id = household.village_id
    subject = PointsEntry.resident_id if person else PointsEntry.household_id
    earned_this_year = (
        select(subject.label("who"), func.sum(PointsEntry.delta).label("earned"))
        .where(PointsEntry.village_id == village_id, PointsEntry.at >= year_start, ~IS_SPENDING,
               subject.is_not(None))
        .group_by(subject)
        .subquery()
    )
    mine_this_year = s.execute(
        select(func.coalesce(func.sum(PointsEntry.delta), 0))
        .where(mine, PointsEntry.at >= year_start, ~IS_SPENDING)
    ).scalar_one()
    if person:
        out_of = s.execute(
            select(func.count(Resident.id)).join(Household).where(Household.village_id == village_id)
        ).scalar_one()
    else:
        out_of = s.execute(
            select(func.count(Household.id)).where(Household.village_id == village_id)
        ).scalar_one()
    higher = select(func.count()).select_from(earned_this_year).where(earned_this_year.c.earned > mine_this_year)
    rank = s.execute(higher).scalar_one() + 1 if household.village.publish_ranking else None
    audit(s, actor, "read", "points_balance", household.id, f"resident {person}" if person else "",
          household_id=household.id)
    return BalanceSummary(balance=balance, change_this_month=earned - deducted - spent, rank=rank, out_of=out_of,
                          per_person=person is not None, earned_this_month=earned,
                          deducted_this_month=deducted, spent_this_month=spent, earned_this_year=mine_this_year)


def _is_deduction(entry: PointsEntry) -> bool:
    """A penalty by rule or a correction that took points away; spending is not a deduction."""
    return entry.delta < 0 and (entry.rule_id is not None or entry.reverses_id is not None)




def history(s: Session, actor: Actor, limit: int = 5, only_deductions: bool = False,
            since: dt.datetime | None = None) -> list[LedgerLine]:
    household, person = _subject(s, actor, reading=True)
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
            spent=e.delta < 0 and e.rule_id is None and e.reverses_id is None,
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


def catalogue(s: Session, village_id: int) -> list[ShopItem]:
    """What the points shop has in stock, cheapest first."""
    query = (select(ShopItem).where(ShopItem.village_id == village_id, ShopItem.stock > 0)
             .order_by(ShopItem.price, ShopItem.name))
    return list(s.execute(query).scalars())


def item_named(s: Session, village_id: int, name: str | None) -> ShopItem | None:
    """The shop item with exactly this name or alias (no guessing), or None."""
    if not name:
        return None
    items = s.execute(select(ShopItem).where(ShopItem.village_id == village_id)).scalars()
    return next((item for item in items if name == item.name or name in (item.aliases or [])), None)


def item_in(s: Session, village_id: int, text: str | None) -> ShopItem | None:
    """The shop item whose name or alias is said inside ``text`` (the longest one said: 酱油, not
    油), or None (no close spellings: for a correction, where a guess would be a new write)."""
    items = s.execute(select(ShopItem).where(ShopItem.village_id == village_id)).scalars()
    names = {name: item for item in items for name in [item.name, *(item.aliases or [])] if name}
    inside = sorted((name for name in names if name in (text or "")), key=len, reverse=True)
    return names[inside[0]] if inside else None


def find_item(s: Session, village_id: int, text: str, said: str = "") -> ShopItem:
    """The shop item ``text`` names (an item entity, else the whole message): its exact name or
    alias, else the longest name or alias inside it, else a close spelling. ``said`` is the
    whole message: when it holds a longer name that contains ``text`` ("酱油" while the entity
    is "油"), that longer name wins."""
    items = list(s.execute(select(ShopItem).where(ShopItem.village_id == village_id)).scalars())
    text = (text or "").strip()
    names = {name: item for item in items for name in [item.name, *(item.aliases or [])] if name}
    inside = sorted((name for name in names if name in f"{text} {said}"), key=len, reverse=True)
    if text in names:
        longer = next((name for name in inside if text in name and len(name) > len(text)), None)
        return names[longer or text]
    if inside:
        return names[inside[0]]
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
               resident_id: int | None = None, at: dt.datetime | None = None) -> PointsEntry:
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
        idempotency_key=key, reverses_id=reverses_id, at=at or utcnow(),
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


# --- points where they are earned -------------------------------------------------------

class NotByQuantity(PointsError):
    """The rule is counted per deed, not by a quantity."""


@dataclass(frozen=True)
class QuantityPoints:
    """What a quantity is worth under a rule: whole blocks of ``per_quantity`` count."""

    points: int
    counted: Decimal  # the part of the quantity that earned points
    leftover: Decimal  # the rest (短 a whole block)
    unit: str


@dataclass(frozen=True)
class QuantityAward:
    points: int
    counted: Decimal
    leftover: Decimal
    unit: str
    rule: str
    entry_id: int | None  # None: not enough for one block, nothing was booked
    balance_after: int
    replayed: bool = False


@dataclass(frozen=True)
class BulkLine:
    household_id: int
    number: int
    entry_id: int
    replayed: bool  # booked by an earlier call with the same event key


def _quantity(value) -> Decimal:
    try:
        quantity = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PointsError(f"not a quantity: {value!r}") from None
    if not quantity.is_finite() or quantity <= 0 or quantity > 100000:
        raise PointsError(f"quantity out of range: {value!r}")
    return quantity


def points_for_quantity(rule: PointsRule, quantity) -> QuantityPoints:
    """The points a quantity earns under a rule by quantity: every whole ``per_quantity``
    ``unit`` earns ``rule.points`` (30个塑料瓶 under 10个=1分 → 3 分; 35个 → 3 分, 5个 left)."""
    if not rule.by_quantity:
        raise NotByQuantity(rule.name)
    quantity = _quantity(quantity)
    blocks = (quantity / rule.per_quantity).to_integral_value(rounding=ROUND_FLOOR)
    counted = blocks * rule.per_quantity
    return QuantityPoints(points=int(blocks) * rule.points, counted=counted, leftover=quantity - counted,
                          unit=rule.unit)


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f")


def award_by_quantity(s: Session, actor: Actor, household_id: int, rule_text: str, quantity, key: str,
                      reason: str = "", now: dt.datetime | None = None) -> QuantityAward:
    """Staff book recyclables brought in ("王大娘送来30个塑料瓶"): the rule's rate decides the
    points. Idempotent by ``key``. Less than one block books nothing (``entry_id`` None)."""
    require_staff(actor, "award points by quantity")
    household = require_household(s, actor, household_id, "award points by quantity")
    rule = find_rule(s, household.village_id, rule_text)
    worth = points_for_quantity(rule, quantity)
    if worth.points == 0:
        return QuantityAward(0, worth.counted, worth.leftover, worth.unit, rule.name, None,
                             balance_of(s, household.id))
    replayed = _existing_entry(s, key) is not None
    text = f"{rule.name}：{_amount(worth.counted)}{worth.unit}" + (f"，{reason}" if reason else "")
    entry = post_entry(s, actor, household, worth.points, text[:256], key, rule=rule,
                       resident_id=_credited_resident(household, None), at=now)
    if not replayed:
        audit(s, actor, "write", "points_entry", entry.id,
              f"{rule.code} {_amount(worth.counted)}{worth.unit} {worth.points:+d}", household_id=household.id)
    return QuantityAward(entry.delta, worth.counted, worth.leftover, worth.unit, rule.name, entry.id,
                         balance_of(s, household.id), replayed=replayed)


def _bulk_key(event_key: str, household_id: int) -> str:
    key = f"bulk:{event_key}:{household_id}"
    if len(key) <= 64:
        return key
    digest = hashlib.sha1(event_key.encode("utf-8"), usedforsecurity=False).hexdigest()[:24]
    return f"bulk:{digest}:{household_id}"


def award_bulk(s: Session, actor: Actor, household_ids, rule_text: str, event_key: str,
               reason: str = "", now: dt.datetime | None = None) -> list[BulkLine]:
    """Award one rule to many households for one event (义务清扫 on 11月5日 for these 12
    households). Idempotent per household and ``event_key``: calling again, with the same or a
    longer list, books only the households not booked yet. Every household must be visible to
    the actor (all or nothing); balance rows are locked in ascending id order."""
    require_staff(actor, "award points in bulk")
    event_key = (event_key or "").strip()
    if not event_key:
        raise PointsError("an event key is required for a bulk award")
    ids = sorted({int(h) for h in household_ids})
    if not ids:
        return []
    households = [require_household(s, actor, household_id, "award points in bulk") for household_id in ids]
    rule = find_rule(s, households[0].village_id, rule_text)
    lines = []
    for household in households:
        if household.village_id != rule.village_id:
            raise AccessDenied(f"household {household.id} is in another village")
        key = _bulk_key(event_key, household.id)
        _lock_balance(s, household.id)
        replayed = _existing_entry(s, key) is not None
        entry = post_entry(s, actor, household, rule.points, f"{rule.name}：{reason}" if reason else rule.name,
                           key, rule=rule, resident_id=_credited_resident(household, None), at=now)
        if not replayed:
            audit(s, actor, "write", "points_entry", entry.id, f"bulk {event_key}: {rule.code} {rule.points:+d}",
                  household_id=household.id)
        lines.append(BulkLine(household.id, household.number, entry.id, replayed))
    return lines


# --- applications for points (村民申请加分) ----------------------------------------------

class ApplicationClosed(PointsError):
    """The application was decided already."""


@dataclass(frozen=True)
class ApplicationView:
    id: int
    household_number: int
    description: str
    rule: str | None
    state: ApplicationState
    created_at: dt.datetime
    decision_note: str | None
    points: int | None


def _application_view(a: PointsApplication) -> ApplicationView:
    return ApplicationView(id=a.id, household_number=a.household.number, description=a.description,
                           rule=a.rule.name if a.rule else None, state=a.state, created_at=a.created_at,
                           decision_note=a.decision_note, points=a.entry.delta if a.entry else None)


def apply_for_points(s: Session, actor: Actor, description: str, rule_text: str | None = None,
                     deed_on: dt.date | None = None, now: dt.datetime | None = None) -> PointsApplication:
    """A household applies for points for a deed ("我昨天参加了修路"); its contact grid worker is
    notified. ``rule_text`` is the rule the applicant names, if any (staff may pick another)."""
    household = _own_household(s, actor)
    description = (description or "").strip()[:1000]
    if not description:
        raise PointsError("describe the deed")
    rule = None
    if rule_text:
        try:
            rule = find_rule(s, household.village_id, rule_text)
        except UnknownRule:
            rule = None
    application = PointsApplication(village_id=household.village_id, household_id=household.id,
                                    applicant_id=actor.user_id, rule_id=rule.id if rule else None,
                                    description=description, deed_on=deed_on, state=ApplicationState.pending,
                                    created_at=now or utcnow())
    s.add(application)
    s.flush()
    reviewer = household.contact_user_id
    if reviewer is None:
        reviewer = village_admin_id(s, household.village_id)
    notify(s, reviewer, "points_application",
           f"{household.number}号户（{household.address}）申请加分：{description[:60]}"
           + (f"（按“{rule.name}”）" if rule else "") + f"，申请编号{application.id}。请核实后同意或不同意。",
           f"points_application:{application.id}",
           payload={"application_id": application.id, "household_id": household.id, "expects": "decision"})
    audit(s, actor, "write", "points_application", application.id, description[:200], household_id=household.id)
    return application


def decide_application(s: Session, staff_actor: Actor, application_id: int, approve: bool, note: str = "",
                       rule_text: str | None = None, now: dt.datetime | None = None) -> PointsApplication:
    """Staff approve (by the applicant's rule or ``rule_text``; the entry is booked once, keyed by
    the application) or reject (a reason is required). The household is told either way."""
    require_staff(staff_actor, "decide a points application")
    application = s.get(PointsApplication, application_id)
    if application is None:
        raise AccessDenied(f"no application {application_id}")
    household = require_household(s, staff_actor, application.household_id, "decide a points application")
    _lock_balance(s, household.id)
    s.refresh(application)
    if application.state != ApplicationState.pending:
        raise ApplicationClosed(f"application {application_id} is {application.state.value}")
    note = (note or "").strip()[:1000]
    now = now or utcnow()
    if approve:
        rule = find_rule(s, household.village_id, rule_text) if rule_text else application.rule
        if rule is None:
            raise UnknownRule(rule_text or "", [r.activity for r in rules(s, household.village_id)][:3])
        if rule.points <= 0 or rule.by_quantity:
            raise PointsError(f"rule {rule.name} cannot approve a deed")
        entry = post_entry(s, staff_actor, household, rule.points,
                           f"{rule.name}：{application.description[:80]}（申请{application.id}）",
                           f"application:{application.id}", rule=rule,
                           resident_id=_credited_resident(household, None), at=now)
        application.rule_id, application.entry_id = rule.id, entry.id
        application.state = ApplicationState.approved
        text = f"您家的加分申请（{application.description[:30]}）已经通过，加了{rule.points}分。"
    else:
        if not note:
            raise PointsError("a reason is required to reject an application")
        application.state = ApplicationState.rejected
        text = f"您家的加分申请（{application.description[:30]}）没有通过，原因是：{note}。"
    application.decided_by, application.decided_at, application.decision_note = staff_actor.user_id, now, note or None
    s.flush()
    notify(s, application.applicant_id, "points_application_decided", text,
           f"points_application:{application.id}:decided", household_id=household.id,
           payload={"application_id": application.id, "state": application.state.value})
    audit(s, staff_actor, "write", "points_application", application.id,
          f"{application.state.value}: {note}", household_id=household.id)
    return application


def open_applications(s: Session, staff_actor: Actor) -> list[ApplicationView]:
    """Pending applications the staff member may decide (their grids; an admin: the village)."""
    require_staff(staff_actor, "list points applications")
    query = (select(PointsApplication).join(Household, Household.id == PointsApplication.household_id)
             .where(PointsApplication.state == ApplicationState.pending,
                    Household.village_id == staff_actor.village_id)
             .order_by(PointsApplication.created_at, PointsApplication.id))
    if staff_actor.role != Role.admin:
        query = query.where(Household.grid_id.in_(staff_actor.grid_ids or {-1}))
    rows = list(s.execute(query).scalars())
    for a in rows:
        audit(s, staff_actor, "read", "points_application", a.id, "open list", household_id=a.household_id)
    return [_application_view(a) for a in rows]


def my_applications(s: Session, actor: Actor, limit: int = 5) -> list[ApplicationView]:
    """The household's own applications, newest first."""
    household = _own_household(s, actor)
    rows = list(s.execute(select(PointsApplication).where(PointsApplication.household_id == household.id)
                          .order_by(PointsApplication.id.desc()).limit(limit)).scalars())
    audit(s, actor, "read", "points_application", None, "own list", household_id=household.id)
    return [_application_view(a) for a in rows]


# --- the shop keeper ---------------------------------------------------------------------

SHOP_ROLES = (Role.shopkeeper, Role.admin)


class UnknownPickup(PointsError):
    """No redemption with that pickup code in this village."""


@dataclass
class AlreadyCollected(PointsError):
    code: str
    at: dt.datetime
    by: str


@dataclass(frozen=True)
class PickupView:
    code: str
    item: str
    unit: str
    quantity: int
    household_number: int
    redeemed_at: dt.datetime
    picked_up_at: dt.datetime | None


@dataclass(frozen=True)
class StockResult:
    item: str
    unit: str
    added: int
    stock: int
    replayed: bool = False


def _pickup_view(r: Redemption) -> PickupView:
    return PickupView(code=r.pickup_code, item=r.item.name, unit=r.item.unit, quantity=r.quantity,
                      household_number=r.household.number, redeemed_at=r.at, picked_up_at=r.picked_up_at)


def collect_pickup(s: Session, actor: Actor, pickup_code: str, now: dt.datetime | None = None) -> PickupView:
    """The shop hands out a redemption: marked collected once (a conditional UPDATE); a second
    scan raises :class:`AlreadyCollected` with when and by whom."""
    require_role(actor, SHOP_ROLES, "hand out a redemption")
    code = "".join(ch for ch in str(pickup_code or "") if ch.isdigit())
    red = s.execute(select(Redemption).where(Redemption.pickup_code == code,
                                             Redemption.village_id == actor.village_id)).scalar_one_or_none()
    if red is None:
        audit(s, actor, "refused", "redemption", None, f"unknown pickup code {code}")
        raise UnknownPickup(code)
    now = now or utcnow()
    won = s.execute(update(Redemption).where(Redemption.id == red.id, Redemption.picked_up_at.is_(None))
                    .values(picked_up_at=now, picked_up_by=actor.user_id)
                    .execution_options(synchronize_session=False)).rowcount
    s.refresh(red)
    if won != 1:
        by = s.get(User, red.picked_up_by) if red.picked_up_by else None
        raise AlreadyCollected(code, red.picked_up_at, by.display_name if by else "")
    notify(s, None, "pickup_collected", f"您家兑换的{red.item.name}{red.quantity}{red.item.unit}已经领走了（取货码{code}）。",
           f"redemption:{red.id}:collected", household_id=red.household_id, payload={"redemption_id": red.id})
    audit(s, actor, "write", "redemption", red.id, f"collected {code}", household_id=red.household_id)
    return _pickup_view(red)


def pending_pickups(s: Session, actor: Actor) -> list[PickupView]:
    """Redemptions of the village not collected yet, oldest first (for the shop)."""
    require_role(actor, SHOP_ROLES, "list pickups")
    rows = list(s.execute(select(Redemption).where(Redemption.village_id == actor.village_id,
                                                   Redemption.picked_up_at.is_(None))
                          .order_by(Redemption.at, Redemption.id)).scalars())
    audit(s, actor, "read", "redemption", None, f"{len(rows)} pending pickups")
    return [_pickup_view(r) for r in rows]


def replenish_stock(s: Session, actor: Actor, item_text: str, quantity: int, key: str | None = None,
                    note: str = "", now: dt.datetime | None = None) -> StockResult:
    """Book goods delivered to the shop: the stock grows by ``quantity`` once per ``key`` (a
    retried request replays). Recorded in :class:`~bot.models.StockReceipt` and the audit log."""
    require_role(actor, SHOP_ROLES, "replenish stock")
    quantity = int(quantity)
    if not 1 <= quantity <= 10000:
        raise PointsError("quantity")
    item = find_item(s, actor.village_id, item_text)
    key = key or f"stock:{secrets.token_hex(8)}"
    existing = s.execute(select(StockReceipt).where(StockReceipt.idempotency_key == key)).scalar_one_or_none()
    if existing is not None:
        s.refresh(item)
        return StockResult(existing.item.name, existing.item.unit, existing.quantity, existing.item.stock, True)
    receipt = StockReceipt(item_id=item.id, quantity=quantity, actor_id=actor.user_id, at=now or utcnow(),
                           note=(note or "")[:256], idempotency_key=key)
    try:
        with s.begin_nested():
            s.add(receipt)
    except IntegrityError:  # a concurrent copy of this request won
        existing = s.execute(select(StockReceipt).where(StockReceipt.idempotency_key == key)).scalar_one()
        s.refresh(item)
        return StockResult(item.name, item.unit, existing.quantity, item.stock, True)
    s.execute(update(ShopItem).where(ShopItem.id == item.id).values(stock=ShopItem.stock + quantity)
              .execution_options(synchronize_session=False))
    s.refresh(item)
    audit(s, actor, "write", "shop_item", item.id, f"+{quantity} {item.unit} ({note})"[:200])
    return StockResult(item.name, item.unit, quantity, item.stock)


# --- the staff console: a household's ledger, the shop's goods, the monthly figures ----------

def household_ledger(s: Session, staff_actor: Actor, household_id: int, limit: int = 30) -> list[LedgerLine]:
    """A household's ledger for staff who may see the household, newest first (corrections are
    their own lines: the ledger is append-only). Audited."""
    require_staff(staff_actor, "read a household's points")
    household = require_household(s, staff_actor, household_id, "read a household's points")
    rows = list(s.execute(select(PointsEntry).where(PointsEntry.household_id == household.id)
                          .order_by(PointsEntry.at.desc(), PointsEntry.id.desc()).limit(limit)).scalars())
    ids = [e.id for e in rows]
    reversed_ids = set(s.execute(select(PointsEntry.reverses_id).where(PointsEntry.reverses_id.in_(ids or [-1]))).scalars())
    appealed = set(s.execute(select(PointsAppeal.entry_id).where(
        PointsAppeal.entry_id.in_(ids or [-1]), PointsAppeal.state == AppealState.open)).scalars())
    audit(s, staff_actor, "read", "points_balance", household.id, "ledger", household_id=household.id)
    return [LedgerLine(entry_id=e.id, at=e.at, delta=e.delta, reason=e.reason, rule=e.rule.name if e.rule else None,
                       rule_description=e.rule.description if e.rule else None,
                       appealable=_is_deduction(e) and e.id not in reversed_ids and e.id not in appealed,
                       appeal_open=e.id in appealed)
            for e in rows]


def shop_items(s: Session, actor: Actor) -> list[ShopItem]:
    """The points shop's goods with price and stock (staff and the shop keeper)."""
    if not actor.is_staff:
        require_role(actor, SHOP_ROLES, "list the shop's goods")
    return list(s.execute(select(ShopItem).where(ShopItem.village_id == actor.village_id)
                          .order_by(ShopItem.price, ShopItem.id)).scalars())


@dataclass(frozen=True)
class PointsMonthRow:
    """Points of one grid (第一网格 …) in one local month."""

    grid: str
    month: str
    earned: int  # awarded (positive entries, corrections excluded)
    deducted: int  # penalties by rule and corrections that took points away, as a positive number
    redeemed: int  # spent in the points shop, as a positive number
    households: int  # households with at least one entry


def monthly_report(s: Session, actor: Actor, since: dt.datetime | None = None, until: dt.datetime | None = None,
                   tz: str | None = None) -> list[PointsMonthRow]:
    """Points earned, deducted and redeemed per grid and local month: the admin's whole village,
    a grid worker's own grids."""
    from bot.clock import local_date
    from bot.identity import area_name

    require_staff(actor, "points report")
    query = (select(PointsEntry, Household).join(Household, Household.id == PointsEntry.household_id)
             .where(Household.village_id == actor.village_id))
    if actor.role != Role.admin:
        query = query.where(Household.grid_id.in_(actor.grid_ids or {-1}))
    if since is not None:
        query = query.where(PointsEntry.at >= since)
    if until is not None:
        query = query.where(PointsEntry.at < until)
    groups: dict[tuple[str, str], dict] = {}
    areas: dict[int, str] = {}
    for entry, household in s.execute(query.order_by(PointsEntry.at)).all():
        area = areas.get(household.id) or areas.setdefault(household.id, area_name(household))
        row = groups.setdefault((area, local_date(entry.at, tz).strftime("%Y-%m")),
                                {"earned": 0, "deducted": 0, "redeemed": 0, "households": set()})
        if entry.delta > 0 and entry.reverses_id is None:
            row["earned"] += entry.delta
        elif _is_deduction(entry):
            row["deducted"] -= entry.delta
        elif entry.delta < 0:
            row["redeemed"] -= entry.delta
        row["households"].add(household.id)
    audit(s, actor, "read", "points_report", None, f"{len(groups)} rows")
    return [PointsMonthRow(grid=grid, month=month, earned=r["earned"], deducted=r["deducted"], redeemed=r["redeemed"],
                           households=len(r["households"]))
            for (grid, month), r in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0]))]
