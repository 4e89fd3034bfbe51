"""Who is asking, and what they may see.

Every channel turns its sender into a Rasa ``sender_id`` of the form
``<channel>:<external id>`` (``telegram:12345``, ``voice:device-001``, ``cli:wangjianguo``).
``resolve_actor`` maps it to an :class:`Actor`; the access rules below are the single
place where role boundaries are decided, and every domain read/write goes through them.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import AuditLog, ChannelIdentity, Grid, GridAssignment, Household, Role, User, Village


class AccessDenied(Exception):
    """Raised when an actor may not see or change something. Its message is for logs;
    callers answer users with a neutral sentence that leaks nothing."""


@dataclass(frozen=True)
class Actor:
    channel: str
    external_id: str
    village_id: int | None
    user_id: int | None = None
    role: Role | None = None
    display_name: str = ""
    household_id: int | None = None
    grid_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def linked(self) -> bool:
        return self.user_id is not None or self.household_id is not None

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.grid_worker, Role.admin)

    @property
    def sender_id(self) -> str:
        return f"{self.channel}:{self.external_id}"


def split_sender(sender_id: str) -> tuple[str, str]:
    channel, _, external = (sender_id or "").partition(":")
    if not external:
        return "rest", channel or "anonymous"
    return channel, external


def _served_grid_ids(s: Session, user_id: int) -> frozenset[int]:
    """Grids a worker serves, with every grid below them."""
    roots = set(s.execute(select(GridAssignment.grid_id).where(GridAssignment.user_id == user_id)).scalars())
    result = set(roots)
    frontier = set(roots)
    while frontier:
        children = set(s.execute(select(Grid.id).where(Grid.parent_id.in_(frontier))).scalars())
        frontier = children - result
        result |= children
    return frozenset(result)


def default_village_id(s: Session) -> int | None:
    return s.execute(select(Village.id).order_by(Village.id).limit(1)).scalar_one_or_none()


def resolve_actor(s: Session, sender_id: str) -> Actor:
    channel, external = split_sender(sender_id)
    ident = s.execute(
        select(ChannelIdentity).where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external)
    ).scalar_one_or_none()
    if ident is None:
        return Actor(channel=channel, external_id=external, village_id=default_village_id(s))
    user: User | None = ident.user
    household_id = ident.household_id
    if user is not None:
        if household_id is None and user.resident is not None:
            household_id = user.resident.household_id
        return Actor(
            channel=channel, external_id=external, village_id=user.village_id, user_id=user.id,
            role=user.role, display_name=user.display_name, household_id=household_id,
            grid_ids=_served_grid_ids(s, user.id) if user.role != Role.villager else frozenset(),
        )
    household = s.get(Household, household_id) if household_id else None
    return Actor(
        channel=channel, external_id=external,
        village_id=household.village_id if household else default_village_id(s),
        role=Role.villager if household else None, household_id=household_id,
    )


def can_read_household(actor: Actor, household: Household) -> bool:
    if actor.village_id != household.village_id:
        return False
    if actor.role == Role.admin:
        return True
    if actor.role == Role.grid_worker:
        return household.grid_id in actor.grid_ids
    return actor.household_id == household.id


def require_household(s: Session, actor: Actor, household_id: int, purpose: str) -> Household:
    household = s.get(Household, household_id)
    if household is None or not can_read_household(actor, household):
        audit(s, actor, "refused", "household", household_id, purpose)
        raise AccessDenied(f"{actor.sender_id} may not access household {household_id} ({purpose})")
    return household


def require_staff(actor: Actor, purpose: str) -> None:
    if not actor.is_staff:
        raise AccessDenied(f"{actor.sender_id} is not staff ({purpose})")


def audit(s: Session, actor: Actor, action: str, object_type: str, object_id: int | None, detail: str = "",
          household_id: int | None = None) -> None:
    if household_id is None and object_type == "household":
        household_id = object_id
    s.add(AuditLog(actor_id=actor.user_id, action=action, object_type=object_type, object_id=object_id,
                   channel=actor.channel, detail=detail[:1000], household_id=household_id))


SPOKEN_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
                 "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}


def pin_hash(pin: str, login: str) -> str:
    return hashlib.sha256(f"xiangyin:{login}:{pin}".encode()).hexdigest()


def spoken_digits(text: str) -> str:
    """'一二三四' / '幺两三四' / '1 2 3 4' → '1234'."""
    return "".join(SPOKEN_DIGITS.get(c, c) for c in text if c.isdigit() or c in SPOKEN_DIGITS)


def verify_pin(s: Session, actor: Actor, spoken: str) -> bool:
    """Staff on a shared voice device confirm themselves with their short PIN."""
    user = s.get(User, actor.user_id) if actor.user_id else None
    ok = bool(user and user.pin_hash and hmac.compare_digest(
        user.pin_hash, pin_hash(spoken_digits(spoken), user.login)))
    audit(s, actor, "pin_ok" if ok else "pin_failed", "user", actor.user_id)
    return ok
