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
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

import stripe
from sqlalchemy import Select, and_, case, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, aliased

from avenrae.config import get_settings
from avenrae.db import session_scope
from avenrae.models import (
    Booking,
    BookingStatus,
    CheckoutPage,
    PaymentStatus,
    PaymentTransaction,
    Practitioner,
    Role,
    StripeEvent,
    TransactionKind,
    UnmatchedPayment,
    User,
)
from avenrae.services import audit, bookings, notifications, validation
from avenrae.services.errors import InvalidInput, NotFound, PermissionDenied, ServiceError
from avenrae.services.pricing import CENT, to_cents

log = logging.getLogger(__name__)
MANUAL_METHODS = {"eft": "EFT", "cash": "Cash", "card_machine": "Card machine"}
# Stripe will not keep a Checkout page open for less than 30 minutes.
CHECKOUT_MINUTES = 31


class PaymentError(ServiceError):
    """The gateway refused or could not be reached; nothing was changed. `transient`: it
    could not be reached (try again later), rather than refused."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


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
    """What the provider says about a payment page: whether it was paid, and what."""

    status: Literal["paid", "open", "failed", "expired"]
    payment_reference: str | None  # the provider's id of the money movement (a PaymentIntent)
    amount_cents: int  # what the merchant receives, in the smallest unit of `currency`
    currency: str  # lower case ISO code, "zar"
    failure: str | None = None

    @property
    def amount(self) -> Decimal:
        return _money(self.amount_cents)


def _reference(value: Any) -> str | None:
    """An id, whether Stripe sent the object expanded or only its id."""
    if value is None or isinstance(value, str):
        return value
    return value.get("id")


def page_state(page: Mapping[str, Any]) -> PaymentState:
    """A Checkout Session (retrieved, or from an event) as a PaymentState.

    With Adaptive Pricing the client pays in their own currency and `currency_conversion`
    holds what the merchant receives, in the currency the page was made in (ZAR).
    """
    conversion = page.get("currency_conversion") or {}
    cents = conversion.get("amount_total") if conversion else page.get("amount_total")
    currency = (conversion.get("source_currency") if conversion else page.get("currency")) or ""
    intent = page.get("payment_intent")
    intent_id = _reference(intent)
    if page.get("payment_status") == "paid":
        return PaymentState("paid", intent_id, int(cents or 0), currency.lower())
    error = intent.get("last_payment_error") if isinstance(intent, Mapping) else None
    failure = error.get("message") if error else None
    status: Literal["open", "failed", "expired"] = (
        "expired" if page.get("status") == "expired" else "failed" if failure else "open"
    )
    return PaymentState(status, intent_id, 0, currency.lower(), failure)


@dataclass(frozen=True)
class RefundState:
    reference: str
    amount: Decimal
    status: PaymentStatus  # pending, completed or failed
    ledger_row: str | None = None  # the ledger row that asked for it (its metadata), when ours


class PaymentGateway(Protocol):
    """An online payment provider. Amounts are ZAR Decimals; cents stay inside the gateway."""

    name: str

    def open_payment_page(self, request: PaymentRequest) -> PaymentPage: ...

    def payment_state(self, page_reference: str) -> PaymentState: ...

    def refund(
        self, *, payment_reference: str, amount: Decimal | None, idempotency_key: str, metadata: dict[str, str]
    ) -> RefundState:
        """Give back `amount` (None: everything) of a payment; the same key never refunds twice."""
        ...

    def refunds(self, payment_reference: str) -> list[RefundState]: ...


def _stripe_failure(error: stripe.StripeError) -> PaymentError:
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError) or (error.http_status or 0) >= 500:
        return PaymentError(
            "We could not reach Stripe, so nothing was charged or refunded. Try again in a minute.", transient=True
        )
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


def _refund_state(refund: stripe.Refund) -> RefundState:
    found = refund.to_dict()
    return RefundState(
        found["id"],
        _money(found.get("amount")),
        _REFUND_STATUS.get(found.get("status") or "", PaymentStatus.PENDING),
        (found.get("metadata") or {}).get("ledger_row"),
    )


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
        return page_state(page.to_dict())

    def refund(
        self, *, payment_reference: str, amount: Decimal | None, idempotency_key: str, metadata: dict[str, str]
    ) -> RefundState:
        params: dict[str, Any] = {"payment_intent": payment_reference, "metadata": metadata}
        if amount is not None:
            params["amount"] = to_cents(amount)
        try:
            refund = self.client.v1.refunds.create(params=params, options={"idempotency_key": idempotency_key})
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        return _refund_state(refund)

    def refunds(self, payment_reference: str) -> list[RefundState]:
        try:
            found = self.client.v1.refunds.list(params={"payment_intent": payment_reference, "limit": 100})
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        return [_refund_state(r) for r in found.data]


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
) -> PaymentTransaction:
    """Mark the booking's pending charge completed, or add a completed charge when none is pending."""
    pending = _pending_charge(session, booking.id)
    if pending is not None and pending.amount == amount:
        pending.status = PaymentStatus.COMPLETED
        pending.provider = provider
        pending.provider_reference = reference
        pending.method = method
        pending.created_by_id = created_by_id
        session.flush()
        return pending
    charge = PaymentTransaction(
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
    session.add(charge)
    session.flush()
    return charge


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

    Opening it holds the time while the page stays open (Stripe keeps a page at least 30
    minutes), but never longer than AVENRAE_BOOKING_HOLD_MAX_MINUTES from the booking: a
    payment after the hold ends is given back.
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
    _record_page(session, booking, page, gateway.name, expires)
    booking.stripe_checkout_session_id = page.reference
    booking.stripe_checkout_url = page.url
    longest = booking.created_at + timedelta(minutes=get_settings().booking_hold_max_minutes)
    booking.hold_expires_at = max(booking.hold_expires_at or now, min(expires, longest))
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
    now: datetime | None = None,
) -> str:
    """Money we asked for arrived for a booking (the amount was checked by the caller).
    Safe to call repeatedly.

    A pending booking is confirmed. Money for a booking that can no longer take it (the
    hold ran out, or it was already paid) is queued to be refunded in full straight away.
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
    charge = _settle_charge(session, booking, provider=provider, reference=reference, amount=amount)
    if booking.status == BookingStatus.PENDING and not was_paid:
        bookings.confirm(session=session, booking_id=booking.id, now=now)
        booking.stripe_payment_intent_id = reference
        _restate(session, booking)
        return "confirmed"
    # Too late or twice: give this payment back.
    _restate(session, booking)
    reason = "Paid after the booking was cancelled." if booking.status == BookingStatus.CANCELLED else "Paid twice."
    _queue_refund_row(session, booking, charge, amount, reason=reason)
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
    return "refund queued"


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


# --- matching money to what we asked for ---------------------------------------------------


def _mismatch(booking: Booking, state: PaymentState) -> str | None:
    """Why a paid page's money is not what the booking asked for, or None when it is."""
    if state.currency != "zar":
        return f"Paid in {state.currency.upper() or 'an unknown currency'}, not in rand."
    if state.amount_cents != to_cents(booking.total_amount):
        return f"Paid R{_money(state.amount_cents):,.2f}, but the booking costs R{booking.total_amount:,.2f}."
    return None


