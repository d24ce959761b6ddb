"""ORM models, enums and the constraints the database enforces.

The migrations in `migrations/versions` build exactly this schema; a test compares
the two. Rules that matter for money and scheduling live here as constraints, so the
database refuses bad rows whatever code path writes them.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geography, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    Uuid,
    func,
    or_,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

Money = Numeric(12, 2)


class Role(StrEnum):
    CLIENT = "client"
    PRACTITIONER = "practitioner"
    STAFF = "staff"
    ANALYST = "analyst"
    ADMIN = "admin"


# Role groups, each defined once here; pages and services compose them.
# People who sign up themselves and use the marketplace.
MEMBERS = frozenset({Role.CLIENT, Role.PRACTITIONER})
# Avenrae's own people: they see the operations side (Home).
EMPLOYEES = frozenset({Role.STAFF, Role.ANALYST, Role.ADMIN})
# Employees who act for clients and practitioners: book, cancel, take payments and refunds,
# moderate reviews, verify practitioners, edit anyone's availability.
OPERATORS = frozenset({Role.STAFF, Role.ADMIN})
# Employees who read the analytics.
ANALYSTS = frozenset({Role.ANALYST, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


class Specialization(StrEnum):
    HEALER = "healer"
    PROPHET = "prophet"
    MEDIUM = "medium"
    COUNSELOR = "counselor"


class BookingStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


# Bookings in these states hold their time slot; the exclusion constraint covers them.
SLOT_HOLDING_STATUSES = (BookingStatus.PENDING, BookingStatus.CONFIRMED)


class PaymentStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    REFUNDED = "refunded"
    FAILED = "failed"
    # Nobody paid before the hold ran out (or the booking was cancelled before it was paid).
    EXPIRED = "expired"


class MeetingType(StrEnum):
    IN_PERSON = "in_person"
    ONLINE = "online"


class ReviewStatus(StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"
    REJECTED = "rejected"
    HIDDEN = "hidden"


class VerificationStatus(StrEnum):
    UNVERIFIED = "unverified"
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class ApplicationStatus(StrEnum):
    """Where a verification application stands; the practitioner's status follows it."""

    PENDING = "pending"
    NEEDS_INFORMATION = "needs_information"
    APPROVED = "approved"
    REJECTED = "rejected"


class TransactionKind(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"


def pg_enum(enum_cls: type[StrEnum], name: str) -> Enum:
    """A PostgreSQL enum type that stores the members' values ('no_show', not 'NO_SHOW')."""
    return Enum(enum_cls, name=name, values_callable=lambda members: [m.value for m in members])


def sql_in(column: str, values: tuple[StrEnum, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UuidPk:
    id: Mapped[uuid.UUID] = mapped_column(
        Uuid,
        primary_key=True,
        default=uuid.uuid4,
        server_default=func.gen_random_uuid(),
        sort_order=-100,
    )


class CreatedAt:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), sort_order=100
    )


class Timestamps(CreatedAt):
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        server_default=func.now(),
        onupdate=func.now(),
        sort_order=101,
    )


class User(UuidPk, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        Index(
            "ix_users_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        Index(
            "ix_users_active_by_name",
            "role",
            "first_name",
            "last_name",
            "id",
            postgresql_where=text("is_active IS TRUE AND deleted_at IS NULL"),
        ),
        Index("ix_users_updated_at", "updated_at"),
        Index("ix_users_newest", text("created_at DESC"), "id", postgresql_where=text("deleted_at IS NULL")),
        CheckConstraint("email = btrim(email) AND email LIKE '%_@_%'", name="email_shape"),
    )

    email: Mapped[str] = mapped_column(String(254), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[Role] = mapped_column(pg_enum(Role, "user_role"), nullable=False)
    first_name: Mapped[str] = mapped_column(String(100), nullable=False)
    last_name: Mapped[str] = mapped_column(String(100), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Made by `db seed`: a demo account, refused at login in production.
    is_demo: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What the Users page searches with LIKE '%word%' (trigram-indexed): names and email.
    search_text: Mapped[str] = mapped_column(
        Text, Computed("lower((((first_name || ' ') || last_name) || ' ') || email)", persisted=True)
    )

    practitioner: Mapped[Practitioner | None] = relationship(back_populates="user")
    client: Mapped[Client | None] = relationship(back_populates="user")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


# Case-insensitive uniqueness; login looks users up through the same expression.
Index("uq_users_email_lower", func.lower(User.email), unique=True)

# Users who may not be listed or log in. Few, and indexed on their own, so searches
# exclude them with a cheap anti-join instead of reading every candidate's user row.
UNLISTED_USER = or_(User.is_active.is_(False), User.deleted_at.is_not(None))
Index("ix_users_unlisted", User.id, postgresql_where=UNLISTED_USER)


class Client(UuidPk, CreatedAt, Base):
    __tablename__ = "clients"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True)
    preferred_place: Mapped[str | None] = mapped_column(String(120))
    preferred_location: Mapped[WKBElement | None] = mapped_column(
        Geography(geometry_type="POINT", srid=4326, spatial_index=False)
    )
    preferences: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))

    user: Mapped[User] = relationship(back_populates="client")


