"""Money at the edges: paid twice, one reference twice, late money, a practitioner's late move."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from avenrae.models import BookingStatus, Notification, PaymentStatus, Practitioner, Role
from avenrae.services import bookings, flows, ledger, payments
from avenrae.services.errors import InvalidInput
from tests.factories import make_booking, make_practitioner, make_transaction, make_weekly_hours
from tests.services import test_payments
from tests.services.test_payments import as_client


def deliver(db, gateway, kind, data) -> str:
    return test_payments.deliver(db, gateway, kind, data)[0]


def test_a_paid_twice_refund_stripe_refuses_is_still_owed_to_the_client(db, fake, gateway, client, pending, staff):
    """A client pays one booking twice online (the Checkout page and the app's own card form,
    both ours). The second payment is "being refunded in full"; Stripe refuses that refund.
    The R517.50 the client paid beyond the price must stay owed somewhere (Refunds owed,
    the refund-owed job), as it does for a cancelled booking. It is owed nowhere."""
    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    intent = flows.pay_in_app(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    fake.pay(pending.stripe_checkout_session_id)
    page = dict(fake.sessions[pending.stripe_checkout_session_id])
    assert deliver(db, gateway, "checkout.session.completed", page) == "confirmed"
    assert deliver(db, gateway, "payment_intent.succeeded", fake.pay_intent(intent.reference)) == "refund queued"
    fake.fail_next = "invalid"
    assert payments.send_queued_refunds(gateway=gateway) == payments.RefundRun(refused=1)
    db.expire_all()
    db.refresh(pending)
    # The ledger agrees the client has R1,035 in and nothing back ...
    assert ledger.balance(db, pending.id).refundable == Decimal("1035.00")
    assert pending.status == BookingStatus.CONFIRMED
    # ... yet the duplicate R517.50 is owed nowhere: not on Refunds owed, not to the job.
    owed_rows = {row.booking_id: row.outstanding for row in ledger.refunds_owed(session=db, role=Role.STAFF)}
    assert owed_rows.get(pending.id) == Decimal("517.50"), "paid-twice money Stripe refused to refund is owed nowhere"


def test_one_bank_transfer_reference_for_two_bookings_confirms_only_the_first(db, client, staff, pending):
    """A client pays two bookings, each by its own EFT, and the bank statement shows the same
    reference for both (the client's own reference, or one transfer staff split). Staff record
    the second: money_received sees a manual charge with that reference *anywhere* in the
    ledger and returns "already recorded". Nothing is written for the second booking, it stays
    pending (and will expire), yet staff are told the money was recorded and is owed back."""
    flows.record_manual_payment(
        session=db, booking_id=pending.id, actor=staff, method="eft", reference="Capitec 0042", amount=Decimal("517.50")
    )
    second = make_booking(
        db,
        practitioner=make_practitioner(db, rate="450.00"),
        client=client,
        start=datetime.now(UTC).replace(microsecond=0) + timedelta(days=4),
        status=BookingStatus.PENDING,
        hold_expires_at=datetime.now(UTC) + timedelta(hours=20),
        pays_by="eft",
    )
    make_transaction(db, second, status=PaymentStatus.PENDING, provider="pending", method=None)
    said = flows.record_manual_payment(
        session=db, booking_id=second.id, actor=staff, method="eft", reference="Capitec 0042", amount=Decimal("517.50")
    )
    db.refresh(second)
    charged = ledger.balance(db, second.id).charged
    assert (second.status, charged) == (BookingStatus.CONFIRMED, Decimal("517.50")), (
        f"second booking left {second.status.value} with R{charged} recorded; staff were told: {said!r}"
    )


def test_late_money_does_not_book_a_session_back_into_the_practitioners_time_off(db, fake, gateway, client, pending):
    """A card hold runs out and the booking is released. The practitioner then takes that day
    off (nothing is booked, so nothing is asked). The client's payment arrives late:
    `bookings.reinstate` books it again because only the exclusion constraint is asked, not
    the practitioner's hours or time off. The session is confirmed inside the time off."""
    from avenrae.services import availability

    flows.pay_online(session=db, booking_id=pending.id, actor=as_client(client), gateway=gateway)
    flows.expire_pending(session=db, now=pending.hold_expires_at + timedelta(seconds=1))
    practitioner = db.get(Practitioner, pending.practitioner_id)
    day = pending.session_start.astimezone(availability.ZoneInfo(practitioner.time_zone)).date()
    flows.add_time_off(
        session=db,
        practitioner_id=practitioner.id,
        actor=bookings.Actor(practitioner.user_id, Role.PRACTITIONER),
        first_day=day,
        last_day=day,
        reason="Family funeral",
    )
    outcome = deliver(db, gateway, "payment_intent.succeeded", fake.pay(pending.stripe_checkout_session_id))
    db.refresh(pending)
    state = availability.slot_state(
        session=db, practitioner_id=practitioner.id, start=pending.session_start, ignore_booking_id=pending.id
    )
    assert state == "closed"  # the time is not open: it is the practitioner's day off
    assert pending.status != BookingStatus.CONFIRMED, f"booked back into time off ({outcome!r})"


def test_an_eft_that_arrives_after_the_client_cancelled_can_still_be_recorded_and_owed_back(db, client, staff, pending):
    """A client pays a pending booking by EFT (it takes a day to clear) and, seeing it still
    "waiting for payment", cancels: "Nothing was paid, so nothing is refunded." The transfer
    then arrives. Staff cannot record it (only pending or expired bookings take a payment),
    so it can never be in the ledger, listed under Refunds owed or refunded through the
    platform (a refund beyond what the ledger says was paid is refused). Card money arriving
    for the same booking is recorded and given back (flows._give_back)."""
    pending.pays_by = "eft"
    pending.hold_expires_at = datetime.now(UTC) + timedelta(hours=20)
    db.flush()
    outcome = flows.cancel(session=db, booking_id=pending.id, actor=as_client(client), reason="Plans changed")
    assert outcome.message == "Booking cancelled. Nothing was paid, so nothing is refunded."
    said = flows.record_manual_payment(
        session=db, booking_id=pending.id, actor=staff, method="eft", reference="FNB 998877", amount=Decimal("517.50")
    )
    assert said == (
        "Payment recorded for a booking cancelled before it arrived: the booking stays cancelled and "
        "R517.50 is owed back to the client (see Payments)."
    )
    owed = {row.booking_id: row.outstanding for row in ledger.refunds_owed(session=db, role=Role.STAFF)}
    assert owed.get(pending.id) == Decimal("517.50"), said
    db.refresh(pending)
    assert pending.status == BookingStatus.CANCELLED
    told = db.scalars(
        select(Notification.message).where(Notification.user_id == client.id, Notification.type == "payment_returned")
    ).all()
    assert told == [
        "We received R517.50 for a booking that could not take it (paid after the booking was cancelled); "
        "our staff will pay it back to you."
    ]


def test_a_practitioner_cannot_move_a_paid_session_into_the_last_24_hours(db, client, staff):
    """The client may not move a session within 24 hours and gets nothing back cancelling
    then. So a practitioner who moved a paid session from next week to tomorrow morning would
    leave a client who cannot come no way out but a cancellation refunding R0 (found by
    review). The practitioner moves it at least 24 hours away, or staff move it sooner."""
    from zoneinfo import ZoneInfo

    from tests.factories import make_weekly_hours

    sast = ZoneInfo("Africa/Johannesburg")
    practitioner = make_practitioner(db, rate="450.00")
    make_weekly_hours(db, practitioner, {day: [("08:00", "17:00")] for day in range(7)})
    session_at = datetime.combine(
        (datetime.now(sast) + timedelta(days=3)).date(), datetime.min.time().replace(hour=10), sast
    )
    now = session_at - timedelta(hours=20)  # the evening before, 14:00
    booking = make_booking(
        db, practitioner=practitioner, client=client, start=session_at + timedelta(days=5),
        status=BookingStatus.PENDING, hold_expires_at=now + timedelta(minutes=15),
    )  # fmt: skip
    make_transaction(db, booking, status=PaymentStatus.PENDING, provider="pending", method=None)
    flows.record_manual_payment(
        session=db, booking_id=booking.id, actor=staff, method="eft", reference="ABSA 1", amount=Decimal("517.50"),
        now=now,
    )  # fmt: skip
    planned = booking.session_start
    moved_by = bookings.Actor(practitioner.user_id, Role.PRACTITIONER)
    with pytest.raises(InvalidInput) as refused:
        flows.reschedule(session=db, booking_id=booking.id, actor=moved_by, new_start=session_at, now=now)
    assert refused.value.problems == {"start": bookings.PRACTITIONER_LATE_MOVE}
    db.refresh(booking)
    assert booking.session_start == planned
    two_days_on = session_at + timedelta(days=1)  # 44 hours away: the client can still move or cancel it in full
    flows.reschedule(session=db, booking_id=booking.id, actor=moved_by, new_start=two_days_on, now=now)
    flows.reschedule(session=db, booking_id=booking.id, actor=staff, new_start=session_at, now=now)  # staff may
    db.refresh(booking)
    assert booking.session_start == session_at


def test_the_same_transfer_recorded_twice_for_one_booking_is_recorded_once(db, client, staff, pending):
    """The booking's hold ran out and its time went to someone else: the transfer is owed
    back. Staff recording it a second time (a second click, a second look at the statement)
    are told it is already there, and nothing more is owed."""
    flows.expire_pending(session=db, now=pending.hold_expires_at + timedelta(seconds=1))
    make_booking(db, practitioner=db.get(Practitioner, pending.practitioner_id), start=pending.session_start)
    record = functools.partial(
        flows.record_manual_payment,
        session=db, booking_id=pending.id, actor=staff, method="eft", reference="Capitec 0042",
        amount=Decimal("517.50"),
    )  # fmt: skip
    assert record().startswith("Payment recorded, but the booking's time is no longer open")
    assert record() == "That payment (Capitec 0042) is already recorded for this booking; nothing changed."
    db.refresh(pending)
    assert (pending.status, pending.refund_due) == (BookingStatus.CANCELLED, Decimal("517.50"))
    assert ledger.balance(db, pending.id).charged == Decimal("517.50")


def test_whatever_arrives_for_a_cancelled_booking_is_recorded_and_owed_back(db, client, staff, pending):
    """Found by a second new user's trial: R200 of a R517.50 booking, arriving after the client
    cancelled, was refused ("record exactly that amount. Ask the client for the R317.50 still
    to pay"), so it could never be owed back. Two cancelled bookings may share a reference."""
    hold = pending.hold_expires_at
    flows.cancel(session=db, booking_id=pending.id, actor=as_client(client), reason="Plans changed")
    said = flows.record_manual_payment(
        session=db, booking_id=pending.id, actor=staff, method="eft", reference="FNB 1", amount=Decimal("200.00")
    )
    assert said.endswith("R200.00 is owed back to the client (see Payments).")
    other = make_booking(db, client=client, status=BookingStatus.PENDING, hold_expires_at=hold)
    flows.cancel(session=db, booking_id=other.id, actor=as_client(client), reason="Plans changed")
    flows.record_manual_payment(
        session=db, booking_id=other.id, actor=staff, method="eft", reference="FNB 1", amount=Decimal("50.00")
    )
    owed = {row.booking_id: row.outstanding for row in ledger.refunds_owed(session=db, role=Role.STAFF)}
    assert (owed[pending.id], owed[other.id]) == (Decimal("200.00"), Decimal("50.00"))
    expired = make_booking(db, client=client, status=BookingStatus.PENDING, hold_expires_at=hold)
    make_transaction(db, expired, status=PaymentStatus.PENDING, provider="pending", method=None)
    flows.expire_pending(session=db, now=expired.hold_expires_at + timedelta(seconds=1))
    with pytest.raises(InvalidInput, match="record exactly that amount"):  # it can still be booked again in full
        flows.record_manual_payment(
            session=db, booking_id=expired.id, actor=staff, method="eft", reference="FNB 2", amount=Decimal("50.00")
        )


def test_money_for_a_cancelled_booking_is_checked_for_slips_and_recorded_once(db, client, staff, pending):
    """Found in review: for a cancelled booking any amount was taken ("517,50" typed on a phone
    arrives as R51,750.00), then listed as owed back and refundable in full; and the same
    transfer typed again as "fnb 4455" beside "FNB 4455" was recorded (and owed back) twice."""
    flows.cancel(session=db, booking_id=pending.id, actor=as_client(client), reason="Plans changed")
    record = functools.partial(
        flows.record_manual_payment, session=db, booking_id=pending.id, actor=staff, method="eft"
    )
    with pytest.raises(InvalidInput) as refused:
        record(reference="FNB 4455", amount=Decimal("51750.00"))
    assert refused.value.problems["amount"].startswith(
        "R51,750.00 is more than this booking costs (R517.50): check the amount typed"
    )
    assert ledger.balance(db, pending.id).charged == 0
    said = record(reference="FNB 4455", amount=Decimal("517.50"))
    assert said.endswith("R517.50 is owed back to the client (see Payments).")
    for again in ("fnb 4455", "FNB4455", " FNB  4455 "):
        with pytest.raises(InvalidInput, match=r"That payment \(.*\) is already recorded for this booking"):
            flows.check_manual_payment(
                session=db, booking_id=pending.id, actor=staff, method="eft", reference=again, amount=Decimal("517.50")
            )
        said = record(reference=again, amount=Decimal("517.50"))
        assert said.endswith("is already recorded for this booking; nothing changed.")
    assert ledger.balance(db, pending.id).charged == Decimal("517.50")
    owed = {row.booking_id: row.outstanding for row in ledger.refunds_owed(session=db, role=Role.STAFF)}
    assert owed[pending.id] == Decimal("517.50")


def test_staff_are_told_what_late_money_does_when_the_hold_ran_out_a_moment_ago(db, client, staff):
    """Found in review: the question before "Yes" said what late money does only for a booking the
    job had released; one whose hold ran out a minute ago (still pending) was recorded and owed
    back without a word, when its time was no longer open."""
    from avenrae.services import availability

    practitioner = make_practitioner(db, rate="450.00")
    make_weekly_hours(db, practitioner, {day: [("08:00", "17:00")] for day in range(7)})
    day = datetime.now(availability.ZoneInfo(practitioner.time_zone)).date() + timedelta(days=3)
    pending = make_booking(
        db,
        practitioner=practitioner,
        client=client,
        start=datetime.combine(day, time(10), availability.ZoneInfo(practitioner.time_zone)),
        status=BookingStatus.PENDING,
        hold_expires_at=datetime.now(UTC) - timedelta(minutes=1),  # ran out; the job has not run yet
    )
    make_transaction(db, pending, status=PaymentStatus.PENDING, provider="pending", method=None)
    check = functools.partial(
        flows.check_manual_payment, session=db, booking_id=pending.id, actor=staff, method="eft",
        reference="FNB 31", amount=Decimal("517.50"),
    )  # fmt: skip
    free = check().late
    flows.add_time_off(
        session=db,
        practitioner_id=practitioner.id,
        actor=bookings.Actor(practitioner.user_id, Role.PRACTITIONER),
        first_day=day,
        last_day=day,
        reason="Family funeral",
    )
    assert (free, check().late) == ("books again", "owed back")
    said = flows.record_manual_payment(
        session=db, booking_id=pending.id, actor=staff, method="eft", reference="FNB 31", amount=Decimal("517.50")
    )
    assert said.startswith("Payment recorded, but the booking's time is no longer open")


def test_a_transfer_for_a_booking_already_paid_is_recorded_and_owed_back(db, client, staff, pending):
    """Found in review: a client paid by card, then their EFT arrived too; staff could not record it
    ("Only pending or cancelled bookings take a payment"), so the money could only go back outside
    the ledger and Payments and Revenue never knew it had come in."""
    flows.record_manual_payment(
        session=db, booking_id=pending.id, actor=staff, method="card_machine", reference="Slip 7",
        amount=Decimal("517.50"),
    )
    db.refresh(pending)
    assert pending.status == BookingStatus.CONFIRMED
    record = functools.partial(
        flows.record_manual_payment, session=db, booking_id=pending.id, actor=staff, method="eft"
    )
    with pytest.raises(InvalidInput, match=r"^R5,175.00 is more than this booking costs"):
        record(reference="FNB 88", amount=Decimal("5175.00"))
    said = record(reference="FNB 88", amount=Decimal("517.50"))
    assert said == (
        "Payment recorded for a booking already paid: the booking stays confirmed and R517.50 is owed back to "
        "the client (see Payments)."
    )
    db.refresh(pending)
    assert pending.status == BookingStatus.CONFIRMED
    assert ledger.balance(db, pending.id).charged == Decimal("1035.00")
    owed = {row.booking_id: row.outstanding for row in ledger.refunds_owed(session=db, role=Role.STAFF)}
    assert owed[pending.id] == Decimal("517.50")


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("<b>x</b>", "The reference may hold letters, digits, spaces and - / . # : ( ) & ' , + only"),
        ("😀😀", "The reference may hold letters, digits, spaces and - / . # : ( ) & ' , + only"),
        ("A" * 300, "Keep the reference to 100 characters (cut 200)."),
    ],
)
def test_a_reference_typed_by_hand_reads_as_a_bank_or_receipt_reference(db, staff, pending, typed, problem):
    """Found by a new user's trial: "<b>x</b>" and "😀😀" went straight to "A recorded payment cannot be
    changed", for a payment and for a refund; and 300 characters were to be cut by 200 "under 100"."""
    with pytest.raises(InvalidInput) as refused:
        flows.check_manual_payment(
            session=db, booking_id=pending.id, actor=staff, method="eft", reference=typed, amount=Decimal("517.50")
        )
    assert refused.value.problems["reference"].startswith(problem)
    assert ledger.balance(db, pending.id).charged == 0
    for kept in ("FNB 123/45", "Capitec #0042 (Thabo's)", "Receipt: 7-A"):
        flows.check_manual_payment(
            session=db, booking_id=pending.id, actor=staff, method="eft", reference=kept, amount=Decimal("517.50")
        )
    flows.record_manual_payment(
        session=db, booking_id=pending.id, actor=staff, method="eft", reference="FNB 1", amount=Decimal("517.50")
    )
    with pytest.raises(InvalidInput) as refused:
        flows.refund(session=db, booking_id=pending.id, actor=staff, reason="Goodwill", amount=Decimal("10.00"),
                     method="cash", reference=typed)  # fmt: skip
    assert refused.value.problems["reference"].startswith(problem)
    assert ledger.balance(db, pending.id).refunded == 0


