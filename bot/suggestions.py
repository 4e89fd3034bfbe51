"""村民/乡贤建议: suggestions as their own kind, separate from grievances.

A suggestion is not a complaint to be handled but an idea to be answered: it is **received**
(the village admin is notified) and **answered** in writing within
``settings.loops.suggestion_working_days`` working days (the seeds' 乡贤建议 "10个工作日内给予书面
反馈"; Saturdays and Sundays are skipped, public holidays are not modelled). A 乡贤 without an
account may be recorded by staff on their behalf (``author_name``). :func:`overdue` lists the
ones past their day; :func:`remind_overdue` (scheduler job) tells the admin once per suggestion.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import add_working_days, local_date
from bot.config import load_settings
from bot.identity import AccessDenied, Actor, audit, require_staff, system_actor, village_admin_id
from bot.models import OutboxMessage, Suggestion, SuggestionState, utcnow
from bot.outbox import notify
from bot.text import month_day

KINDS = ("村民", "乡贤")


class SuggestionError(Exception):
    pass


@dataclass(frozen=True)
class SuggestionView:
    id: int
    kind: str
    author: str
    text: str
    state: SuggestionState
    created_at: dt.datetime
    due_on: dt.date
    days_overdue: int
    answer: str | None
    adopted: bool | None


def _view(g: Suggestion, today: dt.date) -> SuggestionView:
    late = (today - g.due_on).days if g.state == SuggestionState.received else 0
    return SuggestionView(id=g.id, kind=g.kind, author=g.author_name, text=g.text, state=g.state,
                          created_at=g.created_at, due_on=g.due_on, days_overdue=max(late, 0), answer=g.answer,
                          adopted=g.adopted)


def _settings(tz: str | None, working_days: int | None) -> tuple[str, int]:
    if tz is None or working_days is None:
        configured = load_settings()
        tz = tz or configured.timezone
        working_days = configured.loops.suggestion_working_days if working_days is None else working_days
    return tz, working_days


def submit(s: Session, actor: Actor, text: str, kind: str = "村民", author_name: str | None = None,
           now: dt.datetime | None = None, tz: str | None = None, working_days: int | None = None) -> Suggestion:
    """A villager's (or 乡贤's) suggestion: recorded, due in ``working_days`` working days, the
    admin notified. Staff may record one on someone's behalf with ``author_name``."""
    text = (text or "").strip()[:4000]
    if not text:
        raise SuggestionError("empty suggestion")
    if kind not in KINDS:
        kind = "村民"
    if author_name and not actor.is_staff:
        raise AccessDenied(f"{actor.sender_id} may not submit on someone's behalf")
    if actor.village_id is None or (actor.user_id is None and actor.household_id is None and not actor.is_staff):
        raise AccessDenied(f"{actor.sender_id} is not linked to the village")
    tz, working_days = _settings(tz, working_days)
    now = now or utcnow()
    on_behalf = bool(author_name)
    suggestion = Suggestion(
        village_id=actor.village_id, author_id=None if on_behalf else actor.user_id,
        household_id=None if on_behalf else actor.household_id,
        author_name=(author_name or actor.display_name or "")[:32], kind=kind, text=text,
        state=SuggestionState.received, created_at=now,
        due_on=add_working_days(local_date(now, tz), working_days))
    s.add(suggestion)
    s.flush()
    notify(s, village_admin_id(s, actor.village_id), "suggestion_received",
           f"收到{kind}建议（编号{suggestion.id}，{suggestion.author_name or '未署名'}）：{text[:60]}。"
           f"请在{month_day(suggestion.due_on)}前书面答复。",
           f"suggestion:{suggestion.id}:received", payload={"suggestion_id": suggestion.id})
    audit(s, actor, "write", "suggestion", suggestion.id, f"{kind}: {text[:100]}",
          household_id=suggestion.household_id)
    return suggestion


