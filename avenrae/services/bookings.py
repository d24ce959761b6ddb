"""Bookings: create at a bookable slot, hold until paid, and a lifecycle with nothing implicit.

    pending ──(paid)──> confirmed ──(session over)──> completed
       │                    ├──(after the start)────> no_show
       └───> cancelled <────┘

The database decides races: two clients after one slot both pass the checks, both
insert, and the exclusion constraint (ex_bookings_no_overlap, buffers included) lets
one through; the other becomes SlotTaken with nothing written. Cancelling records the
refund the policy owes, from the amount paid it is given; the ledger pays it.

This module keeps booking state and policy only: money lives in the ledger and
notifications are written by the flows (avenrae/services/flows.py) that call it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, make_transient_to_detached

from avenrae import geo
from avenrae.config import get_settings
from avenrae.models import (
    OPERATORS,
    Booking,
    BookingStatus,
    MeetingType,
    PaymentStatus,
    Practitioner,
    Review,
    Role,
    User,
    VerificationStatus,
    booking_ids_of_reference,
)
from avenrae.services import audit, availability, counting, pricing, validation
from avenrae.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ServiceError

FULL_REFUND_NOTICE = timedelta(hours=24)
# Long enough to record a client who did not come the day after; short enough that a
# session the client attended (and may review) is not turned into a missed one later.
NO_SHOW_WINDOW = timedelta(hours=48)
MAX_NOTES = 1000
BOOKINGS_ARE_FOR = "Bookings are for clients, practitioners and staff."

TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.PENDING: frozenset({BookingStatus.CONFIRMED, BookingStatus.CANCELLED}),
    BookingStatus.CONFIRMED: frozenset({BookingStatus.COMPLETED, BookingStatus.NO_SHOW, BookingStatus.CANCELLED}),
    # The hourly job completes every session that ended; a client who did not come can still
    # be recorded for NO_SHOW_WINDOW after it.
    BookingStatus.COMPLETED: frozenset({BookingStatus.NO_SHOW}),
    BookingStatus.CANCELLED: frozenset(),
    BookingStatus.NO_SHOW: frozenset(),
}


class SlotTaken(Conflict):
    def __init__(self, message: str = "That time was just taken — pick another."):
        super().__init__(message)


class IllegalTransition(ServiceError):
    pass


class PriceChanged(Conflict):
    def __init__(self, total: Decimal):
        super().__init__(
            f"The price of this session changed to R{total:,.2f} since it was shown to you. Check it and book again."
        )


class RefundChanged(Conflict):
    def __init__(self, refund: Decimal, shown: Decimal):
        super().__init__(
            f"Cancelling now refunds R{refund:,.2f}, not the R{shown:,.2f} shown a moment ago (the refund depends on "
            "how long before the session you cancel, and on what was paid). Nothing was cancelled: check the refund "
            "and cancel again."
        )


@dataclass(frozen=True)
class Actor:
    """Who is acting: what the lifecycle rules need to know about them."""

    id: uuid.UUID
    role: Role

    @property
    def is_operator(self) -> bool:
        """Staff or an admin: acts for clients and practitioners."""
        return self.role in OPERATORS


@dataclass(frozen=True)
class BookingRequest:
    client_id: uuid.UUID
    practitioner_id: uuid.UUID
    start: datetime
    meeting_type: MeetingType | str
    notes: str = ""
    # The total the person was shown when they chose to book: when the practitioner's rate
    # changed since, nothing is booked (PriceChanged) rather than a price nobody agreed to.
    agreed_total: Decimal | None = None


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def local_time(moment: datetime, time_zone: str) -> str:
    """An instant as people read it in a message: "Tue 03 Dec 2026 at 10:00"."""
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%a %d %b %Y at %H:%M")


# --- creating ------------------------------------------------------------------------

FURTHER_THAN_BOOKINGS = "That is further ahead than bookings are taken."
NOT_OPEN = "That is not one of the practitioner's open times; choose one of the times shown."


def _refuse_unless_free(state: availability.SlotState) -> None:
    if state == "taken":
        raise SlotTaken()
    if state == "closed":
        raise InvalidInput({"start": NOT_OPEN})


def _check_slot(
    session: Session, found: availability.Rules, start: datetime, now: datetime, ignore: uuid.UUID | None = None
) -> None:
    _refuse_unless_free(
        availability.slot_state(
            session=session,
            practitioner_id=found.practitioner_id,
            start=start,
            now=now,
            ignore_booking_id=ignore,
            found=found,
        )
    )


# What booking a time asks of the database before writing, in one round trip: the
# practitioner's rules and names, the client, and the slot's facts (see
# availability.SLOT_FACTS_JOIN). No row: no such active practitioner; NULL client
# columns: no such client. It first takes the client's booking lock (see `create`).
_FACTS = text(f"""
    SELECT p.id, p.user_id, p.time_zone, p.session_duration_minutes, p.buffer_minutes,
           p.min_notice_minutes, p.booking_horizon_days,
           p.verification_status, p.offers_in_person, p.offers_online, p.rate_per_session,
           practitioner.first_name || ' ' || practitioner.last_name AS practitioner_name,
           client.role AS client_role, client.is_active AS client_active, client.deleted_at AS client_deleted_at,
           client.first_name || ' ' || client.last_name AS client_name,
           {availability.SLOT_FACTS_COLUMNS}
    FROM (SELECT pg_advisory_xact_lock(hashtextextended(:lock, 0))) AS client_lock
    CROSS JOIN practitioners p
    JOIN users practitioner ON practitioner.id = p.user_id
    LEFT JOIN users client ON client.id = :client_id
    {availability.SLOT_FACTS_JOIN}
    WHERE p.id = :practitioner_id AND practitioner.is_active AND practitioner.deleted_at IS NULL
