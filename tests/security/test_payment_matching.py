"""Money counts only when it is what we asked for: the payment page we made for the
booking, the full amount, in rand. Anything else is kept apart, given back, audited and
shown to staff; and every well-signed event gets an answer instead of a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from avenrae.config import get_settings
from avenrae.models import (
    AuditLog,
    BookingStatus,
    PaymentStatus,
    PaymentTransaction,
    Practitioner,
    StripeEvent,
    UnmatchedPayment,
)
from avenrae.services import bookings, flows, payments
from avenrae.services.pricing import to_cents
from avenrae.ui import server
from tests import stripe_objects
from tests.factories import make_booking
from tests.stripe_fake import WEBHOOK_SECRET, signed_event

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def booking(pending):
    return pending


@pytest.fixture
def page(db, fake, gateway, client, booking):
    """The Checkout page we made for the booking; the client has paid on it."""
    flows.pay_online(session=db, booking_id=booking.id, actor=bookings.Actor(client.id, client.role), gateway=gateway)
    intent = fake.pay(booking.stripe_checkout_session_id)
    return booking.stripe_checkout_session_id, intent["id"]


def deliver(db, gateway, kind, data):
    payload, signature = signed_event(kind, data)
    return flows.handle_webhook(
        session=db, payload=payload, signature=signature, gateway=gateway, secret=WEBHOOK_SECRET
    )


def unmatched(db) -> list[UnmatchedPayment]:
    db.expire_all()
    return db.scalars(select(UnmatchedPayment).order_by(UnmatchedPayment.created_at)).all()


def still_pending(db, booking) -> bool:
    db.refresh(booking)
    charges = db.scalars(select(PaymentTransaction.status).where(PaymentTransaction.booking_id == booking.id)).all()
    return booking.status == BookingStatus.PENDING and charges == [PaymentStatus.PENDING]


def test_our_page_paid_in_full_confirms_the_booking(db, gateway, booking, page):
    page_id, intent = page
    event = stripe_objects.checkout_session(
        id=page_id, payment_intent=intent, amount_total=51750, booking_id=str(booking.id)
    )
    assert deliver(db, gateway, "checkout.session.completed", event) == "confirmed"
    db.refresh(booking)
    assert booking.status == BookingStatus.CONFIRMED and booking.stripe_payment_intent_id == intent


def test_adaptive_pricing_is_matched_on_the_rand_amount_and_stored_without_crashing(db, gateway, booking, page):
    page_id, intent = page
    # The client paid in US dollars; Stripe converted, and we receive the R517.50 we asked for.
    conversion = {"amount_subtotal": 51750, "amount_total": 51750, "fx_rate": "0.05731", "source_currency": "zar"}
    event = stripe_objects.checkout_session(
        id=page_id, payment_intent=intent, amount_total=2966, currency="usd", currency_conversion=conversion
    )
    assert deliver(db, gateway, "checkout.session.completed", event) == "confirmed"
    stored = db.scalars(select(StripeEvent)).one()
    assert stored.payload["data"]["object"]["currency_conversion"]["fx_rate"] == "0.05731"


@pytest.mark.parametrize(
    ("amount", "currency", "why"),
    [
        (100, "zar", "Paid R1.00, but the booking costs R517.50."),
        (51749, "zar", "Paid R517.49, but the booking costs R517.50."),
        (51750, "usd", "Paid in USD, not in rand."),
    ],
)
def test_our_page_with_the_wrong_amount_or_currency_is_unmatched_refunded_and_audited(
    db, fake, gateway, booking, page, amount, currency, why
):
    page_id, intent = page
    event = stripe_objects.checkout_session(id=page_id, payment_intent=intent, amount_total=amount, currency=currency)
    assert deliver(db, gateway, "checkout.session.completed", event) == "unmatched: refund queued"
    assert still_pending(db, booking)
    [row] = unmatched(db)
    assert (row.booking_id, row.amount_cents, row.currency, row.reason) == (booking.id, amount, currency.upper(), why)
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "payment.unmatched")) == 1
    assert payments.send_queued_refunds(gateway=gateway) == payments.RefundRun(sent=1)
    refund_call = fake.sent[-1]
    assert refund_call.path == "/v1/refunds" and refund_call.form["payment_intent"] == intent
    assert "amount" not in refund_call.form  # everything goes back
    assert unmatched(db)[0].refund_status == "refunded"


def test_a_payment_page_we_did_not_make_that_names_the_booking_is_unmatched(db, fake, gateway, booking):
    # A Payment Link: the payer set client_reference_id to our booking and paid the right amount.
    fake.intents["pi_link"] = stripe_objects.payment_intent(id="pi_link", amount=51750)
    event = stripe_objects.checkout_session(
        id="cs_link",
        payment_intent="pi_link",
        amount_total=51750,
        client_reference_id=str(booking.id),
        payment_link="plink_1",
    )
    assert deliver(db, gateway, "checkout.session.completed", event) == "unmatched: refund queued"
    assert still_pending(db, booking)
    [row] = unmatched(db)
    assert row.booking_id == booking.id and "did not make" in row.reason


def test_a_payment_intent_that_is_not_our_pages_is_unmatched(db, fake, gateway, booking, page):
    other = stripe_objects.payment_intent(id="pi_elsewhere", amount=51750, booking_id=str(booking.id))
    fake.intents["pi_elsewhere"] = other
    assert deliver(db, gateway, "payment_intent.succeeded", other) == "unmatched: refund queued"
    assert still_pending(db, booking)


def test_our_payment_intent_confirms_through_the_page_it_belongs_to(db, fake, gateway, booking, page):
    _, intent = page
    event = stripe_objects.payment_intent(id=intent, amount=51750, booking_id=str(booking.id))
    assert deliver(db, gateway, "payment_intent.succeeded", event) == "confirmed"


def test_a_zero_amount_payment_is_recorded_without_touching_the_ledger(db, fake, gateway, booking):
    zero = stripe_objects.payment_intent(id="pi_zero", amount=0, booking_id=str(booking.id))
    assert deliver(db, gateway, "payment_intent.succeeded", zero) == "unmatched: nothing to refund"
    assert still_pending(db, booking)
    assert unmatched(db)[0].refund_status == "nothing_to_refund"


def test_an_unknown_booking_id_is_unmatched_and_a_nonsense_one_too(db, fake, gateway):
    for raw in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        intent = stripe_objects.payment_intent(id=f"pi_{raw[:8]}", amount=51750, booking_id=raw)
        fake.intents[intent["id"]] = intent
        assert deliver(db, gateway, "payment_intent.succeeded", intent) == "unmatched: refund queued"
    assert [(u.booking_id, u.named_booking) for u in unmatched(db)] == [
        (None, "00000000-0000-0000-0000-000000000000"),
        (None, "not-a-uuid"),
    ]


def test_events_that_name_nothing_of_ours_are_ignored(db, gateway):
    assert deliver(db, gateway, "payment_intent.succeeded", stripe_objects.payment_intent(id="pi_x", amount=100)) == (
        "ignored: not a payment of ours"
    )
    assert (
        deliver(
            db,
            gateway,
            "checkout.session.completed",
            stripe_objects.checkout_session(id="cs_x", payment_intent="pi_x", amount_total=100),
        )
        == "ignored: not a payment page of ours"
    )
    failed = stripe_objects.payment_intent(
        id="pi_y", amount=100, status="requires_payment_method", last_payment_error={"message": "Declined"}
    )
    assert deliver(db, gateway, "payment_intent.payment_failed", failed) == "ignored: not a payment of ours"
    assert deliver(
        db,
        gateway,
        "charge.refunded",
        stripe_objects.charge(id="ch_x", payment_intent="pi_x", amount=100, amount_refunded=100),
    ) == ("ignored: not a payment of ours")
    assert unmatched(db) == []


def test_the_refund_of_an_unmatched_payment_is_followed_by_its_events(db, fake, gateway, booking):
    intent = stripe_objects.payment_intent(id="pi_under", amount=100, booking_id=str(booking.id))
    fake.intents["pi_under"] = intent
    deliver(db, gateway, "payment_intent.succeeded", intent)
    payments.send_queued_refunds(gateway=gateway)
    [refunded] = [r for r in fake.refunds.values() if r["payment_intent"] == "pi_under"]
    event = stripe_objects.refund(id=refunded["id"], payment_intent="pi_under", amount=100)
    assert deliver(db, gateway, "refund.updated", event) == "unmatched payment refund refunded"


# --- through the HTTP route, as Stripe calls it ----------------------------------------------


@pytest.fixture
def webhook(db, gateway, monkeypatch):
    monkeypatch.setattr(get_settings(), "stripe_webhook_secret", SecretStr(WEBHOOK_SECRET))
    monkeypatch.setattr(payments, "online_gateway", lambda: gateway)
    app = Starlette(routes=[Route("/_avenrae/stripe/webhook", server.stripe_webhook, methods=["POST"])])
    client = TestClient(app)

    def post(kind: str, data: dict) -> tuple[int, dict]:
        payload, signature = signed_event(kind, data)
        answer = client.post("/_avenrae/stripe/webhook", content=payload, headers={"Stripe-Signature": signature})
        return answer.status_code, answer.json()

    post.client = client  # type: ignore[attr-defined]
    return post


def test_every_subscribed_event_type_gets_a_2xx_with_an_outcome(db, fake, webhook, booking, page):
    page_id, intent = page
    amount = to_cents(booking.total_amount)
    events = [
        (
            "checkout.session.completed",
            stripe_objects.checkout_session(id=page_id, payment_intent=intent, amount_total=amount),
        ),
        (
            "payment_intent.succeeded",
            stripe_objects.payment_intent(id=intent, amount=amount, booking_id=str(booking.id)),
        ),
        (
            "payment_intent.payment_failed",
            stripe_objects.payment_intent(
                id="pi_declined",
                amount=amount,
                booking_id=str(booking.id),
                status="requires_payment_method",
                last_payment_error={"message": "Your card was declined."},
            ),
        ),
        ("charge.refunded", stripe_objects.charge(id="ch_1", payment_intent=intent, amount=amount, amount_refunded=0)),
        ("refund.updated", stripe_objects.refund(id="re_1", payment_intent=intent, amount=100)),
    ]
    answers = [webhook(kind, data) for kind, data in events]
    assert [status for status, _ in answers] == [200] * len(events)
    assert [body["result"] for _, body in answers] == [
        "confirmed",
        "already recorded",
        "ignored: the booking is not waiting for payment",  # confirmed already: a late decline changes nothing
        "refunds synced (0 changed)",
        "refunds synced (0 changed)",
    ]


def test_while_stripe_cannot_be_reached_the_event_waits_for_a_retry(db, fake, webhook, booking, page):
    _, intent = page
    fake.fail_next = "network"
    status, body = webhook(
        "payment_intent.succeeded", stripe_objects.payment_intent(id=intent, amount=51750, booking_id=str(booking.id))
    )
    assert status == 503 and "try again" in body["error"]
    assert db.scalar(select(func.count()).select_from(StripeEvent)) == 0  # not kept: Stripe sends it again
    assert webhook(
        "payment_intent.succeeded", stripe_objects.payment_intent(id=intent, amount=51750, booking_id=str(booking.id))
    ) == (200, {"result": "confirmed"})


def test_money_that_came_too_late_is_refunded_as_soon_as_the_event_is_applied(db, fake, webhook, booking, page):
    page_id, intent = page
    flows.expire_pending(session=db, now=booking.hold_expires_at + timedelta(hours=2))
    # Its time has gone to someone else meanwhile.
    make_booking(db, practitioner=db.get(Practitioner, booking.practitioner_id), start=booking.session_start)
    status, body = webhook(
        "checkout.session.completed",
        stripe_objects.checkout_session(id=page_id, payment_intent=intent, amount_total=51750),
    )
    assert (status, body) == (200, {"result": "refund queued"})
    assert [r["amount"] for r in fake.refunds.values() if r["payment_intent"] == intent] == [51750]


def test_oversized_and_unsigned_bodies_are_refused_before_any_work(db, webhook):
    big = webhook.client.post("/_avenrae/stripe/webhook", content=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert big.status_code == 413
    unsigned = webhook.client.post("/_avenrae/stripe/webhook", content=json.dumps({"id": "evt_1"}).encode())
    assert unsigned.status_code == 400
    assert db.scalar(select(func.count()).select_from(StripeEvent)) == 0


def test_the_cookie_route_refuses_oversized_bodies(db):
    client = TestClient(Starlette(routes=[Route("/_avenrae/session", server.remember_session, methods=["POST"])]))
    assert client.post("/_avenrae/session", content=b"x" * 5000).status_code == 413
    assert client.post("/_avenrae/session", content=b"not-a-code").status_code == 400
