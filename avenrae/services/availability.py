"""When a practitioner can be booked: weekly hours, date overrides, time off, and the slots left.

Hours are wall-clock times in the practitioner's time zone. A day's bookable slots are
its hours cut into session-length pieces, less the past, the notice period, anything
beyond the booking horizon, time off, and bookings that hold time (with the buffer
after each; see HOLDS_TIME: an unpaid hold that has run out holds nothing).
"""

from __future__ import annotations

import bisect
import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from avenrae.models import (
    OPERATORS,
    SLOT_HOLDING_STATUSES,
    AvailabilityException,
    AvailabilityOverride,
    AvailabilitySlot,
    Booking,
    Practitioner,
    User,
    sql_in,
)
from avenrae.services import audit, validation
from avenrae.services.errors import InvalidInput, NotFound, PermissionDenied

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_TIME_OFF_DAYS = 366
# How far ahead time off and a date's hours can be set; bookings stop sooner, at the
# practitioner's horizon (a year at most, BOOKABLE_AHEAD).
PLANNABLE_AHEAD = timedelta(days=2 * 366)
BOOKABLE_AHEAD = timedelta(days=366)


def within_plans(day: date, today: date) -> bool:
    """Whether a day is one a diary can hold: from yesterday (a day in another time zone)
    to PLANNABLE_AHEAD. Days outside it hold no open times and take no settings."""
    return timedelta(days=-1) <= day - today <= PLANNABLE_AHEAD


# What keeps a booking's time from everyone else, said once for the open times, the check
# when booking and the expiry of holds: pending or confirmed, and not an unpaid hold that
# has run out (the booking flow releases those on the spot, the expiry job everywhere).
HOLDS_TIME = f"{sql_in('status', SLOT_HOLDING_STATUSES)} AND (hold_expires_at IS NULL OR hold_expires_at > :now)"


END_OF_DAY = time.max  # hours that run until midnight end here: a `time` cannot be 24:00


def until_midnight(start: time, end: time) -> tuple[time, time]:
    """A range as kept: 00:00 (or 24:00) at its end means midnight at the end of its day."""
    return (start, END_OF_DAY) if end == time(0) and start != time(0) else (start, end)


def _kept_as(ranges: list[HoursRange]) -> list[HoursRange]:
    return [HoursRange(r.day_of_week, *until_midnight(r.start, r.end)) for r in ranges]


def closes_at(day: date, end: time, zone: tzinfo) -> datetime:
    """The instant a range of `day` ends (END_OF_DAY: the midnight after it)."""
    if end == END_OF_DAY:
        return datetime.combine(day + timedelta(days=1), time(0), zone)
    return datetime.combine(day, end, zone)


def clock(moment: time) -> str:
    """09:00; the end of the day reads 24:00."""
    return "24:00" if moment == END_OF_DAY else f"{moment:%H:%M}"


@dataclass(frozen=True)
class HoursRange:
    day_of_week: int  # 0 = Monday
    start: time
    end: time


@dataclass(frozen=True)
class DateRange:
    on_date: date
    start: time
    end: time


@dataclass(frozen=True)
class TimeOff:
    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str


@dataclass(frozen=True)
class Rules:
    """A practitioner's scheduling settings."""

    practitioner_id: uuid.UUID
    user_id: uuid.UUID
    time_zone: str
    session_minutes: int
    buffer_minutes: int
    min_notice_minutes: int
    booking_horizon_days: int

    @classmethod
    def from_row(cls, row: Any) -> Rules:
        """From any row that names the practitioner's scheduling columns (see `RULE_COLUMNS`)."""
        return cls(**{field: getattr(row, column) for field, column in _RULE_FIELDS.items()})

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def session(self) -> timedelta:
        return timedelta(minutes=self.session_minutes)

    @property
    def buffer(self) -> timedelta:
        return timedelta(minutes=self.buffer_minutes)


@dataclass(frozen=True)
class Schedule:
    rules: Rules
    weekly: list[HoursRange]
    overrides: list[DateRange]
    time_off: list[TimeOff]

    def off_during(self, day: date, ranges: list[tuple[time, time]]) -> TimeOff | None:
        """The time off that covers any of these hours of `day` (in the practitioner's zone)."""
        zone = self.rules.zone
        for start, end in (until_midnight(*each) for each in ranges):
            starts, ends = datetime.combine(day, start, zone), closes_at(day, end, zone)
            found = next((entry for entry in self.time_off if entry.starts_at < ends and entry.ends_at > starts), None)
            if found is not None:
                return found
        return None


# --- reading -------------------------------------------------------------------------


