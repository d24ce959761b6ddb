"""Bookings: create at a bookable slot, hold until paid, and a lifecycle with nothing implicit.

    pending ──(paid)──> confirmed ──(session over)──> completed
       │                    ├──(after the start)────> no_show
       └───> cancelled <────┘

The database decides races: two clients after one slot both pass the checks, both
insert, and the exclusion constraint (ex_bookings_no_overlap, buffers included) lets
one through; the other becomes SlotTaken with nothing written. Cancelling records the
refund the policy owes; the payments service pays it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, bindparam, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from avenrae.config import get_settings
from avenrae.models import (
    Booking,
    BookingStatus,
    MeetingType,
    PaymentStatus,
    PaymentTransaction,
    Practitioner,
    Role,
    TransactionKind,
    User,
    VerificationStatus,
)
from avenrae.services import audit, availability, notifications, pricing, validation
from avenrae.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ServiceError

FULL_REFUND_NOTICE = timedelta(hours=24)
MAX_NOTES = 1000
STAFF_SIDE = (Role.STAFF, Role.ADMIN)

TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.PENDING: frozenset({BookingStatus.CONFIRMED, BookingStatus.CANCELLED}),
    BookingStatus.CONFIRMED: frozenset({BookingStatus.COMPLETED, BookingStatus.NO_SHOW, BookingStatus.CANCELLED}),
    BookingStatus.COMPLETED: frozenset(),
    BookingStatus.CANCELLED: frozenset(),
    BookingStatus.NO_SHOW: frozenset(),
}


class SlotTaken(Conflict):
    def __init__(self, message: str = "That time was just taken — pick another."):
        super().__init__(message)


class IllegalTransition(ServiceError):
    pass


@dataclass(frozen=True)
class Actor:
    """Who is acting: what the lifecycle rules need to know about them."""

    id: uuid.UUID
    role: Role

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_SIDE


@dataclass(frozen=True)
class BookingRequest:
    client_id: uuid.UUID
    practitioner_id: uuid.UUID
    start: datetime
    meeting_type: MeetingType | str
    notes: str = ""


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _local(moment: datetime, time_zone: str) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(time_zone)).strftime("%a %d %b %Y at %H:%M")


# --- creating ------------------------------------------------------------------------


def _check_slot(
    session: Session, found: availability.Rules, start: datetime, now: datetime, ignore: uuid.UUID | None = None
) -> None:
    state = availability.slot_state(
        session=session,
        practitioner_id=found.practitioner_id,
        start=start,
        now=now,
        ignore_booking_id=ignore,
        found=found,
    )
    if state == "taken":
        raise SlotTaken()
    if state == "closed":
        raise InvalidInput(
            {"start": "That is not one of the practitioner's open times; choose one of the times shown."}
        )


_CLIENT_USER = aliased(User)
_PRACTITIONER_USER = aliased(User)
# The practitioner's booking rules and the client, in one round trip (no row: no such
# active practitioner; NULL client columns: no such client).
_PARTIES = (
    select(
        Practitioner.id,
        Practitioner.user_id,
        Practitioner.time_zone,
        Practitioner.session_duration_minutes,
        Practitioner.buffer_minutes,
        Practitioner.min_notice_minutes,
        Practitioner.booking_horizon_days,
        Practitioner.verification_status,
        Practitioner.offers_in_person,
        Practitioner.offers_online,
        Practitioner.rate_per_session,
        _CLIENT_USER.role.label("client_role"),
        _CLIENT_USER.is_active.label("client_active"),
        _CLIENT_USER.deleted_at.label("client_deleted_at"),
        _CLIENT_USER.first_name.label("client_first_name"),
        _CLIENT_USER.last_name.label("client_last_name"),
        select(func.count())
        .where(
            Booking.client_id == bindparam("client_id"),
            Booking.status == BookingStatus.PENDING,
            Booking.hold_expires_at > bindparam("now"),
        )
        .scalar_subquery()
        .label("client_unpaid_holds"),
    )
    .join(_PRACTITIONER_USER, _PRACTITIONER_USER.id == Practitioner.user_id)
    .outerjoin(_CLIENT_USER, _CLIENT_USER.id == bindparam("client_id"))
    .where(
        Practitioner.id == bindparam("practitioner_id"),
        _PRACTITIONER_USER.is_active.is_(True),
        _PRACTITIONER_USER.deleted_at.is_(None),
    )
)
# The booking, its pending charge and both notifications in one statement. ON CONFLICT
# DO NOTHING turns the exclusion constraint's refusal into "no row" instead of an error
# that would spoil the caller's transaction; then nothing else is written either.
_BOOK = text("""
    WITH booked AS (
        INSERT INTO bookings (id, client_id, practitioner_id, created_by_id, session_start, session_end,
                              blocked_until, status, meeting_type, notes, service_amount, platform_fee_rate,
                              platform_fee, total_amount, payment_status, hold_expires_at)
        VALUES (:id, :client_id, :practitioner_id, :created_by_id, :start, :end, :blocked_until, 'pending',
                CAST(:meeting_type AS meeting_type), :notes, :service, :fee_rate, :fee, :total, 'pending',
                :hold_until)
        ON CONFLICT DO NOTHING
        RETURNING id
    ), charged AS (
        INSERT INTO payment_transactions (booking_id, user_id, kind, provider, amount, status, idempotency_key)
        SELECT id, :client_id, 'charge', 'pending', :total, 'pending', 'booking:' || id || ':' || 'charge'
        FROM booked
    ), told AS (
        INSERT INTO notifications (user_id, type, title, message, data, email_status)
        SELECT note.user_id, note.type, note.title, note.message, jsonb_build_object('booking_id', booked.id),
               :email_status
        FROM booked CROSS JOIN (VALUES
            (CAST(:client_id AS uuid), 'booking_received', 'Booking received', CAST(:client_message AS text)),
            (CAST(:practitioner_user_id AS uuid), 'booking_new', 'New booking', CAST(:practitioner_message AS text))
        ) AS note(user_id, type, title, message)
    )
    SELECT id FROM booked
