"""One booking on the Bookings page: which one is chosen (it stays chosen after an action),
what it says, and what can be done with it. Every action that cannot be undone names its
booking and asks first, saying the refund it gives; forms start empty after a success."""

from __future__ import annotations

import uuid
import zlib
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import streamlit as st

from avenrae.db import session_scope
from avenrae.models import MEMBERS, Booking, BookingStatus, MeetingType, PaymentStatus, Role
from avenrae.services import bookings, flows, ledger, validation
from avenrae.services.accounts import CurrentUser
from avenrae.services.errors import InvalidInput, ServiceError
from avenrae.ui import booking, feedback, payment
from avenrae.ui import format as fmt

SELECTED_KEY = "bookings_selected"
CONFIRM_KEY = "bookings_confirm"
PICK_KEY = "bookings_pick"
SCOPE_KEY = "bookings_scope"
LINK_KEY = "bookings_link"
PICKED_KEY = "bookings_picked"


def zone_for(user: CurrentUser, row: bookings.BookingRow) -> str:
    """Practitioners read their own bookings in their own time zone; everyone else in the platform's."""
    return row.practitioner_time_zone if user.role == Role.PRACTITIONER else fmt.default_zone()


def status_words(row: bookings.BookingRow, now: datetime) -> str:
    """The status, and for a confirmed session that has begun where it stands: "Under way", or
    "Just ended" until it is marked done or missed (the hourly job completes it otherwise)."""
    if row.status == BookingStatus.CONFIRMED and row.session_start <= now:
        return "Under way" if now < row.session_end else "Just ended"
    return fmt.label(row.status.value)


def payment_words(row: bookings.BookingRow, refund: ledger.RefundProgress | None = None) -> str:
    """The payment as its reader means it: "Paid" (not "Completed", which reads like the
    session); a booking cancelled before anyone paid was "Not paid" (its open charge closed as
    expired); one released unpaid by the clock "Expired". A paid booking cancelled with a
    refund due (`refund`) says where the refund stands rather than "Paid"."""
    if row.payment_status == PaymentStatus.EXPIRED and row.status == BookingStatus.CANCELLED and not row.expired_unpaid:
        return "Not paid"
    if refund is not None and row.payment_status == PaymentStatus.COMPLETED:
        if refund.owed:
            return "Refund owed"
        return "Refund on its way" if refund.on_its_way else "Partly refunded"
    if row.payment_status == PaymentStatus.COMPLETED:
        return "Paid"
    return fmt.label(row.payment_status.value)


def title(user: CurrentUser, row: bookings.BookingRow) -> str:
    """A booking named so nobody mistakes it for another: when, with whom, and its state."""
    other = row.practitioner_name if user.role == Role.CLIENT else row.client_name
    if user.role not in MEMBERS:
        other = f"{row.client_name} with {row.practitioner_name}"
    when = fmt.local_time(row.session_start, zone_for(user, row))
    return f"{when} · {other} · {status_words(row, datetime.now(UTC))}"


def table_key(rows: list[bookings.BookingRow]) -> str:
    """The list's widget key, named by the bookings it lists (see `picked_in_table`)."""
    return f"bookings_table_{zlib.crc32(','.join(str(row.id) for row in rows).encode()):08x}"


def picked_in_table(shown: Any, rows: list[bookings.BookingRow]) -> str | None:
    """The booking whose row was tapped in the list (its box or any of its cells), if any."""
    selection = shown.selection
    picked = [*selection.rows, *(cell[0] for cell in selection.cells)]
    return str(rows[picked[0]].id) if picked and picked[0] < len(rows) else None


