"""The tabs of the Availability page. Each save that would leave booked sessions outside the
new times lists them and asks what to do (keep them, or cancel them, refunding what was paid)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy.orm import Session

from avenrae.models import Role
from avenrae.services import availability, bookings, flows
from avenrae.services.errors import InvalidInput
from avenrae.ui import feedback, payment, schedule
from avenrae.ui import format as fmt

DECIDE_KEY = "availability_in_the_way"
SHOWN_KEY = "availability_shown_for"
WEEKLY_KEY = "weekly_hours"
WEEKLY_KEYS = tuple(f"{WEEKLY_KEY}_{day}" for day in range(7))
TIME_OFF_KEYS = ("off_first", "off_last", "off_part", "off_from", "off_to", "off_reason")


def showing(practitioner_id: uuid.UUID) -> None:
    """Call before drawing the tabs: when staff turn to another practitioner, what was typed
    or asked about the previous one is dropped, so the boxes show this practitioner's own
    hours (and a save cannot give them someone else's)."""
    feedback.belong_to(practitioner_id, *WEEKLY_KEYS, *TIME_OFF_KEYS, DECIDE_KEY, key=SHOWN_KEY)


def _choices(how_many: int) -> tuple[str, str]:
    """Keep, cancel: the two answers, for one booked session or several."""
    if how_many == 1:
        return "Keep it: I will see this client as booked", "Cancel it: the client is told and gets back all they paid"
    return (
        "Keep them: I will see these clients as booked",
        "Cancel them: each client is told and gets back all they paid",
    )


def _outcome(success: str, how_many: int, cancelled: bool) -> str:
    """'Time off added. 1 booked session cancelled: its client is told.'"""
    sessions = fmt.count(how_many, "booked session")
    if not cancelled:
        return f"{success} {sessions} kept."
    told = "its client is told" if how_many == 1 else "their clients are told"
    # Not "refunded": money paid by EFT or cash is owed until our staff pay it back.
    return f"{success} {sessions} cancelled: {told}, and anything they paid goes back to them in full."


Change = Callable[[flows.InTheWay], Callable[[Session], list[uuid.UUID]]]


def _save(change: Change, *, name: str, success: str, clear: tuple[str, ...] = ()) -> None:
    """Run `change(decision)`; when booked sessions are in the way, remember the change under
    `name` and ask (`decision`). Typed values stay on error; `clear` keys empty after success."""
    try:
        to_send = feedback.attempt(change(None), rerun=False, raises=(flows.BookingsInTheWay,))
    except flows.BookingsInTheWay as in_the_way:
        st.session_state[DECIDE_KEY] = (name, in_the_way, change, success, clear)
        st.rerun()
    if to_send is not None:
        _finish(to_send, success, clear)


def _finish(to_send: list[uuid.UUID], success: str, clear: tuple[str, ...]) -> None:
    st.session_state.pop(DECIDE_KEY, None)
    feedback.clear(*clear)
    payment.send_refunds(to_send)
    st.session_state[feedback.FLASH_KEY] = success
    st.rerun()


def decision(name: str, time_zone: str) -> None:
    """Where a save was stopped by booked sessions: list them and ask."""
    waiting = st.session_state.get(DECIDE_KEY)
    if not waiting or waiting[0] != name:
        return
    in_the_way: flows.BookingsInTheWay
    change: Change
    _, in_the_way, change, success, clear = waiting
    affected = in_the_way.affected
    with feedback.question(f"in_the_way_{name}"):
        st.warning(str(in_the_way))
        schedule.affected_list(affected, time_zone)
        keep, cancel = _choices(len(affected))
        choice = st.radio(
            "What should happen to it?" if len(affected) == 1 else "What should happen to them?",
            [keep, cancel],
            key=f"{name}_choice",
        )
        left, right = st.columns(2)
        if left.button("Save with this choice", type="primary", key=f"{name}_decide"):
            to_send = feedback.attempt(change("cancel" if choice == cancel else "keep"), rerun=False)
            if to_send is not None:
                _finish(to_send, _outcome(success, len(affected), cancelled=choice == cancel), clear)
        if right.button("Go back and change it", key=f"{name}_back"):
            st.session_state.pop(DECIDE_KEY, None)
            st.rerun()


def weekly_hours(plan: availability.Schedule, actor: bookings.Actor) -> None:
    who = "you work" if actor.role == Role.PRACTITIONER else "the practitioner works"
    st.write(
        f"Type the hours {who} each day, e.g. 09:00-12:00, 14:00-17:00 or 9am-5pm (until midnight: 18:00-24:00). "
        "Leave a day empty when closed."
    )
    typed = schedule.weekly_hours_inputs(plan.weekly, key=WEEKLY_KEY)
    if st.button("Save weekly hours", type="primary"):
        ranges, unreadable = schedule.parse_week(typed)
        if unreadable:  # with what is wrong in the days that could be read, so one save shows it all
            problems = unreadable + availability.weekly_hours_problems(ranges, session_length=plan.rules.session)
            ordered = "\n".join(message for _, message in sorted(problems, key=lambda problem: problem[0]))
            feedback.show_error(InvalidInput({"hours": ordered}))
            return
        _save(
            lambda decided: (
                lambda session: flows.set_weekly_hours(
                    session=session,
                    practitioner_id=plan.rules.practitioner_id,
                    actor=actor,
                    ranges=ranges,
                    bookings_in_the_way=decided,
                )
            ),
            name="weekly",
            success="Weekly hours saved.",
            clear=WEEKLY_KEYS,  # shown again as saved: "8-12" reads back as 08:00-12:00
        )
    decision("weekly", plan.rules.time_zone)


def _remove_time_off(
    rules: availability.Rules, actor: bookings.Actor, time_off_id: uuid.UUID
) -> Callable[[Session], None]:
    return lambda session: availability.remove_time_off(
        session=session, practitioner_id=rules.practitioner_id, actor_id=actor.id, time_off_id=time_off_id
    )


def time_off(plan: availability.Schedule, actor: bookings.Actor, today: date) -> None:
    rules = plan.rules
    for entry in plan.time_off:
        left, right = st.columns([5, 1])
        when = availability.time_off_words(entry.starts_at, entry.ends_at, zone=ZoneInfo(rules.time_zone))
        left.write(f"**{when}**" + (f" · {fmt.md(entry.reason)}" if entry.reason else ""))
        if right.button("Remove", key=f"remove_{entry.id}"):
            feedback.attempt(_remove_time_off(rules, actor, entry.id), success="Time off removed.")
    if not plan.time_off:
        st.info("No time off planned.")
    st.subheader("Add time off")
    # Outside the form, so ticking it shows the times at once (and whole days hide them).
    part = st.checkbox("Only part of a day (the first day, between two times)", key=feedback.key("off_part"))
    with st.form("time_off"):  # not cleared on submit: a refused entry keeps what was typed
        start_time = end_time = None
        if part:
            left, middle, right = st.columns(3)
            # The same label as below: a new label would be a new field, back on today.
            first_day = left.date_input("First day", value=today, key=feedback.key("off_first"), format="DD/MM/YYYY")
            start_time = middle.time_input("From", value=time(9, 0), step=900, key=feedback.key("off_from"))
            end_time = right.time_input("To", value=time(12, 0), step=900, key=feedback.key("off_to"))
            last_day = first_day
        else:
            left, right = st.columns(2)
            first_day = left.date_input("First day", value=today, key=feedback.key("off_first"), format="DD/MM/YYYY")
            # Empty unless a range is wanted: a last day left on today was "before the first day".
            last_day = (
                right.date_input(
                    "Last day",
                    value=None,
                    key=feedback.key("off_last"),
                    format="DD/MM/YYYY",
                    help="Leave it empty for one day off.",
                )
                or first_day
            )
        reason = st.text_input("Reason (only you and our staff see it)", key=feedback.key("off_reason"))
        submitted = st.form_submit_button("Add time off")
    if submitted:
        _save(
            lambda decided: (
                lambda session: (
                    flows.add_time_off(
                        session=session,
                        practitioner_id=rules.practitioner_id,
                        actor=actor,
                        first_day=first_day,
                        last_day=last_day,
                        reason=reason,
                        start_time=start_time,
                        end_time=end_time,
                        bookings_in_the_way=decided,
                    ).to_send
                )
            ),
            name="time_off",
            success="Time off added.",
            clear=TIME_OFF_KEYS,
        )
    decision("time_off", rules.time_zone)


def special_dates(plan: availability.Schedule, actor: bookings.Actor, today: date) -> None:
    rules = plan.rules
    st.write("Hours for one date that replace that weekday's usual hours, e.g. a late opening.")
    by_date: dict = {}
    for entry in plan.overrides:
        by_date.setdefault(entry.on_date, []).append((entry.start, entry.end))

    def set_hours(on_date: date, ranges: list) -> Change:
        return lambda decided: (
            lambda session: flows.set_date_hours(
                session=session,
                practitioner_id=rules.practitioner_id,
                actor=actor,
                on_date=on_date,
                ranges=ranges,
                bookings_in_the_way=decided,
            )
        )

    for on_date, day_ranges in by_date.items():
        left, right = st.columns([5, 1])
        off = plan.off_during(on_date, day_ranges)
        left.write(
            f"**{on_date:%a %d %b %Y}**: "
            + schedule.hours_text(day_ranges)
            + (" · :orange[you have time off then: nobody can book these hours until it is removed]" if off else "")
        )
        if right.button("Clear", key=f"clear_{on_date}"):
            _save(set_hours(on_date, []), name="special", success=f"{on_date:%d %b} is back to the usual hours.")
    with st.form("special_date"):
        left, middle, right = st.columns(3)
        on_date = left.date_input("Date", value=today + timedelta(days=1), format="DD/MM/YYYY")
        start_time = middle.time_input("From", value=time(17, 0), step=900)
        end_time = right.time_input("To", value=time(19, 0), step=900)
        if st.form_submit_button("Add these hours"):
            off = plan.off_during(on_date, [(start_time, end_time)])
            taken = " You have time off then: nobody can book them until it is removed." if off else ""
            _save(
                set_hours(on_date, [*by_date.get(on_date, []), (start_time, end_time)]),
                name="special",
                success=f"Hours for {on_date:%d %b} saved.{taken}",
            )
    decision("special", rules.time_zone)


def booking_rules(plan: availability.Schedule, actor: bookings.Actor) -> None:
    rules = plan.rules
    with st.form("rules"):
        # No bounds on the numbers: a browser keeps the last value in range and shows only a red
        # border; the rules say in words what is allowed.
        left, right = st.columns(2)  # a row each: on a phone columns stack, so fields still read in order
        buffer = left.number_input("Buffer after each session (minutes)", value=rules.buffer_minutes, step=5)
        notice = right.number_input("Minimum notice (hours)", value=rules.min_notice_minutes / 60, step=0.5)
        left, right = st.columns(2)
        horizon = left.number_input("Clients can book up to (days ahead)", value=rules.booking_horizon_days, step=1)
        zones = sorted(set(schedule.COMMON_ZONES) | {rules.time_zone})
        time_zone = right.selectbox("Time zone", zones, index=zones.index(rules.time_zone))
        if st.form_submit_button("Save booking rules", type="primary"):
            feedback.attempt(
                lambda session: availability.update_rules(
                    session=session,
                    practitioner_id=rules.practitioner_id,
                    actor_id=actor.id,
                    buffer_minutes=int(buffer),
                    min_notice_minutes=round(notice * 60),
                    booking_horizon_days=int(horizon),
                    time_zone=time_zone,
                ),
                success="Booking rules saved.",
            )
