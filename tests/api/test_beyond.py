"""Beyond the original contract: cancelling (with a quote), moving, paying, idempotent
booking, one's account, reviews, notifications, a practitioner's practice, staff export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from pydantic import SecretStr
from sqlalchemy import func, select

from avenrae.config import get_settings
from avenrae.models import Booking, BookingStatus, IdempotencyKey, PaymentStatus, Review, Role, TransactionKind
from avenrae.services import payments
from tests.api.conftest import SAST, bearer, booking_day
from tests.factories import (
    PASSWORD,
    make_booking,
    make_client,
    make_practitioner,
    make_transaction,
    make_user,
    make_weekly_hours,
)
from tests.stripe_fake import FakeStripe, client_for


def count(db, model, *where) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where))


def booking_body(api, practitioner, time="10:00", day=None) -> dict:
    day = day or booking_day()
    slots = api.get(f"/api/practitioners/{practitioner.id}/availability", params={"date": day.isoformat()}).json()
    slot_id = next(s["id"] for s in slots["slots"] if s["time"] == time)
    return {
        "practitionerId": str(practitioner.id),
        "sessionDate": day.isoformat(),
        "sessionSlotId": slot_id,
        "notes": "",
        "meetingType": "in_person",
    }


def book(api, db, practitioner, client, time="10:00") -> str:
    answer = api.post("/api/bookings", json=booking_body(api, practitioner, time), headers=bearer(client, db))
    assert answer.status_code == 201, answer.text
    return answer.json()["bookingId"]


# --- cancelling, moving, paying ---------------------------------------------------------


def test_cancel_an_unpaid_booking_after_the_quote(api, db, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user)
    headers = bearer(client_user, db)
    quote = api.get(f"/api/bookings/{booking_id}/cancellation", headers=headers).json()
    assert (quote["paid"], quote["refund"]) == (0, 0)
    assert quote["policy"].startswith("Clients who cancel 24 hours or more ahead get everything back")
    no_reason = api.post(f"/api/bookings/{booking_id}/cancel", json={"reason": " "}, headers=headers)
    assert no_reason.status_code == 422 and no_reason.json()["errors"]["reason"] == "Say why the booking is cancelled."
    left_out = api.post(f"/api/bookings/{booking_id}/cancel", json={}, headers=headers)
    assert left_out.status_code == 422 and left_out.json()["errors"] == {"reason": "reason is required."}
    answer = api.post(f"/api/bookings/{booking_id}/cancel", json={"reason": "Plans changed"}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "status": "cancelled",
        "refundDue": 0.0,
        "message": "Booking cancelled. Nothing was paid, so nothing is refunded.",
    }
    assert db.get(Booking, booking_id).status == BookingStatus.CANCELLED
    shown = api.get(f"/api/bookings/{booking_id}", headers=headers).json()
    assert (shown["status"], shown["cancellationReason"]) == ("cancelled", "Plans changed")
    again = api.post(f"/api/bookings/{booking_id}/cancel", json={"reason": "Again"}, headers=headers)
    assert again.status_code == 409


def test_the_quote_and_the_cancellation_give_the_policys_refund(api, db, practitioner, client_user):
    start = datetime.now(UTC) + timedelta(days=3)
    booking = make_booking(db, practitioner=practitioner, client=client_user, start=start)
    make_transaction(db, booking)
    headers = bearer(client_user, db)
    quote = api.get(f"/api/bookings/{booking.id}/cancellation", headers=headers).json()
    assert quote["paid"] == quote["refund"] == quote["refundIfClientCancels"] == 517.5
    answer = api.post(f"/api/bookings/{booking.id}/cancel", json={"reason": "Ill"}, headers=headers).json()
    assert answer["refundDue"] == 517.5
    assert "R517.50" in answer["message"]


def test_a_cancellation_for_a_refund_that_is_no_longer_true_changes_nothing(api, db, practitioner, client_user):
    start = datetime.now(UTC) + timedelta(days=3)
    booking = make_booking(db, practitioner=practitioner, client=client_user, start=start)
    make_transaction(db, booking)
    headers = bearer(client_user, db)
    quote = api.get(f"/api/bookings/{booking.id}/cancellation", headers=headers).json()
    make_transaction(db, booking, kind=TransactionKind.REFUND, amount=Decimal("100.00"))  # paid back meanwhile
    body = {"reason": "Ill", "expectedRefund": quote["refund"]}
    answer = api.post(f"/api/bookings/{booking.id}/cancel", json=body, headers=headers)
    assert answer.status_code == 409
    assert answer.json()["detail"].startswith("Cancelling now refunds R417.50, not the R517.50 shown a moment ago")
    db.refresh(booking)
    assert booking.status == BookingStatus.CONFIRMED
    body["expectedRefund"] = 417.5
    assert api.post(f"/api/bookings/{booking.id}/cancel", json=body, headers=headers).json()["refundDue"] == 417.5


def test_a_late_cancellation_refunds_nothing_and_the_quote_says_so_first(api, db, practitioner, client_user):
    booking = make_booking(
        db, practitioner=practitioner, client=client_user, start=datetime.now(UTC) + timedelta(hours=5)
    )
    make_transaction(db, booking)
    headers = bearer(client_user, db)
    quote = api.get(f"/api/bookings/{booking.id}/cancellation", headers=headers).json()
    assert (quote["paid"], quote["refund"], quote["refundIfPractitionerCancels"]) == (517.5, 0, 517.5)
    practitioner_quote = api.get(f"/api/bookings/{booking.id}/cancellation", headers=bearer(practitioner.user, db))
    assert practitioner_quote.json()["refund"] == 517.5
    assert (
        api.post(f"/api/bookings/{booking.id}/cancel", json={"reason": "Late"}, headers=headers).json()["refundDue"]
        == 0
    )


def test_reschedule_to_another_open_time(api, db, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user, "10:00")
    target = booking_body(api, practitioner, "13:00")
    answer = api.post(
        f"/api/bookings/{booking_id}/reschedule",
        json={"sessionDate": target["sessionDate"], "sessionSlotId": target["sessionSlotId"]},
        headers=bearer(client_user, db),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["time"] == "13:00"
    taken = book(api, db, practitioner, make_client(db), "15:00")
    assert taken
    clash = booking_body(api, practitioner, "15:00")
    answer = api.post(
        f"/api/bookings/{booking_id}/reschedule",
        json={"sessionDate": clash["sessionDate"], "sessionSlotId": clash["sessionSlotId"]},
        headers=bearer(client_user, db),
    )
    assert answer.status_code == 409
    assert answer.json()["detail"] == "That time was just taken — pick another."


def test_payment_status_tells_a_refund_sent_from_one_received(api, db, practitioner, client_user):
    booking = make_booking(
        db,
        practitioner=practitioner,
        client=client_user,
        status=BookingStatus.CANCELLED,
        payment_status=PaymentStatus.COMPLETED,
        cancelled_at=datetime.now(UTC),
        refund_due=Decimal("517.50"),
    )
    make_transaction(db, booking, provider="stripe", method="card")
    refund = make_transaction(db, booking, kind=TransactionKind.REFUND, provider="stripe", method="card",
                              status=PaymentStatus.PENDING)  # fmt: skip
    headers = bearer(client_user, db)
    status = api.get(f"/api/bookings/{booking.id}/payment", headers=headers).json()
    assert (status["paid"], status["refunded"], status["refundPending"], status["refundOwed"]) == (517.5, 0, 517.5, 0)
    refund.status = PaymentStatus.COMPLETED
    db.flush()
    status = api.get(f"/api/bookings/{booking.id}/payment", headers=headers).json()
    assert (status["paid"], status["refunded"], status["refundPending"], status["refundOwed"]) == (517.5, 517.5, 0, 0)


def test_payment_status_and_paying_without_stripe(api, db, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user)
    headers = bearer(client_user, db)
    status = api.get(f"/api/bookings/{booking_id}/payment", headers=headers).json()
    assert (status["status"], status["paymentStatus"], status["paid"], status["totalAmount"]) == (
        "pending",
        "pending",
        0,
        517.5,
    )
    pay = api.post(f"/api/bookings/{booking_id}/pay", headers=headers)
    assert pay.status_code == 409
    assert pay.json()["detail"].startswith("Online payment is not set up")
    eft = api.post(f"/api/bookings/{booking_id}/pay-by-eft", headers=headers)
    assert eft.status_code == 200, eft.text
    assert "R517.50" in eft.json()["instructions"]
    details = eft.json()["eft"]  # the same, field by field, for an app's copy buttons
    assert (details["reference"], details["amount"], details["currency"]) == (
        payments.eft_reference(uuid.UUID(booking_id)),
        517.5,
        "ZAR",
    )
    assert details["reference"] in eft.json()["instructions"]
    assert details["accountNumber"] and details["accountNumber"] in eft.json()["instructions"]
    assert details["payBy"] == eft.json()["holdExpiresAt"]


# --- idempotency ------------------------------------------------------------------------


def test_a_retried_booking_returns_the_first_answer_never_a_second_booking(api, db, practitioner, client_user):
    body = booking_body(api, practitioner)
    headers = {**bearer(client_user, db), "Idempotency-Key": "retry-me-7"}
    first = api.post("/api/bookings", json=body, headers=headers)
    second = api.post("/api/bookings", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["bookingId"] == second.json()["bookingId"]
    assert count(db, Booking, Booking.client_id == client_user.id) == 1
    other = api.post("/api/bookings", json={**body, "notes": "different"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"]["idempotencyKey"].startswith("This Idempotency-Key was used for a different request")
    fresh = api.post("/api/bookings", json=body, headers={**headers, "Idempotency-Key": "another"})
    assert fresh.status_code == 409  # a new key is a new request: the time is taken
    assert count(db, IdempotencyKey, IdempotencyKey.user_id == client_user.id) == 1


# --- me, reviews, notifications ---------------------------------------------------------


def test_me_update_and_change_password(api, db, client_user):
    login = api.post("/api/auth/login", json={"email": client_user.email, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {login['token']}"}
    me = api.get("/api/me", headers=headers).json()
    assert (me["email"], me["role"], me["firstName"]) == (client_user.email, "client", "Thabo")
    changed = api.patch(
        "/api/me", json={"firstName": "Thabiso", "lastName": "Nkosi", "phone": "082 123 4567"}, headers=headers
    )
    assert changed.status_code == 200 and changed.json()["firstName"] == "Thabiso"
    bad = api.patch("/api/me", json={"firstName": "", "lastName": "Nkosi"}, headers=headers)
    assert bad.status_code == 422 and "firstName" in bad.json()["errors"]
    renamed = api.patch("/api/me", json={"lastName": "Dube-Nkosi"}, headers=headers)  # only what is sent changes
    assert renamed.status_code == 200
    assert (renamed.json()["firstName"], renamed.json()["lastName"]) == ("Thabiso", "Dube-Nkosi")
    assert renamed.json()["phone"] == "+27821234567"
    only_phone = api.patch("/api/me", json={"phone": "083 765 4321"}, headers=headers)
    assert only_phone.status_code == 200 and only_phone.json()["phone"] == "+27837654321"
    assert only_phone.json()["lastName"] == "Dube-Nkosi"
    no_phone = api.patch("/api/me", json={"phone": None}, headers=headers)
    assert no_phone.status_code == 200 and no_phone.json()["phone"] is None
    # What cannot change here is refused by name, not ignored (found by a client-app developer's trial).
    hijack = api.patch("/api/me", json={"email": "hijack@example.co.za", "role": "admin"}, headers=headers)
    assert hijack.status_code == 422
    assert hijack.json()["errors"] == {
        "email": "email is not a field of this request.",
        "role": "role is not a field of this request.",
    }
    assert api.get("/api/me", headers=headers).json()["email"] == client_user.email
    wrong = api.post(
        "/api/me/password", json={"currentPassword": "nope", "newPassword": "New secret 12345"}, headers=headers
    )
    assert (
        wrong.status_code == 422 and wrong.json()["errors"]["currentPassword"] == "Your current password is not right."
    )
    ok = api.post(
        "/api/me/password", json={"currentPassword": PASSWORD, "newPassword": "New secret 12345"}, headers=headers
    )
    assert ok.status_code == 200
    assert api.post("/api/auth/refresh", json={"refreshToken": login["refreshToken"]}).status_code == 401
    assert (
        api.post("/api/auth/login", json={"email": client_user.email, "password": "New secret 12345"}).status_code
        == 200
    )


def test_write_and_list_own_reviews(api, db, practitioner, client_user):
    done = make_booking(
        db,
        practitioner=practitioner,
        client=client_user,
        status=BookingStatus.COMPLETED,
        start=datetime.now(UTC) - timedelta(days=2),
    )
    headers = bearer(client_user, db)
    answer = api.post(
        "/api/reviews", json={"bookingId": str(done.id), "rating": 5, "comment": "Very calming."}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "pending"
    again = api.post("/api/reviews", json={"bookingId": str(done.id), "rating": 4, "comment": "Twice"}, headers=headers)
    assert again.status_code == 409
    bad = api.post("/api/reviews", json={"bookingId": str(done.id), "rating": 9, "comment": ""}, headers=headers)
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"rating", "comment"}
    stranger = api.post(
        "/api/reviews",
        json={"bookingId": str(done.id), "rating": 1, "comment": "Not mine"},
        headers=bearer(make_client(db), db),
    )
    assert (stranger.status_code, stranger.json()["detail"]) == (
        404,
        "That booking does not exist, or it is not yours.",
    )
    assert count(db, Review) == 1
    mine = api.get("/api/reviews/mine", headers=headers).json()["reviews"]
    assert [review["comment"] for review in mine] == ["Very calming."]


def test_notifications_list_and_mark_read_only_ones_own(api, db, practitioner, client_user):
    book(api, db, practitioner, client_user)
    headers = bearer(client_user, db)
    inbox = api.get("/api/notifications", headers=headers).json()
    assert inbox["unread"] == 1 and inbox["notifications"][0]["title"] == "Booking received"
    booking_id = db.scalar(select(Booking.id).where(Booking.client_id == client_user.id))
    assert inbox["notifications"][0]["data"] == {"bookingId": str(booking_id)}  # camelCase, as every field
    theirs = api.get("/api/notifications", headers=bearer(practitioner.user, db)).json()["notifications"]
    # The practitioner cannot mark the client's notice read.
    marked = api.post(
        "/api/notifications/read",
        json={"ids": [inbox["notifications"][0]["id"]]},
        headers=bearer(practitioner.user, db),
    )
    assert marked.json() == {"marked": 0}
    assert api.post("/api/notifications/read", json={}, headers=headers).json() == {"marked": 1}
    assert api.get("/api/notifications", headers=headers).json()["unread"] == 0
    assert len(theirs) == 1


# --- a practitioner's practice ----------------------------------------------------------


def test_hours_until_midnight_read_24_00_and_times_read_as_typed(api, db, practitioner):
    headers = bearer(practitioner.user, db)
    evenings = {
        "ranges": [
            {"dayOfWeek": 4, "start": "18:00", "end": "24:00"},
            {"dayOfWeek": 5, "start": "20:30", "end": "00:00"},
        ]
    }
    assert api.put("/api/practice/weekly-hours", json=evenings, headers=headers).status_code == 200
    weekly = api.get("/api/practice/schedule", headers=headers).json()["weeklyHours"]
    assert weekly == [
        {"dayOfWeek": 4, "start": "18:00", "end": "24:00"},
        {"dayOfWeek": 5, "start": "20:30", "end": "24:00"},
    ]
    again = api.put("/api/practice/weekly-hours", json={"ranges": weekly}, headers=headers)  # what was read, sent back
    assert again.status_code == 200
    assert api.get("/api/practice/schedule", headers=headers).json()["weeklyHours"] == weekly
    for wrong in ("25:00", "24:30", "9", "noon"):
        body = {"ranges": [{"dayOfWeek": 0, "start": "09:00", "end": wrong}]}
        refused = api.put("/api/practice/weekly-hours", json=body, headers=headers)
        assert refused.status_code == 422, wrong
        assert refused.json()["errors"] == {
            "ranges.0.end": "ranges.0.end must be a time of day as HH:MM, 00:00 to 24:00."
        }, wrong
    assert api.get("/api/practice/schedule", headers=headers).json()["weeklyHours"] == weekly


def test_a_practitioner_manages_hours_time_off_and_rules(api, db, practitioner, client_user):
    headers = bearer(practitioner.user, db)
    schedule = api.get("/api/practice/schedule", headers=headers).json()
    assert len(schedule["weeklyHours"]) == 7 and schedule["rules"]["timeZone"] == "Africa/Johannesburg"
    booking_id = book(api, db, practitioner, client_user, "10:00")
    mornings = {"ranges": [{"dayOfWeek": d, "start": "13:00", "end": "17:00"} for d in range(7)]}
    clash = api.put("/api/practice/weekly-hours", json=mornings, headers=headers)
    assert clash.status_code == 409
    assert clash.json()["detail"].startswith("1 booked session falls outside the new times.")
    # Which ones, so an app can show them before asking keep or cancel (found by an API trial).
    start = datetime.combine(booking_day(), datetime.min.time().replace(hour=8), tzinfo=UTC)  # 10:00 SAST
    assert clash.json()["bookingsInTheWay"] == [
        {
            "id": booking_id,
            "start": start.isoformat().replace("+00:00", "Z"),
            "end": (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
            "client": f"{client_user.first_name} {client_user.last_name}",
            "status": "pending",
        }
    ]
    documented = api.get("/api/openapi.json").json()["paths"]["/practice/weekly-hours"]["put"]["responses"]["409"]
    assert "bookingsInTheWay" in documented["content"]["application/problem+json"]["schema"]["properties"]
    kept = api.put("/api/practice/weekly-hours", json={**mornings, "bookingsInTheWay": "keep"}, headers=headers)
    assert kept.status_code == 200
    backwards = api.put(
        "/api/practice/weekly-hours",
        json={"ranges": [{"dayOfWeek": 0, "start": "17:00", "end": "09:00"}]},
        headers=headers,
    )
    assert backwards.status_code == 422
    day = (booking_day(10)).isoformat()
    created = api.post(
        "/api/practice/time-off", json={"firstDay": day, "lastDay": day, "reason": "Family"}, headers=headers
    )
    assert created.status_code == 201
    [off] = api.get("/api/practice/schedule", headers=headers).json()["timeOff"]
    assert created.json() == {**off, "message": "Time off added."}  # its id, to remove it by
    assert api.delete(f"/api/practice/time-off/{off['id']}", headers=headers).status_code == 200
    assert api.delete(f"/api/practice/time-off/{off['id']}", headers=headers).status_code == 404
    rules = {"timeZone": "Africa/Johannesburg", "bufferMinutes": 15, "minNoticeMinutes": 120, "bookingHorizonDays": 30}
    assert api.put("/api/practice/rules", json=rules, headers=headers).status_code == 200
    assert (
        api.put("/api/practice/rules", json={**rules, "timeZone": "Mars/Olympus"}, headers=headers).status_code == 422
    )
    assert api.get("/api/practice/verification", headers=headers).json()["status"] == "verified"
    assert api.get("/api/practice/schedule", headers=bearer(client_user, db)).status_code == 403


# --- staff ------------------------------------------------------------------------------


def test_staff_export_bookings_others_may_not(api, db, practitioner, client_user):
    booking_id = book(api, db, practitioner, client_user)
    staff = make_user(db, role=Role.STAFF)
    exported = api.get("/api/staff/bookings", headers=bearer(staff, db))
    assert exported.status_code == 200
    assert booking_id in [row["id"] for row in exported.json()["bookings"]]
    for role in (Role.ANALYST,):
        assert api.get("/api/staff/bookings", headers=bearer(make_user(db, role=role), db)).status_code == 403
    assert api.get("/api/staff/bookings", headers=bearer(client_user, db)).status_code == 403
    assert api.get("/api/staff/bookings", headers=bearer(practitioner.user, db)).status_code == 403
    naive = api.get("/api/staff/bookings", params={"from": "2026-01-01T00:00:00"}, headers=bearer(staff, db))
    assert naive.status_code == 422


def test_idempotency_keys_are_forgotten_after_a_day(api, db, practitioner, client_user):
    from avenrae.services import retention

    headers = {**bearer(client_user, db), "Idempotency-Key": "old-key"}
    assert api.post("/api/bookings", json=booking_body(api, practitioner), headers=headers).status_code == 201
    kept = retention.purge_expired(session=db, now=datetime.now(UTC) + timedelta(hours=1))
    assert kept.idempotency_keys == 0
    purged = retention.purge_expired(session=db, now=datetime.now(UTC) + timedelta(days=2))
    assert purged.idempotency_keys == 1
    assert count(db, IdempotencyKey) == 0


def test_a_slot_sent_in_utc_is_on_its_local_date(api, db, client_user):
    # Found in review: 01:00 in Johannesburg sent as "...T23:00:00Z" (the day before in UTC) with the
    # documented local sessionDate was refused as "not on sessionDate".
    night_owl = make_practitioner(db, rate="450.00")
    make_weekly_hours(db, night_owl, {day: [("00:00", "03:00")] for day in range(7)})
    day = booking_day()
    start = datetime.combine(day, time(1), SAST)
    body = {
        "practitionerId": str(night_owl.id),
        "sessionDate": day.isoformat(),
        "sessionSlotId": start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "meetingType": "in_person",
    }
    answer = api.post("/api/bookings", json=body, headers=bearer(client_user, db))
    assert answer.status_code == 201, answer.text
    assert db.get(Booking, answer.json()["bookingId"]).session_start == start
    body["sessionDate"] = (day + timedelta(days=1)).isoformat()
    wrong = api.post("/api/bookings", json=body, headers=bearer(client_user, db))
    assert wrong.status_code == 422 and wrong.json()["errors"]["sessionDate"] == "sessionSlotId is not on sessionDate."
    body["sessionSlotId"], body["sessionDate"] = "9999-12-31T23:00:00-05:00", "9999-12-30"  # past the last date
    assert api.post("/api/bookings", json=body, headers=bearer(client_user, db)).status_code == 422


def test_days_out_of_reach_are_refused_in_plain_words_not_a_server_error(api, db, practitioner, client_user):
    client = bearer(client_user, db)
    for day in ("9999-12-31", "0001-01-01"):
        slots = api.get(f"/api/practitioners/{practitioner.id}/availability", params={"date": day}, headers=client)
        assert slots.status_code == 200 and slots.json()["slots"] == []
    far = {"practitionerId": str(practitioner.id), "sessionDate": "9999-12-31", "meetingType": "in_person"}
    for slot in ("9999-12-31T23:00:00-05:00", "10:00"):
        answer = api.post("/api/bookings", json={**far, "sessionSlotId": slot}, headers=client)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"]["sessionSlotId"] == "That is further ahead than bookings are taken."
    booking_id = book(api, db, practitioner, client_user)
    moved = api.post(
        f"/api/bookings/{booking_id}/reschedule",
        json={"sessionDate": "9999-12-31", "sessionSlotId": "9999-12-31T23:00:00-05:00"},
        headers=client,
    )
    assert moved.status_code == 422 and moved.json()["errors"]["sessionSlotId"].startswith("That is further ahead")
    back = api.post(
        f"/api/bookings/{booking_id}/reschedule",
        json={"sessionDate": "0001-01-01", "sessionSlotId": "00:30"},
        headers=client,
    )
    assert back.status_code == 422 and back.json()["errors"]["sessionSlotId"] == "That time has already passed."
    own = bearer(practitioner.user, db)
    for body in (
        {"firstDay": "9999-12-31", "lastDay": "9999-12-31"},
        {"firstDay": "9999-12-31", "lastDay": "9999-12-31", "startTime": "09:00", "endTime": "10:00"},
    ):
        answer = api.post("/api/practice/time-off", json=body, headers=own)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"]["firstDay"] == "Time off can be set at most two years ahead."
    staff = bearer(make_user(db, role=Role.STAFF), db)
    listed = api.get("/api/staff/bookings", params={"from": "9999-12-31T23:00:00-05:00"}, headers=staff)
    assert listed.status_code == 200 and listed.json()["bookings"] == []  # nothing starts that late


def test_search_past_the_end_counts_what_there_is_and_takes_several_specializations(api, db):
    for kind in ("healer", "prophet", "medium"):
        make_practitioner(db, specialization=kind)
    near = {"latitude": -29.8683, "longitude": 31.0292, "radius": 50, "limit": 2}
    past = api.get("/api/practitioners/search", params={**near, "offset": 10})
    assert past.status_code == 200
    assert (past.json()["practitioners"], past.json()["total"], past.json()["hasMore"]) == ([], 3, False)
    both = api.get("/api/practitioners/search", params={**near, "limit": 10, "specialization": ["healer", "Prophet"]})
    assert sorted(p["specialization"] for p in both.json()["practitioners"]) == ["healer", "prophet"]
    commas = api.get("/api/practitioners/search", params={**near, "limit": 10, "specialization": "medium,healer"})
    assert sorted(p["specialization"] for p in commas.json()["practitioners"]) == ["healer", "medium"]
    wrong = api.get("/api/practitioners/search", params={**near, "specialization": "wizard"})
    assert wrong.status_code == 422 and wrong.json()["errors"]["specialization"] == "“wizard” is not a specialization."


def test_a_booking_without_a_meeting_type_says_so_and_what_else_is_wrong(api, db, practitioner, client_user):
    headers = bearer(client_user, db)
    body = booking_body(api, practitioner, "10:00")
    del body["meetingType"]
    answer = api.post("/api/bookings", json=body, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["errors"] == {"meetingType": "Choose how you will meet: in person or online."}
    closed = api.post("/api/bookings", json={**body, "sessionSlotId": "23:00"}, headers=headers)
    assert closed.json()["errors"] == {
        "meetingType": "Choose how you will meet: in person or online.",
        "sessionSlotId": "That is not one of the practitioner's open times; choose one of the times shown.",
    }


def test_a_practitioner_marks_sessions_completed_or_missed_as_their_actions_offer(api, db, practitioner, client_user):
    # Found by a client-app developer's trial: `actions` offered complete and no_show, with no way to do either.
    ended = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    done = make_booking(db, practitioner=practitioner, client=client_user, start=ended, status="confirmed")
    missed = make_booking(
        db, practitioner=practitioner, client=client_user, start=ended - timedelta(days=1), status="confirmed"
    )
    make_transaction(db, missed)
    headers = bearer(practitioner.user, db)
    for booking in (done, missed):
        assert api.get(f"/api/bookings/{booking.id}", headers=headers).json()["actions"] == [
            "cancel",
            "complete",
            "no_show",
        ]
    assert api.post(f"/api/bookings/{done.id}/complete", headers=bearer(client_user, db)).status_code == 403
    completed = api.post(f"/api/bookings/{done.id}/complete", headers=headers)
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    absent = api.post(f"/api/bookings/{missed.id}/no-show", headers=headers)
    assert absent.status_code == 200 and absent.json()["status"] == "no_show"
    assert api.post(f"/api/bookings/{missed.id}/complete", headers=headers).status_code == 409  # decided already
    db.expire_all()
    assert (db.get(Booking, done.id).status, db.get(Booking, missed.id).status) == (
        BookingStatus.COMPLETED,
        BookingStatus.NO_SHOW,
    )


def test_a_practitioners_special_dates_are_read_and_set_through_the_api(api, db, practitioner, client_user):
    # Found by a client-app developer's trial: a Sunday with hours of its own was bookable, but the
    # practitioner's schedule did not show it and no endpoint could change it.
    headers = bearer(practitioner.user, db)
    day = booking_day(12)
    first = api.put(
        f"/api/practice/special-dates/{day.isoformat()}",
        json={"ranges": [{"start": "18:00", "end": "24:00"}]},
        headers=headers,
    )
    assert first.status_code == 200 and first.json()["message"] == f"Hours for {day:%a %d %b %Y} saved."
    schedule = api.get("/api/practice/schedule", headers=headers).json()
    assert schedule["specialDates"] == [{"date": day.isoformat(), "start": "18:00", "end": "24:00"}]
    slots = api.get(f"/api/practitioners/{practitioner.id}/availability", params={"date": day.isoformat()}).json()
    assert [s["time"] for s in slots["slots"]] == ["18:00", "19:00", "20:00", "21:00", "22:00", "23:00"]
    booked = api.post(
        "/api/bookings",
        json={"practitionerId": str(practitioner.id), "sessionDate": day.isoformat(), "sessionSlotId": "19:00",
              "meetingType": "in_person"},
        headers=bearer(client_user, db),
    )  # fmt: skip
    assert booked.status_code == 201, booked.text
    usual = api.put(f"/api/practice/special-dates/{day.isoformat()}", json={"ranges": []}, headers=headers)
    assert usual.status_code == 409 and usual.json()["detail"].startswith("1 booked session falls outside")
    kept = api.put(
        f"/api/practice/special-dates/{day.isoformat()}",
        json={"ranges": [], "bookingsInTheWay": "keep"},
        headers=headers,
    )
    assert kept.status_code == 200 and kept.json()["message"] == "Usual hours again."
    assert api.get("/api/practice/schedule", headers=headers).json()["specialDates"] == []
    backwards = api.put(
        f"/api/practice/special-dates/{day.isoformat()}",
        json={"ranges": [{"start": "17:00", "end": "09:00"}]},
        headers=headers,
    )
    assert backwards.status_code == 422


def test_a_paid_booking_tells_where_to_go_and_how_to_reach_the_other_side(api, db, practitioner, client_user):
    unpaid = book(api, db, practitioner, client_user)
    assert api.get(f"/api/bookings/{unpaid}", headers=bearer(client_user, db)).json()["contact"] is None
    paid = make_booking(
        db, practitioner=practitioner, client=client_user, start=datetime.now(UTC) + timedelta(days=5),
        status=BookingStatus.CONFIRMED,
    )  # fmt: skip
    seen = api.get(f"/api/bookings/{paid.id}", headers=bearer(client_user, db)).json()["contact"]
    assert seen["where"] == practitioner.service_address and seen["whereIsTownOnly"] is False
    assert seen["others"] == [
        {"name": "Nomsa Dlamini", "phone": practitioner.user.phone, "email": practitioner.user.email}
    ]
    theirs = api.get(f"/api/bookings/{paid.id}", headers=bearer(practitioner.user, db)).json()["contact"]
    assert theirs["where"] is None and [o["email"] for o in theirs["others"]] == [client_user.email]


def test_a_cancellation_sends_its_own_refund_and_no_one_elses(api, db, practitioner, client_user, monkeypatch):
    # Found in review: the API's cancel sent every refund queued on the platform (after a Stripe
    # outage, hundreds of calls inside one client's request); the web pages send only their own.
    fake = FakeStripe()
    monkeypatch.setattr(get_settings(), "stripe_secret_key", SecretStr("sk_test_set_up_here"))
    monkeypatch.setattr(payments, "_stripe_client", lambda key: client_for(fake))
    someone_else = make_booking(
        db,
        practitioner=practitioner,
        client=make_client(db),
        start=datetime.now(UTC) + timedelta(days=4),
        status=BookingStatus.CANCELLED,
        cancelled_at=datetime.now(UTC),
        refund_due=Decimal("517.50"),
    )
    fake.intents["pi_theirs"] = {"id": "pi_theirs", "amount": 51750, "amount_received": 51750, "metadata": {}}
    theirs = make_transaction(db, someone_else, provider="stripe", method="card", provider_reference="pi_theirs")
    queued = make_transaction(db, someone_else, kind=TransactionKind.REFUND, provider="stripe", method="card",
                              status=PaymentStatus.PENDING, refund_of_id=theirs.id)  # fmt: skip
    mine = make_booking(db, practitioner=practitioner, client=client_user, start=datetime.now(UTC) + timedelta(days=3))
    fake.intents["pi_mine"] = {"id": "pi_mine", "amount": 51750, "amount_received": 51750, "metadata": {}}
    make_transaction(db, mine, provider="stripe", method="card", provider_reference="pi_mine")
    answer = api.post(f"/api/bookings/{mine.id}/cancel", json={"reason": "Ill"}, headers=bearer(client_user, db))
    assert answer.status_code == 200, answer.text
    assert [refund["payment_intent"] for refund in fake.refunds.values()] == ["pi_mine"]
    db.refresh(queued)
    assert (queued.status, queued.provider_reference) == (PaymentStatus.PENDING, None)  # left to the refund job