def choose(
    rows: list[bookings.BookingRow],
    user: CurrentUser,
    actor: bookings.Actor,
    *,
    scope: object = None,
    picked: str | None = None,
) -> bookings.BookingRow | None:
    """The booking being looked at. It stays the same one across actions and reruns, also
    when it has left the list above (cancelled, moved to another page). A link naming one
    (after booking, from a notice) chooses it, over an earlier choice, as does a row just
    tapped in the list (`picked`); asking for another list (`scope`: the filters) starts at
    its first booking."""
    linked = st.query_params.get("booking")
    wanted: str | None
    newly_picked = picked is not None and picked != st.session_state.get(PICKED_KEY)
    st.session_state[PICKED_KEY] = picked
    if linked and linked != st.session_state.get(LINK_KEY):  # followed once, then the reader's choice counts
        st.session_state[LINK_KEY] = linked
        wanted, fresh = linked, True
    elif newly_picked:
        wanted, fresh = picked, True
    elif scope != st.session_state.get(SCOPE_KEY, scope):
        wanted, fresh = None, True
    else:
        wanted, fresh = st.session_state.get(SELECTED_KEY), False
    st.session_state[SCOPE_KEY] = scope
    options = {str(row.id): row for row in rows}
    if wanted and wanted not in options:
        try:
            with session_scope() as session:
                found = bookings.get_for(session=session, actor=actor, booking_id=uuid.UUID(wanted))
            options = {wanted: found, **options}
        except (ServiceError, ValueError):
            wanted = None
    if not options:
        return None
    ids = list(options)
    labels = {key: title(user, row) for key, row in options.items()}
    # A keyed selectbox keeps showing the label it first drew for its choice (a booking just
    # cancelled still read "Pending"): its key names the labels, so new labels make a new
    # widget, which starts on the choice carried over by SELECTED_KEY.
    key = f"{PICK_KEY}_{zlib.crc32(repr(sorted(labels.items())).encode()):08x}"
    if fresh or key not in st.session_state:
        st.session_state[key] = wanted if wanted in options else ids[0]
    with st.container(key="booking_choice"):
        chosen = st.selectbox("Booking", ids, format_func=labels.__getitem__, key=key)
    if newly_picked:  # what the tap opened, below the list: in view on a phone too
        feedback.bring_into_view("booking_choice", when=picked, block="start")
    st.session_state[SELECTED_KEY] = chosen
    if chosen not in {str(row.id) for row in rows}:
        st.caption(KEPT_IN_VIEW)
    return options[chosen]


KEPT_IN_VIEW = (
    "This booking is not in the list above (another page, or the filters leave it out); it stays here until you"
    " choose another."
)


def detail(row: bookings.BookingRow, user: CurrentUser) -> None:
    zone = zone_for(user, row)
    with session_scope() as session:
        booked = bookings.load(session, row.id, lock=False)
        money = ledger.balance(session, row.id)
        still_owed = ledger.owed(session, booked, money)
        cancelled = cancellation_words(row, booked, user, zone)
        reach = bookings.contact(session=session, booking_id=row.id, actor=bookings.Actor(user.id, user.role))
    refund = ledger.RefundProgress(still_owed, money.refunds_pending) if row.cancelled_with_refund else None
    with st.container(border=True):
        ends = fmt.local_time(row.session_end, zone, "%H:%M")
        st.markdown(
            f"**{fmt.local_time(row.session_start, zone)}–{ends}** · {fmt.label(row.meeting_type.value)} · "
            f"{fmt.md(row.client_name)} with {fmt.md(row.practitioner_name)}"
        )
        st.markdown(
            f"Status: **{status_words(row, datetime.now(UTC))}** · payment: **{payment_words(row, refund)}** · "
            f"{fmt.rand(row.service_amount)} + fee {fmt.rand(row.platform_fee)} = {fmt.rand(row.total_amount)}"
        )
        if reach:
            if row.meeting_type == MeetingType.ONLINE:
                st.markdown(f":material/videocam: **Online:** {joining_words(row, user)}")
            contact_lines(reach, user)
        if row.status == BookingStatus.PENDING and row.hold_expires_at:
            st.info(f"Held until {fmt.local_time(row.hold_expires_at, zone)} while it is paid.")
        if row.expired_unpaid:
            st.caption(
                "Released because it was not paid in time. Money that still arrives books it again if the time is free."
            )
        if cancelled:
            st.markdown(cancelled)
        if still_owed:
            st.markdown(f"Refund owed: **{fmt.rand(still_owed)}** (staff pay it out)")
        if money.refunds_pending:  # asked of the provider, not yet confirmed by it
            st.markdown(f"Refund on its way: **{fmt.rand(money.refunds_pending)}**")
        if money.refunded:
            st.markdown(f"Refunded: **{fmt.rand(money.refunded)}**")
        if row.notes:
            st.caption("Notes: " + fmt.md(row.notes))


