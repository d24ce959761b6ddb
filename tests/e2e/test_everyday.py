"""The everyday journeys of issue 15 in the browser, each with screenshots: EFT that staff
record later, cancelling one of two bookings, a refund paid out that both sides then read
the same way, and a practitioner asked what to do with bookings on a day they close."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import Session

from avenrae.models import (
    AvailabilityException,
    Booking,
    BookingStatus,
    PaymentStatus,
    Practitioner,
    Review,
    ReviewStatus,
    Role,
)
from avenrae.seed import DEMO_PASSWORD
from avenrae.services import bookings, flows, payments
from tests.e2e.conftest import TIMEOUT
from tests.factories import PASSWORD, make_booking, make_client, make_practitioner, make_transaction, make_weekly_hours

pytestmark = pytest.mark.e2e

SAST = ZoneInfo("Africa/Johannesburg")
EVERY_DAY = {day: [("08:00", "18:00")] for day in range(7)}


@pytest.fixture
def db(e2e_database_url):
    engine = create_engine(e2e_database_url)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()


def soon(days: int, hour: int = 10) -> datetime:
    local = (datetime.now(SAST) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC)


def log_in(tab, email: str, password: str):
    """Log in with "keep me logged in", so pages can be opened by their address (each address
    starts a new Streamlit session, which the cookie logs in again)."""
    page = tab.log_in(email, password, remember=True)
    page.wait_for_selector('[data-testid="stSidebar"]', state="attached", timeout=TIMEOUT)  # folded on a phone
    for _ in range(100):
        if any(c["name"] == "avenrae_session" for c in tab.context.cookies()):
            return page
        page.wait_for_timeout(100)
    raise AssertionError("the remember-me cookie was never set")


def people(db, first: str) -> tuple:
    """A new client and a new practitioner open every day, committed for the app to see."""
    client = make_client(db, first_name=first, last_name="Mokoena")
    practitioner = make_practitioner(db, first_name="Gogo", last_name=f"{first}s-healer", offers_online=True)
    make_weekly_hours(db, practitioner, EVERY_DAY)
    db.commit()
    return client, practitioner


def test_a_client_pays_by_eft_and_staff_record_it_two_hours_later(db, offline, browser, app_url):
    client, practitioner = people(db, "Ayanda")
    page = log_in(offline, client.email, PASSWORD)
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    offline.open(f"/book?practitioner={practitioner.id}")
    page.get_by_role("heading", name="Book a session").wait_for(timeout=TIMEOUT)
    times = page.locator('[data-testid="stButtonGroup"] button').filter(has_text=re.compile(r"^\d\d:\d\d$"))
    times.first.wait_for(timeout=TIMEOUT)
    times.first.click()  # the first open time of the first open day
    offline.settle()
    page.get_by_role("button", name=re.compile(r"^Book ")).click()
    page.get_by_text("Booked!").first.wait_for(timeout=TIMEOUT)
    booking = db.scalar(select(Booking).where(Booking.client_id == client.id))
    reference = payments.eft_reference(booking.id)
    page.get_by_text(reference).first.wait_for(timeout=TIMEOUT)
    page.get_by_text("Account number: 62000000001").wait_for(timeout=TIMEOUT)
    offline.screenshot("everyday-eft-instructions")

    # Two hours later the transfer shows in the bank: staff record it.
    db.execute(
        update(Booking).where(Booking.id == booking.id).values(created_at=Booking.created_at - timedelta(hours=2))
    )
    db.commit()
    office = type(offline)(browser, app_url)
    try:
        staff = log_in(office, "staff@demo.avenrae.co.za", DEMO_PASSWORD)
        staff.get_by_role("heading", name="Avenrae operations").wait_for(timeout=TIMEOUT)
        office.open(f"/bookings?booking={booking.id}")
        staff.get_by_text("Record a payment received by hand").wait_for(timeout=TIMEOUT)
        staff.get_by_role("textbox", name="Reference or receipt number").fill(f"FNB {reference}")
        staff.get_by_role("button", name="Record payment…").click()
        staff.get_by_role("button", name="Yes, record this payment").click()
        recorded = staff.get_by_text(re.compile(r": Payment recorded; the booking is confirmed\.$"))
        recorded.first.wait_for(timeout=TIMEOUT)
        office.screenshot("everyday-eft-recorded-by-staff")
    finally:
        office.context.close()
    page.reload()
    page.get_by_text(re.compile(r"Status: Confirmed")).wait_for(timeout=TIMEOUT)
    db.expire_all()
    assert db.get(Booking, booking.id).payment_status == PaymentStatus.COMPLETED


def test_a_client_cancels_one_of_two_paid_bookings_and_the_other_is_untouched(db, offline):
    client, practitioner = people(db, "Bongi")
    first = make_booking(db, practitioner=practitioner, client=client, start=soon(3))
    second = make_booking(db, practitioner=practitioner, client=client, start=soon(6))
    for booking in (first, second):
        make_transaction(db, booking)
    db.commit()
    page = log_in(offline, client.email, PASSWORD)
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    offline.open(f"/bookings?booking={second.id}")
    page.get_by_role("heading", name="My bookings").wait_for(timeout=TIMEOUT)
    offline.settle()
    page.get_by_role("textbox", name="Reason").fill("Travelling that week")
    page.get_by_role("button", name="Cancel this booking…").click()
    question = page.get_by_text(re.compile(r"goes back\."))
    question.wait_for(timeout=TIMEOUT)
    when = second.session_start.astimezone(SAST).strftime("%a %d %b %Y, %H:%M")
    assert when in question.inner_text()
    offline.screenshot("everyday-cancel-asks-first")
    page.get_by_role("button", name="Yes, cancel this booking").click()
    page.get_by_text(re.compile(r"Booking cancelled\. R[\d.,]+ is owed back")).first.wait_for(timeout=TIMEOUT)
    offline.screenshot("everyday-cancelled-the-right-one")
    db.expire_all()
    assert db.get(Booking, second.id).status == BookingStatus.CANCELLED
    assert db.get(Booking, first.id).status == BookingStatus.CONFIRMED
    # Still the booking acted on: its details, now cancelled, are what the page shows.
    page.get_by_text(re.compile(rf"^{re.escape(when)}–")).wait_for(timeout=TIMEOUT)
    page.get_by_text(re.compile(r"Status: Cancelled")).wait_for(timeout=TIMEOUT)
    # ... and so does the booking picker, not the state it was first drawn with.
    expect(page.get_by_role("combobox", name="Booking")).to_have_value(re.compile(r"· Cancelled$"))


def test_staff_pay_out_an_owed_refund_and_both_sides_read_the_same(db, offline, browser, app_url):
    client, practitioner = people(db, "Chipo")
    booking = make_booking(db, practitioner=practitioner, client=client, start=soon(4))
    make_transaction(db, booking, method="eft", provider="manual")
    flows.cancel(
        session=db, booking_id=booking.id, actor=bookings.Actor(practitioner.user_id, Role.PRACTITIONER), reason="Ill"
    )
    db.commit()
    reference = payments.eft_reference(booking.id)
    staff = log_in(offline, "staff@demo.avenrae.co.za", DEMO_PASSWORD)
    staff.get_by_role("heading", name="Avenrae operations").wait_for(timeout=TIMEOUT)
    offline.open("/payments")
    staff.get_by_role("heading", name="Refunds owed").wait_for(timeout=TIMEOUT)
    staff.get_by_test_id("stHorizontalBlock").filter(has_text=f"booking {reference}").get_by_role(
        "button", name="Pay out"
    ).click()
    offline.settle()
    staff.get_by_role("textbox", name="Refund reference (paid back by hand)").fill("FNB out 8812")
    staff.get_by_role("button", name=f"Refund {reference}…").click()
    staff.get_by_role("button", name=re.compile(r"^Yes, refund R")).click()  # asked first, naming the amount
    staff.get_by_text(re.compile(rf"Refund of R[\d.,]+ recorded for {reference}\.")).first.wait_for(timeout=TIMEOUT)
    expect(staff.get_by_text(f"booking {reference}")).to_have_count(0, timeout=TIMEOUT)  # no longer owed
    offline.screenshot("everyday-refund-paid-out")
    for email, name in (
        (client.email, "client"),
        (practitioner.user.email, "practitioner"),
    ):
        tab = type(offline)(browser, app_url)
        try:
            page = log_in(tab, email, PASSWORD)
            page.wait_for_selector('[data-testid="stSidebar"]', timeout=TIMEOUT)
            tab.open(f"/bookings?booking={booking.id}")
            page.get_by_text(re.compile(r"payment: Refunded")).wait_for(timeout=TIMEOUT)
            page.get_by_text(re.compile(r"^Refunded: R")).wait_for(timeout=TIMEOUT)
            assert page.get_by_text("Refund owed").count() == 0
            tab.screenshot(f"everyday-refund-as-the-{name}")
        finally:
            tab.context.close()


def test_a_practitioner_closing_a_day_with_bookings_is_asked_what_to_do(db, offline):
    client, practitioner = people(db, "Dumisani")
    booking = make_booking(db, practitioner=practitioner, client=client, start=soon(5))
    make_transaction(db, booking)
    db.commit()
    weekday = booking.session_start.astimezone(SAST).strftime("%A")
    page = log_in(offline, practitioner.user.email, PASSWORD)
    page.get_by_role("heading", name="My bookings").wait_for(timeout=TIMEOUT)
    offline.open("/availability")
    page.get_by_role("heading", name="Availability").wait_for(timeout=TIMEOUT)
    page.get_by_role("textbox", name=weekday).fill("")
    page.get_by_role("button", name="Save weekly hours").click()
    page.get_by_text("1 booked session falls outside the new times.").wait_for(timeout=TIMEOUT)
    page.get_by_text(re.compile(r"Dumisani Mokoena")).wait_for(timeout=TIMEOUT)
    offline.screenshot("everyday-closing-a-day-asks")
    page.get_by_role("button", name="Save with this choice").click()  # keep them
    page.get_by_text("Weekly hours saved.").first.wait_for(timeout=TIMEOUT)
    db.expire_all()
    assert db.get(Booking, booking.id).status == BookingStatus.CONFIRMED
    # Hours typed loosely read back as saved, in the browser too (not as typed).
    next_day = (booking.session_start.astimezone(SAST) + timedelta(days=1)).strftime("%A")
    page.get_by_role("textbox", name=next_day).fill("8-12")
    page.get_by_role("button", name="Save weekly hours").click()
    page.get_by_text("Weekly hours saved.").first.wait_for(timeout=TIMEOUT)
    expect(page.get_by_role("textbox", name=next_day)).to_have_value("08:00-12:00", timeout=TIMEOUT)


def test_shift_and_a_letter_moderates_as_the_letter_does(db, offline):
    staff = log_in(offline, "staff@demo.avenrae.co.za", DEMO_PASSWORD)
    staff.get_by_role("heading", name="Avenrae operations").wait_for(timeout=TIMEOUT)
    offline.open("/moderation")
    staff.get_by_role("heading", name="Review moderation").wait_for(timeout=TIMEOUT)
    offline.settle()
    waiting = db.scalar(select(func.count()).select_from(Review).where(Review.status == ReviewStatus.PENDING))
    staff.get_by_role("heading", name="Review moderation").click()  # focus the page, not a text field
    staff.keyboard.press("Shift+P")
    published = staff.get_by_text(re.compile(r"^Published .* The rating is updated\.$")).first
    asked = staff.get_by_role("button", name="Yes, publish it as it is")  # a flagged review asks first
    published.or_(asked).first.wait_for(timeout=TIMEOUT)
    if asked.count():
        asked.click()
    published.wait_for(timeout=TIMEOUT)
    db.expire_all()
    assert (
        db.scalar(select(func.count()).select_from(Review).where(Review.status == ReviewStatus.PENDING)) == waiting - 1
    )


def test_a_save_on_another_tab_stays_on_that_tab_with_its_message(db, offline):
    """Availability: a refused entry on "Time off" is shown there (the tabs do not jump back
    to "Weekly hours" where nobody would see it), and so is the success once corrected."""
    _, practitioner = people(db, "Zanele")
    page = log_in(offline, practitioner.user.email, PASSWORD)
    page.get_by_role("heading", name="My bookings").wait_for(timeout=TIMEOUT)
    offline.open("/availability")
    page.get_by_role("heading", name="Availability").wait_for(timeout=TIMEOUT)
    time_off = page.get_by_role("tab", name="Time off")
    time_off.click()
    reason = page.get_by_role("textbox", name="Reason (only you and our staff see it)")
    reason.fill("Family matters. " * 15)  # 239 characters; the most is 200
    page.get_by_role("button", name="Add time off").click()
    error = page.get_by_text(re.compile(r"The reason is \d+ characters; the most is 200"))
    error.wait_for(timeout=TIMEOUT)
    expect(time_off).to_have_attribute("aria-selected", "true")
    expect(error).to_be_visible()
    expect(reason).to_have_value("Family matters. " * 15)  # kept, to shorten
    offline.screenshot("everyday-time-off-refused-on-its-tab")
    reason.fill("Family matters")
    page.get_by_role("button", name="Add time off").click()
    page.get_by_text("Time off added.").first.wait_for(timeout=TIMEOUT)
    expect(page.get_by_role("tab", name="Time off")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("Time off added.").first).to_be_visible()


def test_out_of_range_dates_and_numbers_are_refused_in_words_not_swapped_for_old_ones(db, offline):
    """A browser's date or number field with bounds keeps its last value in range and shows
    only a red border: a past day typed for time off was saved as the days typed before."""
    _, practitioner = people(db, "Lerato")
    page = log_in(offline, practitioner.user.email, PASSWORD)
    page.get_by_role("heading", name="My bookings").wait_for(timeout=TIMEOUT)
    offline.open("/availability")
    page.get_by_role("heading", name="Availability").wait_for(timeout=TIMEOUT)
    page.get_by_role("tab", name="Time off").click()
    past = datetime.now(SAST) - timedelta(days=30)
    for label in ("First day", "Last day"):
        page.get_by_role("spinbutton", name=f"day, {label}").click()
        page.keyboard.type(f"{past:%d%m%Y}")  # day, month, year: each part moves on to the next
    page.get_by_role("button", name="Add time off").click()
    page.get_by_text("That time has already passed.").wait_for(timeout=TIMEOUT)
    day = page.get_by_role("spinbutton", name="day, First day")
    expect(day).to_have_attribute("aria-valuenow", str(past.day))  # what was typed, to correct
    page.get_by_role("tab", name="Booking rules").click()
    buffer = page.get_by_label("Buffer after each session (minutes)")
    buffer.fill("-15")
    page.get_by_role("button", name="Save booking rules").click()
    page.get_by_text("The buffer between sessions is 0 to 240 minutes.").wait_for(timeout=TIMEOUT)
    offline.screenshot("everyday-out-of-range-refused-in-words")
    db.expire_all()
    assert db.get(Practitioner, practitioner.id).buffer_minutes == practitioner.buffer_minutes  # as made
    kept = select(func.count()).where(AvailabilityException.practitioner_id == practitioner.id)
    assert db.scalar(kept) == 0
