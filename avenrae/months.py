"""Calendar months, worked out once: the first of the next month, months back, a month's
instants in a time zone, how many months a period spans."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_month(day: date) -> date:
    """The first day of the month before `day`'s."""
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def months_spanned(first: date, last: date) -> int:
    """How many calendar months from `first`'s to `last`'s, both included."""
    return (last.year - first.year) * 12 + last.month - first.month + 1


def months_up_to(last: date, count: int) -> list[date]:
    """The first days of `count` months, oldest first, ending with `last`'s."""
    months = [last.replace(day=1)]
    while len(months) < count:
        months.append(previous_month(months[-1]))
    return months[::-1]


def month_bounds(today: date, time_zone: str) -> tuple[datetime, datetime]:
    """The first instant of `today`'s month and of the next, in `time_zone`."""
    zone = ZoneInfo(time_zone)
    start = today.replace(day=1)
    return datetime.combine(start, time(), zone), datetime.combine(next_month(start), time(), zone)
