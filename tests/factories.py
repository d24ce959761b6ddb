"""Test data with sensible defaults: say only what the test cares about."""

from __future__ import annotations

import io
import itertools
import secrets
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from PIL import Image
from sqlalchemy.orm import Session

from avenrae.geo import point_wkt
from avenrae.models import (
    Booking,
    BookingStatus,
    Client,
    MeetingType,
    PaymentStatus,
    PaymentTransaction,
    Practitioner,
    Review,
    ReviewStatus,
    Role,
    Specialization,
    TransactionKind,
    User,
    VerificationStatus,
)
from avenrae.services import accounts, pricing

PASSWORD = "Correct horse battery 9"
PASSWORD_HASH = accounts.hash_password(PASSWORD, rounds=4)  # cost 4: fast tests, same scheme

DURBAN = (-29.8579, 31.0292)
_numbers = itertools.count(1)
# Kept databases (the benchmarks' scratch ones) outlive a process: its e-mails must not collide.
_run = secrets.token_hex(3)


def make_user(session: Session, *, role: Role = Role.CLIENT, email: str | None = None, **fields) -> User:
    n = next(_numbers)
    user = User(
        email=email or f"{role.value}{n}.{_run}@example.co.za",
        password_hash=fields.pop("password_hash", PASSWORD_HASH),
        role=role,
        first_name=fields.pop("first_name", "Test"),
        last_name=fields.pop("last_name", f"Person {n}"),
        **fields,
    )
    session.add(user)
    session.flush()
    return user


def make_client(session: Session, **fields) -> User:
    user = make_user(session, role=Role.CLIENT, **fields)
    session.add(Client(user_id=user.id))
    session.flush()
    return user


def make_practitioner(
    session: Session,
    *,
    location: tuple[float, float] = DURBAN,
    specialization: Specialization = Specialization.HEALER,
    rate: Decimal | str = "400.00",
    verification_status: VerificationStatus = VerificationStatus.VERIFIED,
    user: User | None = None,
    **fields,
) -> Practitioner:
    user_keys = ("first_name", "last_name", "email", "phone", "is_active", "deleted_at")
    user_fields = {key: fields.pop(key) for key in user_keys if key in fields}
    user = user or make_user(session, role=Role.PRACTITIONER, **user_fields)
    practitioner = Practitioner(
        user_id=user.id,
        specialization=specialization,
        bio=fields.pop("bio", "Experienced and kind."),
        location=point_wkt(*location),
        service_address=fields.pop("service_address", "1 Main Street, Durban"),
        city=fields.pop("city", "Durban"),
        province=fields.pop("province", "KwaZulu-Natal"),
        rate_per_session=Decimal(rate),
        session_duration_minutes=fields.pop("session_duration_minutes", 60),
        verification_status=verification_status,
        **fields,
    )
    session.add(practitioner)
    session.flush()
    return practitioner


def make_booking(
    session: Session,
    *,
    practitioner: Practitioner | None = None,
    client: User | None = None,
    start: datetime | None = None,
    minutes: int | None = None,
    status: BookingStatus = BookingStatus.CONFIRMED,
    payment_status: PaymentStatus | None = None,
    **fields,
) -> Booking:
    practitioner = practitioner or make_practitioner(session)
    client = client or make_client(session)
    start = start or datetime(2030, 1, 7, 8, 0, tzinfo=UTC) + timedelta(hours=2 * next(_numbers))
    price = pricing.quote(practitioner.rate_per_session, fields.pop("fee_rate", None))
    booking = Booking(
        client_id=client.id,
        practitioner_id=practitioner.id,
        session_start=start,
        session_end=start + timedelta(minutes=minutes or practitioner.session_duration_minutes),
        blocked_until=start
        + timedelta(minutes=(minutes or practitioner.session_duration_minutes) + (practitioner.buffer_minutes or 0)),
        status=status,
        meeting_type=fields.pop("meeting_type", MeetingType.IN_PERSON),
        service_amount=price.service_amount,
        platform_fee_rate=price.platform_fee_rate,
        platform_fee=price.platform_fee,
        total_amount=price.total_amount,
        payment_status=payment_status
        or (
            PaymentStatus.COMPLETED
            if status in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED)
            else PaymentStatus.PENDING
        ),
        **fields,
    )
    session.add(booking)
    session.flush()
    return booking


def make_transaction(
    session: Session,
    booking: Booking,
    *,
    kind: TransactionKind = TransactionKind.CHARGE,
    amount: Decimal | None = None,
    status: PaymentStatus = PaymentStatus.COMPLETED,
    created_at: datetime | None = None,
    **fields,
) -> PaymentTransaction:
    transaction = PaymentTransaction(
        booking_id=booking.id,
        user_id=booking.client_id,
        kind=kind,
        provider=fields.pop("provider", "manual"),
        method=fields.pop("method", "eft"),
        amount=amount if amount is not None else booking.total_amount,
        status=status,
        idempotency_key=fields.pop("idempotency_key", f"test:{booking.id}:{kind.value}:{next(_numbers)}"),
        **fields,
    )
    if created_at is not None:
        transaction.created_at = created_at
    session.add(transaction)
    session.flush()
    return transaction


def make_review(
    session: Session, booking: Booking, *, rating: int = 5, status: ReviewStatus = ReviewStatus.PUBLISHED, **fields
) -> Review:
    review = Review(
        booking_id=booking.id,
        client_id=booking.client_id,
        practitioner_id=booking.practitioner_id,
        rating=rating,
        comment=fields.pop("comment", "Very helpful."),
        status=status,
        **fields,
    )
    session.add(review)
    session.flush()
    return review


def make_weekly_hours(session: Session, practitioner: Practitioner, ranges: dict[int, list[tuple[str, str]]]) -> None:
    """Weekly hours like {0: [("09:00", "12:00")]} (0 = Monday), in the practitioner's time zone."""
    from avenrae.models import AvailabilitySlot

    for day, day_ranges in ranges.items():
        for start, end in day_ranges:
            session.add(AvailabilitySlot(practitioner_id=practitioner.id, day_of_week=day,
                                         start_time=time.fromisoformat(start), end_time=time.fromisoformat(end)))
    session.flush()


def sample_document(kind: str = "pdf", *, size: tuple[int, int] = (60, 40)) -> bytes:
    """A real, small PDF, JPEG or PNG (drawn by Pillow), as a practitioner would upload."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (47, 107, 79)).save(buffer, {"pdf": "PDF", "jpg": "JPEG", "png": "PNG"}[kind])
    return buffer.getvalue()
