"""Payments: charges and refunds in an append-only ledger, through a payment gateway.

Two gateways are real here. Stripe (when `AVENRAE_STRIPE_SECRET_KEY` is set): the client
pays the booking total on a Stripe Checkout page, which creates one PaymentIntent for
the booking (ZAR, in cents, metadata booking_id, an idempotency key per booking and
attempt window); webhooks or a status refresh tell us it succeeded. Manual (always, for
staff): cash and EFT recorded by hand with a reference. Another provider (Paystack, say)
is one more `PaymentGateway`; bookings never know which one was used.

The ledger (payment_transactions) only grows: a row is written once and, while pending,
settled once (the database refuses anything else, and refunds beyond what was paid).
A booking's payment_status is derived from its rows in the same transaction as every
change to them.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

import stripe
from sqlalchemy import Select, and_, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, aliased

from avenrae.config import get_settings
from avenrae.models import (
    Booking,
    BookingStatus,
    PaymentStatus,
    PaymentTransaction,
    Practitioner,
    Role,
    StripeEvent,
    TransactionKind,
    User,
)
from avenrae.services import audit, bookings, notifications, validation
from avenrae.services.errors import InvalidInput, NotFound, PermissionDenied, ServiceError
from avenrae.services.pricing import CENT, to_cents

MANUAL_METHODS = {"eft": "EFT", "cash": "Cash", "card_machine": "Card machine"}
# Stripe will not keep a Checkout page open for less than 30 minutes.
CHECKOUT_MINUTES = 31


class PaymentError(ServiceError):
    """The gateway refused or could not be reached; nothing was changed."""


class WebhookRejected(ServiceError):
    """A webhook that is not provably from Stripe (bad signature, wrong secret, too old)."""


# --- the gateway interface --------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRequest:
    booking_id: uuid.UUID
    amount: Decimal  # the booking total, ZAR
    description: str
    customer_email: str
    customer_name: str
    customer_reference: str | None  # the provider's id for this client, when known
    client_user_id: uuid.UUID
    expires_at: datetime
    return_url: str


@dataclass(frozen=True)
class PaymentPage:
    """Where the client pays: a hosted page with its own reference."""

    reference: str
    url: str
    customer_reference: str | None


@dataclass(frozen=True)
class PaymentState:
    """What the provider says about a booking's payment."""

    status: Literal["paid", "open", "failed", "expired"]
    payment_reference: str | None  # the provider's id of the money movement (a PaymentIntent)
    amount: Decimal
    failure: str | None = None


@dataclass(frozen=True)
class RefundState:
    reference: str
    amount: Decimal
    status: PaymentStatus  # pending, completed or failed


class PaymentGateway(Protocol):
    """An online payment provider. Amounts are ZAR Decimals; cents stay inside the gateway."""

    name: str

    def open_payment_page(self, request: PaymentRequest) -> PaymentPage: ...

    def payment_state(self, page_reference: str) -> PaymentState: ...

    def refund(
        self, *, payment_reference: str, amount: Decimal, idempotency_key: str, booking_id: uuid.UUID
    ) -> RefundState: ...

    def refunds(self, payment_reference: str) -> list[RefundState]: ...


def _stripe_failure(error: stripe.StripeError) -> PaymentError:
    if isinstance(error, stripe.APIConnectionError):
        return PaymentError("We could not reach Stripe, so nothing was charged or refunded. Try again in a minute.")
    if isinstance(error, stripe.CardError):
        return PaymentError(f"The card was refused: {error.user_message or 'declined'}.")
    detail = error.user_message or getattr(error, "_message", None) or "an unexpected error"
    return PaymentError(f"Stripe refused the request ({detail}); nothing was changed.")


_REFUND_STATUS = {
    "succeeded": PaymentStatus.COMPLETED,
    "pending": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.PENDING,
    "failed": PaymentStatus.FAILED,
    "canceled": PaymentStatus.FAILED,
}


def _money(cents: int | None) -> Decimal:
    return (Decimal(cents or 0) / 100).quantize(CENT)