def _record_page(session: Session, booking: Booking, page: PaymentPage, provider: str, expires: datetime) -> None:
    session.execute(
        pg_insert(CheckoutPage)
        .values(
            reference=page.reference,
            booking_id=booking.id,
            provider=provider,
            amount_cents=to_cents(booking.total_amount),
            currency="zar",
            expires_at=expires,
        )
        .on_conflict_do_nothing(index_elements=[CheckoutPage.reference])
    )


def _apply_page_state(
    session: Session,
    booking: Booking,
    page_reference: str,
    state: PaymentState,
    *,
    provider: str,
    event_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """A paid page this platform made for the booking: confirm it when the money is exactly
    what was asked for; otherwise the money is unmatched and goes back."""
    problem = _mismatch(booking, state)
    if problem is not None or not state.payment_reference:
        return _record_unmatched(
            session,
            provider=provider,
            reference=state.payment_reference or page_reference,
            booking_id=booking.id,
            named=str(booking.id),
            amount_cents=state.amount_cents,
            currency=state.currency,
            reason=problem or "The payment page says paid but names no payment.",
            event_id=event_id,
            refundable=bool(state.payment_reference),
        )
    return apply_payment(
        session=session,
        booking_id=booking.id,
        provider=provider,
        reference=state.payment_reference,
        amount=state.amount,
        now=now,
    )


def _record_unmatched(
    session: Session,
    *,
    provider: str,
    reference: str,
    booking_id: uuid.UUID | None,
    named: str | None,
    amount_cents: int,
    currency: str,
    reason: str,
    event_id: str | None,
    refundable: bool = True,
) -> str:
    """Keep money that is not what we asked for out of the ledger, queue its refund, tell staff."""
    refund_status = "pending" if refundable and amount_cents > 0 else "nothing_to_refund"
    recorded = session.execute(
        pg_insert(UnmatchedPayment)
        .values(
            provider=provider,
            payment_reference=reference,
            event_id=event_id,
            booking_id=booking_id,
            named_booking=(named or "")[:64] or None,
            amount_cents=amount_cents,
            currency=(currency or "???")[:3].upper(),
            reason=reason,
            refund_status=refund_status,
        )
        .on_conflict_do_nothing(index_elements=[UnmatchedPayment.payment_reference])
        .returning(UnmatchedPayment.id)
    ).scalar()
    if recorded is None:
        return "already recorded as unmatched"
    audit.record(
        session=session,
        actor_id=None,
        action="payment.unmatched",
        target_type="booking" if booking_id else "payment",
        target_id=booking_id or reference,
        after={"payment_reference": reference, "amount_cents": amount_cents, "currency": currency, "event": event_id},
        reason=reason,
    )
    return "unmatched: " + ("refund queued" if refund_status == "pending" else "nothing to refund")


def _named_booking(data: Mapping[str, Any]) -> str | None:
    """The booking an object says it is for (metadata, or the page's client reference,
    which a payer can set themselves): a claim to check, never proof."""
    raw = (data.get("metadata") or {}).get("booking_id") or data.get("client_reference_id")
    return str(raw)[:64] if raw else None


def _as_uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


# --- refunds -----------------------------------------------------------------------------

# Automatic refunds stop after this many refusals for one booking: staff take over.
MAX_AUTOMATIC_REFUND_FAILURES = 3


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


def _room(session: Session, charge: PaymentTransaction) -> Decimal:
    """What of one online charge has not been refunded (pending refunds count)."""
    refunded = session.scalar(
        select(func.coalesce(func.sum(PaymentTransaction.amount), 0)).where(
            PaymentTransaction.refund_of_id == charge.id,
            PaymentTransaction.status.in_((PaymentStatus.PENDING, PaymentStatus.COMPLETED)),
        )
    )
    return max(charge.amount - Decimal(refunded), Decimal(0))


def _queue_refund_row(
    session: Session,
    booking: Booking,
    charge: PaymentTransaction,
    amount: Decimal,
    *,
    reason: str,
    created_by_id: uuid.UUID | None = None,
) -> PaymentTransaction:
    """A pending refund of an online charge, with the idempotency key it will always be sent
    with: written (and committed by the caller) before the provider is asked, so a crash in
    between can only lead to the same refund being asked for again, never a second one."""
    row_id = uuid.uuid4()
    row = PaymentTransaction(
        id=row_id,
        booking_id=booking.id,
        user_id=booking.client_id,
        kind=TransactionKind.REFUND,
        provider=charge.provider,
        amount=amount,
        status=PaymentStatus.PENDING,
        idempotency_key=f"{charge.provider}:refund:{row_id}",
        failure_reason=reason,
        created_by_id=created_by_id,
        refund_of_id=charge.id,
    )
    session.add(row)
    _restate(session, booking)
    return row


@dataclass(frozen=True)
class RefundResult:
    """What a refund (or a cancellation) did: rows written, and the online ones still to send."""

    rows: list[PaymentTransaction]
    to_send: list[uuid.UUID]


def refund(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor | None,
    amount: Decimal,
    reason: str,
    method: str | None = None,
    reference: str | None = None,
) -> RefundResult:
    """Give money back for a booking, never more than was paid.

    Manual payments are refunded by staff by hand (cash or EFT) and recorded here with the
    method and reference. Online payments get a pending refund row each; once the caller
    has committed, `send_queued_refunds` asks the provider (the refund job retries).
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
        room = charge.amount if charge.provider == "manual" else _room(session, charge)
        part = min(left, room)
        if part <= 0:
            continue
        if charge.provider == "manual":
            if method not in MANUAL_METHODS or not (reference or "").strip():
                raise InvalidInput(
                    {"reference": "This was paid by hand: pay the refund by EFT or cash and give its reference."}
                )
            assert reference is not None
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
                refund_of_id=charge.id,
            )
            session.add(row)
            _restate(session, booking)
        else:
            row = _queue_refund_row(
                session, booking, charge, part, reason=reason, created_by_id=actor.id if actor else None
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
    return RefundResult(written, [row.id for row in written if row.provider != "manual"])


def refund_outstanding(session: Session, booking: Booking) -> Decimal:
    """What the cancellation policy still owes: refund_due less the refunds made since."""
    if not booking.refund_due or booking.cancelled_at is None:
        return Decimal("0.00")
    since = bookings.refunded_amount(session, booking.id) - booking.refunded_before_cancel
    return max(booking.refund_due - since, Decimal("0.00"))


@dataclass(frozen=True)
class CancelOutcome:
    refund_due: Decimal
    to_send: list[uuid.UUID]  # online refunds queued; send them once this has committed
    message: str


def cancel_booking(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: bookings.Actor,
    reason: str,
    on_behalf_of: Literal["client", "practitioner"] | None = None,
    refund_override: Decimal | None = None,
    now: datetime | None = None,
) -> CancelOutcome:
    """Cancel under the policy and queue what it owes back where the money can go back by itself.

    Online payments get their refund queued (sent once the caller has committed; the refund
    job retries). Manual payments stay owed until staff pay them out.
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
            [],
            "Booking cancelled. Nothing was paid, so nothing is refunded."
            if not balance(session, booking_id).charged
            else "Booking cancelled. No refund is due.",
        )
    queued = _queue_automatic_refund(session, cancelled.booking)
    if queued:
        return CancelOutcome(owed, queued, f"Booking cancelled. R{owed:,.2f} is being refunded.")
    return CancelOutcome(
        owed, [], f"Booking cancelled. R{owed:,.2f} is owed back; staff will pay it out and record it on Payments."
    )


