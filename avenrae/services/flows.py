"""What crosses capabilities, in one place: book -> charge -> notify; cancel -> refund ->
notify; pay -> confirm -> notify; holds that run out; reviews and their notices.

Each flow calls the services that own each part (bookings for state and policy, the
ledger for money, payments for gateways and matching) and is the only writer of
notifications, so following one booking's story means reading one function. Flows take
the caller's session and never commit, like every service; what must happen after the
commit (sending a queued refund, an e-mail) is returned or left to the jobs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session, aliased

from avenrae.config import get_settings
from avenrae.db import session_scope
from avenrae.models import Booking, BookingStatus, PaymentStatus, Practitioner, Review, Role, User
from avenrae.services import (
    accounts,
    audit,
    availability,
    bookings,
    ledger,
    notifications,
    payments,
    reviews,
    validation,
    verification,
)
from avenrae.services.errors import Conflict, InvalidInput, PermissionDenied

log = logging.getLogger(__name__)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _operator(actor: bookings.Actor) -> None:
    if not actor.is_operator:
        raise PermissionDenied("Only staff can record payments and refunds.")


# --- who is told what ------------------------------------------------------------------


_CLIENT, _PRACTITIONER_USER = aliased(User), aliased(User)


def _parties_of(session: Session, booking_ids: list[uuid.UUID]) -> dict[uuid.UUID, bookings.Parties]:
    """The parties of many bookings, in one statement (the jobs tell many at once)."""
    rows = session.execute(
        select(
            Booking.id,
            _CLIENT.id.label("client_id"),
            (_CLIENT.first_name + " " + _CLIENT.last_name).label("client_name"),
            _PRACTITIONER_USER.id.label("practitioner_user_id"),
            (_PRACTITIONER_USER.first_name + " " + _PRACTITIONER_USER.last_name).label("practitioner_name"),
            Practitioner.time_zone.label("practitioner_zone"),
        )
        .join(_CLIENT, _CLIENT.id == Booking.client_id)
        .join(Practitioner, Practitioner.id == Booking.practitioner_id)
        .join(_PRACTITIONER_USER, _PRACTITIONER_USER.id == Practitioner.user_id)
        .where(Booking.id.in_(booking_ids))
    ).all()
    return {row.id: bookings.Parties(**{k: v for k, v in row._mapping.items() if k != "id"}) for row in rows}


def _parties(session: Session, booking: Booking) -> bookings.Parties:
    return _parties_of(session, [booking.id])[booking.id]


Message = Callable[[str, str], str]  # (when, in the reader's time zone; the other side's name) -> text


def _tell_both(
    session: Session,
    booking: Booking,
    kind: str,
    title: str,
    client: Message,
    practitioner: Message,
) -> None:
    """One notice to each side of a booking, each with the time in their own time zone."""
    notifications.notify_many(
        session=session, items=_notices(booking, kind, title, client, practitioner, _parties(session, booking))
    )


def _notices(
    booking: Booking | bookings.NewBooking | bookings.Expired,
    kind: str,
    title: str,
    client: Message,
    practitioner: Message,
    parties: bookings.Parties,
) -> list[notifications.Item]:
    data = {"booking_id": str(booking.id)}
    return [
        notifications.Item(
            parties.client_id,
            kind,
            title,
            client(
                bookings.local_time(booking.session_start, get_settings().default_time_zone),
                parties.practitioner_name,
            ),
            data,
        ),
        notifications.Item(
            parties.practitioner_user_id,
            kind,
            title,
            practitioner(bookings.local_time(booking.session_start, parties.practitioner_zone), parties.client_name),
            data,
        ),
    ]


def _tell_client(session: Session, booking: Booking, kind: str, title: str, message: str) -> None:
    notifications.notify(
        session=session,
        item=notifications.Item(booking.client_id, kind, title, message, {"booking_id": str(booking.id)}),
    )


def eft_instructions(booking: Booking | bookings.NewBooking) -> str:
    """How to pay a booking by bank transfer: amount, reference, account and deadline."""
    details = payments.bank_details()
    account = "; ".join(details.lines()) if details else "ask our staff for the account details"
    deadline = (
        bookings.local_time(booking.hold_expires_at, get_settings().default_time_zone)
        if booking.hold_expires_at
        else ""
    )
    hurry = bookings.transfer_may_be_late(booking)
    return (
        f"Pay R{booking.total_amount:,.2f} by EFT with the reference {payments.eft_reference(booking.id)} "
        f"({account})"
        + (f" by {deadline}" if deadline else "")
        + "; the booking is confirmed when it arrives."
        + (f" {bookings.SLOW_TRANSFER}" if hurry else "")
    )


def contact_words(reach: bookings.Contact) -> str:
    """Where to go and how to reach the other side, as a notice says it."""
    words = []
    if reach.where:
        words.append(f"Where: {reach.where}" + (" (ask for the street address)." if reach.address_is_town else "."))
    for other in reach.others:
        ways = [f"mobile {validation.local_phone(other.phone)}"] if other.phone else []
        words.append(f"{other.name}: {', '.join([*ways, f'e-mail {other.email}'])}.")
    return " ".join(words)


def _confirmed(session: Session, booking: Booking) -> None:
    """Both sides told, each with where to go and how to reach the other, now that it is paid."""
    reach = bookings.contacts(session=session, booking=booking)
    told = {side: f" {contact_words(reach[side])}" if side in reach else "" for side in ("client", "practitioner")}
    notifications.notify_many(
        session=session,
        items=_notices(
            booking,
            "booking_confirmed",
            "Booking confirmed",
            lambda when, other: f"Your session with {other} on {when} is confirmed.{told['client']}",
            lambda when, other: f"Your session with {other} on {when} is confirmed.{told['practitioner']}",
            _parties(session, booking),
        ),
    )


# --- booking ---------------------------------------------------------------------------


# A new booking, its open charge and both notices, one statement (one round trip, compiled
# once): the charge and the notices are written only with the booking, and the booking's id
# comes back only when it was written. Each part is the SQL of the module that owns its table.
_BOOK = text(
    f"WITH booking AS ({bookings.INSERT_SQL}),"  # noqa: S608 - composed of module constants; every value is bound
    f" open_charge AS ({ledger.open_charge_sql(with_rows_of='booking')}),"
    f" notices AS ({notifications.insert_sql(with_rows_of='booking')})"
    " SELECT id, created_at FROM booking"
)


def first_way_to_pay() -> bookings.PaysBy:
    """How a new booking is paid unless the client chooses otherwise: online where Stripe is
    set up, else by bank transfer (which sets how long its time is held: `bookings.hold_until`)."""
    return "online" if payments.online_gateway() else "eft"


def book(
    *, session: Session, request: bookings.BookingRequest, actor: bookings.Actor, now: datetime | None = None
) -> Booking:
    """A pending booking, its open charge and both notices, all or none. A hold that ran
    out a moment ago (the hourly job has not released it yet) never blocks a time shown
    as open: when one is in the way it is released and the booking tried again.

    Two round trips: what the rules ask (`bookings.plan`), then the write (`_BOOK`)."""
    now = _now(now)
    pays_by = first_way_to_pay()
    # SlotTaken from the plan: a live booking holds the time, which releasing can't change.
    new = bookings.plan(session=session, request=request, actor=actor, pays_by=pays_by, now=now)
    try:
        return _book(session, new, actor)
    except bookings.SlotTaken:
        # The rules saw the time free but the exclusion constraint refused it: a booking made
        # a moment ago, or a hold that ran out a moment ago (the rules skip it; its row is in
        # the way until released). Release those and try once more.
        released = expire_pending(
            session=session,
            now=now,
            practitioner_id=request.practitioner_id,
            between=(request.start - timedelta(days=1), request.start + timedelta(days=1)),
        )
        if not released:
            raise
    return _book(session, bookings.plan(session=session, request=request, actor=actor, pays_by=pays_by, now=now), actor)


def _book(session: Session, new: bookings.NewBooking, actor: bookings.Actor) -> Booking:
    zone = get_settings().default_time_zone
    meeting = new.meeting_type.value.replace("_", " ")

    def to_client(when: str, practitioner: str) -> str:
        held = f"Your session with {practitioner} on {when} is held for you. "
        if new.pays_by == "eft":
            return held + eft_instructions(new)
        return held + f"Pay online by {bookings.local_time(new.hold_expires_at, zone)} to keep it."

    notices = _notices(
        new,
        "booking_received",
        "Booking received",
        to_client,
        lambda when, client: f"{client} booked {when} ({meeting}); it is confirmed once paid.",
        new.parties,
    )
    params = {**new.params(), **ledger.open_charge_params(new), **notifications.insert_params(notices)}
    row = session.connection().execute(_BOOK, params).first()
    if row is None:
        raise bookings.refusal(session=session, new=new)
    return bookings.written(session=session, new=new, created_at=row.created_at, actor=actor)


def pay_by_eft(
    *, session: Session, booking_id: uuid.UUID, actor: bookings.Actor, now: datetime | None = None
) -> Booking:
    """The client will pay by bank transfer: the hold becomes the transfer's deadline, and
    they are told the account, the reference and the deadline."""
    booking = bookings.pay_by_eft(session=session, booking_id=booking_id, actor=actor, now=now)
    _tell_client(session, booking, "payment_eft", "Paying by EFT", eft_instructions(booking))
    return booking


def pay_online(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor,
    gateway: payments.PaymentGateway | None = None,
    now: datetime | None = None,
) -> payments.PayLink:
    """The hosted payment page of a pending booking, for its client or staff."""
    booking = _to_pay(session, booking_id, actor)
    return payments.open_payment_page(session=session, booking=booking, gateway=gateway, now=now)


def pay_in_app(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor,
    gateway: payments.PaymentGateway | None = None,
    now: datetime | None = None,
) -> payments.CardPayment:
    """A PaymentIntent for a pending booking, for its client (or staff) to confirm in an
    app's own card form; the webhook confirms the booking when it succeeds."""
    booking = _to_pay(session, booking_id, actor)
    return payments.open_payment_intent(session=session, booking=booking, gateway=gateway, now=now)


