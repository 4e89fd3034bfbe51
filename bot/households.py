"""Household lookup and visit logs for grid workers (三色管理, 走访记录).

Names are resolved tolerant of speech recognition: exact name, then partial name
(given name only, surname + 家), then same toneless pinyin (homophones). A grid worker
only ever sees households in the grids they serve; one outside is answered exactly like
one that does not exist.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.identity import AccessDenied, Actor, audit, require_household, require_staff
from bot.models import (
    CARE_COLOUR_NAMES,
    AuditLog,
    CareColour,
    Grid,
    Grievance,
    Household,
    Resident,
    Role,
    VisitLog,
    utcnow,
)
from bot.points import balance_of
from bot.grievances import OPEN_STATES, infer_category
from bot.text import parse_number, toneless_pinyin


@dataclass(frozen=True)
class HouseholdSummary:
    household_id: int
    number: int
    head: str
    members: int
    colour: str
    care_reason: str
    grid: str
    contact: str | None
    last_visit: dt.date | None
    open_grievances: int
    points: int
    sensitive_note: str
    head_birth_year: int | None = None


def _visible(s: Session, actor: Actor):
    query = select(Household).where(Household.village_id == actor.village_id)
    if actor.role == Role.grid_worker:
        query = query.where(Household.grid_id.in_(actor.grid_ids or {-1}))
    elif actor.role != Role.admin:
        query = query.where(Household.id == (actor.household_id or -1))
    return query


def find_households(s: Session, actor: Actor, name: str | None = None, number: str | int | None = None,
                    group: str | None = None, household_id: int | None = None) -> list[Household]:
    """Households visible to the actor matching a head's name and/or a house number (or the one
    household talked about last, by id: still only if visible to the actor)."""
    require_staff(actor, "household lookup")
    query = _visible(s, actor)
    if household_id is not None:
        query = query.where(Household.id == household_id)
    if number is not None:
        parsed = parse_number(str(number))
        if parsed is None:
            return []
        query = query.where(Household.number == parsed)
    if group:
        query = query.join(Grid, Grid.id == Household.grid_id).where(Grid.name == group)
    households = list(s.execute(query.order_by(Household.number)).scalars())
    if not name:
        return households
    name = re.sub(r"(家|户|老人|大爷|大娘|奶奶|爷爷)$", "", name.strip())

    def head(h: Household) -> str:
        return next((r.name for r in h.residents if r.is_head), "")

    for matcher in (
        lambda h: head(h) == name,
        lambda h: any(r.name == name for r in h.residents),
        lambda h: len(name) >= 2 and (head(h).endswith(name) or head(h).startswith(name)),
        lambda h: toneless_pinyin(head(h)) == toneless_pinyin(name),
        lambda h: len(name) >= 2 and toneless_pinyin(head(h)).endswith(toneless_pinyin(name[-2:])) and head(h)[0] == name[0],
    ):
        hits = [h for h in households if matcher(h)]
        if hits:
            return hits
    return []


def named_in(s: Session, actor: Actor, text: str) -> list[Household]:
    """Households visible to the actor whose head (else another resident) is named in full in
    what was said ("下午去看了杨树林，药都按点吃着呢": a name that reads as ordinary words, which the
    language model did not mark as one)."""
    require_staff(actor, "household lookup")
    text = text or ""
    households = list(s.execute(_visible(s, actor).order_by(Household.number)).scalars())
    heads = [h for h in households if any(r.is_head and len(r.name) >= 2 and r.name in text for r in h.residents)]
    return heads or [h for h in households if any(len(r.name) >= 2 and r.name in text for r in h.residents)]


def summarise(s: Session, actor: Actor, household_id: int) -> HouseholdSummary:
    household = require_household(s, actor, household_id, "household summary")
    head = next((r for r in household.residents if r.is_head), None)
    last_visit = s.execute(
        select(func.max(VisitLog.at)).where(VisitLog.household_id == household.id)
    ).scalar_one_or_none()
    open_grievances = s.execute(
        select(func.count(Grievance.id)).where(Grievance.household_id == household.id,
                                               Grievance.state.in_(OPEN_STATES))
    ).scalar_one()
    audit(s, actor, "read", "household", household.id, "summary")
    return HouseholdSummary(
        household_id=household.id, number=household.number, head=head.name if head else "",
        members=len(household.residents), colour=CARE_COLOUR_NAMES[household.care_colour],
        care_reason=household.care_reason, grid=household.grid.name,
        contact=household.contact.display_name if household.contact else None,
        last_visit=last_visit.date() if last_visit else None, open_grievances=open_grievances,
        points=balance_of(s, household.id), sensitive_note=household.sensitive_note,
        head_birth_year=head.birth_year if head else None,
    )


PROBLEM_WORDS = ["漏", "坏", "塌", "裂", "病", "没人管", "困难", "停", "危险", "断"]


def reports_problem(note: str) -> bool:
    return any(word in note for word in PROBLEM_WORDS) or infer_category(note) is not None


def log_visit(s: Session, actor: Actor, household_id: int, note: str, now: dt.datetime | None = None) -> VisitLog:
    require_staff(actor, "log visit")
    household = require_household(s, actor, household_id, "log visit")
    note = (note or "").strip()[:2000] or "走访，情况正常"
    visit = VisitLog(household_id=household.id, worker_id=actor.user_id, at=now or utcnow(), note=note,
                     channel=actor.channel)
    s.add(visit)
    s.flush()
    audit(s, actor, "write", "household", household.id, f"visit {visit.id}")
    return visit


def audit_trail(s: Session, actor: Actor, household_id: int) -> list[AuditLog]:
    """Every recorded read and write of one household; admins only."""
    if actor.role != Role.admin:
        raise AccessDenied(f"{actor.sender_id} may not list the audit trail")
    require_household(s, actor, household_id, "audit trail")
    return list(s.execute(
        select(AuditLog).where(AuditLog.household_id == household_id).order_by(AuditLog.id)
    ).scalars())


def grid_area_name(s: Session, household_id: int | None) -> str | None:
    """The second-level grid (第一网格 …) a household belongs to: notices are per grid."""
    grid = s.get(Household, household_id).grid if household_id else None
    while grid is not None and grid.level > 2:
        grid = grid.parent
    return grid.name if grid is not None and grid.level == 2 else None


def resident_by_phone(s: Session, phone: str) -> Resident | None:
    digits = re.sub(r"\D", "", phone or "")[-11:]
    if not digits:
        return None
    return s.execute(select(Resident).where(Resident.phone == digits)).scalars().first()


# --- lists for staff: by colour, group, living alone (visits due: bot/care.py) --------------

#: From this age a resident counts as elderly (独居老人: a household of one such resident).
ELDERLY_AGE = 60


@dataclass(frozen=True)
class HouseholdLine:
    """One household in a staff list."""

    household_id: int
    number: int
    head: str
    colour: CareColour
    care_reason: str
    group: str
    residents: int
    oldest_age: int | None
    last_visit: dt.date | None

    @property
    def colour_name(self) -> str:
        return CARE_COLOUR_NAMES[self.colour]


@dataclass(frozen=True)
class HouseholdFilter:
    """What a staff list asks for; every field left empty matches every household."""

    colour: CareColour | None = None
    group: str | None = None  # a grid by name: 三组, or 第一网格 with every grid below it
    living_alone: bool = False  # one resident, aged ELDERLY_AGE or more
    elderly_only: bool = False  # every resident aged ELDERLY_AGE or more (空巢)
    min_age: int | None = None  # someone in the household is at least this old

    def describe(self) -> str:
        parts = [f"colour={self.colour.value}" if self.colour else "", f"group={self.group}" if self.group else "",
                 "alone" if self.living_alone else "", "elderly" if self.elderly_only else "",
                 f"age>={self.min_age}" if self.min_age else ""]
        return " ".join(p for p in parts if p) or "all"


def _age(resident: Resident, year: int) -> int:
    return year - resident.birth_year


def lives_alone(household: Household, year: int) -> bool:
    """独居: one resident, aged ``ELDERLY_AGE`` or more in ``year``."""
    return len(household.residents) == 1 and _age(household.residents[0], year) >= ELDERLY_AGE


def _grid_ids_named(s: Session, village_id: int | None, name: str) -> set[int]:
    """The grid called ``name`` in the village and every grid below it."""
    roots = set(s.execute(select(Grid.id).where(Grid.village_id == village_id, Grid.name == name)).scalars())
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = set(s.execute(select(Grid.id).where(Grid.parent_id.in_(frontier))).scalars()) - found
        found |= frontier
    return found


def _last_visits(s: Session, household_ids: list[int]) -> dict[int, dt.date]:
    rows = s.execute(select(VisitLog.household_id, func.max(VisitLog.at))
                     .where(VisitLog.household_id.in_(household_ids or [-1])).group_by(VisitLog.household_id))
    return {household_id: at.date() for household_id, at in rows if at is not None}


def _line(h: Household, year: int, last_visit: dt.date | None) -> HouseholdLine:
    ages = [_age(r, year) for r in h.residents]
    return HouseholdLine(household_id=h.id, number=h.number, head=next((r.name for r in h.residents if r.is_head), ""),
                         colour=h.care_colour, care_reason=h.care_reason, group=h.grid.name if h.grid else "",
                         residents=len(h.residents), oldest_age=max(ages) if ages else None,
                         last_visit=last_visit)


def _matching(s: Session, actor: Actor, wanted: HouseholdFilter, year: int) -> list[Household]:
    query = _visible(s, actor)
    if wanted.colour is not None:
        query = query.where(Household.care_colour == wanted.colour)
    if wanted.group:
        query = query.where(Household.grid_id.in_(_grid_ids_named(s, actor.village_id, wanted.group) or {-1}))
    found = []
    for h in s.execute(query.order_by(Household.number)).scalars():
        ages = [_age(r, year) for r in h.residents]
        if wanted.living_alone and not lives_alone(h, year):
            continue
        if wanted.elderly_only and not (ages and min(ages) >= ELDERLY_AGE):
            continue
        if wanted.min_age is not None and not (ages and max(ages) >= wanted.min_age):
            continue
        found.append(h)
    return found


def list_households(s: Session, actor: Actor, wanted: HouseholdFilter,
                    today: dt.date | None = None) -> list[HouseholdLine]:
    """The households the staff member may see (their grids; an admin: the village) that match
    ``wanted``, by house number. Each listed household's audit trail records the listing."""
    require_staff(actor, "household list")
    today = today or utcnow().date()
    found = _matching(s, actor, wanted, today.year)
    visits = _last_visits(s, [h.id for h in found])
    for h in found:
        audit(s, actor, "read", "household", h.id, f"list: {wanted.describe()}")
    return [_line(h, today.year, visits.get(h.id)) for h in found]


