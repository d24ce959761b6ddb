"""Availability: weekly hours, time off, special dates, booking rules, and the open times they leave."""

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from avenrae.db import session_scope
from avenrae.models import Role
from avenrae.services import availability
from avenrae.ui import feedback, pickers, schedule
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

user = signed_in(__file__)
st.title("Availability")
feedback.show_flash()

if user.role == Role.PRACTITIONER:
    practitioner_id = user.practitioner_id
else:
    chosen = pickers.person(Role.PRACTITIONER, key="availability_for", label="practitioner")
    if chosen is None:
        st.stop()
    practitioner_id = chosen.practitioner_id

with session_scope() as session:
    plan = availability.schedule(session=session, practitioner_id=practitioner_id)
rules = plan.rules
zone = rules.zone
today = datetime.now(zone).date()
edit = {"session": None, "practitioner_id": practitioner_id, "actor_id": user.id}


def change(action, **kwargs):
    return lambda session: action(**{**edit, "session": session, **kwargs})


st.caption(
    f"Times are in {rules.time_zone}. Sessions last {rules.session_minutes} minutes (change that on My account)."
)
hours_tab, off_tab, dates_tab, rules_tab, preview_tab = st.tabs(
    ["Weekly hours", "Time off", "Special dates", "Booking rules", "Next 14 days"]
)

with hours_tab:
    st.write("Add a row for each stretch of the week you work; several a day are fine.")
    ranges = schedule.weekly_hours_editor(plan.weekly, key="weekly_hours")
    if st.button("Save weekly hours", type="primary"):
        feedback.attempt(change(availability.set_weekly_hours, ranges=ranges), success="Weekly hours saved.")

with off_tab:
    if plan.time_off:
        for entry in plan.time_off:
            left, right = st.columns([5, 1])
            begins, ends = (fmt.local_time(moment, rules.time_zone) for moment in (entry.starts_at, entry.ends_at))
            period = f"{begins} – {ends}"
            left.write(f"**{period}**" + (f" · {fmt.md(entry.reason)}" if entry.reason else ""))
            if right.button("Remove", key=f"remove_{entry.id}"):
                feedback.attempt(
                    change(availability.remove_time_off, time_off_id=entry.id), success="Time off removed."
                )
    else:
        st.info("No time off planned.")
    with st.form("time_off", clear_on_submit=True):
        st.subheader("Add time off")
        left, right = st.columns(2)
        first_day = left.date_input("First day", value=today, min_value=today)
        last_day = right.date_input("Last day", value=today, min_value=today)
        part = st.checkbox("Only part of a day (use the first day and these times)")
        left, right = st.columns(2)
        start_time = left.time_input("From", value=time(9, 0), step=900)
        end_time = right.time_input("To", value=time(12, 0), step=900)
        reason = st.text_input("Reason (only you and our staff see it)", max_chars=200)
        if st.form_submit_button("Add time off"):
            feedback.attempt(
                change(
                    availability.add_time_off,
                    first_day=first_day,
                    last_day=last_day,
                    reason=reason,
                    start_time=start_time if part else None,
                    end_time=end_time if part else None,
                ),
                success="Time off added.",
            )

with dates_tab:
    st.write("Hours for one date that replace that weekday's usual hours, e.g. a late opening.")
    by_date: dict = {}
    for entry in plan.overrides:
        by_date.setdefault(entry.on_date, []).append((entry.start, entry.end))
    for on_date, day_ranges in by_date.items():
        left, right = st.columns([5, 1])
        left.write(f"**{on_date:%a %d %b %Y}**: " + ", ".join(f"{a:%H:%M}–{b:%H:%M}" for a, b in day_ranges))
        if right.button("Clear", key=f"clear_{on_date}"):
            feedback.attempt(
                change(availability.set_date_hours, on_date=on_date, ranges=[]),
                success=f"{on_date:%d %b} is back to the usual hours.",
            )
    with st.form("special_date", clear_on_submit=True):
        left, middle, right = st.columns(3)
        on_date = left.date_input("Date", value=today + timedelta(days=1), min_value=today)
        start_time = middle.time_input("From", value=time(17, 0), step=900)
        end_time = right.time_input("To", value=time(19, 0), step=900)
        if st.form_submit_button("Add these hours"):
            feedback.attempt(
                change(
                    availability.set_date_hours,
                    on_date=on_date,
                    ranges=[*by_date.get(on_date, []), (start_time, end_time)],
                ),
                success=f"Hours for {on_date:%d %b} saved.",
            )

with rules_tab, st.form("rules"):
    left, right = st.columns(2)
    buffer = left.number_input("Buffer after each session (minutes)", 0, 240, rules.buffer_minutes, step=5)
    notice = right.number_input("Minimum notice (hours)", 0.0, 336.0, rules.min_notice_minutes / 60, step=0.5)
    horizon = left.number_input("Clients can book up to (days ahead)", 1, 365, rules.booking_horizon_days)
    zones = sorted(set(schedule.COMMON_ZONES) | {rules.time_zone})
    time_zone = right.selectbox("Time zone", zones, index=zones.index(rules.time_zone))
    if st.form_submit_button("Save booking rules", type="primary"):
        feedback.attempt(
            change(
                availability.update_rules,
                buffer_minutes=int(buffer),
                min_notice_minutes=round(notice * 60),
                booking_horizon_days=int(horizon),
                time_zone=time_zone,
            ),
            success="Booking rules saved.",
        )

with preview_tab:
    start = datetime.combine(today, time(0), zone)
    with session_scope() as session:
        open_times = availability.bookable_slots(
            session=session,
            practitioner_id=practitioner_id,
            start=start.astimezone(UTC),
            end=(start + timedelta(days=14)).astimezone(UTC),
        )
    if open_times:
        st.caption(f"{len(open_times)} open times a client could book right now (●).")
        for week in range(2):
            grid = schedule.slot_grid(open_times, rules.time_zone, today + timedelta(days=7 * week), days=7)
            st.dataframe(grid, width="stretch", height=38 + 35 * len(grid))
    else:
        st.info("Nothing can be booked in the next 14 days. Add weekly hours, or check time off and the rules.")
