"""村务公开: notices that really reach people, and that the knowledge base can answer.

:func:`publish` — staff publish a notice to the whole village (admin) or to one grid (a worker
to a grid they serve): title, text, optional deadline. In the same transaction:

* one outbox message (kind ``notice``) for every *linked* user in scope — a user with an account
  on a channel that can push (any channel but the terminal ``cli``) — deduplicated per notice and
  user;
* one offer (kind ``notice_offer``, "村里有一条新通知，要听吗？") for every household in scope
  with a voice device, deduplicated per notice and household, for the device to play on its next
  button press (payload ``channels: ["voice"]``: a hint that only the voice channel plays it);
* a :class:`~bot.models.NoticeReceipt` per recipient, pointing at its outbox row.

After the transaction commits, the notice is written as a knowledge entry,
``<knowledge_dir>/village/notice-<id>.md``, in the metadata-header format of
``knowledge/village/*.md``, and the optional ``reindex`` callback runs with its path (the
adapters pass one that rebuilds the retriever's index, which the action server reloads when the
index changes; the domain itself never imports ``knowledge``). :func:`sync_entries` writes any
entry that is missing (a repair for a failed write or a restored folder).

Receipts (:func:`receipts`): who received it (the outbox row was delivered) and who heard it
(:func:`mark_heard`, when the person listened or said they read it).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import local_date
from bot.config import load_settings
from bot.identity import AccessDenied, Actor, audit, require_staff, served_grid_ids
from bot.models import (
    ChannelIdentity,
    Grid,
    Household,
    Notice,
    NoticeReceipt,
    OutboxMessage,
    Resident,
    Role,
    User,
    Village,
    utcnow,
)
from bot.outbox import notify
from bot.text import month_day

logger = logging.getLogger(__name__)

#: Channels whose accounts cannot be pushed to (the terminal chat).
NOT_PUSHED = ("cli",)
AUDIENCE_ROLES = (Role.villager, Role.grid_worker, Role.admin, Role.shopkeeper)
TOPIC = "村务公开"


class NoticeError(Exception):
    pass


@dataclass(frozen=True)
class ReceiptView:
    name: str  # 王建国 / 5号户（device）
    user_id: int | None
    household_id: int | None
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    heard_at: dt.datetime | None
    heard_channel: str | None

    @property
    def received(self) -> bool:
        return self.delivered_at is not None

    @property
    def heard(self) -> bool:
        return self.heard_at is not None


# --------------------------------------------------------------------------- after commit

_PENDING = "xiangyin_after_commit"
_HOOKED = "xiangyin_after_commit_hooked"


def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the outer transaction goes on
        return
    for action in session.info.pop(_PENDING, []):
        try:
            action()
        except Exception:  # noqa: BLE001 - the commit happened; a failed file write is repaired by sync_entries
            logger.exception("after-commit action failed")


def _drop_after_rollback(session: Session, previous) -> None:
    if not previous.nested:
        session.info.pop(_PENDING, None)


def after_commit(s: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's outer transaction has committed; never if it rolls back."""
    if not s.info.get(_HOOKED):
        event.listen(s, "after_commit", _run_after_commit)
        event.listen(s, "after_soft_rollback", _drop_after_rollback)
        s.info[_HOOKED] = True
    s.info.setdefault(_PENDING, []).append(action)


# --------------------------------------------------------------------------- scope


def _scope_grid_ids(s: Session, grid_id: int | None) -> set[int] | None:
    """The grid and every grid below it; None for the whole village."""
    if grid_id is None:
        return None
    result, frontier = {grid_id}, {grid_id}
    while frontier:
        children = set(s.execute(select(Grid.id).where(Grid.parent_id.in_(frontier))).scalars())
        frontier = children - result
        result |= children
    return result


def _area_name(grid: Grid | None) -> str | None:
    """The second-level grid (第一网格 …) a grid belongs to: what the retriever's grid field names."""
    while grid is not None and grid.level > 2:
        grid = grid.parent
    return grid.name if grid is not None and grid.level == 2 else None