""")


def create(*, session: Session, request: BookingRequest, actor: Actor, now: datetime | None = None) -> uuid.UUID:
    """A pending booking, its pending payment and the two notifications, all or none.

    Returns the booking's id; SlotTaken when someone else holds the time.
    """
    now = _now(now)
    settings = get_settings()
    if actor.role == Role.CLIENT and actor.id != request.client_id:
        raise PermissionDenied("You can only book sessions for yourself.")
    if actor.role not in (Role.CLIENT, *STAFF_SIDE):
        raise PermissionDenied("Only clients and staff can book sessions.")
    problems: dict[str, str] = {}
    # One booking per client at a time, so the cap on unpaid holds cannot be outrun in parallel.
    session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended("avenrae.holds:" + str(request.client_id), 0)))
    )
    practitioner = session.execute(
        _PARTIES, {"practitioner_id": request.practitioner_id, "client_id": request.client_id, "now": now}
    ).first()
    if practitioner is None:
        raise NotFound("That practitioner is not taking bookings.")
    if practitioner.client_unpaid_holds >= settings.max_unpaid_holds:
        raise Conflict(
            f"There are already {practitioner.client_unpaid_holds} unpaid bookings held for this client. "
            "Pay for one (or cancel it) before booking another."
        )
    if (
        practitioner.client_role != Role.CLIENT
        or not practitioner.client_active
        or practitioner.client_deleted_at is not None
    ):
        problems["client"] = "Choose an active client to book for."
    if practitioner.verification_status != VerificationStatus.VERIFIED and not settings.allow_unverified_bookings:
        raise PermissionDenied("This practitioner is not verified yet, so they cannot be booked.")
    offered = [
        kind
        for kind, on in (
            (MeetingType.IN_PERSON, practitioner.offers_in_person),
            (MeetingType.ONLINE, practitioner.offers_online),
        )
        if on
    ]
    try:
        meeting = MeetingType(request.meeting_type)
    except ValueError:
        meeting = None
    if meeting not in offered:
        problems["meeting_type"] = f"This practitioner meets {' or '.join(m.value.replace('_', ' ') for m in offered)}."
    notes = (request.notes or "").strip()
    if len(notes) > MAX_NOTES:
        problems["notes"] = f"Keep notes under {MAX_NOTES:,} characters."
    start = request.start
    if start.tzinfo is None:
        problems["start"] = "The start time needs a time zone."
    if problems:
        raise InvalidInput(problems)
    start = start.astimezone(UTC)
    if start <= now:
        raise InvalidInput({"start": "That time has already passed."})
    found = availability.Rules(*practitioner[:7])
    _check_slot(session, found, start, now)

    price = pricing.quote(practitioner.rate_per_session)
    end = start + found.session
    booking_id = session.execute(
        _BOOK,
        {
            "id": uuid.uuid4(),
            "client_id": request.client_id,
            "practitioner_id": found.practitioner_id,
            "created_by_id": actor.id if actor.is_staff else None,
            "start": start,
            "end": end,
            "blocked_until": end + found.buffer,
            "meeting_type": meeting.value,
            "notes": notes,
            "service": price.service_amount,
            "fee_rate": price.platform_fee_rate,
            "fee": price.platform_fee,
            "total": price.total_amount,
            "hold_until": now + timedelta(minutes=settings.booking_hold_minutes),
            "email_status": notifications.new_email_status(),
            "practitioner_user_id": found.user_id,
            "client_message": f"Your session on {_local(start, settings.default_time_zone)} is held for "
            f"{settings.booking_hold_minutes} minutes until it is paid.",
            "practitioner_message": f"{practitioner.client_first_name} {practitioner.client_last_name} booked "
            f"{_local(start, found.time_zone)} "
            f"({meeting.value.replace('_', ' ')}); it is confirmed once paid.",
        },
    ).scalar()
    if booking_id is None:
        raise SlotTaken()
    if actor.is_staff:
        audit.record(
            session=session,
            actor_id=actor.id,
            action="booking.create_on_behalf",
            target_type="booking",
            target_id=booking_id,
            after={"client_id": str(request.client_id), "start": start.isoformat()},
        )
    return booking_id


# --- holds that run out --------------------------------------------------------------


def expire_pending(*, session: Session, now: datetime | None = None, practitioner_id: uuid.UUID | None = None) -> int:
    """Cancel unpaid bookings whose hold ran out, so they block nobody; returns how many."""
    now = _now(now)
    condition = [Booking.status == BookingStatus.PENDING, Booking.hold_expires_at <= now]
    if practitioner_id is not None:
        condition.append(Booking.practitioner_id == practitioner_id)
    expired = session.execute(
        update(Booking)
        .where(*condition)
        .values(
            status=BookingStatus.CANCELLED,
            cancelled_at=now,
            payment_status=PaymentStatus.FAILED,
            cancellation_reason="Not paid before the hold ran out.",
            refund_due=0,
        )
        .returning(Booking.id, Booking.client_id, Booking.session_start)
    ).all()
    if not expired:
        return 0
    session.execute(
        update(PaymentTransaction)
        .where(
            PaymentTransaction.booking_id.in_([row.id for row in expired]),
            PaymentTransaction.status == PaymentStatus.PENDING,
        )
        .values(status=PaymentStatus.FAILED, failure_reason="Not paid before the booking hold ran out.")
    )
    zone = get_settings().default_time_zone
    notifications.notify_many(
        session=session,
        items=[
            notifications.Item(
                row.client_id,
                "booking_expired",
                "Booking not kept",
                f"We released your session on {_local(row.session_start, zone)} because it was not paid in time.",
                {"booking_id": str(row.id)},
            )
            for row in expired
        ],
    )
    return len(expired)


def complete_finished(*, session: Session, now: datetime | None = None) -> int:
    """Mark confirmed sessions that have ended as completed (the nightly job)."""
    now = _now(now)
    finished = session.execute(
        update(Booking)
        .where(Booking.status == BookingStatus.CONFIRMED, Booking.session_end <= now)
        .values(status=BookingStatus.COMPLETED, completed_at=now)
        .returning(Booking.id, Booking.client_id)
    ).all()
    notifications.notify_many(
        session=session,
        items=[
            notifications.Item(
                row.client_id,
                "booking_completed",
                "How was your session?",
                "Your session is complete. You can leave a review under My bookings.",
                {"booking_id": str(row.id)},
            )
            for row in finished
        ],
    )
    return len(finished)


# --- the lifecycle -------------------------------------------------------------------


def _load(session: Session, booking_id: uuid.UUID, *, lock: bool = True) -> Booking:
    statement = select(Booking).where(Booking.id == booking_id)
    if lock:
        statement = statement.with_for_update()
    booking = session.scalar(statement)
    if booking is None:
        raise NotFound("That booking does not exist.")
    return booking


def _practitioner_user(session: Session, booking: Booking) -> uuid.UUID:
    return session.scalar(select(Practitioner.user_id).where(Practitioner.id == booking.practitioner_id))


def _side(session: Session, booking: Booking, actor: Actor) -> Literal["client", "practitioner", "staff"]:
    """Which party the actor is in this booking; PermissionDenied for anyone else."""
    if actor.is_staff:
        return "staff"
    if actor.role == Role.CLIENT and booking.client_id == actor.id:
        return "client"
    if actor.role == Role.PRACTITIONER and _practitioner_user(session, booking) == actor.id:
        return "practitioner"
    raise PermissionDenied("That booking is not yours.")


def _check_move(booking: Booking, to: BookingStatus) -> None:
    if to not in TRANSITIONS[booking.status]:
        raise IllegalTransition(
            f"A {booking.status.value.replace('_', ' ')} booking cannot become {to.value.replace('_', ' ')}."
        )


def _move(booking: Booking, to: BookingStatus) -> None:
    _check_move(booking, to)
    booking.status = to


def _notify_both(session: Session, booking: Booking, kind: str, title: str, message: str) -> None:
    """`message` holds '{when}', filled in each person's time zone."""
    practitioner = session.get(Practitioner, booking.practitioner_id)
    notifications.notify_many(
        session=session,
        items=[
            notifications.Item(
                booking.client_id,
                kind,
                title,
                message.format(when=_local(booking.session_start, get_settings().default_time_zone)),
                {"booking_id": str(booking.id)},
            ),
            notifications.Item(
                practitioner.user_id,
                kind,
                title,
                message.format(when=_local(booking.session_start, practitioner.time_zone)),
                {"booking_id": str(booking.id)},
            ),
        ],
    )