""")  # noqa: S608 - composed of module constants; every value is bound
# The booking, for `flows.book` to send in one writable-CTE statement with its charge and
# notices (see flows._BOOK): written only while the client holds fewer than :max_holds
# unpaid bookings. ON CONFLICT DO NOTHING turns the exclusion constraint's refusal into
# "no row" rather than an error that would spoil the caller's transaction; no row
# returned, nothing written (see `refusal`).
INSERT_SQL = """
    INSERT INTO bookings (id, client_id, practitioner_id, created_by_id, session_start, session_end,
                          blocked_until, status, meeting_type, notes, service_amount, platform_fee_rate,
                          platform_fee, total_amount, payment_status, hold_expires_at, pays_by)
    SELECT :id, :client_id, :practitioner_id, :created_by_id, :start, :end, :blocked_until, 'pending',
           CAST(:meeting_type AS meeting_type), :notes, :service, :fee_rate, :fee, :total, 'pending',
           :hold_until, :pays_by
    WHERE (SELECT count(*) FROM bookings
           WHERE client_id = :client_id AND status = 'pending' AND hold_expires_at > :now) < :max_holds
    ON CONFLICT DO NOTHING
    RETURNING id, created_at
"""
_UNPAID_HOLDS = text(
    "SELECT count(*) FROM bookings WHERE client_id = :client_id AND status = 'pending' AND hold_expires_at > :now"
)


@dataclass(frozen=True)
class Parties:
    """Who a booking concerns, as its notices name them."""

    client_id: uuid.UUID
    client_name: str
    practitioner_user_id: uuid.UUID
    practitioner_name: str
    practitioner_zone: str


@dataclass(frozen=True)
class NewBooking:
    """A booking `plan` decided on and `INSERT_SQL` writes (with `params`): every value the
    row gets from the request, and the names its notices need. The database adds only
    defaults (created_at, currency, ...), which a `Booking` loads when first asked."""

    id: uuid.UUID
    client_id: uuid.UUID
    practitioner_id: uuid.UUID
    created_by_id: uuid.UUID | None
    session_start: datetime
    session_end: datetime
    blocked_until: datetime
    meeting_type: MeetingType
    notes: str
    service_amount: Decimal
    platform_fee_rate: Decimal
    platform_fee: Decimal
    total_amount: Decimal
    hold_expires_at: datetime
    pays_by: PaysBy
    parties: Parties
    now: datetime
    max_holds: int
    status: BookingStatus = BookingStatus.PENDING
    payment_status: PaymentStatus = PaymentStatus.PENDING

    def params(self) -> dict[str, Any]:
        """INSERT_SQL's parameters."""
        return {
            "id": self.id,
            "client_id": self.client_id,
            "practitioner_id": self.practitioner_id,
            "created_by_id": self.created_by_id,
            "start": self.session_start,
            "end": self.session_end,
            "blocked_until": self.blocked_until,
            "meeting_type": self.meeting_type.value,
            "notes": self.notes,
            "service": self.service_amount,
            "fee_rate": self.platform_fee_rate,
            "fee": self.platform_fee,
            "total": self.total_amount,
            "hold_until": self.hold_expires_at,
            "pays_by": self.pays_by,
            "now": self.now,
            "max_holds": self.max_holds,
        }


PaysBy = Literal["online", "eft"]


def eft_deadline(*, session_start: datetime, now: datetime) -> datetime | None:
    """Until when a bank transfer can hold a time: AVENRAE_EFT_HOLD_HOURS from now, but
    at least AVENRAE_EFT_CUTOFF_HOURS before the session (never past it). None when the
    session is too soon for a transfer to clear (pay by card or in person then)."""
    settings = get_settings()
    deadline = min(
        now + timedelta(hours=settings.eft_hold_hours),
        session_start - timedelta(hours=settings.eft_cutoff_hours),
    )
    return deadline if deadline >= now + timedelta(minutes=settings.booking_hold_minutes) else None


SLOW_TRANSFER = (
    "An ordinary transfer between banks can take a working day to arrive (longer over a weekend), "
    "so use an instant EFT."
)


def transfer_may_be_late(booking: Booking | NewBooking) -> bool:
    """The booking's deadline for a bank transfer, when it was set, was nearer than an
    ordinary one takes to clear (see `too_soon_for_a_transfer`)."""
    since = booking.now if isinstance(booking, NewBooking) else booking.created_at
    if booking.hold_expires_at is None or since is None:
        return False
    return too_soon_for_a_transfer(since, booking.hold_expires_at)


def too_soon_for_a_transfer(since: datetime, deadline: datetime) -> bool:
    """An ordinary transfer between banks clears within a working day: a deadline with less
    than that before it is too soon. Either the session is soon (`eft_deadline` fell before
    AVENRAE_EFT_HOLD_HOURS), or the hold runs over a weekend, when banks clear nothing
    (booked on a Saturday, due on the Sunday). Public holidays are not known here."""
    if deadline - since < timedelta(hours=get_settings().eft_hold_hours) - timedelta(minutes=1):
        return True
    zone = ZoneInfo(get_settings().default_time_zone)
    working = timedelta()
    day = since.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < deadline:
        following = (day + timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=zone)  # midnight, whatever DST
        if day.weekday() < 5:
            working += min(following, deadline) - max(day, since)
        day = following
    return working < timedelta(hours=min(24, get_settings().eft_hold_hours)) - timedelta(minutes=1)


def hold_until(*, pays_by: PaysBy, session_start: datetime, now: datetime) -> datetime:
    """How long a new unpaid booking holds its time: a card payment takes minutes
    (AVENRAE_BOOKING_HOLD_MINUTES), a bank transfer a day (`eft_deadline`)."""
    card = now + timedelta(minutes=get_settings().booking_hold_minutes)
    if pays_by == "eft":
        return eft_deadline(session_start=session_start, now=now) or card
    return card


