"""The village's data: one SQLAlchemy 1.4 declarative model, used in 2.0 style.

Conventions
- Times are stored as naive UTC datetimes (``utcnow()``); dates as plain dates.
- History tables (grievance events, ledger entries, visit logs, care colour changes, stock
  receipts, audit log, outbox) are append-only: rows are inserted, never updated, except
  delivery bookkeeping columns on the outbox.
- Loops with a state (emergencies, follow-ups, points applications, suggestions, notice
  receipts) move forward only, each step stamped with when and who, by conditional UPDATEs
  where two people or two schedulers may race.
"""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text as sql_text,
)
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Role(str, enum.Enum):
    villager = "villager"
    grid_worker = "grid_worker"
    admin = "admin"
    township = "township"  # 镇 staff: the township duty officer, receives what is escalated to 镇
    relative = "relative"  # 子女在外: family living elsewhere, linked to a household (HouseholdRelative)
    shopkeeper = "shopkeeper"  # 积分超市/小卖部: hands out redeemed goods and restocks, nothing else


ROLE_NAMES = {
    Role.villager: "村民",
    Role.grid_worker: "网格员",
    Role.admin: "村干部",
    Role.township: "镇干部",
    Role.relative: "家属",
    Role.shopkeeper: "积分超市店主",
}


class CareColour(str, enum.Enum):
    """Three-colour household care: 绿 放心户 / 黄 关心户 / 红 连心户."""

    green = "green"
    yellow = "yellow"
    red = "red"


CARE_COLOUR_NAMES = {
    CareColour.green: "绿色放心户",
    CareColour.yellow: "黄色关心户",
    CareColour.red: "红色连心户",
}


class GrievanceState(str, enum.Enum):
    accepted = "accepted"  # 受理
    in_progress = "in_progress"  # 办理中
    resolved = "resolved"  # 办结
    followed_up = "followed_up"  # 回访
    escalated = "escalated"  # 转办/上报
    rejected = "rejected"  # 退回


GRIEVANCE_STATE_NAMES = {
    GrievanceState.accepted: "已受理",
    GrievanceState.in_progress: "正在办理",
    GrievanceState.resolved: "已办结",
    GrievanceState.followed_up: "已回访",
    GrievanceState.escalated: "已上报",
    GrievanceState.rejected: "已退回",
}


class Village(Base):
    __tablename__ = "villages"

    id = Column(Integer, primary_key=True)
    code = Column(String(32), unique=True, nullable=False)
    name = Column(String(64), nullable=False)
    township = Column(String(64), nullable=False)
    county = Column(String(64), nullable=False, default="")
    office_phone = Column(String(32), nullable=False, default="")
    # Points setting: count per household (default) or per person.
    points_per_person = Column(Boolean, nullable=False, default=False)
    publish_ranking = Column(Boolean, nullable=False, default=True)

    grids = relationship("Grid", back_populates="village")
    households = relationship("Household", back_populates="village")


class Grid(Base):
    """A grid cell. Level 1 = village-wide, level 2 = 片/组, level 3 = 20-30 households."""

    __tablename__ = "grids"
    __table_args__ = (CheckConstraint("level IN (1, 2, 3)", name="ck_grid_level"),)

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False, index=True)
    parent_id = Column(ForeignKey("grids.id"), nullable=True)
    level = Column(Integer, nullable=False)
    name = Column(String(64), nullable=False)
    leader_id = Column(ForeignKey("users.id", use_alter=True, name="fk_grid_leader"), nullable=True)

    village = relationship("Village", back_populates="grids")
    parent = relationship("Grid", remote_side=[id])
    leader = relationship("User", foreign_keys=[leader_id])


