"""Payments through the real stripe library (fake transport), signed webhooks, manual
payments, refunds and a ledger the database keeps honest."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from avenrae.config import get_settings
from avenrae.models import (
    AuditLog,
    BookingStatus,
    CheckoutPage,
    Notification,
    PaymentStatus,
    PaymentTransaction,
    Practitioner,
    Role,
    StripeEvent,
    TransactionKind,
    UnmatchedPayment,
)
from avenrae.services import bookings, flows, ledger, payments
from avenrae.services.errors import InvalidInput, NotFound, PermissionDenied
from tests.factories import (
    make_booking,
    make_client,
    make_practitioner,
    make_transaction,
    make_weekly_hours,
)
from tests.stripe_fake import WEBHOOK_SECRET, signed_event

NOW = datetime.now(UTC).replace(microsecond=0)
SAST = ZoneInfo("Africa/Johannesburg")


def ledger_rows(db, booking):
    db.expire_all()  # rows may have been settled in transactions of their own (sending refunds)
    return db.scalars(
        select(PaymentTransaction)
        .where(PaymentTransaction.booking_id == booking.id)
        .order_by(PaymentTransaction.created_at, PaymentTransaction.kind)
    ).all()


def as_client(user) -> bookings.Actor:
    return bookings.Actor(user.id, Role.CLIENT)


# --- Stripe Checkout ------------------------------------------------------------------


def test_the_payment_page_asks_stripe_for_the_total_in_cents_zar_with_the_booking(db, fake, gateway, client, pending):
    link = flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    customer_call, session_call = fake.sent
    assert customer_call.path == "/v1/customers" and customer_call.form["email"] == "lindiwe@example.co.za"
    assert customer_call.headers["Idempotency-Key"] == f"avenrae-customer-{client.id}"
    assert session_call.path == "/v1/checkout/sessions"
    assert session_call.form["line_items[0][price_data][unit_amount]"] == "51750"  # R450 + R67.50 fee
    assert session_call.form["line_items[0][price_data][currency]"] == "zar"
    assert session_call.form["metadata[booking_id]"] == str(pending.id)
    assert session_call.form["payment_intent_data[metadata][booking_id]"] == str(pending.id)
    assert session_call.headers["Idempotency-Key"].startswith(f"avenrae-checkout-{pending.id}-")
    assert link.url.startswith("https://checkout.stripe.com/")
    db.refresh(client)
    assert client.stripe_customer_id == next(iter(fake.customers))
    assert pending.hold_expires_at >= NOW + timedelta(minutes=30)  # held as long as the page is open
    # Asking again gives the same page and creates no second customer.
    again = flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    assert again.url == link.url and len(fake.sent) == 2


def test_a_retried_request_after_a_lost_answer_gets_the_same_page(db, fake, gateway, client, pending):
    first = flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    pending.stripe_checkout_url = None  # as if our commit had been lost after Stripe answered
    db.flush()
    second = flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    assert second.url == first.url
    assert len(fake.sessions) == 1  # Stripe replayed the idempotent request


def test_stripe_unreachable_leaves_the_booking_pending_and_says_so(db, fake, gateway, client, pending):
    fake.fail_next = "network"
    with pytest.raises(payments.PaymentError, match="could not reach Stripe"), db.begin_nested():
        flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    db.refresh(pending)
    assert pending.status == BookingStatus.PENDING and pending.stripe_checkout_session_id is None
    assert [r.status for r in ledger_rows(db, pending)] == [PaymentStatus.PENDING]


def test_only_the_client_or_staff_open_the_payment_page(db, gateway, pending):
    stranger = make_client(db)
    with pytest.raises(NotFound, match="does not exist, or it is not yours"):
        flows.pay_online(session=db, booking_id=pending.id, actor=as_client(stranger), gateway=gateway)
    its_practitioner = bookings.Actor(db.get(Practitioner, pending.practitioner_id).user_id, Role.PRACTITIONER)
    with pytest.raises(PermissionDenied, match="paid by its client"):
        flows.pay_online(session=db, booking_id=pending.id, actor=its_practitioner, gateway=gateway)
    assert db.scalars(select(CheckoutPage)).all() == []


def test_without_stripe_keys_online_payment_is_refused_plainly(db, client, pending, monkeypatch):
    monkeypatch.setattr(payments, "online_gateway", lambda: None)
    with pytest.raises(payments.PaymentError, match="pay by EFT or cash"):
        flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client))


def test_refresh_confirms_a_paid_booking_once(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    assert flows.refresh_payment(session=db, booking_id=pending.id, gateway=gateway) == "open"
    fake.pay(pending.stripe_checkout_session_id)
    assert flows.refresh_payment(session=db, booking_id=pending.id, gateway=gateway) == "confirmed"
    assert flows.refresh_payment(session=db, booking_id=pending.id, gateway=gateway) == "already recorded"
    db.refresh(pending)
    assert (pending.status, pending.payment_status) == (BookingStatus.CONFIRMED, PaymentStatus.COMPLETED)
    [charge] = ledger_rows(db, pending)
    assert (charge.provider, charge.status, charge.amount) == ("stripe", PaymentStatus.COMPLETED, Decimal("517.50"))
    assert charge.provider_reference.startswith("pi_")


# --- webhooks ----------------------------------------------------------------------------


def deliver(db, gateway, kind, data, **signing):
    payload, signature = signed_event(kind, data, **signing)
    return (
        flows.handle_webhook(session=db, payload=payload, signature=signature, gateway=gateway, secret=WEBHOOK_SECRET),
        payload,
        signature,
    )


def test_a_valid_event_is_applied_once_even_when_delivered_three_times(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    intent = fake.pay(pending.stripe_checkout_session_id)
    payload, signature = signed_event("payment_intent.succeeded", intent)
    outcomes = [
        flows.handle_webhook(session=db, payload=payload, signature=signature, gateway=gateway, secret=WEBHOOK_SECRET)
        for _ in range(3)
    ]
    assert outcomes == ["confirmed", "duplicate", "duplicate"]
    assert len(ledger_rows(db, pending)) == 1
    assert db.scalar(select(func.count()).select_from(StripeEvent)) == 1
    confirmations = db.scalar(
        select(func.count()).select_from(Notification).where(Notification.type == "booking_confirmed")
    )
    assert confirmations == 2  # client and practitioner, once


def test_both_events_of_one_payment_record_it_once(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    intent = fake.pay(pending.stripe_checkout_session_id)
    page = dict(fake.sessions[pending.stripe_checkout_session_id])
    assert deliver(db, gateway, "checkout.session.completed", page)[0] == "confirmed"
    assert deliver(db, gateway, "payment_intent.succeeded", intent)[0] == "already recorded"
    assert [r.status for r in ledger_rows(db, pending)] == [PaymentStatus.COMPLETED]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p, s: (p.replace(b"succeeded", b"succeedeX"), s), id="forged body"),
        pytest.param(lambda p, s: (p, s.replace("v1=", "v1=0")), id="forged signature"),
        pytest.param(lambda p, s: (p, None), id="no signature"),
    ],
)
def test_forged_events_are_rejected_and_change_nothing(db, fake, gateway, client, pending, tamper):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    payload, signature = tamper(*signed_event("payment_intent.succeeded", fake.pay(pending.stripe_checkout_session_id)))
    with pytest.raises(payments.WebhookRejected):
        flows.handle_webhook(session=db, payload=payload, signature=signature, gateway=gateway, secret=WEBHOOK_SECRET)
    db.refresh(pending)
    assert pending.status == BookingStatus.PENDING
    assert db.scalar(select(func.count()).select_from(StripeEvent)) == 0


def test_a_wrong_secret_or_an_old_timestamp_is_rejected(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    intent = fake.pay(pending.stripe_checkout_session_id)
    for signing in ({"secret": "whsec_someone_else"}, {"at": int(NOW.timestamp()) - 3600}):
        payload, signature = signed_event("payment_intent.succeeded", intent, **signing)
        with pytest.raises(payments.WebhookRejected):
            flows.handle_webhook(
                session=db, payload=payload, signature=signature, gateway=gateway, secret=WEBHOOK_SECRET
            )
    db.refresh(pending)
    assert pending.status == BookingStatus.PENDING


def test_an_event_for_an_unknown_booking_is_kept_apart_and_given_back(db, fake, gateway):
    ghost = {
        "id": "pi_ghost",
        "object": "payment_intent",
        "amount_received": 1000,
        "currency": "zar",
        "metadata": {"booking_id": "00000000-0000-0000-0000-000000000000"},
    }
    fake.intents["pi_ghost"] = {**ghost, "amount": 1000}
    assert deliver(db, gateway, "payment_intent.succeeded", ghost)[0] == "unmatched: refund queued"
    event = db.scalars(select(StripeEvent)).one()
    assert event.processed_at is not None
    assert db.scalar(select(func.count()).select_from(PaymentTransaction)) == 0
    unmatched = db.scalars(select(UnmatchedPayment)).one()
    assert (unmatched.booking_id, unmatched.named_booking, unmatched.amount_cents) == (
        None,
        "00000000-0000-0000-0000-000000000000",
        1000,
    )
    assert payments.send_queued_refunds(gateway=gateway) == payments.RefundRun(sent=1)
    db.refresh(unmatched)
    assert unmatched.refund_status == "refunded" and unmatched.refund_reference.startswith("re_")


def test_a_declined_card_keeps_the_booking_pending_and_tells_the_client(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    intent = fake.decline(pending.stripe_checkout_session_id, "Your card has insufficient funds.")
    assert deliver(db, gateway, "payment_intent.payment_failed", intent)[0] == "failure noted"
    db.refresh(pending)
    assert (pending.status, pending.payment_status) == (BookingStatus.PENDING, PaymentStatus.PENDING)
    told = db.scalars(select(Notification).where(Notification.user_id == client.id)).one()
    assert told.title == "Payment did not go through" and "insufficient funds" in told.message
    assert flows.refresh_payment(session=db, booking_id=pending.id, gateway=gateway).startswith("failed: Your card")


def test_money_arriving_after_the_hold_ran_out_books_the_time_again_when_it_is_free(db, fake, gateway, client):
    practitioner = make_practitioner(db, rate="450.00")
    make_weekly_hours(db, practitioner, {day: [("08:00", "17:00")] for day in range(7)})
    ten_oclock = datetime.combine((NOW + timedelta(days=3)).date(), datetime.min.time().replace(hour=10), SAST)
    pending = make_booking(
        db,
        practitioner=practitioner,
        client=client,
        start=ten_oclock,  # one of its open times
        status=BookingStatus.PENDING,
        hold_expires_at=datetime.now(UTC) + timedelta(minutes=15),
    )
    make_transaction(db, pending, status=PaymentStatus.PENDING, provider="pending", method=None)
    payments_page = flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    assert payments_page.url
    flows.expire_pending(session=db, now=pending.hold_expires_at + timedelta(seconds=1))
    db.refresh(pending)
    assert (pending.status, pending.payment_status) == (BookingStatus.CANCELLED, PaymentStatus.EXPIRED)
    intent = fake.pay(pending.stripe_checkout_session_id)
    assert deliver(db, gateway, "payment_intent.succeeded", intent)[0] == "confirmed"
    db.refresh(pending)
    assert (pending.status, pending.payment_status) == (BookingStatus.CONFIRMED, PaymentStatus.COMPLETED)


def test_money_arriving_after_the_time_went_to_someone_else_goes_straight_back(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    flows.expire_pending(session=db, now=pending.hold_expires_at + timedelta(seconds=1))
    make_booking(
        db,
        practitioner=db.get(Practitioner, pending.practitioner_id),
        start=pending.session_start,
        status=BookingStatus.CONFIRMED,
    )
    intent = fake.pay(pending.stripe_checkout_session_id)
    assert deliver(db, gateway, "payment_intent.succeeded", intent)[0] == "refund queued"
    assert payments.send_queued_refunds(gateway=gateway) == payments.RefundRun(sent=1)
    rows = ledger_rows(db, pending)  # all written in this test's one transaction: same created_at
    assert sorted((r.kind.value, r.status.value) for r in rows) == [
        ("charge", "completed"),
        ("charge", "expired"),
        ("refund", "completed"),
    ]
    db.refresh(pending)
    assert pending.status == BookingStatus.CANCELLED and pending.payment_status == PaymentStatus.REFUNDED
    assert fake.sent[-1].path == "/v1/refunds" and fake.sent[-1].form["amount"] == "51750"


def test_refunds_made_in_the_stripe_dashboard_arrive_through_charge_refunded(db, fake, gateway, client, pending):
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    intent = fake.pay(pending.stripe_checkout_session_id)
    deliver(db, gateway, "payment_intent.succeeded", intent)
    fake.dashboard_refund(intent["id"], 10000)
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": intent["id"],
        "amount_refunded": 10000,
        "metadata": {},
    }
    outcome, payload, signature = deliver(db, gateway, "charge.refunded", charge)
    assert outcome == "refunds synced (1 changed)"
    assert (
        flows.handle_webhook(session=db, payload=payload, signature=signature, gateway=gateway, secret=WEBHOOK_SECRET)
        == "duplicate"
    )
    assert (
        deliver(
            db,
            gateway,
            "refund.updated",
            {"id": "re_x", "object": "refund", "payment_intent": intent["id"], "metadata": {}},
        )[0]
        == "refunds synced (0 changed)"
    )
    refunds = [r for r in ledger_rows(db, pending) if r.kind == TransactionKind.REFUND]
    assert [(r.amount, r.status) for r in refunds] == [(Decimal("100.00"), PaymentStatus.COMPLETED)]
    db.refresh(pending)
    assert pending.payment_status == PaymentStatus.COMPLETED  # partly refunded is still paid


def dashboard_refund_of_everything(db, fake, gateway, booking) -> list[PaymentTransaction]:
    """All of it refunded in Stripe's dashboard, told twice (as Stripe does): the ledger's refunds."""
    fake.dashboard_refund(booking.stripe_payment_intent_id, 51750)
    charge = {"id": "ch_1", "object": "charge", "payment_intent": booking.stripe_payment_intent_id, "metadata": {}}
    deliver(db, gateway, "charge.refunded", charge)
    refund = {"id": "re_x", "object": "refund", "payment_intent": booking.stripe_payment_intent_id, "metadata": {}}
    assert deliver(db, gateway, "refund.updated", refund)[0] == "refunds synced (0 changed)"
    db.refresh(booking)
    return [r for r in ledger_rows(db, booking) if r.kind == TransactionKind.REFUND]


def test_a_dashboard_refund_takes_the_place_of_a_refund_queued_and_not_sent(db, fake, gateway, staff, client, pending):
    paid_online(db, fake, gateway, client, pending)  # R517.50 by card
    queued = flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("100"), reason="Came late")
    refunds = dashboard_refund_of_everything(db, fake, gateway, pending)  # before the queue was sent
    assert sorted((r.amount, r.status) for r in refunds) == [
        (Decimal("100.00"), PaymentStatus.FAILED),
        (Decimal("517.50"), PaymentStatus.COMPLETED),
    ]
    assert next(r for r in refunds if r.id == queued.to_send[0]).failure_reason == (
        "Not sent: a refund made in the payment provider's dashboard came first."
    )
    assert payments.send_queued_refunds(gateway=gateway, ids=queued.to_send) == payments.RefundRun()
    assert pending.payment_status == PaymentStatus.REFUNDED
    assert db.scalars(select(AuditLog).where(AuditLog.action == ledger.OVER_REFUNDED)).all() == []


def test_a_dashboard_refund_beyond_what_is_left_is_recorded_within_it_and_told_to_staff_once(
    db, fake, gateway, staff, client, pending, monkeypatch
):
    paid_online(db, fake, gateway, client, pending)  # R517.50 by card
    with monkeypatch.context() as card_refunds_off:  # so staff pay R100 back by EFT
        card_refunds_off.setattr(get_settings(), "stripe_secret_key", None)
        flows.refund(
            session=db, booking_id=pending.id, actor=staff, amount=Decimal("100"), reason="Came late", method="eft",
            reference="FNB out 1",
        )  # fmt: skip
    refunds = dashboard_refund_of_everything(db, fake, gateway, pending)
    assert sorted((r.provider, r.amount) for r in refunds) == [
        (ledger.MANUAL, Decimal("100.00")),
        ("stripe", Decimal("417.50")),  # never more than was paid
    ]
    [dashboard] = [r for r in refunds if r.provider == "stripe"]
    assert dashboard.failure_reason.endswith(
        "It refunded R517.50 but only R417.50 was left to refund: R100.00 more than was paid has gone back."
    )
    [told] = db.scalars(select(AuditLog).where(AuditLog.action == ledger.OVER_REFUNDED)).all()
    assert (told.target_id, told.after["over"]) == (str(pending.id), "100.00")
    assert pending.payment_status == PaymentStatus.REFUNDED


def test_a_refund_already_sent_is_never_taken_for_an_unsent_one(db, fake, gateway, staff, client, pending):
    """Stripe's list was read a moment before our refund went out, so it is not on it: the
    refund keeps its reference and stays on its way; only the dashboard refund is capped."""
    paid_online(db, fake, gateway, client, pending)
    sent = flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("100"), reason="Came late")
    fake.new_refund_status = "pending"  # Stripe accepts it and is still processing it
    payments.send_queued_refunds(gateway=gateway, ids=sent.to_send)
    ours = db.get(PaymentTransaction, sent.to_send[0])
    db.refresh(ours)
    assert (ours.status, ours.provider_reference is not None) == (PaymentStatus.PENDING, True)  # sent
    dashboard = ledger.ProviderRefund("re_dashboard_1", Decimal("517.50"), PaymentStatus.COMPLETED, None)
    ledger.sync_provider_refunds(
        db, pending, provider="stripe", payment_reference=pending.stripe_payment_intent_id, refunds=[dashboard]
    )
    db.refresh(ours)
    assert (ours.status, ours.provider_reference is not None) == (PaymentStatus.PENDING, True)
    recorded = db.scalars(select(PaymentTransaction).where(PaymentTransaction.provider_reference == "re_dashboard_1"))
    assert [r.amount for r in recorded] == [Decimal("417.50")]


def test_a_dashboard_refund_that_failed_moves_no_money_and_leaves_the_queue_alone(
    db, fake, gateway, staff, client, pending
):
    paid_online(db, fake, gateway, client, pending)
    queued = flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("517.50"), reason="Policy")
    fake.dashboard_refund(pending.stripe_payment_intent_id, 51750, status="failed")
    charge = {"id": "ch_1", "object": "charge", "payment_intent": pending.stripe_payment_intent_id, "metadata": {}}
    deliver(db, gateway, "charge.refunded", charge)
    refunds = {r.id: r for r in ledger_rows(db, pending) if r.kind == TransactionKind.REFUND}
    assert refunds[queued.to_send[0]].status == PaymentStatus.PENDING  # still to send
    [tried] = [r for r in refunds.values() if r.id != queued.to_send[0]]
    assert (tried.status, tried.failure_reason) == (
        PaymentStatus.FAILED, "Tried in the payment provider's dashboard; it failed.",
    )  # fmt: skip
    assert db.scalars(select(AuditLog).where(AuditLog.action == ledger.OVER_REFUNDED)).all() == []
    assert ledger.balance(db, pending.id).refunds_pending == Decimal("517.50")  # nothing else counts as given back


# --- manual payments and refunds -----------------------------------------------------------


def test_staff_record_an_eft_and_the_booking_is_confirmed_and_audited(db, staff, pending):
    flows.record_manual_payment(
        session=db, booking_id=pending.id, actor=staff, method="eft", reference="FNB 12345", amount=Decimal("517.50")
    )
    db.refresh(pending)
    assert (pending.status, pending.payment_status) == (BookingStatus.CONFIRMED, PaymentStatus.COMPLETED)
    [charge] = ledger_rows(db, pending)
    assert (charge.provider, charge.method, charge.provider_reference) == ("manual", "eft", "FNB 12345")
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "payment.record_manual")) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"method": "bitcoin"}, "method"),
        ({"reference": "  "}, "reference"),
        ({"amount": Decimal("500.00")}, "amount"),
    ],
)
def test_bad_manual_payments_are_refused_and_write_nothing(db, staff, pending, changes, field):
    values = {"method": "cash", "reference": "Receipt 7", "amount": Decimal("517.50"), **changes}
    with pytest.raises(InvalidInput) as refused:
        flows.record_manual_payment(session=db, booking_id=pending.id, actor=staff, **values)
    assert field in refused.value.problems
    db.refresh(pending)
    assert pending.status == BookingStatus.PENDING
    assert [r.status for r in ledger_rows(db, pending)] == [PaymentStatus.PENDING]


def test_clients_cannot_record_payments(db, client, pending):
    with pytest.raises(PermissionDenied):
        flows.record_manual_payment(
            session=db,
            booking_id=pending.id,
            actor=as_client(client),
            method="cash",
            reference="x",
            amount=Decimal("517.50"),
        )


def paid_online(db, fake, gateway, client, booking):
    flows.pay_online(session=db, booking_id=booking.id, actor=as_client(client), gateway=gateway)
    deliver(db, gateway, "payment_intent.succeeded", fake.pay(booking.stripe_checkout_session_id))
    db.refresh(booking)
    return booking


def test_staff_refund_part_then_the_rest_never_more(db, fake, gateway, staff, client, pending):
    paid_online(db, fake, gateway, client, pending)
    first = flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("100"), reason="Came late")
    assert payments.send_queued_refunds(gateway=gateway, ids=first.to_send) == payments.RefundRun(sent=1)
    assert fake.sent[-1].form["amount"] == "10000"
    assert fake.sent[-1].headers["Idempotency-Key"] == f"avenrae-refund-{first.to_send[0]}"
    with pytest.raises(InvalidInput, match=r"At most R417\.50"):
        flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("417.51"), reason="x")
    flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("417.50"), reason="Unwell")
    payments.send_queued_refunds(gateway=gateway)
    db.refresh(pending)
    assert pending.payment_status == PaymentStatus.REFUNDED
    assert ledger.balance(db, pending.id).refundable == 0


def test_a_payment_already_paid_back_by_hand_is_not_chosen_again(db, fake, gateway, staff, client, pending):
    # Paid twice: by card, then in cash at the practice. The cash went back by hand; what is
    # left to return is the card payment, which goes back through Stripe without a reference.
    paid_online(db, fake, gateway, client, pending)
    make_transaction(db, pending, provider="manual", method="cash", amount=Decimal("517.50"),
                     created_at=datetime.now(UTC) + timedelta(minutes=1))
    flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("517.50"), reason="Paid twice",
                 method="cash", reference="Cash back 1")
    rest = flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("517.50"), reason="Unwell")
    assert [(row.provider, row.amount) for row in rest.rows] == [("stripe", Decimal("517.50"))]
    assert ledger.balance(db, pending.id).refundable == 0


def test_a_refund_waits_while_stripe_is_not_configured_here(db, fake, gateway, client, pending, caplog, monkeypatch):
    paid_online(db, fake, gateway, client, pending)
    outcome = flows.cancel(session=db, booking_id=pending.id, actor=as_client(client), reason="Travelling")
    monkeypatch.setattr(payments, "online_gateway", lambda: None)
    assert payments.send_queued_refunds(ids=outcome.to_send) == payments.RefundRun(waiting=1)  # no gateway set up
    [line] = [r for r in caplog.records if r.name == payments.log.name]
    assert line.levelname == "WARNING" and line.exc_info is None
    assert "need stripe to be configured" in line.getMessage()
    assert ledger.owed(db, pending) == 0 and fake.sent[-1].path != "/v1/refunds"  # queued, not sent


def test_without_stripe_here_a_card_refund_is_owed_and_staff_pay_it_back_by_hand(
    db, fake, gateway, staff, client, pending, monkeypatch
):
    paid_online(db, fake, gateway, client, pending)  # paid by card while Stripe was set up
    monkeypatch.setattr(get_settings(), "stripe_secret_key", None)  # ... and now it is not
    outcome = flows.cancel(session=db, booking_id=pending.id, actor=as_client(client), reason="Travelling")
    assert outcome.to_send == [] and "Our staff will contact you to arrange paying it back" in outcome.message
    assert [r.kind for r in ledger_rows(db, pending)].count(TransactionKind.REFUND) == 0  # nothing stuck pending
    owed = ledger.refunds_owed(session=db, role=staff.role)
    assert [(o.booking_id, o.outstanding) for o in owed] == [(pending.id, Decimal("517.50"))]
    owing = ledger.RefundProgress(owed=Decimal("517.50"), on_its_way=Decimal("0.00"))
    assert ledger.refund_progress(db, [pending.id, uuid.uuid4()]) == {pending.id: owing}  # only those with one due
    assert flows.refund_owed_automatically(gateway=gateway) == payments.RefundRun()  # the job leaves it to staff
    with pytest.raises(InvalidInput, match="Card refunds are not set up here: pay the refund by EFT or cash"):
        flows.check_refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("517.50"), reason="Policy")
    done = flows.refund(
        session=db,
        booking_id=pending.id,
        actor=staff,
        amount=Decimal("517.50"),
        reason="Policy",
        method="eft",
        reference="FNB out 7",
    )
    assert done.to_send == []
    [refund] = [r for r in ledger_rows(db, pending) if r.kind == TransactionKind.REFUND]
    assert (refund.provider, refund.method, refund.status, refund.provider_reference) == (
        ledger.MANUAL,
        "eft",
        PaymentStatus.COMPLETED,
        "FNB out 7",
    )
    assert ledger.refunds_owed(session=db, role=staff.role) == []
    db.refresh(pending)
    assert pending.payment_status == PaymentStatus.REFUNDED


def test_a_refund_stripe_refuses_is_marked_failed_and_the_money_stays_refundable(
    db, fake, gateway, staff, client, pending
):
    paid_online(db, fake, gateway, client, pending)
    queued = flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("50"), reason="x")
    fake.fail_next = "invalid"
    assert payments.send_queued_refunds(gateway=gateway, ids=queued.to_send) == payments.RefundRun(refused=1)
    refund = [r for r in ledger_rows(db, pending) if r.kind == TransactionKind.REFUND]
    assert [r.status for r in refund] == [PaymentStatus.FAILED] and "Stripe refused" in refund[0].failure_reason
    assert ledger.balance(db, pending.id).refundable == Decimal("517.50")


def test_cancelling_a_day_ahead_refunds_online_payments_at_once(db, fake, gateway, client, pending):
    paid_online(db, fake, gateway, client, pending)
    outcome = flows.cancel(session=db, booking_id=pending.id, actor=as_client(client), reason="Travelling")
    assert outcome.refund_due == Decimal("517.50") and len(outcome.to_send) == 1
    assert outcome.message == "Booking cancelled. R517.50 is being refunded."
    assert payments.send_queued_refunds(gateway=gateway, ids=outcome.to_send) == payments.RefundRun(sent=1)
    db.refresh(pending)
    assert pending.payment_status == PaymentStatus.REFUNDED
    assert ledger.owed(db, pending) == 0


def test_when_stripe_is_down_the_refund_stays_queued_and_the_job_sends_it(db, fake, gateway, client, pending, caplog):
    paid_online(db, fake, gateway, client, pending)
    outcome = flows.cancel(session=db, booking_id=pending.id, actor=as_client(client), reason="Travelling")
    fake.fail_next = "network"
    assert payments.send_queued_refunds(gateway=gateway, ids=outcome.to_send) == payments.RefundRun(waiting=1)
    # An expected failure is one line in the log, not a traceback at every run of the job.
    [line] = [r for r in caplog.records if r.name == payments.log.name]
    assert line.levelname == "WARNING" and line.exc_info is None
    assert str(outcome.to_send[0]) in line.getMessage() and "asks again" in line.getMessage()
    db.refresh(pending)
    assert pending.status == BookingStatus.CANCELLED
    assert ledger.owed(db, pending) == 0  # queued: owed no more, not yet paid out
    on_its_way = ledger.RefundProgress(owed=Decimal("0.00"), on_its_way=Decimal("517.50"))
    assert ledger.refund_progress(db, [pending.id]) == {pending.id: on_its_way}
    assert flows.refund_owed_automatically(gateway=gateway) == payments.RefundRun(sent=1)
    assert ledger.refund_progress(db, [pending.id]) == {pending.id: ledger.RefundProgress(Decimal(0), Decimal(0))}
    db.refresh(pending)
    assert pending.payment_status == PaymentStatus.REFUNDED
    keys = [call.headers["Idempotency-Key"] for call in fake.sent if call.path == "/v1/refunds"]
    assert keys == [f"avenrae-refund-{outcome.to_send[0]}"] * 2  # the retry asked for the same refund


def test_manual_payments_are_refunded_by_staff_with_a_reference(db, staff, client, pending):
    flows.record_manual_payment(
        session=db, booking_id=pending.id, actor=staff, method="cash", reference="Receipt 9", amount=Decimal("517.50")
    )
    outcome = flows.cancel(session=db, booking_id=pending.id, actor=as_client(client), reason="Sick")
    assert "Our staff will contact you to arrange paying it back" in outcome.message
    owed = ledger.refunds_owed(session=db, role=staff.role)
    assert [(o.booking_id, o.outstanding, o.paid_via) for o in owed] == [(pending.id, Decimal("517.50"), "Cash")]
    with pytest.raises(InvalidInput, match="give its reference"):
        flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("517.50"), reason="Policy")
    flows.refund(
        session=db,
        booking_id=pending.id,
        actor=staff,
        amount=Decimal("517.50"),
        reason="Policy",
        method="eft",
        reference="FNB out 1",
    )
    assert ledger.refunds_owed(session=db, role=staff.role) == []


def test_a_refund_asked_for_a_booking_that_does_not_exist_says_so(db, staff):
    for ask in (flows.check_refund, flows.refund):  # asked first, then made: the same answer
        with pytest.raises(NotFound, match="That booking does not exist"):
            ask(session=db, booking_id=uuid.uuid4(), actor=staff, amount=Decimal("10"), reason="Policy")


# --- the database keeps the ledger honest ------------------------------------------------------


def test_the_database_refuses_refunds_beyond_what_was_paid(db, pending):
    make_transaction(db, pending, amount=Decimal("100.00"))
    with pytest.raises(DBAPIError, match="would exceed what was paid"), db.begin_nested():
        make_transaction(db, pending, kind=TransactionKind.REFUND, amount=Decimal("100.01"))


def test_settled_ledger_rows_never_change_and_none_is_deleted(db, pending):
    row = make_transaction(db, pending, amount=Decimal("517.50"))
    for statement in (
        "UPDATE payment_transactions SET amount = 1 WHERE id = :id",
        "UPDATE payment_transactions SET status = 'failed' WHERE id = :id",
        "DELETE FROM payment_transactions WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="ledger row"), db.begin_nested():
            db.execute(text(statement), {"id": row.id})


def test_a_charge_counts_from_when_it_was_settled_and_only_settling_moves_it(db, client, staff):
    """An EFT recorded a day after the booking counts on the day it arrived, not the booking's."""
    booking = make_booking(
        db,
        practitioner=make_practitioner(db, rate="450.00"),
        client=client,
        start=NOW + timedelta(days=3),
        status=BookingStatus.PENDING,
        hold_expires_at=datetime.now(UTC) + timedelta(hours=2),
    )
    asked = make_transaction(
        db, booking, status=PaymentStatus.PENDING, provider="pending", method=None, created_at=NOW - timedelta(days=1)
    )
    for statement in (  # a pending row's time moves only as it is completed, and only forward
        "UPDATE payment_transactions SET created_at = now() WHERE id = :id",
        "UPDATE payment_transactions SET status = 'failed', created_at = now() WHERE id = :id",
        "UPDATE payment_transactions SET status = 'completed', created_at = created_at - interval '1 day' "
        "WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="ledger row"), db.begin_nested():
            db.execute(text(statement), {"id": asked.id})
    flows.record_manual_payment(
        session=db, booking_id=booking.id, actor=staff, method="eft", reference="FNB 7", amount=Decimal("517.50")
    )
    [charge] = ledger_rows(db, booking)
    assert charge.id == asked.id and charge.status == PaymentStatus.COMPLETED
    assert charge.created_at > NOW - timedelta(minutes=1)  # today, when it was recorded
    with pytest.raises(DBAPIError, match="ledger row"), db.begin_nested():
        db.execute(text("UPDATE payment_transactions SET created_at = now() + interval '1 day' WHERE id = :id"),
                   {"id": charge.id})


def test_staff_ledger_totals_and_filters(db, fake, gateway, staff, client, pending):
    paid_online(db, fake, gateway, client, pending)
    flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("17.50"), reason="Goodwill")
    payments.send_queued_refunds(gateway=gateway)
    page = ledger.staff_list(session=db, role=staff.role)
    assert page.total == 2
    assert (page.totals.totals.charged, page.totals.totals.refunded, page.totals.totals.net) == (
        Decimal("517.50"),
        Decimal("17.50"),
        Decimal("500.00"),
    )
    # The fee share of the charge, less the fee share of the refund: R17.50 - round(17.50 x 450/517.50) = R2.28.
    assert page.totals.totals.platform_fees == Decimal("65.22")
    refunds_only = ledger.staff_list(
        session=db, role=staff.role, filters=ledger.LedgerFilter(kinds=(TransactionKind.REFUND,))
    )
    assert [r.amount for r in refunds_only.rows] == [Decimal("17.50")]
    assert ledger.staff_list(session=db, role=staff.role, filters=ledger.LedgerFilter(text="lindiwe")).total == 2
    with pytest.raises(InvalidInput):
        ledger.staff_list(
            session=db, role=staff.role, filters=ledger.LedgerFilter(start=NOW, end=NOW - timedelta(days=1))
        )
    with pytest.raises(PermissionDenied):
        ledger.staff_list(session=db, role=Role.CLIENT)


