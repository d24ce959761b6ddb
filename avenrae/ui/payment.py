"""The payment step of a pending booking: pay online (link and QR code), or staff record cash/EFT."""

from __future__ import annotations

import io
from decimal import Decimal

import segno
import streamlit as st

from avenrae.services import bookings, payments
from avenrae.ui import feedback
from avenrae.ui import format as fmt


def qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=6, border=2)
    return buffer.getvalue()


def reference_for(booking_id) -> str:
    """The short reference clients quote when paying by EFT."""
    return "AVN-" + str(booking_id).replace("-", "")[:8].upper()


def pay_panel(row: bookings.BookingRow, actor: bookings.Actor) -> None:
    """Under a pending booking: how it gets paid, for the client and for staff."""
    online = payments.online_gateway() is not None
    st.subheader("Payment")
    if online:
        link = st.session_state.get(f"pay_link_{row.id}")
        if link is None and st.button(f"Pay {fmt.rand(row.total_amount)} online", type="primary"):
            link = feedback.attempt(
                lambda session: payments.start_online_payment(session=session, booking_id=row.id, actor=actor),
                rerun=False,
            )
            if link:
                st.session_state[f"pay_link_{row.id}"] = link
        if link:
            left, right = st.columns([3, 1])
            left.link_button("Open the secure Stripe payment page", link.url, type="primary")
            left.caption(
                f"Or scan the code with a phone. The page stays open, and the time held, until "
                f"{fmt.local_time(link.expires_at, fmt.default_zone(), '%H:%M')}."
            )
            right.image(qr_png(link.url), width=160)
        if st.button("Check payment status"):
            outcome = feedback.attempt(
                lambda session: payments.refresh_payment(session=session, booking_id=row.id), rerun=False
            )
            if outcome == "confirmed":
                st.session_state[feedback.FLASH_KEY] = "Paid — the booking is confirmed."
                st.rerun()
            elif outcome is not None:
                st.info(_status_words(outcome))
    else:
        st.info(
            f"Pay {fmt.rand(row.total_amount)} by EFT or cash with the reference **{reference_for(row.id)}**; "
            "our staff confirm the booking as soon as it arrives."
        )
    if actor.is_staff:
        with st.form(f"manual_payment_{row.id}", clear_on_submit=True):
            st.markdown("**Record a payment received by hand**")
            left, middle, right = st.columns(3)
            method = left.selectbox("Method", list(payments.MANUAL_METHODS), format_func=payments.MANUAL_METHODS.get)
            reference = middle.text_input("Reference or receipt number", placeholder=reference_for(row.id))
            amount = right.number_input("Amount received (R)", min_value=0.0, value=float(row.total_amount), step=10.0)
            if st.form_submit_button("Record payment"):
                feedback.attempt(
                    lambda session: payments.record_manual_payment(
                        session=session,
                        booking_id=row.id,
                        actor=actor,
                        method=method,
                        reference=reference,
                        amount=Decimal(str(amount)),
                    ),
                    success="Payment recorded; the booking is confirmed.",
                )


def send_refunds(queued: list) -> None:
    """Once the change that queued them has committed: ask the provider for these refunds now
    (the refund job retries whatever cannot be sent)."""
    if not queued:
        return
    run = payments.send_queued_refunds(ids=queued)
    if run.waiting:
        st.session_state[feedback.WARNING_KEY] = (
            "Stripe could not be reached, so the refund has not gone out yet; it is retried automatically "
            "every few minutes."
        )
    elif run.refused:
        st.session_state[feedback.WARNING_KEY] = "Stripe refused the refund; it is listed under Payments for staff."


def _status_words(outcome: str) -> str:
    if outcome.startswith("failed: "):
        return f"The last attempt did not go through ({outcome.removeprefix('failed: ')}). You can try again."
    return {
        "open": "Not paid yet. Once you have paid, this page shows it within a minute.",
        "expired": "The payment page has closed; book the time again.",
        "already recorded": "Paid — the booking is confirmed.",
        "no online payment": "No online payment has been started for this booking.",
    }.get(outcome, outcome)
