"""Who is asking, and what they may see.

Every channel turns its sender into a Rasa ``sender_id`` of the form
``<channel>:<external id>`` (``telegram:12345``, ``voice:device-001``, ``cli:wangjianguo``).
``resolve_actor`` maps it to an :class:`Actor`; the access rules below are the single
place where role boundaries are decided, and every domain read/write goes through them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import (
    AuditLog,
    ChannelIdentity,
    Grid,
    GridAssignment,
    Household,
    HouseholdRelative,
    Resident,
    Role,
    User,
    Village,
    utcnow,
)
from bot.config import SecuritySettings
from bot.security import logins


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
        """Village staff (grid workers, group leaders, admins). Township staff, relatives and the
        shop keeper are not: they have their own, narrower rights (``require_role``)."""
        return self.role in (Role.grid_worker, Role.admin)

    @property
    def is_township(self) -> bool:
        return self.role == Role.township

    @property
    def is_relative(self) -> bool:
        return self.role == Role.relative

    @property
    def is_shopkeeper(self) -> bool:
        return self.role == Role.shopkeeper

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


def served_grid_ids(s: Session, user_id: int) -> frozenset[int]:
    """The grids a staff member serves, with every grid below them."""
    return _served_grid_ids(s, user_id)


def default_village_id(s: Session) -> int | None:
    return s.execute(select(Village.id).order_by(Village.id).limit(1)).scalar_one_or_none()


def village_admin(s: Session, village_id: int | None) -> User | None:
    """The village's administrator (the longest-standing one when there are several), or None."""
    return s.execute(select(User).where(User.village_id == village_id, User.role == Role.admin)
                     .order_by(User.id).limit(1)).scalars().first()


def village_admin_id(s: Session, village_id: int | None) -> int | None:
    """The id of :func:`village_admin`."""
    admin = village_admin(s, village_id)
    return admin.id if admin is not None else None


def channel_identity(s: Session, channel: str, external_id: str | int) -> ChannelIdentity | None:
    """The identity row of one sender on one channel (``telegram``/``12345``), or None."""
    return s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == channel,
                                                   ChannelIdentity.external_id == str(external_id))).scalar_one_or_none()


def user_for_channel(s: Session, channel: str, external_id: str | int) -> User | None:
    """The user linked to a sender on a channel, or None (unknown sender, or a household-only device)."""
    ident = channel_identity(s, channel, external_id)
    return ident.user if ident is not None else None


def identity_settings(s: Session, channel: str, external_id: str | int) -> dict:
    """A sender's per-account settings on a channel (``speech_rate``, ``voice_reply``, ...);
    empty for an unknown sender."""
    ident = channel_identity(s, channel, external_id)
    return dict(ident.settings or {}) if ident is not None else {}


def update_identity_settings(s: Session, channel: str, external_id: str | int, **changes) -> dict | None:
    """Merges ``changes`` into a sender's settings and returns them; None for an unknown sender."""
    ident = channel_identity(s, channel, external_id)
    if ident is None:
        return None
    ident.settings = {**(ident.settings or {}), **changes}  # a new dict, so the JSON column is saved
    return dict(ident.settings)


def resolve_actor(s: Session, sender_id: str) -> Actor:
    channel, external = split_sender(sender_id)
    # One row of plain columns for the identity, its user, the user's resident record and the
    # device's household: every action of every turn asks who is talking (three lazy loads were a
    # quarter of the action server's CPU; loading them as ORM objects in one joined query still
    # was a sixth of it, 2026-12-01 py-spy at 1 user).
    row = s.execute(
        select(ChannelIdentity.household_id, User.id, User.village_id, User.role, User.display_name,
               Resident.household_id.label("resident_household"), Household.village_id.label("household_village"))
        .select_from(ChannelIdentity)
        .outerjoin(User, User.id == ChannelIdentity.user_id)
        .outerjoin(Resident, Resident.id == User.resident_id)
        .outerjoin(Household, Household.id == ChannelIdentity.household_id)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == str(external))
    ).first()
    if row is None:
        return Actor(channel=channel, external_id=external, village_id=default_village_id(s))
    household_id = row.household_id
    if row.id is not None:
        if household_id is None:
            household_id = row.resident_household
        return Actor(
            channel=channel, external_id=external, village_id=row.village_id, user_id=row.id,
            role=row.role, display_name=row.display_name, household_id=household_id,
            grid_ids=_served_grid_ids(s, row.id) if row.role != Role.villager else frozenset(),
        )
    return Actor(
        channel=channel, external_id=external,
        village_id=row.household_village if row.household_village is not None else default_village_id(s),
        role=Role.villager if row.household_village is not None else None, household_id=household_id,
    )


