"""Payments: the gateways money moves through, the pages clients pay on, and whether
money that arrives is what we asked for.

Two gateways are real here. Stripe (when `AVENRAE_STRIPE_SECRET_KEY` is set): the client
pays the booking total on a Stripe Checkout page, which creates one PaymentIntent for
the booking (ZAR, in cents, metadata booking_id, an idempotency key per booking and
attempt window); webhooks or a status refresh tell us it succeeded. A client app that
collects the card itself gets a PaymentIntent of its own instead (`open_payment_intent`:
the same amount, currency and metadata; its client_secret is confirmed with Stripe.js or
a mobile SDK), and the `payment_intent.succeeded` webhook tells us it succeeded. Manual (always, for
staff): cash and EFT recorded by hand with a reference. Another provider (Paystack, say)
is one more `PaymentGateway`; bookings never know which one was used.

Money is recorded in the ledger (avenrae/services/ledger.py); what it does to a booking
(confirm, refund, notify) is decided by the flows (avenrae/services/flows.py). This module
decides whether money matches: only a payment taken on a page we made for the booking, in
rand, for its full total counts. Anything else that names a booking is an unmatched
payment: kept apart, audited and given back.
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
from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from avenrae.config import get_settings
from avenrae.db import rows_changed, session_scope
from avenrae.models import (
    OPERATORS,
    Booking,
    BookingStatus,
    CheckoutPage,
    PaymentStatus,
    Practitioner,
    Role,
    StripeEvent,
    UnmatchedPayment,
    User,
    booking_reference,
)
from avenrae.services import audit, bookings, ledger, validation
from avenrae.services.errors import InvalidInput, PermissionDenied, ServiceError
from avenrae.services.pricing import CENT, to_cents

log = logging.getLogger(__name__)
# Stripe will not keep a Checkout page open for less than 30 minutes.
CHECKOUT_MINUTES = 31
# The kinds of checkout_pages: a hosted page, or a PaymentIntent for a client app's card form.
CHECKOUT, INTENT = "checkout", "intent"


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


def reference_of(value: Any) -> str | None:
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
    intent_id = reference_of(intent)
    if page.get("payment_status") == "paid":
        return PaymentState("paid", intent_id, int(cents or 0), currency.lower())
    error = intent.get("last_payment_error") if isinstance(intent, Mapping) else None
    failure = error.get("message") if error else None
    status: Literal["open", "failed", "expired"] = (
        "expired" if page.get("status") == "expired" else "failed" if failure else "open"
    )
    return PaymentState(status, intent_id, 0, currency.lower(), failure)


@dataclass(frozen=True)
class IntentState:
    """A PaymentIntent we made for a client app's own card form, as the provider sees it."""

    reference: str
    client_secret: str
    status: str  # Stripe's: requires_payment_method, requires_action, processing, succeeded, canceled, ...
    amount_cents: int  # what it asks for
    currency: str  # lower case ISO code, "zar"
    customer_reference: str | None = None
    taken: PaymentState | None = None  # what it took, as a payment page's state (`intent_state`)

    @property
    def usable(self) -> bool:
        """Whether the client may still pay (or has paid) through it: anything but cancelled."""
        return self.status != "canceled"


