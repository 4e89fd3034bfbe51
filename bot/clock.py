"""Village time: the database keeps naive UTC datetimes (``models.utcnow``); people live by the
local calendar (``settings.timezone``, Asia/Shanghai by default). These helpers convert between
the two for "today", "this month" and working days. Every caller passes ``now`` in, so a test
controls the clock.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"


@lru_cache(maxsize=8)
def _zone(tz: str | None) -> ZoneInfo:
    return ZoneInfo(tz or DEFAULT_TIMEZONE)


def to_local(at_utc: dt.datetime, tz: str | None = None) -> dt.datetime:
    """A naive UTC datetime as a naive local one."""
    return at_utc.replace(tzinfo=dt.timezone.utc).astimezone(_zone(tz)).replace(tzinfo=None)


def local_date(at_utc: dt.datetime, tz: str | None = None) -> dt.date:
    """The local calendar day of a naive UTC datetime."""
    return to_local(at_utc, tz).date()


def to_utc(local: dt.datetime, tz: str | None = None) -> dt.datetime:
    """A naive local datetime as a naive UTC one."""
    return local.replace(tzinfo=_zone(tz)).astimezone(dt.timezone.utc).replace(tzinfo=None)


def day_start_utc(day: dt.date, tz: str | None = None) -> dt.datetime:
    """Local midnight at the start of ``day``, in naive UTC."""
    return to_utc(dt.datetime.combine(day, dt.time()), tz)


def month_bounds_utc(year: int, month: int, tz: str | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local calendar month, in naive UTC."""
    first = dt.date(year, month, 1)
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    return day_start_utc(first, tz), day_start_utc(following, tz)


def parse_clock(value: str) -> dt.time:
    """"07:30" → time(7, 30)."""
    hours, _, minutes = value.partition(":")
    return dt.time(int(hours), int(minutes))


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday (public holidays are not modelled)."""
    return day.weekday() < 5


def add_working_days(day: dt.date, days: int) -> dt.date:
    """The ``days``-th working day after ``day`` (Saturdays and Sundays skipped)."""
    current = day
    left = days
    while left > 0:
        current += dt.timedelta(days=1)
        if is_working_day(current):
            left -= 1
    return current
