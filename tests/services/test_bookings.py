"""Bookings: creating at a slot, holds, the lifecycle, the refund policy, and what each role may see."""

import functools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select, text

from avenrae.config import get_settings
from avenrae.models import (
    AuditLog,
    Booking,
    BookingStatus,
    MeetingType,
    Notification,
    PaymentStatus,
    PaymentTransaction,
    Role,
    TransactionKind,
    VerificationStatus,
)
from avenrae.services import availability, bookings, flows, ledger
from avenrae.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.factories import (
    make_booking,
    make_client,
    make_practitioner,
    make_review,
    make_transaction,
    make_user,
    make_weekly_hours,
)
from tests.plans import explain, indexes_used, nodes

SAST = ZoneInfo("Africa/Johannesburg")
MONDAY = date(2030, 1, 7)
TUESDAY = MONDAY + timedelta(days=1)
NOW = datetime(2030, 1, 7, 7, 0, tzinfo=SAST)


def at(hhmm: str, day: date = MONDAY) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), SAST)


def actor(user) -> bookings.Actor:
    return bookings.Actor(user.id, user.role)


def count(db, model, *where) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def practitioner(db):
    found = make_practitioner(db, rate="333.30", session_duration_minutes=60, offers_online=False)
    make_weekly_hours(db, found, {0: [("09:00", "17:00")], 1: [("09:00", "17:00")]})
    return found


@pytest.fixture
def client(db):
    return make_client(db, first_name="Lindiwe")


def request(client, practitioner, hhmm="10:00", day=MONDAY, **changes) -> bookings.BookingRequest:
    values = {"client_id": client.id, "practitioner_id": practitioner.id, "start": at(hhmm, day),
              "meeting_type": MeetingType.IN_PERSON, "notes": "First visit"}
    values.update(changes)
    return bookings.BookingRequest(**values)


def book(db, client, practitioner, hhmm="10:00", by=None, **changes) -> Booking:
    return flows.book(session=db, request=request(client, practitioner, hhmm, **changes),
                      actor=actor(by or client), now=NOW)


# --- creating ------------------------------------------------------------------------


def test_a_practitioner_without_a_price_cannot_be_booked_and_nothing_is_written(db, client, practitioner):
    # A rate of R0 from before rates had a floor: the ledger takes no R0 charge, so the
    # booking is refused in words, not by the database's check half-way through.
    practitioner.rate_per_session = Decimal("0.00")
    db.flush()
    before = db.scalar(select(func.count()).select_from(Booking))
    with pytest.raises(Conflict, match="has not set a price yet"):
        book(db, client, practitioner)
    assert db.scalar(select(func.count()).select_from(Booking)) == before


def test_a_booking_and_its_pending_payment_are_written_together(db, client, practitioner):
    booking = book(db, client, practitioner)
    assert (booking.status, booking.payment_status) == (BookingStatus.PENDING, PaymentStatus.PENDING)
    assert booking.session_start == at("10:00") and booking.session_end == at("11:00")
    # The rate is the service amount; 15% of R333.30 is R49.995, half-up to R50.00; the client pays both.
    assert (booking.service_amount, booking.platform_fee_rate, booking.platform_fee, booking.total_amount) == (
        Decimal("333.30"), Decimal("0.1500"), Decimal("50.00"), Decimal("383.30"))
    # Without Stripe the client pays by EFT: held until two hours before the session (a day at most).
    assert (booking.pays_by, booking.hold_expires_at) == ("eft", at("08:00"))
    [charge] = db.scalars(select(PaymentTransaction).where(PaymentTransaction.booking_id == booking.id)).all()
    assert (charge.kind, charge.status, charge.amount) == ("charge", PaymentStatus.PENDING, Decimal("383.30"))
    notes = db.scalars(select(Notification).order_by(Notification.type)).all()
    assert {n.user_id for n in notes} == {client.id, practitioner.user_id}
    assert all("Mon 07 Jan 2030 at 10:00" in n.message for n in notes)


def test_a_booking_and_what_its_client_is_told_take_two_statements(db, client, practitioner):
    """The rules' facts, then the write: the answer (status, amounts, the EFT instructions,
    which ask when the booking was made) needs no third read of the row."""
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.get_bind(), "before_cursor_execute", listener)
    try:
        booking = book(db, client, practitioner)
        told = (booking.status, booking.total_amount, booking.created_at, flows.eft_instructions(booking))
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", listener)
    assert len(statements) == 2, statements
    assert told[2] == db.scalar(select(Booking.created_at).where(Booking.id == booking.id))
    assert "R383.30 by EFT" in told[3]


def test_the_fee_rate_is_configurable_and_kept_on_the_booking(db, client, practitioner, monkeypatch):
    monkeypatch.setattr(get_settings(), "platform_fee_rate", Decimal("0.10"))
    booking = book(db, client, practitioner)
    assert (booking.platform_fee_rate, booking.platform_fee, booking.total_amount) == (
        Decimal("0.1000"), Decimal("33.33"), Decimal("366.63"))


