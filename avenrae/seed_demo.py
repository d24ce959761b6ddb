"""After the bulk load: what each demo login finds to do on every page, made through the
platform's own flows (so it is exactly what real use leaves behind).

- the demo client: a completed session still open for review, and a booking waiting for
  their EFT;
- staff: an EFT to record, a refund to pay out, practitioners waiting for verification;
- everyone: no seeded moment lies in the future.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.orm import Session

from avenrae.config import normalise_database_url
from avenrae.models import Booking, MeetingType, PayoutAccount, Practitioner, Review, Role, User, VerificationStatus
from avenrae.services import availability, bookings, flows, payouts, reviews, verification
from avenrae.services.errors import ServiceError

APPLICANTS = 12


def _document(name: str, specialization: str) -> bytes:
    """A one-page certificate with the applicant's name, marked as demo data, so staff
    reviewing an application see what a real one looks like."""
    page = Image.new("RGB", (842, 595), (250, 246, 236))
    draw = ImageDraw.Draw(page)
    draw.rectangle((24, 24, 818, 571), outline=(122, 92, 48), width=6)
    lines = [
        (70, "Certificate of Training", 44),
        (170, "This certifies that", 22),
        (215, name, 38),
        (290, f"has completed training as a {specialization}", 22),
        (330, "under a recognised mentor, over four years of training.", 22),
        (470, "DEMO DOCUMENT: generated with the demo data, not a real certificate.", 18),
    ]
    for top, words, size in lines:
        font = ImageFont.load_default(size=size)
        width = draw.textlength(words, font=font)
        draw.text(((842 - width) / 2, top), words, fill=(60, 44, 20), font=font)
    buffer = io.BytesIO()
    page.save(buffer, "PDF", resolution=150)  # 14 cm wide: fits the viewer beside the decision
    return buffer.getvalue()


def _user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email))
    assert user is not None, f"the demo account {email} is missing"
    return user


def _next_open_time(session: Session, practitioner_id, now: datetime, days_ahead: int) -> datetime | None:
    slots = availability.bookable_slots(
        session=session,
        practitioner_id=practitioner_id,
        start=now + timedelta(days=days_ahead),
        end=now + timedelta(days=days_ahead + 21),
        now=now,
    )
    return slots[0] if slots else None


def _book(session: Session, client: User, practitioner: Practitioner, now: datetime, days_ahead: int) -> Booking | None:
    start = _next_open_time(session, practitioner.id, now, days_ahead)
    if start is None:
        return None
    meeting = MeetingType.ONLINE if practitioner.offers_online else MeetingType.IN_PERSON
    try:
        with session.begin_nested():
            return flows.book(
                session=session,
                request=bookings.BookingRequest(client.id, practitioner.id, start, meeting, "Booked for the demo."),
                actor=bookings.Actor(client.id, Role.CLIENT),
                now=now,
            )
    except ServiceError:  # e.g. the client already holds as many unpaid bookings as allowed
        return None


def _reviewable(session: Session, client: User, now: datetime) -> None:
    """The demo client's latest completed session of the last 60 days has no review, so My
    reviews has something to review."""
    latest = session.scalar(
        select(Booking)
        .where(
            Booking.client_id == client.id, reviews.open_for_review(now), Booking.session_end > now - timedelta(days=60)
        )
        .order_by(Booking.session_end.desc())
        .limit(1)
    )
    if latest is not None:
        review = session.scalar(select(Review).where(Review.booking_id == latest.id))
        if review is not None:
            session.delete(review)
            session.flush()


FLAGGED_REVIEW = (
    "She helped me so much. She cured my sugar diabetes in one session! "
    "Call her on 082 555 0142 and tell her I sent you."
)


def _flagged_review(session: Session, client: User, now: datetime) -> None:
    """A review waiting for moderation that the checks flag (a phone number, a claimed cure),
    written by another client about their latest session, so staff can practise on it."""
    latest = session.scalar(
        select(Booking)
        .where(Booking.client_id != client.id, reviews.open_for_review(now))
        .order_by(Booking.session_end.desc())
        .limit(1)
    )
    if latest is None:
        return
    review = session.scalar(select(Review).where(Review.booking_id == latest.id))
    if review is not None:
        session.delete(review)
        session.flush()
    reviews.write(
        session=session,
        actor=bookings.Actor(latest.client_id, Role.CLIENT),
        booking_id=latest.id,
        rating=5,
        comment=FLAGGED_REVIEW,
        now=now,
    )


def _applications(session: Session, now: datetime) -> None:
    """A few practitioners waiting for verification, with a document each; the seed's other
    'pending' ones (who never applied) become unverified, so the statuses agree."""
    pending = session.scalars(
        select(Practitioner)
        .where(Practitioner.verification_status == VerificationStatus.PENDING)
        .order_by(Practitioner.id)
        .limit(APPLICANTS)
    ).all()
    session.execute(
        update(Practitioner)
        .where(
            Practitioner.verification_status == VerificationStatus.PENDING,
            Practitioner.id.not_in([p.id for p in pending]),
        )
        .values(verification_status=VerificationStatus.UNVERIFIED)
    )
    for practitioner in pending:
        practitioner.verification_status = VerificationStatus.UNVERIFIED
        session.flush()
        user = practitioner.user
        verification.apply(
            session=session,
            actor=bookings.Actor(user.id, Role.PRACTITIONER),
            form=verification.ApplicationForm(
                legal_name=user.full_name,
                years_of_practice=7,
                statement="I have practised in my community for years; my certificate of training is attached.",
                documents=[
                    verification.Upload("certificate.pdf", _document(user.full_name, practitioner.specialization.value))
                ],
            ),
        )


def _money_to_handle(session: Session, client: User, practitioner: Practitioner, now: datetime) -> None:
    """An EFT waiting for the demo client, and a refund staff owe after a practitioner cancelled
    a session paid by EFT."""
    staff = _user(session, "staff@demo.avenrae.co.za")
    _book(session, client, practitioner, now, days_ahead=5)
    other_client = session.scalar(
        select(User).where(User.role == Role.CLIENT, User.id != client.id).order_by(User.email).limit(1)
    )
    if other_client is None:
        return
    paid = _book(session, other_client, practitioner, now, days_ahead=9)
    if paid is None:
        return
    flows.record_manual_payment(
        session=session,
        booking_id=paid.id,
        actor=bookings.Actor(staff.id, Role.STAFF),
        method="eft",
        reference="FNB 4471-2209",
        amount=paid.total_amount,
        now=now,
    )
    flows.cancel(
        session=session,
        booking_id=paid.id,
        actor=bookings.Actor(practitioner.user_id, Role.PRACTITIONER),
        reason="A family funeral that week; I am sorry.",
        now=now,
    )
    _book(session, other_client, practitioner, now, days_ahead=12)


def _paid_out(session: Session, practitioner: Practitioner, now: datetime) -> None:
    """The demo practitioner's bank account, and their earnings paid out up to this month."""
    from avenrae.seed import DEMO_PASSWORD  # seed runs this module: imported when called

    account = payouts.save_account(
        session=session,
        actor=bookings.Actor(practitioner.user_id, Role.PRACTITIONER),
        form=payouts.AccountForm("Capitec", "Nomvula Mkhize", "1452 0098 31", "470010", password=DEMO_PASSWORD),
    )
    staff = bookings.Actor(_user(session, "staff@demo.avenrae.co.za").id, Role.STAFF)
    given = now - timedelta(days=180)  # given long ago: the payouts below went to it
    session.execute(
        update(PayoutAccount)
        .where(PayoutAccount.practitioner_id == practitioner.id)
        .values(created_at=given, updated_at=given)
    )
    month_start = now.astimezone(ZoneInfo(practitioner.time_zone)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    ready = payouts.summary(session=session, actor=staff, practitioner_id=practitioner.id, now=month_start).available
    if ready > 0:
        prepared = payouts.prepare(
            session=session,
            actor=staff,
            practitioner_id=practitioner.id,
            amount=ready,
            account_ending=account.ending,
            now=month_start,
        )
        payouts.mark_paid(
            session=session,
            actor=staff,
            payout_id=prepared.id,
            reference=f"AVENRAE PAYOUT {month_start:%Y-%m}",
            now=month_start,
        )


def run(url: str, *, now: datetime | None = None) -> None:
    """Everything above, in one transaction, as of `now` (the seed's moment)."""
    engine = create_engine(normalise_database_url(url))
    now = now or datetime.now(UTC)
    try:
        with Session(engine) as session, session.begin():
            # Seeded moderation and audit rows follow a review by two hours: never after now.
            session.execute(text("UPDATE audit_log SET created_at = now() WHERE created_at > now()"))
            session.execute(text("UPDATE reviews SET moderated_at = now() WHERE moderated_at > now()"))
            client = _user(session, "client@demo.avenrae.co.za")
            practitioner = session.scalar(
                select(Practitioner).join(User).where(User.email == "practitioner@demo.avenrae.co.za")
            )
            assert practitioner is not None
            _reviewable(session, client, now)
            _flagged_review(session, client, now)
            _applications(session, now)
            _money_to_handle(session, client, practitioner, now)
            _paid_out(session, practitioner, now)
    finally:
        engine.dispose()
