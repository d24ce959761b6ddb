"""Booking a session, one's bookings, and what can be done with them (Bearer token)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from sqlalchemy.orm import Session

from avenrae.config import get_settings
from avenrae.db import session_scope
from avenrae.models import Booking, BookingStatus, Role
from avenrae.services import bookings, flows, idempotency, ledger, payments
from avenrae.services.errors import InvalidInput, ServiceError
from avenrae.services.pricing import to_cents

from .. import problems
from ..deps import Caller, LoggedIn
from ..problems import Problem
from ..schemas import MAX_OFFSET, Model, money
from ..threads import waiting, waits_on_others

router = APIRouter(prefix="/bookings", tags=["bookings"])


class BookingIn(Model):
    practitionerId: uuid.UUID
    sessionDate: date = Field(description="YYYY-MM-DD, in the practitioner's time zone")
    sessionSlotId: str = Field(description="A slot `id` from /api/practitioners/{id}/availability (or HH:MM)")
    notes: str = ""
    meetingType: str | None = Field(
        None, description='Required: "in_person" or "online" (left out: 422 naming the ways the practitioner meets)'
    )
    clientId: uuid.UUID | None = Field(None, description="Staff: the client booked for (a client: only themselves)")
    expectedTotal: Decimal | None = Field(
        None,
        description="The total (rand) the person was shown: when the price is now different, 409 and nothing is booked",
    )


class EftDetails(Model):
    """What a banking app needs to pay a booking by transfer; the bank fields are null until
    the platform's account is configured (AVENRAE_EFT_*)."""

    reference: str = Field(description="The payment reference to use, exactly")
    amount: float
    currency: str = "ZAR"
    bankName: str | None
    accountName: str | None
    accountNumber: str | None
    branchCode: str | None
    payBy: datetime | None = Field(description="Pay by then, or the time is released")


def eft_details(booking: Booking | bookings.NewBooking) -> EftDetails:
    account = payments.bank_details()
    return EftDetails(
        reference=payments.eft_reference(booking.id),
        amount=float(booking.total_amount),
        bankName=account.bank if account else None,
        accountName=account.account_name if account else None,
        accountNumber=account.account_number if account else None,
        branchCode=account.branch_code if account else None,
        payBy=booking.hold_expires_at,
    )


class BookedOut(Model):
    bookingId: uuid.UUID
    status: str
    totalAmount: float
    paymentLink: str | None = Field(description="Stripe Checkout, when online payment is set up")
    paysBy: str | None
    holdExpiresAt: datetime | None
    eftInstructions: str | None = None
    eft: EftDetails | None = Field(None, description="When paying by EFT: the same details, field by field")


def _slot_start(session_date: date, slot_id: str, zone_of) -> datetime:
    """The instant a slot id names: ISO 8601 with an offset, or HH:MM on `session_date`
    in the practitioner's time zone. Its local date must be `session_date`."""
    text = slot_id.strip()
    try:
        if len(text) <= 5:
            return datetime.combine(session_date, time.fromisoformat(text.zfill(5)), ZoneInfo(zone_of()))
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        message = "sessionSlotId must be a slot id from the practitioner's availability (or HH:MM)."
        raise Problem(422, message, errors={"sessionSlotId": message}) from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(zone_of()))
    if start.date() != session_date:  # sent with another offset (UTC, say): its date where the practitioner is
        try:
            local_date = start.astimezone(ZoneInfo(zone_of())).date()
        except OverflowError:  # past the last date there is
            local_date = None
        if local_date != session_date:
            message = "sessionSlotId is not on sessionDate."
            raise Problem(422, message, errors={"sessionDate": message})
    return start


def _zone_of(practitioner_id: uuid.UUID):
    def find() -> str:
        with session_scope() as session:
            return bookings.practitioner_for_booking(session=session, practitioner_id=practitioner_id).time_zone

    return find


def _meeting_type(value: str | None) -> str:
    return (value or "").strip().lower().replace("-", "_").replace(" ", "_")


Answer = TypeVar("Answer", bound=Model)