def confirm(*, session: Session, booking_id: uuid.UUID, now: datetime | None = None) -> Booking:
    """Paid: the booking is confirmed. Called by the payments service."""
    booking = _load(session, booking_id)
    _move(booking, BookingStatus.CONFIRMED)
    booking.confirmed_at = _now(now)
    booking.hold_expires_at = None
    booking.payment_status = PaymentStatus.COMPLETED
    session.flush()
    _notify_both(session, booking, "booking_confirmed", "Booking confirmed", "The session on {when} is confirmed.")
    return booking


def complete(*, session: Session, booking_id: uuid.UUID, actor: Actor, now: datetime | None = None) -> Booking:
    """The session happened; only after it has ended, by its practitioner or staff."""
    now = _now(now)
    booking = _load(session, booking_id)
    side = _side(session, booking, actor)
    if side == "client":
        raise PermissionDenied("The practitioner or our staff mark sessions as completed.")
    if booking.session_end > now:
        raise InvalidInput({"status": "A session can be marked completed once it has ended."})
    _move(booking, BookingStatus.COMPLETED)
    booking.completed_at = now
    session.flush()
    _notify_both(session, booking, "booking_completed", "Session completed", "The session on {when} is complete.")
    return booking


def mark_no_show(*, session: Session, booking_id: uuid.UUID, actor: Actor, now: datetime | None = None) -> Booking:
    """The client did not come; only after the start, by the practitioner or staff."""
    now = _now(now)
    booking = _load(session, booking_id)
    side = _side(session, booking, actor)
    if side == "client":
        raise PermissionDenied("Only the practitioner or our staff can record a no-show.")
    if booking.session_start > now:
        raise InvalidInput({"status": "A no-show can be recorded once the session has started."})
    _move(booking, BookingStatus.NO_SHOW)
    session.flush()
    _notify_both(session, booking, "booking_no_show", "Missed session", "The session on {when} was missed.")
    if actor.is_staff:
        audit.record(
            session=session,
            actor_id=actor.id,
            action="booking.no_show",
            target_type="booking",
            target_id=booking.id,
            before={"status": "confirmed"},
            after={"status": "no_show"},
        )
    return booking