def _audience(s: Session, notice: Notice) -> tuple[list[int], list[int]]:
    """(linked user ids, household ids with a voice device) in the notice's scope."""
    scope = _scope_grid_ids(s, notice.grid_id)
    pushed = set(s.execute(select(ChannelIdentity.user_id).where(
        ChannelIdentity.user_id.is_not(None), ChannelIdentity.channel.not_in(NOT_PUSHED))).scalars())
    users = []
    for user in s.execute(select(User).where(User.village_id == notice.village_id, User.role.in_(AUDIENCE_ROLES),
                                             User.id.in_(pushed or {-1})).order_by(User.id)).scalars():
        if scope is not None:
            if user.role in (Role.villager, Role.shopkeeper):
                household = user.resident.household if user.resident is not None else None
                if household is None or household.grid_id not in scope:
                    continue
            elif not (served_grid_ids(s, user.id) & scope):
                continue
        users.append(user.id)
    query = (select(ChannelIdentity.household_id).join(Household, Household.id == ChannelIdentity.household_id)
             .where(ChannelIdentity.channel == "voice", ChannelIdentity.user_id.is_(None),
                    Household.village_id == notice.village_id))
    if scope is not None:
        query = query.where(Household.grid_id.in_(scope))
    households = sorted(set(s.execute(query).scalars()))
    return users, households


def _in_scope(s: Session, actor: Actor, notice: Notice) -> bool:
    if actor.village_id != notice.village_id:
        return False
    scope = _scope_grid_ids(s, notice.grid_id)
    if scope is None or actor.role == Role.admin:
        return True
    if actor.is_staff:
        return bool(actor.grid_ids & scope)
    household = s.get(Household, actor.household_id) if actor.household_id else None
    return household is not None and household.grid_id in scope


# --------------------------------------------------------------------------- the entry


def entry_id(notice_id: int) -> str:
    return f"notice-{notice_id}"


def entry_path(notice_id: int, knowledge_dir: str | os.PathLike) -> Path:
    return Path(knowledge_dir) / "village" / f"{entry_id(notice_id)}.md"


def _q(value: str) -> str:
    """A YAML scalar that survives any title: JSON's double-quoted string."""
    return json.dumps(value, ensure_ascii=False)


def entry_text(s: Session, notice: Notice, tz: str | None = None) -> str:
    """The notice as a knowledge entry: the metadata header of knowledge/village/*.md, then the
    text (its first paragraph is what the assistant reads out), the deadline, who published it."""
    village = s.get(Village, notice.village_id)
    published = local_date(notice.published_at, tz)
    area = _area_name(notice.grid)
    scope_name = notice.grid.name if notice.grid is not None else "全村"
    keywords = list(dict.fromkeys(["通知", TOPIC, "公告", notice.title] + ([area] if area else [])
                                  + ([notice.grid.name] if notice.grid is not None else [])))
    asks = [f"{notice.title}是怎么回事", "村里最近有什么通知", "有什么新通知"]
    header = [
        "---",
        f"id: {entry_id(notice.id)}",
        f"title: {_q(notice.title)}",
        f"label: {_q(notice.title[:16])}",
        f"issuer: {_q(village.name + '村民委员会')}",
        f"date: {published.isoformat()}",
        f"region: {_q(village.township + village.name)}",
        f"topic: {TOPIC}",
    ]
    if area:
        header.append(f"grid: {_q(area)}")
    header += [
        f"source: {_q(village.name + '村务公开栏')}",
        f"keywords: {json.dumps(keywords, ensure_ascii=False)}",
        f"asks: {json.dumps(asks, ensure_ascii=False)}",
        "---",
    ]
    body = [" ".join(notice.body.split("\n")).strip()]
    if notice.deadline is not None:
        body.append(f"截止时间：{notice.deadline.year}年{month_day(notice.deadline)}。")
    publisher = notice.publisher.display_name if notice.publisher is not None else "村委会"
    body.append(f"这是{village.name}{publisher}{month_day(published)}发给{scope_name}的通知。")
    return "\n".join(header) + "\n" + "\n\n".join(body) + "\n"


def _write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")  # dot files are not read as entries
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_entry(s: Session, notice: Notice, knowledge_dir: str | os.PathLike | None = None,
                tz: str | None = None) -> Path:
    """Writes (or rewrites) the notice's knowledge entry now; returns its path."""
    settings = load_settings() if knowledge_dir is None or tz is None else None
    knowledge_dir = knowledge_dir or settings.paths.knowledge_dir
    path = entry_path(notice.id, knowledge_dir)
    _write_file(path, entry_text(s, notice, tz or (settings.timezone if settings else None)))
    return path


