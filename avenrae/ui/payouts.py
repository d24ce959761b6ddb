"""Payouts on the Earnings page: what is ready and paid out, the practitioner's bank account,
and staff's two steps, prepare then record paid (services/payouts.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import streamlit as st

from avenrae.config import get_settings
from avenrae.db import session_scope
from avenrae.services import bookings, payouts, validation
from avenrae.services.errors import ServiceError
from avenrae.ui import feedback
from avenrae.ui import format as fmt

CONFIRM_KEY = "payout_confirm"  # (what was typed, the checked payout) waiting for "Yes"
OTHER_BANK = "Another bank"


def section(actor: bookings.Actor, practitioner_id: uuid.UUID | None, name: str = "") -> None:
    """Where the payouts stand; the practitioner's account form, or staff's payout steps."""
    found = feedback.read(
        lambda session: payouts.summary(session=session, actor=actor, practitioner_id=practitioner_id)
    )
    mine = not actor.is_operator
    st.subheader("Payouts")
    days = get_settings().payout_hold_days
    st.caption(
        f"{'Your' if mine else 'Their'} share of a session is ready {days} days after it ends, unless a refund is "
        "still owed on it; Avenrae pays it into the bank account below and the payout is listed here."
    )
    columns = st.columns(3)
    fmt.rand_metrics(
        columns,
        [
            ("Ready to pay out", max(found.available, Decimal("0.00")), None),
            ("Held until a refund is settled", found.held, None),
            ("Paid out so far", found.paid_out, None),
        ],
    )
    if found.available < 0:
        st.caption(
            f"{fmt.rand(-found.available)} paid out before was refunded or is owed back since: it comes off the "
            "next payout."
        )
    if mine:
        if found.prepared is not None:
            to = f"{fmt.md(found.prepared.bank_name)} account ending {found.prepared.account_number_end}"
            if found.account_changed_since_prepared:
                st.warning(
                    f"A payout of {fmt.rand(found.prepared.amount)} was set aside for your {to} before you changed "
                    "your bank account: it waits until Avenrae has checked the new account with you."
                )
            else:
                st.info(f"A payout of {fmt.rand(found.prepared.amount)} to your {to} is being made.")
        account_form(actor, found.account)
    else:
        _account_lines(found.account, name, found.phone)
        if found.prepared is not None:
            _prepared_steps(actor, found, name)
        elif found.account is not None and found.available > 0:
            prepare_form(actor, practitioner_id, found, name)
        elif found.account is not None:
            st.caption("Nothing is ready to pay out now.")
    if found.history:
        st.markdown("**Payouts made**")
        st.dataframe(
            pd.DataFrame(
                {
                    "Paid": [fmt.local_time(row.paid_at) for row in found.history],
                    "Amount": [fmt.rand(row.amount) for row in found.history],
                    "Into": [f"{row.bank_name} …{row.account_number_end}" for row in found.history],
                    "Reference": [row.reference for row in found.history],
                }
            ),
            hide_index=True,
            width="stretch",
        )


def _account_lines(account: payouts.Account | None, name: str, phone: str | None) -> None:
    if account is None:
        st.warning(f"{fmt.md(name)} has not given a bank account for payouts yet: they add it under Earnings.")
        return
    st.markdown(
        f"**Bank account:** {fmt.md(account.bank_name)} · {fmt.md(account.account_holder)} · account "
        f"`{account.account_number}` · branch `{account.branch_code}`"
    )
    if datetime.now(UTC) - account.changed_at < payouts.RECENT_CHANGE:
        call = f" on {validation.local_phone(phone)}" if phone else ""
        st.warning(
            f"This account was given or changed on {fmt.local_time(account.changed_at)}. A new account is how payouts "
            f"are stolen: confirm it with the practitioner by phone{call} before the first payout to it."
        )


def account_form(actor: bookings.Actor, account: payouts.Account | None) -> None:
    """The practitioner's bank account: asked for when missing, changeable in an expander."""
    if account is None:
        st.warning("Add the bank account your payouts go to.")
    else:
        st.markdown(
            f"Payouts go to **{fmt.md(account.bank_name)}** account ending **{account.ending}** "
            f"({fmt.md(account.account_holder)})."
        )
    with st.expander("Bank account for payouts", expanded=account is None):
        banks = [*payouts.BANKS, OTHER_BANK]
        known = account is not None and account.bank_name in payouts.BANKS
        chosen = st.selectbox(
            "Bank",
            banks,
            index=banks.index(account.bank_name) if known and account else (len(banks) - 1 if account else None),
            placeholder="Choose your bank",
            key="payout_bank",
        )
        with st.form("payout_account"):
            other = ""
            if chosen == OTHER_BANK:
                other = st.text_input("Bank name", value=account.bank_name if account and not known else "")
            holder = st.text_input("Account holder", value=account.account_holder if account else "")
            left, right = st.columns(2)
            number = left.text_input("Account number", value=account.account_number if account else "")
            branch = right.text_input(
                "Branch code",
                value=payouts.BANKS.get(chosen or "", account.branch_code if account and not known else ""),
                help="Your bank's universal branch code is filled in; change it only if your bank says so.",
            )
            password = st.text_input(
                "Your password",
                type="password",
                autocomplete="current-password",
                help="Only you may change where your money goes. A wrong password counts as a failed login.",
                key=feedback.key("payout_password"),
            )
            saved = st.form_submit_button("Save bank account", type="primary")
        if saved:
            form = payouts.AccountForm(
                other if chosen == OTHER_BANK else (chosen or ""), holder, number, branch, password=password
            )
            feedback.attempt(
                lambda session: payouts.save_account(session=session, actor=actor, form=form),
                success="Bank account saved. Your payouts go there from now on.",
                clears=("payout_password",),
            )