def test_staff_book_on_behalf_of_a_client_and_it_is_audited(db, client, practitioner):
    staff = make_user(db, role=Role.STAFF)
    booking = book(db, client, practitioner, by=staff)
    assert booking.created_by_id == staff.id and booking.client_id == client.id
    [entry] = db.scalars(select(AuditLog).where(AuditLog.action == "booking.create_on_behalf")).all()
    # The log reads who the booking is for, not only an id (found by a staff trial).
    assert entry.after == {
        "client": f"{client.first_name} {client.last_name}",
        "client_id": str(client.id),
        "start": booking.session_start.isoformat(),
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hhmm": "10:30"}, "start"),  # not on the hour grid
        ({"hhmm": "08:00"}, "start"),  # before opening
        ({"hhmm": "17:00"}, "start"),  # the session would end after closing
        ({"hhmm": "08:00", "day": MONDAY - timedelta(days=7)}, "start"),  # in the past
        ({"hhmm": "10:00", "day": MONDAY + timedelta(days=2)}, "start"),  # a Wednesday: no hours
        ({"meeting_type": MeetingType.ONLINE}, "meeting_type"),  # not offered
        ({"meeting_type": "carrier pigeon"}, "meeting_type"),
        ({"notes": "x" * 1001}, "notes"),
        ({"start": datetime(2030, 1, 7, 10, 0)}, "start"),  # no time zone
    ],
)
def test_bad_requests_are_refused_and_write_nothing(db, client, practitioner, changes, field):
    hhmm = changes.pop("hhmm", "10:00")
    with pytest.raises(InvalidInput) as refused:
        book(db, client, practitioner, hhmm, **changes)
    assert field in refused.value.problems
    assert count(db, Booking) == count(db, PaymentTransaction) == count(db, Notification) == 0


def test_a_client_cannot_book_for_someone_else(db, client, practitioner):
    other = make_client(db)
    with pytest.raises(PermissionDenied):
        flows.book(session=db, request=request(other, practitioner), actor=actor(client), now=NOW)
    with pytest.raises(PermissionDenied):
        flows.book(session=db, request=request(client, practitioner), actor=actor(practitioner.user), now=NOW)
    assert count(db, Booking) == 0


def test_unverified_practitioners_are_not_bookable_unless_allowed(db, client, practitioner, monkeypatch):
    practitioner.verification_status = VerificationStatus.PENDING
    db.flush()
    with pytest.raises(PermissionDenied, match="not verified"):
        book(db, client, practitioner)
    monkeypatch.setattr(get_settings(), "allow_unverified_bookings", True)
    assert book(db, client, practitioner).status == BookingStatus.PENDING


def test_deactivated_people_cannot_book_or_be_booked(db, client, practitioner):
    staff = make_user(db, role=Role.STAFF)
    client.is_active = False
    db.flush()
    with pytest.raises(InvalidInput, match="active client"):
        book(db, client, practitioner, by=staff)
    client.is_active = True
    practitioner.user.is_active = False
    db.flush()
    with pytest.raises(NotFound):
        book(db, client, practitioner)


def test_the_database_decides_a_race_for_the_slot(db, client, practitioner, monkeypatch):
    book(db, client, practitioner)
    # A second client passed the checks a moment before the first booking committed.
    monkeypatch.setattr(availability, "judge_slot", lambda *args: "free")
    before = (count(db, Booking), count(db, PaymentTransaction), count(db, Notification))
    with pytest.raises(bookings.SlotTaken, match="just taken"):
        book(db, make_client(db), practitioner)
    assert (count(db, Booking), count(db, PaymentTransaction), count(db, Notification)) == before


def test_the_buffer_is_kept_by_the_database_too(db, client, practitioner, monkeypatch):
    practitioner.buffer_minutes = 15
    db.flush()
    book(db, client, practitioner, "10:00")
    monkeypatch.setattr(availability, "judge_slot", lambda *args: "free")
    with pytest.raises(bookings.SlotTaken):
        book(db, make_client(db), practitioner, "11:00")  # inside the 15 minutes after 10:00-11:00


# --- holds ---------------------------------------------------------------------------


def test_unpaid_holds_expire_and_free_the_slot(db, client, practitioner):
    booking = book(db, client, practitioner)
    held_until = booking.hold_expires_at
    assert flows.expire_pending(session=db, now=held_until - timedelta(minutes=1)) == 0
    assert flows.expire_pending(session=db, now=held_until) == 1
    db.refresh(booking)
    assert (booking.status, booking.payment_status, booking.refund_due) == (
        BookingStatus.CANCELLED, PaymentStatus.EXPIRED, Decimal("0.00"))
    assert db.scalar(select(PaymentTransaction.status)) == PaymentStatus.EXPIRED
    expired = select(Notification).where(Notification.type == "booking_expired")
    told = {n.user_id: n.message for n in db.scalars(expired)}
    assert set(told) == {client.id, practitioner.user_id}  # the practitioner was told it was booked (found by a trial)
    assert told[practitioner.user_id].startswith(f"{client.first_name} {client.last_name} did not pay for ")
    assert "open again" in told[practitioner.user_id]
    assert at("10:00") in availability.bookable_slots(
        session=db, practitioner_id=practitioner.id, start=at("00:00"), end=at("23:59"), now=NOW)


