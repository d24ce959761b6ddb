"""The payment step on Bookings, the staff Payments page and the Earnings page, in AppTest."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from avenrae.models import BookingStatus, PaymentStatus, PaymentTransaction, Practitioner, Role, TransactionKind, User
from avenrae.services import flows, payments
from avenrae.ui import format as fmt
from avenrae.ui.payment import reference_for
from tests.factories import make_booking, make_client, make_practitioner, make_transaction, make_user
from tests.stripe_fake import FakeStripe, client_for


@pytest.fixture
def client(db):
    return make_client(db, first_name="Lindiwe", last_name="Dube")


@pytest.fixture
def pending(db, client):
    booking = make_booking(
        db,
        practitioner=make_practitioner(db, rate="450.00"),
        client=client,
        start=datetime.now(UTC) + timedelta(days=3),
        status=BookingStatus.PENDING,
        hold_expires_at=datetime.now(UTC) + timedelta(minutes=15),
    )
    make_transaction(db, booking, status=PaymentStatus.PENDING, provider="pending", method=None)
    return booking


@pytest.fixture
def fake(monkeypatch):
    fake = FakeStripe()
    gateway = payments.StripeGateway(client_for(fake))
    monkeypatch.setattr(payments, "online_gateway", lambda: gateway)
    return fake


def button(app, label):
    return next(b for b in app.button if b.label == label)


def test_without_stripe_the_client_is_told_how_to_pay_by_eft(db, page, client, pending, monkeypatch):
    monkeypatch.setattr(payments, "online_gateway", lambda: None)
    app = page("pages/bookings.py", user=client)
    assert not app.exception
    assert any(reference_for(pending.id) in i.value and "R517.50" in i.value for i in app.info)
    assert not [b for b in app.button if b.label.startswith("Pay ")]
    assert "Card payments are not available yet" in " ".join(c.value for c in app.caption)  # said, not just missing


def test_without_stripe_staff_read_how_the_client_pays(db, page, pending, monkeypatch):
    # Found in a trial: staff read the client's words ("pay by EFT ... with our staff").
    monkeypatch.setattr(payments, "online_gateway", lambda: None)
    app = page("pages/bookings.py", user=make_user(db, role=Role.STAFF))
    captions = " ".join(c.value for c in app.caption)
    assert "the client pays by EFT, cash or card machine" in captions and "with our staff" not in captions


def test_the_client_pays_online_and_checking_confirms_the_booking(db, page, client, pending, fake):
    app = page("pages/bookings.py", user=client)
    button(app, "Pay R517.50 online").click()
    app = app.run()
    assert not app.exception
    [page_link] = app.get("link_button")
    assert page_link.proto.url.startswith("https://checkout.stripe.com/")
    assert len(app.get("image")) == 1  # the QR code
    button(app, "Check payment status").click()
    app = app.run()
    assert any(i.value.startswith("Not paid yet") for i in app.info)
    db.refresh(pending)
    fake.pay(pending.stripe_checkout_session_id)
    button(app, "Check payment status").click()
    app = app.run()
    assert app.success[0].value == "Paid — the booking is confirmed."
    db.refresh(pending)
    assert (pending.status, pending.payment_status) == (BookingStatus.CONFIRMED, PaymentStatus.COMPLETED)


def test_stripe_unreachable_is_a_plain_message_and_the_booking_stays_pending(db, page, client, pending, fake):
    fake.fail_next = "network"
    app = page("pages/bookings.py", user=client)
    button(app, "Pay R517.50 online").click()
    app = app.run()
    assert "could not reach Stripe" in app.error[0].value
    db.refresh(pending)
    assert pending.status == BookingStatus.PENDING and pending.stripe_checkout_session_id is None


def test_staff_record_a_cash_payment_and_a_wrong_amount_is_refused(db, page, client, pending, monkeypatch):
    monkeypatch.setattr(payments, "online_gateway", lambda: None)
    staff = make_user(db, role=Role.STAFF)
    app = page("pages/bookings.py", user=staff)
    # Said to staff as staff (a phone trial: "our staff confirm the booking as soon as it arrives").
    [to_staff] = [i.value for i in app.info if "by EFT" in i.value]
    assert to_staff.startswith(
        f"The client pays **R517.50** by EFT with the reference **{reference_for(pending.id)}** by **"
    )
    assert to_staff.endswith("**; record it below when it arrives.")
    next(b for b in app.selectbox if b.label == "Method").set_value("cash")
    next(t for t in app.text_input if t.label == "Reference or receipt number").input("Receipt 42")
    next(n for n in app.number_input if n.label == "Amount received (R)").set_value(500.0)
    app.button(key="FormSubmitter:manual_payment_" + str(pending.id) + "-Record payment…").click()
    app = app.run()
    assert app.error[0].value == (
        "This booking costs R517.50; record exactly that amount. Ask the client for the R17.50 still to pay, "
        "and record the whole amount once it is in."
    )
    next(n for n in app.number_input if n.label == "Amount received (R)").set_value(-5.0)
    app.button(key="FormSubmitter:manual_payment_" + str(pending.id) + "-Record payment…").click()
    app = app.run()
    assert app.error[0].value == "An amount received cannot be negative: this booking costs R517.50."
    next(n for n in app.number_input if n.label == "Amount received (R)").set_value(600.0)
    app.button(key="FormSubmitter:manual_payment_" + str(pending.id) + "-Record payment…").click()
    app = app.run()
    # Not said as fact: "500,00" typed on a phone arrives as 50000.00, a slip rather than R49,482.50 sent over.
    assert app.error[0].value == (
        "R600.00 is more than this booking costs (R517.50): check the amount typed (cents after a dot, as in "
        "517.50). If the client did send more, record R517.50 and pay the client back the R82.50 over."
    )
    db.refresh(pending)
    assert pending.status == BookingStatus.PENDING
    amount = next(n for n in app.number_input if n.label == "Amount received (R)")
    assert amount.value == 600.0  # what was typed stays, to be corrected
    assert next(t for t in app.text_input if t.label == "Reference or receipt number").value == "Receipt 42"
    amount.set_value(float(pending.total_amount))
    app.button(key="FormSubmitter:manual_payment_" + str(pending.id) + "-Record payment…").click()
    app = app.run()
    # Named first, with whose session it is (a phone trial: only the reference): a recorded payment never changes.
    practitioner = db.get(Practitioner, pending.practitioner_id)
    when = fmt.local_time(pending.session_start, fmt.default_zone())
    assert app.warning[0].value == (
        f"Record **R517.50** received by cash (reference “Receipt 42”) for **{reference_for(pending.id)}**, "
        f"Lindiwe Dube’s session with {fmt.md(practitioner.user.full_name)} on {when}? "
        "A recorded payment cannot be changed."
    )
    db.refresh(pending)
    assert pending.status == BookingStatus.PENDING
    app.button(key=f"confirm_manual_{pending.id}").click()
    app = app.run()
    said = f"R517.50 for {reference_for(pending.id)}: Payment recorded; the booking is confirmed."
    assert app.success[0].value == said
    db.refresh(pending)
    assert pending.status == BookingStatus.CONFIRMED


def paid_by_hand(db, booking, staff_user):
    from avenrae.services import bookings

    flows.record_manual_payment(
        session=db,
        booking_id=booking.id,
        actor=bookings.Actor(staff_user.id, Role.STAFF),
        method="eft",
        reference="FNB 77",
        amount=booking.total_amount,
    )


def test_staff_see_the_ledger_with_totals_and_refund_with_a_reference(db, page, pending):
    staff = make_user(db, role=Role.STAFF)
    paid_by_hand(db, pending, staff)
    app = page("pages/payments.py", user=staff)
    assert not app.exception
    assert [m.value for m in app.metric][:3] == ["R517.50", "R0.00", "R517.50"]
    table = app.dataframe[0].value
    assert list(table["Reference"]) == ["FNB 77"] and list(table["Paid via"]) == ["EFT"]
    next(n for n in app.number_input if n.label == "Amount (R)").set_value(100.0)
    refund_button = f"Refund {reference_for(pending.id)}…"
    next(b for b in app.button if b.label == refund_button).click()
    app = app.run()
    assert app.error  # no reason, no reference: refused
    assert db.scalars(select(PaymentTransaction).where(PaymentTransaction.kind == TransactionKind.REFUND)).all() == []
    next(n for n in app.number_input if n.label == "Amount (R)").set_value(100.0)
    next(t for t in app.text_input if t.label.startswith("Reason")).input("Session cut short")
    next(t for t in app.text_input if t.label.startswith("Refund reference")).input("FNB out 3")
    next(b for b in app.button if b.label == refund_button).click()
    app = app.run()
    # Asked first, naming the amount, how, to whom and the booking; nothing written until "Yes".
    client = db.get(User, pending.client_id)
    assert app.warning[0].value.startswith(
        f"Refund **R100.00** by EFT (reference “FNB out 3”) to **{client.first_name} {client.last_name}** "
        f"on booking **{reference_for(pending.id)}**?"
    )
    assert db.scalars(select(PaymentTransaction).where(PaymentTransaction.kind == TransactionKind.REFUND)).all() == []
    next(b for b in app.button if b.label == "Yes, refund R100.00").click()
    app = app.run()
    assert app.success[0].value == f"Refund of R100.00 recorded for {reference_for(pending.id)}."
    refund = db.scalars(select(PaymentTransaction).where(PaymentTransaction.kind == TransactionKind.REFUND)).one()
    assert (refund.amount, refund.provider_reference) == (Decimal("100.00"), "FNB out 3")
    assert [m.value for m in app.metric][:3] == ["R517.50", "R100.00", "R417.50"]
    # A fresh form: the payout just recorded cannot be sent again with one more click (found by a staff trial).
    assert next(t for t in app.text_input if t.label.startswith("Refund reference")).value == ""
    next(t for t in app.text_input if t.label.startswith("Reason")).input("Session cut short")
    next(t for t in app.text_input if t.label.startswith("Refund reference")).input("FNB out 3")
    next(b for b in app.button if b.label == refund_button).click()
    app = app.run()
    assert "A refund with the reference FNB out 3 is already recorded" in app.error[0].value
    refunds = select(PaymentTransaction).where(PaymentTransaction.kind == TransactionKind.REFUND)
    assert len(db.scalars(refunds).all()) == 1


def test_only_bookings_with_money_to_give_back_are_offered_for_a_refund(db, page, pending):
    staff = make_user(db, role=Role.STAFF)
    unpaid = make_booking(db, status=BookingStatus.PENDING, start=datetime.now(UTC) + timedelta(days=4),
                          hold_expires_at=datetime.now(UTC) + timedelta(minutes=15))
    make_transaction(db, unpaid, status=PaymentStatus.PENDING, provider="pending", method=None)  # nothing paid
    paid_by_hand(db, pending, staff)
    app = page("pages/payments.py", user=staff)
    assert reference_for(unpaid.id) in set(app.dataframe[0].value["Booking"])  # listed in the ledger above
    offered = next(s for s in app.selectbox if s.label == "Booking")
    client = db.get(User, pending.client_id)
    name = f"{client.first_name} {client.last_name}"
    assert offered.options == [f"{reference_for(pending.id)} · {name} · paid R517.50"]  # not offered for a refund


def test_an_inverted_or_empty_period_is_an_empty_state(db, page):
    app = page("pages/payments.py", user=make_user(db, role=Role.STAFF))
    app.date_input[0].set_value((datetime(2020, 1, 1).date(), datetime(2020, 1, 31).date()))
    app = app.run()
    assert any(i.value == "No payments match." for i in app.info)


def test_a_practitioner_sees_their_month(db, page, pending):
    staff = make_user(db, role=Role.STAFF)
    paid_by_hand(db, pending, staff)
    from avenrae.models import Practitioner

    owner = db.get(Practitioner, pending.practitioner_id).user
    app = page("pages/earnings.py", user=owner)
    assert not app.exception
    frame = app.dataframe[0].value
    assert list(frame["Earned"]) == ["R450.00"] and list(frame["Net"]) == ["R450.00"]
    assert list(frame["Sessions paid"]) == [1]
    this_month = datetime.now(ZoneInfo("Africa/Johannesburg")).strftime("%b %Y")  # "Dec 2026", not "2026-12"
    assert list(frame["Month"]) == [this_month] and app.metric[0].label == f"Sessions paid, {this_month}"
    assert "You earn your session rate" in app.caption[0].value


def test_a_practitioner_without_payments_sees_an_empty_state(db, page):
    app = page("pages/earnings.py", user=make_practitioner(db).user)
    assert app.info[0].value == "No payments in the last 12 months yet."


def test_the_default_period_ends_on_the_platforms_today_not_the_servers(monkeypatch):
    late = datetime(2026, 12, 2, 22, 30, tzinfo=UTC)  # 00:30 on the 3rd in Johannesburg

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return late.astimezone(tz) if tz is not None else late.replace(tzinfo=None)

    monkeypatch.setattr(fmt, "datetime", Clock)
    assert fmt.today() == date(2026, 12, 3)  # a payment made now falls inside "the last 30 days"