class Practitioner(UuidPk, Timestamps, Base):
    __tablename__ = "practitioners"
    __table_args__ = (
        Index("ix_practitioners_location", "location", postgresql_using="gist"),
        Index("ix_practitioners_rating", "rating"),
        Index("ix_practitioners_updated_at", "updated_at"),
        Index("ix_practitioners_search_document", "search_document", postgresql_using="gin"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("review_count >= 0", name="review_count_non_negative"),
        CheckConstraint("rate_per_session >= 0", name="rate_non_negative"),
        CheckConstraint("session_duration_minutes BETWEEN 15 AND 480", name="duration_range"),
        CheckConstraint("service_radius_km BETWEEN 1 AND 500", name="service_radius_range"),
        CheckConstraint("offers_in_person OR offers_online", name="offers_a_meeting_type"),
        CheckConstraint("buffer_minutes BETWEEN 0 AND 240", name="buffer_range"),
        CheckConstraint("min_notice_minutes BETWEEN 0 AND 20160", name="notice_range"),
        CheckConstraint("booking_horizon_days BETWEEN 1 AND 365", name="horizon_range"),
        CheckConstraint(
            "location_precision IN ('place', 'postal area', 'city', 'map pin', 'online')",
            name="location_precision_known",
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True)
    specialization: Mapped[Specialization] = mapped_column(
        pg_enum(Specialization, "specialization_type"), nullable=False
    )
    bio: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    # Mean of published reviews; NULL until the first one is published.
    rating: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    review_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    location: Mapped[WKBElement] = mapped_column(
        Geography(geometry_type="POINT", srid=4326, spatial_index=False), nullable=False
    )
    service_address: Mapped[str] = mapped_column(String(255), nullable=False)
    city: Mapped[str | None] = mapped_column(String(120))
    province: Mapped[str | None] = mapped_column(String(40))
    # How the location was found ("place", "postal area", "city", "map pin", "online"; NULL for
    # older rows: the town) and what the practitioner was told ("Umlazi, KwaZulu-Natal (postal area 4066)").
    location_precision: Mapped[str | None] = mapped_column(String(20))
    location_note: Mapped[str | None] = mapped_column(String(300))
    service_radius_km: Mapped[int] = mapped_column(Integer, nullable=False, server_default="50")
    rate_per_session: Mapped[Decimal] = mapped_column(Money, nullable=False)
    session_duration_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default="60")
    offers_in_person: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    offers_online: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    verification_status: Mapped[VerificationStatus] = mapped_column(
        pg_enum(VerificationStatus, "verification_status"),
        nullable=False,
        server_default=VerificationStatus.UNVERIFIED.value,
    )
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A statutory registration staff confirmed at verification ("HPCSA PS 0123456");
    # without one, profiles say the practitioner is not a registered health professional.
    health_registration: Mapped[str | None] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False, server_default="Africa/Johannesburg")
    # Scheduling: a gap kept free around each session, how soon and how far ahead clients may book.
    buffer_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    min_notice_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default="120")
    booking_horizon_days: Mapped[int] = mapped_column(Integer, nullable=False, server_default="60")
    # Name, specialization and bio for full-text search; set by a database trigger
    # (practitioner_search_document), also when the user's name changes.
    search_document: Mapped[str] = mapped_column(
        TSVECTOR, nullable=False, server_default=text("''::tsvector"), deferred=True
    )

    user: Mapped[User] = relationship(back_populates="practitioner")

    @property
    def meeting_types(self) -> list[MeetingType]:
        offered = [(self.offers_in_person, MeetingType.IN_PERSON), (self.offers_online, MeetingType.ONLINE)]
        return [kind for flag, kind in offered if flag]


class PractitionerMapPoint(Base):
    """The columns a practitioner search filters on, narrow, for the map's count of every match
    per grid cell (the wide practitioners table costs ten times the pages to read). Kept in
    step by statement-level triggers on practitioners (migration 20261204_map_points)."""

    __tablename__ = "practitioner_map_points"
    __table_args__ = (Index("ix_practitioner_map_points_location", "location", postgresql_using="gist"),)

    id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practitioners.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    location: Mapped[WKBElement] = mapped_column(
        Geography(geometry_type="POINT", srid=4326, spatial_index=False), nullable=False
    )
    service_radius_km: Mapped[int] = mapped_column(Integer, nullable=False)
    specialization: Mapped[Specialization] = mapped_column(
        pg_enum(Specialization, "specialization_type"), nullable=False
    )
    verification_status: Mapped[VerificationStatus] = mapped_column(
        pg_enum(VerificationStatus, "verification_status"), nullable=False
    )
    rating: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    rate_per_session: Mapped[Decimal] = mapped_column(Money, nullable=False)
    offers_in_person: Mapped[bool] = mapped_column(Boolean, nullable=False)
    offers_online: Mapped[bool] = mapped_column(Boolean, nullable=False)