class Household(Base):
    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("village_id", "number", name="uq_household_number"),)

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False, index=True)
    grid_id = Column(ForeignKey("grids.id"), nullable=False, index=True)
    number = Column(Integer, nullable=False)  # 门牌号, "12号户"
    address = Column(String(128), nullable=False)
    care_colour = Column(Enum(CareColour, native_enum=False, length=16), nullable=False)
    care_reason = Column(String(128), nullable=False, default="")
    care_since = Column(Date, nullable=True)
    # 三线联系: the staff member who keeps in touch with this household.
    contact_user_id = Column(ForeignKey("users.id"), nullable=True)
    # Facts never spoken aloud on the voice channel (health, custody, allowance detail).
    sensitive_note = Column(Text, nullable=False, default="")

    village = relationship("Village", back_populates="households")
    grid = relationship("Grid")
    residents = relationship("Resident", back_populates="household", order_by="Resident.id")
    contact = relationship("User", foreign_keys=[contact_user_id])


class Resident(Base):
    __tablename__ = "residents"

    id = Column(Integer, primary_key=True)
    household_id = Column(ForeignKey("households.id"), nullable=False, index=True)
    name = Column(String(32), nullable=False, index=True)
    gender = Column(String(1), nullable=False)  # "男" / "女"
    birth_year = Column(Integer, nullable=False)
    relation = Column(String(16), nullable=False)  # 户主, 配偶, 子女, 父母 ...
    phone = Column(String(20), nullable=True, index=True)

    household = relationship("Household", back_populates="residents")

    @property
    def is_head(self) -> bool:
        return self.relation == "户主"


class User(Base):
    """Someone who talks to the assistant: a villager, a grid worker or an admin."""

    __tablename__ = "users"

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False, index=True)
    login = Column(String(32), unique=True, nullable=False)
    display_name = Column(String(32), nullable=False)
    role = Column(Enum(Role, native_enum=False, length=16), nullable=False)
    resident_id = Column(ForeignKey("residents.id"), nullable=True)
    phone = Column(String(20), nullable=True)
    # Salted scrypt hash (bot/security/passwords.py) of the short spoken PIN that staff say
    # before household data is read out, and which logs in to the REST channel.
    pin_hash = Column(String(128), nullable=True)
    # Salted scrypt hash of the staff web console password.
    password_hash = Column(String(128), nullable=True)
    # Wrong PINs/passwords in a row, and until when the login is locked after too many.
    login_failures = Column(Integer, nullable=False, default=0, server_default="0")
    locked_until = Column(DateTime, nullable=True)

    resident = relationship("Resident")
    identities = relationship("ChannelIdentity", back_populates="user")
    served_grids = relationship("GridAssignment", back_populates="user")