def test_a_hold_that_just_ran_out_gives_way_to_the_next_client(db, client, practitioner):
    first = book(db, client, practitioner)
    first.hold_expires_at = NOW + timedelta(minutes=15)  # a card payment's hold
    db.flush()
    later = NOW + timedelta(minutes=16)  # run out, and no job has released it yet
    other = make_client(db)
    second = flows.book(session=db, request=request(other, practitioner), actor=actor(other), now=later)
    db.refresh(first)
    assert (first.status, first.payment_status) == (BookingStatus.CANCELLED, PaymentStatus.EXPIRED)
    assert (second.status, second.session_start) == (BookingStatus.PENDING, at("10:00"))
    assert count(db, Notification, Notification.user_id == client.id, Notification.type == "booking_expired") == 1


def test_a_live_hold_is_not_released_for_the_next_client(db, client, practitioner):
    first = book(db, client, practitioner)
    with pytest.raises(bookings.SlotTaken):
        book(db, make_client(db), practitioner)
    db.refresh(first)
    assert first.status == BookingStatus.PENDING


def test_a_time_held_by_a_live_booking_is_refused_without_releasing_holds(db, client, practitioner, monkeypatch):
    """Releasing lapsed holds cannot free a time a live booking holds, so a refusal the rules
    already see skips it (a quarter of the attempts under load are such refusals)."""
    book(db, client, practitioner)

    def released(**_):
        raise AssertionError("no holds to release when a live booking holds the time")

    monkeypatch.setattr(bookings, "expire_holds", released)
    with pytest.raises(bookings.SlotTaken):
        book(db, make_client(db), practitioner)


def test_the_slot_check_reads_only_the_bookings_that_overlap(db, client, practitioner):
    """Booking asks whether a time is held through the exclusion constraint's GiST index,
    so a practitioner with years of bookings costs the same as a new one: with 2,000 past
    sessions in the diary the check still reads only what overlaps the time asked for."""
    template = make_booking(db, practitioner=practitioner, client=client, start=at("10:00") - timedelta(days=1))
    columns = db.scalars(
        text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'bookings' "
            "AND column_name NOT IN ('id', 'created_at', 'updated_at', 'session_start', 'session_end', 'blocked_until')"
        )
    ).all()
    copied = ", ".join(columns)
    db.execute(
        text(
            f"INSERT INTO bookings ({copied}, session_start, session_end, blocked_until) "
            f"SELECT {copied}, session_start - n * interval '3 hours', session_end - n * interval '3 hours', "
            "blocked_until - n * interval '3 hours' FROM bookings, generate_series(1, 2000) AS n WHERE id = :id"
        ),
        {"id": template.id},
    )
    db.execute(text("ANALYZE bookings"))
    facts = {"lock": "plan", "practitioner_id": practitioner.id, "client_id": client.id, "start": at("10:00"),
             "now": NOW, "ignore": None}
    plan = explain(db, bookings._FACTS.text, facts, analyze=True)
    [probe] = [node for node in nodes(plan) if node.get("Relation Name") == "bookings"]
    assert probe["Index Name"] == "ex_bookings_no_overlap"
    assert "&&" in probe["Index Cond"]  # the overlap itself is what the index looks up
    assert probe["Actual Rows"] <= 1


