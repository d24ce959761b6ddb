"""Availability: weekly hours, time off, special dates, booking rules, and the open times they leave."""

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from avenrae.db import session_scope
from avenrae.models import Role
from avenrae.services import availability, bookings
from avenrae.ui import availability_tabs, feedback, pickers, schedule
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

availability_tabs.showing(practitioner_id)
with session_scope() as session:
    plan = availability.schedule(session=session, practitioner_id=practitioner_id)
actor = bookings.Actor(user.id, user.role)
zone = plan.rules.zone
today = datetime.now(zone).date()
own = user.role == Role.PRACTITIONER
st.caption(
    f"Times are in {plan.rules.time_zone}. Sessions last {plan.rules.session_minutes} minutes "
    + ("(change that on My account)." if own else "(the practitioner changes that on their account).")
    + ("" if own else " Changes you make here are recorded in the audit log.")
)
# Keyed, so a save on any tab comes back to that tab (and its message is seen there).
hours_tab, off_tab, dates_tab, rules_tab, preview_tab = st.tabs(
    ["Weekly hours", "Time off", "Special dates", "Booking rules", "Next 14 days"],
    key="availability_tab",
    on_change="rerun",
)
with hours_tab:
    availability_tabs.weekly_hours(plan, actor)
with off_tab:
    availability_tabs.time_off(plan, actor, today)
with dates_tab:
    availability_tabs.special_dates(plan, actor, today)
with rules_tab:
    availability_tabs.booking_rules(plan, actor)
with preview_tab:
    start = datetime.combine(today, time(0), zone)
    with session_scope() as session:
        open_times = availability.bookable_slots(
            session=session,
            practitioner_id=practitioner_id,
            start=start.astimezone(UTC),
            end=(start + timedelta(days=14)).astimezone(UTC),
        )
        bookable = bookings.practitioner_for_booking(session=session, practitioner_id=practitioner_id).bookable
    if open_times and not bookable:
        once = "once our staff have verified you" if own else "once our staff have verified this practitioner"
        st.caption(f"{len(open_times)} open times (●): clients can book them {once}.")
    elif open_times:
        st.caption(f"{len(open_times)} open times a client could book right now (●).")
    if open_times:
        for week in range(2):
            grid = schedule.slot_grid(open_times, plan.rules.time_zone, today + timedelta(days=7 * week), days=7)
            st.dataframe(grid, width="stretch", height=38 + 35 * len(grid))
    else:
        st.info("Nothing can be booked in the next 14 days. Add weekly hours, or check time off and the rules.")