# Rules' fields and the practitioner columns they come from: select RULE_COLUMNS in any
# query and build the rules with Rules.from_row.
_RULE_FIELDS = {
    "practitioner_id": "id",
    "user_id": "user_id",
    "time_zone": "time_zone",
    "session_minutes": "session_duration_minutes",
    "buffer_minutes": "buffer_minutes",
    "min_notice_minutes": "min_notice_minutes",
    "booking_horizon_days": "booking_horizon_days",
}
RULE_COLUMNS = tuple(getattr(Practitioner, column) for column in _RULE_FIELDS.values())


def rules(*, session: Session, practitioner_id: uuid.UUID) -> Rules:
    row = session.execute(select(*RULE_COLUMNS).where(Practitioner.id == practitioner_id)).first()
    if row is None:
        raise NotFound("That practitioner does not exist.")
    return Rules.from_row(row)


def schedule(*, session: Session, practitioner_id: uuid.UUID, now: datetime | None = None) -> Schedule:
    """Everything the availability page shows; time off that has ended is left out."""
    now = now or datetime.now(UTC)
    found = rules(session=session, practitioner_id=practitioner_id)
    weekly = [
        HoursRange(day, start, end)
        for day, day_ranges in sorted(_weekly_ranges(session, practitioner_id).items())
        for start, end in sorted(day_ranges)
    ]
    today = now.astimezone(found.zone).date()
    overrides = [
        DateRange(*row)
        for row in session.execute(
            select(AvailabilityOverride.on_date, AvailabilityOverride.start_time, AvailabilityOverride.end_time)
            .where(AvailabilityOverride.practitioner_id == practitioner_id, AvailabilityOverride.on_date >= today)
            .order_by(AvailabilityOverride.on_date, AvailabilityOverride.start_time)
        )
    ]
    time_off = [
        TimeOff(*row)
        for row in session.execute(
            select(
                AvailabilityException.id,
                AvailabilityException.starts_at,
                AvailabilityException.ends_at,
                AvailabilityException.reason,
            )
            .where(AvailabilityException.practitioner_id == practitioner_id, AvailabilityException.ends_at > now)
            .order_by(AvailabilityException.starts_at)
        )
    ]
    return Schedule(rules=found, weekly=weekly, overrides=overrides, time_off=time_off)


# --- who may change it ---------------------------------------------------------------


def _check_editor(session: Session, practitioner_id: uuid.UUID, actor_id: uuid.UUID) -> Rules:
    found = rules(session=session, practitioner_id=practitioner_id)
    actor = session.get(User, actor_id)
    if actor is None or not actor.is_active or actor.deleted_at is not None:
        raise PermissionDenied("Please log in again.")
    if actor.id != found.user_id and actor.role not in OPERATORS:
        raise PermissionDenied("You can only change your own availability.")
    return found


def _audit_staff_change(
    session: Session, found: Rules, actor_id: uuid.UUID, action: str, after: dict[str, Any] | None = None
) -> None:
    """Staff changing a practitioner's availability leave an audit row (as every staff action
    does); the practitioner's own changes are theirs to make."""
    if actor_id != found.user_id:
        audit.record(
            session=session,
            actor_id=actor_id,
            action=f"availability.{action}",
            target_type="practitioner",
            target_id=found.practitioner_id,
            after=after,
        )


# --- changing it ---------------------------------------------------------------------


DayT = TypeVar("DayT", int, date)  # a weekday (0 = Monday) or one date


def _range_problems(
    ranges: list[tuple[DayT, time, time]], label: Callable[[DayT], str], *, session_length: timedelta
) -> list[tuple[DayT, str]]:
    """Every problem with the ranges, each with its day, in day order (all at once, so one
    save shows them all)."""
    problems: list[tuple[DayT, str]] = []
    by_day: dict[DayT, list[tuple[time, time]]] = {}
    for day, start, end in ranges:
        if start is None or end is None:
            problems.append((day, f"{label(day)}: give both a start and an end time."))
            continue
        start, end = until_midnight(start, end)
        if end < start and start >= time(12) and end <= time(6):  # an evening into the night
            problems.append(
                (
                    day,
                    f"{label(day)}: {start:%H:%M}–{end:%H:%M} runs past midnight: end it at 24:00, "
                    "and put the rest on the next day from 00:00.",
                )
            )
        elif start >= end:
            # "9-5" means 09:00–17:00 to most people, and "18:00-08:00" the two the other way
            # round: say so rather than only refuse it
            afternoon = time(end.hour + 12, end.minute) if start.hour < 12 and end.hour < 12 else None
            if afternoon is not None and afternoon > start:
                hint = f" Did you mean {start:%H:%M}–{afternoon:%H:%M}?"
            else:
                hint = f" Did you mean {end:%H:%M}–{start:%H:%M}?" if end < start else ""
            problems.append((day, f"{label(day)}: {start:%H:%M}–{end:%H:%M} ends before it starts.{hint}"))
        elif closes_at(date.min, end, UTC) - datetime.combine(date.min, start, UTC) < session_length:
            problems.append(
                (
                    day,
                    f"{label(day)}: {start:%H:%M}–{clock(end)} is shorter than one session "
                    f"({session_length.seconds // 60} minutes), so nobody could book it.",
                )
            )
        else:
            by_day.setdefault(day, []).append((start, end))
    for each, day_ranges in by_day.items():
        day_ranges.sort()
        for (start_a, end_a), (start_b, end_b) in pairwise(day_ranges):
            if start_b < end_a:
                problems.append(
                    (
                        each,
                        f"{label(each)}: {start_a:%H:%M}–{clock(end_a)} and {start_b:%H:%M}–{clock(end_b)} overlap.",
                    )
                )
    return sorted(problems, key=lambda problem: problem[0])