def test_the_cap_on_unpaid_holds_reads_only_the_clients_own_holds(db, client, practitioner):
    """Every booking counts the client's unpaid holds. With 2,000 times held by 100 other
    people and 200 sessions in the client's own past, the count reads only the client's
    pending bookings (here none): a booking's cost does not grow with how busy the platform
    is or how long the client has been with us."""
    others = [make_client(db).id for _ in range(100)]
    held = make_booking(
        db, practitioner=practitioner, client=client, start=at("10:00"), status=BookingStatus.PENDING,
        hold_expires_at=NOW + timedelta(days=400),
    )
    past = make_booking(
        db, practitioner=practitioner, client=client, start=at("10:00") - timedelta(days=1),
        status=BookingStatus.COMPLETED,
    )
    columns = db.scalars(
        text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'bookings' AND column_name "
            "NOT IN ('id', 'client_id', 'created_at', 'updated_at', 'session_start', 'session_end', 'blocked_until')"
        )
    ).all()
    copied = ", ".join(columns)
    for template, step, whose, copies in ((held, "3 hours", others, 2000), (past, "-3 hours", [client.id], 200)):
        db.execute(
            text(
                f"INSERT INTO bookings ({copied}, client_id, session_start, session_end, blocked_until) "
                f"SELECT {copied}, (CAST(:whose AS uuid[]))[1 + n % cardinality(CAST(:whose AS uuid[]))], "
                f"session_start + n * interval '{step}', session_end + n * interval '{step}', "
                f"blocked_until + n * interval '{step}' FROM bookings, generate_series(1, :copies) AS n WHERE id = :id"
            ),
            {"id": template.id, "whose": whose, "copies": copies},
        )
    db.delete(held)
    db.flush()
    db.execute(text("ANALYZE bookings"))
    assert count(db, Booking, Booking.status == BookingStatus.PENDING, Booking.hold_expires_at > NOW) == 2000
    assert count(db, Booking, Booking.client_id == client.id) == 201

    plan = explain(db, bookings._UNPAID_HOLDS.text, {"client_id": client.id, "now": NOW}, analyze=True)
    assert indexes_used(plan) == {"ix_bookings_client_pending_hold"}
    [probe] = [node for node in nodes(plan) if node.get("Relation Name") == "bookings"]
    assert probe["Actual Rows"] + probe.get("Rows Removed by Filter", 0) == 0
    # The write counts with the same condition, so the same index serves it.
    assert "client_id = :client_id AND status = 'pending' AND hold_expires_at > :now" in bookings.INSERT_SQL


# --- the lifecycle -------------------------------------------------------------------


def paid(db, booking) -> Booking:
    make_transaction(db, booking)
    return bookings.confirm(session=db, booking_id=booking.id, now=NOW)


def test_pending_to_confirmed_to_completed(db, client, practitioner):
    booking = paid(db, book(db, client, practitioner))
    assert (booking.status, booking.hold_expires_at) == (BookingStatus.CONFIRMED, None)
    with pytest.raises(InvalidInput, match="once it has ended"):
        flows.complete(session=db, booking_id=booking.id, actor=actor(practitioner.user), now=at("10:59"))
    with pytest.raises(PermissionDenied):
        flows.complete(session=db, booking_id=booking.id, actor=actor(client), now=at("11:00"))
    done = flows.complete(session=db, booking_id=booking.id, actor=actor(practitioner.user), now=at("11:00"))
    assert done.status == BookingStatus.COMPLETED


def test_no_show_only_after_the_start(db, client, practitioner):
    booking = paid(db, book(db, client, practitioner))
    with pytest.raises(InvalidInput, match="has started"):
        flows.mark_no_show(session=db, booking_id=booking.id, actor=actor(practitioner.user), now=at("09:59"))
    assert flows.mark_no_show(session=db, booking_id=booking.id, actor=actor(practitioner.user),
                                 now=at("10:05")).status == BookingStatus.NO_SHOW


def test_a_session_the_job_completed_can_still_be_recorded_as_missed_for_two_days(db, client, practitioner):
    ended = at("11:00")
    booking = make_booking(db, practitioner=practitioner, client=client, start=at("10:00"),
                           status=BookingStatus.COMPLETED)
    row = bookings.get_for(session=db, actor=actor(practitioner.user), booking_id=booking.id)
    assert bookings.allowed_actions(row, actor(practitioner.user), now=ended + timedelta(hours=47)) == ["no_show"]
    assert bookings.allowed_actions(row, actor(client), now=ended + timedelta(hours=47)) == []
    assert bookings.allowed_actions(row, actor(practitioner.user), now=ended + timedelta(hours=49)) == []
    with pytest.raises(InvalidInput, match="up to 48 hours after the session"):
        flows.mark_no_show(session=db, booking_id=booking.id, actor=actor(practitioner.user),
                           now=ended + timedelta(hours=49))
    missed = flows.mark_no_show(session=db, booking_id=booking.id, actor=actor(practitioner.user),
                                now=ended + timedelta(hours=20))
    assert missed.status == BookingStatus.NO_SHOW


def test_a_reviewed_session_cannot_be_recorded_as_missed(db, client, practitioner):
    booking = make_booking(db, practitioner=practitioner, client=client, start=at("10:00"),
                           status=BookingStatus.COMPLETED)
    before = bookings.get_for(session=db, actor=actor(practitioner.user), booking_id=booking.id)
    assert bookings.allowed_actions(before, actor(practitioner.user), now=at("12:00")) == ["no_show"]
    make_review(db, booking)
    # Not offered once the client has reviewed it:
    row = bookings.get_for(session=db, actor=actor(practitioner.user), booking_id=booking.id)
    assert row.reviewed and bookings.allowed_actions(row, actor(practitioner.user), now=at("12:00")) == []
    with pytest.raises(Conflict, match="has reviewed this session"):
        flows.mark_no_show(session=db, booking_id=booking.id, actor=actor(practitioner.user), now=at("12:00"))
    db.refresh(booking)
    assert booking.status == BookingStatus.COMPLETED


