"""The payment step of a pending booking: pay online (link and QR code) or by EFT (bank
details, reference, deadline); staff record cash, EFT or card-machine payments, also late."""

from __future__ import annotations

import io
from decimal import Decimal

import segno
import streamlit as st

from avenrae.db import session_scope
from avenrae.services import bookings, flows, ledger, payments
from avenrae.services.errors import ServiceError
from avenrae.ui import feedback
from avenrae.ui import format as fmt

reference_for = payments.eft_reference


def qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=6, border=2)
    return buffer.getvalue()


def pay_panel(row: bookings.BookingRow, actor: bookings.Actor) -> None:
    """Under a pending booking: how it gets paid, for the client and for staff."""
    online = payments.online_gateway() is not None
    st.subheader("Payment")
    if online and row.pays_by != "eft":
        _online(row, actor)
    else:
        _eft(row, actor)
        if not online and actor.is_operator:  # so nobody looks for a card button that is not there
            st.caption("Card payments online are not set up: the client pays by EFT, cash or card machine.")
        elif not online:
            st.caption("Card payments are not available yet: pay by EFT, or by cash or card machine with our staff.")
    if actor.is_operator:
        manual_payment_form(row, actor, "Record a payment received by hand")


def _eft(row: bookings.BookingRow, actor: bookings.Actor) -> None:
    with session_scope() as session:
        booking = bookings.load(session, row.id, lock=False)
        instructions = flows.eft_instructions(booking)
        hurry = bookings.transfer_may_be_late(booking)
    details = payments.bank_details()
    deadline = fmt.local_time(row.hold_expires_at, fmt.default_zone()) if row.hold_expires_at else "the hold ends"
    if actor.is_operator:  # staff read it as staff: the client pays, they record it
        st.info(
            f"The client pays **{fmt.rand(row.total_amount)}** by EFT with the reference "
            f"**{reference_for(row.id)}** by **{deadline}**; record it below when it arrives."
        )
    else:
        st.info(
            f"Pay **{fmt.rand(row.total_amount)}** by EFT with the reference **{reference_for(row.id)}** by "
            f"**{deadline}**; our staff confirm the booking as soon as it arrives."
            + (f" {bookings.SLOW_TRANSFER}" if hurry else "")
            if details
            else instructions
        )
    if details:
        st.markdown("  \n".join(fmt.md(line) for line in details.lines()))
        # To copy into a banking app whole (on a phone, "AVN-" wrapped apart from the rest).
        reference, account = st.columns(2)
        with reference:
            st.caption("Reference")
            st.code(reference_for(row.id), language=None)
        with account:
            st.caption("Account number")
            st.code(details.account_number, language=None)


def _online(row: bookings.BookingRow, actor: bookings.Actor) -> None:
    link = st.session_state.get(f"pay_link_{row.id}")
    left, right = st.columns(2)
    if link is None and left.button(f"Pay {fmt.rand(row.total_amount)} online", type="primary"):
        link = feedback.attempt(
            lambda session: flows.pay_online(session=session, booking_id=row.id, actor=actor), rerun=False
        )
        if link:
            st.session_state[f"pay_link_{row.id}"] = link
    if link is None and right.button("Pay by EFT instead", help="A bank transfer; the time is held longer for it."):
        feedback.attempt(
            lambda session: flows.pay_by_eft(session=session, booking_id=row.id, actor=actor),
            success="You are paying by EFT: the account and the deadline are below.",
        )
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
            lambda session: flows.refresh_payment(session=session, booking_id=row.id), rerun=False
        )
        if outcome == "confirmed":
            st.session_state[feedback.FLASH_KEY] = "Paid — the booking is confirmed."
            st.rerun()
        elif outcome is not None:
            st.info(_status_words(outcome))


MANUAL_CONFIRM_KEY = "manual_payment_confirm"


