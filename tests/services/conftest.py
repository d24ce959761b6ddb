"""Fixtures the money tests share (tests/services/test_payments.py, test_money_edges.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from avenrae.config import get_settings
from avenrae.models import BookingStatus, PaymentStatus, Role
from avenrae.services import bookings, payments
from tests.factories import make_booking, make_client, make_practitioner, make_transaction, make_user
from tests.stripe_fake import FakeStripe, client_for

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def fake():
    return FakeStripe()


@pytest.fixture
def gateway(fake, monkeypatch):
    """Stripe, set up on this server (so cancellations queue card refunds), talking to `fake`."""
    monkeypatch.setattr(get_settings(), "stripe_secret_key", SecretStr("sk_test_set_up_here"))
    return payments.StripeGateway(client_for(fake))


@pytest.fixture
def client(db):
    return make_client(db, first_name="Lindiwe", last_name="Dube", email="lindiwe@example.co.za")


@pytest.fixture
def staff(db):
    return bookings.Actor(make_user(db, role=Role.STAFF).id, Role.STAFF)


@pytest.fixture
def pending(db, client):
    """A pending booking as `flows.book` leaves it: held, with its pending charge."""
    practitioner = make_practitioner(db, rate="450.00")
    booking = make_booking(
        db,
        practitioner=practitioner,
        client=client,
        start=NOW + timedelta(days=3),
        status=BookingStatus.PENDING,
        hold_expires_at=datetime.now(UTC) + timedelta(minutes=15),  # NOW is read at import: the suite may be slow
    )
    make_transaction(db, booking, status=PaymentStatus.PENDING, provider="pending", method=None)
    return booking