def once(
    caller: Caller,
    key: str | None,
    what: str,
    body: Model | None,
    work: Callable[[Session], Answer],
    shape: type[Answer],
    status_code: int = 200,
) -> Answer:
    """Do `work` in one transaction, or, for a key the caller sent before with the same request
    (`what` and `body`), return the first answer: the answer is kept in the transaction of the
    work. The same key with another request: 422."""
    fingerprint = idempotency.request_hash(what, body.model_dump(mode="json") if body is not None else None)
    with session_scope() as session:
        if key:
            earlier = idempotency.claim(session=session, user_id=caller.id, key=key, fingerprint=fingerprint)
            if earlier is not None:
                return shape.model_validate(earlier.body)
        out = work(session)
        if key:
            answer = idempotency.Answer(status_code, out.model_dump(mode="json"))
            idempotency.remember(session=session, user_id=caller.id, key=key, fingerprint=fingerprint, answer=answer)
    return out


def book(body: BookingIn, caller: Caller, idempotency_key: str | None = None) -> BookedOut:
    start = _slot_start(body.sessionDate, body.sessionSlotId, _zone_of(body.practitionerId))
    client_id = body.clientId if body.clientId is not None else caller.id  # a client naming another: refused
    request = bookings.BookingRequest(
        client_id=client_id,
        practitioner_id=body.practitionerId,
        start=start,
        meeting_type=_meeting_type(body.meetingType),
        notes=body.notes,
        agreed_total=body.expectedTotal,
    )

    def work(session: Session) -> BookedOut:
        booking = flows.book(session=session, request=request, actor=caller.actor)
        by_eft = booking.pays_by == "eft"
        return BookedOut(
            bookingId=booking.id,
            status=booking.status.value,
            totalAmount=float(booking.total_amount),
            paymentLink=None,
            paysBy=booking.pays_by,
            holdExpiresAt=booking.hold_expires_at,
            eftInstructions=flows.eft_instructions(booking) if by_eft else None,
            eft=eft_details(booking) if by_eft else None,
        )

    try:
        return once(caller, idempotency_key, "POST /bookings", body, work, BookedOut, status_code=201)
    except InvalidInput as error:
        raise problems.invalid(error) from None


def with_payment_link(out: BookedOut, caller: Caller) -> BookedOut:
    """A booking to be paid online, with its Stripe Checkout page. The booking stands whatever
    Stripe says; POST .../pay asks again (the same page while open)."""
    try:
        with session_scope() as session:
            link = flows.pay_online(session=session, booking_id=out.bookingId, actor=caller.actor)
        out.paymentLink, out.holdExpiresAt = link.url, link.expires_at
    except ServiceError:
        pass
    return out


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=idempotency.MAX_KEY_LENGTH,
        description="Any unique string (a UUID): a retry with the same key and body returns the first answer",
    ),
]


@router.post(
    "",
    status_code=201,
    response_model=BookedOut,
    responses={409: {"description": "The time was just taken, or too many unpaid bookings are held"}},
)
async def create_booking(body: BookingIn, caller: LoggedIn, idempotency_key: IdempotencyKeyHeader = None) -> BookedOut:
    """Book a session: it is held (pending) until paid. The total is the practitioner's rate
    plus the platform fee (R450 -> R517.50). A time someone else holds -> 409. Send an
    `Idempotency-Key` to make retries safe: the same key and body return the first booking."""
    booked = await run_in_threadpool(book, body, caller, idempotency_key)
    if booked.paysBy == "online" and booked.status == "pending":
        return await waiting(with_payment_link, booked, caller)
    return booked


class PartyOut(Model):
    id: uuid.UUID
    name: str


class BookingOut(Model):
    id: uuid.UUID
    practitioner: PartyOut
    client: PartyOut
    date: date
    time: str
    start: datetime
    end: datetime
    timeZone: str
    status: str
    paymentStatus: str
    meetingType: str
    totalAmount: float
    rate: float
    platformFee: float
    refundDue: float | None
    holdExpiresAt: datetime | None
    paysBy: str | None
    notes: str
    cancellationReason: str | None = Field(description="Why it was cancelled, as the one who cancelled it said")
    actions: list[str] = Field(description="What the caller may do now: cancel, reschedule, complete, no_show")


class ReachOut(Model):
    name: str
    phone: str | None
    email: str


class ContactOut(Model):
    where: str | None = Field(description="In person: the practitioner's address (for the client and staff)")
    whereIsTownOnly: bool = Field(description="The practitioner gave only their town: ask them for the street")
    others: list[ReachOut] = Field(description="The other side (staff: both), to reach them")