def plan(
    *, session: Session, request: BookingRequest, actor: Actor, pays_by: PaysBy, now: datetime | None = None
) -> NewBooking:
    """The pending booking `request` asks for, holding its time until it is paid (see
    `hold_until`), once every rule allows it: one round trip. Nothing is written; the
    caller sends INSERT_SQL with `NewBooking.params`, then `written` or `refusal`.

    SlotTaken when someone else holds the time (the write can still find it taken: the
    exclusion constraint decides races).
    """
    now = _now(now)
    settings = get_settings()
    if actor.role == Role.CLIENT and actor.id != request.client_id:
        raise PermissionDenied("You can only book sessions for yourself.")
    if actor.role not in (Role.CLIENT, *OPERATORS):
        raise PermissionDenied("Only clients and staff can book sessions.")
    problems: dict[str, str] = {}
    try:
        notes = validation.text(request.notes, label="Notes for the practitioner", max_length=MAX_NOTES, required=False)
    except validation.FieldError as error:
        problems["notes"], notes = str(error), ""
    start = request.start
    if start.tzinfo is None:
        problems["start"] = "The start time needs a time zone."
    elif start <= now:
        problems["start"] = "That time has already passed."
    elif start - now > availability.BOOKABLE_AHEAD:
        problems["start"] = FURTHER_THAN_BOOKINGS
    if problems:
        raise InvalidInput(problems)
    start = start.astimezone(UTC)
    if session.autoflush:  # as session.execute would: the statements below run on its connection
        session.flush()
    # The lock makes one client's bookings take turns, so the cap on unpaid holds, counted
    # by the write, cannot be outrun in parallel.
    facts = (
        session.connection()
        .execute(
            _FACTS,
            {
                "lock": f"avenrae.holds:{request.client_id}",
                "practitioner_id": request.practitioner_id,
                "client_id": request.client_id,
                "start": start,
                "now": now,
                "ignore": None,
            },
        )
        .first()
    )
    if facts is None:
        raise NotFound("That practitioner is not taking bookings.")
    if facts.client_role != Role.CLIENT or not facts.client_active or facts.client_deleted_at is not None:
        problems["client"] = "Choose an active client to book for."
    if facts.verification_status != VerificationStatus.VERIFIED and not settings.allow_unverified_bookings:
        raise PermissionDenied("This practitioner is not verified yet, so they cannot be booked.")
    offered = [
        kind
        for kind, on in ((MeetingType.IN_PERSON, facts.offers_in_person), (MeetingType.ONLINE, facts.offers_online))
        if on
    ]
    try:
        meeting = MeetingType(request.meeting_type)
    except ValueError:
        meeting = None
    if meeting not in offered:
        ways = " or ".join(m.value.replace("_", " ") for m in offered)
        asked = "Choose how you will meet: " if not request.meeting_type else "This practitioner meets "
        problems["meeting_type"] = f"{asked}{ways}."
    found = availability.Rules.from_row(facts)
    slot = availability.judge_slot(found, start, now, facts)
    if slot == "closed":  # said with any other problem, so one answer tells all
        problems["start"] = NOT_OPEN
    if problems:
        raise InvalidInput(problems)
    assert meeting is not None
    _refuse_unless_free(slot)

    price = pricing.quote(facts.rate_per_session)
    if price.total_amount <= 0:  # a rate from before rates had a floor: nothing to pay, nothing to book
        raise Conflict("This practitioner has not set a price yet, so they cannot be booked.")
    if request.agreed_total is not None and price.total_amount != request.agreed_total:
        raise PriceChanged(price.total_amount)
    end = start + found.session
    return NewBooking(
        id=uuid.uuid4(),
        client_id=request.client_id,
        practitioner_id=found.practitioner_id,
        created_by_id=actor.id if actor.is_operator else None,
        session_start=start,
        session_end=end,
        blocked_until=end + found.buffer,
        meeting_type=meeting,
        notes=notes,
        service_amount=price.service_amount,
        platform_fee_rate=price.platform_fee_rate,
        platform_fee=price.platform_fee,
        total_amount=price.total_amount,
        hold_expires_at=hold_until(pays_by=pays_by, session_start=start, now=now),
        pays_by=pays_by,
        parties=Parties(
            client_id=request.client_id,
            client_name=facts.client_name,
            practitioner_user_id=facts.user_id,
            practitioner_name=facts.practitioner_name,
            practitioner_zone=facts.time_zone,
        ),
        now=now,
        max_holds=settings.max_unpaid_holds,
    )


_WRITTEN = (
    "id", "client_id", "practitioner_id", "created_by_id", "session_start", "session_end", "blocked_until",
    "status", "meeting_type", "notes", "service_amount", "platform_fee_rate", "platform_fee", "total_amount",
    "payment_status", "hold_expires_at", "pays_by",
)  # fmt: skip


def written(*, session: Session, new: NewBooking, created_at: datetime, actor: Actor) -> Booking:
    """The booking INSERT_SQL wrote, as a Booking in `session` without reading it back:
    the columns it was written with are set, and the time it returned; the database's
    other defaults load when first read. Staff booking for a client leave an audit row."""
    booking = Booking(**{column: getattr(new, column) for column in _WRITTEN}, created_at=created_at)
    make_transient_to_detached(booking)  # persistent once added: the row exists
    session.add(booking)
    if actor.is_operator:
        audit.record(
            session=session,
            actor_id=actor.id,
            action="booking.create_on_behalf",
            target_type="booking",
            target_id=booking.id,
            after={
                "client": new.parties.client_name,
                "client_id": str(new.client_id),
                "start": new.session_start.isoformat(),
            },
        )
    return booking


def unpaid_holds(*, session: Session, client_id: uuid.UUID, now: datetime | None = None) -> int:
    """How many of the client's bookings hold a time unpaid now (AVENRAE_MAX_UNPAID_HOLDS at most)."""
    return session.connection().execute(_UNPAID_HOLDS, {"client_id": client_id, "now": _now(now)}).scalar() or 0


def too_many_holds(held: int, *, by_the_client: bool) -> str:
    """Why a client at the cap on unpaid holds cannot book again, in the reader's words."""
    who = "You already have" if by_the_client else "This client already has"
    return f"{who} {held} unpaid bookings held. Pay for one (or cancel it) before booking another."


