"""Choosing a time: the open times of a date, and where to find the next ones."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from avenrae.db import session_scope
from avenrae.services import availability, verification
from avenrae.services.bookings import BookablePractitioner
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui import reviews as ui_reviews


def open_times(
    practitioner_id: uuid.UUID, time_zone: str, on: date, *, ignore: uuid.UUID | None = None
) -> list[datetime]:
    zone = ZoneInfo(time_zone)
    start = datetime.combine(on, time(0), zone)
    with session_scope() as session:
        return availability.bookable_slots(
            session=session,
            practitioner_id=practitioner_id,
            start=start.astimezone(UTC),
            end=(start + timedelta(days=1)).astimezone(UTC),
            ignore_booking_id=ignore,
        )


def open_days(
    practitioner_id: uuid.UUID,
    time_zone: str,
    days: int,
    *,
    ignore: uuid.UUID | None = None,
    first: date | None = None,
) -> list[date]:
    """The local dates with an open time within `days` of `first` (default today), looked up
    three weeks at a time, up to ten dates: what a client picks from with one click."""
    zone = ZoneInfo(time_zone)
    today = first or datetime.now(zone).date()
    found: list[date] = []
    for offset in range(0, days, 21):
        start = datetime.combine(today + timedelta(days=offset), time(0), zone)
        with session_scope() as session:
            slots = availability.bookable_slots(
                session=session,
                practitioner_id=practitioner_id,
                start=start.astimezone(UTC),
                end=(start + timedelta(days=min(21, days - offset))).astimezone(UTC),
                ignore_booking_id=ignore,
            )
        found += sorted({slot.astimezone(zone).date() for slot in slots})
        if len(found) >= 10:
            break
    return found[:10]


def time_picker(
    practitioner_id: uuid.UUID,
    time_zone: str,
    horizon_days: int,
    *,
    key: str,
    ignore: uuid.UUID | None = None,
    now_at: datetime | None = None,
) -> datetime | None:
    """A day (one click on the next open days, or any date), then one of its open times (in
    the practitioner's time zone); None until chosen. A booking being moved (`ignore`) does
    not hold its own time, which (`now_at`) is not offered as a place to move it to."""
    zone = ZoneInfo(time_zone)
    today = datetime.now(zone).date()
    days = open_days(practitioner_id, time_zone, horizon_days, ignore=ignore)
    if not days:
        st.warning("This practitioner has no open times in the coming weeks.")
        return None
    # The day clicked or the date typed, whichever came last: each clears the other. The
    # choices belong to one practitioner: another one starts them again.
    names = (f"{key}_day", f"{key}_date", f"{key}_time")
    chosen_key, clicked_key = f"{key}_chosen", f"{key}_clicked_day"
    feedback.belong_to(practitioner_id, *names, chosen_key, clicked_key, key=f"{key}_for")
    day_key, date_key, time_key = (feedback.key(name) for name in names)
    # A booking being moved starts on its own day, when it has another open time: most moves
    # are to a time near it.
    own_day = now_at.astimezone(zone).date() if now_at is not None else None
    own_times: list[datetime] | None = None  # read only when the day is among those offered
    if own_day is not None and own_day in days:
        own_times = [m for m in open_times(practitioner_id, time_zone, own_day, ignore=ignore) if m != now_at]
    first = own_day if own_day is not None and own_times else days[0]
    if day_key not in st.session_state or st.session_state[day_key] not in (*days, None):
        st.session_state[day_key] = first

    def clicked_a_day() -> None:
        st.session_state[date_key] = None
        st.session_state[clicked_key] = st.session_state[day_key]

    def typed_a_date() -> None:
        if st.session_state[date_key]:
            st.session_state[day_key] = None
        else:  # the date cleared: back to the day clicked before it
            earlier = st.session_state.get(clicked_key)
            st.session_state[day_key] = earlier if earlier in days else first

    picked = st.pills("Day", days, format_func=lambda d: f"{d:%a %d %b}", key=day_key, on_change=clicked_a_day)
    # Wide bounds, checked below: a date outside the widget's own bounds is only drawn in red
    # while the day clicked earlier (and its times) stay chosen. From a week ago (its calendar
    # opens on that month; a year back, it opened a year ago).
    last = today + timedelta(days=horizon_days)
    other = st.date_input(
        "Or another date",
        value=None,
        min_value=today - timedelta(days=7),
        max_value=today + timedelta(days=max(horizon_days, 366) * 2),
        key=date_key,
        format="DD/MM/YYYY",
        on_change=typed_a_date,
    )
    if other is not None and not today <= other <= last:
        st.error(
            f"{other:%a %d %b %Y} has passed: choose today or a later day."
            if other < today
            else f"Bookings are taken up to {last:%a %d %b %Y}; {other:%a %d %b %Y} is later."
        )
        return None
    on = other or picked or first
    times = (
        own_times
        if own_times is not None and on == own_day
        else [moment for moment in open_times(practitioner_id, time_zone, on, ignore=ignore) if moment != now_at]
    )
    labels = {moment.astimezone(zone).strftime("%H:%M"): moment for moment in times}
    # The instant chosen last time, so that a time taken meanwhile is said, even when it was
    # its day's last (the day then leaves the list, and the same hour of another day must not
    # stand in for it).
    earlier: datetime | None = st.session_state.get(chosen_key)
    if earlier is not None and earlier not in times:
        earlier_day = earlier.astimezone(zone).date()
        if earlier_day == on or earlier_day not in days:
            st.warning(f"{fmt.local_time(earlier, time_zone, '%a %d %b, %H:%M')} was just taken — pick another time.")
            st.session_state[time_key] = st.session_state[chosen_key] = None
    if not times:
        left = (today + timedelta(days=horizon_days) - on).days
        later = [day for day in days if day > on] or (
            open_days(practitioner_id, time_zone, left, ignore=ignore, first=on + timedelta(days=1)) if left > 0 else []
        )
        st.info(
            f"No open times on {on:%a %d %b}. "
            + (f"The next open day is {later[0]:%a %d %b}." if later else "None can be booked after it yet.")
        )
        return None
    chosen = st.pills("Time", list(labels), key=time_key, help=f"Times are in {time_zone}.")
    st.session_state[chosen_key] = labels.get(chosen) if chosen else None
    return st.session_state[chosen_key]


def practitioner_card(practitioner: BookablePractitioner) -> None:
    """Who is being booked: name, standing, rating, place, bio and the latest reviews."""
    with st.container(border=True):
        badge = "✔ Verified by Avenrae" if practitioner.verified else "Not verified"
        stars = (
            f"★ {practitioner.rating:.1f} from {fmt.count(practitioner.review_count, 'review')}"
            if practitioner.rating is not None
            else "No reviews yet"
        )
        st.subheader(fmt.md(practitioner.name))
        st.caption(f"{fmt.label(practitioner.specialization)} · {badge} · {stars} · {fmt.md(practitioner.city or '')}")
        if practitioner.bio:
            st.text(practitioner.bio)
        st.caption(
            verification.health_status_line(
                verified=practitioner.verified, health_registration=practitioner.health_registration
            )
        )
        ui_reviews.latest(practitioner.id)


def price_line(practitioner: BookablePractitioner) -> None:
    """The price as agreed to: the practitioner's rate, the platform fee at its configured rate, the total."""
    price = practitioner.price
    st.markdown(
        f"**{practitioner.session_minutes}-minute session** · {fmt.rand(price.service_amount)} "
        f"+ platform fee {fmt.rand(price.platform_fee)} ({fmt.percent(price.platform_fee_rate)}) "
        f"= **{fmt.rand(price.total_amount)}**"
    )