class AvailabilitySlot(UuidPk, CreatedAt, Base):
    """A weekly working-hours range, in the practitioner's time zone (0 = Monday)."""

    __tablename__ = "availability_slots"
    __table_args__ = (
        Index("ix_availability_slots_practitioner_day", "practitioner_id", "day_of_week"),
        CheckConstraint("day_of_week BETWEEN 0 AND 6", name="day_of_week_range"),
        CheckConstraint("start_time < end_time", name="starts_before_end"),
    )

    practitioner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), nullable=False
    )
    day_of_week: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    start_time: Mapped[time] = mapped_column(Time, nullable=False)
    end_time: Mapped[time] = mapped_column(Time, nullable=False)


class AvailabilityException(UuidPk, CreatedAt, Base):
    """Time off: the practitioner cannot be booked between starts_at and ends_at."""

    __tablename__ = "availability_exceptions"
    __table_args__ = (
        Index("ix_availability_exceptions_practitioner_start", "practitioner_id", "starts_at"),
        CheckConstraint("starts_at < ends_at", name="starts_before_end"),
    )

    practitioner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), nullable=False
    )
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")


class AvailabilityOverride(UuidPk, CreatedAt, Base):
    """Different hours on one date: the ranges of that date replace its weekly hours."""

    __tablename__ = "availability_overrides"
    __table_args__ = (
        Index("ix_availability_overrides_practitioner_date", "practitioner_id", "on_date"),
        CheckConstraint("start_time < end_time", name="starts_before_end"),
    )

    practitioner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), nullable=False
    )
    on_date: Mapped[date] = mapped_column(Date, nullable=False)
    start_time: Mapped[time] = mapped_column(Time, nullable=False)
    end_time: Mapped[time] = mapped_column(Time, nullable=False)


def booking_reference(booking_id: uuid.UUID | str) -> str:
    """The reference people quote for a booking (on a bank transfer, to staff, in the audit
    log): AVN- and the first eight hex digits of its id."""
    return "AVN-" + str(booking_id).replace("-", "")[:8].upper()


_REFERENCE = re.compile(r"(avn-?)?([0-9a-f]{8})", re.IGNORECASE)