def refusal(*, session: Session, new: NewBooking) -> Conflict:
    """Why INSERT_SQL wrote nothing: the client's unpaid holds reached the cap, or (the
    exclusion constraint's refusal) someone holds the time: SlotTaken."""
    held = unpaid_holds(session=session, client_id=new.client_id, now=new.now)
    if held >= new.max_holds:
        return Conflict(too_many_holds(held, by_the_client=new.created_by_id is None))
    return SlotTaken()


def pay_by_eft(*, session: Session, booking_id: uuid.UUID, actor: Actor, now: datetime | None = None) -> Booking:
    """The client will pay by bank transfer: the hold becomes the transfer's deadline."""
    now = _now(now)
    booking = _load(session, booking_id)
    side = _side(session, booking, actor)
    if side == "practitioner":
        raise PermissionDenied("The client or our staff choose how a booking is paid.")
    if booking.status != BookingStatus.PENDING or (booking.hold_expires_at and booking.hold_expires_at <= now):
        raise IllegalTransition("Only a booking still held for payment can be paid by EFT.")
    deadline = eft_deadline(session_start=booking.session_start, now=booking.created_at)
    if deadline is None or deadline <= now:
        raise IllegalTransition(
            "This session is too soon for a bank transfer to clear; pay online or by cash or card with our staff."
        )
    booking.pays_by = "eft"
    booking.hold_expires_at = max(booking.hold_expires_at or now, deadline)
    session.flush()
    return booking


# --- holds that run out --------------------------------------------------------------


@dataclass(frozen=True)
class Expired:
    id: uuid.UUID
    client_id: uuid.UUID
    session_start: datetime


def expire_holds(
    *,
    session: Session,
    now: datetime | None = None,
    practitioner_id: uuid.UUID | None = None,
    between: tuple[datetime, datetime] | None = None,
) -> list[Expired]:
    """Unpaid bookings whose hold ran out stop holding their time (cancelled, payment
    expired): all of them, or one practitioner's over a stretch of time."""
    now = _now(now)
    condition = [Booking.status == BookingStatus.PENDING, Booking.hold_expires_at <= now]
    if practitioner_id is not None:
        condition.append(Booking.practitioner_id == practitioner_id)
    if between is not None:
        condition += [Booking.session_start < between[1], Booking.blocked_until > between[0]]
    rows = session.execute(
        update(Booking)
        .where(*condition)
        .values(
            status=BookingStatus.CANCELLED,
            cancelled_at=now,
            payment_status=PaymentStatus.EXPIRED,
            cancellation_reason=NOT_PAID_IN_TIME,
            refund_due=0,
        )
        .returning(Booking.id, Booking.client_id, Booking.session_start)
        .execution_options(synchronize_session=False)
    ).all()
    return [Expired(**row._mapping) for row in rows]


NOT_PAID_IN_TIME = "Not paid before the hold ran out."


def finish_sessions(*, session: Session, now: datetime | None = None) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Confirmed sessions that have ended become completed; returns (booking, client) pairs."""
    now = _now(now)
    return [
        (row.id, row.client_id)
        for row in session.execute(
            update(Booking)
            .where(Booking.status == BookingStatus.CONFIRMED, Booking.session_end <= now)
            .values(status=BookingStatus.COMPLETED, completed_at=now)
            .returning(Booking.id, Booking.client_id)
        ).all()
    ]


# --- the lifecycle -------------------------------------------------------------------


def load(session: Session, booking_id: uuid.UUID, *, lock: bool = True) -> Booking:
    """The booking as the database has it now (locked for this transaction unless asked not
    to); NotFound otherwise."""
    statement = select(Booking).where(Booking.id == booking_id).execution_options(populate_existing=True)
    if lock:
        statement = statement.with_for_update()
    booking = session.scalar(statement)
    if booking is None:
        raise not_found()
    return booking


def not_found() -> NotFound:
    """What a client or practitioner is told of a booking that is not theirs: the same as of
    one that does not exist, so a booking's number tells a stranger nothing."""
    return NotFound("That booking does not exist, or it is not yours.")


_load = load


def _practitioner_user(session: Session, booking: Booking) -> uuid.UUID:
    user_id = session.scalar(select(Practitioner.user_id).where(Practitioner.id == booking.practitioner_id))
    assert user_id is not None
    return user_id


Side = Literal["client", "practitioner", "staff"]


def _side(session: Session, booking: Booking, actor: Actor) -> Side:
    """Which party the actor is in this booking; PermissionDenied for anyone else."""
    if actor.is_operator:
        return "staff"
    if actor.role == Role.CLIENT and booking.client_id == actor.id:
        return "client"
    if actor.role == Role.PRACTITIONER and _practitioner_user(session, booking) == actor.id:
        return "practitioner"
    if actor.role in (Role.CLIENT, Role.PRACTITIONER):
        raise not_found()
    raise PermissionDenied(BOOKINGS_ARE_FOR)


# What a booking in each status is, and what a move to each status does, in a reader's words.
_IS = {
    BookingStatus.PENDING: "waiting for payment",
    BookingStatus.CONFIRMED: "confirmed",
    BookingStatus.COMPLETED: "marked done",
    BookingStatus.CANCELLED: "cancelled",
    BookingStatus.NO_SHOW: "marked as missed",
}
_BECOME = {**_IS, BookingStatus.PENDING: "put back to waiting for payment"}


def _check_move(booking: Booking, to: BookingStatus) -> None:
    if to in TRANSITIONS[booking.status]:
        return
    if booking.status == to:
        raise IllegalTransition(f"This booking is already {_IS[to]}.")
    raise IllegalTransition(f"This booking is {_IS[booking.status]}, so it cannot be {_BECOME[to]}.")


def _move(booking: Booking, to: BookingStatus) -> None:
    _check_move(booking, to)
    booking.status = to