def joining_words(row: bookings.BookingRow, user: CurrentUser) -> str:
    """How a paid online session is joined: the practitioner sends the link (any video call)."""
    if user.role == Role.CLIENT:
        return (
            f"{fmt.md(row.practitioner_name)} sends you the link to join (or calls you) before the session; "
            "if it has not come, reach them below."
        )
    if user.role == Role.PRACTITIONER:
        return f"send {fmt.md(row.client_name)} the link to join (or call them) before the session."
    return f"{fmt.md(row.practitioner_name)} sends {fmt.md(row.client_name)} the link to join before the session."


def contact_lines(reach: bookings.Contact, user: CurrentUser) -> None:
    """Where to go and how to reach the other side, once a booking is paid."""
    if reach.where:
        ask = " (ask for the street address)" if reach.address_is_town and user.role == Role.CLIENT else ""
        st.markdown(f":material/location_on: **Where:** {fmt.md(reach.where)}{ask}")
    for other in reach.others:
        # A link a phone dials when tapped: numbers are stored as +27..., with nothing to strip.
        ways = [f"mobile [{fmt.md(validation.local_phone(other.phone))}](tel:{other.phone})"] if other.phone else []
        ways.append(f"e-mail {fmt.md(other.email)}")
        st.markdown(f":material/call: **{fmt.md(other.name)}:** {' · '.join(ways)}")


def cancellation_words(row: bookings.BookingRow, booked: Booking, user: CurrentUser, zone: str) -> str | None:
    """Who cancelled a booking, when and why, for everyone who can see it (the clock's own
    release of an unpaid booking is said apart)."""
    if row.status != BookingStatus.CANCELLED or row.expired_unpaid or booked.cancelled_at is None:
        return None
    by = booked.cancelled_by_id
    parties = {row.client_id: "the client", row.practitioner_user_id: "the practitioner"}
    if by is None:
        who = "Avenrae"
    elif by in parties:
        who = "you" if by == user.id else parties[by]
    else:  # staff, for one side or the other
        who = ("you" if by == user.id else "our staff") + _asked_by(booked.cancelled_for, row, user)
    words = f"Cancelled by {who} on {fmt.local_time(booked.cancelled_at, zone)}"
    return words + (f": “{fmt.md(row.cancellation_reason)}”" if row.cancellation_reason else ".")


def _asked_by(party: str | None, row: bookings.BookingRow, user: CurrentUser) -> str:
    """Whose request staff cancelled at (the refund policy's question), from the reader's side."""
    asker = {"client": row.client_id, "practitioner": row.practitioner_user_id}.get(party or "")
    if asker is None:
        return ""
    return " at your request" if asker == user.id else f" at the {party}'s request"


def _done(message: str, *keys: str) -> None:
    """After a change: say what happened, clear the form, keep the booking chosen."""
    st.session_state[feedback.FLASH_KEY] = message
    feedback.clear(CONFIRM_KEY, *keys)
    st.rerun()


def _act(change, message: str, *keys: str) -> None:
    """Run a change; on success say so, clear the form and keep the booking chosen."""
    if feedback.attempt(change, rerun=False):
        _done(message, *keys)