@pytest.mark.parametrize(
    ("status", "action", "message"),
    [
        (BookingStatus.COMPLETED, "cancel", "This booking is marked done, so it cannot be cancelled."),
        (BookingStatus.CANCELLED, "cancel", "This booking is already cancelled."),
        (BookingStatus.NO_SHOW, "complete", "This booking is marked as missed, so it cannot be marked done."),
        (BookingStatus.CANCELLED, "confirm", "This booking is cancelled, so it cannot be confirmed."),
        (BookingStatus.CANCELLED, "no_show", "This booking is cancelled, so it cannot be marked as missed."),
        (BookingStatus.PENDING, "complete", "This booking is waiting for payment, so it cannot be marked done."),
    ],
)
def test_illegal_transitions_are_refused_with_a_message(db, client, practitioner, status, action, message):
    booking = make_booking(db, practitioner=practitioner, client=client, start=at("10:00") - timedelta(days=7),
                           status=status)
    staff = bookings.Actor(make_user(db, role=Role.STAFF).id, Role.STAFF)
    calls = {
        "cancel": lambda: flows.cancel(session=db, booking_id=booking.id, actor=staff, reason="x", now=NOW,
                                       on_behalf_of="client"),
        "complete": lambda: flows.complete(session=db, booking_id=booking.id, actor=staff, now=NOW),
        "confirm": lambda: bookings.confirm(session=db, booking_id=booking.id, now=NOW),
        "no_show": lambda: flows.mark_no_show(session=db, booking_id=booking.id, actor=staff, now=NOW),
    }
    with pytest.raises(bookings.IllegalTransition) as refused:
        calls[action]()
    assert str(refused.value) == message
    db.refresh(booking)
    assert booking.status == status


# --- cancelling and what is owed -----------------------------------------------------


def cancel(db, booking, who, when, **kwargs) -> flows.CancelOutcome:
    return flows.cancel(session=db, booking_id=booking.id, actor=actor(who), reason="Something came up",
                        now=when, **kwargs)


def test_client_cancelling_a_day_ahead_gets_everything_back(db, client, practitioner):
    booking = paid(db, book(db, client, practitioner, "10:00", day=MONDAY + timedelta(days=1)))
    result = cancel(db, booking, client, at("10:00"))  # exactly 24 hours before
    assert result.refund_due == Decimal("383.30") == booking.refund_due


def test_client_cancelling_late_gets_nothing_back(db, client, practitioner):
    booking = paid(db, book(db, client, practitioner, "10:00", day=MONDAY + timedelta(days=1)))
    assert cancel(db, booking, client, at("10:01")).refund_due == Decimal("0.00")


def test_a_cancellation_confirmed_for_one_refund_never_gives_another(db, client, practitioner):
    """Found in review: the question before "Yes" showed the refund of a moment ago; when the
    24-hour mark passed before the click, the client who read "R383.30 goes back" got R0."""
    booking = paid(db, book(db, client, practitioner, "10:00", day=MONDAY + timedelta(days=1)))
    quoted = bookings.cancellation_terms(
        session=db, booking_id=booking.id, actor=actor(client), paid=ledger.paid(db, booking.id), now=at("09:59")
    ).refund_if_client_cancels
    assert quoted == Decimal("383.30")
    with pytest.raises(bookings.RefundChanged) as changed:
        cancel(db, booking, client, at("10:01"), expected_refund=quoted)
    assert str(changed.value) == (
        "Cancelling now refunds R0.00, not the R383.30 shown a moment ago (the refund depends on how long before "
        "the session you cancel, and on what was paid). Nothing was cancelled: check the refund and cancel again."
    )
    db.refresh(booking)
    assert (booking.status, booking.refund_due) == (BookingStatus.CONFIRMED, None)
    assert cancel(db, booking, client, at("10:01"), expected_refund=Decimal("0.00")).refund_due == Decimal("0.00")


def test_practitioner_cancelling_always_refunds_in_full(db, client, practitioner):
    booking = paid(db, book(db, client, practitioner))
    assert cancel(db, booking, practitioner.user, at("09:55")).refund_due == Decimal("383.30")


def test_an_unpaid_booking_owes_nothing_and_its_payment_expires(db, client, practitioner):
    booking = book(db, client, practitioner)
    result = cancel(db, booking, client, NOW)
    assert result.refund_due == Decimal("0.00")
    assert booking.payment_status == PaymentStatus.EXPIRED