def _to_pay(session: Session, booking_id: uuid.UUID, actor: bookings.Actor) -> Booking:
    """The booking, locked, when the actor may pay for it: its client, or staff."""
    if not (actor.is_operator or actor.role == Role.CLIENT):
        raise PermissionDenied("A booking is paid by its client, or by our staff for them.")
    booking = bookings.load(session, booking_id)
    if not actor.is_operator and booking.client_id != actor.id:
        raise bookings.not_found()
    return booking


def reschedule(
    *, session: Session, booking_id: uuid.UUID, actor: bookings.Actor, new_start: datetime, now: datetime | None = None
) -> Booking:
    before = bookings.load(session, booking_id).session_start
    booking = bookings.reschedule(session=session, booking_id=booking_id, actor=actor, new_start=new_start, now=now)
    if booking.session_start != before:
        parties = _parties(session, booking)
        to_client, to_practitioner = _who_moved(
            actor,
            booking,
            bookings.local_time(before, get_settings().default_time_zone),
            bookings.local_time(before, parties.practitioner_zone),
        )
        to_pay = booking.status == BookingStatus.PENDING and booking.pays_by == "eft"
        notifications.notify_many(
            session=session,
            items=_notices(
                booking,
                "booking_rescheduled",
                "Booking moved",
                (lambda when, other: f"{to_client(when, other)} {eft_instructions(booking)}") if to_pay else to_client,
                to_practitioner,
                parties,
            ),
        )
    return booking