def actor_for_user(s: Session, user_id: int | None, channel: str) -> Actor | None:
    """The actor of a user who proved who they are with a credential on ``channel`` (the staff
    console's signed session names the user id it logged in); None for an unknown user. Same
    rights as :func:`resolve_actor` gives the user on any other channel."""
    user = s.get(User, user_id) if user_id else None
    if user is None:
        return None
    household_id = user.resident.household_id if user.resident is not None else None
    return Actor(
        channel=channel, external_id=user.login, village_id=user.village_id, user_id=user.id, role=user.role,
        display_name=user.display_name, household_id=household_id,
        grid_ids=_served_grid_ids(s, user.id) if user.role != Role.villager else frozenset(),
    )


def may_see_sensitive(s: Session, actor: Actor, household: Household) -> bool:
    """Health, custody and allowance details (``Household.sensitive_note``) are for the village
    admin and the worker responsible for the household's care (its 三线 contact, else its
    nearest grid leader); other staff who may see the household do not see them."""
    if not can_read_household(actor, household) or actor.user_id is None:
        return False
    return actor.role == Role.admin or responsible_worker_id(household) == actor.user_id


def read_audit(s: Session, actor: Actor, *, user_id: int | None = None, household_id: int | None = None,
               limit: int = 200) -> list[AuditLog]:
    """The audit log, newest first, of one user's actions and/or one household (admins only,
    their own village's users and households). Reading it is audited too."""
    if actor.role != Role.admin or actor.user_id is None:
        audit(s, actor, "refused", "audit_log", None, "read audit log")
        raise AccessDenied(f"{actor.sender_id} may not read the audit log")
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(max(1, min(int(limit), 1000)))
    village_users = select(User.id).where(User.village_id == actor.village_id)
    village_households = select(Household.id).where(Household.village_id == actor.village_id)
    query = query.where((AuditLog.actor_id.in_(village_users)) | (AuditLog.household_id.in_(village_households))
                        | (AuditLog.actor_id.is_(None) & AuditLog.household_id.is_(None)))
    if user_id is not None:
        query = query.where(AuditLog.actor_id == user_id)
    if household_id is not None:
        query = query.where(AuditLog.household_id == household_id)
    rows = list(s.execute(query).scalars())
    audit(s, actor, "read", "audit_log", None, f"user={user_id} household={household_id}: {len(rows)} rows",
          household_id=household_id)
    return rows


def village_users(s: Session, actor: Actor) -> list[User]:
    """The accounts of the actor's village, staff first (admins only: for the audit page)."""
    if actor.role != Role.admin:
        audit(s, actor, "refused", "audit_log", None, "list the village's accounts")
        raise AccessDenied(f"{actor.sender_id} may not list the village's accounts")
    order = {Role.admin: 0, Role.grid_worker: 1, Role.township: 2, Role.shopkeeper: 3}
    users = s.execute(select(User).where(User.village_id == actor.village_id).order_by(User.id)).scalars()
    return sorted(users, key=lambda u: (order.get(u.role, 9), u.id))


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


def require_role(actor: Actor, roles, purpose: str) -> None:
    """The actor has one of ``roles`` (a Role or an iterable of them)."""
    allowed = {roles} if isinstance(roles, Role) else set(roles)
    if actor.user_id is None or actor.role not in allowed:
        raise AccessDenied(f"{actor.sender_id} ({actor.role.value if actor.role else 'unlinked'}) "
                           f"may not {purpose}")


#: The scheduler acts as nobody in particular; its writes are audited under the channel "jobs".
def system_actor(village_id: int | None = None) -> Actor:
    return Actor(channel="jobs", external_id="scheduler", village_id=village_id)


# --- the township ----------------------------------------------------------------------

def township_of(s: Session, village_id: int | None) -> str | None:
    """The name of the township (镇) a village belongs to."""
    village = s.get(Village, village_id) if village_id else None
    return village.township if village is not None else None


