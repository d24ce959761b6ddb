"""Bookings: a client's and a practitioner's own, everyone's for staff; pay, cancel, move, complete."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from avenrae.db import session_scope
from avenrae.models import BookingStatus, Role
from avenrae.services import bookings, counting, listings
from avenrae.services.errors import ServiceError
from avenrae.ui import booking_actions, feedback, payment, widgets
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

user = signed_in(__file__)
actor = bookings.Actor(user.id, user.role)
st.title("Bookings" if actor.is_operator else "My bookings")
feedback.show_flash()

left, middle = st.columns([2, 4])
period = left.segmented_control("When", ["Upcoming", "Past", "All"], default="Upcoming")
statuses = middle.multiselect(
    "Status", list(BookingStatus), format_func=lambda s: fmt.label(s.value), placeholder="Any status"
)
words = (
    st.text_input("Client, practitioner or reference", placeholder="Part of a name or email, or AVN-…")
    if actor.is_operator
    else ""
)
now = datetime.now(UTC)
filters = bookings.BookingFilter(
    statuses=tuple(statuses),
    start_from=now - timedelta(hours=3) if period == "Upcoming" else None,  # with those under way or just missed
    confirmed_only_before=now if period == "Upcoming" else None,
    without_cancelled=period == "Upcoming",
    start_to=now if period == "Past" else None,
    text=words,
    soonest_first=period == "Upcoming",
)
# A page at a time along the session-start index, after the last booking shown.
after, page_number = widgets.keyset_page(key="bookings_pages", scope=(period, tuple(statuses), words))
try:
    with session_scope() as session:
        found = listings.booking_list(session=session, actor=actor, filters=filters, after=after)
except ServiceError as problem:
    feedback.show_error(problem)
    st.stop()

if found.rows:
    pages = f" of {counting.pages(found.total.value, 25):,}" if found.total.exact else ""
    left_out = " · Cancelled bookings are under All" if filters.leaves_out_cancelled else ""
    st.caption(f"{fmt.rows(found.total.value, found.total.exact, 'booking')} · page {page_number}{pages}{left_out}")
    shown = st.dataframe(
        pd.DataFrame(
            {
                "When": [fmt.local_time(r.session_start, booking_actions.zone_for(user, r)) for r in found.rows],
                **({} if user.role == Role.CLIENT else {"Client": [r.client_name for r in found.rows]}),
                **(
                    {}
                    if user.role == Role.PRACTITIONER
                    else {"Practitioner": [r.practitioner_name for r in found.rows]}
                ),
                "Status": [booking_actions.status_words(r, now) for r in found.rows],
                "Payment": [booking_actions.payment_words(r, found.refunds.get(r.id)) for r in found.rows],
                # A practitioner earns their rate; the fee on top is the platform's (a trial read
                # the client's total as theirs).
                **(
                    {"Your rate": [fmt.rand(r.service_amount) for r in found.rows]}
                    if user.role == Role.PRACTITIONER
                    else {"Total": [fmt.rand(r.total_amount) for r in found.rows]}
                ),
                # Last: on a phone the table shows its first three or four columns at a glance.
                "Meeting": [fmt.label(r.meeting_type.value) for r in found.rows],
            }
        ),
        hide_index=True,
        placeholder=fmt.MISSING,
        width="stretch",
        # A tap on any cell of a row opens that booking below. The key names the bookings listed,
        # so a new list starts with nothing picked: a row number never carries over to another booking.
        on_select="rerun",
        selection_mode=["single-row", "single-cell"],
        key=booking_actions.table_key(found.rows),
    )
    if page_number > 1 or found.next is not None:
        widgets.keyset_buttons(key="bookings_pages", following=found.next)
else:
    filtered = bool(statuses or words)
    empty = {"Upcoming": "No upcoming bookings.", "Past": "No past bookings."}.get(period or "", "No bookings yet.")
    st.info("No bookings match." if filtered else empty)
    if user.role == Role.PRACTITIONER and not filtered:
        st.page_link("pages/availability.py", label="Set the hours clients can book", icon=":material/event_available:")
    if user.role == Role.CLIENT:
        st.page_link("pages/search.py", label="Find a practitioner", icon=":material/travel_explore:")

picked = booking_actions.picked_in_table(shown, found.rows) if found.rows else None
row = booking_actions.choose(found.rows, user, actor, scope=(period, tuple(statuses), words), picked=picked)
if row is None:
    st.stop()
booking_actions.detail(row, user)
if row.status == BookingStatus.PENDING and (actor.is_operator or user.role == Role.CLIENT):
    payment.pay_panel(row, actor)
elif row.expired_unpaid and actor.is_operator:
    payment.late_payment_form(row, actor)
elif row.status == BookingStatus.CANCELLED and actor.is_operator:
    payment.after_cancellation_form(row, actor)
elif row.status in bookings.PAID_FOR and actor.is_operator:
    payment.paid_again_form(row, actor)

actions = bookings.allowed_actions(row, actor, now)
if too_late := bookings.why_client_cannot_move(row, actor, now):
    st.caption(too_late)
titles = list(dict.fromkeys({"cancel": "Cancel", "reschedule": "Move"}.get(a, "After the session") for a in actions))
if titles:
    tabs = dict(zip(titles, st.tabs(titles, key=f"booking_tab_{row.id}", on_change="rerun"), strict=True))
    if "cancel" in actions:
        with tabs["Cancel"]:
            booking_actions.cancel_panel(row, user, actor, now)
    if "reschedule" in actions:
        with tabs["Move"]:
            booking_actions.move_panel(row, actor)
    if "After the session" in tabs:
        with tabs["After the session"]:
            booking_actions.after_panel(row, user, actor, actions)