def booking_ids_of_reference(word: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The range of booking ids a typed reference ("AVN-1A2B3C4D", "avn-1a2b3c4d", or the
    eight digits alone) stands for, to search along an index on the id; None when the word
    is not a reference (eight letters a-f alone, such as "fabaceae", are a word)."""
    found = _REFERENCE.fullmatch(word.strip())
    if found is None or (found[1] is None and found[2].isalpha()):
        return None
    start = found[2].lower()
    return uuid.UUID(start + "0" * 24), uuid.UUID(start + "f" * 24)


class Booking(UuidPk, Timestamps, Base):
    __tablename__ = "bookings"
    __table_args__ = (
        ExcludeConstraint(
            (text("practitioner_id"), "="),
            (text("tstzrange(session_start, blocked_until, '[)')"), "&&"),
            name="ex_bookings_no_overlap",
            using="gist",
            where=text(sql_in("status", SLOT_HOLDING_STATUSES)),
        ),
        Index("ix_bookings_status_session_start", "status", "session_start"),
        Index("ix_bookings_practitioner_session_start", "practitioner_id", "session_start"),
        Index("ix_bookings_client_session_start", "client_id", "session_start"),
        # Bookings that owe a refund (cancelled, or paid beyond the price): Payments and the refund job.
        Index("ix_bookings_refund_owed", "cancelled_at", postgresql_where=text("refund_due > 0")),
        CheckConstraint("session_end > session_start", name="session_ends_after_start"),
        CheckConstraint("blocked_until >= session_end", name="blocked_after_end"),
        CheckConstraint(
            "service_amount >= 0 AND platform_fee >= 0 AND total_amount >= 0",
            name="amounts_non_negative",
        ),
        CheckConstraint("total_amount = service_amount + platform_fee", name="total_is_service_plus_fee"),
        CheckConstraint("platform_fee_rate >= 0 AND platform_fee_rate < 1", name="fee_rate_range"),
        CheckConstraint("platform_fee = round(service_amount * platform_fee_rate, 2)", name="fee_matches_rate"),
        CheckConstraint("currency = 'ZAR'", name="currency_zar"),
        # Not capped at the price: money paid twice is owed back too (the ledger's trigger
        # caps what is refunded at what was paid).
        CheckConstraint("refund_due >= 0", name="refund_due_non_negative"),
        CheckConstraint("cancelled_for IN ('client', 'practitioner')", name="cancelled_for_party"),
        Index("ix_bookings_pending_hold", "hold_expires_at", postgresql_where=text("status = 'pending'")),
        # A client's unpaid holds, counted by every booking (the cap on unpaid holds).
        Index(
            "ix_bookings_client_pending_hold",
            "client_id",
            "hold_expires_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # What changed since the analytics rollups were last refreshed.
        Index("ix_bookings_updated_at", "updated_at"),
        Index("ix_bookings_session_start_id", "session_start", "id"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    practitioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practitioners.id"), nullable=False)
    # Staff member who booked on the client's behalf, if any.
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    session_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    session_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The end of the session plus the practitioner's buffer: the time the booking keeps
    # free, and what the no-overlap constraint compares.
    blocked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[BookingStatus] = mapped_column(
        pg_enum(BookingStatus, "booking_status"),
        nullable=False,
        server_default=BookingStatus.PENDING.value,
    )
    meeting_type: Mapped[MeetingType] = mapped_column(pg_enum(MeetingType, "meeting_type"), nullable=False)
    notes: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    currency: Mapped[str] = mapped_column(String(3), nullable=False, server_default="ZAR")
    service_amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    platform_fee_rate: Mapped[Decimal] = mapped_column(Numeric(5, 4), nullable=False)
    platform_fee: Mapped[Decimal] = mapped_column(Money, nullable=False)
    total_amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    payment_status: Mapped[PaymentStatus] = mapped_column(
        pg_enum(PaymentStatus, "payment_status"),
        nullable=False,
        server_default=PaymentStatus.PENDING.value,
    )
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The hosted payment page for this booking (one per booking; see services/payments.py).
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_checkout_url: Mapped[str | None] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # Whose cancellation it was, whoever entered it (staff cancel for either party): the
    # refund policy's question, so the booking can say "at the client's request".
    cancelled_for: Mapped[str | None] = mapped_column(String(12))
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    # An unpaid pending booking holds its slot until then, and is cancelled after.
    hold_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # How the client is paying a pending booking: 'online' (a card, minutes) or 'eft' (a bank
    # transfer, a day: see bookings.hold_until).
    pays_by: Mapped[str | None] = mapped_column(String(8))
    # What the cancellation policy says the client gets back; payments pays it.
    refund_due: Mapped[Decimal | None] = mapped_column(Money)
    # Refunds already made or under way when refund_due was set (at the cancellation, or when
    # money beyond the price arrived): what is still owed is refund_due less the refunds made
    # since (services/ledger.owed).
    refunded_before_cancel: Mapped[Decimal] = mapped_column(Money, nullable=False, server_default="0")

    practitioner: Mapped[Practitioner] = relationship()
    client: Mapped[User] = relationship(foreign_keys=[client_id])


class Review(UuidPk, Timestamps, Base):
    __tablename__ = "reviews"
    __table_args__ = (
        Index("ix_reviews_practitioner_status", "practitioner_id", "status"),
        Index("ix_reviews_status_created_at", "status", "created_at"),
        Index("ix_reviews_queue", "status", text("(cardinality(flags) > 0) DESC"), "created_at", "id"),
        Index("ix_reviews_updated_at", "updated_at"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("char_length(comment) <= 2000", name="comment_length"),
        CheckConstraint("char_length(practitioner_reply) <= 2000", name="reply_length"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), nullable=False, unique=True)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    practitioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practitioners.id"), nullable=False)
    rating: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    status: Mapped[ReviewStatus] = mapped_column(
        pg_enum(ReviewStatus, "review_status"),
        nullable=False,
        server_default=ReviewStatus.PENDING.value,
    )
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'::text[]"))
    moderation_reason: Mapped[str | None] = mapped_column(Text)
    moderated_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    moderated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    practitioner_reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VerificationApplication(UuidPk, Timestamps, Base):
    """A practitioner's request to be verified, and staff's decision on it."""

    __tablename__ = "verification_applications"
    __table_args__ = (
        # One open application per practitioner at a time.
        Index(
            "uq_verification_applications_open",
            "practitioner_id",
            unique=True,
            postgresql_where=text("status IN ('pending', 'needs_information')"),
        ),
        Index("ix_verification_applications_status_created_at", "status", "created_at"),
        CheckConstraint("years_of_practice BETWEEN 0 AND 80", name="years_range"),
        CheckConstraint("char_length(statement) BETWEEN 1 AND 4000", name="statement_length"),
        CheckConstraint("char_length(legal_name) BETWEEN 2 AND 200", name="legal_name_length"),
    )

    practitioner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), nullable=False
    )
    legal_name: Mapped[str] = mapped_column(String(200), nullable=False)
    registration_body: Mapped[str | None] = mapped_column(String(120))
    registration_number: Mapped[str | None] = mapped_column(String(60))
    years_of_practice: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    statement: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[ApplicationStatus] = mapped_column(
        pg_enum(ApplicationStatus, "application_status"),
        nullable=False,
        server_default=ApplicationStatus.PENDING.value,
    )
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VerificationDocument(UuidPk, CreatedAt, Base):
    """A supporting document, kept in the database (never under the web root)."""

    __tablename__ = "verification_documents"
    __table_args__ = (
        Index("ix_verification_documents_application", "application_id"),
        CheckConstraint("content_type IN ('application/pdf', 'image/jpeg', 'image/png')", name="content_type_allowed"),
        CheckConstraint("octet_length(content) BETWEEN 1 AND 5242880", name="size_limit"),
        CheckConstraint("thumbnail IS NULL OR octet_length(thumbnail) <= 262144", name="thumbnail_size_limit"),
    )

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("verification_applications.id", ondelete="CASCADE"), nullable=False
    )
    file_name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(40), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    # A small JPEG made when an image was uploaded (decoded in full once, then); None for PDFs.
    thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class VerificationMessage(UuidPk, CreatedAt, Base):
    """The conversation on an application: submitted, asked for more, replied, decided."""

    __tablename__ = "verification_messages"
    __table_args__ = (Index("ix_verification_messages_application_created_at", "application_id", "created_at"),)

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("verification_applications.id", ondelete="CASCADE"), nullable=False
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, server_default="")


class PaymentTransaction(UuidPk, CreatedAt, Base):
    """One movement of money for a booking: a charge or a refund."""

    __tablename__ = "payment_transactions"
    __table_args__ = (
        Index("ix_payment_transactions_booking", "booking_id"),
        Index("ix_payment_transactions_created_at", "created_at"),
        Index(
            "ix_payment_transactions_provider_reference",
            "provider_reference",
            postgresql_where=text("provider_reference IS NOT NULL"),
        ),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("currency = 'ZAR'", name="currency_zar"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    kind: Mapped[TransactionKind] = mapped_column(pg_enum(TransactionKind, "transaction_kind"), nullable=False)
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    method: Mapped[str | None] = mapped_column(String(16))
    provider_reference: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, server_default="ZAR")
    status: Mapped[PaymentStatus] = mapped_column(pg_enum(PaymentStatus, "payment_status"), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # A refund: the charge it gives money back from.
    refund_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payment_transactions.id"))


class CheckoutPage(CreatedAt, Base):
    """A payment page this platform made for a booking: only money taken on one of these,
    of the amount and currency it asked for, counts for the booking. `kind` "checkout" is a
    hosted page (Stripe Checkout); "intent" a PaymentIntent a client app confirms with its
    own card form (its client_secret), `reference` being the intent's id."""

    __tablename__ = "checkout_pages"
    __table_args__ = (
        Index("ix_checkout_pages_booking", "booking_id"),
        Index("ix_checkout_pages_open", "booking_id", postgresql_where=text("closed_at IS NULL")),
        CheckConstraint("kind IN ('checkout', 'intent')", name="kind_known"),
    )

    reference: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, server_default=text("'checkout'"))
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), nullable=False)
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    amount_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # When it stopped taking money: closed at the provider once the booking was cancelled,
    # or found finished (paid, run out). NULL: it may still take money.
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PayoutAccount(Timestamps, Base):
    """The bank account a practitioner's earnings are paid into (South African banks: a
    six-digit branch code and an account number)."""

    __tablename__ = "payout_accounts"
    __table_args__ = (
        CheckConstraint("branch_code ~ '^[0-9]{6}$'", name="branch_code_six_digits"),
        CheckConstraint("account_number ~ '^[0-9]{6,16}$'", name="account_number_digits"),
    )

    practitioner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), primary_key=True
    )
    bank_name: Mapped[str] = mapped_column(String(60), nullable=False)
    account_holder: Mapped[str] = mapped_column(String(100), nullable=False)
    account_number: Mapped[str] = mapped_column(String(16), nullable=False)
    branch_code: Mapped[str] = mapped_column(String(6), nullable=False)