def paid_amount(session: Session, booking_id: uuid.UUID) -> Decimal:
    """Charged and not yet refunded, from the ledger."""
    charged, refunded = session.execute(
        select(
            func.coalesce(
                func.sum(PaymentTransaction.amount).filter(PaymentTransaction.kind == TransactionKind.CHARGE), 0
            ),
            func.coalesce(
                func.sum(PaymentTransaction.amount).filter(PaymentTransaction.kind == TransactionKind.REFUND), 0
            ),
        ).where(PaymentTransaction.booking_id == booking_id, PaymentTransaction.status == PaymentStatus.COMPLETED)
    ).one()
    return Decimal(charged) - Decimal(refunded)


def refunded_amount(session: Session, booking_id: uuid.UUID) -> Decimal:
    """Refunds made or under way for a booking, from the ledger."""
    return Decimal(
        session.scalar(
            select(func.coalesce(func.sum(PaymentTransaction.amount), 0)).where(
                PaymentTransaction.booking_id == booking_id,
                PaymentTransaction.kind == TransactionKind.REFUND,
                PaymentTransaction.status.in_((PaymentStatus.PENDING, PaymentStatus.COMPLETED)),
            )
        )
    )


def refund_owed(
    *, paid: Decimal, start: datetime, cancelled_at: datetime, cancelled_for: Literal["client", "practitioner"]
) -> Decimal:
    """The policy: a client cancelling 24 hours or more ahead gets everything back, later nothing;
    a practitioner cancelling always refunds in full."""
    if cancelled_for == "practitioner":
        return paid
    return paid if start - cancelled_at >= FULL_REFUND_NOTICE else Decimal("0.00")


