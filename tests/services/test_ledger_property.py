"""Property: whatever happens to a booking's money, the ledger balances against the booking.

Random sequences of payments (online or by hand), refunds of any size (too large ones
are refused), cancellations by either side, and refunds made in Stripe's dashboard.
After every step: net money kept (less what is owed back) never exceeds the booking total,
refunds never exceed completed charges, payment_status is what the ledger says, and what
the policy still owes is between nothing and what it owed.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avenrae.models import BookingStatus, PaymentStatus, Practitioner, Role
from avenrae.services import bookings, flows, ledger, payments
from avenrae.services.errors import ServiceError
from tests.factories import make_booking, make_client, make_practitioner, make_transaction, make_user
from tests.stripe_fake import FakeStripe, client_for

steps = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.sampled_from(["online", "manual"])),
        st.tuples(st.just("refund"), st.integers(min_value=1, max_value=60_000)),
        st.tuples(st.just("cancel"), st.sampled_from(["client", "practitioner"])),
        st.tuples(st.just("dashboard_refund"), st.integers(min_value=1, max_value=60_000)),
    ),
    min_size=1,
    max_size=8,
)


def check(db, booking) -> None:
    db.refresh(booking)
    found = ledger.balance(db, booking.id)
    assert found.refunded + found.refunds_pending <= found.charged
    # Money that arrives for a booking that cannot take it (paid twice by hand, or after it was
    # cancelled) is owed back until staff pay it out: kept less owed never exceeds the total.
    assert found.charged - found.refunded - found.refunds_pending - ledger.owed(db, booking) <= booking.total_amount
    assert booking.payment_status in (found.status, PaymentStatus.EXPIRED, PaymentStatus.PENDING)
    if found.charged:
        assert booking.payment_status == found.status
    outstanding = ledger.owed(db, booking)
    assert Decimal(0) <= outstanding <= (booking.refund_due or Decimal(0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_the_ledger_always_balances(db, plan):
    with db.begin_nested() as example:
        fake = FakeStripe()
        gateway = payments.StripeGateway(client_for(fake))
        client = make_client(db)
        staff = bookings.Actor(make_user(db, role=Role.STAFF).id, Role.STAFF)
        practitioner = make_practitioner(db, rate="399.99")
        booking = make_booking(
            db,
            practitioner=practitioner,
            client=client,
            start=datetime.now(UTC) + timedelta(days=5),
            status=BookingStatus.PENDING,
            hold_expires_at=datetime.now(UTC) + timedelta(minutes=15),
        )
        make_transaction(db, booking, status=PaymentStatus.PENDING, provider="pending", method=None)
        as_client = bookings.Actor(client.id, Role.CLIENT)
        as_practitioner = bookings.Actor(db.get(Practitioner, practitioner.id).user_id, Role.PRACTITIONER)
        for action, value in plan:
            try:
                with db.begin_nested():
                    if action == "pay" and value == "online":
                        flows.pay_online(
                            session=db, booking_id=booking.id, actor=as_client, gateway=gateway
                        )
                        intent = fake.pay(booking.stripe_checkout_session_id)
                        flows.money_received(
                            session=db,
                            booking_id=booking.id,
                            provider="stripe",
                            reference=intent["id"],
                            amount=booking.total_amount,
                        )
                    elif action == "pay":
                        flows.record_manual_payment(
                            session=db,
                            booking_id=booking.id,
                            actor=staff,
                            method="eft",
                            reference="Ref 1",
                            amount=booking.total_amount,
                        )
                    elif action == "refund":
                        flows.refund(
                            session=db,
                            booking_id=booking.id,
                            actor=staff,
                            amount=Decimal(value) / 100,
                            reason="Property test",
                            method="eft",
                            reference="Out 1",
                        )
                    elif action == "cancel":
                        flows.cancel(
                            session=db,
                            booking_id=booking.id,
                            actor=as_client if value == "client" else as_practitioner,
                            reason="Property test",
                        )
                    if action in ("refund", "cancel"):
                        payments.send_queued_refunds(gateway=gateway, booking_id=booking.id)
                    elif action == "dashboard_refund" and booking.stripe_payment_intent_id:
                        intent = fake.intents[booking.stripe_payment_intent_id]
                        left = intent["amount_received"] - sum(
                            r["amount"] for r in fake.refunds.values() if r["payment_intent"] == intent["id"]
                        )
                        if left > 0:
                            fake.dashboard_refund(intent["id"], min(value, left))
                            payments.sync_refunds(db, booking, intent["id"], gateway)
            except ServiceError:
                pass  # refused with a message: nothing may have changed, which check() also covers
            check(db, booking)
        example.rollback()