def _who_moved(
    actor: bookings.Actor, booking: Booking, was_client: str, was_practitioner: str
) -> tuple[Message, Message]:
    """Each side's move notice, saying who moved the session and from when (in each side's
    own time zone) to when."""
    if actor.is_operator:
        return (
            lambda when, other: f"Avenrae moved your session with {other} from {was_client} to {when}.",
            lambda when, other: f"Avenrae moved the session with {other} from {was_practitioner} to {when}.",
        )
    if actor.id == booking.client_id:
        return (
            lambda when, other: f"You moved your session with {other} from {was_client} to {when}.",
            lambda when, other: f"{other} moved the session from {was_practitioner} to {when}.",
        )
    return (
        lambda when, other: f"{other} moved your session from {was_client} to {when}.",
        lambda when, other: f"You moved the session with {other} from {was_practitioner} to {when}.",
    )


def complete(*, session: Session, booking_id: uuid.UUID, actor: bookings.Actor, now: datetime | None = None) -> Booking:
    booking = bookings.complete(session=session, booking_id=booking_id, actor=actor, now=now)
    _tell_both(
        session,
        booking,
        "booking_completed",
        "Session completed",
        lambda when, other: f"Your session with {other} on {when} is complete. You can review it under My reviews.",
        lambda when, other: f"Your session with {other} on {when} is complete.",
    )
    return booking


def mark_no_show(
    *, session: Session, booking_id: uuid.UUID, actor: bookings.Actor, now: datetime | None = None
) -> Booking:
    booking = bookings.mark_no_show(session=session, booking_id=booking_id, actor=actor, now=now)
    _tell_both(
        session,
        booking,
        "booking_no_show",
        "Missed session",
        lambda when, other: f"Your session with {other} on {when} was missed.",
        lambda when, other: f"{other} missed the session on {when}.",
    )
    return booking


# --- money in ----------------------------------------------------------------------------


