"""Payments: the ledger for staff, totals, refunds owed, unmatched payments, and refunds."""

import pandas as pd
import streamlit as st

from avenrae.db import session_scope
from avenrae.models import PaymentStatus, TransactionKind
from avenrae.services import bookings, counting, ledger, payments
from avenrae.services.errors import ServiceError
from avenrae.ui import feedback, refunds, widgets
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in
from avenrae.ui.payment import reference_for

user = signed_in(__file__)
actor = bookings.Actor(user.id, user.role)
st.title("Payments")
feedback.show_flash()
st.caption(
    "Online payments: " + ("Stripe" if payments.online_gateway() else "not set up — staff record EFT and cash by hand")
)

left, middle, right = st.columns([2, 2, 2])
with left:
    period = widgets.date_range(key="payments_period")
kinds = middle.multiselect("Kind", list(TransactionKind), format_func=lambda k: fmt.label(k.value), placeholder="All")
statuses = right.multiselect("Status", list(PaymentStatus), format_func=lambda s: fmt.label(s.value), placeholder="All")
words = st.text_input("Client, practitioner or reference", placeholder="Part of a name, email or reference")
if period is None:
    st.stop()

start, end = fmt.day_bounds(*period)
filters = ledger.LedgerFilter(start=start, end=end, kinds=tuple(kinds), statuses=tuple(statuses), text=words)
after, page_number = widgets.keyset_page(key="payments_pages", scope=(period, tuple(kinds), tuple(statuses), words))
try:
    with session_scope() as session:
        found = ledger.staff_list(
            session=session,
            role=user.role,
            filters=filters,
            after=after,
            days=period,
        )
        owed = ledger.refunds_owed(session=session, role=user.role)
        unmatched = payments.unmatched_payments(session=session, role=user.role)
except ServiceError as problem:
    feedback.show_error(problem)
    st.stop()

columns = st.columns(4)
totals = found.totals.totals
fmt.rand_metrics(
    columns,
    [
        ("Charged", totals.charged, None),
        ("Refunded", totals.refunded, None),
        ("Net received", totals.net, None),
        ("Platform fees", totals.platform_fees, "Fee share of charges, less the fee share of refunds"),
    ],
)
if found.totals.as_of is None:
    st.caption("Totals of completed rows matching the filters; the table shows every status.")
else:
    st.caption(
        "Totals of completed rows matching the filters, from the analytics figures as of "
        f"{fmt.local_time(found.totals.as_of)} (refreshed every 10 minutes); the table shows every status, up to now."
    )

if found.rows:
    pages = f" of {counting.pages(found.total.value, 50):,}" if found.total.exact else ""
    st.caption(f"{fmt.rows(found.total.value, found.total.exact, 'row')} · page {page_number}{pages}")
    st.dataframe(
        pd.DataFrame(
            {
                # What matches a bank statement first: on a phone only the first columns show.
                "When": [fmt.local_time(r.created_at) for r in found.rows],
                "Amount": [fmt.rand(r.amount) for r in found.rows],
                "Booking": [reference_for(r.booking_id) for r in found.rows],
                "Client": [r.client_name for r in found.rows],
                "Kind": [fmt.label(r.kind.value) for r in found.rows],
                "Status": [fmt.label(r.status.value) for r in found.rows],
                "Paid via": [r.paid_via for r in found.rows],
                "Reference": [r.provider_reference or "" for r in found.rows],
                "Practitioner": [r.practitioner_name for r in found.rows],
                "Note": [r.note or "" for r in found.rows],
            }
        ),
        hide_index=True,
        placeholder=fmt.MISSING,
        width="stretch",
    )
    if page_number > 1 or found.next is not None:
        widgets.keyset_buttons(key="payments_pages", following=found.next)
    widgets.csv_export(
        lambda session: ledger.export_csv(session=session, role=user.role, filters=filters),
        name="payments",
        noun="payment",
        limit=ledger.EXPORT_LIMIT,
    )
else:
    st.info("No payments match.")

refunds.owed_list(owed)
refunds.unmatched_table(unmatched)
refunds.refund_form(actor, owed, found.rows)
