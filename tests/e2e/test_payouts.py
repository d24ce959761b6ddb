"""A payout in the browser: staff set it aside, make the transfer, record it with the bank's
reference; the practitioner reads it under Earnings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from avenrae.models import BookingStatus, Payout, Role
from avenrae.seed import DEMO_PASSWORD
from avenrae.services import bookings, payouts
from tests.e2e.conftest import TIMEOUT
from tests.e2e.test_everyday import log_in
from tests.factories import PASSWORD, make_booking, make_client, make_practitioner, make_transaction

pytestmark = pytest.mark.e2e


def test_staff_prepare_a_payout_and_record_it_paid_and_the_practitioner_sees_it(
    e2e_database_url, offline, browser, app_url
):
    engine = create_engine(e2e_database_url)
    with Session(engine, expire_on_commit=False) as db:
        healer = make_practitioner(db, rate="450.00", first_name="Zanele", last_name="Payout-Ndaba")
        start = datetime.now(UTC) - timedelta(days=4)
        done = make_booking(
            db, practitioner=healer, client=make_client(db), start=start, status=BookingStatus.COMPLETED
        )
        make_transaction(db, done, created_at=start)
        payouts.save_account(
            session=db,
            actor=bookings.Actor(healer.user_id, Role.PRACTITIONER),
            form=payouts.AccountForm("FNB", "Zanele Ndaba", "62009876543", "250655", password=PASSWORD),
        )
        email = healer.user.email
        db.commit()
    try:
        page = log_in(offline, "staff@demo.avenrae.co.za", DEMO_PASSWORD)
        page.get_by_role("heading", name="Avenrae operations").wait_for(timeout=TIMEOUT)
        offline.open("/earnings")
        page.get_by_role("textbox", name="Find a practitioner").fill("Payout-Ndaba")
        page.keyboard.press("Enter")
        page.get_by_text("Ready to pay out").wait_for(timeout=TIMEOUT)
        page.get_by_role("button", name="Prepare payout…").click()
        page.get_by_role("button", name="Yes, prepare this payout").click()
        page.get_by_text(re.compile(r"R450\.00 is set aside")).first.wait_for(timeout=TIMEOUT)
        offline.screenshot("payout-set-aside")
        page.get_by_role("textbox", name="Bank reference of the transfer").fill("FNB PAYOUT E2E 1")
        page.get_by_role("button", name="Record as paid").click()
        page.get_by_text("Payout of R450.00 recorded; Zanele Payout-Ndaba is told.").first.wait_for(timeout=TIMEOUT)
        offline.screenshot("payout-recorded")
        with Session(engine) as db:
            assert db.scalars(select(Payout.status).where(Payout.practitioner_id == healer.id)).all() == ["paid"]

        mine = type(offline)(browser, app_url)
        try:
            theirs = log_in(mine, email, PASSWORD)
            theirs.get_by_role("heading", name="My bookings").wait_for(timeout=TIMEOUT)
            mine.open("/earnings")
            theirs.get_by_text("Payouts made").wait_for(timeout=TIMEOUT)
            theirs.get_by_text("FNB PAYOUT E2E 1").wait_for(state="attached", timeout=TIMEOUT)  # a table cell
            mine.screenshot("payout-practitioner-reads-it")
        finally:
            mine.context.close()
    finally:
        engine.dispose()
