"""Refunds are recorded before they are asked for and never paid twice; holds are capped;
the owed-refunds list is one query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from avenrae import db as app_db
from avenrae.config import get_settings
from avenrae.models import (
    AuditLog,
    Booking,
    BookingStatus,
    MeetingType,
    PaymentStatus,
    PaymentTransaction,
    Role,
    TransactionKind,
)
from avenrae.services import bookings, flows, ledger, payments
from avenrae.services.errors import Conflict
from tests.factories import make_booking, make_client, make_practitioner, make_transaction, make_user, make_weekly_hours
from tests.stripe_fake import FakeStripe, client_for

NOW = datetime.now(UTC).replace(microsecond=0)


class FlakyGateway(payments.StripeGateway):
    """Stripe that takes the first `works` refunds and then fails the way a bug would."""

    def __init__(self, fake: FakeStripe, works: int):
        super().__init__(client_for(fake))
        self.works = works
        self.calls: list[str] = []

    def refund(self, **kwargs):
        self.calls.append(kwargs["idempotency_key"])
        if len(self.calls) > self.works:
            raise RuntimeError("the connection dropped after the request was sent")
        return super().refund(**kwargs)


def paid_online_and_cancelled(session: Session, fake: FakeStripe) -> list:
    """Two cancelled bookings, each paid on Stripe and owed back in full, all committed."""
    staff = make_user(session, role=Role.STAFF)
    owed = []
    for _ in range(2):
        booking = make_booking(
            session,
            practitioner=make_practitioner(session, rate="450.00"),
            start=NOW + timedelta(days=5),
            status=BookingStatus.CONFIRMED,
        )
        intent = f"pi_flaky_{booking.id.hex[:10]}"
        fake.intents[intent] = {"id": intent, "amount": 51750, "amount_received": 51750, "metadata": {}}
        make_transaction(session, booking, provider="stripe", provider_reference=intent, amount=booking.total_amount)
        flows.cancel(
            session=session,
            booking_id=booking.id,
            actor=bookings.Actor(staff.id, Role.STAFF),
            reason="Practitioner ill",
            on_behalf_of="practitioner",
        )
        owed.append(booking.id)
    session.commit()
    return owed


def test_a_refund_job_that_fails_half_way_never_pays_the_first_refund_twice(committed_db, monkeypatch):
    monkeypatch.setitem(app_db.SessionLocal.kw, "bind", committed_db)
    monkeypatch.setattr(get_settings(), "stripe_secret_key", SecretStr("sk_test_set_up_here"))  # refunds go out
    fake = FakeStripe()
    with Session(committed_db, expire_on_commit=False) as session:
        owed = paid_online_and_cancelled(session, fake)
    flaky = FlakyGateway(fake, works=1)
    run = flows.refund_owed_automatically(gateway=flaky)
    assert run == payments.RefundRun(sent=1, waiting=1)
    with Session(committed_db) as session:
        rows = session.scalars(
            select(PaymentTransaction).where(PaymentTransaction.kind == TransactionKind.REFUND)
        ).all()
        assert len(rows) == 2  # both written (and committed) before Stripe was asked
        assert sorted(r.provider_reference is not None for r in rows) == [False, True]
    # The next run asks again for the one that failed, with the same key, and never again for the first.
    steady = FlakyGateway(fake, works=10)
    assert flows.refund_owed_automatically(gateway=steady) == payments.RefundRun(sent=1)
    assert len(fake.refunds) == 2
    assert steady.calls == [flaky.calls[1]]
    with Session(committed_db) as session:
        for booking_id in owed:
            assert ledger.balance(session, booking_id).status == PaymentStatus.REFUNDED
    assert flows.refund_owed_automatically(gateway=steady) == payments.RefundRun()


@pytest.fixture
def open_all_week(db):
    practitioner = make_practitioner(db, session_duration_minutes=60, buffer_minutes=0, min_notice_minutes=0)
    make_weekly_hours(db, practitioner, {day: [("06:00", "22:00")] for day in range(7)})
    return practitioner


def book(db, client, practitioner, hours_ahead: int):
    start = (NOW + timedelta(days=2)).replace(hour=8, minute=0, second=0) + timedelta(hours=hours_ahead)
    return flows.book(
        session=db,
        request=bookings.BookingRequest(client.id, practitioner.id, start, MeetingType.ONLINE),
        actor=bookings.Actor(client.id, Role.CLIENT),
        now=NOW,
    )


def test_a_client_holds_at_most_three_unpaid_bookings(db, open_all_week):
    client = make_client(db)
    for hour in range(3):
        book(db, client, open_all_week, hour)
    with pytest.raises(Conflict, match="You already have 3 unpaid bookings held"):
        book(db, client, open_all_week, 4)
    start = (NOW + timedelta(days=2)).replace(hour=13, minute=0, second=0)
    on_behalf = bookings.BookingRequest(client.id, open_all_week.id, start, MeetingType.ONLINE)
    staff_member = bookings.Actor(make_user(db, role=Role.STAFF).id, Role.STAFF)
    with pytest.raises(Conflict, match="This client already has 3 unpaid bookings held"):  # staff read whose
        flows.book(session=db, request=on_behalf, actor=staff_member, now=NOW)
    assert db.scalar(select(func.count()).where(bookings.Booking.client_id == client.id)) == 3
    # Paying one frees a place.
    staff = bookings.Actor(make_user(db, role=Role.STAFF).id, Role.STAFF)
    first = db.scalars(select(bookings.Booking).where(bookings.Booking.client_id == client.id)).first()
    flows.record_manual_payment(
        session=db,
        booking_id=first.id,
        actor=staff,
        method="eft",
        reference="FNB 1",
        amount=first.total_amount,
        now=NOW,
    )
    book(db, client, open_all_week, 4)


def test_paying_online_never_holds_a_booking_past_the_longest_hold(db, monkeypatch):
    monkeypatch.setattr(get_settings(), "booking_hold_max_minutes", 40)
    client = make_client(db)
    created = NOW - timedelta(minutes=20)
    booking = make_booking(
        db,
        client=client,
        start=NOW + timedelta(days=3),
        status=BookingStatus.PENDING,
        hold_expires_at=NOW + timedelta(minutes=2),
        created_at=created,
    )
    make_transaction(db, booking, status=PaymentStatus.PENDING, provider="pending", method=None)
    gateway = payments.StripeGateway(client_for(FakeStripe()))
    link = flows.pay_online(
        session=db, booking_id=booking.id, actor=bookings.Actor(client.id, Role.CLIENT), gateway=gateway, now=NOW
    )
    assert link.expires_at == created + timedelta(minutes=40)  # not the page's 31 minutes from now


def test_the_owed_refunds_list_is_one_query_however_many_are_owed(db):
    staff = bookings.Actor(make_user(db, role=Role.STAFF).id, Role.STAFF)
    for _ in range(6):
        booking = make_booking(
            db,
            practitioner=make_practitioner(db, rate="450.00"),
            start=NOW + timedelta(days=5),
            status=BookingStatus.CONFIRMED,
        )
        make_transaction(db, booking, provider="manual", method="eft", amount=booking.total_amount)
        flows.cancel(session=db, booking_id=booking.id, actor=staff, reason="Ill", on_behalf_of="practitioner")
    db.flush()
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.get_bind(), "before_cursor_execute", listener)
    try:
        owed = ledger.refunds_owed(session=db, role=staff.role)
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", listener)
    assert len(owed) == 6 and {o.outstanding for o in owed} == {Decimal("517.50")} and len(statements) == 1


def test_a_dashboard_refund_while_one_of_ours_is_being_sent_waits_for_its_answer(committed_db):
    """Stripe tells us of a refund made in its dashboard while our refund of the same charge is
    on its way to Stripe (its row locked by the sender): nothing is decided until that answer
    is in (the webhook answers 503, so Stripe asks again); then ours gives way, as when unsent."""
    with Session(committed_db, expire_on_commit=False) as session:
        booking = make_booking(session, practitioner=make_practitioner(session, rate="450.00"))
        charge = make_transaction(session, booking, provider="stripe", method=None, provider_reference="pi_busy")
        ours = make_transaction(
            session,
            booking,
            kind=TransactionKind.REFUND,
            provider="stripe",
            method=None,
            status=PaymentStatus.PENDING,
            refund_of_id=charge.id,
        )
        session.commit()
    dashboard = [ledger.ProviderRefund("re_dashboard", Decimal("200.00"), PaymentStatus.COMPLETED, None)]

    def sync(session: Session) -> int:
        return ledger.sync_provider_refunds(
            session, session.get(Booking, booking.id), provider="stripe", payment_reference="pi_busy", refunds=dashboard
        )

    with committed_db.connect() as sender:
        sender.execute(select(PaymentTransaction.id).where(PaymentTransaction.id == ours.id).with_for_update())
        with Session(committed_db) as session, pytest.raises(ledger.RefundBeingSent):
            sync(session)
        sender.rollback()  # the sender's answer: not sent after all
    with Session(committed_db) as session:
        assert sync(session) == 2
        session.commit()
        rows = session.scalars(
            select(PaymentTransaction).where(PaymentTransaction.kind == TransactionKind.REFUND)
        ).all()
        assert sorted((r.provider_reference, r.amount, r.status) for r in rows if r.provider_reference) == [
            ("re_dashboard", Decimal("200.00"), PaymentStatus.COMPLETED)
        ]
        assert session.get(PaymentTransaction, ours.id).status == PaymentStatus.FAILED
        assert (
            session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == ledger.OVER_REFUNDED))
            == 0
        )