def _refund_words(amount: Decimal, paid: Decimal) -> str:
    if not paid:
        return "Nothing has been paid, so nothing is refunded."
    return f"{fmt.rand(amount)} of the {fmt.rand(paid)} paid goes back." if amount else "No refund is due."


REASON_SEEN_BY = defaultdict(
    lambda: "the client and the practitioner",
    {Role.CLIENT: "your practitioner", Role.PRACTITIONER: "your client"},
)


def cancel_panel(row: bookings.BookingRow, user: CurrentUser, actor: bookings.Actor, now: datetime) -> None:
    with session_scope() as session:
        terms = bookings.cancellation_terms(
            session=session, booking_id=row.id, actor=actor, paid=ledger.paid(session, row.id), now=now
        )
    st.caption(bookings.policy_text())
    # No form: ticking "by hand" shows the amount at once, and any change after asking is seen.
    reason_key, by_hand_key, amount_key = (f"cancel_{part}_{row.id}" for part in ("reason", "by_hand", "refund"))
    reason = st.text_input(f"Reason (needed; seen by {REASON_SEEN_BY[user.role]})", key=feedback.key(reason_key))
    on_behalf, override = None, None
    if actor.is_operator:
        # No default: who asked decides the refund, so staff choose it every time.
        on_behalf = st.radio(
            "Asked by",
            ["client", "practitioner"],
            index=None,
            horizontal=True,
            format_func=fmt.label,
            key=f"cancel_side_{row.id}",
        )
        if terms.paid and st.checkbox("Set the refund by hand (say why in the reason)", key=feedback.key(by_hand_key)):
            override = st.number_input("Refund (R)", value=float(terms.paid), key=feedback.key(amount_key))
    try:
        refund_by_hand = None if override is None else fmt.money(override)
    except InvalidInput as error:
        feedback.show_error(error)
        return
    side = on_behalf or ("client" if user.role == Role.CLIENT else "practitioner")
    refund = refund_by_hand
    if refund is None:
        refund = terms.refund_if_client_cancels if side == "client" else terms.refund_if_practitioner_cancels
    asked_for = {  # the refund too: a question whose refund is no longer true is asked again
        "action": "cancel",
        "booking": row.id,
        "reason": reason,
        "on_behalf": on_behalf,
        "override": refund_by_hand,
        "refund": refund,
        "paid": terms.paid,
    }
    if st.button("Cancel this booking…", key=f"cancel_{row.id}"):
        try:  # what the cancellation would refuse is said now, not after "Yes"
            bookings.checked_cancel_reason(reason)
            if actor.is_operator and on_behalf is None:
                raise InvalidInput({"on_behalf_of": bookings.SAY_WHO_ASKED})
            if refund_by_hand is not None:
                bookings.checked_refund_override(refund_by_hand, paid=terms.paid)
            st.session_state[CONFIRM_KEY] = asked_for
        except InvalidInput as error:
            feedback.show_error(error)
    pending = st.session_state.get(CONFIRM_KEY)
    if not pending or pending["booking"] != row.id or pending["action"] != "cancel":
        return
    if pending != asked_for:  # changed since it was asked: never confirm what is no longer shown
        st.session_state.pop(CONFIRM_KEY, None)
        st.caption("Changed since you asked: press “Cancel this booking…” again to see what it will do.")
        return
    with feedback.question(f"cancel_{row.id}"):
        st.warning(f"Cancel **{fmt.md(title(user, row))}**? {_refund_words(refund, terms.paid)}")
        yes, no = st.columns(2)
        if yes.button("Yes, cancel this booking", type="primary", key=f"confirm_cancel_{row.id}"):
            outcome = feedback.attempt(
                lambda session: flows.cancel(
                    session=session,
                    booking_id=row.id,
                    actor=actor,
                    reason=pending["reason"],
                    on_behalf_of=pending["on_behalf"],
                    refund_override=pending["override"],
                    expected_refund=pending["refund"],
                ),
                rerun=False,
            )
            if outcome:
                payment.send_refunds(outcome.to_send)
                message = f"{fmt.md(title(user, row).rsplit(' · ', 1)[0])}: {outcome.message}"
                _done(message, reason_key, by_hand_key, amount_key)
            else:
                st.session_state.pop(CONFIRM_KEY, None)
        if no.button("Keep it", key=f"keep_{row.id}"):
            st.session_state.pop(CONFIRM_KEY, None)
            st.rerun()