def answer(s: Session, actor: Actor, suggestion_id: int, text: str, adopted: bool | None = None,
           now: dt.datetime | None = None) -> Suggestion:
    """Staff answer a suggestion in writing (and say whether it is adopted); the author is told
    on their channel when they have one."""
    require_staff(actor, "answer a suggestion")
    suggestion = s.get(Suggestion, suggestion_id)
    if suggestion is None or suggestion.village_id != actor.village_id:
        raise LookupError(f"no suggestion {suggestion_id}")
    if suggestion.state == SuggestionState.answered:
        raise SuggestionError(f"suggestion {suggestion_id} was answered already")
    text = (text or "").strip()[:4000]
    if not text:
        raise SuggestionError("an answer needs a text")
    suggestion.state, suggestion.answer, suggestion.adopted = SuggestionState.answered, text, adopted
    suggestion.answered_at, suggestion.answered_by = now or utcnow(), actor.user_id
    verdict = {True: "建议已采纳。", False: "这次暂不采纳。", None: ""}[adopted]
    if suggestion.author_id is not None or suggestion.household_id is not None:
        notify(s, suggestion.author_id, "suggestion_answered",
               f"您提的建议（{suggestion.text[:20]}）村里答复了：{text}{verdict}",
               f"suggestion:{suggestion.id}:answered", household_id=suggestion.household_id,
               payload={"suggestion_id": suggestion.id, "adopted": adopted})
    audit(s, actor, "write", "suggestion", suggestion.id, f"answered, adopted={adopted}",
          household_id=suggestion.household_id)
    return suggestion


def open_suggestions(s: Session, actor: Actor, today: dt.date | None = None, now: dt.datetime | None = None,
                     tz: str | None = None) -> list[SuggestionView]:
    """Suggestions not answered yet, oldest deadline first."""
    require_staff(actor, "list suggestions")
    tz = tz or load_settings().timezone
    today = today or local_date(now or utcnow(), tz)
    rows = s.execute(select(Suggestion).where(Suggestion.village_id == actor.village_id,
                                              Suggestion.state == SuggestionState.received)
                     .order_by(Suggestion.due_on, Suggestion.id)).scalars()
    return [_view(g, today) for g in rows]


def overdue(s: Session, actor: Actor, today: dt.date | None = None, now: dt.datetime | None = None,
            tz: str | None = None) -> list[SuggestionView]:
    """Suggestions past their answer day (``today`` > ``due_on``) and still unanswered."""
    return [v for v in open_suggestions(s, actor, today, now, tz) if v.days_overdue > 0]


def mine(s: Session, actor: Actor, limit: int = 5, now: dt.datetime | None = None,
         tz: str | None = None) -> list[SuggestionView]:
    """The actor's own suggestions (or the household's, for a device), newest first."""
    if actor.user_id is not None:
        where = Suggestion.author_id == actor.user_id
    elif actor.household_id is not None:
        where = Suggestion.household_id == actor.household_id
    else:
        return []
    today = local_date(now or utcnow(), tz or load_settings().timezone)
    rows = s.execute(select(Suggestion).where(where).order_by(Suggestion.id.desc()).limit(limit)).scalars()
    return [_view(g, today) for g in rows]


def remind_overdue(s: Session, now: dt.datetime | None = None, tz: str | None = None) -> list[int]:
    """Scheduler job: the admin is told once about each suggestion past its answer day."""
    now = now or utcnow()
    tz = tz or load_settings().timezone
    today = local_date(now, tz)
    rows = s.execute(select(Suggestion).where(Suggestion.state == SuggestionState.received,
                                              Suggestion.due_on < today)
                     .order_by(Suggestion.id).with_for_update(skip_locked=True)).scalars().all()
    reminded = []
    for suggestion in rows:
        key = f"suggestion:{suggestion.id}:overdue"
        if s.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)).first():
            continue
        notify(s, village_admin_id(s, suggestion.village_id), "suggestion_overdue",
               f"{suggestion.kind}建议{suggestion.id}（{suggestion.text[:30]}）应在{month_day(suggestion.due_on)}前答复，"
               f"已经超期，请尽快书面答复。", key, payload={"suggestion_id": suggestion.id})
        audit(s, system_actor(suggestion.village_id), "write", "suggestion", suggestion.id, "overdue reminder")
        reminded.append(suggestion.id)
    return reminded