class StripeGateway:
    """Stripe Checkout and Refunds through the official library (`StripeClient`)."""

    name = "stripe"

    def __init__(self, client: stripe.StripeClient):
        self.client = client

    def open_payment_page(self, request: PaymentRequest) -> PaymentPage:
        booking = str(request.booking_id)
        expires = int(request.expires_at.timestamp())
        try:
            customer = request.customer_reference
            if customer is None:
                customer = self.client.v1.customers.create(
                    params={
                        "email": request.customer_email,
                        "name": request.customer_name,
                        "metadata": {"user_id": str(request.client_user_id)},
                    },
                    options={"idempotency_key": f"avenrae-customer-{request.client_user_id}"},
                ).id
            page = self.client.v1.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "customer": customer,
                    "client_reference_id": booking,
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": "zar",
                                "unit_amount": to_cents(request.amount),
                                "product_data": {"name": request.description},
                            },
                        }
                    ],
                    "metadata": {"booking_id": booking},
                    "payment_intent_data": {"metadata": {"booking_id": booking}, "description": request.description},
                    "expires_at": expires,
                    "success_url": request.return_url,
                    "cancel_url": request.return_url,
                },
                # One page per booking and hold window: a retry gets the same page back.
                options={"idempotency_key": f"avenrae-checkout-{booking}-{expires}"},
            )
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        return PaymentPage(reference=page.id, url=page.url, customer_reference=customer)

    def payment_state(self, page_reference: str) -> PaymentState:
        try:
            page = self.client.v1.checkout.sessions.retrieve(page_reference, params={"expand": ["payment_intent"]})
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        intent = page.payment_intent
        intent_id = intent if isinstance(intent, str) or intent is None else intent.id
        if page.payment_status == "paid":
            return PaymentState("paid", intent_id, _money(page.amount_total))
        failure = None
        if intent is not None and not isinstance(intent, str) and intent.last_payment_error:
            failure = intent.last_payment_error.message
        if page.status == "expired":
            return PaymentState("expired", intent_id, Decimal(0), failure)
        return PaymentState("failed" if failure else "open", intent_id, Decimal(0), failure)

    def refund(
        self, *, payment_reference: str, amount: Decimal, idempotency_key: str, booking_id: uuid.UUID
    ) -> RefundState:
        try:
            refund = self.client.v1.refunds.create(
                params={
                    "payment_intent": payment_reference,
                    "amount": to_cents(amount),
                    "metadata": {"booking_id": str(booking_id)},
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        return RefundState(refund.id, _money(refund.amount), _REFUND_STATUS.get(refund.status, PaymentStatus.PENDING))

    def refunds(self, payment_reference: str) -> list[RefundState]:
        try:
            found = self.client.v1.refunds.list(params={"payment_intent": payment_reference, "limit": 100})
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        return [
            RefundState(r.id, _money(r.amount), _REFUND_STATUS.get(r.status, PaymentStatus.PENDING)) for r in found.data
        ]


@functools.cache
def _stripe_client(secret_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(secret_key, max_network_retries=2)


def online_gateway() -> PaymentGateway | None:
    """The configured online gateway (Stripe with a secret key), or None: manual only."""
    key = get_settings().stripe_secret_key
    return StripeGateway(_stripe_client(key.get_secret_value())) if key else None


# --- the ledger --------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    charged: Decimal  # completed charges
    refunded: Decimal  # completed refunds
    refunds_pending: Decimal
    charges_pending: int
    charges_failed: int

    @property
    def refundable(self) -> Decimal:
        return self.charged - self.refunded - self.refunds_pending

    @property
    def status(self) -> PaymentStatus:
        if self.charged == 0:
            return PaymentStatus.FAILED if self.charges_failed and not self.charges_pending else PaymentStatus.PENDING
        if self.refunded >= self.charged:
            return PaymentStatus.REFUNDED
        return PaymentStatus.COMPLETED


def _sum(kind: TransactionKind, *statuses: PaymentStatus):
    wanted = and_(PaymentTransaction.kind == kind, PaymentTransaction.status.in_(statuses))
    return func.coalesce(func.sum(PaymentTransaction.amount).filter(wanted), 0)


def balance(session: Session, booking_id: uuid.UUID) -> Balance:
    charge = PaymentTransaction.kind == TransactionKind.CHARGE
    row = session.execute(
        select(
            _sum(TransactionKind.CHARGE, PaymentStatus.COMPLETED),
            _sum(TransactionKind.REFUND, PaymentStatus.COMPLETED),
            _sum(TransactionKind.REFUND, PaymentStatus.PENDING),
            func.count().filter(charge, PaymentTransaction.status == PaymentStatus.PENDING),
            func.count().filter(charge, PaymentTransaction.status == PaymentStatus.FAILED),
        ).where(PaymentTransaction.booking_id == booking_id)
    ).one()
    return Balance(Decimal(row[0]), Decimal(row[1]), Decimal(row[2]), row[3], row[4])


def _restate(session: Session, booking: Booking) -> Balance:
    """Write the booking's payment_status as its ledger says."""
    session.flush()
    found = balance(session, booking.id)
    booking.payment_status = found.status
    session.flush()
    return found


def _staff(actor: bookings.Actor) -> None:
    if not actor.is_staff:
        raise PermissionDenied("Only staff can record payments and refunds.")


def _pending_charge(session: Session, booking_id: uuid.UUID) -> PaymentTransaction | None:
    return session.scalar(
        select(PaymentTransaction)
        .where(
            PaymentTransaction.booking_id == booking_id,
            PaymentTransaction.kind == TransactionKind.CHARGE,
            PaymentTransaction.status == PaymentStatus.PENDING,
        )
        .order_by(PaymentTransaction.created_at)
        .limit(1)
    )


def _load_booking(session: Session, booking_id: uuid.UUID) -> Booking:
    booking = session.scalar(select(Booking).where(Booking.id == booking_id).with_for_update())
    if booking is None:
        raise NotFound("That booking does not exist.")
    return booking


# --- taking payment ------------------------------------------------------------------


def record_manual_payment(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor,
    method: str,
    reference: str,
    amount: Decimal,
    now: datetime | None = None,
) -> Booking:
    """Staff record cash or EFT received for a pending booking; it is then confirmed."""
    _staff(actor)
    now = now or datetime.now(UTC)
    booking = _load_booking(session, booking_id)
    problems = {}
    if method not in MANUAL_METHODS:
        problems["method"] = "Choose EFT, cash or card machine."
    reference = (reference or "").strip()
    if not reference:
        problems["reference"] = "Give the EFT reference or receipt number, so the payment can be traced."
    elif len(reference) > 100:
        problems["reference"] = "Keep the reference under 100 characters."
    if Decimal(amount).quantize(CENT) != booking.total_amount:
        problems["amount"] = f"This booking costs R{booking.total_amount:,.2f}; record exactly that amount."
    if problems:
        raise InvalidInput(problems)
    if booking.status != BookingStatus.PENDING:
        raise bookings.IllegalTransition(
            f"Only pending bookings take a payment; this one is {booking.status.value.replace('_', ' ')}."
        )
    if booking.hold_expires_at is not None and booking.hold_expires_at <= now:
        raise bookings.IllegalTransition("The hold on this time ran out; book the session again.")
    _settle_charge(
        session,
        booking,
        provider="manual",
        reference=reference,
        amount=booking.total_amount,
        method=method,
        created_by_id=actor.id,
    )
    bookings.confirm(session=session, booking_id=booking.id, now=now)
    _restate(session, booking)
    audit.record(
        session=session,
        actor_id=actor.id,
        action="payment.record_manual",
        target_type="booking",
        target_id=booking.id,
        before={"status": "pending", "payment_status": "pending"},
        after={"status": "confirmed", "amount": str(booking.total_amount), "method": method, "reference": reference},
    )
    return booking


def _settle_charge(
    session: Session,
    booking: Booking,
    *,
    provider: str,
    reference: str,
    amount: Decimal,
    method: str | None = None,
    created_by_id: uuid.UUID | None = None,
) -> None:
    """Mark the booking's pending charge completed, or add a completed charge when none is pending."""
    pending = _pending_charge(session, booking.id)
    if pending is not None and pending.amount == amount:
        pending.status = PaymentStatus.COMPLETED
        pending.provider = provider
        pending.provider_reference = reference
        pending.method = method
        pending.created_by_id = created_by_id
        session.flush()
        return
    session.add(
        PaymentTransaction(
            booking_id=booking.id,
            user_id=booking.client_id,
            kind=TransactionKind.CHARGE,
            provider=provider,
            method=method,
            provider_reference=reference,
            amount=amount,
            status=PaymentStatus.COMPLETED,
            idempotency_key=f"{provider}:charge:{reference}",
            created_by_id=created_by_id,
        )
    )
    session.flush()


@dataclass(frozen=True)
class PayLink:
    url: str
    expires_at: datetime


def start_online_payment(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor,
    gateway: PaymentGateway | None = None,
    now: datetime | None = None,
) -> PayLink:
    """The hosted payment page for a pending booking (the same one while it is open).

    Opening it holds the time for as long as the page stays open (at least 30 minutes).
    """
    now = now or datetime.now(UTC)
    gateway = gateway or online_gateway()
    if gateway is None:
        raise PaymentError("Online payment is not set up; pay by EFT or cash and our staff will confirm it.")
    booking = _load_booking(session, booking_id)
    if not actor.is_staff and not (actor.role == Role.CLIENT and booking.client_id == actor.id):
        raise PermissionDenied("That booking is not yours.")
    if booking.status != BookingStatus.PENDING:
        raise bookings.IllegalTransition(f"This booking is {booking.status.value.replace('_', ' ')}; nothing to pay.")
    if booking.hold_expires_at is not None and booking.hold_expires_at <= now:
        raise bookings.IllegalTransition("The hold on this time ran out; book the session again.")
    if booking.stripe_checkout_url and booking.hold_expires_at and booking.hold_expires_at > now + timedelta(minutes=2):
        return PayLink(booking.stripe_checkout_url, booking.hold_expires_at)
    client = session.get(User, booking.client_id)
    practitioner = session.scalar(
        select(User)
        .join(Practitioner, Practitioner.user_id == User.id)
        .where(Practitioner.id == booking.practitioner_id)
    )
    expires = (now + timedelta(minutes=CHECKOUT_MINUTES)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    minutes = int((booking.session_end - booking.session_start).total_seconds() // 60)
    when = booking.session_start.astimezone(ZoneInfo(get_settings().default_time_zone))
    page = gateway.open_payment_page(
        PaymentRequest(
            booking_id=booking.id,
            amount=booking.total_amount,
            description=f"{minutes}-minute session with {practitioner.full_name}, {when:%a %d %b %Y %H:%M}",
            customer_email=client.email,
            customer_name=client.full_name,
            customer_reference=client.stripe_customer_id,
            client_user_id=client.id,
            expires_at=expires,
            return_url=f"{get_settings().public_url.rstrip('/')}/bookings?booking={booking.id}",
        )
    )
    if page.customer_reference and client.stripe_customer_id != page.customer_reference:
        client.stripe_customer_id = page.customer_reference
    booking.stripe_checkout_session_id = page.reference
    booking.stripe_checkout_url = page.url
    booking.hold_expires_at = max(booking.hold_expires_at or expires, expires)
    pending = _pending_charge(session, booking.id)
    if pending is not None:
        pending.provider = gateway.name
    session.flush()
    return PayLink(page.url, booking.hold_expires_at)


def apply_payment(
    *,
    session: Session,
    booking_id: uuid.UUID,
    provider: str,
    reference: str,
    amount: Decimal,
    gateway: PaymentGateway | None = None,
    now: datetime | None = None,
) -> str:
    """Money arrived for a booking (from a webhook or a refresh). Safe to call repeatedly.

    A pending booking is confirmed. Money for a booking that can no longer take it (the
    hold ran out, or it was already paid) is refunded in full straight away.
    """
    now = now or datetime.now(UTC)
    booking = _load_booking(session, booking_id)
    already = session.scalar(
        select(func.count())
        .select_from(PaymentTransaction)
        .where(
            PaymentTransaction.provider == provider,
            PaymentTransaction.provider_reference == reference,
            PaymentTransaction.kind == TransactionKind.CHARGE,
            PaymentTransaction.status == PaymentStatus.COMPLETED,
        )
    )
    if already:
        return "already recorded"
    was_paid = balance(session, booking.id).charged > 0
    _settle_charge(session, booking, provider=provider, reference=reference, amount=amount)
    if booking.status == BookingStatus.PENDING and not was_paid:
        bookings.confirm(session=session, booking_id=booking.id, now=now)
        booking.stripe_payment_intent_id = reference
        _restate(session, booking)
        return "confirmed"
    # Too late or twice: give this payment back.
    _restate(session, booking)
    reason = "Paid after the booking was cancelled." if booking.status == BookingStatus.CANCELLED else "Paid twice."
    _refund_to_gateway(
        session, booking, amount=amount, payment_reference=reference, provider=provider, gateway=gateway, reason=reason
    )
    notifications.notify(
        session=session,
        item=notifications.Item(
            booking.client_id,
            "payment_returned",
            "Payment returned",
            f"We received R{amount:,.2f} for a booking that could not take it ({reason.lower()[:-1]}); "
            "it is being refunded in full.",
            {"booking_id": str(booking.id)},
        ),
    )
    return "refunded"


def note_failed_payment(*, session: Session, booking_id: uuid.UUID, message: str | None) -> None:
    """A card was declined on the payment page: the booking stays pending, the client is told."""
    booking = session.get(Booking, booking_id)
    if booking is None or booking.status != BookingStatus.PENDING:
        return
    pending = _pending_charge(session, booking.id)
    if pending is not None:
        pending.failure_reason = (message or "The payment did not go through.")[:500]
    notifications.notify(
        session=session,
        item=notifications.Item(
            booking.client_id,
            "payment_failed",
            "Payment did not go through",
            f"{message or 'The payment did not go through.'} Your booking is still held; "
            "you can try again from My bookings until the hold runs out.",
            {"booking_id": str(booking.id)},
        ),
    )
    session.flush()


# --- refunds -----------------------------------------------------------------------------


def _charges_to_refund(session: Session, booking_id: uuid.UUID) -> list[PaymentTransaction]:
    """Completed charges, newest first (refunds come out of the latest money in)."""
    return list(
        session.scalars(
            select(PaymentTransaction)
            .where(
                PaymentTransaction.booking_id == booking_id,
                PaymentTransaction.kind == TransactionKind.CHARGE,
                PaymentTransaction.status == PaymentStatus.COMPLETED,
            )
            .order_by(PaymentTransaction.created_at.desc())
        )
    )


def _refund_to_gateway(
    session: Session,
    booking: Booking,
    *,
    amount: Decimal,
    payment_reference: str,
    provider: str,
    gateway: PaymentGateway | None,
    reason: str,
    created_by_id: uuid.UUID | None = None,
) -> PaymentTransaction:
    """Ask the provider to refund and write the refund row with what it said."""
    gateway = gateway or online_gateway()
    if gateway is None or gateway.name != provider:
        raise PaymentError(f"Refunds of {provider} payments need {provider} to be configured.")
    row_id = uuid.uuid4()
    result = gateway.refund(
        payment_reference=payment_reference,
        amount=amount,
        idempotency_key=f"avenrae-refund-{row_id}",
        booking_id=booking.id,
    )
    row = PaymentTransaction(
        id=row_id,
        booking_id=booking.id,
        user_id=booking.client_id,
        kind=TransactionKind.REFUND,
        provider=provider,
        provider_reference=result.reference,
        amount=amount,
        status=result.status,
        idempotency_key=f"{provider}:refund:{result.reference}",
        failure_reason=reason,
        created_by_id=created_by_id,
    )
    session.add(row)
    _restate(session, booking)
    return row


def refund(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor | None,
    amount: Decimal,
    reason: str,
    gateway: PaymentGateway | None = None,
    method: str | None = None,
    reference: str | None = None,
) -> list[PaymentTransaction]:
    """Give money back for a booking, never more than was paid.

    Online payments are refunded through their gateway. Manual payments are refunded by
    staff by hand (cash or EFT) and recorded here with the method and reference.
    `actor` None is the platform itself (the policy's automatic refunds).
    """
    if actor is not None:
        _staff(actor)
    booking = _load_booking(session, booking_id)
    reason = (reason or "").strip()
    amount = Decimal(amount).quantize(CENT)
    found = balance(session, booking.id)
    problems = {}
    if not reason:
        problems["reason"] = "Say why the money is given back."
    if amount <= 0:
        problems["amount"] = "Refund more than R0."
    elif amount > found.refundable:
        problems["amount"] = (
            f"At most R{found.refundable:,.2f} can be refunded: that is what was paid and not yet refunded."
        )
    if problems:
        raise InvalidInput(problems)

    written: list[PaymentTransaction] = []
    left = amount
    for charge in _charges_to_refund(session, booking.id):
        if left <= 0:
            break
        already = session.scalar(
            select(func.coalesce(func.sum(PaymentTransaction.amount), 0)).where(
                PaymentTransaction.booking_id == booking.id,
                PaymentTransaction.kind == TransactionKind.REFUND,
                PaymentTransaction.provider == charge.provider,
                PaymentTransaction.status.in_((PaymentStatus.PENDING, PaymentStatus.COMPLETED)),
            )
        )
        room = charge.amount - Decimal(already) if charge.provider != "manual" else charge.amount
        part = min(left, max(room, Decimal(0)))
        if part <= 0:
            continue
        if charge.provider == "manual":
            if method not in MANUAL_METHODS or not (reference or "").strip():
                raise InvalidInput(
                    {"reference": "This was paid by hand: pay the refund by EFT or cash and give its reference."}
                )
            row = PaymentTransaction(
                booking_id=booking.id,
                user_id=booking.client_id,
                kind=TransactionKind.REFUND,
                provider="manual",
                method=method,
                provider_reference=reference.strip(),
                amount=part,
                status=PaymentStatus.COMPLETED,
                idempotency_key=f"manual:refund:{uuid.uuid4()}",
                failure_reason=reason,
                created_by_id=actor.id if actor else None,
            )
            session.add(row)
            _restate(session, booking)
        else:
            row = _refund_to_gateway(
                session,
                booking,
                amount=part,
                payment_reference=charge.provider_reference,
                provider=charge.provider,
                gateway=gateway,
                reason=reason,
                created_by_id=actor.id if actor else None,
            )
        written.append(row)
        left -= part
    if left > 0:
        raise InvalidInput({"amount": "That is more than the payments of this booking can return."})
    notifications.notify(
        session=session,
        item=notifications.Item(
            booking.client_id,
            "refund",
            "Refund on its way",
            f"R{amount:,.2f} is being refunded to you. {reason}",
            {"booking_id": str(booking.id)},
        ),
    )
    if actor is not None:
        audit.record(
            session=session,
            actor_id=actor.id,
            action="payment.refund",
            target_type="booking",
            target_id=booking.id,
            before={"refundable": str(found.refundable)},
            after={"refunded": str(amount), "rows": [str(r.id) for r in written]},
            reason=reason,
        )
    return written


def refund_outstanding(session: Session, booking: Booking) -> Decimal:
    """What the cancellation policy still owes: refund_due less the refunds made since."""
    if not booking.refund_due or booking.cancelled_at is None:
        return Decimal("0.00")
    since = bookings.refunded_amount(session, booking.id) - booking.refunded_before_cancel
    return max(booking.refund_due - since, Decimal("0.00"))


@dataclass(frozen=True)
class CancelOutcome:
    refund_due: Decimal
    refunded_now: Decimal
    message: str


def cancel_booking(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor,
    reason: str,
    on_behalf_of: Literal["client", "practitioner"] | None = None,
    refund_override: Decimal | None = None,
    gateway: PaymentGateway | None = None,
    now: datetime | None = None,
) -> CancelOutcome:
    """Cancel under the policy and pay back what it owes where the money can go back by itself.

    Online payments are refunded at once; if the gateway is unreachable the refund stays
    owed and the refund job retries it. Manual payments stay owed until staff pay them out.
    """
    cancelled = bookings.cancel(
        session=session,
        booking_id=booking_id,
        actor=actor,
        reason=reason,
        now=now,
        on_behalf_of=on_behalf_of,
        refund_override=refund_override,
    )
    owed = cancelled.refund_due
    if not owed:
        return CancelOutcome(
            owed,
            Decimal(0),
            "Booking cancelled. Nothing was paid, so nothing is refunded."
            if not balance(session, booking_id).charged
            else "Booking cancelled. No refund is due.",
        )
    refunded = _refund_automatically(session, cancelled.booking, gateway)
    if refunded == owed:
        return CancelOutcome(owed, refunded, f"Booking cancelled. R{owed:,.2f} is being refunded.")
    return CancelOutcome(
        owed,
        refunded,
        f"Booking cancelled. R{owed:,.2f} is owed back; staff will pay it out and record it on Payments.",
    )


def _refund_automatically(session: Session, booking: Booking, gateway: PaymentGateway | None) -> Decimal:
    """Refund what is owed through the online gateway, inside a savepoint: on failure, nothing."""
    outstanding = refund_outstanding(session, booking)
    online = [c for c in _charges_to_refund(session, booking.id) if c.provider != "manual"]
    if not outstanding or not online:
        return Decimal(0)
    try:
        with session.begin_nested():
            refund(
                session=session,
                booking_id=booking.id,
                actor=None,
                amount=min(outstanding, balance(session, booking.id).refundable),
                reason="Refund under the cancellation policy.",
                gateway=gateway,
            )
    except PaymentError:
        return Decimal(0)
    return outstanding


def refund_owed_automatically(*, session: Session, gateway: PaymentGateway | None = None) -> tuple[int, int]:
    """The job: retry automatic refunds still owed on cancelled, online-paid bookings.

    Returns (refunded, still owed).
    """
    candidates = session.scalars(
        select(Booking)
        .where(Booking.status == BookingStatus.CANCELLED, Booking.refund_due > 0)
        .order_by(Booking.cancelled_at)
    ).all()
    done = left = 0
    for booking in candidates:
        if not refund_outstanding(session, booking):
            continue
        if _refund_automatically(session, booking, gateway):
            done += 1
        else:
            left += 1
    return done, left


def sync_refunds(
    *, session: Session, booking_id: uuid.UUID, payment_reference: str, gateway: PaymentGateway | None = None
) -> int:
    """Bring the ledger's refunds of one online payment in line with the provider's list
    (refunds made in the provider's dashboard, and refunds that settled later). Returns rows changed."""
    gateway = gateway or online_gateway()
    if gateway is None:
        return 0
    booking = _load_booking(session, booking_id)
    changed = 0
    for state in gateway.refunds(payment_reference):
        row = session.scalar(
            select(PaymentTransaction).where(
                PaymentTransaction.provider == gateway.name,
                PaymentTransaction.provider_reference == state.reference,
                PaymentTransaction.kind == TransactionKind.REFUND,
            )
        )
        if row is None:
            session.add(
                PaymentTransaction(
                    booking_id=booking.id,
                    user_id=booking.client_id,
                    kind=TransactionKind.REFUND,
                    provider=gateway.name,
                    provider_reference=state.reference,
                    amount=state.amount,
                    status=state.status,
                    idempotency_key=f"{gateway.name}:refund:{state.reference}",
                    failure_reason="Refunded in the payment provider's dashboard.",
                )
            )
            changed += 1
        elif row.status == PaymentStatus.PENDING and state.status != PaymentStatus.PENDING:
            row.status = state.status
            changed += 1
    _restate(session, booking)
    return changed


def refresh_payment(
    *, session: Session, booking_id: uuid.UUID, gateway: PaymentGateway | None = None, now: datetime | None = None
) -> str:
    """Ask the provider how the booking's payment stands and apply it: for deployments
    without a public webhook URL, and for the "Refresh payment status" button."""
    gateway = gateway or online_gateway()
    booking = session.get(Booking, booking_id)
    if booking is None:
        raise NotFound("That booking does not exist.")
    if gateway is None or not booking.stripe_checkout_session_id:
        return "no online payment"
    state = gateway.payment_state(booking.stripe_checkout_session_id)
    if state.status == "paid" and state.payment_reference:
        outcome = apply_payment(
            session=session,
            booking_id=booking.id,
            provider=gateway.name,
            reference=state.payment_reference,
            amount=state.amount,
            gateway=gateway,
            now=now,
        )
        sync_refunds(session=session, booking_id=booking.id, payment_reference=state.payment_reference, gateway=gateway)
        return outcome
    if state.status == "failed":
        return "failed: " + (state.failure or "declined")
    return state.status


def refresh_open_payments(*, session: Session, gateway: PaymentGateway | None = None) -> int:
    """The job: refresh every pending booking with an open payment page; returns how many confirmed."""
    gateway = gateway or online_gateway()
    if gateway is None:
        return 0
    confirmed = 0
    for booking_id in session.scalars(
        select(Booking.id).where(
            Booking.status == BookingStatus.PENDING, Booking.stripe_checkout_session_id.is_not(None)
        )
    ).all():
        try:
            with session.begin_nested():
                if refresh_payment(session=session, booking_id=booking_id, gateway=gateway) == "confirmed":
                    confirmed += 1
        except PaymentError:
            continue
    return confirmed


# --- webhooks ----------------------------------------------------------------------------


def _booking_id_of(data: dict[str, Any]) -> uuid.UUID | None:
    raw = (data.get("metadata") or {}).get("booking_id") or data.get("client_reference_id")
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


def handle_webhook(
    *,
    session: Session,
    payload: bytes,
    signature: str | None,
    gateway: PaymentGateway | None = None,
    secret: str | None = None,
) -> str:
    """Verify a Stripe webhook and apply it exactly once. Returns what was done.

    WebhookRejected (HTTP 400) when the signature, the secret or the timestamp is wrong.
    """
    configured = get_settings().stripe_webhook_secret
    secret = secret or (configured.get_secret_value() if configured else None)
    if not secret:
        raise WebhookRejected("Stripe webhooks are not configured (AVENRAE_STRIPE_WEBHOOK_SECRET).")
    try:
        event = stripe.Webhook.construct_event(payload, signature or "", secret)
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise WebhookRejected("The webhook signature does not verify.") from error
    stored = session.execute(
        pg_insert(StripeEvent)
        .values(id=event.id, type=event.type, payload=event.to_dict())
        .on_conflict_do_nothing(index_elements=[StripeEvent.id])
        .returning(StripeEvent.id)
    ).scalar()
    if stored is None:
        return "duplicate"
    data = event.data.object.to_dict()
    booking_id = _booking_id_of(data)
    outcome = "ignored"
    if booking_id is not None and session.get(Booking, booking_id) is None:
        outcome = "unknown booking"
    elif booking_id is not None or event.type.startswith(("charge.", "refund.")):
        outcome = _apply_event(session, event.type, data, booking_id, gateway)
    session.execute(update(StripeEvent).where(StripeEvent.id == event.id).values(processed_at=func.now()))
    return outcome


def _apply_event(
    session: Session, kind: str, data: dict[str, Any], booking_id: uuid.UUID | None, gateway: PaymentGateway | None
) -> str:
    gateway = gateway or online_gateway()
    provider = gateway.name if gateway else "stripe"
    if kind == "checkout.session.completed" and data.get("payment_status") == "paid" and booking_id:
        return apply_payment(
            session=session,
            booking_id=booking_id,
            provider=provider,
            reference=data["payment_intent"],
            amount=_money(data.get("amount_total")),
            gateway=gateway,
        )
    if kind == "payment_intent.succeeded" and booking_id:
        return apply_payment(
            session=session,
            booking_id=booking_id,
            provider=provider,
            reference=data["id"],
            amount=_money(data.get("amount_received")),
            gateway=gateway,
        )
    if kind == "payment_intent.payment_failed" and booking_id:
        note_failed_payment(
            session=session, booking_id=booking_id, message=(data.get("last_payment_error") or {}).get("message")
        )
        return "failure noted"
    if kind.startswith(("charge.refund", "refund.")) or kind == "charge.refunded":
        intent = data.get("payment_intent")
        if not intent:
            return "ignored"
        if booking_id is None:
            booking_id = session.scalar(
                select(PaymentTransaction.booking_id).where(
                    PaymentTransaction.provider_reference == intent, PaymentTransaction.kind == TransactionKind.CHARGE
                )
            )
        if booking_id is None:
            return "unknown booking"
        # Re-read the refunds from Stripe: events about them can arrive in any order.
        changed = sync_refunds(session=session, booking_id=booking_id, payment_reference=intent, gateway=gateway)
        return f"refunds synced ({changed} changed)"
    return "ignored"


# --- what the pages show ---------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerFilter:
    start: datetime | None = None
    end: datetime | None = None
    kinds: tuple[TransactionKind, ...] = ()
    statuses: tuple[PaymentStatus, ...] = ()
    providers: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class LedgerRow:
    id: uuid.UUID
    created_at: datetime
    booking_id: uuid.UUID
    kind: TransactionKind
    provider: str
    method: str | None
    provider_reference: str | None
    amount: Decimal
    status: PaymentStatus
    client_name: str
    practitioner_name: str
    note: str | None


@dataclass(frozen=True)
class LedgerTotals:
    charged: Decimal
    refunded: Decimal
    platform_fees: Decimal  # the platform's share of the completed charges

    @property
    def net(self) -> Decimal:
        return self.charged - self.refunded


@dataclass(frozen=True)
class LedgerPage:
    rows: list[LedgerRow]
    total: int
    totals: LedgerTotals
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def ledger(
    *,
    session: Session,
    actor: bookings.Actor,
    filters: LedgerFilter = LedgerFilter(),
    page: int = 1,
    page_size: int = 50,
) -> LedgerPage:
    """The ledger for staff: newest first, filtered, with totals over everything that matches."""
    _staff(actor)
    if filters.start and filters.end and filters.start >= filters.end:
        raise InvalidInput({"end": "The end of the period is before its start."})
    client = aliased(User)
    practitioner_user = aliased(User)
    conditions = []
    if filters.start:
        conditions.append(PaymentTransaction.created_at >= filters.start)
    if filters.end:
        conditions.append(PaymentTransaction.created_at < filters.end)
    if filters.kinds:
        conditions.append(PaymentTransaction.kind.in_(filters.kinds))
    if filters.statuses:
        conditions.append(PaymentTransaction.status.in_(filters.statuses))
    if filters.providers:
        conditions.append(PaymentTransaction.provider.in_(filters.providers))
    words = filters.text.lower().split()[:4]
    for word in words:
        pattern = validation.contains(word)
        conditions.append(
            or_(
                client.search_text.like(pattern),
                practitioner_user.search_text.like(pattern),
                func.lower(PaymentTransaction.provider_reference).like(pattern),
            )
        )

    def with_names(query: Select) -> Select:
        return (
            query.join(client, client.id == Booking.client_id)
            .join(Practitioner, Practitioner.id == Booking.practitioner_id)
            .join(practitioner_user, practitioner_user.id == Practitioner.user_id)
        )

    with_bookings = select(PaymentTransaction).join(Booking, Booking.id == PaymentTransaction.booking_id)
    # The totals need the names only to match words; joining them anyway doubles the time.
    matching = (with_names(with_bookings) if words else with_bookings).where(*conditions)
    done = PaymentTransaction.status == PaymentStatus.COMPLETED
    is_charge = PaymentTransaction.kind == TransactionKind.CHARGE
    sums = session.execute(
        matching.with_only_columns(
            func.count(),
            func.coalesce(func.sum(PaymentTransaction.amount).filter(done, is_charge), 0),
            func.coalesce(func.sum(PaymentTransaction.amount).filter(done, ~is_charge), 0),
            func.coalesce(
                func.sum(
                    case(
                        (
                            Booking.total_amount > 0,
                            PaymentTransaction.amount * Booking.platform_fee / Booking.total_amount,
                        ),
                        else_=0,
                    )
                ).filter(done, is_charge),
                0,
            ),
        )
    ).one()
    rows = session.execute(
        with_names(
            select(PaymentTransaction, Booking, client, practitioner_user).join(
                Booking, Booking.id == PaymentTransaction.booking_id
            )
        )
        .where(*conditions)
        .order_by(PaymentTransaction.created_at.desc(), PaymentTransaction.id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return LedgerPage(
        rows=[
            LedgerRow(
                t.id,
                t.created_at,
                t.booking_id,
                t.kind,
                t.provider,
                t.method,
                t.provider_reference,
                t.amount,
                t.status,
                c.full_name,
                p.full_name,
                t.failure_reason,
            )
            for t, _b, c, p in rows
        ],
        total=sums[0],
        totals=LedgerTotals(Decimal(sums[1]), Decimal(sums[2]), Decimal(sums[3]).quantize(CENT)),
        page=page,
        page_size=page_size,
    )


@dataclass(frozen=True)
class OwedRefund:
    booking_id: uuid.UUID
    client_name: str
    session_start: datetime
    cancelled_at: datetime
    outstanding: Decimal
    paid_by: str


def refunds_owed(*, session: Session, actor: bookings.Actor) -> list[OwedRefund]:
    """Cancelled bookings whose policy refund has not been (fully) paid out yet."""
    _staff(actor)
    found = []
    for booking, client in session.execute(
        select(Booking, User)
        .join(User, User.id == Booking.client_id)
        .where(Booking.status == BookingStatus.CANCELLED, Booking.refund_due > 0)
        .order_by(Booking.cancelled_at)
    ):
        outstanding = refund_outstanding(session, booking)
        if outstanding:
            providers = {c.provider for c in _charges_to_refund(session, booking.id)}
            found.append(
                OwedRefund(
                    booking.id,
                    client.full_name,
                    booking.session_start,
                    booking.cancelled_at,
                    outstanding,
                    ", ".join(sorted(providers)) or "nothing recorded",
                )
            )
    return found


@dataclass(frozen=True)
class EarningsMonth:
    month: str  # "2026-11"
    sessions: int
    earned: Decimal  # service amounts of paid sessions
    refunds: Decimal  # the practitioner's share of refunds
    net: Decimal


def earnings(
    *, session: Session, actor: bookings.Actor, practitioner_id: uuid.UUID | None = None, months: int = 12
) -> list[EarningsMonth]:
    """A practitioner's money by month, from the ledger: service amounts of completed
    charges, less their share of refunds (the platform fee is the platform's)."""
    if actor.role == Role.PRACTITIONER:
        own = session.scalar(select(Practitioner.id).where(Practitioner.user_id == actor.id))
        if practitioner_id not in (None, own):
            raise PermissionDenied("You can only see your own earnings.")
        practitioner_id = own
    elif not actor.is_staff:
        raise PermissionDenied("Earnings are for practitioners and staff.")
    if practitioner_id is None:
        raise InvalidInput({"practitioner": "Choose a practitioner."})
    zone = session.scalar(select(Practitioner.time_zone).where(Practitioner.id == practitioner_id))
    month = func.to_char(func.timezone(zone, PaymentTransaction.created_at), "YYYY-MM")
    share = func.round(PaymentTransaction.amount * Booking.service_amount / func.nullif(Booking.total_amount, 0), 2)
    is_charge = PaymentTransaction.kind == TransactionKind.CHARGE
    rows = session.execute(
        select(
            month.label("month"),
            func.count(func.distinct(Booking.id)).filter(is_charge),
            func.coalesce(func.sum(share).filter(is_charge), 0),
            func.coalesce(func.sum(share).filter(~is_charge), 0),
        )
        .join(Booking, Booking.id == PaymentTransaction.booking_id)
        .where(
            Booking.practitioner_id == practitioner_id,
            PaymentTransaction.status == PaymentStatus.COMPLETED,
            PaymentTransaction.created_at >= func.now() - timedelta(days=31 * months),
        )
        .group_by(month)
        .order_by(month.desc())
    ).all()
    return [EarningsMonth(m, n, Decimal(e), Decimal(r), Decimal(e) - Decimal(r)) for m, n, e, r in rows]