def test_staff_cancel_for_either_side_and_may_override_with_a_reason(db, client, practitioner):
    staff = make_user(db, role=Role.STAFF)
    late = paid(db, book(db, client, practitioner, "10:00"))
    with pytest.raises(InvalidInput, match="client or the practitioner"):
        cancel(db, late, staff, at("09:00"))
    assert cancel(db, late, staff, at("09:00"), on_behalf_of="client").refund_due == Decimal("0.00")
    other = paid(db, book(db, client, practitioner, "12:00"))
    with pytest.raises(InvalidInput, match="between R0 and"):
        cancel(db, other, staff, at("11:00"), on_behalf_of="client", refund_override=Decimal("500.00"))
    result = cancel(db, other, staff, at("11:00"), on_behalf_of="client", refund_override=Decimal("100.00"))
    assert result.refund_due == Decimal("100.00")
    entry = db.scalars(select(AuditLog).where(AuditLog.action == "booking.cancel")).all()[-1]
    assert entry.after["refund_overridden"] is True and entry.reason == "Something came up"


def test_only_staff_override_refunds_and_reasons_are_required(db, client, practitioner):
    booking = paid(db, book(db, client, practitioner))
    with pytest.raises(PermissionDenied):
        cancel(db, booking, client, NOW, refund_override=Decimal("1.00"))
    with pytest.raises(InvalidInput, match="why"):
        flows.cancel(session=db, booking_id=booking.id, actor=actor(client), reason="  ", now=NOW)
    db.refresh(booking)
    assert booking.status == BookingStatus.CONFIRMED


def test_the_refund_policy_by_itself():
    start = datetime(2030, 1, 8, 10, tzinfo=UTC)
    owed = functools.partial(bookings.refund_owed, paid=Decimal("100"), price=Decimal("100"), start=start)
    assert owed(cancelled_at=start - timedelta(hours=24), cancelled_for="client") == Decimal("100")
    assert owed(cancelled_at=start - timedelta(hours=23, minutes=59), cancelled_for="client") == 0
    assert owed(cancelled_at=start, cancelled_for="practitioner") == 100


def test_refunds_already_paid_are_not_owed_twice(db, client, practitioner):
    booking = paid(db, book(db, client, practitioner))
    make_transaction(db, booking, kind=TransactionKind.REFUND, amount=Decimal("100.00"))
    assert cancel(db, booking, practitioner.user, NOW).refund_due == Decimal("283.30")


def test_a_refund_on_its_way_when_cancelling_is_not_owed_again(db, client, practitioner):
    booking = paid(db, book(db, client, practitioner))
    make_transaction(db, booking, kind=TransactionKind.REFUND, amount=Decimal("100.00"), status=PaymentStatus.PENDING)
    assert cancel(db, booking, practitioner.user, NOW).refund_due == Decimal("283.30")
    assert ledger.owed(db, booking) == Decimal("283.30") == ledger.balance(db, booking.id).refundable
    terms = bookings.cancellation_terms(session=db, booking_id=booking.id, actor=actor(client),
                                        paid=ledger.paid(db, booking.id), now=NOW)
    assert terms.paid == Decimal("283.30")


def test_money_paid_beyond_the_price_always_goes_back(db, client, practitioner):
    early = paid(db, book(db, client, practitioner, "10:00", day=MONDAY + timedelta(days=1)))
    make_transaction(db, early)  # paid twice, nothing given back yet
    assert cancel(db, early, practitioner.user, NOW).refund_due == Decimal("766.60")
    assert ledger.owed(db, early) == Decimal("766.60")
    late = paid(db, book(db, client, practitioner, "12:00"))
    make_transaction(db, late)
    # Too late for the policy to give the price back, but the second payment was never the booking's.
    assert cancel(db, late, client, at("11:00")).refund_due == Decimal("383.30")
    assert bookings.refund_owed(paid=Decimal("766.60"), price=Decimal("383.30"), start=at("12:00"),
                                cancelled_at=at("11:00"), cancelled_for="client") == Decimal("383.30")


# --- moving --------------------------------------------------------------------------


def test_reschedule_moves_to_a_free_slot(db, client, practitioner):
    booking = book(db, client, practitioner, "10:00", day=TUESDAY)
    moved = flows.reschedule(session=db, booking_id=booking.id, actor=actor(client), new_start=at("14:00", TUESDAY),
                                now=NOW)
    assert (moved.session_start, moved.session_end) == (at("14:00", TUESDAY), at("15:00", TUESDAY))
    assert at("10:00", TUESDAY) in availability.bookable_slots(
        session=db, practitioner_id=practitioner.id, start=at("00:00", TUESDAY), end=at("23:59", TUESDAY), now=NOW)


