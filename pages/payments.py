"""Payments: the ledger for staff, totals, refunds owed, and refunds."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pandas as pd
import streamlit as st

from avenrae.db import session_scope
from avenrae.models import PaymentStatus, TransactionKind
from avenrae.services import bookings, payments
from avenrae.services.errors import ServiceError
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in
from avenrae.ui.payment import reference_for, send_refunds

user = signed_in(__file__)
actor = bookings.Actor(user.id, user.role)
st.title("Payments")
feedback.show_flash()
st.caption(
    "Online payments: " + ("Stripe" if payments.online_gateway() else "not set up — staff record EFT and cash by hand")
)

today = datetime.now(UTC).date()
left, middle, right = st.columns([2, 2, 2])
period = left.date_input("Period", value=(today - timedelta(days=30), today), format="DD/MM/YYYY")
kinds = middle.multiselect("Kind", list(TransactionKind), format_func=lambda k: fmt.label(k.value), placeholder="All")
statuses = right.multiselect("Status", list(PaymentStatus), format_func=lambda s: fmt.label(s.value), placeholder="All")
left, right = st.columns([4, 1])
words = left.text_input("Client, practitioner or reference", placeholder="Part of a name, email or reference")
page_number = right.number_input("Page", min_value=1, value=1, step=1)

if not isinstance(period, tuple) or len(period) != 2:
    st.info("Choose the last day of the period too.")
    st.stop()
start = datetime.combine(period[0], time(0), UTC)
end = datetime.combine(period[1] + timedelta(days=1), time(0), UTC)
try:
    with session_scope() as session:
        found = payments.ledger(
            session=session,
            actor=actor,
            filters=payments.LedgerFilter(
                start=start, end=end, kinds=tuple(kinds), statuses=tuple(statuses), text=words
            ),
            page=int(page_number),
        )
        owed = payments.refunds_owed(session=session, actor=actor)
        unmatched = payments.unmatched_payments(session=session, actor=actor)
except ServiceError as problem:
    feedback.show_error(problem)
    st.stop()

columns = st.columns(4)
columns[0].metric("Charged", fmt.rand(found.totals.charged))
columns[1].metric("Refunded", fmt.rand(found.totals.refunded))
columns[2].metric("Net received", fmt.rand(found.totals.net))
columns[3].metric("Platform fees in charges", fmt.rand(found.totals.platform_fees))
st.caption("Totals of completed rows matching the filters; the table shows every status.")

if found.rows:
    st.caption(f"{fmt.count(found.total, 'row')} · page {found.page} of {found.pages:,}")
    st.dataframe(
        pd.DataFrame(
            {
                "When": [fmt.local_time(r.created_at) for r in found.rows],
                "Kind": [fmt.label(r.kind.value) for r in found.rows],
                "Amount": [fmt.rand(r.amount) for r in found.rows],
                "Status": [fmt.label(r.status.value) for r in found.rows],
                "Paid via": [payments.MANUAL_METHODS.get(r.method or "", r.provider.capitalize()) for r in found.rows],
                "Reference": [r.provider_reference or "" for r in found.rows],
                "Booking": [reference_for(r.booking_id) for r in found.rows],
                "Client": [r.client_name for r in found.rows],
                "Practitioner": [r.practitioner_name for r in found.rows],
                "Note": [r.note or "" for r in found.rows],
            }
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.info("No payments match.")

st.subheader("Refunds owed")
if not owed:
    st.caption("Nothing owed: every cancellation's refund has been paid out.")
for entry in owed:
    with st.container(border=True):
        st.markdown(
            f"**{fmt.rand(entry.outstanding)}** to {fmt.md(entry.client_name)} · booking "
            f"{reference_for(entry.booking_id)} for {fmt.local_time(entry.session_start)}, cancelled "
            f"{fmt.local_time(entry.cancelled_at)} · paid via {entry.paid_by}"
        )

if unmatched:
    st.subheader("Payments that did not match their booking")
    st.caption(
        "Money that named a booking but was not what we asked for (another payment page, amount or currency). "
        "It never counts as paid and goes back to the payer automatically."
    )
    st.dataframe(
        pd.DataFrame(
            {
                "When": [fmt.local_time(u.created_at) for u in unmatched],
                "Amount": [f"{u.amount_cents / 100:,.2f} {u.currency}" for u in unmatched],
                "Booking named": [reference_for(u.booking_id) if u.booking_id else u.named_booking for u in unmatched],
                "Why": [u.reason for u in unmatched],
                "Refund": [fmt.label(u.refund_status) for u in unmatched],
                "Payment": [u.payment_reference for u in unmatched],
            }
        ),
        hide_index=True,
        width="stretch",
    )

st.subheader("Refund a booking")
candidates = {reference_for(r.booking_id): r.booking_id for r in found.rows}
for entry in owed:
    candidates.setdefault(reference_for(entry.booking_id), entry.booking_id)
if not candidates:
    st.caption("Bookings with payments in the table above can be refunded here.")
    st.stop()
with st.form("refund", clear_on_submit=True):
    left, right = st.columns(2)
    chosen = left.selectbox("Booking", list(candidates))
    amount = right.number_input("Amount (R)", min_value=0.0, value=0.0, step=10.0)
    reason = st.text_input("Reason (the client sees it)", max_chars=300)
    st.caption("Online payments go back through Stripe. For EFT or cash payments, pay the client first:")
    left, right = st.columns(2)
    method = left.selectbox("Paid back by", list(payments.MANUAL_METHODS), format_func=payments.MANUAL_METHODS.get)
    reference = right.text_input("Refund reference (EFT or cash only)")
    if st.form_submit_button("Refund", type="primary"):
        done = feedback.attempt(
            lambda session: payments.refund(
                session=session,
                booking_id=candidates[chosen],
                actor=actor,
                amount=Decimal(str(amount)),
                reason=reason,
                method=method,
                reference=reference,
            ),
            rerun=False,
        )
        if done:
            st.session_state[feedback.FLASH_KEY] = f"Refund of {fmt.rand(amount)} recorded for {chosen}."
            send_refunds(done.to_send)
            st.rerun()