@dataclass(frozen=True)
class CancellationTerms:
    paid: Decimal
    refund_if_client_cancels: Decimal
    refund_if_practitioner_cancels: Decimal


def cancellation_terms(
    *, session: Session, booking_id: uuid.UUID, actor: Actor, now: datetime | None = None
) -> CancellationTerms:
    """What cancelling now would refund, by who asks, so the page can say it before anyone confirms."""
    now = _now(now)
    booking = _load(session, booking_id)
    _side(session, booking, actor)
    paid = paid_amount(session, booking.id)
    return CancellationTerms(
        paid=paid,
        refund_if_client_cancels=refund_owed(
            paid=paid, start=booking.session_start, cancelled_at=now, cancelled_for="client"
        ),
        refund_if_practitioner_cancels=paid,
    )


@dataclass(frozen=True)
class Cancellation:
    booking: Booking
    refund_due: Decimal


def cancel(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: Actor,
    reason: str,
    now: datetime | None = None,
    on_behalf_of: Literal["client", "practitioner"] | None = None,
    refund_override: Decimal | None = None,
) -> Cancellation:
    """Cancel a pending or confirmed booking and record the refund owed.

    Staff cancel on behalf of the client (the policy applies) or of the practitioner
    (full refund), and may override the amount with a reason.
    """
    now = _now(now)
    booking = _load(session, booking_id)
    side = _side(session, booking, actor)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": "Say why the booking is cancelled."})
    if len(reason) > 500:
        raise InvalidInput({"reason": "Keep the reason under 500 characters."})
    if side == "staff":
        if on_behalf_of not in ("client", "practitioner"):
            raise InvalidInput({"on_behalf_of": "Say whether the client or the practitioner asked to cancel."})
        cancelled_for = on_behalf_of
    else:
        if refund_override is not None:
            raise PermissionDenied("Only staff can change the refund.")
        cancelled_for = side
    _check_move(booking, BookingStatus.CANCELLED)
    paid = paid_amount(session, booking.id)
    owed = refund_owed(paid=paid, start=booking.session_start, cancelled_at=now, cancelled_for=cancelled_for)
    if refund_override is not None:
        if not Decimal(0) <= refund_override <= paid:
            raise InvalidInput({"refund_override": f"The refund can be between R0 and the R{paid:,.2f} paid."})
        owed = refund_override.quantize(Decimal("0.01"))
    before = {"status": booking.status.value, "session_start": booking.session_start.isoformat()}
    _move(booking, BookingStatus.CANCELLED)
    booking.cancelled_at = now
    booking.cancelled_by_id = actor.id
    booking.cancellation_reason = reason
    booking.refund_due = owed
    booking.refunded_before_cancel = refunded_amount(session, booking.id)
    booking.hold_expires_at = None
    if booking.payment_status == PaymentStatus.PENDING:
        booking.payment_status = PaymentStatus.FAILED
        session.execute(
            update(PaymentTransaction)
            .where(PaymentTransaction.booking_id == booking.id, PaymentTransaction.status == PaymentStatus.PENDING)
            .values(status=PaymentStatus.FAILED, failure_reason="The booking was cancelled before it was paid.")
        )
    session.flush()
    refund_text = f" R{owed:,.2f} will be refunded." if owed else ""
    _notify_both(
        session, booking, "booking_cancelled", "Booking cancelled", "The session on {when} was cancelled." + refund_text
    )
    if side == "staff":
        audit.record(
            session=session,
            actor_id=actor.id,
            action="booking.cancel",
            target_type="booking",
            target_id=booking.id,
            before=before,
            after={
                "status": "cancelled",
                "refund_due": str(owed),
                "on_behalf_of": cancelled_for,
                "refund_overridden": refund_override is not None,
            },
            reason=reason,
        )
    return Cancellation(booking=booking, refund_due=owed)