def sync_entries(s: Session, knowledge_dir: str | os.PathLike | None = None, tz: str | None = None) -> list[Path]:
    """Writes the entry of every notice whose file is missing; returns the paths written (call
    the index rebuild when it is not empty)."""
    knowledge_dir = knowledge_dir or load_settings().paths.knowledge_dir
    written = []
    for notice in s.execute(select(Notice).order_by(Notice.id)).scalars():
        if not entry_path(notice.id, knowledge_dir).exists():
            written.append(write_entry(s, notice, knowledge_dir, tz))
    return written


# --------------------------------------------------------------------------- publishing


def publish(s: Session, actor: Actor, title: str, body: str, grid_id: int | None = None,
            deadline: dt.date | None = None, now: dt.datetime | None = None,
            knowledge_dir: str | os.PathLike | None = None, tz: str | None = None,
            reindex: Callable[[Path], None] | None = None) -> Notice:
    """Publish a notice to the village (admin) or to one grid (a worker: a grid they serve).
    Every linked user and every voice household in scope gets one outbox message; after commit
    the knowledge entry is written and ``reindex(path)`` called."""
    require_staff(actor, "publish a notice")
    title = " ".join((title or "").split())[:64]
    body = (body or "").strip()[:4000]
    if not title or not body:
        raise NoticeError("a notice needs a title and a text")
    grid = None
    if grid_id is not None:
        grid = s.get(Grid, grid_id)
        if grid is None or grid.village_id != actor.village_id:
            raise NoticeError(f"no grid {grid_id} in this village")
        if actor.role != Role.admin and grid.id not in actor.grid_ids:
            audit(s, actor, "refused", "notice", None, f"grid {grid_id}")
            raise AccessDenied(f"{actor.sender_id} may not publish to grid {grid_id}")
    elif actor.role != Role.admin:
        audit(s, actor, "refused", "notice", None, "village-wide")
        raise AccessDenied(f"{actor.sender_id} may not publish to the whole village")
    now = now or utcnow()
    notice = Notice(village_id=actor.village_id, grid_id=grid_id, title=title, body=body, deadline=deadline,
                    published_by=actor.user_id, published_at=now, entry_id="")
    s.add(notice)
    s.flush()
    notice.entry_id = entry_id(notice.id)
    users, households = _audience(s, notice)
    deadline_text = f"（截止{month_day(deadline)}）" if deadline else ""
    full = f"【村务公开】{title}{deadline_text}：{body}"
    for user_id in users:
        key = f"notice:{notice.id}:user:{user_id}"
        notify(s, user_id, "notice", full, key, payload={"notice_id": notice.id, "title": title})
        _receipt(s, notice.id, key, user_id=user_id)
    for household_id in households:
        key = f"notice:{notice.id}:household:{household_id}"
        notify(s, None, "notice_offer", f"村里有一条新通知：{title}。要听吗？", key, household_id=household_id,
               payload={"notice_id": notice.id, "title": title, "text": full, "expects": "yes_no",
                        "channels": ["voice"]})
        _receipt(s, notice.id, key, household_id=household_id)
    audit(s, actor, "write", "notice", notice.id,
          f"{title} → {'grid ' + str(grid_id) if grid_id else 'village'}: {len(users)} users, "
          f"{len(households)} households")
    settings = load_settings() if knowledge_dir is None or tz is None else None
    folder = Path(knowledge_dir or settings.paths.knowledge_dir)
    path = entry_path(notice.id, folder)
    text = entry_text(s, notice, tz or (settings.timezone if settings else None))

    def write() -> None:
        _write_file(path, text)
        if reindex is not None:
            reindex(path)

    after_commit(s, write)
    return notice


def _receipt(s: Session, notice_id: int, key: str, user_id: int | None = None,
             household_id: int | None = None) -> None:
    s.flush()
    outbox_id = s.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)).scalar_one_or_none()
    s.add(NoticeReceipt(notice_id=notice_id, user_id=user_id, household_id=household_id, outbox_id=outbox_id))


# --------------------------------------------------------------------------- reading


def notices_for(s: Session, actor: Actor, limit: int = 5) -> list[Notice]:
    """The latest notices in the actor's scope (village-wide and their grid), newest first."""
    rows = s.execute(select(Notice).where(Notice.village_id == actor.village_id)
                     .order_by(Notice.published_at.desc(), Notice.id.desc()).limit(50)).scalars()
    return [n for n in rows if _in_scope(s, actor, n)][:limit]