class BookingDetailOut(BookingOut):
    contact: ContactOut | None = Field(
        description="Once the booking is paid and until it is over: where to go and how to reach each other"
    )


class BookingsOut(Model):
    bookings: list[BookingOut]
    total: int


def zone_for(caller: Caller, row: bookings.BookingRow) -> str:
    """As on the web: practitioners read their bookings in their own time zone, others in the platform's."""
    return row.practitioner_time_zone if caller.role == Role.PRACTITIONER else get_settings().default_time_zone


def booking_out(caller: Caller, row: bookings.BookingRow) -> BookingOut:
    zone = zone_for(caller, row)
    local = row.session_start.astimezone(ZoneInfo(zone))
    return BookingOut(
        id=row.id,
        practitioner=PartyOut(id=row.practitioner_id, name=row.practitioner_name),
        client=PartyOut(id=row.client_id, name=row.client_name),
        date=local.date(),
        time=local.strftime("%H:%M"),
        start=row.session_start,
        end=row.session_end,
        timeZone=zone,
        status=row.status.value,
        paymentStatus=row.payment_status.value,
        meetingType=row.meeting_type.value,
        totalAmount=float(row.total_amount),
        rate=float(row.service_amount),
        platformFee=float(row.platform_fee),
        refundDue=money(row.refund_due),
        holdExpiresAt=row.hold_expires_at,
        paysBy=row.pays_by,
        notes=row.notes,
        cancellationReason=row.cancellation_reason,
        actions=bookings.allowed_actions(row, caller.actor),
    )


@router.get("/my-bookings", response_model=BookingsOut)
def my_bookings(
    caller: LoggedIn,
    status: Annotated[list[BookingStatus] | None, Query(description="Only these statuses")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="A multiple of limit")] = 0,
) -> BookingsOut:
    """A client's bookings, or a practitioner's; newest session first."""
    if offset % limit:
        message = "offset must be a multiple of limit."
        raise Problem(422, message, errors={"offset": message})
    filters = bookings.BookingFilter(
        statuses=tuple(status or ()), client_id=caller.id if caller.actor.is_operator else None
    )
    with session_scope() as session:
        page = bookings.list_for(
            session=session, actor=caller.actor, filters=filters, page=offset // limit + 1, page_size=limit
        )
    return BookingsOut(bookings=[booking_out(caller, row) for row in page.rows], total=page.total)


@router.get("/{booking_id}", response_model=BookingDetailOut)
def get_booking(booking_id: uuid.UUID, caller: LoggedIn) -> BookingDetailOut:
    """One booking of the caller's (its client, its practitioner, or staff); once it is paid,
    where to go and how to reach the other side."""
    with session_scope() as session:
        row = bookings.get_for(session=session, actor=caller.actor, booking_id=booking_id)
        reach = bookings.contact(session=session, booking_id=booking_id, actor=caller.actor)
    contact = (
        ContactOut(
            where=reach.where,
            whereIsTownOnly=reach.address_is_town,
            others=[ReachOut(name=o.name, phone=o.phone, email=o.email) for o in reach.others],
        )
        if reach
        else None
    )
    return BookingDetailOut(**booking_out(caller, row).model_dump(), contact=contact)


class CancellationQuoteOut(Model):
    policy: str
    paid: float
    refund: float = Field(description="What cancelling now refunds, when the caller cancels")
    refundIfClientCancels: float
    refundIfPractitionerCancels: float


@router.get("/{booking_id}/cancellation", response_model=CancellationQuoteOut)
def cancellation_quote(booking_id: uuid.UUID, caller: LoggedIn) -> CancellationQuoteOut:
    """What cancelling now would refund, under the policy, before anyone confirms."""
    with session_scope() as session:
        paid = ledger.paid(session, booking_id)
        terms = bookings.cancellation_terms(session=session, booking_id=booking_id, actor=caller.actor, paid=paid)
        row = bookings.get_for(session=session, actor=caller.actor, booking_id=booking_id)
    mine = (
        terms.refund_if_practitioner_cancels
        if caller.id == row.practitioner_user_id
        else terms.refund_if_client_cancels
    )
    return CancellationQuoteOut(
        policy=bookings.policy_text(),
        paid=float(terms.paid),
        refund=float(mine),
        refundIfClientCancels=float(terms.refund_if_client_cancels),
        refundIfPractitionerCancels=float(terms.refund_if_practitioner_cancels),
    )