def test_one_refund_reference_is_recorded_once_for_a_booking(db, client, staff, pending):
    """Found by a staff trial: after a R100 cash payout the form stayed filled in, and the same
    receipt was accepted again for R200, so the ledger said R300 went back when R100 did."""
    flows.record_manual_payment(
        session=db, booking_id=pending.id, actor=staff, method="eft", reference="FNB 77", amount=Decimal("517.50")
    )
    pay_back = functools.partial(flows.refund, session=db, booking_id=pending.id, actor=staff, reason="Goodwill")
    pay_back(amount=Decimal("100.00"), method="cash", reference="Receipt 42")
    for again in ("Receipt 42", " receipt  42 "):
        with pytest.raises(InvalidInput) as refused:
            flows.check_refund(
                session=db, booking_id=pending.id, actor=staff, amount=Decimal("200.00"), reason="Goodwill",
                method="cash", reference=again,
            )  # fmt: skip
        assert refused.value.problems["reference"].startswith("A refund with the reference Receipt 42 is already")
        with pytest.raises(InvalidInput):
            pay_back(amount=Decimal("200.00"), method="cash", reference=again)
    assert ledger.balance(db, pending.id).refunded == Decimal("100.00")
    pay_back(amount=Decimal("200.00"), method="cash", reference="Receipt 43")
    assert ledger.balance(db, pending.id).refunded == Decimal("300.00")