def test_practitioner_earnings_by_month_are_service_amounts_less_their_share_of_refunds(
    db, fake, gateway, staff, client, pending
):
    paid_online(db, fake, gateway, client, pending)
    flows.refund(session=db, booking_id=pending.id, actor=staff, amount=Decimal("115.00"), reason="Half hour")
    payments.send_queued_refunds(gateway=gateway)
    owner = db.scalar(select(Practitioner.user_id).where(Practitioner.id == pending.practitioner_id))
    [month] = ledger.earnings(session=db, role=Role.PRACTITIONER, user_id=owner)
    # R115 of R517.50 refunded; the practitioner's share is 450/517.50 of it: R100.00.
    assert (month.sessions, month.earned, month.refunds, month.net) == (
        1,
        Decimal("450.00"),
        Decimal("100.00"),
        Decimal("350.00"),
    )
    with pytest.raises(PermissionDenied):
        ledger.earnings(session=db, role=Role.PRACTITIONER, user_id=owner, practitioner_id=make_practitioner(db).id)


def test_an_amount_that_is_no_amount_is_refused_in_words_and_writes_nothing(db, staff, pending):
    before = [(r.kind, r.status, r.amount) for r in ledger_rows(db, pending)]
    asked = {"session": db, "booking_id": pending.id, "actor": staff}
    for typed in (Decimal("1e30"), Decimal("Infinity"), Decimal("NaN"), Decimal("-1e13")):
        for action, more in (
            (flows.record_manual_payment, {"method": "eft", "reference": "FNB 1"}),
            (flows.check_refund, {"reason": "Goodwill"}),
            (flows.refund, {"reason": "Goodwill"}),
        ):
            with pytest.raises(InvalidInput) as refused:
                action(**asked, **more, amount=typed)
            assert refused.value.problems["amount"] == "Enter the amount in rand, below R1,000,000,000,000."
    assert [(r.kind, r.status, r.amount) for r in ledger_rows(db, pending)] == before
    db.refresh(pending)
    assert pending.status == BookingStatus.PENDING


