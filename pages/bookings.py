"""Bookings: a client's and a practitioner's own, everyone's for staff; cancel, move, complete."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from avenrae.db import session_scope
from avenrae.models import BookingStatus, Role
from avenrae.services import bookings, payments
from avenrae.services.errors import ServiceError
from avenrae.ui import booking, feedback, payment
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

user = signed_in(__file__)
actor = bookings.Actor(user.id, user.role)
staff = actor.is_staff
st.title("Bookings" if staff else "My bookings")
feedback.show_flash()

left, middle, right = st.columns([2, 3, 1])
period = left.segmented_control("When", ["Upcoming", "Past", "All"], default="Upcoming")
statuses = middle.multiselect(
    "Status", list(BookingStatus), format_func=lambda s: fmt.label(s.value), placeholder="Any status"
)
page_number = right.number_input("Page", min_value=1, value=1, step=1)
words = st.text_input("Client or practitioner", placeholder="Part of a name or email") if staff else ""
now = datetime.now(UTC)
filters = bookings.BookingFilter(
    statuses=tuple(statuses),
    start_from=now - timedelta(hours=3) if period == "Upcoming" else None,
    start_to=now if period == "Past" else None,
    text=words,
    soonest_first=period == "Upcoming",
)
try:
    with session_scope() as session:
        found = bookings.list_for(session=session, actor=actor, filters=filters, page=int(page_number))
except ServiceError as problem:
    feedback.show_error(problem)
    st.stop()

if not found.rows:
    st.info("No bookings here yet." if period == "All" and not statuses else "No bookings match.")
    if user.role == Role.CLIENT:
        st.page_link("pages/search.py", label="Find a practitioner", icon=":material/travel_explore:")
    st.stop()


def zone_of(row: bookings.BookingRow) -> str:
    return row.practitioner_time_zone if user.role == Role.PRACTITIONER else fmt.default_zone()


st.caption(f"{fmt.count(found.total, 'booking')} · page {found.page} of {found.pages:,}")
st.dataframe(
    pd.DataFrame(
        {
            "When": [fmt.local_time(r.session_start, zone_of(r)) for r in found.rows],
            **({} if user.role == Role.CLIENT else {"Client": [r.client_name for r in found.rows]}),
            **({} if user.role == Role.PRACTITIONER else {"Practitioner": [r.practitioner_name for r in found.rows]}),
            "Meeting": [fmt.label(r.meeting_type.value) for r in found.rows],
            "Status": [fmt.label(r.status.value) for r in found.rows],
            "Payment": [fmt.label(r.payment_status.value) for r in found.rows],
            "Total": [fmt.rand(r.total_amount) for r in found.rows],
        }
    ),
    hide_index=True,
    width="stretch",
)

wanted = st.query_params.get("booking")
default = next((i for i, row in enumerate(found.rows) if str(row.id) == wanted), 0)
row = st.selectbox(
    "Booking",
    found.rows,
    index=default,
    format_func=lambda r: (
        f"{fmt.local_time(r.session_start, zone_of(r))} · "
        f"{r.practitioner_name if user.role == Role.CLIENT else r.client_name} · {fmt.label(r.status.value)}"
    ),
)

with st.container(border=True):
    ends = fmt.local_time(row.session_end, zone_of(row), "%H:%M")
    st.markdown(
        f"**{fmt.local_time(row.session_start, zone_of(row))}–{ends}** · {fmt.label(row.meeting_type.value)} · "
        f"{fmt.md(row.client_name)} with {fmt.md(row.practitioner_name)}"
    )
    st.write(
        f"Status: **{fmt.label(row.status.value)}** · payment: **{fmt.label(row.payment_status.value)}** · "
        f"{fmt.rand(row.service_amount)} + fee {fmt.rand(row.platform_fee)} = {fmt.rand(row.total_amount)}"
    )
    if row.status == BookingStatus.PENDING and row.hold_expires_at:
        st.info(f"Held until {fmt.local_time(row.hold_expires_at, zone_of(row), '%H:%M')} while it is paid.")
    if row.refund_due:
        st.write(f"Refund owed: **{fmt.rand(row.refund_due)}**")
    if row.notes:
        st.caption("Notes: " + fmt.md(row.notes))

if row.status == BookingStatus.PENDING and (staff or user.role == Role.CLIENT):
    payment.pay_panel(row, actor)

actions = bookings.allowed_actions(row, actor, now)
if not actions:
    st.stop()
TAB_TITLES = {"cancel": "Cancel", "reschedule": "Move", "complete": "After the session", "no_show": "After the session"}
titles = list(dict.fromkeys(TAB_TITLES[action] for action in actions))
tabs = dict(zip(titles, st.tabs(titles), strict=True))

if "cancel" in actions:
    with tabs["Cancel"]:
        with session_scope() as session:
            terms = bookings.cancellation_terms(session=session, booking_id=row.id, actor=actor, now=now)
        if not terms.paid:
            st.caption("Nothing has been paid yet, so there is nothing to refund.")
        elif user.role == Role.CLIENT:
            st.caption(
                f"Cancelling now refunds {fmt.rand(terms.refund_if_client_cancels)} of the {fmt.rand(terms.paid)} "
                "paid: clients who cancel 24 hours or more ahead get everything back, later nothing."
            )
        elif user.role == Role.PRACTITIONER:
            st.caption(f"When a practitioner cancels, the client gets all {fmt.rand(terms.paid)} back.")
        else:
            st.caption(
                f"Paid {fmt.rand(terms.paid)}. If the client asked: {fmt.rand(terms.refund_if_client_cancels)} back "
                "(24-hour policy); if the practitioner asked: everything back."
            )
        reason = st.text_input("Reason", key="cancel_reason", max_chars=500)
        on_behalf, override = None, None
        if staff:
            on_behalf = st.radio("Asked by", ["client", "practitioner"], horizontal=True, format_func=fmt.label)
            if terms.paid and st.checkbox("Set the refund by hand (say why in the reason)"):
                override = st.number_input("Refund (R)", 0.0, float(terms.paid), float(terms.paid))
        if st.button("Cancel booking", type="primary"):
            outcome = feedback.attempt(
                lambda session: payments.cancel_booking(
                    session=session,
                    booking_id=row.id,
                    actor=actor,
                    reason=reason,
                    on_behalf_of=on_behalf,
                    refund_override=None if override is None else fmt.money(override),
                ),
                rerun=False,
            )
            if outcome:
                st.session_state[feedback.FLASH_KEY] = outcome.message
                payment.send_refunds(outcome.to_send)
                st.rerun()

if "reschedule" in actions:
    with tabs["Move"]:
        with session_scope() as session:
            practitioner = bookings.practitioner_for_booking(session=session, practitioner_id=row.practitioner_id)
        new_start = booking.time_picker(
            row.practitioner_id, practitioner.time_zone, practitioner.booking_horizon_days, key="move", ignore=row.id
        )
        if new_start and st.button(f"Move to {fmt.local_time(new_start, practitioner.time_zone)}", type="primary"):
            feedback.attempt(
                lambda session: bookings.reschedule(
                    session=session, booking_id=row.id, actor=actor, new_start=new_start
                ),
                success="Booking moved.",
            )

if "After the session" in tabs:
    with tabs["After the session"]:
        if "complete" in actions and st.button("Mark completed"):
            feedback.attempt(
                lambda session: bookings.complete(session=session, booking_id=row.id, actor=actor),
                success="Session marked completed.",
            )
        if "no_show" in actions and st.button("The client did not come"):
            feedback.attempt(
                lambda session: bookings.mark_no_show(session=session, booking_id=row.id, actor=actor),
                success="No-show recorded.",
            )