def reschedule(
    *, session: Session, booking_id: uuid.UUID, actor: Actor, new_start: datetime, now: datetime | None = None
) -> Booking:
    """Move a pending or confirmed booking to another bookable slot, or leave it where it was."""
    now = _now(now)
    booking = _load(session, booking_id)
    side = _side(session, booking, actor)
    if booking.status not in (BookingStatus.PENDING, BookingStatus.CONFIRMED):
        raise IllegalTransition(f"A {booking.status.value.replace('_', ' ')} booking cannot be moved.")
    if booking.session_start <= now:
        raise InvalidInput({"start": "A session that has started cannot be moved."})
    if new_start.tzinfo is None:
        raise InvalidInput({"start": "The new time needs a time zone."})
    new_start = new_start.astimezone(UTC)
    if new_start == booking.session_start:
        return booking
    found = availability.rules(session=session, practitioner_id=booking.practitioner_id)
    _check_slot(session, found, new_start, now, ignore=booking.id)
    before = {"session_start": booking.session_start.isoformat()}
    length = booking.session_end - booking.session_start
    buffer = booking.blocked_until - booking.session_end
    try:
        with session.begin_nested():
            booking.session_start = new_start
            booking.session_end = new_start + length
            booking.blocked_until = new_start + length + buffer
            session.flush()
    except IntegrityError as exc:
        session.refresh(booking)
        if getattr(exc.orig, "sqlstate", None) == "23P01":
            raise SlotTaken() from exc
        raise
    _notify_both(session, booking, "booking_rescheduled", "Booking moved", "The session is now on {when}.")
    if side == "staff":
        audit.record(
            session=session,
            actor_id=actor.id,
            action="booking.reschedule",
            target_type="booking",
            target_id=booking.id,
            before=before,
            after={"session_start": new_start.isoformat()},
        )
    return booking