def test_automatic_refunds_stop_after_three_refusals_not_after_refunds_that_gave_way(db, client, pending):
    make_transaction(db, pending, provider="stripe", method=None, provider_reference="pi_owed")
    pending.status, pending.cancelled_at, pending.refund_due = BookingStatus.CANCELLED, NOW, pending.total_amount
    db.flush()

    def failed(reason: str) -> None:
        make_transaction(
            db, pending, kind=TransactionKind.REFUND, provider="stripe", method=None,
            status=PaymentStatus.FAILED, failure_reason=reason,
        )  # fmt: skip

    for _ in range(3):
        failed(ledger.SUPERSEDED)
        failed(ledger.DASHBOARD_FAILED)
    assert ledger.owed_online(db) == [pending.id]  # none of those was Stripe saying no to ours
    for _ in range(2):
        failed("Refused: the charge is disputed")
    assert ledger.owed_online(db) == [pending.id]
    failed("Refused: the charge is disputed")
    assert ledger.owed_online(db) == []  # staff take over


def test_earnings_cover_twelve_whole_months_in_the_practitioners_zone(db):
    """The oldest month was cut 372 days back, part way through it, and read as a whole month."""
    practitioner = make_practitioner(db, rate="400.00")
    sast = ZoneInfo("Africa/Johannesburg")
    this_month = datetime.now(sast).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    oldest = this_month - relativedelta(months=11)
    for moment in (oldest, oldest + timedelta(days=20), oldest - timedelta(seconds=1)):
        make_transaction(db, make_booking(db, practitioner=practitioner), created_at=moment)
    months = ledger.earnings(session=db, role=Role.PRACTITIONER, user_id=practitioner.user_id)
    assert [(m.month, m.sessions, m.earned) for m in months] == [
        (f"{oldest:%Y-%m}", 2, Decimal("800.00"))  # the one a second before it is the 13th month back
    ]