def test_a_move_works_out_the_transfer_deadline_again_and_tells_the_client(db, client, practitioner):
    booking = book(db, client, practitioner, "16:00", day=MONDAY + timedelta(days=1))
    assert booking.hold_expires_at == at("07:00", MONDAY + timedelta(days=1))  # a day to pay
    booking.created_at = NOW  # the database wrote today's clock; this test's day is NOW
    moved = flows.reschedule(session=db, booking_id=booking.id, actor=actor(client), new_start=at("10:00"), now=NOW)
    # Two hours before the new time, not the day's deadline that would run past the session.
    assert moved.hold_expires_at == at("08:00")
    [notice] = db.scalars(
        select(Notification).where(Notification.user_id == client.id, Notification.type == "booking_rescheduled")
    ).all()
    assert notice.message.startswith(
        f"You moved your session with {practitioner.user.full_name} from Tue 08 Jan 2030 at 16:00 to Mon 07 Jan 2030"
        " at 10:00."
    )
    assert "by Mon 07 Jan 2030 at 08:00" in notice.message
    [told] = db.scalars(
        select(Notification.message).where(
            Notification.user_id == practitioner.user_id, Notification.type == "booking_rescheduled"
        )
    ).all()
    assert told == f"{client.full_name} moved the session from Tue 08 Jan 2030 at 16:00 to Mon 07 Jan 2030 at 10:00."
    staff = actor(make_user(db, role=Role.STAFF))  # a practitioner moves nothing into the last day
    later = flows.reschedule(session=db, booking_id=booking.id, actor=staff, new_start=at("15:00"), now=NOW)
    assert later.hold_expires_at == at("13:00")  # two hours before the later time
    back = flows.reschedule(session=db, booking_id=booking.id, actor=actor(practitioner.user),
                            new_start=at("16:00", TUESDAY), now=NOW)
    assert back.hold_expires_at == at("07:00", TUESDAY)  # the day it was first given, and no more


def test_a_client_cannot_move_a_session_once_cancelling_would_refund_nothing(db, client, practitioner):
    # Paid for 14:00 and it is 07:00: cancelling now refunds nothing. Moving it to tomorrow and
    # then cancelling would have given everything back, so the client may not move it now.
    booking = make_booking(db, practitioner=practitioner, client=client, start=at("14:00"),
                           status=BookingStatus.CONFIRMED)
    row = bookings.get_for(session=db, actor=actor(client), booking_id=booking.id)
    assert "reschedule" not in bookings.allowed_actions(row, actor(client), NOW)
    assert bookings.why_client_cannot_move(row, actor(client), NOW).startswith("This session starts within 24 hours")
    assert bookings.why_client_cannot_move(row, actor(practitioner.user), NOW) is None
    tomorrow = at("10:00", MONDAY + timedelta(days=1))
    with pytest.raises(bookings.IllegalTransition) as refused:
        flows.reschedule(session=db, booking_id=booking.id, actor=actor(client), new_start=tomorrow, now=NOW)
    assert str(refused.value) == (
        "A session can be moved until 24 hours before it starts; this one starts sooner. You can still cancel it."
    )
    db.refresh(booking)
    assert booking.session_start == at("14:00")
    # Its practitioner (whose cancelling refunds in full anyway) and staff still can.
    assert "reschedule" in bookings.allowed_actions(row, actor(practitioner.user), NOW)
    moved = flows.reschedule(session=db, booking_id=booking.id, actor=actor(practitioner.user), new_start=tomorrow,
                             now=NOW)
    assert moved.session_start == tomorrow
    # A day ahead the client may move it again.
    assert "reschedule" in bookings.allowed_actions(
        bookings.get_for(session=db, actor=actor(client), booking_id=booking.id), actor(client), NOW)


def test_moving_never_revives_a_hold_that_ran_out(db, client, practitioner):
    booking = book(db, client, practitioner, "16:00", day=TUESDAY)
    booking.created_at = NOW
    booking.hold_expires_at = NOW - timedelta(minutes=1)  # the hourly job has not released it yet
    db.flush()
    moved = flows.reschedule(session=db, booking_id=booking.id, actor=actor(practitioner.user),
                             new_start=at("15:00", TUESDAY), now=NOW)
    assert moved.hold_expires_at == NOW - timedelta(minutes=1)


def test_reschedule_to_a_taken_slot_keeps_the_old_one(db, client, practitioner, monkeypatch):
    booking = book(db, client, practitioner, "10:00", day=TUESDAY)
    book(db, make_client(db), practitioner, "14:00", day=TUESDAY)
    taken = at("14:00", TUESDAY)
    with pytest.raises(bookings.SlotTaken):
        flows.reschedule(session=db, booking_id=booking.id, actor=actor(client), new_start=taken, now=NOW)
    monkeypatch.setattr(availability, "judge_slot", lambda *args: "free")
    with pytest.raises(bookings.SlotTaken):
        flows.reschedule(session=db, booking_id=booking.id, actor=actor(client), new_start=taken, now=NOW)
    db.refresh(booking)
    assert booking.session_start == at("10:00", TUESDAY)


