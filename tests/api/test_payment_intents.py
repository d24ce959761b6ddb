"""Paying in a client app's own card form: a Stripe PaymentIntent for exactly the booking's
total in rand, kept against the booking, and confirmed by Stripe's signed webhook only when
the money is what it asked for. Stripe is the real `stripe` library over a fake HTTP client."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from avenrae.config import get_settings
from avenrae.models import Booking, BookingStatus, CheckoutPage, Notification, Role, UnmatchedPayment
from avenrae.services import payments
from avenrae.ui import server
from tests import stripe_objects
from tests.api.conftest import bearer
from tests.api.test_beyond import book
from tests.factories import make_client, make_user
from tests.stripe_fake import WEBHOOK_SECRET, FakeStripe, client_for, signed_event


@pytest.fixture
def fake(monkeypatch) -> FakeStripe:
    """Stripe configured for the API and the webhook, answering from memory."""
    found = FakeStripe()
    gateway = payments.StripeGateway(client_for(found))
    monkeypatch.setattr(payments, "online_gateway", lambda: gateway)
    monkeypatch.setattr(get_settings(), "stripe_webhook_secret", SecretStr(WEBHOOK_SECRET))
    return found


@pytest.fixture
def webhook(connection):
    """Deliver a signed event to the webhook route, as Stripe calls it: (status, body)."""
    client = TestClient(Starlette(routes=[Route("/_avenrae/stripe/webhook", server.stripe_webhook, methods=["POST"])]))

    def deliver(kind: str, data: dict) -> tuple[int, dict]:
        payload, signature = signed_event(kind, data)
        answer = client.post("/_avenrae/stripe/webhook", content=payload, headers={"Stripe-Signature": signature})
        return answer.status_code, answer.json()

    return deliver


def intents_created(fake: FakeStripe) -> list:
    return [sent for sent in fake.sent if (sent.method, sent.path) == ("POST", "/v1/payment_intents")]


def ask(api, db, booking_id, user, **headers):
    return api.post(f"/api/bookings/{booking_id}/payment-intent", headers={**bearer(user, db), **headers})


def test_an_intent_for_the_total_in_rand_that_the_webhook_confirms(api, db, fake, webhook, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user)
    answer = ask(api, db, booking_id, client_user)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    [sent] = intents_created(fake)
    assert (sent.form["amount"], sent.form["currency"], sent.form["metadata[booking_id]"]) == (
        "51750",
        "zar",
        booking_id,
    )
    assert sent.headers["Idempotency-Key"] == f"avenrae-intent-{booking_id}-0"
    intent = fake.intents[body["paymentIntentId"]]
    assert body["clientSecret"] == intent["client_secret"]
    assert (body["amount"], body["amountCents"], body["currency"]) == (517.5, 51750, "zar")
    assert body["holdExpiresAt"] is not None
    stored = db.scalars(select(CheckoutPage).where(CheckoutPage.reference == body["paymentIntentId"])).one()
    assert (str(stored.booking_id), stored.kind, stored.amount_cents, stored.currency) == (
        booking_id,
        "intent",
        51750,
        "zar",
    )
    # Asked again while it can still be paid: the same intent, not a second one.
    again = ask(api, db, booking_id, client_user).json()
    assert (again["paymentIntentId"], again["clientSecret"]) == (body["paymentIntentId"], body["clientSecret"])
    assert len(intents_created(fake)) == 1

    fake.pay_intent(body["paymentIntentId"])
    event = stripe_objects.payment_intent(id=body["paymentIntentId"], amount=51750, booking_id=booking_id)
    assert webhook("payment_intent.succeeded", event) == (200, {"result": "confirmed"})
    status = api.get(f"/api/bookings/{booking_id}/payment", headers=bearer(client_user, db)).json()
    assert (status["status"], status["paid"]) == ("confirmed", 517.5)
    assert db.get(Booking, booking_id).stripe_payment_intent_id == body["paymentIntentId"]
    assert db.scalars(select(UnmatchedPayment)).all() == []


@pytest.mark.parametrize(
    ("amount", "currency", "why"),
    [
        (51749, "zar", "Paid R517.49, but the booking costs R517.50."),
        (51750, "usd", "Paid in USD, not in rand."),
    ],
)
def test_our_intent_taking_another_amount_or_currency_is_unmatched(
    api, db, fake, webhook, practitioner, client_user, amount, currency, why
):
    booking_id = book(api, db, practitioner, client_user)
    intent_id = ask(api, db, booking_id, client_user).json()["paymentIntentId"]
    event = stripe_objects.payment_intent(id=intent_id, amount=amount, currency=currency, booking_id=booking_id)
    assert webhook("payment_intent.succeeded", event) == (200, {"result": "unmatched: refund queued"})
    db.expire_all()
    assert db.get(Booking, booking_id).status == BookingStatus.PENDING
    [row] = db.scalars(select(UnmatchedPayment)).all()
    assert (row.payment_reference, str(row.booking_id), row.amount_cents, row.currency, row.reason) == (
        intent_id,
        booking_id,
        amount,
        currency.upper(),
        why,
    )


def test_an_intent_we_did_not_create_is_unmatched_even_naming_the_booking(
    api, db, fake, webhook, practitioner, client_user
):
    booking_id = book(api, db, practitioner, client_user)
    ask(api, db, booking_id, client_user)
    stranger = stripe_objects.payment_intent(id="pi_not_ours_1", amount=51750, booking_id=booking_id)
    fake.intents["pi_not_ours_1"] = stranger
    assert webhook("payment_intent.succeeded", stranger) == (200, {"result": "unmatched: refund queued"})
    db.expire_all()
    assert db.get(Booking, booking_id).status == BookingStatus.PENDING
    [row] = db.scalars(select(UnmatchedPayment)).all()
    assert row.payment_reference == "pi_not_ours_1"
    assert row.reason.startswith("Not a payment this platform asked for")


def test_our_intent_for_one_booking_cannot_pay_another_by_its_metadata(
    api, db, fake, webhook, practitioner, client_user
):
    first = book(api, db, practitioner, client_user, "10:00")
    second = book(api, db, practitioner, client_user, "12:00")
    intent_id = ask(api, db, first, client_user).json()["paymentIntentId"]
    # The event names the second booking, but the intent was made for the first: the first is paid.
    event = stripe_objects.payment_intent(id=intent_id, amount=51750, booking_id=second)
    assert webhook("payment_intent.succeeded", event) == (200, {"result": "confirmed"})
    db.expire_all()
    assert (db.get(Booking, first).status, db.get(Booking, second).status) == (
        BookingStatus.CONFIRMED,
        BookingStatus.PENDING,
    )


def test_a_declined_card_on_our_intent_tells_the_client(api, db, fake, webhook, practitioner, client_user):
    fake.fail_next = "network"  # no Checkout page was made when booking: the app pays by intent only
    booking_id = book(api, db, practitioner, client_user)
    assert db.scalars(select(CheckoutPage).where(CheckoutPage.booking_id == booking_id)).all() == []
    intent_id = ask(api, db, booking_id, client_user).json()["paymentIntentId"]
    declined = stripe_objects.payment_intent(
        id=intent_id,
        amount=51750,
        booking_id=booking_id,
        status="requires_payment_method",
        last_payment_error={"message": "Your card was declined."},
    )
    assert webhook("payment_intent.payment_failed", declined) == (200, {"result": "failure noted"})
    kinds = db.scalars(select(Notification.type).where(Notification.user_id == client_user.id)).all()
    assert "payment_failed" in kinds


def test_a_cancelled_intent_is_replaced_under_the_next_key(api, db, fake, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user)
    first = ask(api, db, booking_id, client_user).json()["paymentIntentId"]
    fake.intents[first]["status"] = "canceled"
    second = ask(api, db, booking_id, client_user).json()["paymentIntentId"]
    assert second != first
    assert [s.headers["Idempotency-Key"] for s in intents_created(fake)] == [
        f"avenrae-intent-{booking_id}-0",
        f"avenrae-intent-{booking_id}-1",
    ]


def test_a_retry_after_our_answer_was_lost_gets_the_same_intent(api, db, fake, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user)
    before = len(fake.intents)
    with db.begin_nested() as lost:  # Stripe made the intent, then our transaction died
        made = payments.open_payment_intent(session=db, booking=db.get(Booking, booking_id))
        lost.rollback()
    assert db.scalars(select(CheckoutPage).where(CheckoutPage.kind == "intent")).all() == []
    retried = ask(api, db, booking_id, client_user).json()
    assert (retried["paymentIntentId"], retried["clientSecret"]) == (made.reference, made.client_secret)
    assert len(fake.intents) == before + 1  # Stripe replayed the first answer for the same key


def test_only_the_client_or_staff_and_only_while_pending(api, db, fake, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user)
    other = make_client(db)
    refused = ask(api, db, booking_id, other)
    assert refused.status_code == 404 and refused.json()["detail"] == "That booking does not exist, or it is not yours."
    assert ask(api, db, booking_id, practitioner.user).status_code == 403
    assert ask(api, db, booking_id, make_user(db, role=Role.STAFF)).status_code == 200
    assert api.post(f"/api/bookings/{booking_id}/payment-intent").status_code == 401
    cancelled = api.post(
        f"/api/bookings/{booking_id}/cancel", json={"reason": "Plans changed"}, headers=bearer(client_user, db)
    )
    assert cancelled.status_code == 200
    late = ask(api, db, booking_id, client_user)
    assert late.status_code == 409 and late.json()["detail"] == "This booking is cancelled; nothing to pay."


def test_without_stripe_it_is_409_with_a_plain_message(api, db, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user)
    answer = ask(api, db, booking_id, client_user)
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == (
        "Online payment is not set up; pay by EFT or cash and our staff will confirm it."
    )
    assert db.scalars(select(CheckoutPage).where(CheckoutPage.booking_id == booking_id)).all() == []


# --- Idempotency-Key on the payment POSTs ---------------------------------------------------


def test_a_retried_payment_intent_request_returns_the_first_answer_and_makes_one_intent(
    api, db, fake, practitioner, client_user
):
    booking_id = book(api, db, practitioner, client_user)
    first = ask(api, db, booking_id, client_user, **{"Idempotency-Key": "intent-1"})
    fake.intents[first.json()["paymentIntentId"]]["status"] = "canceled"  # without the key, a new one would be made
    again = ask(api, db, booking_id, client_user, **{"Idempotency-Key": "intent-1"})
    assert (again.status_code, again.json()) == (200, first.json())
    assert len(intents_created(fake)) == 1
    assert db.scalar(select(func.count()).select_from(CheckoutPage).where(CheckoutPage.kind == "intent")) == 1
    other = book(api, db, practitioner, client_user, "12:00")
    reused = ask(api, db, other, client_user, **{"Idempotency-Key": "intent-1"})
    assert reused.status_code == 422
    assert reused.json()["errors"]["idempotencyKey"].startswith("This Idempotency-Key was used for a different request")
    assert len(intents_created(fake)) == 1


def test_a_retried_checkout_request_returns_the_first_answer(api, db, fake, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user)
    headers = {**bearer(client_user, db), "Idempotency-Key": "pay-1"}
    first = api.post(f"/api/bookings/{booking_id}/pay", headers=headers)
    assert first.status_code == 200, first.text
    cancel = {"reason": "Plans changed"}
    assert (
        api.post(f"/api/bookings/{booking_id}/cancel", json=cancel, headers=bearer(client_user, db)).status_code == 200
    )
    again = api.post(f"/api/bookings/{booking_id}/pay", headers=headers)
    assert (again.status_code, again.json()) == (200, first.json())
    assert api.post(f"/api/bookings/{booking_id}/pay", headers=bearer(client_user, db)).status_code == 409
    elsewhere = api.post(f"/api/bookings/{book(api, db, practitioner, client_user, '12:00')}/pay", headers=headers)
    assert elsewhere.status_code == 422


def test_a_retried_eft_choice_tells_the_client_once(api, db, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user)
    headers = {**bearer(client_user, db), "Idempotency-Key": "eft-1"}
    first = api.post(f"/api/bookings/{booking_id}/pay-by-eft", headers=headers)
    again = api.post(f"/api/bookings/{booking_id}/pay-by-eft", headers=headers)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    told = select(func.count()).where(Notification.user_id == client_user.id, Notification.type == "payment_eft")
    assert db.scalar(told) == 1


def test_a_retried_cancellation_returns_the_first_answer_not_409(api, db, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user)
    headers = {**bearer(client_user, db), "Idempotency-Key": "cancel-1"}
    first = api.post(f"/api/bookings/{booking_id}/cancel", json={"reason": "Plans changed"}, headers=headers)
    again = api.post(f"/api/bookings/{booking_id}/cancel", json={"reason": "Plans changed"}, headers=headers)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    other = api.post(f"/api/bookings/{booking_id}/cancel", json={"reason": "Another reason"}, headers=headers)
    assert other.status_code == 422
    unkeyed = api.post(
        f"/api/bookings/{booking_id}/cancel", json={"reason": "Plans changed"}, headers=bearer(client_user, db)
    )
    assert unkeyed.status_code == 409


def test_without_the_webhook_the_refresh_job_finds_our_paid_intent(api, db, fake, practitioner, client_user):
    """For deployments without a public webhook URL (and a lost event): the job asks Stripe
    about the intent we made, as it asks about Checkout pages, and confirms what it took."""
    from avenrae.services import flows

    booking_id = book(api, db, practitioner, client_user)
    intent = ask(api, db, booking_id, client_user).json()["paymentIntentId"]
    assert flows.refresh_open_payments(session=db) == 0  # not paid yet: still pending
    assert db.get(Booking, booking_id).status == BookingStatus.PENDING

    fake.pay_intent(intent)
    assert flows.refresh_open_payments(session=db) == 1
    db.expire_all()
    assert db.get(Booking, booking_id).status == BookingStatus.CONFIRMED
    status = api.get(f"/api/bookings/{booking_id}/payment", headers=bearer(client_user, db)).json()
    assert (status["status"], status["paid"]) == ("confirmed", 517.5)
    assert flows.refresh_payment(session=db, booking_id=db.get(Booking, booking_id).id) == "already recorded"


def test_the_refresh_job_records_our_intent_taking_another_amount_as_unmatched(
    api, db, fake, practitioner, client_user
):
    from avenrae.services import flows

    booking_id = book(api, db, practitioner, client_user)
    intent = ask(api, db, booking_id, client_user).json()["paymentIntentId"]
    fake.pay_intent(intent)
    fake.intents[intent]["amount_received"] = 51700
    assert flows.refresh_open_payments(session=db) == 0
    db.expire_all()
    assert db.get(Booking, booking_id).status == BookingStatus.PENDING
    [unmatched] = db.scalars(select(UnmatchedPayment)).all()
    assert (unmatched.payment_reference, unmatched.amount_cents) == (intent, 51700)