# --- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class BookablePractitioner:
    """What a client sees before booking."""

    id: uuid.UUID
    name: str
    specialization: str
    verified: bool
    rating: Decimal | None
    review_count: int
    rate: Decimal
    session_minutes: int
    offers_in_person: bool
    offers_online: bool
    city: str | None
    province: str | None
    service_address: str
    bio: str
    time_zone: str
    booking_horizon_days: int
    health_registration: str | None = None

    @property
    def meeting_types(self) -> list[MeetingType]:
        offered = ((MeetingType.IN_PERSON, self.offers_in_person), (MeetingType.ONLINE, self.offers_online))
        return [kind for kind, on in offered if on]

    @property
    def price(self) -> pricing.Price:
        return pricing.quote(self.rate)

    @property
    def bookable(self) -> bool:
        return self.verified or get_settings().allow_unverified_bookings


def practitioner_for_booking(*, session: Session, practitioner_id: uuid.UUID) -> BookablePractitioner:
    row = session.execute(
        select(
            Practitioner.id,
            User.first_name + " " + User.last_name,
            Practitioner.specialization,
            Practitioner.verification_status == VerificationStatus.VERIFIED,
            Practitioner.rating,
            Practitioner.review_count,
            Practitioner.rate_per_session,
            Practitioner.session_duration_minutes,
            Practitioner.offers_in_person,
            Practitioner.offers_online,
            Practitioner.city,
            Practitioner.province,
            Practitioner.service_address,
            Practitioner.bio,
            Practitioner.time_zone,
            Practitioner.booking_horizon_days,
            Practitioner.health_registration,
        )
        .join(User, User.id == Practitioner.user_id)
        .where(Practitioner.id == practitioner_id, User.is_active.is_(True), User.deleted_at.is_(None))
    ).first()
    if row is None:
        raise NotFound("That practitioner is not taking bookings.")
    return BookablePractitioner(*row)


@dataclass(frozen=True)
class BookingRow:
    id: uuid.UUID
    session_start: datetime
    session_end: datetime
    status: BookingStatus
    payment_status: PaymentStatus
    meeting_type: MeetingType
    total_amount: Decimal
    service_amount: Decimal
    platform_fee: Decimal
    refund_due: Decimal | None
    client_id: uuid.UUID
    client_name: str
    practitioner_id: uuid.UUID
    practitioner_user_id: uuid.UUID
    practitioner_name: str
    practitioner_time_zone: str
    hold_expires_at: datetime | None
    notes: str


@dataclass(frozen=True)
class BookingFilter:
    statuses: tuple[BookingStatus, ...] = ()
    start_from: datetime | None = None
    start_to: datetime | None = None
    practitioner_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    text: str = ""
    soonest_first: bool = False


