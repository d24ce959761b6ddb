"""Refunds on the Payments page: what is owed, and the form that pays a booking back."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pandas as pd
import streamlit as st

from avenrae.db import session_scope
from avenrae.services import bookings, flows, ledger, payments
from avenrae.services.errors import ServiceError
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui.payment import reference_for, send_refunds

CHOSEN_KEY = "refund_booking"
CONFIRM_KEY = "refund_confirm"
PAY_OUT_KEY = "refund_pay_out"  # the booking whose "Pay out" was pressed
ROUND_KEY = "refund_round"  # refunds made this session: each gets a fresh form


def owed_list(owed: list[ledger.OwedRefund]) -> None:
    """Every cancellation whose refund is not paid out yet, each with a button to pay it."""
    st.subheader("Refunds owed")
    if not owed:
        st.caption("Nothing owed: every cancellation's refund has been paid out.")
    for entry in owed:
        with st.container(border=True):
            left, right = st.columns([5, 1])
            left.markdown(
                f"**{fmt.rand(entry.outstanding)}** to {fmt.md(entry.client_name)} · booking "
                f"{reference_for(entry.booking_id)} for {fmt.local_time(entry.session_start)}, "
                + (
                    f"cancelled {fmt.local_time(entry.cancelled_at)}"
                    if entry.cancelled_at
                    else "goes ahead, paid more than its price"
                )
                + f" · paid via {entry.paid_via}"
            )
            if right.button("Pay out", key=f"pay_out_{entry.booking_id}"):
                st.session_state[PAY_OUT_KEY] = str(entry.booking_id)


def refund_form(actor: bookings.Actor, owed: list[ledger.OwedRefund], rows: list[ledger.LedgerRow]) -> None:
    """Refund a booking: the booking owed money comes first, with what it is owed; only
    bookings with money left to give back are offered, and a refund is confirmed before it
    is made."""
    st.subheader("Refund a booking")
    owed_by_id = {str(entry.booking_id): entry.outstanding for entry in owed}
    paid_twice = {str(entry.booking_id) for entry in owed if entry.cancelled_at is None}
    asked_about = {uuid.UUID(key) for key in owed_by_id} | {r.booking_id for r in rows}
    left = feedback.read(lambda session: ledger.refundable(session, asked_about))
    candidates = [
        key for key in dict.fromkeys([*owed_by_id, *(str(r.booking_id) for r in rows)]) if uuid.UUID(key) in left
    ]
    clients = {str(r.booking_id): r.client_name for r in rows} | {str(e.booking_id): e.client_name for e in owed}
    if not candidates:
        st.caption("Bookings owed a refund, or paid in the table above, can be refunded here.")
        return
    wanted = st.session_state.get(CHOSEN_KEY)
    pay_out = st.session_state.pop(PAY_OUT_KEY, None)
    if pay_out in candidates:
        wanted = st.session_state[CHOSEN_KEY] = pay_out
    elif pay_out is not None:  # never fall silently onto another booking
        st.info(f"{reference_for(pay_out)} has nothing left to refund: what it was paid has gone back already.")
    chosen = st.selectbox(
        "Booking",
        candidates,
        index=candidates.index(wanted) if wanted in candidates else 0,
        format_func=lambda key: (
            f"{reference_for(key)} · {clients.get(key, '')}"
            + (
                f" · owed {fmt.rand(owed_by_id[key])}"
                if key in owed_by_id
                else f" · paid {fmt.rand(left[uuid.UUID(key)])}"
            )
        ),
    )
    st.session_state[CHOSEN_KEY] = chosen
    booking_id, refundable = uuid.UUID(chosen), left[uuid.UUID(chosen)]
    st.caption(f"At most {fmt.rand(refundable)} can be refunded on this booking.")
    # A new form after each refund: the one before would still hold its amount and reference.
    with st.form(f"refund_{chosen}_{st.session_state.get(ROUND_KEY, 0)}"):
        amount = st.number_input("Amount (R)", value=float(owed_by_id.get(chosen, refundable)), step=10.0)
        reason = st.text_input(
            "Reason (the client sees it)",
            value=ledger.PAID_TWICE_REASON
            if chosen in paid_twice
            else ledger.POLICY_REFUND_REASON
            if chosen in owed_by_id
            else "",
        )
        if payments.online_gateway() is None:
            st.caption("Card refunds are not set up on this server: pay the client back by EFT or cash first, then:")
        else:
            st.caption("Online payments go back through Stripe. For EFT or cash payments, pay the client first:")
        columns = st.columns(2)
        method = columns[0].selectbox(
            "Paid back by", list(ledger.MANUAL_METHODS), format_func=ledger.MANUAL_METHODS.__getitem__
        )
        reference = columns[1].text_input("Refund reference (paid back by hand)")
        submitted = st.form_submit_button(f"Refund {reference_for(chosen)}…", type="primary")
    try:
        refund = fmt.money(amount)
    except ServiceError as error:
        feedback.show_error(error)
        return
    asked = {
        "booking": chosen,
        "client": clients.get(chosen, ""),
        "amount": refund,
        "reason": reason,
        "method": method,
        "reference": reference,
    }
    owed_here = owed_by_id.get(chosen)
    if (
        submitted
        and owed_here is not None
        and owed_here < refund <= refundable  # beyond what was paid the refund itself says the most there is
        and reason.strip() == ledger.POLICY_REFUND_REASON
    ):
        st.error(  # the policy does not give this much back: the client is told why
            f"{fmt.rand(refund)} is more than the {fmt.rand(owed_here)} still owed for this cancellation. "
            "Say in the reason why the client gets more back."
        )
    elif submitted:
        try:  # what the refund would refuse is said now, not after "Yes"
            with session_scope() as session:
                flows.check_refund(session=session, booking_id=booking_id, actor=actor, **_arguments(asked))
            st.session_state[CONFIRM_KEY] = asked
        except ServiceError as error:
            feedback.show_error(error)
    _confirm(actor, asked, owed_here)


def _arguments(asked: dict) -> dict:
    return {key: asked[key] for key in ("amount", "reason", "method", "reference")}


def _confirm(actor: bookings.Actor, asked: dict, owed: Decimal | None) -> None:
    """The refund asked for, named with its booking and amount, made only on "Yes"."""
    pending = st.session_state.get(CONFIRM_KEY)
    if not pending:
        return
    if pending != asked:  # changed since it was asked: never confirm what is no longer shown
        st.session_state.pop(CONFIRM_KEY, None)
        return
    reference = reference_for(pending["booking"])
    with feedback.question(f"refund_{pending['booking']}"):
        beyond = (
            f" That is **{fmt.rand(pending['amount'] - owed)} more** than the {fmt.rand(owed)} still owed for "
            "this cancellation."
            if owed is not None and pending["amount"] > owed
            else ""
        )
        by_hand = (
            f" {ledger.method_words(pending['method'])} (reference "
            f"“{fmt.md(pending['reference'].strip())}”)"
            if pending["reference"].strip()
            else ""
        )
        st.warning(
            f"Refund **{fmt.rand(pending['amount'])}**{' by' + by_hand if by_hand else ''} to "
            f"**{fmt.md(pending['client'])}** on booking **{reference}**?{beyond} "
            "The client is told at once, and it cannot be undone."
        )
        yes, no = st.columns(2)
        if yes.button(f"Yes, refund {fmt.rand(pending['amount'])}", type="primary"):
            done = feedback.attempt(
                lambda session: flows.refund(
                    session=session, booking_id=uuid.UUID(pending["booking"]), actor=actor, **_arguments(pending)
                ),
                rerun=False,
            )
            if done:
                st.session_state.pop(CONFIRM_KEY, None)
                st.session_state[ROUND_KEY] = st.session_state.get(ROUND_KEY, 0) + 1
                st.session_state[feedback.FLASH_KEY] = (
                    f"Refund of {fmt.rand(pending['amount'])} recorded for {reference}."
                )
                send_refunds(done.to_send)
                st.rerun()
        if no.button("No, go back"):
            st.session_state.pop(CONFIRM_KEY, None)
            st.rerun()


def unmatched_table(unmatched: list) -> None:
    if not unmatched:
        return
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
        placeholder=fmt.MISSING,
        width="stretch",
    )