def confirm(*, session: Session, booking_id: uuid.UUID, now: datetime | None = None) -> Booking:
    """Paid: the booking is confirmed."""
    booking = _load(session, booking_id)
    _move(booking, BookingStatus.CONFIRMED)
    booking.confirmed_at = _now(now)
    booking.hold_expires_at = None
    booking.payment_status = PaymentStatus.COMPLETED
    session.flush()
    return booking


PAID_FOR = (BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)  # confirmed once paid


def only_owes_back(booking: Booking) -> bool:
    """Money arriving now can only go back: the booking was cancelled (not merely released
    for want of payment, which money can still book again), or it was paid already (a
    transfer after a card payment). Whatever arrives is owed back."""
    return (booking.status == BookingStatus.CANCELLED and not expired_unpaid(booking)) or booking.status in PAID_FOR


def expired_unpaid(booking: Booking) -> bool:
    """Cancelled only because nobody paid in time: money arriving late can still book it."""
    return booking.status == BookingStatus.CANCELLED and booking.cancellation_reason == NOT_PAID_IN_TIME


def hold_lapsed(booking: Booking, now: datetime) -> bool:
    """Still pending past its hold: nobody paid in time, and the job has not released it yet."""
    return (
        booking.status == BookingStatus.PENDING
        and booking.hold_expires_at is not None
        and booking.hold_expires_at <= now
    )


def can_reinstate(*, session: Session, booking: Booking, now: datetime | None = None) -> bool:
    """Whether late money would book an expired booking (or one whose hold ran out a moment
    ago) again: its time is still to come, open and free (what staff are told before they
    record the money)."""
    now = _now(now)
    if not (expired_unpaid(booking) or hold_lapsed(booking, now)) or booking.session_start <= now:
        return False
    state = availability.slot_state(
        session=session, practitioner_id=booking.practitioner_id, start=booking.session_start, now=now,
        ignore_booking_id=booking.id,
    )  # fmt: skip
    return state == "free"


def reinstate(*, session: Session, booking_id: uuid.UUID, now: datetime | None = None) -> bool:
    """Late money for a booking whose hold ran out: confirm it again if its time is still
    open and free, as booking it now would need (the practitioner may have taken the day
    off since; the exclusion constraint decides a race). False, and nothing changed, when not."""
    now = _now(now)
    booking = _load(session, booking_id)
    if not can_reinstate(session=session, booking=booking, now=now):
        return False
    try:
        with session.begin_nested():
            booking.status = BookingStatus.CONFIRMED
            booking.confirmed_at = now
            booking.cancelled_at = None
            booking.cancellation_reason = None
            booking.hold_expires_at = None
            session.flush()
    except IntegrityError as exc:
        session.refresh(booking)
        if getattr(exc.orig, "sqlstate", None) == "23P01":
            return False
        raise
    return True


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
    if booking.status == BookingStatus.COMPLETED:
        if now - booking.session_end > NO_SHOW_WINDOW:
            raise InvalidInput({"status": "A no-show can be recorded up to 48 hours after the session."})
        if session.scalar(select(Review.id).where(Review.booking_id == booking.id)) is not None:
            raise Conflict("The client has reviewed this session, so it cannot be recorded as missed.")
    before = booking.status
    _move(booking, BookingStatus.NO_SHOW)
    session.flush()
    if actor.is_operator:
        audit.record(
            session=session,
            actor_id=actor.id,
            action="booking.no_show",
            target_type="booking",
            target_id=booking.id,
            before={"status": before.value},
            after={"status": "no_show"},
        )
    return booking


def refund_owed(
    *,
    paid: Decimal,
    price: Decimal,
    start: datetime,
    cancelled_at: datetime,
    cancelled_for: Literal["client", "practitioner"],
) -> Decimal:
    """The policy: a client cancelling 24 hours or more ahead gets everything back, later nothing;
    a practitioner cancelling always refunds in full. The policy is about the booking's price:
    whatever was paid beyond it (paid twice) goes back whoever cancels, whenever."""
    if cancelled_for == "practitioner" or cancelled_at <= full_refund_until(start):
        return paid
    return max(paid - price, Decimal("0.00"))


def full_refund_until(start: datetime) -> datetime:
    """Until when a client cancelling a session starting at `start` gets everything back."""
    return start - FULL_REFUND_NOTICE