def _refuse(problems: list[tuple[int, str]] | list[tuple[date, str]]) -> None:
    if problems:
        raise InvalidInput({"hours": "\n".join(message for _, message in problems)})


def weekly_hours_problems(ranges: list[HoursRange], *, session_length: timedelta) -> list[tuple[int, str]]:
    """What is wrong with a week of hours, by weekday: what `set_weekly_hours` refuses."""
    return _range_problems(
        [(r.day_of_week, r.start, r.end) for r in ranges], DAY_NAMES.__getitem__, session_length=session_length
    )


_TIME = r"(\d{1,2})(?:[:h.](\d{2})|h)?\s*(?:([ap])\.?m\.?)?"  # 9, 09:00, 9.00, 8h30, 13h, 9am, 5 p.m.
_RANGE = re.compile(rf"^\s*{_TIME}\s*(?:-|–|—|to)\s*{_TIME}\s*$", re.IGNORECASE)


MIDNIGHT_OR_NOON = "12am is midnight; for noon write 12pm (or 12:00)"


def _twenty_four(hour: int, half: str | None) -> int:
    """An hour of a twelve-hour clock ("a" or "p") as 0-23; 24 for midnight at the end. ValueError if it is not one."""
    if half is None:
        return hour
    if not 1 <= hour <= 12:
        raise ValueError(f"{hour} is not an hour of a twelve-hour clock")
    return hour % 12 + (12 if half == "p" else 0)


def _clock_hours(start: int, start_half: str | None, end: int, end_half: str | None) -> tuple[int, int]:
    """Start and end hours from a range typed with am/pm on either side, or neither: "9-5pm"
    is the morning to the afternoon, "1-5pm" the afternoon, "7pm-12am" until midnight."""
    start_half, end_half = (start_half or "").lower() or None, (end_half or "").lower() or None
    if end_half == "a" and end == 12 and start_half != "p":
        raise ValueError(MIDNIGHT_OR_NOON)  # "9-12am" is nearly always meant as the morning
    if start_half is None and end_half is not None:
        same = _twenty_four(start, end_half)
        start_half = end_half if same < _twenty_four(end, end_half) else "a"
    start_24, end_24 = _twenty_four(start, start_half), _twenty_four(end, end_half)
    if end_half == "a" and end_24 == 0:
        end_24 = 24  # 12am at the end: midnight
    return start_24, end_24


def parse_day_hours(typed: str, *, day_name: str) -> list[tuple[time, time]]:
    """Hours as people type them, for one day: "09:00-12:00, 14:00-17:00", "9-17", "8h30 to 13h";
    blank is a day off. FieldError naming the day and the part it could not read."""
    ranges = []
    for part in (typed or "").replace(";", ",").split(","):
        if not part.strip():
            continue
        found = _RANGE.match(part)
        bounds, hint = None, ""
        if found:
            try:
                start_hour, start_minute, start_half, end_hour, end_minute, end_half = found.groups()
                start_hour, end_hour = _clock_hours(int(start_hour), start_half, int(end_hour), end_half)
                start_minute, end_minute = int(start_minute or 0), int(end_minute or 0)
                midnight = (end_hour, end_minute) == (24, 0)  # the end of the day
                bounds = until_midnight(
                    time(start_hour, start_minute), END_OF_DAY if midnight else time(end_hour, end_minute)
                )
            except ValueError as error:
                bounds, hint = None, f" ({error})" if str(error) == MIDNIGHT_OR_NOON else ""
        if bounds is None:
            raise validation.FieldError(
                f"{day_name}: “{part.strip()}” is not a time range{hint}; write it like 09:00-17:00 "
                "(several with commas), or leave the day empty."
            )
        ranges.append(bounds)
    return ranges