def prepare_form(actor: bookings.Actor, practitioner_id: uuid.UUID | None, found: payouts.Summary, name: str) -> None:
    """Staff set a payout aside before making the transfer: checked, named, prepared on "Yes"."""
    assert practitioner_id is not None and found.account is not None
    feedback.belong_to(practitioner_id, CONFIRM_KEY, key="payout_confirm_for")
    with st.form(f"payout_{practitioner_id}"):
        st.markdown("**Pay out**")
        amount = st.number_input(
            "Amount to pay (R)", value=float(max(found.available, Decimal("0.00"))), min_value=0.0, step=10.0
        )
        typed = (practitioner_id, amount, found.account.ending)
        if st.form_submit_button("Prepare payout…"):
            st.session_state.pop(CONFIRM_KEY, None)
            try:
                with session_scope() as session:
                    checked = payouts.check(
                        session=session, actor=actor, practitioner_id=practitioner_id, amount=Decimal(str(amount))
                    )
                st.session_state[CONFIRM_KEY] = (typed, checked)
            except ServiceError as error:
                feedback.show_error(error)
    asked = st.session_state.get(CONFIRM_KEY)
    if asked and asked[0][0] == practitioner_id and asked[0][2] != found.account.ending:
        st.session_state.pop(CONFIRM_KEY, None)
        st.warning(
            f"The bank account changed while you were looking (it now ends {found.account.ending}): nothing was set "
            "aside. Check it with the practitioner, then prepare the payout again."
        )
        return
    if not asked or asked[0] != typed:
        return
    checked = asked[1]
    with feedback.question(f"payout_{practitioner_id}"):
        st.warning(
            f"Set aside **{fmt.rand(checked.amount)}** for {fmt.md(name)}’s {fmt.md(checked.account.bank_name)} "
            f"account ending {checked.account.ending}? Nobody else can pay it out then; make the transfer, and record "
            "it here with the bank's reference."
        )
        yes, no = st.columns(2)
        if yes.button("Yes, prepare this payout", type="primary", key=f"confirm_payout_{practitioner_id}"):
            st.session_state.pop(CONFIRM_KEY, None)
            feedback.attempt(
                lambda session: payouts.prepare(
                    session=session,
                    actor=actor,
                    practitioner_id=practitioner_id,
                    amount=checked.amount,
                    account_ending=checked.account.ending,
                ),
                success=f"{fmt.rand(checked.amount)} set aside: make the transfer, then record it below.",
            )
        if no.button("Not yet", key=f"keep_payout_{practitioner_id}"):
            st.session_state.pop(CONFIRM_KEY, None)
            st.rerun()


def _prepared_steps(actor: bookings.Actor, found: payouts.Summary, name: str) -> None:
    """A payout set aside: what to transfer and where, then its reference, or cancel it."""
    prepared = found.prepared
    assert prepared is not None
    feedback.belong_to(prepared.id, "payout_reference", key="payout_reference_for")
    with st.container(border=True):
        st.markdown(
            f"**{fmt.rand(prepared.amount)} is set aside** for {fmt.md(name)}’s {fmt.md(prepared.bank_name)} account "
            f"ending {prepared.account_number_end} (prepared by {fmt.md(prepared.prepared_by)}, "
            f"{fmt.local_time(prepared.prepared_at)})."
        )
        changed = found.account_changed_since_prepared
        if changed:
            old_account = f"{fmt.md(prepared.bank_name)} account ending {prepared.account_number_end}"
            st.error(
                "The bank account was changed after this payout was prepared. Do not pay it: cancel it, confirm the "
                "new account with the practitioner by phone, and prepare it again. Record it paid only if the "
                f"transfer was already made to the {old_account}, which it was set aside for."
            )
        reference = st.text_input(
            "Bank reference of the transfer",
            placeholder="As on the bank statement",
            key=feedback.key("payout_reference"),
        )
        paid, cancel = st.columns(2)
        if paid.button("Record as paid", type="secondary" if changed else "primary", key=f"paid_{prepared.id}"):
            feedback.attempt(
                lambda session: payouts.mark_paid(
                    session=session, actor=actor, payout_id=prepared.id, reference=reference
                ),
                success=f"Payout of {fmt.rand(prepared.amount)} recorded; {fmt.md(name)} is told.",
                clears=("payout_reference",),
            )
        if cancel.button(
            "Cancel it (nothing was transferred)",
            type="primary" if changed else "secondary",
            key=f"cancel_{prepared.id}",
        ):
            feedback.attempt(
                lambda session: payouts.cancel(session=session, actor=actor, payout_id=prepared.id),
                success=f"Payout of {fmt.rand(prepared.amount)} cancelled; it is ready to pay out again.",
            )
