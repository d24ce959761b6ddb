"""Payouts on the Earnings page: the practitioner gives a bank account and reads what is ready;
staff record a payout, checked, named and confirmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from avenrae.models import BookingStatus, Payout, PayoutAccount, Role
from avenrae.services import bookings, payouts
from tests.factories import PASSWORD, make_booking, make_client, make_practitioner, make_transaction, make_user
from tests.pages.test_login_signup import submit


@pytest.fixture
def healer(db):
    """Nomsa, R450 a session, with two sessions paid and ended three and four days ago."""
    found = make_practitioner(db, rate="450.00", first_name="Nomsa", last_name="Dlamini")
    for days in (3, 4):
        start = datetime.now(UTC) - timedelta(days=days, hours=1)
        booking = make_booking(
            db, practitioner=found, client=make_client(db), start=start, status=BookingStatus.COMPLETED
        )
        make_transaction(db, booking, created_at=start)
    return found


def fields(app) -> dict:
    return {field.label: field for field in app.text_input}


def test_a_practitioner_gives_their_bank_account_and_reads_what_is_ready(db, page, healer):
    app = page("pages/earnings.py", user=healer.user)
    assert not app.exception
    assert "Add the bank account your payouts go to." in [w.value for w in app.warning]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Ready to pay out"] == "R900.00" and metrics["Paid out so far"] == "R0.00"
    app.selectbox(key="payout_bank").set_value("FNB")
    app = app.run()
    assert fields(app)["Branch code"].value == "250655"  # the bank's universal code, filled in
    fields(app)["Account holder"].input("Nomsa Dlamini")
    fields(app)["Account number"].input("12")
    app = submit(app, "Save bank account")
    assert "6 to 16 digits" in app.error[0].value
    assert db.get(PayoutAccount, healer.id) is None
    fields(app)["Account number"].input("6200 1234 567")
    app = submit(app, "Save bank account")
    assert "Enter your current password." in app.error[0].value  # only they say where their money goes
    fields(app)["Account number"].input("6200 1234 567")
    fields(app)["Your password"].input(PASSWORD)
    app = submit(app, "Save bank account")
    assert not app.exception and not app.error
    assert app.success[0].value == "Bank account saved. Your payouts go there from now on."
    saved = db.get(PayoutAccount, healer.id)
    assert (saved.bank_name, saved.account_number, saved.branch_code) == ("FNB", "62001234567", "250655")
    assert any("FNB** account ending **4567" in m.value for m in app.markdown)


def test_staff_set_a_payout_aside_transfer_it_and_record_it_paid(db, page, healer):
    payouts.save_account(
        session=db,
        actor=bookings.Actor(healer.user_id, Role.PRACTITIONER),
        form=payouts.AccountForm("FNB", "Nomsa Dlamini", "62001234567", "250655", password=PASSWORD),
    )
    app = page("pages/earnings.py", user=make_user(db, role=Role.STAFF))
    app.text_input(key="earnings_for_query").input("Nomsa")
    app = app.run()
    assert any("`62001234567`" in m.value for m in app.markdown)  # staff read the whole number to pay it
    assert any("confirm it with the practitioner by phone" in w.value for w in app.warning)  # a new account
    assert app.number_input[0].value == 900.0  # what is ready, filled in
    app.number_input[0].set_value(1000.0)
    app = submit(app, "Prepare payout…")
    assert "Only R900.00 is ready to pay out" in app.error[0].value
    assert not [b for b in app.button if b.label == "Yes, prepare this payout"]
    app.number_input[0].set_value(900.0)
    app = submit(app, "Prepare payout…")
    assert any("Set aside **R900.00** for Nomsa Dlamini’s FNB account ending 4567" in w.value for w in app.warning)
    assert db.scalar(select(func.count()).select_from(Payout)) == 0  # nothing before "Yes"
    app = submit(app, "Yes, prepare this payout")
    assert not app.exception
    assert db.scalar(select(Payout.status)) == "prepared"
    assert any("**R900.00 is set aside**" in m.value for m in app.markdown)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Ready to pay out"] == "R0.00" and metrics["Paid out so far"] == "R0.00"
    app = submit(app, "Record as paid")  # no reference yet
    assert "Enter the reference of the transfer" in app.error[0].value
    assert db.scalar(select(Payout.status)) == "prepared"
    app.text_input(key="payout_reference").input("FNB PAYOUT 42")
    app = submit(app, "Record as paid")
    assert not app.exception
    assert db.scalar(select(Payout.status)) == "paid"
    assert app.success[0].value == "Payout of R900.00 recorded; Nomsa Dlamini is told."
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Paid out so far"] == "R900.00" and metrics["Ready to pay out"] == "R0.00"
    assert list(app.dataframe[-1].value["Reference"]) == ["FNB PAYOUT 42"]
    assert not [b for b in app.button if b.label == "Prepare payout…"]  # nothing left to pay out
    assert "Nothing is ready to pay out now." in [c.value for c in app.caption]


def test_staff_cancel_a_payout_that_was_not_transferred(db, page, healer):
    payouts.save_account(
        session=db,
        actor=bookings.Actor(healer.user_id, Role.PRACTITIONER),
        form=payouts.AccountForm("FNB", "Nomsa Dlamini", "62001234567", "250655", password=PASSWORD),
    )
    staff = make_user(db, role=Role.STAFF)
    payouts.prepare(
        session=db,
        actor=bookings.Actor(staff.id, Role.STAFF),
        practitioner_id=healer.id,
        amount="900.00",
        account_ending="4567",
    )
    app = page("pages/earnings.py", user=staff)
    app.text_input(key="earnings_for_query").input("Nomsa")
    app = submit(app.run(), "Cancel it (nothing was transferred)")
    assert app.success[0].value == "Payout of R900.00 cancelled; it is ready to pay out again."
    assert db.scalar(select(Payout.status)) == "cancelled"
    assert {m.label: m.value for m in app.metric}["Ready to pay out"] == "R900.00"


def test_staff_are_told_when_no_account_was_given(db, page, healer):
    app = page("pages/earnings.py", user=make_user(db, role=Role.STAFF))
    app.text_input(key="earnings_for_query").input("Nomsa")
    app = app.run()
    assert "has not given a bank account for payouts yet" in app.warning[0].value
    assert not [b for b in app.button if b.label == "Prepare payout…"]


def _account(db, healer, bank="FNB", number="62001234567", branch="250655"):
    payouts.save_account(
        session=db,
        actor=bookings.Actor(healer.user_id, Role.PRACTITIONER),
        form=payouts.AccountForm(bank, "Nomsa Dlamini", number, branch, password=PASSWORD),
    )


def test_an_account_changed_while_a_payout_waits_is_said_to_both_sides(db, page, healer):
    # Found in a trial: the practitioner read "being made to your account" under their new
    # account, and staff read "the account above" with two accounts above and "Record as paid" first.
    _account(db, healer)
    staff = make_user(db, role=Role.STAFF)
    prepared = payouts.prepare(
        session=db,
        actor=bookings.Actor(staff.id, Role.STAFF),
        practitioner_id=healer.id,
        amount="900",
        account_ending="4567",
    )
    mine = page("pages/earnings.py", user=healer.user)
    assert "A payout of R900.00 to your FNB account ending 4567 is being made." in [i.value for i in mine.info]
    db.execute(update(Payout).where(Payout.id == prepared.id).values(created_at=func.now() - timedelta(minutes=5)))
    _account(db, healer, "Capitec", "1234569831", "470010")
    mine = page("pages/earnings.py", user=healer.user)
    assert any("set aside for your FNB account ending 4567 before you changed" in w.value for w in mine.warning)
    app = page("pages/earnings.py", user=staff)
    app.text_input(key="earnings_for_query").input("Nomsa")
    app = app.run()
    assert any("already made to the FNB account ending 4567, which it was set aside for" in e.value for e in app.error)
    buttons = {b.label: b.proto.type for b in app.button}
    assert buttons["Cancel it (nothing was transferred)"] == "primary" and buttons["Record as paid"] == "secondary"


def test_a_question_made_stale_by_an_account_change_says_so(db, page, healer):
    # Found in a trial: "Yes, prepare this payout" after the practitioner changed the account
    # made the question vanish and nothing happen, with no word why.
    _account(db, healer)
    app = page("pages/earnings.py", user=make_user(db, role=Role.STAFF))
    app.text_input(key="earnings_for_query").input("Nomsa")
    app = submit(app.run(), "Prepare payout…")
    assert [b for b in app.button if b.label == "Yes, prepare this payout"]
    _account(db, healer, "Capitec", "1234569831", "470010")
    app = app.run()
    assert any(
        "changed while you were looking (it now ends 9831): nothing was set aside" in w.value for w in app.warning
    )
    assert not [b for b in app.button if b.label == "Yes, prepare this payout"]
    assert db.scalar(select(func.count()).select_from(Payout)) == 0


def test_another_bank_starts_without_a_branch_code(db, page, healer):
    # Found in a trial: "Another bank" kept FNB's universal code, under help saying it was the bank's own.
    _account(db, healer)
    app = page("pages/earnings.py", user=healer.user)
    app.selectbox(key="payout_bank").set_value("Another bank")
    app = app.run()
    assert fields(app)["Branch code"].value == ""
