"""A practitioner's app reads their payouts and sets the bank account they go to."""

from datetime import UTC, datetime, timedelta

from avenrae.models import BookingStatus, PayoutAccount, Role
from avenrae.services import bookings, payouts
from tests.api.conftest import bearer
from tests.factories import PASSWORD, make_booking, make_client, make_transaction, make_user


def test_a_practitioner_sets_the_account_and_reads_what_is_ready_and_paid(api, db, practitioner):
    headers = bearer(practitioner.user, db)
    start = datetime.now(UTC) - timedelta(days=4)
    done = make_booking(
        db, practitioner=practitioner, client=make_client(db), start=start, status=BookingStatus.COMPLETED
    )
    make_transaction(db, done)
    empty = api.get("/api/practice/payouts", headers=headers).json()
    assert (empty["readyToPayOut"], empty["paidOut"], empty["account"], empty["payouts"]) == (450.0, 0.0, None, [])

    wrong = api.put(
        "/api/practice/payout-account",
        json={"bankName": "FNB", "accountHolder": "Nomsa Dlamini", "accountNumber": "12", "branchCode": "25065"},
        headers=headers,
    )
    assert wrong.status_code == 422
    assert set(wrong.json()["errors"]) == {"accountNumber", "branchCode"}  # checked before the password
    assert db.get(PayoutAccount, practitioner.id) is None
    saved = api.put(
        "/api/practice/payout-account",
        json={
            "bankName": "FNB",
            "accountHolder": "Nomsa Dlamini",
            "accountNumber": "6200 1234 567",
            "branchCode": "250655",
            "password": PASSWORD,
        },
        headers=headers,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["message"] == "Bank account saved: payouts go to FNB account ending 4567."

    staff = bookings.Actor(make_user(db, role=Role.STAFF).id, Role.STAFF)
    prepared = payouts.prepare(
        session=db, actor=staff, practitioner_id=practitioner.id, amount="450.00", account_ending="4567"
    )
    payouts.mark_paid(session=db, actor=staff, payout_id=prepared.id, reference="FNB P1")
    found = api.get("/api/practice/payouts", headers=headers).json()
    assert (found["readyToPayOut"], found["paidOut"]) == (0.0, 450.0)
    assert found["account"] == {
        "bankName": "FNB",
        "accountHolder": "Nomsa Dlamini",
        "accountNumberEnd": "4567",
        "branchCode": "250655",
    }  # the full number never leaves the server: the app shows its end
    assert [(p["amount"], p["reference"], p["accountNumberEnd"]) for p in found["payouts"]] == [
        (450.0, "FNB P1", "4567")
    ]