def manual_payment_form(row: bookings.BookingRow, actor: bookings.Actor, title: str) -> None:
    """Staff record money received by hand (EFT, cash, card machine): the booking is confirmed,
    or booked again when its hold had run out and the time is still free. A recorded payment
    never changes, so it is checked, then named with its booking, and recorded on "Yes"."""
    with st.form(f"manual_payment_{row.id}"):  # gone once recorded
        st.markdown(f"**{title}**")
        left, middle, right = st.columns(3)
        method = left.selectbox("Method", list(ledger.MANUAL_METHODS), format_func=ledger.MANUAL_METHODS.__getitem__)
        reference = middle.text_input(
            "Reference or receipt number",
            placeholder="As on the bank statement or receipt",
            help=f"The client was asked to pay with the reference {reference_for(row.id)}.",
        )
        amount = right.number_input(
            "Amount received (R)", value=float(row.total_amount), step=10.0, help="Cents after a dot, as in 517.50."
        )
        typed = (row.id, method or "", reference, amount)
        if st.form_submit_button("Record payment…"):
            st.session_state.pop(MANUAL_CONFIRM_KEY, None)
            try:  # what recording would refuse is said now, not after "Yes"
                with session_scope() as session:
                    checked = flows.check_manual_payment(
                        session=session,
                        booking_id=row.id,
                        actor=actor,
                        method=method or "",
                        reference=reference,
                        amount=Decimal(str(amount)),
                    )
                outcome = LATE_OUTCOME[checked.late] if checked.late else ""
                st.session_state[MANUAL_CONFIRM_KEY] = (typed, checked.reference, fmt.money(amount), outcome)
            except ServiceError as error:
                feedback.show_error(error)
    asked = st.session_state.get(MANUAL_CONFIRM_KEY)
    if not asked or asked[0] != typed:  # another booking, or the form changed since: never a stale question
        if asked and asked[0][0] == row.id:
            st.session_state.pop(MANUAL_CONFIRM_KEY, None)
        return
    (_, method, _, _), reference, received, outcome = asked
    with feedback.question(f"manual_payment_{row.id}"):
        whose = (
            f"{fmt.md(row.client_name)}’s session with {fmt.md(row.practitioner_name)} on "
            f"{fmt.local_time(row.session_start, fmt.default_zone())}"
        )
        st.warning(
            f"Record **{fmt.rand(received)}** received by {ledger.method_words(method)} (reference "
            f"“{fmt.md(reference)}”) for **{reference_for(row.id)}**, {whose}?{outcome} "
            "A recorded payment cannot be changed."
        )
        yes, no = st.columns(2)
        if yes.button("Yes, record this payment", type="primary", key=f"confirm_manual_{row.id}"):
            said = feedback.attempt(
                lambda session: flows.record_manual_payment(
                    session=session, booking_id=row.id, actor=actor, method=method, reference=reference, amount=received
                ),
                rerun=False,
            )
            st.session_state.pop(MANUAL_CONFIRM_KEY, None)
            if said:
                st.session_state[feedback.FLASH_KEY] = f"{fmt.rand(received)} for {reference_for(row.id)}: {said}"
                st.rerun()
        if no.button("Not yet", key=f"keep_manual_{row.id}"):
            st.session_state.pop(MANUAL_CONFIRM_KEY, None)
            st.rerun()


# For money arriving after the hold ran out: what recording it will do, said before "Yes".
LATE_OUTCOME = {
    "books again": " Its time is still free: the booking is booked again and confirmed.",
    "owed back": (
        " **Its time is no longer open** (someone else has it, or the practitioner is away): the booking stays "
        "cancelled and the money is listed as owed back. Offer the client another time first if they want one."
    ),
}


def late_payment_form(row: bookings.BookingRow, actor: bookings.Actor) -> None:
    """A booking released because nobody paid in time, when the money turns up after all."""
    st.subheader("Payment arrived late?")
    st.caption(
        "Record it here: if the time is still free the booking is booked again and confirmed; "
        "if someone else has it, the money is listed under Payments as owed back."
    )
    manual_payment_form(row, actor, "Record a late payment")


def _owed_back_form(row: bookings.BookingRow, actor: bookings.Actor, *, asked: str, kept: str, title: str) -> None:
    """Money for a booking that cannot take it, recorded by staff: it is owed back."""
    with st.expander(asked):
        st.caption(
            f"Record it here: the booking {kept} and the money is listed under Payments as owed back to the client."
        )
        manual_payment_form(row, actor, title)


def after_cancellation_form(row: bookings.BookingRow, actor: bookings.Actor) -> None:
    """A cancelled booking whose money arrives anyway (a transfer sent before the client cancelled)."""
    _owed_back_form(
        row,
        actor,
        asked="Money arrived after it was cancelled?",
        kept="stays cancelled",
        title="Record money received after the cancellation",
    )


def paid_again_form(row: bookings.BookingRow, actor: bookings.Actor) -> None:
    """A booking already paid whose money arrives a second time (a transfer after a card payment)."""
    _owed_back_form(
        row,
        actor,
        asked="Paid twice? Money that came in again",
        kept="is not changed",
        title="Record money received for a booking already paid",
    )


def send_refunds(queued: list) -> None:
    """Once the change that queued them has committed: ask the provider for these refunds now
    (the refund job retries whatever cannot be sent)."""
    if not queued:
        return
    run = payments.send_queued_refunds(ids=queued)
    if run.waiting and payments.online_gateway() is None:
        st.session_state[feedback.WARNING_KEY] = (
            "Card refunds are not set up on this server (no Stripe keys), so the refund has not gone out yet; "
            "it goes out once they are."
        )
    elif run.waiting:
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
