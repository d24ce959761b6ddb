"""A cancelled booking's payment pages stop taking money: the Checkout page left open in another
tab is expired, a client app's PaymentIntent cancelled, so nobody pays for a booking that is
gone only to be refunded less Stripe's fee. Pages of paid bookings are only marked finished."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from avenrae import jobs
from avenrae.models import BookingStatus, CheckoutPage
from avenrae.services import flows, payments
from tests.services.test_payments import as_client
from tests.stripe_fake import PaymentRefused


def closed_at(db, reference: str) -> datetime | None:
    db.expire_all()
    return db.scalar(select(CheckoutPage.closed_at).where(CheckoutPage.reference == reference))


def test_a_cancelled_bookings_open_page_and_intent_are_closed_at_stripe(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    intent = flows.pay_in_app(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    page = pending.stripe_checkout_session_id
    # While the booking waits for payment, nothing is closed.
    assert payments.close_payment_pages(session=db, gateway=gateway) == payments.ClosedRun(0, 0, 0)
    assert fake.sessions[page]["status"] == "open"

    flows.cancel(session=db, booking_id=pending.id, actor=as_client(client), reason="Plans changed")
    run = payments.close_payment_pages(session=db, gateway=gateway)
    assert run == payments.ClosedRun(closed=2, finished=0, waiting=0)
    assert fake.sessions[page]["status"] == "expired"
    assert fake.intents[intent.reference]["status"] == "canceled"
    assert closed_at(db, page) is not None and closed_at(db, intent.reference) is not None
    with pytest.raises(PaymentRefused):
        fake.pay(page)  # the tab left open can no longer take the client's money
    with pytest.raises(PaymentRefused):
        fake.pay_intent(intent.reference)
    # Closed once: the next run asks Stripe nothing.
    asked = len(fake.sent)
    assert payments.close_payment_pages(session=db, gateway=gateway) == payments.ClosedRun(0, 0, 0)
    assert len(fake.sent) == asked


def test_a_paid_bookings_pages_are_marked_finished_without_asking_stripe(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    fake.pay(pending.stripe_checkout_session_id)
    assert flows.refresh_payment(session=db, booking_id=pending.id, gateway=gateway) == "confirmed"
    asked = len(fake.sent)
    assert payments.close_payment_pages(session=db, gateway=gateway) == payments.ClosedRun(0, 1, 0)
    assert len(fake.sent) == asked
    assert closed_at(db, pending.stripe_checkout_session_id) is not None


def test_a_page_paid_just_before_the_cancellation_is_found_finished(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    page = pending.stripe_checkout_session_id
    fake.pay(page)  # paid, but the booking was cancelled before the payment was seen
    flows.cancel(session=db, booking_id=pending.id, actor=as_client(client), reason="Plans changed")
    assert payments.close_payment_pages(session=db, gateway=gateway) == payments.ClosedRun(0, 1, 0)
    assert fake.sessions[page]["status"] == "complete"  # the money is matched and refunded as before
    assert closed_at(db, page) is not None


def test_stripe_unreachable_leaves_the_page_for_the_next_run(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    page = pending.stripe_checkout_session_id
    flows.cancel(session=db, booking_id=pending.id, actor=as_client(client), reason="Plans changed")
    fake.fail_next = "network"
    assert payments.close_payment_pages(session=db, gateway=gateway) == payments.ClosedRun(0, 0, 1)
    assert closed_at(db, page) is None and fake.sessions[page]["status"] == "open"
    assert payments.close_payment_pages(session=db, gateway=gateway) == payments.ClosedRun(1, 0, 0)
    assert fake.sessions[page]["status"] == "expired"


def test_the_job_runs_with_stripe_set_up(gateway):
    job = jobs.JOBS["close-payment-pages"]
    assert job.enabled() and job.every_seconds == 60


def test_the_open_pages_are_found_by_their_own_index(db, pending):
    db.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        db.execute(
            text(
                "EXPLAIN SELECT reference FROM checkout_pages JOIN bookings ON bookings.id = booking_id "
                "WHERE closed_at IS NULL AND bookings.status = :cancelled"
            ),
            {"cancelled": BookingStatus.CANCELLED.value},
        ).scalars()
    )
    assert "ix_checkout_pages_open" in plan, plan


def test_a_run_marks_run_out_checkout_pages_finished(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    later = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1)
    assert payments.close_payment_pages(session=db, gateway=gateway, now=later).finished == 1