def unheard_for(s: Session, actor: Actor) -> list[Notice]:
    """Notices sent to the actor (their account, or the household for a voice device) that they
    have not heard yet, oldest first: what a device offers on its next button press."""
    if actor.user_id is not None:
        mine = NoticeReceipt.user_id == actor.user_id
    elif actor.household_id is not None:
        mine = NoticeReceipt.household_id == actor.household_id
    else:
        return []
    return list(s.execute(select(Notice).join(NoticeReceipt, NoticeReceipt.notice_id == Notice.id)
                          .where(mine, NoticeReceipt.heard_at.is_(None))
                          .order_by(Notice.published_at, Notice.id)).scalars())


def mark_heard(s: Session, actor: Actor, notice_id: int, now: dt.datetime | None = None) -> NoticeReceipt:
    """The actor heard (or read) the notice: recorded once, with the channel. An actor in scope
    who was not on the recipient list (linked later) gets a receipt now."""
    notice = s.get(Notice, notice_id)
    if notice is None or not _in_scope(s, actor, notice):
        raise LookupError(f"no notice {notice_id} for {actor.sender_id}")
    if actor.user_id is not None:
        where = dict(user_id=actor.user_id)
        mine = NoticeReceipt.user_id == actor.user_id
    elif actor.household_id is not None:
        where = dict(household_id=actor.household_id)
        mine = NoticeReceipt.household_id == actor.household_id
    else:
        raise LookupError(f"{actor.sender_id} is not linked")
    query = select(NoticeReceipt).where(NoticeReceipt.notice_id == notice.id, mine)
    receipt = s.execute(query).scalar_one_or_none()
    if receipt is None:
        try:
            with s.begin_nested():
                s.add(NoticeReceipt(notice_id=notice.id, **where))
        except IntegrityError:
            pass  # a concurrent mark created it
        receipt = s.execute(query).scalar_one()
    if receipt.heard_at is None:
        receipt.heard_at, receipt.heard_channel = now or utcnow(), actor.channel[:16]
        audit(s, actor, "write", "notice", notice.id, "heard", household_id=actor.household_id)
    return receipt


def receipts(s: Session, actor: Actor, notice_id: int) -> list[ReceiptView]:
    """Who the notice went to, who received it and who heard it (staff who may see the notice)."""
    require_staff(actor, "notice receipts")
    notice = s.get(Notice, notice_id)
    if notice is None or not _in_scope(s, actor, notice):
        raise LookupError(f"no notice {notice_id}")
    rows = s.execute(select(NoticeReceipt).where(NoticeReceipt.notice_id == notice.id)
                     .order_by(NoticeReceipt.id)).scalars().all()
    # Delivery columns read as plain values: the deliverer updates them outside the ORM.
    sent = {row.id: (row.created_at, row.delivered_at) for row in s.execute(
        select(OutboxMessage.id, OutboxMessage.created_at, OutboxMessage.delivered_at)
        .where(OutboxMessage.id.in_([r.outbox_id for r in rows if r.outbox_id is not None] or [-1])))}
    views = []
    for r in rows:
        if r.user_id is not None:
            name = r.user.display_name
        else:
            head = s.execute(select(Resident.name).where(Resident.household_id == r.household_id,
                                                         Resident.relation == "户主")).scalars().first()
            name = f"{r.household.number}号{head or ''}家（语音设备）"
        views.append(ReceiptView(name=name, user_id=r.user_id, household_id=r.household_id,
                                 sent_at=sent.get(r.outbox_id, (None, None))[0],
                                 delivered_at=sent.get(r.outbox_id, (None, None))[1],
                                 heard_at=r.heard_at, heard_channel=r.heard_channel))
    audit(s, actor, "read", "notice", notice.id, f"receipts: {len(views)}")
    return views


def get_notice(s: Session, actor: Actor, notice_id: int) -> Notice:
    """One notice for staff who may see it (the staff console's notice page and print page);
    LookupError otherwise, so a notice outside the actor's scope reads like a missing one."""
    require_staff(actor, "read a notice")
    notice = s.get(Notice, notice_id)
    if notice is None or not _in_scope(s, actor, notice):
        raise LookupError(f"no notice {notice_id} for {actor.sender_id}")
    return notice