FULL_REFUND_HOURS = int(FULL_REFUND_NOTICE.total_seconds() // 3600)


def policy_text() -> str:
    """The cancellation policy in words, as clients and staff are shown it."""
    hours = FULL_REFUND_HOURS
    return (
        f"Clients who cancel {hours} hours or more ahead get everything back, later nothing; "
        "when a practitioner cancels, the client gets everything back. "
        f"Clients can move a session until {hours} hours before it starts."
    )


def why_client_cannot_move(row: BookingRow, actor: Actor, now: datetime) -> str | None:
    """Why the client looking at their live booking is not offered a move, if that is so:
    `client_may_move` says it is too late (said beside the booking, not only in the policy)."""
    live = row.status in (BookingStatus.PENDING, BookingStatus.CONFIRMED) and row.session_start > now
    if actor.role != Role.CLIENT or row.client_id != actor.id or not live or client_may_move(row.session_start, now):
        return None
    return (
        f"This session starts within {FULL_REFUND_HOURS} hours, so it can no longer be moved: "
        "ask the practitioner to move it, or cancel it."
    )


# A practitioner's move never puts a session where its client could no longer move it or
# cancel it with a refund: the time was not the client's choice.
PRACTITIONER_LATE_MOVE = (
    f"Move the session to a time at least {FULL_REFUND_HOURS} hours away: any sooner and the client could "
    "neither move it nor cancel it with a refund. For a sooner time, ask our staff to move it with the "
    "client's agreement, or cancel it (the client is refunded in full)."
)


def client_may_move(start: datetime, now: datetime) -> bool:
    """A client moves a session only while cancelling it would refund in full: moving a late
    session a day on and then cancelling would otherwise get back what the policy keeps.
    (A practitioner's cancelling refunds in full anyway; staff judge for themselves.)"""
    return now <= full_refund_until(start)


@dataclass(frozen=True)
class CancellationTerms:
    paid: Decimal
    refund_if_client_cancels: Decimal
    refund_if_practitioner_cancels: Decimal


def cancellation_terms(
    *, session: Session, booking_id: uuid.UUID, actor: Actor, paid: Decimal, now: datetime | None = None
) -> CancellationTerms:
    """What cancelling now would refund of `paid`, by who asks, so it is said before anyone confirms."""
    now = _now(now)
    booking = _load(session, booking_id, lock=False)
    _side(session, booking, actor)
    return CancellationTerms(
        paid=paid,
        refund_if_client_cancels=refund_owed(
            paid=paid, price=booking.total_amount, start=booking.session_start, cancelled_at=now, cancelled_for="client"
        ),
        refund_if_practitioner_cancels=paid,
    )


def checked_cancel_reason(reason: str | None) -> str:
    """Why a booking is cancelled: required, at most 500 characters."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": "Say why the booking is cancelled."})
    if len(reason) > 500:
        raise InvalidInput({"reason": f"Keep the reason under 500 characters (cut {len(reason) - 500:,})."})
    return reason


def checked_refund_override(amount: Decimal, *, paid: Decimal) -> Decimal:
    """A refund staff set by hand when cancelling: from R0 to what was paid."""
    if not Decimal(0) <= amount <= paid:
        raise InvalidInput({"refund_override": f"The refund can be between R0 and the R{paid:,.2f} paid."})
    return amount.quantize(Decimal("0.01"))


def cancel(
    *,
    session: Session,
    booking_id: uuid.UUID,
    actor: Actor,
    reason: str,
    paid: Decimal,
    refunded: Decimal,
    now: datetime | None = None,
    on_behalf_of: Literal["client", "practitioner"] | None = None,
    refund_override: Decimal | None = None,
    expected_refund: Decimal | None = None,
) -> Booking:
    """Cancel a pending or confirmed booking and record the refund the policy owes of `paid`
    (`refunded`: refunds already made, which the owed refund comes on top of).

    Staff cancel on behalf of the client (the policy applies) or of the practitioner
    (full refund), and may override the amount with a reason. With `expected_refund` (what
    the person confirming was shown), RefundChanged when the refund is now different.
    """
    now = _now(now)
    booking = _load(session, booking_id)
    side = _side(session, booking, actor)
    reason = checked_cancel_reason(reason)
    if side == "staff":
        if on_behalf_of not in ("client", "practitioner"):
            raise InvalidInput({"on_behalf_of": SAY_WHO_ASKED})
        cancelled_for: Literal["client", "practitioner"] = on_behalf_of
    else:
        if refund_override is not None:
            raise PermissionDenied("Only staff can change the refund.")
        cancelled_for = side
    _check_move(booking, BookingStatus.CANCELLED)
    owed = refund_owed(
        paid=paid,
        price=booking.total_amount,
        start=booking.session_start,
        cancelled_at=now,
        cancelled_for=cancelled_for,
    )
    if refund_override is not None:
        owed = checked_refund_override(refund_override, paid=paid)
    if expected_refund is not None and owed != expected_refund:
        raise RefundChanged(owed, expected_refund)
    before = {"status": booking.status.value, "session_start": booking.session_start.isoformat()}
    _move(booking, BookingStatus.CANCELLED)
    booking.cancelled_at = now
    booking.cancelled_by_id = actor.id
    booking.cancelled_for = cancelled_for
    booking.cancellation_reason = reason
    booking.refund_due = owed
    booking.refunded_before_cancel = refunded
    booking.hold_expires_at = None
    session.flush()
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
    return booking


SAY_WHO_ASKED = "Say whether the client or the practitioner asked to cancel."


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
    if side == "client" and not client_may_move(booking.session_start, now):
        raise IllegalTransition(
            f"A session can be moved until {FULL_REFUND_HOURS} hours before it starts; this one starts sooner."
            " You can still cancel it."
        )
    if new_start.tzinfo is None:
        raise InvalidInput({"start": "The new time needs a time zone."})
    if new_start <= now:
        raise InvalidInput({"start": "That time has already passed."})
    if new_start - now > availability.BOOKABLE_AHEAD:
        raise InvalidInput({"start": FURTHER_THAN_BOOKINGS})
    new_start = new_start.astimezone(UTC)
    if new_start == booking.session_start:
        return booking
    if side == "practitioner" and not client_may_move(new_start, now):
        raise InvalidInput({"start": PRACTITIONER_LATE_MOVE})
    found = availability.rules(session=session, practitioner_id=booking.practitioner_id)
    _check_slot(session, found, new_start, now, ignore=booking.id)
    hold = _moved_hold(booking, new_start, now)
    before = {"session_start": booking.session_start.isoformat()}
    length = booking.session_end - booking.session_start
    buffer = booking.blocked_until - booking.session_end
    try:
        with session.begin_nested():
            booking.session_start = new_start
            booking.session_end = new_start + length
            booking.blocked_until = new_start + length + buffer
            booking.hold_expires_at = hold
            session.flush()
    except IntegrityError as exc:
        session.refresh(booking)
        if getattr(exc.orig, "sqlstate", None) == "23P01":
            raise SlotTaken() from exc
        raise
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


def _moved_hold(booking: Booking, new_start: datetime, now: datetime) -> datetime | None:
    """Until when a moved booking stays held unpaid. A card payment's hold never grows. A bank
    transfer's deadline is worked out again for the new time: what the booking would have been
    given for it when it was made (`eft_deadline` from its creation, so moving never earns more
    than the first day), and no later than a new booking at that time would get now, so it
    never passes the session. A confirmed booking holds nothing."""
    if booking.status != BookingStatus.PENDING or booking.hold_expires_at is None:
        return booking.hold_expires_at
    if booking.hold_expires_at <= now:  # ran out (the hourly job releases it): moving never revives it
        return booking.hold_expires_at
    if booking.pays_by != "eft":
        return min(booking.hold_expires_at, new_start)
    latest = hold_until(pays_by="eft", session_start=new_start, now=now)
    kept = min(booking.hold_expires_at, latest)
    granted = eft_deadline(session_start=new_start, now=booking.created_at) if booking.created_at else None
    return kept if granted is None else max(kept, min(granted, latest))


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
    latitude: float
    longitude: float
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


@dataclass(frozen=True)
class Reach:
    """One side of a booking as the other reaches them."""

    name: str
    phone: str | None
    email: str


@dataclass(frozen=True)
class Contact:
    """How the two sides of a paid booking find and reach each other: where to go for a
    session in person, and the other side's mobile and e-mail (staff see both sides)."""

    where: str | None  # in person: the practitioner's address (or only their town)
    address_is_town: bool  # the practitioner gave no street: ask them for it
    others: list[Reach]


CONTACT_SHOWN = (BookingStatus.CONFIRMED,)  # paid and still to happen: before payment nobody's details are shown


def contact(*, session: Session, booking_id: uuid.UUID, actor: Actor, now: datetime | None = None) -> Contact | None:
    """What the actor may see of the other side of a confirmed booking; None before it is
    paid, and once the session has ended (even before the hourly job marks it completed).
    Staff see both sides of any booking: they reach a client about a refund owed or a late
    transfer, whatever the booking's state."""
    booking = load(session, booking_id, lock=False)
    side = _side(session, booking, actor)
    return contacts(session=session, booking=booking, now=now, for_staff=side == "staff").get(side)


def contacts(
    *, session: Session, booking: Booking, now: datetime | None = None, for_staff: bool = False
) -> dict[Side, Contact]:
    """What each side of a booking sees of the other (`contact`), in one statement: for the
    notices that tell both sides at once. Empty before it is paid and once it has ended, but
    for staff's (`for_staff`), which they see in any state."""
    parties_see = booking.status in CONTACT_SHOWN and booking.session_end > _now(now)
    if not (parties_see or for_staff):
        return {}
    practitioner_user = aliased(User)
    row = session.execute(
        select(
            Practitioner.service_address,
            Practitioner.city,
            (practitioner_user.first_name + " " + practitioner_user.last_name).label("practitioner_name"),
            practitioner_user.phone.label("practitioner_phone"),
            practitioner_user.email.label("practitioner_email"),
            (User.first_name + " " + User.last_name).label("client_name"),
            User.phone.label("client_phone"),
            User.email.label("client_email"),
        )
        .join(practitioner_user, practitioner_user.id == Practitioner.user_id)
        .join(User, User.id == booking.client_id)
        .where(Practitioner.id == booking.practitioner_id)
    ).one()
    practitioner = Reach(row.practitioner_name, row.practitioner_phone, row.practitioner_email)
    client = Reach(row.client_name, row.client_phone, row.client_email)
    address = (row.service_address or row.city or "").strip()
    where = address if booking.meeting_type == MeetingType.IN_PERSON and address else None
    town_only = where is not None and (not row.service_address or row.service_address.strip() == row.city)
    staff: dict[Side, Contact] = {"staff": Contact(where, town_only, [client, practitioner])}
    if not parties_see:
        return staff
    return {  # the practitioner is not shown their own address
        "client": Contact(where, town_only, [practitioner]),
        "practitioner": Contact(None, False, [client]),
        **staff,
    }


def practitioner_for_booking(*, session: Session, practitioner_id: uuid.UUID) -> BookablePractitioner:
    row = session.execute(
        select(
            Practitioner.id,
            (User.first_name + " " + User.last_name).label("name"),
            Practitioner.specialization,
            (Practitioner.verification_status == VerificationStatus.VERIFIED).label("verified"),
            Practitioner.rating,
            Practitioner.review_count,
            Practitioner.rate_per_session.label("rate"),
            Practitioner.session_duration_minutes.label("session_minutes"),
            Practitioner.offers_in_person,
            Practitioner.offers_online,
            Practitioner.city,
            Practitioner.province,
            Practitioner.service_address,
            Practitioner.bio,
            Practitioner.time_zone,
            Practitioner.booking_horizon_days,
            func.ST_Y(geo.as_geometry(Practitioner.location)).label("latitude"),
            func.ST_X(geo.as_geometry(Practitioner.location)).label("longitude"),
            Practitioner.health_registration,
        )
        .join(User, User.id == Practitioner.user_id)
        .where(Practitioner.id == practitioner_id, User.is_active.is_(True), User.deleted_at.is_(None))
    ).first()
    if row is None:
        raise NotFound("That practitioner is not taking bookings.")
    return BookablePractitioner(**row._mapping)


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
    pays_by: str | None
    cancellation_reason: str | None
    reviewed: bool  # the client has written a review of it

    @property
    def cancelled_with_refund(self) -> bool:
        """Cancelled with money due back (`ledger.refund_progress` says where it stands)."""
        return self.status == BookingStatus.CANCELLED and bool(self.refund_due)

    @property
    def expired_unpaid(self) -> bool:
        """Cancelled only because nobody paid in time (late money can still book it)."""
        return self.status == BookingStatus.CANCELLED and self.cancellation_reason == NOT_PAID_IN_TIME


@dataclass(frozen=True)
class BookingFilter:
    statuses: tuple[BookingStatus, ...] = ()
    start_from: datetime | None = None
    start_to: datetime | None = None
    # Sessions that started before this moment are listed only while still confirmed (under
    # way, or waiting to be marked done or missed): "Upcoming" without what is finished.
    confirmed_only_before: datetime | None = None
    # "Upcoming" lists the sessions that will take place; cancelled ones only when asked for.
    without_cancelled: bool = False
    practitioner_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    text: str = ""
    soonest_first: bool = False

    @property
    def leaves_out_cancelled(self) -> bool:
        """Cancelled bookings are left out: asked for, and no statuses chosen (which decide alone)."""
        return self.without_cancelled and not self.statuses


@dataclass(frozen=True)
class BookingPage:
    rows: list[BookingRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return counting.pages(self.total, self.page_size)


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
                Practitioner.user_id.label("practitioner_user_id"),
                (practitioner_user.c.first_name + " " + practitioner_user.c.last_name).label("practitioner_name"),
                Practitioner.time_zone.label("practitioner_time_zone"),
                Booking.hold_expires_at,
                Booking.notes,
                Booking.pays_by,
                Booking.cancellation_reason,
                select(Review.id).where(Review.booking_id == Booking.id).exists().label("reviewed"),
            )
            .join(Practitioner, Practitioner.id == Booking.practitioner_id)
            .join(client, client.c.id == Booking.client_id)
            .join(practitioner_user, practitioner_user.c.id == Practitioner.user_id)
        ),
        client,
        practitioner_user,
    )