STAFF_LATE_MOVE = (
    f"This time starts within {bookings.FULL_REFUND_HOURS} hours: the client can then neither move it nor cancel "
    "it with a refund. Move it there only with the client's agreement."
)


def move_panel(row: bookings.BookingRow, actor: bookings.Actor) -> None:
    with session_scope() as session:
        practitioner = bookings.practitioner_for_booking(session=session, practitioner_id=row.practitioner_id)
    st.caption(f"Now {fmt.local_time(row.session_start, practitioner.time_zone)}; choose the new day and time.")
    new_start = booking.time_picker(
        row.practitioner_id,
        practitioner.time_zone,
        practitioner.booking_horizon_days,
        key=f"move_{row.id}",
        ignore=row.id,
        now_at=row.session_start,
    )
    late = new_start is not None and not bookings.client_may_move(new_start, datetime.now(UTC))
    if late and actor.role == Role.CLIENT:
        hours = bookings.FULL_REFUND_HOURS
        st.warning(
            f"This time starts within {hours} hours: once the session is there it cannot be moved again, "
            "and cancelling it refunds nothing.",
            icon=":material/info:",
        )
    elif late and actor.role == Role.PRACTITIONER:
        st.warning(bookings.PRACTITIONER_LATE_MOVE, icon=":material/info:")
        return
    elif late and actor.is_operator:
        st.warning(STAFF_LATE_MOVE, icon=":material/info:")
    if new_start and st.button(f"Move to {fmt.local_time(new_start, practitioner.time_zone)}", type="primary"):
        _act(
            lambda session: flows.reschedule(session=session, booking_id=row.id, actor=actor, new_start=new_start),
            f"Moved from {fmt.local_time(row.session_start, practitioner.time_zone)} to "
            f"{fmt.local_time(new_start, practitioner.time_zone)}; both sides are told.",
            f"move_{row.id}_time",
            f"move_{row.id}_date",
            f"move_{row.id}_chosen",  # else the booking's own new time reads as "just taken"
        )


def after_panel(row: bookings.BookingRow, user: CurrentUser, actor: bookings.Actor, actions: list[str]) -> None:
    if "complete" in actions and st.button("Mark completed", key=f"complete_{row.id}"):
        _act(
            lambda session: flows.complete(session=session, booking_id=row.id, actor=actor), "Session marked completed."
        )
    if "no_show" not in actions:
        return
    if st.button("The client did not come…", key=f"no_show_{row.id}"):
        st.session_state[CONFIRM_KEY] = {"action": "no_show", "booking": row.id}
    pending = st.session_state.get(CONFIRM_KEY)
    if pending and pending["booking"] == row.id and pending["action"] == "no_show":
        with feedback.question(f"no_show_{row.id}"):
            st.warning(f"Record **{fmt.md(title(user, row))}** as missed? Nothing is refunded for a no-show.")
            yes, no = st.columns(2)
            if yes.button("Yes, record a no-show", type="primary", key=f"confirm_no_show_{row.id}"):
                _act(
                    lambda session: flows.mark_no_show(session=session, booking_id=row.id, actor=actor),
                    "No-show recorded.",
                )
            if no.button("Not a no-show", key=f"keep_show_{row.id}"):
                st.session_state.pop(CONFIRM_KEY, None)
                st.rerun()