class GridAssignment(Base):
    """Which grids a grid worker serves."""

    __tablename__ = "grid_assignments"
    __table_args__ = (UniqueConstraint("user_id", "grid_id"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(ForeignKey("users.id"), nullable=False)
    grid_id = Column(ForeignKey("grids.id"), nullable=False)

    user = relationship("User", back_populates="served_grids")
    grid = relationship("Grid")


class ChannelIdentity(Base):
    """Maps a channel's sender id (Telegram user id, voice device id, CLI login) to a user."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_channel_identity"),)

    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)  # telegram | voice | cli
    external_id = Column(String(64), nullable=False)
    user_id = Column(ForeignKey("users.id"), nullable=True)
    # Voice devices are bound to a household (and optionally a person through user_id).
    household_id = Column(ForeignKey("households.id"), nullable=True)
    settings = Column(JSON, nullable=False, default=dict)  # e.g. {"speech_rate": "slow"}
    created_at = Column(DateTime, nullable=False, default=utcnow)
    # Voice devices: the version of the device key (bot/security/devices.py) the device holds;
    # 0 = never provisioned (its requests are refused). Re-provisioning bumps it, so an old key
    # stops working. A revoked device is refused until provisioned again.
    key_version = Column(Integer, nullable=False, default=0, server_default="0")
    revoked_at = Column(DateTime, nullable=True)

    user = relationship("User", back_populates="identities")
    household = relationship("Household")


class RequestNonce(Base):
    """A signed device request's nonce, remembered for the replay window (bot/security/devices.py)."""

    __tablename__ = "request_nonces"
    __table_args__ = (UniqueConstraint("device_id", "nonce", name="uq_request_nonce"),)

    id = Column(Integer, primary_key=True)
    device_id = Column(String(64), nullable=False)
    nonce = Column(String(64), nullable=False)
    seen_at = Column(DateTime, nullable=False, default=utcnow, index=True)


class LinkCode(Base):
    """One-time code issued by the village office to link a Telegram account."""

    __tablename__ = "link_codes"

    id = Column(Integer, primary_key=True)
    code = Column(String(12), unique=True, nullable=False)
    user_id = Column(ForeignKey("users.id"), nullable=False)
    expires_at = Column(DateTime, nullable=False)
    used_at = Column(DateTime, nullable=True)


class Grievance(Base):
    __tablename__ = "grievances"

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False, index=True)
    ticket_no = Column(String(8), unique=True, nullable=False)
    reporter_id = Column(ForeignKey("users.id"), nullable=True)
    household_id = Column(ForeignKey("households.id"), nullable=True)
    category = Column(String(16), nullable=False)
    description = Column(Text, nullable=False)
    place = Column(String(128), nullable=False, default="")
    urgency = Column(String(8), nullable=False, default="一般")  # 紧急 | 一般
    anonymous = Column(Boolean, nullable=False, default=False)
    state = Column(Enum(GrievanceState, native_enum=False, length=16), nullable=False)
    # Escalation level: 3 = third-level grid (组), 2 = village (村), 1 = township (镇).
    level = Column(Integer, nullable=False, default=3)
    assignee_id = Column(ForeignKey("users.id"), nullable=True)
    due_at = Column(DateTime, nullable=True)
    satisfaction = Column(String(8), nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow)

    events = relationship("GrievanceEvent", back_populates="grievance", order_by="GrievanceEvent.id")
    reporter = relationship("User", foreign_keys=[reporter_id])
    assignee = relationship("User", foreign_keys=[assignee_id])
    household = relationship("Household")


class GrievanceEvent(Base):
    __tablename__ = "grievance_events"

    id = Column(Integer, primary_key=True)
    grievance_id = Column(ForeignKey("grievances.id"), nullable=False, index=True)
    at = Column(DateTime, nullable=False, default=utcnow)
    actor_id = Column(ForeignKey("users.id"), nullable=True)
    kind = Column(String(16), nullable=False)  # filed, accepted, note, resolved, escalated, ...
    from_state = Column(String(16), nullable=True)
    to_state = Column(String(16), nullable=True)
    note = Column(Text, nullable=False, default="")

    grievance = relationship("Grievance", back_populates="events")
    actor = relationship("User")


class PointsRule(Base):
    __tablename__ = "points_rules"
    __table_args__ = (UniqueConstraint("village_id", "code"),)

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False)
    code = Column(String(32), nullable=False)
    name = Column(String(64), nullable=False)  # 参加义务清扫
    activity = Column(String(32), nullable=False)  # canonical NLU `activity` value
    points = Column(Integer, nullable=False)  # positive: earn, negative: deduction
    description = Column(String(256), nullable=False, default="")
    # Rules by quantity (recyclables): ``points`` for every ``per_quantity`` ``unit``
    # (塑料瓶: 10 个 = 1 分; 废纸: 1 公斤 = 2 分). Both NULL for a rule counted per deed.
    unit = Column(String(8), nullable=True)
    per_quantity = Column(Integer, nullable=True)

    @property
    def by_quantity(self) -> bool:
        return bool(self.unit and self.per_quantity)


class PointsEntry(Base):
    """Append-only ledger: a balance is the sum of deltas; corrections are reversing entries."""

    __tablename__ = "points_entries"
    __table_args__ = (
        Index("ix_points_household_at", "household_id", "at"),
        # An entry is corrected at most once, whoever asks and however often.
        Index("uq_points_entry_reverses", "reverses_id", unique=True),
    )

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False)
    household_id = Column(ForeignKey("households.id"), nullable=False)
    resident_id = Column(ForeignKey("residents.id"), nullable=True)
    rule_id = Column(ForeignKey("points_rules.id"), nullable=True)
    delta = Column(Integer, nullable=False)
    reason = Column(String(256), nullable=False)
    actor_id = Column(ForeignKey("users.id"), nullable=True)
    at = Column(DateTime, nullable=False, default=utcnow)
    idempotency_key = Column(String(64), unique=True, nullable=False)
    reverses_id = Column(ForeignKey("points_entries.id"), nullable=True)

    rule = relationship("PointsRule")