@dataclass(frozen=True)
class Affected:
    """A booking a change of hours would leave outside them."""

    id: uuid.UUID
    session_start: datetime
    client_name: str
    status: str
    session_end: datetime


def _upcoming_bookings(session: Session, practitioner_id: uuid.UUID, now: datetime) -> list[Affected]:
    rows = session.execute(
        select(
            Booking.id,
            Booking.session_start,
            User.first_name + " " + User.last_name,
            Booking.status,
            Booking.session_end,
        )
        .join(User, User.id == Booking.client_id)
        .where(
            Booking.practitioner_id == practitioner_id,
            text(HOLDS_TIME).bindparams(now=now),
            Booking.session_start > now,
        )
        .order_by(Booking.session_start)
    ).all()
    return [Affected(row[0], row[1], row[2], row[3].value, row[4]) for row in rows]


def bookings_outside_hours(
    *, session: Session, practitioner_id: uuid.UUID, ranges: list[HoursRange], now: datetime | None = None
) -> list[Affected]:
    """Upcoming bookings the current weekly hours cover and new ones would not (dates with
    hours of their own keep those). A booking already outside them (kept when its day closed)
    was decided on then and is not asked about again."""
    now = now or datetime.now(UTC)
    found = rules(session=session, practitioner_id=practitioner_id)
    special = set(
        session.scalars(
            select(AvailabilityOverride.on_date).where(
                AvailabilityOverride.practitioner_id == practitioner_id,
                AvailabilityOverride.on_date >= now.astimezone(found.zone).date(),
            )
        )
    )
    current = _weekly_ranges(session, practitioner_id)
    new: dict[int, list[tuple[time, time]]] = {}
    for item in _kept_as(ranges):
        new.setdefault(item.day_of_week, []).append((item.start, item.end))
    outside = []
    for booking in _upcoming_bookings(session, practitioner_id, now):
        local = booking.session_start.astimezone(found.zone)
        if local.date() in special:
            continue
        weekday = local.weekday()
        if _covered(booking, found.zone, current.get(weekday, [])) and not _covered(
            booking, found.zone, new.get(weekday, [])
        ):
            outside.append(booking)
    return outside


def bookings_outside_date_hours(
    *,
    session: Session,
    practitioner_id: uuid.UUID,
    on_date: date,
    ranges: list[tuple[time, time]],
    now: datetime | None = None,
) -> list[Affected]:
    """Upcoming bookings on `on_date` that its current hours cover and hours of its own
    (`ranges`; none: the weekday's usual hours again) would not."""
    now = now or datetime.now(UTC)
    found = rules(session=session, practitioner_id=practitioner_id)
    current = _day_ranges(session, found, on_date, on_date)[on_date]
    new = [until_midnight(*each) for each in ranges] or _weekly_ranges(session, practitioner_id).get(
        on_date.weekday(), []
    )
    return [
        booking
        for booking in _upcoming_bookings(session, practitioner_id, now)
        if booking.session_start.astimezone(found.zone).date() == on_date
        and _covered(booking, found.zone, current)
        and not _covered(booking, found.zone, new)
    ]


def _weekly_ranges(session: Session, practitioner_id: uuid.UUID) -> dict[int, list[tuple[time, time]]]:
    """The weekly hours as they stand, by weekday (0 = Monday)."""
    by_day: dict[int, list[tuple[time, time]]] = {}
    for day, start, end in session.execute(
        select(AvailabilitySlot.day_of_week, AvailabilitySlot.start_time, AvailabilitySlot.end_time).where(
            AvailabilitySlot.practitioner_id == practitioner_id
        )
    ):
        by_day.setdefault(day, []).append((start, end))
    return by_day


def _covered(booking: Affected, zone: ZoneInfo, ranges: list[tuple[time, time]]) -> bool:
    """Whether the whole booking, start to its own end, fits in one of the ranges of the day
    it starts on (in the practitioner's zone)."""
    day = booking.session_start.astimezone(zone).date()
    return any(
        datetime.combine(day, start, zone) <= booking.session_start and booking.session_end <= closes_at(day, end, zone)
        for start, end in ranges
    )


def bookings_during(
    *, session: Session, practitioner_id: uuid.UUID, starts_at: datetime, ends_at: datetime, now: datetime | None = None
) -> list[Affected]:
    """Upcoming bookings that time off from `starts_at` to `ends_at` would fall on, each to its
    own end (its length when booked, whatever the practitioner's sessions last now)."""
    now = now or datetime.now(UTC)
    return [
        b
        for b in _upcoming_bookings(session, practitioner_id, now)
        if b.session_start < ends_at and b.session_end > starts_at
    ]