class CancelIn(Model):
    reason: str = Field(description="Why, in a few words; both the client and the practitioner see it")
    onBehalfOf: Literal["client", "practitioner"] | None = Field(None, description="Staff only: who asked")
    expectedRefund: Decimal | None = Field(
        None,
        description="The refund (rand) the person was shown (see .../cancellation): when cancelling now refunds a "
        "different amount, 409 and nothing is cancelled",
    )


class CancelOut(Model):
    status: str
    refundDue: float
    message: str


@router.post("/{booking_id}/cancel", response_model=CancelOut)
@waits_on_others
def cancel_booking(
    booking_id: uuid.UUID, body: CancelIn, caller: LoggedIn, idempotency_key: IdempotencyKeyHeader = None
) -> CancelOut:
    """Cancel a pending or confirmed booking; the refund is the policy's (see .../cancellation).
    With an `Idempotency-Key`, a retry returns the first answer (rather than 409: already cancelled)."""
    queued: list[uuid.UUID] = []

    def work(session: Session) -> CancelOut:
        outcome = flows.cancel(
            session=session,
            booking_id=booking_id,
            actor=caller.actor,
            reason=body.reason,
            on_behalf_of=body.onBehalfOf,
            expected_refund=body.expectedRefund,
        )
        queued.extend(outcome.to_send)
        return CancelOut(status="cancelled", refundDue=float(outcome.refund_due), message=outcome.message)

    out = once(caller, idempotency_key, f"POST /bookings/{booking_id}/cancel", body, work, CancelOut)
    if queued:  # committed: the refunds it queued go out now (a replay queued none)
        payments.send_queued_refunds(ids=queued)
    return out


class RescheduleIn(Model):
    sessionDate: date
    sessionSlotId: str


@router.post("/{booking_id}/reschedule", response_model=BookingOut)
def reschedule_booking(booking_id: uuid.UUID, body: RescheduleIn, caller: LoggedIn) -> BookingOut:
    """Move a booking to another open time of the same practitioner."""
    with session_scope() as session:
        row = bookings.get_for(session=session, actor=caller.actor, booking_id=booking_id)
    start = _slot_start(body.sessionDate, body.sessionSlotId, lambda: row.practitioner_time_zone)
    with session_scope() as session:
        flows.reschedule(session=session, booking_id=booking_id, actor=caller.actor, new_start=start)
        row = bookings.get_for(session=session, actor=caller.actor, booking_id=booking_id)
    return booking_out(caller, row)


@router.post("/{booking_id}/complete", response_model=BookingOut)
def complete_booking(booking_id: uuid.UUID, caller: LoggedIn) -> BookingOut:
    """The session took place: its practitioner (or staff) marks it completed once it has
    ended (offered as `complete` in the booking's `actions`); the client is invited to review."""
    with session_scope() as session:
        flows.complete(session=session, booking_id=booking_id, actor=caller.actor)
        row = bookings.get_for(session=session, actor=caller.actor, booking_id=booking_id)
    return booking_out(caller, row)


@router.post("/{booking_id}/no-show", response_model=BookingOut)
def record_no_show(booking_id: uuid.UUID, caller: LoggedIn) -> BookingOut:
    """The client did not come: its practitioner (or staff) records it once the session has
    started, until 48 hours after it ended (offered as `no_show` in `actions`); the payment is kept."""
    with session_scope() as session:
        flows.mark_no_show(session=session, booking_id=booking_id, actor=caller.actor)
        row = bookings.get_for(session=session, actor=caller.actor, booking_id=booking_id)
    return booking_out(caller, row)


class PaymentIntentOut(Model):
    clientSecret: str = Field(description="Confirm it with Stripe.js or a Stripe mobile SDK (publishable key)")
    paymentIntentId: str
    amount: float = Field(description="The booking total in rand (517.5 for R517.50)")
    amountCents: int = Field(description="The same in cents, as Stripe counts it")
    currency: str = Field(description='"zar"')
    holdExpiresAt: datetime = Field(description="Pay by then, or the time is released")


