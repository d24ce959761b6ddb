"""Book a session: a practitioner, an open time, how to meet, a price to agree to."""

import uuid
from datetime import UTC, datetime

import streamlit as st

from avenrae.config import get_settings
from avenrae.db import session_scope
from avenrae.models import Role
from avenrae.services import bookings, flows
from avenrae.services.errors import NotFound
from avenrae.ui import booking, feedback, pickers
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

user = signed_in(__file__)
st.title("Book a session")
feedback.show_flash()

if user.role == Role.CLIENT:
    client_id = user.id
else:
    chosen_client = pickers.person(Role.CLIENT, key="book_for", label="client")
    if chosen_client is None:
        st.stop()
    client_id = chosen_client.user_id

try:
    practitioner_id = uuid.UUID(st.query_params.get("practitioner", ""))
except ValueError:
    chosen = pickers.person(
        Role.PRACTITIONER,
        key="book_with",
        label="practitioner",
        show_email=user.role != Role.CLIENT,
        bookable_only=True,
    )
    if chosen is None:
        nearby = "near you" if user.role == Role.CLIENT else "near the client"
        st.page_link("pages/search.py", label=f"Or find one {nearby} on the map", icon=":material/travel_explore:")
        st.stop()
    practitioner_id = chosen.practitioner_id

try:
    with session_scope() as session:
        practitioner = bookings.practitioner_for_booking(session=session, practitioner_id=practitioner_id)
except NotFound as missing:
    st.error(str(missing))
    st.stop()

booking.practitioner_card(practitioner)
if not practitioner.bookable:
    st.warning("This practitioner is not verified yet, so they cannot be booked.")
    st.page_link("pages/search.py", label="Back to the search for someone else", icon=":material/travel_explore:")
    st.stop()

held = feedback.read(lambda session: bookings.unpaid_holds(session=session, client_id=client_id))
if held >= get_settings().max_unpaid_holds:  # said before a time is chosen, not after
    st.warning(bookings.too_many_holds(held, by_the_client=client_id == user.id))
    st.page_link("pages/bookings.py", label="Go to the unpaid bookings", icon=":material/payments:")
    st.stop()

start = booking.time_picker(practitioner.id, practitioner.time_zone, practitioner.booking_horizon_days, key="book")
asked = st.query_params.get("meeting")  # the way of meeting the search asked for
meeting = st.radio(
    "How to meet",
    practitioner.meeting_types,
    index=next((i for i, m in enumerate(practitioner.meeting_types) if m.value == asked), 0),
    horizontal=True,
    format_func=lambda m: fmt.label(m.value),
)
# No max_chars: a browser stops typing at the limit but drops a longer paste without a word;
# the booking's own check says how much to cut and keeps the text.
notes = st.text_area(
    "Notes for the practitioner (optional)",
    placeholder="Anything they should know",
    help=f"Up to {bookings.MAX_NOTES:,} characters.",
)

booking.price_line(practitioner)
if start is None:
    st.caption("Choose a time to continue.")
    st.stop()
# How long the time is held for payment, before booking rather than after (a session today
# may leave minutes to pay).
now = datetime.now(UTC)
pays_by = flows.first_way_to_pay()
held_until = fmt.local_time(bookings.hold_until(pays_by=pays_by, session_start=start, now=now), practitioner.time_zone)
if pays_by == "eft" and bookings.eft_deadline(session_start=start, now=now) is None:
    pays = "you pay" if client_id == user.id else "the client pays"
    st.caption(
        f"Once booked, the time is held until {held_until} only: it is too soon before the session for a bank "
        f"transfer to clear, so {pays} in person with our staff (cash or card machine) by then."
    )
else:
    st.caption(f"Once booked, the time is held for payment until {held_until}; unpaid by then, it is released.")
# The cancellation policy, before the booking rather than after it.
free_until = bookings.full_refund_until(start)
who = "you cancel" if client_id == user.id else "the client cancels"
if free_until <= datetime.now(UTC):
    hours = bookings.FULL_REFUND_HOURS
    st.warning(f"This session starts within {hours} hours: if {who}, nothing is refunded.", icon=":material/info:")
else:
    until = fmt.local_time(free_until, practitioner.time_zone)
    st.caption(f"If {who} by {until}, everything paid is refunded; later, nothing is.")
# The price the button showed before this run (a click's run reads the rate afresh): booked
# only if it is still the price.
shown = st.session_state.get("book_price_shown")
st.session_state["book_price_shown"] = (practitioner.id, practitioner.price.total_amount)
if st.button(
    f"Book {fmt.local_time(start, practitioner.time_zone)} for {fmt.rand(practitioner.price.total_amount)}",
    type="primary",
    key="book_submit",  # the same button when its price changes, so the click is answered
):
    agreed = shown[1] if shown and shown[0] == practitioner.id else practitioner.price.total_amount
    request = bookings.BookingRequest(client_id, practitioner.id, start, meeting, notes, agreed_total=agreed)
    actor = bookings.Actor(user.id, user.role)
    booked = feedback.attempt(lambda session: flows.book(session=session, request=request, actor=actor).id, rerun=False)
    if booked:
        st.session_state[feedback.FLASH_KEY] = (
            "Booked! The time is held for you while you pay; until then the booking is pending."
            if client_id == user.id
            else "Booked! The time is held for the client while they pay; until then the booking is pending."
        )
        st.switch_page("pages/bookings.py", query_params={"booking": str(booked)})