def intent_state(intent: Mapping[str, Any]) -> PaymentState:
    """A PaymentIntent (from a signed event, or retrieved) as a PaymentState: what it took."""
    currency = str(intent.get("currency") or "").lower()
    if intent.get("status") == "succeeded":
        return PaymentState("paid", intent.get("id"), int(intent.get("amount_received") or 0), currency)
    error = intent.get("last_payment_error")
    failure = error.get("message") if isinstance(error, Mapping) else None
    return PaymentState("failed" if failure else "open", intent.get("id"), 0, currency, failure)


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

    def create_payment_intent(self, request: PaymentRequest, *, idempotency_key: str) -> IntentState:
        """A PaymentIntent for `request.amount` (ZAR) that names the booking; the same key
        returns the same intent, never a second one."""
        ...

    def payment_intent(self, reference: str) -> IntentState: ...

    def refund(
        self, *, payment_reference: str, amount: Decimal | None, idempotency_key: str, metadata: dict[str, str]
    ) -> RefundState:
        """Give back `amount` (None: everything) of a payment; the same key never refunds twice."""
        ...

    def refunds(self, payment_reference: str) -> list[RefundState]: ...

    def close(self, reference: str, kind: str) -> bool:
        """Stop a Checkout page (`kind` CHECKOUT: expire it) or a PaymentIntent (INTENT: cancel
        it) from taking money: True when it was open and is closed now, False when it had
        finished already (paid, run out, closed). PaymentError when the provider cannot be asked."""
        ...


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

    def _customer(self, request: PaymentRequest) -> str:
        """The client's Stripe customer, made once (the same key never makes a second)."""
        if request.customer_reference is not None:
            return request.customer_reference
        return self.client.v1.customers.create(
            params={
                "email": request.customer_email,
                "name": request.customer_name,
                "metadata": {"user_id": str(request.client_user_id)},
            },
            options={"idempotency_key": f"avenrae-customer-{request.client_user_id}"},
        ).id

    def open_payment_page(self, request: PaymentRequest) -> PaymentPage:
        booking = str(request.booking_id)
        expires = int(request.expires_at.timestamp())
        try:
            customer = self._customer(request)
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
        return PaymentPage(reference=page.id, url=page.url or "", customer_reference=customer)

    def payment_state(self, page_reference: str) -> PaymentState:
        try:
            page = self.client.v1.checkout.sessions.retrieve(page_reference, params={"expand": ["payment_intent"]})
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        return page_state(page.to_dict())

    @staticmethod
    def _intent(intent: stripe.PaymentIntent) -> IntentState:
        found = intent.to_dict()
        return IntentState(
            reference=found["id"],
            client_secret=found.get("client_secret") or "",
            status=found.get("status") or "",
            amount_cents=int(found.get("amount") or 0),
            currency=str(found.get("currency") or "").lower(),
            customer_reference=reference_of(found.get("customer")),
            taken=intent_state(found),
        )

    def create_payment_intent(self, request: PaymentRequest, *, idempotency_key: str) -> IntentState:
        booking = str(request.booking_id)
        try:
            customer = self._customer(request)
            intent = self.client.v1.payment_intents.create(
                params={
                    "amount": to_cents(request.amount),
                    "currency": "zar",
                    "customer": customer,
                    "description": request.description,
                    "metadata": {"booking_id": booking},
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        return self._intent(intent)

    def payment_intent(self, reference: str) -> IntentState:
        try:
            intent = self.client.v1.payment_intents.retrieve(reference)
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        return self._intent(intent)

    def refund(
        self, *, payment_reference: str, amount: Decimal | None, idempotency_key: str, metadata: dict[str, str]
    ) -> RefundState:
        try:
            if amount is None:  # everything that was paid
                refund = self.client.v1.refunds.create(
                    params={"payment_intent": payment_reference, "metadata": metadata},
                    options={"idempotency_key": idempotency_key},
                )
            else:
                refund = self.client.v1.refunds.create(
                    params={"payment_intent": payment_reference, "metadata": metadata, "amount": to_cents(amount)},
                    options={"idempotency_key": idempotency_key},
                )
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        return _refund_state(refund)

    def refunds(self, payment_reference: str) -> list[RefundState]:
        try:
            found = self.client.v1.refunds.list(params={"payment_intent": payment_reference, "limit": 100})
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        return [_refund_state(r) for r in found.data]

    def close(self, reference: str, kind: str) -> bool:
        try:
            if kind == CHECKOUT:
                self.client.v1.checkout.sessions.expire(reference)
            else:
                self.client.v1.payment_intents.cancel(reference)
        except stripe.InvalidRequestError:
            return False  # only open pages and unpaid intents can be closed: this one finished already
        except stripe.StripeError as error:
            raise _stripe_failure(error) from error
        return True


@functools.cache
def _stripe_client(secret_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(secret_key, max_network_retries=2)


def online_gateway() -> PaymentGateway | None:
    """The configured online gateway (Stripe with a secret key), or None: manual only."""
    key = get_settings().stripe_secret_key
    return StripeGateway(_stripe_client(key.get_secret_value())) if key else None


# --- paying by EFT -------------------------------------------------------------------------


eft_reference = booking_reference  # what clients quote on a bank transfer


@dataclass(frozen=True)
class BankDetails:
    bank: str
    account_name: str
    account_number: str
    branch_code: str

    def lines(self) -> list[str]:
        return [
            f"Bank: {self.bank}",
            f"Account name: {self.account_name}",
            f"Account number: {self.account_number}",
            f"Branch code: {self.branch_code}",
        ]


def bank_details() -> BankDetails | None:
    """The platform's account for EFT payments (AVENRAE_EFT_*), when configured."""
    settings = get_settings()
    values = (settings.eft_bank_name, settings.eft_account_name, settings.eft_account_number, settings.eft_branch_code)
    return BankDetails(*values) if all(values) else None  # type: ignore[arg-type]


def check_manual_payment(booking: Booking, *, method: str, reference: str, amount: Decimal) -> str:
    """Staff recording money received by hand: the method, a traceable reference and the exact
    total (for a cancelled booking any part of it: all of it goes back; never more than the
    booking costs, which is far likelier a slip in typing). Returns the cleaned reference;
    InvalidInput otherwise."""
    problems = {}
    if method not in ledger.MANUAL_METHODS:
        problems["method"] = "Choose EFT, cash or card machine."
    try:
        reference = validation.reference(reference)
    except validation.FieldError as error:
        problems["reference"] = str(error)
    else:
        if not reference:
            problems["reference"] = "Give the EFT reference or receipt number, so the payment can be traced."
    try:
        received = validation.rand(amount)
    except validation.FieldError as error:
        problems["amount"] = str(error)
        raise InvalidInput(problems) from None
    if received < 0:
        problems["amount"] = f"An amount received cannot be negative: this booking costs R{booking.total_amount:,.2f}."
    elif received == 0:
        problems["amount"] = f"Enter the amount received: this booking costs R{booking.total_amount:,.2f}."
    elif received < booking.total_amount and not bookings.only_owes_back(booking):
        problems["amount"] = (
            f"This booking costs R{booking.total_amount:,.2f}; record exactly that amount. Ask the client for the "
            f"R{booking.total_amount - received:,.2f} still to pay, and record the whole amount once it is in."
        )
    elif received > booking.total_amount:
        problems["amount"] = (
            f"R{received:,.2f} is more than this booking costs (R{booking.total_amount:,.2f}): check the amount "
            f"typed (cents after a dot, as in {booking.total_amount:.2f}). If the client did send more, record "
            f"R{booking.total_amount:,.2f} and pay the client back the R{received - booking.total_amount:,.2f} over."
        )
    if problems:
        raise InvalidInput(problems)
    return reference


# --- paying online -------------------------------------------------------------------------


@dataclass(frozen=True)
class PayLink:
    url: str
    expires_at: datetime


def open_payment_page(
    *,
    session: Session,
    booking: Booking,
    gateway: PaymentGateway | None = None,
    now: datetime | None = None,
) -> PayLink:
    """The hosted payment page for a pending booking (the same one while it is open).

    Opening it holds the time while the page stays open (Stripe keeps a page at least 30
    minutes), but never longer than AVENRAE_BOOKING_HOLD_MAX_MINUTES from the booking: a
    payment after the hold ends is given back.
    """
    now = now or datetime.now(UTC)
    gateway = _payable_online(booking, gateway, now)
    if booking.stripe_checkout_url and booking.hold_expires_at and booking.hold_expires_at > now + timedelta(minutes=2):
        return PayLink(booking.stripe_checkout_url, booking.hold_expires_at)
    expires = _window_end(now)
    request, client = _payment_request(session, booking, expires)
    page = gateway.open_payment_page(request)
    _remember_customer(client, page.customer_reference)
    _remember_page(session, booking, page.reference, CHECKOUT, gateway, expires)
    booking.stripe_checkout_session_id = page.reference
    booking.stripe_checkout_url = page.url
    _paying_online(session, booking, gateway, expires, now)
    assert booking.hold_expires_at is not None
    return PayLink(page.url, booking.hold_expires_at)


def _payable_online(booking: Booking, gateway: PaymentGateway | None, now: datetime) -> PaymentGateway:
    """The gateway to pay a booking through, when it may be paid now; PaymentError or
    IllegalTransition otherwise."""
    gateway = gateway or online_gateway()
    if gateway is None:
        raise PaymentError("Online payment is not set up; pay by EFT or cash and our staff will confirm it.")
    if booking.status != BookingStatus.PENDING:
        raise bookings.IllegalTransition(f"This booking is {booking.status.value.replace('_', ' ')}; nothing to pay.")
    if booking.hold_expires_at is not None and booking.hold_expires_at <= now:
        raise bookings.IllegalTransition("The hold on this time ran out; book the session again.")
    return gateway


def _window_end(now: datetime) -> datetime:
    """When a payment attempt started now stops holding the time (a Checkout page expires)."""
    return (now + timedelta(minutes=CHECKOUT_MINUTES)).replace(second=0, microsecond=0) + timedelta(minutes=1)


def _payment_request(session: Session, booking: Booking, expires: datetime) -> tuple[PaymentRequest, User]:
    """What the gateway is asked for the booking (its total, described), and its client."""
    client = session.get(User, booking.client_id)
    practitioner = session.scalar(
        select(User)
        .join(Practitioner, Practitioner.user_id == User.id)
        .where(Practitioner.id == booking.practitioner_id)
    )
    assert client is not None and practitioner is not None
    minutes = int((booking.session_end - booking.session_start).total_seconds() // 60)
    when = booking.session_start.astimezone(ZoneInfo(get_settings().default_time_zone))
    request = PaymentRequest(
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
    return request, client


def _remember_page(
    session: Session, booking: Booking, reference: str, kind: str, gateway: PaymentGateway, expires: datetime
) -> None:
    """Keep what we asked the provider for (the booking's total in rand): only money taken on
    a page or intent kept here counts for the booking."""
    session.execute(
        pg_insert(CheckoutPage)
        .values(
            reference=reference,
            booking_id=booking.id,
            kind=kind,
            provider=gateway.name,
            amount_cents=to_cents(booking.total_amount),
            currency="zar",
            expires_at=expires,
        )
        .on_conflict_do_nothing(index_elements=[CheckoutPage.reference])
    )


def _intents_made(session: Session, booking: Booking) -> list[str]:
    """The PaymentIntents made for the booking, newest first."""
    return list(
        session.scalars(
            select(CheckoutPage.reference)
            .where(CheckoutPage.booking_id == booking.id, CheckoutPage.kind == INTENT)
            .order_by(CheckoutPage.created_at.desc(), CheckoutPage.reference)
        )
    )


def _remember_customer(client: User, customer_reference: str | None) -> None:
    if customer_reference and client.stripe_customer_id != customer_reference:
        client.stripe_customer_id = customer_reference


def _paying_online(
    session: Session, booking: Booking, gateway: PaymentGateway, expires: datetime, now: datetime
) -> None:
    """The booking is being paid online: its time is held while the attempt lasts, never
    longer than AVENRAE_BOOKING_HOLD_MAX_MINUTES from the booking."""
    booking.pays_by = "online"
    longest = booking.created_at + timedelta(minutes=get_settings().booking_hold_max_minutes)
    booking.hold_expires_at = max(booking.hold_expires_at or now, min(expires, longest))
    ledger.expect_provider(session, booking, gateway.name)
    session.flush()


@dataclass(frozen=True)
class CardPayment:
    """A PaymentIntent for a client app's own card form: what it confirms, and until when
    the booking's time is held."""

    reference: str
    client_secret: str
    amount: Decimal  # ZAR
    currency: str  # "zar"
    hold_expires_at: datetime


def open_payment_intent(
    *,
    session: Session,
    booking: Booking,
    gateway: PaymentGateway | None = None,
    now: datetime | None = None,
) -> CardPayment:
    """A PaymentIntent for a pending booking's total, for a client app that collects the card
    itself; the booking's latest one again while the provider has not cancelled it (so a
    client who paid, or is paying, is never asked to pay twice).

    Each one is kept as a page of kind "intent": only money it takes, in rand and for the
    full total, confirms the booking (the `payment_intent.succeeded` webhook). A new one is
    made under an idempotency key of the booking and how many it had, so a retry after a
    crash gets the same intent back. Holds the time as a Checkout page does.
    """
    now = now or datetime.now(UTC)
    gateway = _payable_online(booking, gateway, now)
    made = _intents_made(session, booking)
    cents = to_cents(booking.total_amount)
    if made:
        latest = gateway.payment_intent(made[0])
        if latest.usable and latest.amount_cents == cents and latest.currency == "zar":
            assert booking.hold_expires_at is not None
            return CardPayment(
                latest.reference, latest.client_secret, booking.total_amount, "zar", booking.hold_expires_at
            )
    expires = _window_end(now)
    request, client = _payment_request(session, booking, expires)
    intent = gateway.create_payment_intent(request, idempotency_key=f"avenrae-intent-{booking.id}-{len(made)}")
    _remember_customer(client, intent.customer_reference)
    _remember_page(session, booking, intent.reference, INTENT, gateway, expires)
    _paying_online(session, booking, gateway, expires, now)
    assert booking.hold_expires_at is not None
    return CardPayment(intent.reference, intent.client_secret, booking.total_amount, "zar", booking.hold_expires_at)


# --- matching money to what we asked for ---------------------------------------------------


@dataclass(frozen=True)
class Match:
    """Money taken on a page we made for `booking`, of exactly the amount and currency asked."""

    booking: Booking
    provider: str
    payment_reference: str
    amount: Decimal


def _mismatch(booking: Booking, state: PaymentState) -> str | None:
    """Why a paid page's money is not what the booking asked for, or None when it is."""
    if state.currency != "zar":
        return f"Paid in {state.currency.upper() or 'an unknown currency'}, not in rand."
    if state.amount_cents != to_cents(booking.total_amount):
        return f"Paid R{_money(state.amount_cents):,.2f}, but the booking costs R{booking.total_amount:,.2f}."
    return None


def match_page(
    session: Session, booking: Booking, page_reference: str, state: PaymentState, *, provider: str, event_id: str | None
) -> Match | str:
    """A paid page this platform made for the booking: a Match when the money is exactly what
    was asked for; otherwise the money is recorded as unmatched (the outcome is returned)."""
    problem = _mismatch(booking, state)
    if problem is not None or not state.payment_reference:
        return record_unmatched(
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
    return Match(booking, provider, state.payment_reference, state.amount)


def record_unmatched(
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


def _named(session: Session, data: Mapping[str, Any]) -> tuple[str | None, Booking | None]:
    named = _named_booking(data)
    known = _as_uuid(named)
    return named, (session.get(Booking, known) if known else None)


def match_completed_page(session: Session, data: dict[str, Any], event_id: str, provider: str) -> Match | str:
    """checkout.session.completed: money on one of our pages, or unmatched, or not ours at all."""
    state = page_state(data)
    if state.status != "paid":
        return "ignored: not paid yet"
    page = session.get(CheckoutPage, data.get("id"))
    booking = bookings.load(session, page.booking_id) if page is not None else None
    if booking is None:
        named, claimed = _named(session, data)
        if named is None:
            return "ignored: not a payment page of ours"
        return record_unmatched(
            session,
            provider=provider,
            reference=state.payment_reference or str(data.get("id")),
            booking_id=claimed.id if claimed else None,
            named=named,
            amount_cents=state.amount_cents,
            currency=state.currency,
            reason="Paid on a payment page this platform did not make for the booking.",
            event_id=event_id,
            refundable=bool(state.payment_reference),
        )
    assert page is not None
    return match_page(session, booking, page.reference, state, provider=provider, event_id=event_id)


def match_succeeded_payment(
    session: Session, data: dict[str, Any], event_id: str, gateway: PaymentGateway | None, provider: str
) -> Match | str:
    """payment_intent.succeeded: a PaymentIntent we made for a booking (the event is signed,
    so what it says it took counts), or one a Checkout page of ours for the named booking
    took (asked of Stripe itself), or unmatched, or not ours at all."""
    intent = str(data.get("id"))
    unmatched = select(UnmatchedPayment.id).where(UnmatchedPayment.payment_reference == intent)
    if ledger.any_charge_with_reference(session, intent) or session.scalar(select(exists(unmatched))):
        return "already recorded"
    ours = session.scalar(select(CheckoutPage).where(CheckoutPage.reference == intent, CheckoutPage.kind == INTENT))
    if ours is not None:  # the booking is the one we made it for, whatever its metadata says now
        state = intent_state(data)
        if state.status != "paid":
            return "ignored: not paid yet"
        return match_page(
            session, bookings.load(session, ours.booking_id), intent, state, provider=provider, event_id=event_id
        )
    named, booking = _named(session, data)
    if named is None:
        return "ignored: not a payment of ours"
    if booking is not None and gateway is not None:
        pages = select(CheckoutPage.reference).where(
            CheckoutPage.booking_id == booking.id, CheckoutPage.kind == CHECKOUT
        )
        for page in session.scalars(pages):
            state = gateway.payment_state(page)
            if state.payment_reference == intent:
                if state.status != "paid":
                    return "waiting for the payment page to complete"
                return match_page(
                    session, bookings.load(session, booking.id), page, state, provider=provider, event_id=event_id
                )
    return record_unmatched(
        session,
        provider=provider,
        reference=intent,
        booking_id=booking.id if booking else None,
        named=named,
        amount_cents=int(data.get("amount_received") or 0),
        currency=str(data.get("currency") or ""),
        reason="Not a payment this platform asked for: no payment page or intent of ours for the booking took it.",
        event_id=event_id,
    )


def failed_attempt(session: Session, data: dict[str, Any]) -> Booking | str:
    """payment_intent.payment_failed: the pending booking a declined attempt was for, or why not."""
    _, booking = _named(session, data)
    opened = select(CheckoutPage.reference).where(CheckoutPage.booking_id == booking.id) if booking else None
    if booking is None or opened is None or not session.scalar(select(exists(opened))):
        return "ignored: not a payment of ours"
    if booking.status != BookingStatus.PENDING:
        return "ignored: the booking is not waiting for payment"
    return booking


def paying_online() -> ColumnElement[bool]:
    """Bookings a client may be paying online: a Checkout page or a PaymentIntent of ours."""
    intent_made = select(CheckoutPage.reference).where(
        CheckoutPage.booking_id == Booking.id, CheckoutPage.kind == INTENT
    )
    return or_(Booking.stripe_checkout_session_id.is_not(None), exists(intent_made))


def _payments_asked(session: Session, booking: Booking) -> list[tuple[str, str]]:
    """(kind, reference) of what a client may be paying the booking through now: its current
    Checkout page and the latest PaymentIntent made for a client app."""
    asked = [(CHECKOUT, booking.stripe_checkout_session_id)] if booking.stripe_checkout_session_id else []
    return asked + [(INTENT, intent) for intent in _intents_made(session, booking)[:1]]


def page_state_of(session: Session, booking: Booking, gateway: PaymentGateway) -> Match | PaymentState | str:
    """What the provider says about the booking's current payment page or PaymentIntent: a
    Match when one was paid as asked, the state when not paid (yet), an outcome when the money
    did not match, "no online payment" when none was asked for."""
    waiting: PaymentState | None = None
    for kind, reference in _payments_asked(session, booking):
        state = gateway.payment_state(reference) if kind == CHECKOUT else gateway.payment_intent(reference).taken
        assert state is not None
        if state.status == "paid":
            return match_page(session, booking, reference, state, provider=gateway.name, event_id=None)
        waiting = waiting or state
    return waiting or "no online payment"


def sync_refunds(session: Session, booking: Booking, payment_reference: str, gateway: PaymentGateway) -> int:
    """Bring the ledger's refunds of one online payment in line with the provider's list.
    A transient PaymentError (a webhook answers 503, so Stripe asks again) while one of its
    refunds is being sent."""
    listed = [
        ledger.ProviderRefund(r.reference, r.amount, r.status, _as_uuid(r.ledger_row))
        for r in gateway.refunds(payment_reference)
    ]
    try:
        return ledger.sync_provider_refunds(
            session, booking, provider=gateway.name, payment_reference=payment_reference, refunds=listed
        )
    except ledger.RefundBeingSent as busy:
        raise PaymentError(str(busy), transient=True) from None


def sync_unmatched_refund(session: Session, payment_reference: str, gateway: PaymentGateway) -> str:
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


# --- webhooks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    data: dict[str, Any]  # the event's object, as Stripe sent it


def receive_event(
    *, session: Session, payload: bytes, signature: str | None, secret: str | None = None
) -> WebhookEvent | None:
    """Verify a Stripe webhook and keep it; None when it was received before (apply each once).

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
    # The body as Stripe sent it (plain JSON; the library's objects may hold Decimals).
    raw = json.loads(payload)
    stored = session.execute(
        pg_insert(StripeEvent)
        .values(id=event.id, type=event.type, payload=raw)
        .on_conflict_do_nothing(index_elements=[StripeEvent.id])
        .returning(StripeEvent.id)
    ).scalar()
    if stored is None:
        return None
    return WebhookEvent(event.id, event.type, (raw.get("data") or {}).get("object") or {})


def event_processed(session: Session, event_id: str) -> None:
    session.execute(update(StripeEvent).where(StripeEvent.id == event_id).values(processed_at=func.now()))


# --- sending refunds to the provider ---------------------------------------------------------


SendOutcome = Literal["sent", "refused", "skipped"]


@dataclass(frozen=True)
class ClosedRun:
    closed: int  # stopped at the provider
    finished: int  # found paid, run out or closed already
    waiting: int  # the provider could not be asked: the next run tries again

    def __str__(self) -> str:
        return (
            f"Closed {self.closed} payment pages of cancelled bookings; {self.finished} had finished; "
            f"{self.waiting} wait for the next run."
        )


PAID_OR_PAST = (BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)


def close_payment_pages(
    *, session: Session, gateway: PaymentGateway | None = None, limit: int = 200, now: datetime | None = None
) -> ClosedRun:
    """The job: a cancelled booking's Checkout pages and PaymentIntents stop taking money (a
    page left open in another tab, a client app's card form), so nobody pays for a booking
    that is gone only to be refunded less the provider's fee. Pages of bookings paid or
    past, and Checkout pages that ran out by themselves, are only marked finished."""
    now = now or datetime.now(UTC)
    finished = rows_changed(
        session.execute(
            update(CheckoutPage)
            .where(
                CheckoutPage.closed_at.is_(None),
                CheckoutPage.booking_id == Booking.id,
                or_(
                    Booking.status.in_(PAID_OR_PAST),
                    and_(CheckoutPage.kind == CHECKOUT, CheckoutPage.expires_at <= now),
                ),
            )
            .values(closed_at=now)
        )
    )
    gateway = gateway or online_gateway()
    if gateway is None:
        return ClosedRun(0, finished, 0)
    still_open = session.execute(
        select(CheckoutPage.reference, CheckoutPage.kind)
        .join(Booking, Booking.id == CheckoutPage.booking_id)
        .where(
            CheckoutPage.closed_at.is_(None),
            CheckoutPage.provider == gateway.name,
            Booking.status == BookingStatus.CANCELLED,
        )
        .order_by(CheckoutPage.created_at)
        .limit(limit)
    ).all()
    closed = waiting = 0
    for reference, kind in still_open:
        try:
            was_open = gateway.close(reference, kind)
        except PaymentError as error:
            log.warning("payment page %s not closed yet (the next run asks again): %s", reference, error)
            waiting += 1
            continue
        session.execute(update(CheckoutPage).where(CheckoutPage.reference == reference).values(closed_at=now))
        closed, finished = closed + was_open, finished + (not was_open)
    return ClosedRun(closed, finished, waiting)


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
        found = ledger.lock_refund_to_send(session, row_id)
        if found is None:
            return "skipped"
        row = found.row
        gateway = gateway or online_gateway()
        if gateway is None or gateway.name != row.provider:
            raise PaymentError(f"Refunds of {row.provider} payments need {row.provider} to be configured.")
        try:
            result = gateway.refund(
                payment_reference=found.payment_reference,
                amount=row.amount,
                idempotency_key=f"avenrae-refund-{row.id}",
                metadata={"booking_id": str(row.booking_id), "ledger_row": str(row.id)},
            )
        except PaymentError as refused:
            if refused.transient:
                raise  # stays queued: the refund job asks again, with the same key
            ledger.settle_refund(session, row, reference=None, status=PaymentStatus.FAILED, note=f"Refused: {refused}")
            return "refused"
        ledger.settle_refund(session, row, reference=result.reference, status=result.status)
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
        rows = ledger.unsent_refunds(session, booking_id=booking_id, ids=ids)
        unmatched = (
            list(
                session.scalars(
                    select(UnmatchedPayment.id)
                    .where(UnmatchedPayment.refund_status == "pending")
                    .order_by(UnmatchedPayment.created_at)
                )
            )
            if booking_id is None and ids is None
            else []
        )
    outcomes: list[str] = []
    for send, item in [(send_refund, r) for r in rows] + [(send_unmatched_refund, u) for u in unmatched]:
        try:
            outcomes.append(send(item, gateway=gateway))
        except PaymentError as error:  # unreachable, or not configured here: a line, not a traceback
            log.warning("refund %s not sent yet (the refund job asks again): %s", item, error)
            outcomes.append("waiting")
        except Exception:  # isolated to this refund: it stays queued and the job tries again
            log.exception("refund %s could not be sent", item)
            outcomes.append("waiting")
    return RefundRun(*(outcomes.count(kind) for kind in ("sent", "refused", "waiting")))


# --- what the pages show ---------------------------------------------------------------------


def unmatched_payments(*, session: Session, role: Role, limit: int = 50) -> list[UnmatchedPayment]:
    """Money that named a booking but was not what we asked for, newest first: for staff."""
    if role not in OPERATORS:
        raise PermissionDenied("Only staff can see payments and refunds.")
    return list(session.scalars(select(UnmatchedPayment).order_by(UnmatchedPayment.created_at.desc()).limit(limit)))