def visible_conditions(actor: Actor, filters: BookingFilter, client: Any, practitioner_user: Any) -> list[Any]:
    """The WHERE of the bookings `actor` may see (a client's own, a practitioner's own,
    everyone's for staff) narrowed by `filters`, over `_rows_statement()` and its two user
    aliases. InvalidInput for a period that ends before it starts."""
    if filters.start_from and filters.start_to and filters.start_from >= filters.start_to:
        raise InvalidInput({"start_to": "The end of the period is before its start."})
    conditions: list[Any] = []
    if actor.role == Role.CLIENT:
        conditions.append(Booking.client_id == actor.id)
    elif actor.role == Role.PRACTITIONER:
        # The practitioner's id (one index range) rather than a condition on the joined user.
        conditions.append(
            Booking.practitioner_id == select(Practitioner.id).where(Practitioner.user_id == actor.id).scalar_subquery()
        )
    elif not actor.is_operator:
        raise PermissionDenied(BOOKINGS_ARE_FOR)
    if filters.statuses:
        conditions.append(Booking.status.in_(filters.statuses))
    if filters.leaves_out_cancelled:
        conditions.append(Booking.status != BookingStatus.CANCELLED)
    if filters.start_from is not None:
        conditions.append(Booking.session_start >= filters.start_from)
    if filters.start_to is not None:
        conditions.append(Booking.session_start < filters.start_to)
    if filters.confirmed_only_before is not None:
        conditions.append(
            or_(Booking.session_start >= filters.confirmed_only_before, Booking.status == BookingStatus.CONFIRMED)
        )
    if filters.practitioner_id is not None:
        conditions.append(Booking.practitioner_id == filters.practitioner_id)
    if filters.client_id is not None:
        conditions.append(Booking.client_id == filters.client_id)
    for word in filters.text.lower().split()[:4]:
        pattern = validation.contains(word)
        either = [client.c.search_text.like(pattern), practitioner_user.c.search_text.like(pattern)]
        booking_ids = booking_ids_of_reference(word)
        if booking_ids:
            either.append(Booking.id.between(*booking_ids))
        conditions.append(or_(*either))
    return conditions