# --- the staff console: the register, one household's file, the grids -----------------------

def sensitive_note(s: Session, actor: Actor, household_id: int) -> str | None:
    """The household's health, custody and allowance details for those allowed to see them
    (``identity.may_see_sensitive``: the admin and the worker responsible for its care), audited;
    None for other staff (nothing is read)."""
    from bot.identity import may_see_sensitive

    household = require_household(s, actor, household_id, "sensitive details")
    if not may_see_sensitive(s, actor, household):
        return None
    audit(s, actor, "read", "household", household.id, "sensitive details")
    return household.sensitive_note


def household_file(s: Session, actor: Actor, household_id: int, visits: int = 20) -> tuple[Household, list[VisitLog]]:
    """A household with its residents and latest visits, for staff who may see it (audited; a
    household they may not see is refused and the refusal audited)."""
    require_staff(actor, "household file")
    household = require_household(s, actor, household_id, "household file")
    rows = list(s.execute(select(VisitLog).where(VisitLog.household_id == household.id)
                          .order_by(VisitLog.at.desc(), VisitLog.id.desc()).limit(visits)).scalars())
    audit(s, actor, "read", "household", household.id, "household file")
    return household, rows


def grievances_of(s: Session, actor: Actor, household_id: int, limit: int = 20) -> list[Grievance]:
    """The household's grievances, newest first (staff who may see the household)."""
    require_staff(actor, "household grievances")
    household = require_household(s, actor, household_id, "household grievances")
    return list(s.execute(select(Grievance).where(Grievance.household_id == household.id)
                          .order_by(Grievance.created_at.desc(), Grievance.id.desc()).limit(limit)).scalars())