class PointsBalance(Base):
    """One row per household, locked (SELECT ... FOR UPDATE / SQLite write lock) to
    serialise ledger writers. ``balance`` always equals the sum of the ledger."""

    __tablename__ = "points_balances"
    __table_args__ = (CheckConstraint("balance >= 0", name="ck_balance_non_negative"),)

    household_id = Column(ForeignKey("households.id"), primary_key=True)
    balance = Column(Integer, nullable=False, default=0)


class ShopItem(Base):
    __tablename__ = "shop_items"
    __table_args__ = (CheckConstraint("stock >= 0", name="ck_stock_non_negative"),)

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False)
    name = Column(String(32), nullable=False)  # canonical NLU `item` value
    aliases = Column(JSON, nullable=False, default=list)
    unit = Column(String(8), nullable=False)  # 袋, 桶, 块
    price = Column(Integer, nullable=False)  # points
    stock = Column(Integer, nullable=False)


class Redemption(Base):
    __tablename__ = "redemptions"

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False)
    household_id = Column(ForeignKey("households.id"), nullable=False)
    item_id = Column(ForeignKey("shop_items.id"), nullable=False)
    quantity = Column(Integer, nullable=False)
    points = Column(Integer, nullable=False)
    pickup_code = Column(String(8), nullable=False, unique=True)
    entry_id = Column(ForeignKey("points_entries.id"), nullable=False)
    actor_id = Column(ForeignKey("users.id"), nullable=True)
    at = Column(DateTime, nullable=False, default=utcnow)
    picked_up_at = Column(DateTime, nullable=True)
    picked_up_by = Column(ForeignKey("users.id", name="fk_redemptions_picked_up_by"), nullable=True)  # who handed it out

    item = relationship("ShopItem")
    household = relationship("Household")


class StockReceipt(Base):
    """Goods delivered to the points shop (补货): who added how many, once per key."""

    __tablename__ = "stock_receipts"
    __table_args__ = (CheckConstraint("quantity > 0", name="ck_stock_receipt_positive"),)

    id = Column(Integer, primary_key=True)
    item_id = Column(ForeignKey("shop_items.id"), nullable=False, index=True)
    quantity = Column(Integer, nullable=False)
    actor_id = Column(ForeignKey("users.id"), nullable=True)
    at = Column(DateTime, nullable=False, default=utcnow)
    note = Column(String(256), nullable=False, default="")
    idempotency_key = Column(String(64), unique=True, nullable=False)

    item = relationship("ShopItem")


class VisitLog(Base):
    __tablename__ = "visit_logs"

    id = Column(Integer, primary_key=True)
    household_id = Column(ForeignKey("households.id"), nullable=False, index=True)
    worker_id = Column(ForeignKey("users.id"), nullable=False)
    at = Column(DateTime, nullable=False, default=utcnow)
    note = Column(Text, nullable=False)
    channel = Column(String(16), nullable=False)

    worker = relationship("User")


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_object", "object_type", "object_id"),)

    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, default=utcnow)
    actor_id = Column(ForeignKey("users.id"), nullable=True)
    action = Column(String(32), nullable=False)  # read, write, refused ...
    object_type = Column(String(32), nullable=False)
    object_id = Column(Integer, nullable=True)
    channel = Column(String(16), nullable=False)
    detail = Column(Text, nullable=False, default="")
    # The household a record concerns, whatever the object: its audit trail in one query.
    household_id = Column(Integer, nullable=True, index=True)