def list_for(
    *, session: Session, actor: Actor, filters: BookingFilter = BookingFilter(), page: int = 1, page_size: int = 25
) -> BookingPage:
    """Bookings the actor may see: a client's own, a practitioner's own, everyone's for staff."""
    if page < 1 or not 1 <= page_size <= 200:
        raise InvalidInput({"page": "Pages start at 1 and hold 1 to 200 bookings."})
    statement, client, practitioner_user = _rows_statement()
    conditions = visible_conditions(actor, filters, client, practitioner_user)
    total = session.scalar(select(func.count()).select_from(statement.where(*conditions).subquery())) or 0
    rows = session.execute(
        statement.where(*conditions)
        .order_by(Booking.session_start.asc() if filters.soonest_first else Booking.session_start.desc(), Booking.id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return BookingPage(rows=[BookingRow(**row._mapping) for row in rows], total=total, page=page, page_size=page_size)


def get_for(*, session: Session, actor: Actor, booking_id: uuid.UUID) -> BookingRow:
    if not (actor.is_operator or actor.role in (Role.CLIENT, Role.PRACTITIONER)):
        raise PermissionDenied(BOOKINGS_ARE_FOR)
    statement, _, _ = _rows_statement()
    row = session.execute(statement.where(Booking.id == booking_id)).first()
    if row is None:
        raise not_found()
    found = BookingRow(**row._mapping)
    if (
        actor.is_operator
        or (actor.role == Role.CLIENT and found.client_id == actor.id)
        or (actor.role == Role.PRACTITIONER and found.practitioner_user_id == actor.id)
    ):
        return found
    raise not_found()


def allowed_actions(row: BookingRow, actor: Actor, now: datetime | None = None) -> list[str]:
    """What the actor may do with a booking now: cancel, reschedule, complete, no_show."""
    now = _now(now)
    mine_as_client = actor.role == Role.CLIENT and row.client_id == actor.id
    mine_as_practitioner = actor.role == Role.PRACTITIONER and row.practitioner_user_id == actor.id
    if not (actor.is_operator or mine_as_client or mine_as_practitioner):
        return []
    actions = []
    if row.status in (BookingStatus.PENDING, BookingStatus.CONFIRMED):
        actions.append("cancel")
        if row.session_start > now and (not mine_as_client or client_may_move(row.session_start, now)):
            actions.append("reschedule")
    if row.status == BookingStatus.CONFIRMED and not mine_as_client:
        if row.session_end <= now:
            actions.append("complete")
        if row.session_start <= now:
            actions.append("no_show")
    if (
        row.status == BookingStatus.COMPLETED
        and not mine_as_client
        and now - row.session_end <= NO_SHOW_WINDOW
        and not row.reviewed  # the client came and said so
    ):
        actions.append("no_show")
    return actions