def grids_for(s: Session, actor: Actor) -> list[Grid]:
    """The grids a staff member works in (an admin: every grid of the village), by level and name:
    what the register and the grievance list filter by, and where a worker may publish."""
    require_staff(actor, "grid list")
    query = select(Grid).where(Grid.village_id == actor.village_id)
    if actor.role != Role.admin:
        query = query.where(Grid.id.in_(actor.grid_ids or {-1}))
    return list(s.execute(query.order_by(Grid.level, Grid.id)).scalars())


def register(s: Session, actor: Actor, wanted: HouseholdFilter = HouseholdFilter(), text: str = "",
             limit: int = 100, offset: int = 0, today: dt.date | None = None) -> tuple[int, list[HouseholdLine]]:
    """The household register, one page at a time, by house number: the households the staff
    member may see (their grids; an admin: the village) matching the colour, the grid (by name,
    with every grid below it), living alone, and ``text`` (a house number or part of a
    resident's name). Returns (how many match, the page); each household on the page is audited
    as listed. Filters by age other than living alone are for :func:`list_households`."""
    from sqlalchemy.orm import selectinload

    require_staff(actor, "household register")
    today = today or utcnow().date()
    query = _visible(s, actor)
    if wanted.colour is not None:
        query = query.where(Household.care_colour == wanted.colour)
    if wanted.group:
        query = query.where(Household.grid_id.in_(_grid_ids_named(s, actor.village_id, wanted.group) or {-1}))
    if wanted.living_alone:
        alone = (select(Resident.household_id).group_by(Resident.household_id)
                 .having(func.count(Resident.id) == 1, func.min(Resident.birth_year) <= today.year - ELDERLY_AGE))
        query = query.where(Household.id.in_(alone))
    text = (text or "").strip()[:20]
    if text:
        bare = text.removesuffix("号户").removesuffix("户").removesuffix("号")
        number = parse_number(bare) if bare.isdigit() or bare != text else None
        named = select(Resident.household_id).where(Resident.name.like(f"%{text}%"))
        query = query.where((Household.number == number) if number is not None else Household.id.in_(named))
    total = s.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    page = list(s.execute(query.options(selectinload(Household.residents), selectinload(Household.grid))
                          .order_by(Household.number).limit(max(1, min(int(limit), 500)))
                          .offset(max(0, int(offset)))).scalars())
    visits = _last_visits(s, [h.id for h in page])
    for h in page:
        audit(s, actor, "read", "household", h.id, f"register: {wanted.describe()}")
    return total, [_line(h, today.year, visits.get(h.id)) for h in page]