def time_off_span(
    *, first_day: date, last_day: date, start_time: time | None, end_time: time | None, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """The instants time off covers: whole days, or two times of one day (to 00:00: to midnight)."""
    if start_time is not None and end_time is not None:
        start_time, end_time = until_midnight(start_time, end_time)
        return datetime.combine(first_day, start_time, zone), closes_at(first_day, end_time, zone)
    return datetime.combine(first_day, time(0), zone), datetime.combine(last_day + timedelta(days=1), time(0), zone)


def set_weekly_hours(
    *, session: Session, practitioner_id: uuid.UUID, actor_id: uuid.UUID, ranges: list[HoursRange]
) -> None:
    """Replace the weekly hours; several ranges a day are fine, overlapping ones are not."""
    found = _check_editor(session, practitioner_id, actor_id)
    ranges = _kept_as(ranges)
    for item in ranges:
        if not 0 <= item.day_of_week <= 6:
            raise InvalidInput({"hours": "Days run from Monday to Sunday."})
    _refuse(weekly_hours_problems(ranges, session_length=found.session))
    session.execute(delete(AvailabilitySlot).where(AvailabilitySlot.practitioner_id == practitioner_id))
    session.add_all(
        AvailabilitySlot(practitioner_id=practitioner_id, day_of_week=r.day_of_week, start_time=r.start, end_time=r.end)
        for r in ranges
    )
    session.flush()
    _audit_staff_change(session, found, actor_id, "weekly_hours", {"hours": _hours_words(ranges)})


def _hours_words(ranges: list[HoursRange]) -> str:
    """'Mon 09:00–17:00, Tue 09:00–12:00': a week of hours as the audit log shows it."""
    ordered = sorted(ranges, key=lambda r: (r.day_of_week, r.start))
    return ", ".join(f"{DAY_NAMES[r.day_of_week][:3]} {r.start:%H:%M}–{clock(r.end)}" for r in ordered) or "closed"


def set_date_hours(
    *,
    session: Session,
    practitioner_id: uuid.UUID,
    actor_id: uuid.UUID,
    on_date: date,
    ranges: list[tuple[time, time]],
    now: datetime | None = None,
) -> None:
    """Different hours on one date (replacing its weekly hours); no ranges removes the override."""
    found = _check_editor(session, practitioner_id, actor_id)
    today = (now or datetime.now(UTC)).astimezone(found.zone).date()
    if on_date < today:
        raise InvalidInput({"on_date": "That date has passed."})
    if not within_plans(on_date, today):
        raise InvalidInput({"on_date": "Hours for a date can be set at most two years ahead."})
    ranges = [until_midnight(start, end) for start, end in ranges]
    day_ranges = [(on_date, start, end) for start, end in ranges]
    _refuse(_range_problems(day_ranges, lambda day: f"{day:%a %d %b}", session_length=found.session))
    session.execute(
        delete(AvailabilityOverride).where(
            AvailabilityOverride.practitioner_id == practitioner_id, AvailabilityOverride.on_date == on_date
        )
    )
    session.add_all(
        AvailabilityOverride(practitioner_id=practitioner_id, on_date=on_date, start_time=start, end_time=end)
        for start, end in ranges
    )
    session.flush()
    hours = ", ".join(f"{start:%H:%M}–{clock(end)}" for start, end in sorted(ranges)) or "weekly hours again"
    _audit_staff_change(session, found, actor_id, "date_hours", {"date": on_date.isoformat(), "hours": hours})


def time_off_words(starts_at: datetime, ends_at: datetime, *, zone: ZoneInfo) -> str:
    """Time off as people say it: "Fri 11 Dec – Sun 13 Dec 2026" for whole days (it is stored
    up to the midnight after the last), or "Fri 11 Dec 2026, 09:00–12:00" within one day."""
    start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
    if start.time() == end.time() == time(0):
        last = end.date() - timedelta(days=1)
        return f"{start:%a %d %b %Y}" if last == start.date() else f"{start:%a %d %b} – {last:%a %d %b %Y}"
    if start.date() == end.date():
        return f"{start:%a %d %b %Y, %H:%M}–{end:%H:%M}"
    if end.time() == time(0) and end.date() == start.date() + timedelta(days=1):  # to midnight
        return f"{start:%a %d %b %Y, %H:%M}–24:00"
    return f"{start:%a %d %b %Y, %H:%M} – {end:%a %d %b %Y, %H:%M}"


def add_time_off(
    *,
    session: Session,
    practitioner_id: uuid.UUID,
    actor_id: uuid.UUID,
    first_day: date,
    last_day: date,
    reason: str = "",
    start_time: time | None = None,
    end_time: time | None = None,
    now: datetime | None = None,
) -> TimeOff:
    """Time off from `first_day` to `last_day` (whole days), or between two times of one day."""
    found = _check_editor(session, practitioner_id, actor_id)
    zone = found.zone
    problems: dict[str, str] = {}
    if first_day - (now or datetime.now(UTC)).astimezone(zone).date() > PLANNABLE_AHEAD:
        raise InvalidInput({"first_day": "Time off can be set at most two years ahead."})
    if last_day < first_day:
        problems["last_day"] = "The last day is before the first day."
    elif (last_day - first_day).days >= MAX_TIME_OFF_DAYS:
        problems["last_day"] = "Time off can cover at most a year at a time."
    if (start_time is None) != (end_time is None):
        problems["start_time"] = "Give both times, or neither for whole days."
    elif start_time is not None and end_time is not None:
        start_time, end_time = until_midnight(start_time, end_time)
        if first_day != last_day:
            problems["start_time"] = "Times of day work for a single day; use whole days for a longer break."
        elif start_time >= end_time:
            problems["end_time"] = "The end time must be after the start time."
    try:
        reason = validation.text(reason, label="The reason", max_length=200, required=False)
    except validation.FieldError as error:
        problems["reason"] = str(error)
    if problems:
        raise InvalidInput(problems)
    starts_at, ends_at = time_off_span(
        first_day=first_day, last_day=last_day, start_time=start_time, end_time=end_time, zone=zone
    )
    if ends_at <= (now or datetime.now(UTC)):
        raise InvalidInput({"last_day": "That time has already passed."})
    clash = session.execute(
        select(AvailabilityException.starts_at, AvailabilityException.ends_at)
        .where(
            AvailabilityException.practitioner_id == practitioner_id,
            AvailabilityException.starts_at < ends_at,
            AvailabilityException.ends_at > starts_at,
        )
        .order_by(AvailabilityException.starts_at)
        .limit(1)
    ).first()
    if clash is not None:
        held = time_off_words(*clash, zone=zone)
        raise InvalidInput({"first_day": f"That overlaps your time off {held}; remove that one first to change it."})
    entry = AvailabilityException(practitioner_id=practitioner_id, starts_at=starts_at, ends_at=ends_at, reason=reason)
    session.add(entry)
    session.flush()
    _audit_staff_change(
        session, found, actor_id, "time_off_add", {"time_off": time_off_words(starts_at, ends_at, zone=zone)}
    )
    return TimeOff(entry.id, entry.starts_at, entry.ends_at, entry.reason)


def remove_time_off(
    *, session: Session, practitioner_id: uuid.UUID, actor_id: uuid.UUID, time_off_id: uuid.UUID
) -> None:
    found = _check_editor(session, practitioner_id, actor_id)
    removed = session.execute(
        delete(AvailabilityException)
        .where(AvailabilityException.id == time_off_id, AvailabilityException.practitioner_id == practitioner_id)
        .returning(AvailabilityException.starts_at, AvailabilityException.ends_at)
    ).first()
    if removed is None:
        raise NotFound("That time off does not exist any more.")
    _audit_staff_change(
        session, found, actor_id, "time_off_remove", {"time_off": time_off_words(*removed, zone=found.zone)}
    )


def update_rules(
    *,
    session: Session,
    practitioner_id: uuid.UUID,
    actor_id: uuid.UUID,
    buffer_minutes: int,
    min_notice_minutes: int,
    booking_horizon_days: int,
    time_zone: str,
) -> None:
    found = _check_editor(session, practitioner_id, actor_id)
    problems: dict[str, str] = {}
    if not 0 <= buffer_minutes <= 240:
        problems["buffer_minutes"] = "The buffer between sessions is 0 to 240 minutes."
    if not 0 <= min_notice_minutes <= 20160:
        problems["min_notice_minutes"] = "Minimum notice is 0 to 336 hours (14 days)."
    if not 1 <= booking_horizon_days <= 365:
        problems["booking_horizon_days"] = "Clients can book 1 to 365 days ahead."
    if time_zone not in available_timezones():
        problems["time_zone"] = f"“{time_zone}” is not a time zone."
    if problems:
        raise InvalidInput(problems)
    practitioner = session.get(Practitioner, practitioner_id)
    assert practitioner is not None  # _check_editor found it
    practitioner.buffer_minutes = buffer_minutes
    practitioner.min_notice_minutes = min_notice_minutes
    practitioner.booking_horizon_days = booking_horizon_days
    practitioner.time_zone = time_zone
    session.flush()
    rules: dict[str, Any] = {"buffer_minutes": buffer_minutes, "min_notice_minutes": min_notice_minutes}
    rules |= {"booking_horizon_days": booking_horizon_days, "time_zone": time_zone}
    _audit_staff_change(session, found, actor_id, "rules", rules)


# --- slots ---------------------------------------------------------------------------


def _day_ranges(session: Session, found: Rules, first_day: date, last_day: date) -> dict[date, list[tuple[time, time]]]:
    """The working ranges of each local date: an override if there is one, else the weekly hours."""
    weekly = _weekly_ranges(session, found.practitioner_id)
    overrides: dict[date, list[tuple[time, time]]] = {}
    for on_date, start, end in session.execute(
        select(AvailabilityOverride.on_date, AvailabilityOverride.start_time, AvailabilityOverride.end_time).where(
            AvailabilityOverride.practitioner_id == found.practitioner_id,
            AvailabilityOverride.on_date.between(first_day, last_day),
        )
    ):
        overrides.setdefault(on_date, []).append((start, end))
    days: dict[date, list[tuple[time, time]]] = {}
    on = first_day
    while on <= last_day:
        days[on] = sorted(overrides.get(on, weekly.get(on.weekday(), [])))
        on += timedelta(days=1)
    return days


def _busy(
    session: Session,
    found: Rules,
    start: datetime,
    end: datetime,
    now: datetime,
    ignore: uuid.UUID | None,
    count_bookings: bool = True,
) -> list[tuple[datetime, datetime]]:
    """Intervals nobody can book: held time of bookings and time off, sorted."""
    intervals: list[tuple[datetime, datetime]] = []
    held = select(Booking.session_start, Booking.blocked_until).where(
        Booking.practitioner_id == found.practitioner_id,
        text(HOLDS_TIME).bindparams(now=now),
        Booking.session_start < end + found.buffer,
        Booking.blocked_until > start,
    )
    if ignore is not None:
        held = held.where(Booking.id != ignore)
    if count_bookings:
        intervals += [(row[0], row[1]) for row in session.execute(held)]
    intervals += [
        (row[0], row[1])
        for row in session.execute(
            select(AvailabilityException.starts_at, AvailabilityException.ends_at).where(
                AvailabilityException.practitioner_id == found.practitioner_id,
                AvailabilityException.starts_at < end,
                AvailabilityException.ends_at > start,
            )
        )
    ]
    return sorted(intervals)


class _BusyTimes:
    """Busy intervals, asked "does [start, end) meet any?" in O(log n) each.

    Sorted by start, with the latest end among each prefix: the intervals that start
    before `end` meet [start, end) exactly when the latest of their ends is after `start`.
    """

    def __init__(self, intervals: list[tuple[datetime, datetime]]):
        self.starts = [begins for begins, _ in intervals]
        self.latest_end = list(itertools.accumulate((ends for _, ends in intervals), max))

    def overlaps(self, start: datetime, end: datetime) -> bool:
        index = bisect.bisect_left(self.starts, end)
        return index > 0 and self.latest_end[index - 1] > start


def bookable_slots(
    *,
    session: Session,
    practitioner_id: uuid.UUID,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
    ignore_booking_id: uuid.UUID | None = None,
    count_bookings: bool = True,
) -> list[datetime]:
    """Start times between `start` and `end` a client could book now (instants, in UTC).

    `ignore_booking_id` leaves one booking out, for moving it; `count_bookings=False`
    leaves them all out, to tell a taken slot from a time that is never open.
    """
    now = now or datetime.now(UTC)
    found = rules(session=session, practitioner_id=practitioner_id)
    earliest = max(start, now + timedelta(minutes=found.min_notice_minutes))
    latest = min(end, now + timedelta(days=found.booking_horizon_days))
    if earliest >= latest:
        return []
    zone = found.zone
    days = _day_ranges(session, found, earliest.astimezone(zone).date(), latest.astimezone(zone).date())
    # A session holds its own length plus the buffer after it; the buffer before it is
    # the previous booking's (see Booking.blocked_until), so it is checked both ways.
    busy = _BusyTimes(
        _busy(
            session,
            found,
            earliest - found.session - found.buffer,
            latest + found.session,
            now,
            ignore_booking_id,
            count_bookings,
        )
    )
    slots = []
    for day, ranges in days.items():
        for range_start, range_end in ranges:
            moment = datetime.combine(day, range_start, zone)
            closing = closes_at(day, range_end, zone)
            while moment + found.session <= closing:
                if earliest <= moment < latest and not busy.overlaps(moment, moment + found.session + found.buffer):
                    slots.append(moment.astimezone(UTC))
                moment += found.session
    return slots


# Everything booking one time asks, read in the same round trip as whatever else the
# caller selects about the practitioner `p` (join this after `FROM practitioners p`): the
# working ranges of the time's local date (that date's overrides if it has any, else its
# weekday's hours), whether time off covers it and whether a booking holds it.
# Parameters :start, :now and :ignore (a booking to leave out, when one is moved).
SLOT_FACTS_JOIN = f"""
    CROSS JOIN LATERAL (
        SELECT (CAST(:start AS timestamptz) AT TIME ZONE p.time_zone)::date AS on_date,
               CAST(:start AS timestamptz)
                 + make_interval(mins => p.session_duration_minutes + p.buffer_minutes) AS held_until
    ) AS slot
    CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(r.start_time ORDER BY r.start_time), '{{}}') AS starts,
               coalesce(array_agg(r.end_time ORDER BY r.start_time), '{{}}') AS ends
        FROM (
            SELECT start_time, end_time FROM availability_overrides
            WHERE practitioner_id = p.id AND on_date = slot.on_date
            UNION ALL
            SELECT start_time, end_time FROM availability_slots
            WHERE practitioner_id = p.id AND day_of_week = extract(isodow FROM slot.on_date)::int - 1
              AND NOT EXISTS (SELECT FROM availability_overrides
                              WHERE practitioner_id = p.id AND on_date = slot.on_date)
        ) AS r
    ) AS hours
    CROSS JOIN LATERAL (
        SELECT EXISTS (
                   SELECT FROM availability_exceptions
                   WHERE practitioner_id = p.id AND starts_at < slot.held_until AND ends_at > :start
               ) AS time_off,
               EXISTS (
                   SELECT FROM bookings
                   WHERE practitioner_id = p.id AND {HOLDS_TIME}
                     -- the exclusion constraint's own expression, so its GiST index answers
                     AND tstzrange(session_start, blocked_until, '[)')
                         && tstzrange(CAST(:start AS timestamptz), slot.held_until, '[)')
                     AND id IS DISTINCT FROM CAST(:ignore AS uuid)
               ) AS taken
    ) AS holds
"""  # noqa: S608 - HOLDS_TIME is this module's own constant; every value is bound
SLOT_FACTS_COLUMNS = "hours.starts, hours.ends, holds.time_off, holds.taken"
# Built from this module's constants only; the id is bound (hence S608 is silenced).
_SLOT_FACTS = text(f"SELECT {SLOT_FACTS_COLUMNS} FROM practitioners p {SLOT_FACTS_JOIN} WHERE p.id = :practitioner_id")  # noqa: S608

SlotState = Literal["free", "taken", "closed"]


def judge_slot(found: Rules, start: datetime, now: datetime, facts: Any) -> SlotState:
    """What the facts (a row with SLOT_FACTS_COLUMNS) say about booking `start` now: the
    same rules as `bookable_slots` — notice and horizon, on the grid of a working range,
    clear of time off — and then whether a booking is in the way."""
    start = start.astimezone(UTC)
    notice, horizon = timedelta(minutes=found.min_notice_minutes), timedelta(days=found.booking_horizon_days)
    if not now + notice <= start < now + horizon:
        return "closed"
    day = start.astimezone(found.zone).date()
    for range_start, range_end in zip(facts.starts, facts.ends, strict=True):
        opening = datetime.combine(day, range_start, found.zone)
        closing = closes_at(day, range_end, found.zone)
        steps, remainder = divmod(start - opening, found.session)
        if steps >= 0 and not remainder and start + found.session <= closing:
            break
    else:
        return "closed"
    if facts.time_off:
        return "closed"
    return "taken" if facts.taken else "free"


def slot_state(
    *,
    session: Session,
    practitioner_id: uuid.UUID,
    start: datetime,
    now: datetime | None = None,
    ignore_booking_id: uuid.UUID | None = None,
    found: Rules | None = None,
) -> SlotState:
    """'free' when `start` can be booked now, 'taken' when only a booking is in the way,
    'closed' when it is not an open time at all.

    The same rules as `bookable_slots`, asked about one time with one small query:
    booking a session runs this, so it is kept cheap.
    """
    now = now or datetime.now(UTC)
    found = found or rules(session=session, practitioner_id=practitioner_id)
    facts = session.execute(
        _SLOT_FACTS,
        {"practitioner_id": found.practitioner_id, "start": start, "now": now, "ignore": ignore_booking_id},
    ).one()
    return judge_slot(found, start, now, facts)