def test_only_the_parties_and_staff_touch_a_booking(db, client, practitioner):
    booking = book(db, client, practitioner)
    stranger = make_client(db)
    for call in (
        lambda: flows.cancel(session=db, booking_id=booking.id, actor=actor(stranger), reason="x", now=NOW),
        lambda: flows.reschedule(session=db, booking_id=booking.id, actor=actor(stranger),
                                    new_start=at("14:00"), now=NOW),
        lambda: bookings.get_for(session=db, actor=actor(stranger), booking_id=booking.id),
        lambda: flows.cancel(session=db, booking_id=booking.id, actor=actor(make_practitioner(db).user),
                                reason="x", now=NOW),
    ):
        with pytest.raises(NotFound, match=r"^That booking does not exist, or it is not yours\.$"):
            call()
    assert db.get(Booking, booking.id).status == BookingStatus.PENDING
    with pytest.raises(PermissionDenied, match="Bookings are for clients, practitioners and staff"):
        bookings.get_for(session=db, actor=actor(make_user(db, role=Role.ANALYST)), booking_id=booking.id)


# --- reading -------------------------------------------------------------------------


def test_each_role_lists_what_it_may_see(db, client, practitioner):
    mine = book(db, client, practitioner, "10:00")
    theirs = book(db, make_client(db, first_name="Other"), practitioner, "12:00")
    elsewhere = make_booking(db)
    staff = make_user(db, role=Role.STAFF)
    ids = lambda page: {row.id for row in page.rows}  # noqa: E731
    assert ids(bookings.list_for(session=db, actor=actor(client))) == {mine.id}
    assert ids(bookings.list_for(session=db, actor=actor(practitioner.user))) == {mine.id, theirs.id}
    assert ids(bookings.list_for(session=db, actor=actor(staff))) == {mine.id, theirs.id, elsewhere.id}
    filtered = bookings.list_for(session=db, actor=actor(staff), filters=bookings.BookingFilter(
        statuses=(BookingStatus.PENDING,), practitioner_id=practitioner.id, text="other"))
    assert ids(filtered) == {theirs.id}
    with pytest.raises(PermissionDenied):
        bookings.list_for(session=db, actor=bookings.Actor(staff.id, Role.ANALYST))
    with pytest.raises(InvalidInput):
        bookings.list_for(session=db, actor=actor(staff), filters=bookings.BookingFilter(
            start_from=at("12:00"), start_to=at("10:00")))


def test_allowed_actions_follow_the_rules(db, client, practitioner):
    booking = paid(db, book(db, client, practitioner, "10:00"))
    row = bookings.get_for(session=db, actor=actor(client), booking_id=booking.id)
    assert bookings.allowed_actions(row, actor(client), now=NOW) == ["cancel"]  # starts within the day
    assert bookings.allowed_actions(row, actor(client), now=at("10:00") - timedelta(days=1)) == ["cancel",
                                                                                                "reschedule"]
    assert bookings.allowed_actions(row, actor(practitioner.user), now=at("11:00")) == ["cancel", "complete",
                                                                                        "no_show"]
    assert bookings.allowed_actions(row, actor(make_client(db)), now=NOW) == []


def test_a_slot_someone_already_took_says_so(db, client, practitioner):
    book(db, client, practitioner, "10:00")
    with pytest.raises(bookings.SlotTaken, match="just taken"):
        book(db, make_client(db), practitioner, "10:00")


def test_both_sides_are_told_the_reason_a_booking_was_cancelled(db, client, practitioner):
    booking = paid(db, book(db, client, practitioner, "10:00", day=MONDAY + timedelta(days=1)))
    cancel(db, booking, practitioner.user, at("09:00"))
    told = db.scalars(select(Notification.message).where(Notification.type == "booking_cancelled")).all()
    assert len(told) == 2
    assert all(body.endswith("Reason given: Something came up. R383.30 will be refunded.") for body in told)


@pytest.mark.parametrize(
    ("who", "on_behalf_of", "to_client", "to_practitioner"),
    [
        ("client", None, "You cancelled your session with {p}", "{c} cancelled the session"),
        ("practitioner", None, "{p} cancelled your session", "You cancelled the session with {c}"),
        ("staff", "client", "At your request, Avenrae cancelled your session with {p} on", "At {c}'s request, Avenrae"),
        ("staff", "practitioner", "At {p}'s request, Avenrae", "At your request, Avenrae cancelled the session"),
    ],
)
def test_a_cancellation_notice_says_who_cancelled(db, client, practitioner, who, on_behalf_of, to_client,
                                                  to_practitioner):
    booking = paid(db, book(db, client, practitioner, "10:00", day=MONDAY + timedelta(days=1)))
    by = {"client": client, "practitioner": practitioner.user, "staff": make_user(db, role=Role.STAFF)}[who]
    cancel(db, booking, by, at("09:00"), on_behalf_of=on_behalf_of)
    told = dict(db.execute(select(Notification.user_id, Notification.message).where(
        Notification.type == "booking_cancelled")).all())
    names = {"p": practitioner.user.full_name, "c": client.full_name}
    assert told[client.id].startswith(to_client.format(**names)), told[client.id]
    assert told[practitioner.user_id].startswith(to_practitioner.format(**names)), told[practitioner.user_id]