class Payout(UuidPk, CreatedAt, Base):
    """Money paid out to a practitioner: prepared (set aside, so nobody else pays it, while
    staff make the transfer), then paid (with the bank's reference) or cancelled. What they
    earned from sessions that ended before `earned_before`, less what was paid out before. The
    account it goes to is kept as it was when prepared (bank and last four digits)."""

    __tablename__ = "payouts"
    __table_args__ = (
        Index("ix_payouts_practitioner_created_at", "practitioner_id", "created_at"),
        # One payout in preparation per practitioner: two staff never set aside the same money.
        Index(
            "uq_payouts_one_prepared",
            "practitioner_id",
            unique=True,
            postgresql_where=text("status = 'prepared'"),
        ),
        # One bank transfer is one payout.
        Index(
            "uq_payouts_reference",
            "practitioner_id",
            text("lower(reference)"),
            unique=True,
            postgresql_where=text("status = 'paid'"),
        ),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('prepared', 'paid', 'cancelled')", name="status_known"),
        CheckConstraint(
            "status <> 'paid' OR (reference IS NOT NULL AND paid_at IS NOT NULL AND paid_by_id IS NOT NULL)",
            name="paid_with_reference",
        ),
    )

    practitioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practitioners.id"), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, server_default=text("'prepared'"))
    bank_name: Mapped[str] = mapped_column(String(60), nullable=False)
    account_number_end: Mapped[str] = mapped_column(String(4), nullable=False)  # the last four digits
    earned_before: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    prepared_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    reference: Mapped[str | None] = mapped_column(String(100))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RefreshToken(UuidPk, CreatedAt, Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_user", "user_id"),
        Index("ix_refresh_tokens_family", "family_id"),
        Index("ix_refresh_tokens_expires_at", "expires_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PasswordReset(UuidPk, CreatedAt, Base):
    """A link e-mailed to choose a new password: only its hash is kept, it works once, and
    until it runs out or a newer link is asked for."""

    __tablename__ = "password_resets"
    __table_args__ = (
        Index("ix_password_resets_user_created_at", "user_id", "created_at"),
        Index("ix_password_resets_expires_at", "expires_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ip_address: Mapped[str | None] = mapped_column(String(45))


class Notification(UuidPk, CreatedAt, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_created_at", "user_id", "created_at"),
        Index("ix_notifications_email_pending", "created_at", postgresql_where=text("email_status = 'pending'")),
        CheckConstraint("email_status IN ('none', 'pending', 'sent', 'failed')", name="email_status_known"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    type: Mapped[str] = mapped_column(String(50), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The e-mail outbox: 'pending' until a job has sent it (only when SMTP is configured).
    email_status: Mapped[str] = mapped_column(String(10), nullable=False, server_default="none")


class AuditLog(UuidPk, CreatedAt, Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_created_at", "created_at"),
        Index("ix_audit_log_actor_created_at", "actor_id", "created_at"),
        Index("ix_audit_log_target", "target_type", "target_id"),
    )

    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(80), nullable=False)
    target_type: Mapped[str] = mapped_column(String(50), nullable=False)
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)


class StripeEvent(Base):
    """A Stripe webhook event, kept so each one is applied exactly once."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), index=True
    )
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UnmatchedPayment(UuidPk, CreatedAt, Base):
    """Money that arrived naming a booking but not as this platform asked for it (another
    payment page, another amount or currency): never counted, refunded, shown to staff."""

    __tablename__ = "unmatched_payments"

    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    # The provider's id of the money movement (a PaymentIntent); one row per payment.
    payment_reference: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    event_id: Mapped[str | None] = mapped_column(String(255))
    # The booking it named, if that booking exists.
    booking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bookings.id"))
    named_booking: Mapped[str | None] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    # pending until the provider has the refund; refunded, failed, or nothing_to_refund.
    refund_status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="pending")
    refund_reference: Mapped[str | None] = mapped_column(String(255))
    refund_failure: Mapped[str | None] = mapped_column(Text)


class SessionCode(Base):
    """A single-use code the browser trades for setting or clearing the remember-me
    cookie (see avenrae/ui/auth.py). The token is stored enciphered with the code, which
    only the browser has, so these rows alone give nobody a session."""

    __tablename__ = "session_codes"
    __table_args__ = (Index("ix_session_codes_expires_at", "expires_at"),)

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class IdempotencyKey(Base):
    """A request the API answered under a client's Idempotency-Key: a retry of the same
    request gets this answer again instead of being carried out twice."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    response: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class RateLimitCounter(Base):
    """Hits per key (an action and who: "login-ip:196.25.1.1") in its current fixed window
    and the one before it, from which a sliding window is estimated. One row per key: a hit
    in a later window moves the row along."""

    __tablename__ = "rate_limits"
    __table_args__ = (Index("ix_rate_limits_window_start", "window_start"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
    previous_hits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class PreviousReleaseRateLimitCounter(Base):
    """The previous release's counters, a row per key and window: its servers count here
    until restarted during an upgrade. Nothing in this release writes it; the purge empties
    it, and a later release drops it."""

    __tablename__ = "rate_limit_counters"
    __table_args__ = (Index("ix_rate_limit_counters_window_start", "window_start"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)


class SearchLog(UuidPk, Base):
    """One practitioner search, without who searched: where, how far, which filters, what came back."""

    __tablename__ = "search_log"
    __table_args__ = (
        Index("ix_search_log_centre", "centre", postgresql_using="gist"),
        Index("ix_search_log_searched_at", "searched_at"),
        CheckConstraint("radius_km > 0 AND radius_km <= 500", name="radius_range"),
        CheckConstraint("results_found >= 0", name="results_non_negative"),
    )

    searched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    centre: Mapped[WKBElement] = mapped_column(
        Geography(geometry_type="POINT", srid=4326, spatial_index=False), nullable=False
    )
    place: Mapped[str | None] = mapped_column(String(160))
    radius_km: Mapped[Decimal] = mapped_column(Numeric(6, 2), nullable=False)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    # Results on the first page, capped at page size + 1; zero means demand nobody met.
    results_found: Mapped[int] = mapped_column(Integer, nullable=False)
    more_results: Mapped[bool] = mapped_column(Boolean, nullable=False)


class LoginAttempt(UuidPk, Base):
    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_attempted_at", "email", "attempted_at"),
        Index("ix_login_attempts_attempted_at", "attempted_at"),
        CheckConstraint(
            "reason IN ('ok', 'unknown_email', 'bad_password', 'inactive', 'locked', 'password_reset')",
            name="reason_known",
        ),
    )

    email: Mapped[str] = mapped_column(String(254), nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # ok, unknown_email, bad_password (these two count towards a lockout), inactive, locked,
    # password_reset (a new password chosen from an e-mailed link: succeeded, so it ends a lockout)
    reason: Mapped[str] = mapped_column(String(20), nullable=False)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


# -- analytics rollups, kept by `python -m avenrae jobs refresh-analytics` (services/analytics.py)

# Sums over many bookings: wider than one booking's Money.
Total = Numeric(16, 2)


class Measures:
    """What every analytics rollup row adds up. Booking counts follow the session's day;
    money follows the ledger: completed charges and refunds on the day they were made."""

    bookings: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", sort_order=10)
    completed: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", sort_order=11)
    cancelled: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", sort_order=12)
    no_shows: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", sort_order=13)
    charges: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", sort_order=14)
    gross: Mapped[Decimal] = mapped_column(Total, nullable=False, server_default="0", sort_order=15)
    gross_fees: Mapped[Decimal] = mapped_column(Total, nullable=False, server_default="0", sort_order=16)
    refund_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", sort_order=17)
    refunds: Mapped[Decimal] = mapped_column(Total, nullable=False, server_default="0", sort_order=18)
    refunded_fees: Mapped[Decimal] = mapped_column(Total, nullable=False, server_default="0", sort_order=19)
    rating_sum: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", sort_order=20)
    rating_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", sort_order=21)


class SessionMeasures:
    """For the map: the day's sessions by status, and what clients paid for them (the
    ledger net of refunds, whenever paid)."""

    pending: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", sort_order=30)
    confirmed: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", sort_order=31)
    paid_pending: Mapped[Decimal] = mapped_column(Total, nullable=False, server_default="0", sort_order=32)
    paid_confirmed: Mapped[Decimal] = mapped_column(Total, nullable=False, server_default="0", sort_order=33)
    paid_completed: Mapped[Decimal] = mapped_column(Total, nullable=False, server_default="0", sort_order=34)
    paid_cancelled: Mapped[Decimal] = mapped_column(Total, nullable=False, server_default="0", sort_order=35)
    paid_no_show: Mapped[Decimal] = mapped_column(Total, nullable=False, server_default="0", sort_order=36)


class AnalyticsPractitionerDay(Measures, SessionMeasures, Base):
    """One practitioner's figures for one day and meeting type: the finest rollup, which
    every other one is summed from."""

    __tablename__ = "analytics_practitioner_days"
    __table_args__ = (Index("ix_analytics_practitioner_days_day", "day", postgresql_using="brin"),)

    practitioner_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, sort_order=-3)
    day: Mapped[date] = mapped_column(Date, primary_key=True, sort_order=-2)
    meeting_type: Mapped[MeetingType] = mapped_column(
        pg_enum(MeetingType, "meeting_type"), primary_key=True, sort_order=-1
    )


class AnalyticsDay(Measures, Base):
    """The whole platform's figures per day, specialization, province and meeting type."""

    __tablename__ = "analytics_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True, sort_order=-4)
    specialization: Mapped[Specialization] = mapped_column(
        pg_enum(Specialization, "specialization_type"), primary_key=True, sort_order=-3
    )
    province: Mapped[str] = mapped_column(String(40), primary_key=True, sort_order=-2)
    meeting_type: Mapped[MeetingType] = mapped_column(
        pg_enum(MeetingType, "meeting_type"), primary_key=True, sort_order=-1
    )


class AnalyticsPractitionerMonth(Measures, Base):
    """One practitioner's figures for one calendar month and meeting type: rankings over
    whole months read these instead of thirty times as many practitioner-days."""

    __tablename__ = "analytics_practitioner_months"
    __table_args__ = (Index("ix_analytics_practitioner_months_month_gross", "month", "gross"),)

    practitioner_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, sort_order=-3)
    month: Mapped[date] = mapped_column(Date, primary_key=True, sort_order=-2)
    meeting_type: Mapped[MeetingType] = mapped_column(
        pg_enum(MeetingType, "meeting_type"), primary_key=True, sort_order=-1
    )


class _CityKeys:
    specialization: Mapped[Specialization] = mapped_column(
        pg_enum(Specialization, "specialization_type"), primary_key=True, sort_order=-4
    )
    province: Mapped[str] = mapped_column(String(40), primary_key=True, sort_order=-3)
    city: Mapped[str] = mapped_column(String(120), primary_key=True, sort_order=-2)
    meeting_type: Mapped[MeetingType] = mapped_column(
        pg_enum(MeetingType, "meeting_type"), primary_key=True, sort_order=-1
    )


class AnalyticsCityDay(Measures, _CityKeys, Base):
    """Figures per day, city (with its province), specialization and meeting type: the
    part-months at the edges of a period."""

    __tablename__ = "analytics_city_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True, sort_order=-5)


class AnalyticsCityMonth(Measures, _CityKeys, Base):
    """Figures per calendar month, city, specialization and meeting type: the whole months of a period."""

    __tablename__ = "analytics_city_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True, sort_order=-5)


class AnalyticsPractitionerProfile(Base):
    """Where each practitioner counts in the rollups: the dimensions as last refreshed and
    the hexagon of the map grid their practice lies in."""

    __tablename__ = "analytics_practitioner_profiles"
    __table_args__ = (Index("ix_analytics_practitioner_profiles_cell", "cell_i", "cell_j"),)

    practitioner_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    specialization: Mapped[Specialization] = mapped_column(
        pg_enum(Specialization, "specialization_type"), nullable=False
    )
    province: Mapped[str] = mapped_column(String(40), nullable=False)
    city: Mapped[str] = mapped_column(String(120), nullable=False)
    cell_i: Mapped[int] = mapped_column(Integer, nullable=False)
    cell_j: Mapped[int] = mapped_column(Integer, nullable=False)


class AnalyticsCellMonth(Base):
    """Bookings per map hexagon, month of the session, specialization and status."""

    __tablename__ = "analytics_cell_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    cell_i: Mapped[int] = mapped_column(Integer, primary_key=True)
    cell_j: Mapped[int] = mapped_column(Integer, primary_key=True)
    specialization: Mapped[Specialization] = mapped_column(
        pg_enum(Specialization, "specialization_type"), primary_key=True
    )
    status: Mapped[BookingStatus] = mapped_column(pg_enum(BookingStatus, "booking_status"), primary_key=True)
    bookings: Mapped[int] = mapped_column(Integer, nullable=False)
    # What clients paid for these sessions, net of refunds (the ledger, whenever paid).
    paid: Mapped[Decimal] = mapped_column(Total, nullable=False)


class AnalyticsCellSupply(Base):
    """Active practitioners per map hexagon, specialization and city, as last refreshed."""

    __tablename__ = "analytics_cell_supply"

    cell_i: Mapped[int] = mapped_column(Integer, primary_key=True)
    cell_j: Mapped[int] = mapped_column(Integer, primary_key=True)
    specialization: Mapped[Specialization] = mapped_column(
        pg_enum(Specialization, "specialization_type"), primary_key=True
    )
    # The province and city the practitioners count under (as in their profiles), with the
    # sums of their coordinates: Home's map of supply by city adds these up.
    province: Mapped[str] = mapped_column(String(40), primary_key=True)
    city: Mapped[str] = mapped_column(String(120), primary_key=True)
    practitioners: Mapped[int] = mapped_column(Integer, nullable=False)
    verified: Mapped[int] = mapped_column(Integer, nullable=False)
    latitude_sum: Mapped[float] = mapped_column(Float, nullable=False)
    longitude_sum: Mapped[float] = mapped_column(Float, nullable=False)


class AnalyticsCellDemand(Base):
    """Searches per map hexagon (by the search's centre) and day; unmet ones found nobody."""

    __tablename__ = "analytics_cell_demand"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    cell_i: Mapped[int] = mapped_column(Integer, primary_key=True)
    cell_j: Mapped[int] = mapped_column(Integer, primary_key=True)
    searches: Mapped[int] = mapped_column(Integer, nullable=False)
    unmet: Mapped[int] = mapped_column(Integer, nullable=False)


class AnalyticsRefresh(Base):
    """When the rollups were last brought up to date, and up to which moment of the data."""

    __tablename__ = "analytics_refresh"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    # Rows changed at or after this moment (less a safety margin) are looked at next time.
    watermark: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    seconds: Mapped[Decimal] = mapped_column(Numeric(10, 3), nullable=False)
    full_rebuild: Mapped[bool] = mapped_column(Boolean, nullable=False)


class AnalyticsMovedBooking(Base):
    """Where a booking was before it moved to another time: the day it left is recomputed by
    the next refresh, which empties this table. Written by a trigger on bookings, so no way
    of moving a booking can miss it. (A booking handed to another practitioner, which no
    part of the app does, would also need the old practitioner's payment days: a full
    refresh puts that right.)"""

    __tablename__ = "analytics_moved_bookings"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    practitioner_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    session_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class GeocodeCache(Base):
    """What an online geocoder answered for a query, so each query is asked once; found = false keeps refusals."""

    __tablename__ = "geocode_cache"
    __table_args__ = (
        CheckConstraint(
            "NOT found OR (latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180 AND province IS NOT NULL)",
            name="found_has_a_point",
        ),
    )

    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    query_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    found: Mapped[bool] = mapped_column(Boolean, nullable=False)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    name: Mapped[str | None] = mapped_column(String(200))
    province: Mapped[str | None] = mapped_column(String(40))
    display_name: Mapped[str | None] = mapped_column(Text)
    looked_up_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class JobRun(Base):
    """One run of a background job by one app server: the scheduler runs a job only when its
    last run (by any server) is older than the job's interval, so jobs run once across servers."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_name_started_at", "name", "started_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    server: Mapped[str] = mapped_column(String(120), nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    report: Mapped[str | None] = mapped_column(Text)