def _queue_automatic_refund(session: Session, booking: Booking) -> list[uuid.UUID]:
    """Queue what the policy still owes on the booking's online payments; the ids queued."""
    outstanding = min(refund_outstanding(session, booking), balance(session, booking.id).refundable)
    if outstanding <= 0 or not any(c.provider != "manual" for c in _charges_to_refund(session, booking.id)):
        return []
    try:
        with session.begin_nested():
            return refund(
                session=session,
                booking_id=booking.id,
                actor=None,
                amount=outstanding,
                reason="Refund under the cancellation policy.",
            ).to_send
    except InvalidInput:  # the owed money sits partly on manual payments: staff pay it out
        return []


SendOutcome = Literal["sent", "refused", "skipped"]


@dataclass(frozen=True)
class RefundRun:
    sent: int = 0
    refused: int = 0  # the provider said no: marked failed, for staff
    waiting: int = 0  # could not be sent now (provider unreachable, an error): tried again later


def send_refund(row_id: uuid.UUID, *, gateway: PaymentGateway | None = None) -> SendOutcome:
    """Ask the provider for one queued refund, in a transaction of its own.

    Always with the row's own idempotency key, so asking again (after a crash, a timeout
    or by two servers) returns the same refund.
    """
    with session_scope() as session:
        row = session.scalar(
            select(PaymentTransaction)
            .where(PaymentTransaction.id == row_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None or row.status != PaymentStatus.PENDING or row.provider_reference is not None:
            return "skipped"
        gateway = gateway or online_gateway()
        if gateway is None or gateway.name != row.provider:
            raise PaymentError(f"Refunds of {row.provider} payments need {row.provider} to be configured.")
        charge = session.get(PaymentTransaction, row.refund_of_id) if row.refund_of_id else None
        if charge is None or not charge.provider_reference:
            raise PaymentError("This refund does not say which payment it comes out of.")
        try:
            result = gateway.refund(
                payment_reference=charge.provider_reference,
                amount=row.amount,
                idempotency_key=f"avenrae-refund-{row.id}",
                metadata={"booking_id": str(row.booking_id), "ledger_row": str(row.id)},
            )
        except PaymentError as refused:
            if refused.transient:
                raise  # stays queued: the refund job asks again, with the same key
            row.status = PaymentStatus.FAILED
            row.failure_reason = f"{row.failure_reason} Refused: {refused}"
            _restate(session, _load_booking(session, row.booking_id))
            return "refused"
        row.provider_reference = result.reference
        row.status = result.status
        _restate(session, _load_booking(session, row.booking_id))
    return "sent"


def send_unmatched_refund(unmatched_id: uuid.UUID, *, gateway: PaymentGateway | None = None) -> SendOutcome:
    """Give back one unmatched payment in full, in a transaction of its own."""
    with session_scope() as session:
        row = session.scalar(
            select(UnmatchedPayment)
            .where(UnmatchedPayment.id == unmatched_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None or row.refund_status != "pending":
            return "skipped"
        gateway = gateway or online_gateway()
        if gateway is None or gateway.name != row.provider:
            raise PaymentError(f"Refunds of {row.provider} payments need {row.provider} to be configured.")
        try:
            result = gateway.refund(
                payment_reference=row.payment_reference,
                amount=None,
                idempotency_key=f"avenrae-unmatched-refund-{row.payment_reference}",
                metadata={"unmatched_payment": str(row.id)},
            )
        except PaymentError as refused:
            if refused.transient:
                raise
            row.refund_status, row.refund_failure = "failed", str(refused)
            return "refused"
        row.refund_reference = result.reference
        row.refund_status = {PaymentStatus.COMPLETED: "refunded", PaymentStatus.FAILED: "failed"}.get(
            result.status, "pending"
        )
    return "sent"


def send_queued_refunds(
    *, gateway: PaymentGateway | None = None, booking_id: uuid.UUID | None = None, ids: list[uuid.UUID] | None = None
) -> RefundRun:
    """Send the online refunds written but not yet sent (of one booking, or these rows, or
    all, unmatched payments included), each in its own transaction: one failure (Stripe down,
    a bug) never stops the others or undoes what was sent."""
    with session_scope() as session:
        queued = select(PaymentTransaction.id).where(
            PaymentTransaction.kind == TransactionKind.REFUND,
            PaymentTransaction.status == PaymentStatus.PENDING,
            PaymentTransaction.provider_reference.is_(None),
            PaymentTransaction.provider != "manual",
        )
        if booking_id is not None:
            queued = queued.where(PaymentTransaction.booking_id == booking_id)
        if ids is not None:
            queued = queued.where(PaymentTransaction.id.in_(ids))
        rows = session.scalars(queued.order_by(PaymentTransaction.created_at)).all()
        unmatched = (
            session.scalars(
                select(UnmatchedPayment.id)
                .where(UnmatchedPayment.refund_status == "pending")
                .order_by(UnmatchedPayment.created_at)
            ).all()
            if booking_id is None and ids is None
            else []
        )
    outcomes: list[str] = []
    for send, item in [(send_refund, r) for r in rows] + [(send_unmatched_refund, u) for u in unmatched]:
        try:
            outcomes.append(send(item, gateway=gateway))
        except Exception:  # isolated to this refund: it stays queued and the job tries again
            log.exception("refund %s could not be sent", item)
            outcomes.append("waiting")
    return RefundRun(*(outcomes.count(kind) for kind in ("sent", "refused", "waiting")))


def _owed_online() -> Select:
    """Cancelled bookings whose policy refund is not fully queued or paid yet, that were paid
    online, and where automatic refunds have not failed too often."""
    refunds = PaymentTransaction.kind == TransactionKind.REFUND
    live = PaymentTransaction.status.in_((PaymentStatus.PENDING, PaymentStatus.COMPLETED))
    since = func.coalesce(func.sum(PaymentTransaction.amount).filter(refunds, live), 0) - Booking.refunded_before_cancel
    return (
        select(Booking.id)
        .join(PaymentTransaction, PaymentTransaction.booking_id == Booking.id)
        .where(Booking.status == BookingStatus.CANCELLED, Booking.refund_due > 0)
        .group_by(Booking.id)
        .having(
            Booking.refund_due - since > 0,
            func.count().filter(
                PaymentTransaction.kind == TransactionKind.CHARGE, PaymentTransaction.provider != "manual"
            )
            > 0,
            func.count().filter(refunds, PaymentTransaction.status == PaymentStatus.FAILED)
            < MAX_AUTOMATIC_REFUND_FAILURES,
        )
        .order_by(Booking.cancelled_at)
    )


def refund_owed_automatically(*, gateway: PaymentGateway | None = None) -> RefundRun:
    """The job: queue what cancellations still owe on online payments (one transaction per
    booking), then send every queued refund (one transaction each)."""
    with session_scope() as session:
        owed = session.scalars(_owed_online()).all()
    for booking_id in owed:
        try:
            with session_scope() as session:
                _queue_automatic_refund(session, _load_booking(session, booking_id))
        except Exception:  # isolated to this booking; the next run tries again
            log.exception("could not queue the refund of booking %s", booking_id)
    return send_queued_refunds(gateway=gateway)


def sync_refunds(
    *, session: Session, booking_id: uuid.UUID, payment_reference: str, gateway: PaymentGateway | None = None
) -> int:
    """Bring the ledger's refunds of one online payment in line with the provider's list
    (refunds made in the provider's dashboard, and refunds that settled later). Returns rows changed."""
    gateway = gateway or online_gateway()
    if gateway is None:
        return 0
    booking = _load_booking(session, booking_id)
    charge = session.scalar(
        select(PaymentTransaction).where(
            PaymentTransaction.provider_reference == payment_reference,
            PaymentTransaction.kind == TransactionKind.CHARGE,
        )
    )
    changed = 0
    for state in gateway.refunds(payment_reference):
        ours = _as_uuid(state.ledger_row)
        row = session.scalar(
            select(PaymentTransaction)
            .where(
                PaymentTransaction.kind == TransactionKind.REFUND,
                or_(
                    and_(
                        PaymentTransaction.provider == gateway.name,
                        PaymentTransaction.provider_reference == state.reference,
                    ),
                    PaymentTransaction.id == ours if ours else False,
                ),
            )
            .with_for_update()
            .execution_options(populate_existing=True)
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
                    refund_of_id=charge.id if charge else None,
                )
            )
            changed += 1
        elif row.status == PaymentStatus.PENDING and (
            state.status != PaymentStatus.PENDING or row.provider_reference is None
        ):
            row.provider_reference = state.reference
            row.status = state.status
            changed += 1
    _restate(session, booking)
    return changed


def _sync_unmatched_refund(session: Session, payment_reference: str, gateway: PaymentGateway) -> str:
    row = session.scalar(
        select(UnmatchedPayment).where(UnmatchedPayment.payment_reference == payment_reference).with_for_update()
    )
    if row is None:
        return "ignored: not a payment of ours"
    for state in gateway.refunds(payment_reference):
        if state.status == PaymentStatus.COMPLETED:
            row.refund_status, row.refund_reference = "refunded", state.reference
        elif state.status == PaymentStatus.FAILED and row.refund_status != "refunded":
            row.refund_status, row.refund_reference = "failed", state.reference
    return f"unmatched payment refund {row.refund_status}"


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
    if state.status == "paid":
        outcome = _apply_page_state(
            session, booking, booking.stripe_checkout_session_id, state, provider=gateway.name, now=now
        )
        if state.payment_reference and not outcome.startswith("unmatched"):
            sync_refunds(
                session=session, booking_id=booking.id, payment_reference=state.payment_reference, gateway=gateway
            )
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


def handle_webhook(
    *,
    session: Session,
    payload: bytes,
    signature: str | None,
    gateway: PaymentGateway | None = None,
    secret: str | None = None,
) -> str:
    """Verify a Stripe webhook and apply it exactly once. Returns what was done.

    WebhookRejected (HTTP 400) when the signature, the secret or the timestamp is wrong;
    PaymentError (HTTP 503, Stripe retries) only when Stripe must be asked and cannot be
    reached. Money is counted only when it is exactly what this platform asked for, on a
    payment page it made for that booking; anything else is recorded as unmatched and its
    refund queued (send it with `send_queued_refunds` once this has committed).
    """
    configured = get_settings().stripe_webhook_secret
    secret = secret or (configured.get_secret_value() if configured else None)
    if not secret:
        raise WebhookRejected("Stripe webhooks are not configured (AVENRAE_STRIPE_WEBHOOK_SECRET).")
    try:
        event = stripe.Webhook.construct_event(payload, signature or "", secret)
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise WebhookRejected("The webhook signature does not verify.") from error
    # The body as Stripe sent it (plain JSON; the library's objects may hold Decimals).
    raw = json.loads(payload)
    stored = session.execute(
        pg_insert(StripeEvent)
        .values(id=event.id, type=event.type, payload=raw)
        .on_conflict_do_nothing(index_elements=[StripeEvent.id])
        .returning(StripeEvent.id)
    ).scalar()
    if stored is None:
        return "duplicate"
    data = (raw.get("data") or {}).get("object") or {}
    gateway = gateway or online_gateway()
    outcome = _apply_event(session, event.type, data, event.id, gateway)
    session.execute(update(StripeEvent).where(StripeEvent.id == event.id).values(processed_at=func.now()))
    return outcome


def _apply_event(
    session: Session, kind: str, data: dict[str, Any], event_id: str, gateway: PaymentGateway | None
) -> str:
    provider = gateway.name if gateway else "stripe"
    if kind == "checkout.session.completed":
        return _on_page_completed(session, data, event_id, provider)
    if kind == "payment_intent.succeeded":
        return _on_payment_succeeded(session, data, event_id, gateway, provider)
    if kind == "payment_intent.payment_failed":
        known = _as_uuid(_named_booking(data))
        booking = session.get(Booking, known) if known else None
        if booking is None or not booking.stripe_checkout_session_id:
            return "ignored: not a payment of ours"
        if booking.status != BookingStatus.PENDING:
            return "ignored: the booking is not waiting for payment"
        note_failed_payment(
            session=session, booking_id=booking.id, message=(data.get("last_payment_error") or {}).get("message")
        )
        return "failure noted"
    if kind == "charge.refunded" or kind.startswith(("charge.refund", "refund.")):
        intent = _reference(data.get("payment_intent"))
        if not intent or gateway is None:
            return "ignored"
        booking_id = session.scalar(
            select(PaymentTransaction.booking_id).where(
                PaymentTransaction.provider_reference == intent, PaymentTransaction.kind == TransactionKind.CHARGE
            )
        )
        if booking_id is None:
            return _sync_unmatched_refund(session, intent, gateway)
        # Re-read the refunds from Stripe: events about them can arrive in any order.
        changed = sync_refunds(session=session, booking_id=booking_id, payment_reference=intent, gateway=gateway)
        return f"refunds synced ({changed} changed)"
    return "ignored"


def _on_page_completed(session: Session, data: dict[str, Any], event_id: str, provider: str) -> str:
    state = page_state(data)
    if state.status != "paid":
        return "ignored: not paid yet"
    page = session.get(CheckoutPage, data.get("id"))
    booking = session.get(Booking, page.booking_id) if page is not None else None
    if booking is None:
        named = _named_booking(data)
        if named is None:
            return "ignored: not a payment page of ours"
        known = _as_uuid(named)
        return _record_unmatched(
            session,
            provider=provider,
            reference=state.payment_reference or str(data.get("id")),
            booking_id=known if known and session.get(Booking, known) else None,
            named=named,
            amount_cents=state.amount_cents,
            currency=state.currency,
            reason="Paid on a payment page this platform did not make for the booking.",
            event_id=event_id,
            refundable=bool(state.payment_reference),
        )
    return _apply_page_state(session, booking, page.reference, state, provider=provider, event_id=event_id)


def _on_payment_succeeded(
    session: Session, data: dict[str, Any], event_id: str, gateway: PaymentGateway | None, provider: str
) -> str:
    intent = str(data.get("id"))
    charged = select(PaymentTransaction.id).where(
        PaymentTransaction.provider_reference == intent, PaymentTransaction.kind == TransactionKind.CHARGE
    )
    unmatched = select(UnmatchedPayment.id).where(UnmatchedPayment.payment_reference == intent)
    if session.scalar(select(exists(charged) | exists(unmatched))):
        return "already recorded"
    named = _named_booking(data)
    if named is None:
        return "ignored: not a payment of ours"
    known = _as_uuid(named)
    booking = session.get(Booking, known) if known else None
    if booking is not None and gateway is not None:
        # Which of the pages we made for this booking took this payment, in Stripe's own words.
        for page in session.scalars(select(CheckoutPage.reference).where(CheckoutPage.booking_id == booking.id)):
            state = gateway.payment_state(page)
            if state.payment_reference == intent:
                if state.status != "paid":
                    return "waiting for the payment page to complete"
                return _apply_page_state(session, booking, page, state, provider=provider, event_id=event_id)
    return _record_unmatched(
        session,
        provider=provider,
        reference=intent,
        booking_id=booking.id if booking else None,
        named=named,
        amount_cents=int(data.get("amount_received") or 0),
        currency=str(data.get("currency") or ""),
        reason="Not a payment this platform asked for: no payment page of ours for the booking took it.",
        event_id=event_id,
    )


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
    """Cancelled bookings whose policy refund has not been (fully) paid out yet, in one query."""
    _staff(actor)
    refunds = PaymentTransaction.kind == TransactionKind.REFUND
    live = PaymentTransaction.status.in_((PaymentStatus.PENDING, PaymentStatus.COMPLETED))
    since = func.coalesce(func.sum(PaymentTransaction.amount).filter(refunds, live), 0) - Booking.refunded_before_cancel
    outstanding = Booking.refund_due - since
    paid_by = func.array_agg(func.distinct(PaymentTransaction.provider)).filter(
        PaymentTransaction.kind == TransactionKind.CHARGE, PaymentTransaction.status == PaymentStatus.COMPLETED
    )
    rows = session.execute(
        select(
            Booking.id,
            (User.first_name + " " + User.last_name).label("client_name"),
            Booking.session_start,
            Booking.cancelled_at,
            outstanding.label("outstanding"),
            paid_by.label("paid_by"),
        )
        .join(User, User.id == Booking.client_id)
        .outerjoin(PaymentTransaction, PaymentTransaction.booking_id == Booking.id)
        .where(Booking.status == BookingStatus.CANCELLED, Booking.refund_due > 0)
        .group_by(Booking.id, User.id)
        .having(outstanding > 0)
        .order_by(Booking.cancelled_at)
    ).all()
    return [
        OwedRefund(
            r.id,
            r.client_name,
            r.session_start,
            r.cancelled_at,
            Decimal(r.outstanding),
            ", ".join(sorted(r.paid_by or ())) or "nothing recorded",
        )
        for r in rows
    ]


def unmatched_payments(*, session: Session, actor: bookings.Actor, limit: int = 50) -> list[UnmatchedPayment]:
    """Money that named a booking but was not what we asked for, newest first: for staff."""
    _staff(actor)
    return list(
        session.scalars(select(UnmatchedPayment).order_by(UnmatchedPayment.created_at.desc()).limit(limit))
    )


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