class OutboxMessage(Base):
    """Channel-agnostic notification queue. Delivery is at-least-once with a per-message
    dedupe key, so a restart never sends the same notification twice to a channel that
    records ``delivered_at`` before acknowledging."""

    __tablename__ = "outbox"

    id = Column(Integer, primary_key=True)
    user_id = Column(ForeignKey("users.id"), nullable=True)
    household_id = Column(ForeignKey("households.id"), nullable=True)
    kind = Column(String(32), nullable=False)  # grievance_update, followup, emergency ...
    text = Column(Text, nullable=False)
    payload = Column(JSON, nullable=False, default=dict)
    dedupe_key = Column(String(96), unique=True, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    attempts = Column(Integer, nullable=False, default=0)
    delivered_at = Column(DateTime, nullable=True)
    acknowledged_at = Column(DateTime, nullable=True)


class EmergencyState(str, enum.Enum):
    alert = "alert"  # raised, nobody has taken charge yet
    acknowledged = "acknowledged"  # a responder said 收到 and is on the way
    on_site = "on_site"  # a responder is there
    closed = "closed"  # handled


EMERGENCY_STATE_NAMES = {
    EmergencyState.alert: "等待响应",
    EmergencyState.acknowledged: "已有人响应，正在赶过去",
    EmergencyState.on_site: "已经到现场",
    EmergencyState.closed: "已经处理完",
}


class EmergencyEvent(Base):
    """One emergency and its response: alert → acknowledged → on site → closed, each with
    when and who. ``escalation_step`` is how far the chain went (0: the first responder only,
    1: also the group leader and the admin, 2: also the township duty officer); each step is
    taken once, by a conditional UPDATE."""

    __tablename__ = "emergency_events"

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id", name="fk_emergency_events_village_id"), nullable=True, index=True)
    household_id = Column(ForeignKey("households.id"), nullable=True)
    user_id = Column(ForeignKey("users.id"), nullable=True)
    channel = Column(String(16), nullable=False)
    text = Column(Text, nullable=False)
    at = Column(DateTime, nullable=False, default=utcnow)
    alerted_user_id = Column(ForeignKey("users.id"), nullable=True)
    acknowledged_at = Column(DateTime, nullable=True)
    acknowledged_by = Column(ForeignKey("users.id", name="fk_emergency_events_acknowledged_by"), nullable=True)
    on_site_at = Column(DateTime, nullable=True)
    on_site_by = Column(ForeignKey("users.id", name="fk_emergency_events_on_site_by"), nullable=True)
    closed_at = Column(DateTime, nullable=True)
    closed_by = Column(ForeignKey("users.id", name="fk_emergency_events_closed_by"), nullable=True)
    close_note = Column(Text, nullable=True)
    escalated_at = Column(DateTime, nullable=True)  # when the latest escalation step was taken
    escalation_step = Column(Integer, nullable=False, default=0, server_default=sql_text("0"))

    household = relationship("Household")
    caller = relationship("User", foreign_keys=[user_id])
    alerted = relationship("User", foreign_keys=[alerted_user_id])
    acknowledger = relationship("User", foreign_keys=[acknowledged_by])
    on_site_user = relationship("User", foreign_keys=[on_site_by])
    closer = relationship("User", foreign_keys=[closed_by])

    @property
    def state(self) -> EmergencyState:
        if self.closed_at is not None:
            return EmergencyState.closed
        if self.on_site_at is not None:
            return EmergencyState.on_site
        if self.acknowledged_at is not None:
            return EmergencyState.acknowledged
        return EmergencyState.alert


class HouseholdRelative(Base):
    """A relative living elsewhere (子女在外, role ``relative``) linked to a household: alerted at
    once when the household calls for help, and told when it is handled."""

    __tablename__ = "household_relatives"
    __table_args__ = (UniqueConstraint("household_id", "user_id", name="uq_household_relative"),)

    id = Column(Integer, primary_key=True)
    household_id = Column(ForeignKey("households.id"), nullable=False, index=True)
    user_id = Column(ForeignKey("users.id"), nullable=False, index=True)
    relation = Column(String(16), nullable=False, default="子女")  # 儿子, 女儿, 侄子 ...
    created_at = Column(DateTime, nullable=False, default=utcnow)

    household = relationship("Household")
    user = relationship("User")


class AppealState(str, enum.Enum):
    open = "open"  # 待复核
    upheld = "upheld"  # 维持扣分
    overturned = "overturned"  # 撤销扣分


class PointsAppeal(Base):
    """A household's appeal against a deduction (扣分申诉), decided by staff. Overturning
    posts a reversing ledger entry; the appeal row records who decided what and why."""

    __tablename__ = "points_appeals"
    __table_args__ = (
        # At most one open appeal per entry (the database enforces it under any race).
        Index("uq_points_appeal_open_entry", "entry_id", unique=True,
              sqlite_where=sql_text("state = 'open'"), postgresql_where=sql_text("state = 'open'")),
    )

    id = Column(Integer, primary_key=True)
    entry_id = Column(ForeignKey("points_entries.id"), nullable=False)
    household_id = Column(ForeignKey("households.id"), nullable=False, index=True)
    reason = Column(Text, nullable=False, default="")
    state = Column(Enum(AppealState, native_enum=False, length=16), nullable=False, default=AppealState.open)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    decided_by = Column(ForeignKey("users.id"), nullable=True)
    decided_at = Column(DateTime, nullable=True)
    decision_note = Column(Text, nullable=False, default="")

    entry = relationship("PointsEntry")
    household = relationship("Household")
    decider = relationship("User")


class ApplicationState(str, enum.Enum):
    pending = "pending"  # 待审核
    approved = "approved"  # 已加分
    rejected = "rejected"  # 未通过


class PointsApplication(Base):
    """A household applies for points for a deed (我昨天参加了修路); staff approve (the entry is
    booked once, keyed by the application) or reject with a reason."""

    __tablename__ = "points_applications"

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False)
    household_id = Column(ForeignKey("households.id"), nullable=False, index=True)
    applicant_id = Column(ForeignKey("users.id"), nullable=True)  # None: a household device
    rule_id = Column(ForeignKey("points_rules.id"), nullable=True)
    description = Column(Text, nullable=False)
    deed_on = Column(Date, nullable=True)
    state = Column(Enum(ApplicationState, native_enum=False, length=16), nullable=False,
                   default=ApplicationState.pending)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    decided_by = Column(ForeignKey("users.id"), nullable=True)
    decided_at = Column(DateTime, nullable=True)
    decision_note = Column(Text, nullable=True)
    entry_id = Column(ForeignKey("points_entries.id"), nullable=True)

    household = relationship("Household")
    rule = relationship("PointsRule")
    entry = relationship("PointsEntry")