def township_staff(s: Session, village_id: int | None) -> list[User]:
    """Township staff of the village's township (users with role ``township`` registered in any
    village of the same township), the duty officer first (the longest-standing one)."""
    township = township_of(s, village_id)
    if township is None:
        return []
    return list(s.execute(
        select(User).join(Village, Village.id == User.village_id)
        .where(User.role == Role.township, Village.township == township).order_by(User.id)).scalars())


def township_duty(s: Session, village_id: int | None) -> User | None:
    """Who receives what the village escalates to the township: its duty officer, or None when
    the township has no account (then nothing may be said to have gone there)."""
    staff = township_staff(s, village_id)
    return staff[0] if staff else None


def serves_township_of(s: Session, actor: Actor, village_id: int | None) -> bool:
    """The actor is township staff of the township ``village_id`` belongs to."""
    return (actor.role == Role.township and village_id is not None
            and township_of(s, actor.village_id) == township_of(s, village_id))


# --- relatives (子女在外) ----------------------------------------------------------------

def relatives_of(s: Session, household_id: int | None) -> list[User]:
    """Relatives living elsewhere who are linked to the household."""
    if household_id is None:
        return []
    return list(s.execute(
        select(User).join(HouseholdRelative, HouseholdRelative.user_id == User.id)
        .where(HouseholdRelative.household_id == household_id).order_by(User.id)).scalars())


def relative_household_ids(s: Session, user_id: int | None) -> list[int]:
    """The households a relative is linked to."""
    if user_id is None:
        return []
    return list(s.execute(select(HouseholdRelative.household_id).where(HouseholdRelative.user_id == user_id)
                          .order_by(HouseholdRelative.household_id)).scalars())


def link_relative(s: Session, actor: Actor, login: str, household_id: int, relation: str = "子女",
                  now: dt.datetime | None = None) -> HouseholdRelative:
    """Staff who may see the household link a relative's account (role ``relative``) to it.
    Idempotent: linking again returns the existing link. The relative links their own Telegram
    account with a one-time code (``bot.linking.issue_link_code``, issued by the admin)."""
    require_staff(actor, "link a relative")
    household = require_household(s, actor, household_id, "link a relative")
    user = s.execute(select(User).where(User.login == login)).scalar_one_or_none()
    if user is None or user.role != Role.relative or user.village_id != household.village_id:
        audit(s, actor, "refused", "household_relative", None, f"{login} is not a relative account",
              household_id=household.id)
        raise AccessDenied(f"{login!r} is not a relative account of this village")
    link = s.execute(select(HouseholdRelative).where(HouseholdRelative.household_id == household.id,
                                                     HouseholdRelative.user_id == user.id)).scalar_one_or_none()
    if link is None:
        link = HouseholdRelative(household_id=household.id, user_id=user.id, relation=(relation or "子女")[:16],
                                 created_at=now or utcnow())
        s.add(link)
        s.flush()
        audit(s, actor, "write", "household_relative", link.id, f"{login} ({link.relation})",
              household_id=household.id)
    return link


def audit(s: Session, actor: Actor, action: str, object_type: str, object_id: int | None, detail: str = "",
          household_id: int | None = None) -> None:
    if household_id is None and object_type == "household":
        household_id = object_id
    s.add(AuditLog(actor_id=actor.user_id, action=action, object_type=object_type, object_id=object_id,
                   channel=actor.channel, detail=detail[:1000], household_id=household_id))


def verify_pin(s: Session, actor: Actor, spoken: str, security: SecuritySettings | None = None) -> bool:
    """Staff on a shared voice device confirm themselves with their own short PIN (said digit
    by digit). Failures count towards the login's lockout (bot/security/logins.py); every
    attempt is audited."""
    user = s.get(User, actor.user_id) if actor.user_id else None
    outcome = logins.check(s, user, spoken, kind=logins.Kind.pin, channel=actor.channel, security=security)
    return outcome is logins.Outcome.ok


def responsible_worker_id(household: Household) -> int | None:
    """Whose job the household's visits are: its 三线 contact, else the nearest grid leader."""
    if household.contact_user_id:
        return household.contact_user_id
    grid = household.grid
    while grid is not None:
        if grid.leader_id:
            return grid.leader_id
        grid = grid.parent
    return None


def area_name(household: Household | None) -> str:
    """The household's second-level grid (第一网格 …), the unit reports are grouped by."""
    grid: Grid | None = household.grid if household is not None else None
    while grid is not None and grid.level > 2:
        grid = grid.parent
    return grid.name if grid is not None else "未绑定住户"