@router.post(
    "/{booking_id}/payment-intent",
    response_model=PaymentIntentOut,
    responses={409: {"description": "Not pending any more, the hold ran out, or online payment is not set up"}},
)
@waits_on_others
def payment_intent(
    booking_id: uuid.UUID, caller: LoggedIn, idempotency_key: IdempotencyKeyHeader = None
) -> PaymentIntentOut:
    """A Stripe PaymentIntent for a pending booking's total (ZAR), for an app that collects the
    card itself: confirm its `clientSecret` with Stripe.js or a mobile SDK. Calling again returns
    the same intent unless Stripe cancelled it. The booking is confirmed when Stripe reports the
    payment (webhook); only this intent, in rand and for the full total, counts. Without Stripe
    configured: 409 (pay by EFT). With an `Idempotency-Key`, a retry returns the first answer."""

    def work(session: Session) -> PaymentIntentOut:
        intent = flows.pay_in_app(session=session, booking_id=booking_id, actor=caller.actor)
        return PaymentIntentOut(
            clientSecret=intent.client_secret,
            paymentIntentId=intent.reference,
            amount=float(intent.amount),
            amountCents=to_cents(intent.amount),
            currency=intent.currency,
            holdExpiresAt=intent.hold_expires_at,
        )

    return once(caller, idempotency_key, f"POST /bookings/{booking_id}/payment-intent", None, work, PaymentIntentOut)


class PayOut(Model):
    paymentLink: str
    holdExpiresAt: datetime


@router.post("/{booking_id}/pay", response_model=PayOut)
@waits_on_others
def pay_booking(booking_id: uuid.UUID, caller: LoggedIn, idempotency_key: IdempotencyKeyHeader = None) -> PayOut:
    """The Stripe Checkout page for a pending booking: while the page is open, every call returns
    the same page. With an `Idempotency-Key`, a retry returns the first answer."""

    def work(session: Session) -> PayOut:
        link = flows.pay_online(session=session, booking_id=booking_id, actor=caller.actor)
        return PayOut(paymentLink=link.url, holdExpiresAt=link.expires_at)

    return once(caller, idempotency_key, f"POST /bookings/{booking_id}/pay", None, work, PayOut)


class EftOut(Model):
    instructions: str
    holdExpiresAt: datetime | None
    eft: EftDetails


@router.post("/{booking_id}/pay-by-eft", response_model=EftOut)
def pay_by_eft(booking_id: uuid.UUID, caller: LoggedIn, idempotency_key: IdempotencyKeyHeader = None) -> EftOut:
    """Pay by bank transfer: the account, the reference and the deadline. With an
    `Idempotency-Key`, a retry returns the first answer (and the client is told once)."""

    def work(session: Session) -> EftOut:
        booking = flows.pay_by_eft(session=session, booking_id=booking_id, actor=caller.actor)
        return EftOut(
            instructions=flows.eft_instructions(booking),
            holdExpiresAt=booking.hold_expires_at,
            eft=eft_details(booking),
        )

    return once(caller, idempotency_key, f"POST /bookings/{booking_id}/pay-by-eft", None, work, EftOut)


class PaymentOut(Model):
    status: str
    paymentStatus: str
    totalAmount: float
    paid: float = Field(description="What the client has paid (payments received), refunds not taken off.")
    refunded: float = Field(description="Refunds the client has received.")
    refundPending: float = Field(description="Refunds sent and not yet confirmed (a card refund takes days).")
    refundOwed: float = Field(description="What a cancellation still owes back and nobody has sent yet.")
    holdExpiresAt: datetime | None


@router.get("/{booking_id}/payment", response_model=PaymentOut)
def payment_status(booking_id: uuid.UUID, caller: LoggedIn) -> PaymentOut:
    """Where the money of a booking stands."""
    with session_scope() as session:
        row = bookings.get_for(session=session, actor=caller.actor, booking_id=booking_id)
        found = ledger.balance(session, booking_id)
        owed = ledger.owed(session, bookings.load(session, booking_id, lock=False), found)
    return PaymentOut(
        status=row.status.value,
        paymentStatus=row.payment_status.value,
        totalAmount=float(row.total_amount),
        paid=float(found.charged),
        refunded=float(found.refunded),
        refundPending=float(found.refunds_pending),
        refundOwed=float(owed),
        holdExpiresAt=row.hold_expires_at,
    )