class FollowupState(str, enum.Enum):
    asked = "asked"  # the reporter was asked on their channel
    task = "task"  # unanswered in time: the grid worker phones or visits
    answered = "answered"


class Followup(Base):
    """回访 of one resolution of a grievance: asked on the reporter's channel, chased by the
    grid worker when unanswered, and the answer recorded with who, when and how."""

    __tablename__ = "followups"

    id = Column(Integer, primary_key=True)
    grievance_id = Column(ForeignKey("grievances.id"), nullable=False, index=True)
    # The 办结 event this asks about: one follow-up per resolution (a reopened case that is
    # resolved again is asked again).
    resolved_event_id = Column(ForeignKey("grievance_events.id"), nullable=False, unique=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False)
    household_id = Column(ForeignKey("households.id"), nullable=True)
    reporter_id = Column(ForeignKey("users.id"), nullable=True)
    state = Column(Enum(FollowupState, native_enum=False, length=16), nullable=False, default=FollowupState.asked)
    asked_at = Column(DateTime, nullable=False, default=utcnow)
    worker_id = Column(ForeignKey("users.id"), nullable=True)  # the task's grid worker
    task_at = Column(DateTime, nullable=True)
    answer = Column(String(8), nullable=True)  # 满意 | 基本满意 | 不满意
    answered_at = Column(DateTime, nullable=True)
    answered_by = Column(ForeignKey("users.id"), nullable=True)
    answered_via = Column(String(16), nullable=True)  # telegram | voice | cli | phone | visit ...
    note = Column(Text, nullable=True)

    grievance = relationship("Grievance")
    worker = relationship("User", foreign_keys=[worker_id])