def money_received(
    *,
    session: Session,
    booking_id: uuid.UUID,
    provider: str,
    reference: str,
    amount: Decimal,
    method: str | None = None,
    created_by_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> str:
    """Money we asked for arrived for a booking (already matched). Safe to call repeatedly.

    A pending booking is confirmed; one whose hold ran out is booked again when its time
    is still free. Money for a booking that can no longer take it (its time went to
    someone else, it was cancelled, or it was paid twice) is refunded in full.
    """
    now = _now(now)
    booking = bookings.load(session, booking_id)
    if ledger.charge_recorded(session, booking.id, provider, reference):
        return "already recorded"
    was_paid = ledger.balance(session, booking.id).charged > 0
    charge = ledger.settle_charge(
        session,
        booking,
        provider=provider,
        reference=reference,
        amount=amount,
        method=method,
        created_by_id=created_by_id,
        at=now,
    )
    if not was_paid and booking.status == BookingStatus.PENDING:
        bookings.confirm(session=session, booking_id=booking.id, now=now)
    elif not was_paid and bookings.reinstate(session=session, booking_id=booking.id, now=now):
        booking.payment_status = PaymentStatus.COMPLETED
    else:
        return _give_back(session, booking, charge.amount)
    if provider != ledger.MANUAL:
        booking.stripe_payment_intent_id = reference
    ledger.restate(session, booking)
    _confirmed(session, booking)
    return "confirmed"


def _give_back(session: Session, booking: Booking, amount: Decimal) -> str:
    """Money the booking cannot take: online it is refunded at once; by hand it is owed."""
    if bookings.expired_unpaid(booking):
        reason = "Paid after the booking's time had gone."
    elif booking.status == BookingStatus.CANCELLED:
        reason = "Paid after the booking was cancelled."
    else:
        reason = ledger.PAID_TWICE_REASON
    if booking.status != BookingStatus.CANCELLED and not booking.refund_due:
        # Owed on a booking that goes ahead: counted from the refunds made so far.
        booking.refunded_before_cancel = ledger.balance(session, booking.id).given_back
    # Owed back (on top of whatever a cancellation owed) until a refund pays it: a refund
    # the provider refuses leaves it owed, for the refund job and staff's Refunds owed.
    booking.refund_due = (booking.refund_due or Decimal(0)) + amount
    try:
        with session.begin_nested():
            ledger.write_refund(session, booking, amount, reason=reason, online=payments.online_gateway() is not None)
    except InvalidInput:  # paid by hand: staff pay it back and record it on Payments
        _tell_client(
            session,
            booking,
            "payment_returned",
            "Payment to be returned",
            f"We received R{amount:,.2f} for a booking that could not take it ({reason.lower()[:-1]}); "
            "our staff will pay it back to you.",
        )
        return "refund owed"
    _tell_client(
        session,
        booking,
        "payment_returned",
        "Payment returned",
        f"We received R{amount:,.2f} for a booking that could not take it ({reason.lower()[:-1]}); "
        "it is being refunded in full.",
    )
    return "refund queued"


@dataclass(frozen=True)
class ManualPaymentCheck:
    """What recording a payment by hand would do, found before staff confirm it."""

    reference: str  # as it will be recorded
    late: Literal["books again", "owed back"] | None  # money after the hold ran out: what it does


def check_manual_payment(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor,
    method: str,
    reference: str,
    amount: Decimal,
    now: datetime | None = None,
) -> ManualPaymentCheck:
    """What `record_manual_payment` would refuse, refused now and nothing written (as
    `check_refund` does): a payment already recorded among them; and for late money whether
    it books the session again or is owed back, for the question staff answer."""
    _operator(actor)
    booking = bookings.load(session, booking_id, lock=False)
    cleaned = payments.check_manual_payment(booking, method=method, reference=reference, amount=amount)
    if ledger.charge_recorded(session, booking_id, ledger.MANUAL, cleaned):
        raise InvalidInput({"reference": f"That payment ({cleaned}) is already recorded for this booking."})
    now = _now(now)
    late: Literal["books again", "owed back"] | None = None
    if bookings.expired_unpaid(booking) or bookings.hold_lapsed(booking, now):
        late = "books again" if bookings.can_reinstate(session=session, booking=booking, now=now) else "owed back"
    return ManualPaymentCheck(cleaned, late)


def record_manual_payment(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor,
    method: str,
    reference: str,
    amount: Decimal,
    now: datetime | None = None,
) -> str:
    """Staff record cash, EFT or a card machine payment received for a booking: a pending one
    is confirmed; one whose hold ran out is booked again if its time is still free, and
    otherwise the money is owed back, as it is for a booking cancelled before the money
    arrived (a transfer sent before the client cancelled) or one already paid (a transfer
    after a card payment). Returns what happened, in words for staff."""
    _operator(actor)
    now = _now(now)
    booking = bookings.load(session, booking_id)
    reference = payments.check_manual_payment(booking, method=method, reference=reference, amount=amount)
    late = bookings.expired_unpaid(booking)
    already_paid = booking.status in bookings.PAID_FOR
    if bookings.hold_lapsed(booking, now):
        expire_pending(session=session, now=now, practitioner_id=booking.practitioner_id)
        late = True
    before = {"status": booking.status.value, "payment_status": booking.payment_status.value}
    received = validation.rand(amount) if bookings.only_owes_back(booking) else booking.total_amount
    outcome = money_received(
        session=session,
        booking_id=booking.id,
        provider=ledger.MANUAL,
        reference=reference,
        amount=received,
        method=method,
        created_by_id=actor.id,
        now=now,
    )
    audit.record(
        session=session,
        actor_id=actor.id,
        action="payment.record_manual",
        target_type="booking",
        target_id=booking.id,
        before=before,
        after={
            "status": booking.status.value,
            "amount": str(received),
            "method": method,
            "reference": reference,
            "outcome": outcome,
        },
    )
    if outcome == "already recorded":
        return f"That payment ({reference}) is already recorded for this booking; nothing changed."
    if outcome == "confirmed":
        return (
            "Payment recorded; the booking is booked again and confirmed."
            if late
            else "Payment recorded; the booking is confirmed."
        )
    if already_paid:
        return (
            "Payment recorded for a booking already paid: the booking stays "
            f"{'a no-show' if booking.status == BookingStatus.NO_SHOW else booking.status.value} "
            f"and R{received:,.2f} is owed back to the client (see Payments)."
        )
    if not late:
        return (
            "Payment recorded for a booking cancelled before it arrived: the booking stays cancelled and "
            f"R{received:,.2f} is owed back to the client (see Payments)."
        )
    return (
        "Payment recorded, but the booking's time is no longer open (taken by someone else, or the "
        "practitioner is away): the booking stays cancelled and "
        f"R{booking.total_amount:,.2f} is owed back to the client (see Payments)."
    )


def payment_failed(*, session: Session, booking: Booking, message: str | None) -> None:
    """A card was declined on the payment page: the booking stays pending, the client is told."""
    text = message or "The payment did not go through."
    ledger.note_charge_failure(session, booking, text)
    _tell_client(
        session,
        booking,
        "payment_failed",
        "Payment did not go through",
        f"{text} Your booking is still held; you can try again from My bookings until the hold runs out.",
    )


def handle_webhook(
    *,
    session: Session,
    payload: bytes,
    signature: str | None,
    gateway: payments.PaymentGateway | None = None,
    secret: str | None = None,
) -> str:
    """A Stripe webhook, verified and applied exactly once. Returns what was done.

    WebhookRejected (HTTP 400) when it is not provably from Stripe; PaymentError (HTTP 503,
    Stripe retries) only when Stripe must be asked and cannot be reached. Money counts only
    when it matches (see payments); refunds it queues go out with `send_queued_refunds`
    once this has committed.
    """
    event = payments.receive_event(session=session, payload=payload, signature=signature, secret=secret)
    if event is None:
        return "duplicate"
    gateway = gateway or payments.online_gateway()
    provider = gateway.name if gateway else "stripe"
    outcome = _apply_event(session, event, gateway, provider)
    payments.event_processed(session, event.id)
    return outcome


def _apply_event(
    session: Session, event: payments.WebhookEvent, gateway: payments.PaymentGateway | None, provider: str
) -> str:
    kind, data = event.type, event.data
    found: payments.Match | str
    if kind == "checkout.session.completed":
        found = payments.match_completed_page(session, data, event.id, provider)
    elif kind == "payment_intent.succeeded":
        found = payments.match_succeeded_payment(session, data, event.id, gateway, provider)
    elif kind == "payment_intent.payment_failed":
        waiting = payments.failed_attempt(session, data)
        if isinstance(waiting, str):
            return waiting
        payment_failed(session=session, booking=waiting, message=(data.get("last_payment_error") or {}).get("message"))
        return "failure noted"
    elif kind == "charge.refunded" or kind.startswith(("charge.refund", "refund.")):
        return _refunds_changed(session, data, gateway)
    else:
        return "ignored"
    if isinstance(found, str):
        return found
    return money_received(
        session=session,
        booking_id=found.booking.id,
        provider=found.provider,
        reference=found.payment_reference,
        amount=found.amount,
    )


def _refunds_changed(session: Session, data: dict, gateway: payments.PaymentGateway | None) -> str:
    intent = payments.reference_of(data.get("payment_intent"))
    if not intent or gateway is None:
        return "ignored"
    booking_id = ledger.any_charge_with_reference(session, intent)
    if booking_id is None:
        return payments.sync_unmatched_refund(session, intent, gateway)
    # Re-read the refunds from Stripe: events about them can arrive in any order.
    changed = payments.sync_refunds(session, bookings.load(session, booking_id), intent, gateway)
    return f"refunds synced ({changed} changed)"


def refresh_payment(
    *,
    session: Session,
    booking_id: uuid.UUID,
    gateway: payments.PaymentGateway | None = None,
    now: datetime | None = None,
) -> str:
    """Ask the provider how the booking's payment stands and apply it: for deployments
    without a public webhook URL, and for the "Check payment status" button."""
    gateway = gateway or payments.online_gateway()
    booking = bookings.load(session, booking_id, lock=False)
    if gateway is None:
        return "no online payment"
    found = payments.page_state_of(session, booking, gateway)
    if isinstance(found, str):
        return found
    if isinstance(found, payments.PaymentState):
        return "failed: " + (found.failure or "declined") if found.status == "failed" else found.status
    outcome = money_received(
        session=session,
        booking_id=booking.id,
        provider=found.provider,
        reference=found.payment_reference,
        amount=found.amount,
        now=now,
    )
    payments.sync_refunds(session, booking, found.payment_reference, gateway)
    return outcome


def refresh_open_payments(*, session: Session, gateway: payments.PaymentGateway | None = None) -> int:
    """The job: refresh every pending booking with an open payment page or a PaymentIntent of
    ours (a client app's card form); returns how many confirmed."""
    gateway = gateway or payments.online_gateway()
    if gateway is None:
        return 0
    confirmed = 0
    for booking_id in session.scalars(
        select(Booking.id).where(Booking.status == BookingStatus.PENDING, payments.paying_online())
    ).all():
        try:
            with session.begin_nested():
                if refresh_payment(session=session, booking_id=booking_id, gateway=gateway) == "confirmed":
                    confirmed += 1
        except payments.PaymentError:
            continue
    return confirmed


# --- money out ---------------------------------------------------------------------------


def check_refund(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor,
    amount: Decimal,
    reason: str,
    method: str | None = None,
    reference: str | None = None,
) -> None:
    """What `refund` would refuse, refused now and nothing written: so staff confirm only a
    refund that will go through."""
    booking = _refund_asked(session, booking_id, actor, reason, lock=False)[0]
    ledger.plan_refund(
        session,
        booking.id,
        validation.amount_field(amount),
        method=method,
        reference=reference,
        online=payments.online_gateway() is not None,
    )


def _refund_asked(
    session: Session, booking_id: uuid.UUID, actor: bookings.Actor, reason: str, *, lock: bool = True
) -> tuple[Booking, str]:
    """The booking a refund is asked for and the reason given, when staff ask with a reason."""
    _operator(actor)
    booking = bookings.load(session, booking_id, lock=lock)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": "Say why the money is given back."})
    return booking, reason


@dataclass(frozen=True)
class RefundResult:
    """Refund rows written, and the online ones to send once this has committed."""

    rows: list
    to_send: list[uuid.UUID]


def refund(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor,
    amount: Decimal,
    reason: str,
    method: str | None = None,
    reference: str | None = None,
) -> RefundResult:
    """Staff give money back for a booking, never more than was paid: by hand for manual
    payments (with the method and reference), through the provider for online ones."""
    booking, reason = _refund_asked(session, booking_id, actor, reason)
    amount = validation.amount_field(amount)
    before = ledger.balance(session, booking.id).refundable
    rows = ledger.write_refund(  # refuses, as check_refund does, what the payments cannot return
        session,
        booking,
        amount,
        reason=reason,
        created_by_id=actor.id,
        method=method,
        reference=reference,
        online=payments.online_gateway() is not None,
    )
    when = bookings.local_time(booking.session_start, get_settings().default_time_zone)
    what = f"R{amount:,.2f} for your session on {when} (booking {payments.eft_reference(booking.id)})"
    if all(row.provider == ledger.MANUAL for row in rows):  # staff paid it back before recording it
        by = ledger.method_words(method) if method in ledger.MANUAL_METHODS else "hand"
        _tell_client(session, booking, "refund", "Refunded", f"{what} has been paid back to you by {by}. {reason}")
    else:
        _tell_client(session, booking, "refund", "Refund on its way", f"{what} is on its way back to you. {reason}")
    audit.record(
        session=session,
        actor_id=actor.id,
        action="payment.refund",
        target_type="booking",
        target_id=booking.id,
        before={"refundable": str(before)},
        after={
            "refunded": str(amount),
            "rows": [str(r.id) for r in rows],
            # How it went back, to match against the bank statement: by hand, or the provider.
            "paid_back_by": sorted({r.method or r.provider for r in rows}),
            "references": [r.provider_reference for r in rows if r.provider_reference],
        },
        reason=reason,
    )
    return RefundResult(rows, [r.id for r in rows if r.provider != ledger.MANUAL])


def _who_cancelled(
    actor: bookings.Actor, booking: Booking, on_behalf_of: Literal["client", "practitioner"] | None
) -> tuple[Message, Message]:
    """The first sentence of each side's cancellation notice, saying who cancelled."""
    if actor.is_operator:
        if on_behalf_of == "client":
            return (
                lambda when, other: f"At your request, Avenrae cancelled your session with {other} on {when}.",
                lambda when, other: f"At {other}'s request, Avenrae cancelled the session with them on {when}.",
            )
        return (
            lambda when, other: f"At {other}'s request, Avenrae cancelled your session with them on {when}.",
            lambda when, other: f"At your request, Avenrae cancelled the session with {other} on {when}.",
        )
    if actor.id == booking.client_id:
        return (
            lambda when, other: f"You cancelled your session with {other} on {when}.",
            lambda when, other: f"{other} cancelled the session on {when}.",
        )
    return (
        lambda when, other: f"{other} cancelled your session on {when}.",
        lambda when, other: f"You cancelled the session with {other} on {when}.",
    )


@dataclass(frozen=True)
class CancelOutcome:
    refund_due: Decimal
    to_send: list[uuid.UUID]  # online refunds queued; send them once this has committed
    message: str


def _sentence(words: str) -> str:
    """Someone's words ending as a sentence does, so the next one does not run on from them."""
    words = words.rstrip()
    return words if not words or words.endswith((".", "!", "?", "…")) else words + "."


def cancel(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor,
    reason: str,
    on_behalf_of: Literal["client", "practitioner"] | None = None,
    refund_override: Decimal | None = None,
    expected_refund: Decimal | None = None,
    now: datetime | None = None,
) -> CancelOutcome:
    """Cancel under the policy, queue what it owes back where the money can go back by
    itself (online payments), and tell both sides. Manual payments stay owed until staff
    pay them out. With `expected_refund` (the refund the person was shown), nothing happens
    unless it is still the refund (bookings.RefundChanged)."""
    bookings.load(session, booking_id)  # locked first: the money read next stays true until commit
    money = ledger.balance(session, booking_id)
    booking = bookings.cancel(
        session=session,
        booking_id=booking_id,
        actor=actor,
        reason=reason,
        paid=money.refundable,
        refunded=money.given_back,
        now=now,
        on_behalf_of=on_behalf_of,
        refund_override=refund_override,
        expected_refund=expected_refund,
    )
    ledger.close_open_charges(
        session, [booking.id], status=PaymentStatus.EXPIRED, reason="The booking was cancelled before it was paid."
    )
    ledger.restate(session, booking)
    owed = booking.refund_due or Decimal("0.00")
    queued = _queue_automatic_refund(session, booking) if owed else []
    refund_text = f" R{owed:,.2f} will be refunded." if owed else ""
    to_client, to_practitioner = _who_cancelled(actor, booking, on_behalf_of)
    given = (booking.cancellation_reason or "").rstrip()
    said = f" Reason given: {_sentence(given)}" if given else ""
    _tell_both(
        session,
        booking,
        "booking_cancelled",
        "Booking cancelled",
        lambda when, other: f"{to_client(when, other)}{said}{refund_text}",
        lambda when, other: f"{to_practitioner(when, other)}{said}{refund_text}",
    )
    if not owed:
        nothing_paid = not ledger.balance(session, booking.id).charged
        message = "Nothing was paid, so nothing is refunded." if nothing_paid else "No refund is due."
    elif queued:
        message = f"R{owed:,.2f} is being refunded."
    elif actor.is_operator:
        message = f"R{owed:,.2f} is owed back; staff will pay it out and record it on Payments."
    elif actor.id == booking.client_id:  # no card to put it back on: a person pays it
        message = (
            f"R{owed:,.2f} is owed back to you. Our staff will contact you to arrange paying it back "
            "and tell you when it is paid."
        )
    else:
        message = f"R{owed:,.2f} is owed back to the client; our staff pay it back."
    return CancelOutcome(owed, queued, "Booking cancelled. " + message)


def _queue_automatic_refund(session: Session, booking: Booking) -> list[uuid.UUID]:
    """Queue what the policy still owes on the booking's online payments; the ids queued."""
    outstanding = min(ledger.owed(session, booking), ledger.balance(session, booking.id).refundable)
    if outstanding <= 0 or not ledger.has_online_charges(session, booking.id):
        return []
    if payments.online_gateway() is None:  # card refunds cannot go out here: staff pay it back by hand
        return []
    try:
        with session.begin_nested():
            rows = ledger.write_refund(session, booking, outstanding, reason=ledger.POLICY_REFUND_REASON)
    except InvalidInput:  # the money owed sits partly on manual payments: staff pay it out
        return []
    return [r.id for r in rows]


def refund_owed_automatically(*, gateway: payments.PaymentGateway | None = None) -> payments.RefundRun:
    """The job: queue what cancellations still owe on online payments (one transaction per
    booking), then send every queued refund (one transaction each)."""
    with session_scope() as session:
        owed = ledger.owed_online(session)
    for booking_id in owed:
        try:
            with session_scope() as session:
                _queue_automatic_refund(session, bookings.load(session, booking_id))
        except Exception:  # isolated to this booking; the next run tries again
            log.exception("could not queue the refund of booking %s", booking_id)
    return payments.send_queued_refunds(gateway=gateway)


# --- time passing ------------------------------------------------------------------------


def expire_pending(
    *,
    session: Session,
    now: datetime | None = None,
    practitioner_id: uuid.UUID | None = None,
    between: tuple[datetime, datetime] | None = None,
) -> int:
    """Release unpaid bookings whose hold ran out (payment expired), and tell their clients."""
    expired = bookings.expire_holds(session=session, now=now, practitioner_id=practitioner_id, between=between)
    if not expired:
        return 0
    ledger.close_open_charges(
        session, [row.id for row in expired], status=PaymentStatus.EXPIRED, reason="Not paid before the hold ran out."
    )
    parties = _parties_of(session, [row.id for row in expired])
    notifications.notify_many(
        session=session,
        items=[
            item
            for row in expired
            for item in _notices(
                row,
                "booking_expired",
                "Booking not kept",
                lambda when, _practitioner: (
                    f"We released your session on {when} because it was not paid in time. If you paid by EFT "
                    "after all, our staff will book it again or refund you."
                ),
                lambda when, client: f"{client} did not pay for {when} in time, so that time is open again for others.",
                parties[row.id],
            )
        ],
    )
    return len(expired)


def complete_finished(*, session: Session, now: datetime | None = None) -> int:
    """Mark confirmed sessions that have ended as completed (the hourly job), and invite reviews."""
    finished = bookings.finish_sessions(session=session, now=now)
    notifications.notify_many(
        session=session,
        items=[
            notifications.Item(
                client_id,
                "booking_completed",
                "How was your session?",
                "Your session is complete. You can leave a review under My reviews.",
                {"booking_id": str(booking_id)},
            )
            for booking_id, client_id in finished
        ],
    )
    return len(finished)


# --- availability that meets bookings ---------------------------------------------------


class BookingsInTheWay(Conflict):
    """A change of hours or time off would leave booked sessions outside them: say whether to
    keep them or cancel them with a full refund, then ask again."""

    def __init__(self, affected: list[availability.Affected], where: str = "outside the new times"):
        self.affected = affected
        if len(affected) == 1:
            words = f"1 booked session falls {where}. Keep it, or cancel it (what its client paid"
        else:
            words = f"{len(affected)} booked sessions fall {where}. Keep them, or cancel them (what each client paid"
        super().__init__(words + " is refunded in full).")


InTheWay = Literal["keep", "cancel"] | None


def _settle_affected(
    session: Session,
    affected: list[availability.Affected],
    actor: bookings.Actor,
    decision: InTheWay,
    where: str = "outside the new times",
) -> list[uuid.UUID]:
    if affected and decision is None:
        raise BookingsInTheWay(affected, where)
    if decision != "cancel":
        return []
    to_send: list[uuid.UUID] = []
    for booking in affected:
        outcome = cancel(
            session=session,
            booking_id=booking.id,
            actor=actor,
            reason="The practitioner is not available at that time any more.",
            on_behalf_of="practitioner" if actor.is_operator else None,
        )
        to_send += outcome.to_send
    return to_send


def set_weekly_hours(
    *,
    session: Session,
    practitioner_id: uuid.UUID,
    actor: bookings.Actor,
    ranges: list[availability.HoursRange],
    bookings_in_the_way: InTheWay = None,
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """New weekly hours. Booked sessions they would no longer cover are kept or cancelled
    (fully refunded) as asked; BookingsInTheWay when there are some and nobody said. Returns
    online refunds to send once this has committed."""
    affected = availability.bookings_outside_hours(
        session=session, practitioner_id=practitioner_id, ranges=ranges, now=now
    )
    availability.set_weekly_hours(session=session, practitioner_id=practitioner_id, actor_id=actor.id, ranges=ranges)
    return _settle_affected(session, affected, actor, bookings_in_the_way)


def set_date_hours(
    *,
    session: Session,
    practitioner_id: uuid.UUID,
    actor: bookings.Actor,
    on_date: date,
    ranges: list[tuple[time, time]],
    bookings_in_the_way: InTheWay = None,
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """Hours of its own for one date (none: its usual hours again). Booked sessions they would
    no longer cover are kept or cancelled (fully refunded) as asked, as for weekly hours."""
    affected = availability.bookings_outside_date_hours(
        session=session, practitioner_id=practitioner_id, on_date=on_date, ranges=ranges, now=now
    )
    availability.set_date_hours(
        session=session, practitioner_id=practitioner_id, actor_id=actor.id, on_date=on_date, ranges=ranges, now=now
    )
    return _settle_affected(session, affected, actor, bookings_in_the_way)


@dataclass(frozen=True)
class TimeOffAdded:
    time_off: availability.TimeOff
    to_send: list[uuid.UUID]  # refunds of the sessions it cancelled, for `payments.send_queued_refunds`


def add_time_off(
    *,
    session: Session,
    practitioner_id: uuid.UUID,
    actor: bookings.Actor,
    first_day: date,
    last_day: date,
    reason: str = "",
    start_time: time | None = None,
    end_time: time | None = None,
    bookings_in_the_way: InTheWay = None,
    now: datetime | None = None,
) -> TimeOffAdded:
    """Time off; booked sessions it falls on are kept or cancelled (fully refunded) as asked."""
    entry = availability.add_time_off(
        session=session,
        practitioner_id=practitioner_id,
        actor_id=actor.id,
        first_day=first_day,
        last_day=last_day,
        reason=reason,
        start_time=start_time,
        end_time=end_time,
        now=now,
    )
    affected = availability.bookings_during(
        session=session, practitioner_id=practitioner_id, starts_at=entry.starts_at, ends_at=entry.ends_at, now=now
    )
    return TimeOffAdded(entry, _settle_affected(session, affected, actor, bookings_in_the_way, "in this time off"))


# --- reviews -----------------------------------------------------------------------------


def reply_to_review(
    *, session: Session, actor: bookings.Actor, review_id: uuid.UUID, text: str, now: datetime | None = None
) -> Review:
    review = reviews.reply(session=session, actor=actor, review_id=review_id, text=text, now=now)
    practitioner = session.scalar(select(Practitioner).where(Practitioner.id == review.practitioner_id))
    assert practitioner is not None and review.practitioner_reply is not None
    notifications.notify(
        session=session,
        item=notifications.Item(
            review.client_id,
            "review_reply",
            "Your practitioner replied",
            f"{practitioner.user.full_name} replied to your review: “{reviews.excerpt(review.practitioner_reply)}”",
            {"review_id": str(review.id)},
        ),
    )
    return review


def moderate_review(
    *,
    session: Session,
    actor: bookings.Actor,
    review_id: uuid.UUID,
    action: str,
    reason: str = "",
    now: datetime | None = None,
) -> Review:
    """Publish, reject or hide a review, and tell the client (and, on publishing, the practitioner)."""
    review = reviews.moderate(session=session, actor=actor, review_id=review_id, action=action, reason=reason, now=now)
    data = {"review_id": str(review.id)}
    told = {
        "publish": [
            notifications.Item(
                review.client_id,
                "review_published",
                "Your review is published",
                "Thank you: your review is now on the practitioner's profile.",
                data,
            ),
            notifications.Item(
                _practitioner_user_id(session, review.practitioner_id),
                "review_new",
                "A new review",
                f"A client rated a session {review.rating} out of 5: “{reviews.excerpt(review.comment)}”",
                data,
            ),
        ],
        "reject": [
            notifications.Item(
                review.client_id,
                "review_rejected",
                "Your review was not published",
                f"Our moderators did not publish your review: {_sentence(review.moderation_reason or '')} "
                "You can write it again on My reviews.",
                data,
            )
        ],
        "hide": [
            notifications.Item(
                review.client_id,
                "review_hidden",
                "Your review was taken down",
                f"Our moderators removed your review from the profile: {_sentence(review.moderation_reason or '')}",
                data,
            )
        ],
    }[action]
    notifications.notify_many(session=session, items=told)
    return review


def _practitioner_user_id(session: Session, practitioner_id: uuid.UUID) -> uuid.UUID:
    user_id = session.scalar(select(Practitioner.user_id).where(Practitioner.id == practitioner_id))
    assert user_id is not None
    return user_id


# ---------------------------------------------------------------------------- verification


def decide_verification(
    *,
    session: Session,
    actor: bookings.Actor,
    application_id: uuid.UUID,
    decision: str,
    message: str = "",
    health_registration: str = "",
    now: datetime | None = None,
) -> verification.Decision:
    """Staff approve, reject or ask for more; the practitioner is told in the same transaction."""
    decided = verification.decide(
        session=session,
        actor=actor,
        application_id=application_id,
        decision=decision,
        message=message,
        health_registration=health_registration,
        now=now,
    )
    notifications.notify(session=session, item=decided.notice)
    return decided


def update_profile(*, session: Session, user_id: uuid.UUID, form: accounts.ProfileUpdate) -> User:
    """Someone changes their name or phone. A verified practitioner's new name goes back to
    staff (`verification.name_changed`); they and staff are told in the same transaction."""
    before = session.scalars(select(User.first_name + " " + User.last_name).where(User.id == user_id)).first()
    user = accounts.update_profile(session=session, user_id=user_id, form=form)
    after = f"{user.first_name} {user.last_name}"
    if user.role == Role.PRACTITIONER and before is not None:
        renamed = verification.name_changed(session=session, user=user, before=before, after=after)
        if renamed is not None:
            notifications.notify_many(session=session, items=renamed.notices)
    return user


def update_practice(*, session: Session, user_id: uuid.UUID, form: accounts.PractitionerProfileUpdate) -> Practitioner:
    """A practitioner changes what clients see of their practice. A verified practitioner's
    new specialization goes back to staff (`verification.practice_changed`), as a new name does."""
    before = session.scalar(select(Practitioner.specialization).where(Practitioner.user_id == user_id))
    practitioner = accounts.update_practitioner_profile(session=session, user_id=user_id, form=form)
    if before is not None:
        user = session.get_one(User, user_id)
        changed = verification.practice_changed(
            session=session, user=user, before=before, after=practitioner.specialization
        )
        if changed is not None:
            notifications.notify_many(session=session, items=changed.notices)
    return practitioner