@dataclass(frozen=True)
class BookingPage:
    rows: list[BookingRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _rows_statement() -> tuple[Select, Any, Any]:
    client = User.__table__.alias("client")
    practitioner_user = User.__table__.alias("practitioner_user")
    return (
        (
            select(
                Booking.id,
                Booking.session_start,
                Booking.session_end,
                Booking.status,
                Booking.payment_status,
                Booking.meeting_type,
                Booking.total_amount,
                Booking.service_amount,
                Booking.platform_fee,
                Booking.refund_due,
                Booking.client_id,
                (client.c.first_name + " " + client.c.last_name).label("client_name"),
                Booking.practitioner_id,
                Practitioner.user_id,
                (practitioner_user.c.first_name + " " + practitioner_user.c.last_name).label("practitioner_name"),
                Practitioner.time_zone,
                Booking.hold_expires_at,
                Booking.notes,
            )
            .join(Practitioner, Practitioner.id == Booking.practitioner_id)
            .join(client, client.c.id == Booking.client_id)
            .join(practitioner_user, practitioner_user.c.id == Practitioner.user_id)
        ),
        client,
        practitioner_user,
    )


def list_for(
    *, session: Session, actor: Actor, filters: BookingFilter = BookingFilter(), page: int = 1, page_size: int = 25
) -> BookingPage:
    """Bookings the actor may see: a client's own, a practitioner's own, everyone's for staff."""
    if page < 1 or not 1 <= page_size <= 200:
        raise InvalidInput({"page": "Pages start at 1 and hold 1 to 200 bookings."})
    statement, client, practitioner_user = _rows_statement()
    conditions = []
    if actor.role == Role.CLIENT:
        conditions.append(Booking.client_id == actor.id)
    elif actor.role == Role.PRACTITIONER:
        conditions.append(Practitioner.user_id == actor.id)
    elif not actor.is_staff:
        raise PermissionDenied("Bookings are for clients, practitioners and staff.")
    if filters.statuses:
        conditions.append(Booking.status.in_(filters.statuses))
    if filters.start_from is not None:
        conditions.append(Booking.session_start >= filters.start_from)
    if filters.start_to is not None:
        conditions.append(Booking.session_start < filters.start_to)
    if filters.start_from and filters.start_to and filters.start_from >= filters.start_to:
        raise InvalidInput({"start_to": "The end of the period is before its start."})
    if filters.practitioner_id is not None:
        conditions.append(Booking.practitioner_id == filters.practitioner_id)
    if filters.client_id is not None:
        conditions.append(Booking.client_id == filters.client_id)
    for word in filters.text.lower().split()[:4]:
        pattern = validation.contains(word)
        conditions.append(or_(client.c.search_text.like(pattern), practitioner_user.c.search_text.like(pattern)))
    total = session.scalar(select(func.count()).select_from(statement.where(*conditions).subquery())) or 0
    rows = session.execute(
        statement.where(*conditions)
        .order_by(Booking.session_start.asc() if filters.soonest_first else Booking.session_start.desc(), Booking.id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return BookingPage(rows=[BookingRow(*row) for row in rows], total=total, page=page, page_size=page_size)


def get_for(*, session: Session, actor: Actor, booking_id: uuid.UUID) -> BookingRow:
    statement, _, _ = _rows_statement()
    row = session.execute(statement.where(Booking.id == booking_id)).first()
    if row is None:
        raise NotFound("That booking does not exist.")
    found = BookingRow(*row)
    if (
        actor.is_staff
        or (actor.role == Role.CLIENT and found.client_id == actor.id)
        or (actor.role == Role.PRACTITIONER and found.practitioner_user_id == actor.id)
    ):
        return found
    raise PermissionDenied("That booking is not yours.")


def allowed_actions(row: BookingRow, actor: Actor, now: datetime | None = None) -> list[str]:
    """What the actor may do with a booking now: cancel, reschedule, complete, no_show."""
    now = _now(now)
    mine_as_client = actor.role == Role.CLIENT and row.client_id == actor.id
    mine_as_practitioner = actor.role == Role.PRACTITIONER and row.practitioner_user_id == actor.id
    if not (actor.is_staff or mine_as_client or mine_as_practitioner):
        return []
    actions = []
    if row.status in (BookingStatus.PENDING, BookingStatus.CONFIRMED):
        actions.append("cancel")
        if row.session_start > now:
            actions.append("reschedule")
    if row.status == BookingStatus.CONFIRMED and not mine_as_client:
        if row.session_end <= now:
            actions.append("complete")
        if row.session_start <= now:
            actions.append("no_show")
    return actions