class CarePolicy(Base):
    """Three-colour care per village: how often a household of each colour is visited, and
    the criteria for the colour (defaults in ``bot.care``: 红 7 days, 黄 14, 绿 30)."""

    __tablename__ = "care_policies"
    __table_args__ = (
        UniqueConstraint("village_id", "colour", name="uq_care_policy_colour"),
        CheckConstraint("visit_days > 0", name="ck_care_policy_days"),
    )

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False)
    colour = Column(Enum(CareColour, native_enum=False, length=16), nullable=False)
    visit_days = Column(Integer, nullable=False)
    criteria = Column(Text, nullable=False, default="")


class CareColourChange(Base):
    """History of a household's care colour: every change with its reason, who and when."""

    __tablename__ = "care_colour_changes"

    id = Column(Integer, primary_key=True)
    household_id = Column(ForeignKey("households.id"), nullable=False, index=True)
    from_colour = Column(Enum(CareColour, native_enum=False, length=16), nullable=True)
    to_colour = Column(Enum(CareColour, native_enum=False, length=16), nullable=False)
    reason = Column(Text, nullable=False)
    actor_id = Column(ForeignKey("users.id"), nullable=True)
    at = Column(DateTime, nullable=False, default=utcnow)

    actor = relationship("User")


class Notice(Base):
    """村务公开: a notice published to the whole village (``grid_id`` NULL) or to one grid."""

    __tablename__ = "notices"

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False, index=True)
    grid_id = Column(ForeignKey("grids.id"), nullable=True)
    title = Column(String(64), nullable=False)
    body = Column(Text, nullable=False)
    deadline = Column(Date, nullable=True)
    published_by = Column(ForeignKey("users.id"), nullable=True)
    published_at = Column(DateTime, nullable=False, default=utcnow)
    entry_id = Column(String(64), nullable=False)  # its knowledge entry id (notice-<id>)

    grid = relationship("Grid")
    publisher = relationship("User")


class NoticeReceipt(Base):
    """One recipient of a notice: a linked user, or a household with a voice device. Received
    = its outbox row was delivered; heard = the person said so (``mark_heard``)."""

    __tablename__ = "notice_receipts"
    __table_args__ = (
        UniqueConstraint("notice_id", "user_id", name="uq_notice_receipt_user"),
        UniqueConstraint("notice_id", "household_id", name="uq_notice_receipt_household"),
    )

    id = Column(Integer, primary_key=True)
    notice_id = Column(ForeignKey("notices.id"), nullable=False, index=True)
    user_id = Column(ForeignKey("users.id"), nullable=True)
    household_id = Column(ForeignKey("households.id"), nullable=True)
    outbox_id = Column(ForeignKey("outbox.id"), nullable=True)
    heard_at = Column(DateTime, nullable=True)
    heard_channel = Column(String(16), nullable=True)

    notice = relationship("Notice")
    user = relationship("User")
    household = relationship("Household")
    outbox = relationship("OutboxMessage")


class SuggestionState(str, enum.Enum):
    received = "received"  # 已收到
    answered = "answered"  # 已答复


class Suggestion(Base):
    """村民/乡贤建议: its own kind, separate from grievances; answered in writing within
    ``due_on`` (10 working days by default)."""

    __tablename__ = "suggestions"

    id = Column(Integer, primary_key=True)
    village_id = Column(ForeignKey("villages.id"), nullable=False, index=True)
    author_id = Column(ForeignKey("users.id"), nullable=True)
    household_id = Column(ForeignKey("households.id"), nullable=True)
    author_name = Column(String(32), nullable=False, default="")
    kind = Column(String(8), nullable=False, default="村民")  # 村民 | 乡贤
    text = Column(Text, nullable=False)
    state = Column(Enum(SuggestionState, native_enum=False, length=16), nullable=False,
                   default=SuggestionState.received)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    due_on = Column(Date, nullable=False)
    answered_at = Column(DateTime, nullable=True)
    answered_by = Column(ForeignKey("users.id"), nullable=True)
    answer = Column(Text, nullable=True)
    adopted = Column(Boolean, nullable=True)
