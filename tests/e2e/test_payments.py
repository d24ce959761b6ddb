"""Money in a real browser and at the real webhook endpoint: a manual payment, a
cancellation with its refund, and Stripe events signed or forged."""

import json
import re
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from avenrae.models import (
    Booking,
    BookingStatus,
    CheckoutPage,
    MeetingType,
    PaymentStatus,
    PaymentTransaction,
    Practitioner,
    Role,
    StripeEvent,
    UnmatchedPayment,
    User,
)
from avenrae.seed import DEMO_PASSWORD
from avenrae.services import availability, bookings, flows
from avenrae.ui.payment import reference_for
from tests import stripe_objects
from tests.e2e.conftest import TIMEOUT
from tests.stripe_fake import signed_event

pytestmark = pytest.mark.e2e


def test_staff_book_take_cash_cancel_and_refund(offline, e2e_database_url):
    page = offline.log_in("staff@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_role("link", name="Book a session").wait_for(timeout=TIMEOUT)
    page.get_by_role("link", name="Book a session").click()
    page.get_by_role("textbox", name="Find a client").fill("client@demo.avenrae.co.za")
    page.keyboard.press("Enter")
    page.get_by_role("textbox", name="Find a practitioner").fill("practitioner@demo.avenrae.co.za")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Nomvula Mkhize").wait_for(timeout=TIMEOUT)
    times = page.locator('[data-testid="stButtonGroup"] button').filter(has_text=re.compile(r"^\d\d:\d\d$"))
    times.first.wait_for(timeout=TIMEOUT)
    times.first.click()
    confirm = page.get_by_role("button", name=re.compile(r"^Book .* for R"))
    confirm.wait_for(timeout=TIMEOUT)
    confirm.click()

    page.get_by_role("heading", name="Bookings").wait_for(timeout=TIMEOUT)
    page.wait_for_url(re.compile(r"booking="), timeout=TIMEOUT)
    booking_id = uuid.UUID(parse_qs(urlparse(page.url).query)["booking"][0])
    page.get_by_text("Record a payment received by hand").wait_for(timeout=TIMEOUT)
    page.get_by_role("textbox", name="Reference or receipt number").fill("Receipt E2E-1")
    page.get_by_role("button", name="Record payment…").click()
    page.get_by_role("button", name="Yes, record this payment").click()
    page.get_by_text(re.compile(r": Payment recorded; the booking is confirmed\.$")).first.wait_for(timeout=TIMEOUT)
    page.get_by_text(re.compile(r"Status: Confirmed")).wait_for(timeout=TIMEOUT)
    offline.screenshot("bookings-staff-paid-by-hand")

    page.get_by_role("textbox", name="Reason").fill("The client is unwell")
    page.get_by_test_id("stRadioGroup").get_by_text("Practitioner", exact=True).click()  # a full refund
    offline.settle()  # the radio reruns the page; a stale copy of the form lingers until it ends
    page.get_by_role("button", name="Cancel this booking…").click()
    page.get_by_text(re.compile(r"goes back\.")).wait_for(timeout=TIMEOUT)  # named, with its refund, first
    page.get_by_role("button", name="Yes, cancel this booking").click()
    page.get_by_text(re.compile(r"Booking cancelled\. R[\d.,]+ is owed back")).first.wait_for(timeout=TIMEOUT)

    page.get_by_role("link", name="Payments").click()
    page.get_by_role("heading", name="Refunds owed").wait_for(timeout=TIMEOUT)
    reference = reference_for(booking_id)
    owed = page.get_by_test_id("stHorizontalBlock").filter(has_text=f"booking {reference}")
    owed.get_by_role("button", name="Pay out").click()
    offline.settle()
    engine = create_engine(e2e_database_url)
    with Session(engine) as session:
        total = session.get(Booking, booking_id).total_amount
    assert page.get_by_role("spinbutton", name="Amount (R)").input_value() == f"{total:.2f}"  # what it is owed
    page.get_by_role("textbox", name="Reason (the client sees it)").fill("Cancelled by the practitioner")
    page.get_by_role("textbox", name="Refund reference (paid back by hand)").fill("EFT out E2E-1")
    page.get_by_role("button", name=f"Refund {reference}…").click()
    page.get_by_role("button", name=re.compile(r"^Yes, refund R")).click()  # asked first, naming the amount
    page.get_by_text(f"Refund of R{total:,.2f} recorded for {reference}.").first.wait_for(timeout=TIMEOUT)
    page.get_by_role("textbox", name="Client, practitioner or reference").fill("E2E-1")
    page.keyboard.press("Enter")
    page.get_by_text("2 rows · page 1 of 1").wait_for(timeout=TIMEOUT)
    offline.screenshot("payments-ledger-charge-and-refund")

    with Session(engine) as session:
        booking = session.get(Booking, booking_id)
        rows = session.scalars(select(PaymentTransaction).where(PaymentTransaction.booking_id == booking_id)).all()
        assert booking.status == BookingStatus.CANCELLED and booking.payment_status == PaymentStatus.REFUNDED
        assert sorted((r.kind.value, r.status.value, r.amount) for r in rows) == [
            ("charge", "completed", total),
            ("refund", "completed", total),
        ]
    engine.dispose()
    assert not offline.blocked


def post(url: str, payload: bytes, signature: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["Stripe-Signature"] = signature
    request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_webhook_endpoint_verifies_and_applies_once(app_url, e2e_database_url):
    engine = create_engine(e2e_database_url)
    with Session(engine) as session:
        client = session.scalar(select(User).where(User.email == "client@demo.avenrae.co.za"))
        practitioner = session.scalar(
            select(Practitioner).join(User).where(User.email == "practitioner@demo.avenrae.co.za")
        )
        now = datetime.now(UTC)
        start = availability.bookable_slots(
            session=session,
            practitioner_id=practitioner.id,
            start=now + timedelta(days=3),
            end=now + timedelta(days=30),
        )[-1]
        booking_id = flows.book(
            session=session,
            request=bookings.BookingRequest(client.id, practitioner.id, start, MeetingType.ONLINE),
            actor=bookings.Actor(client.id, Role.CLIENT),
        ).id
        booking = session.get(Booking, booking_id)
        cents = int(booking.total_amount * 100)
        # As "Pay online" leaves it: the Checkout page made for this booking.
        page_id = f"cs_e2e_{booking_id.hex[:12]}"
        session.add(
            CheckoutPage(
                reference=page_id,
                booking_id=booking_id,
                provider="stripe",
                amount_cents=cents,
                currency="zar",
                expires_at=now + timedelta(minutes=31),
            )
        )
        booking.stripe_checkout_session_id = page_id
        session.commit()
    endpoint = f"{app_url}/_avenrae/stripe/webhook"
    intent_id = f"pi_e2e_{booking_id.hex[:10]}"
    paid = stripe_objects.checkout_session(id=page_id, payment_intent=intent_id, amount_total=cents)
    payload, signature = signed_event("checkout.session.completed", paid)
    # Someone pays R1 on a payment link naming the booking: kept apart, never counted.
    forged = stripe_objects.checkout_session(
        id="cs_e2e_link", payment_intent="pi_e2e_link", amount_total=100, client_reference_id=str(booking_id)
    )
    assert post(endpoint, *signed_event("checkout.session.completed", forged)) == (
        200,
        {"result": "unmatched: refund queued"},
    )

    assert post(endpoint, payload, signature.replace("v1=", "v1=f"))[0] == 400
    assert post(endpoint, payload, None)[0] == 400
    old_payload, old_signature = signed_event("checkout.session.completed", paid, at=int(now.timestamp()) - 3600)
    assert post(endpoint, old_payload, old_signature)[0] == 400
    with Session(engine) as session:
        assert session.get(Booking, booking_id).status == BookingStatus.PENDING  # nothing applied yet
    assert post(endpoint, payload, signature) == (200, {"result": "confirmed"})
    assert post(endpoint, payload, signature) == (200, {"result": "duplicate"})
    assert post(endpoint, payload, signature) == (200, {"result": "duplicate"})
    with Session(engine) as session:
        booking = session.get(Booking, booking_id)
        assert (booking.status, booking.payment_status) == (BookingStatus.CONFIRMED, PaymentStatus.COMPLETED)
        charges = session.scalars(select(PaymentTransaction).where(PaymentTransaction.booking_id == booking_id)).all()
        assert [(c.status, c.provider_reference) for c in charges] == [(PaymentStatus.COMPLETED, intent_id)]
        assert session.scalars(select(UnmatchedPayment.payment_reference)).all() == ["pi_e2e_link"]
        assert session.get(StripeEvent, json.loads(payload)["id"]).processed_at is not None
    engine.dispose()
