"""Booking in a real browser: a client books an open time; the practitioner sees it and is told."""

import re

import pytest

from avenrae.seed import DEMO_PASSWORD
from tests.e2e.conftest import TIMEOUT

pytestmark = pytest.mark.e2e


def open_times_with_nomvula(offline):
    """The demo client on Book a session with Nomvula Mkhize: the page and its time buttons."""
    page = offline.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    page.get_by_role("link", name="Book a session").click()
    page.get_by_role("textbox", name="Find a practitioner").fill("Nomvula Mkhize")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Nomvula Mkhize").wait_for(timeout=TIMEOUT)
    offline.settle()
    return page, page.locator('[data-testid="stButtonGroup"] button').filter(has_text=re.compile(r"^\d\d:\d\d$"))


def test_a_client_books_and_the_practitioner_sees_it(browser, app_url, offline):
    page, times = open_times_with_nomvula(offline)
    first_time = times.first
    first_time.wait_for(timeout=TIMEOUT)
    booked_at = first_time.inner_text().strip()
    assert re.fullmatch(r"\d\d:\d\d", booked_at)
    first_time.click()
    confirm = page.get_by_role("button", name=re.compile(rf"^Book .*{booked_at} for R"))
    confirm.wait_for(timeout=TIMEOUT)
    offline.screenshot("book-a-session")
    confirm.click()

    page.get_by_role("heading", name="My bookings").wait_for(timeout=TIMEOUT)
    page.get_by_text("Booked! The time is held for you while you pay").first.wait_for(timeout=TIMEOUT)
    detail = page.get_by_text(re.compile(rf"{booked_at}–\d\d:\d\d · In person · Sipho Ndlovu with Nomvula Mkhize"))
    detail.wait_for(timeout=TIMEOUT)
    page.get_by_text("Held until").wait_for(timeout=TIMEOUT)
    offline.screenshot("bookings-client-after-booking")

    practitioner = type(offline)(browser, app_url)
    try:
        other = practitioner.log_in("practitioner@demo.avenrae.co.za", DEMO_PASSWORD)
        other.get_by_role("heading", name="My bookings").wait_for(timeout=TIMEOUT)
        notifications = other.get_by_role("link", name=re.compile(r"Notifications \(\d+\)"))
        notifications.wait_for(timeout=TIMEOUT)
        other.get_by_role("combobox", name="Status").click()
        other.get_by_role("option", name="Pending").click()
        other.keyboard.press("Escape")
        practitioner.settle()
        other.get_by_role("combobox", name="Booking").click()
        other.get_by_role("option", name=re.compile(rf"{booked_at} · Sipho Ndlovu · Pending")).first.wait_for(
            timeout=TIMEOUT
        )
        other.keyboard.press("Escape")
        practitioner.screenshot("bookings-practitioner")
        notifications.click()
        other.get_by_text(re.compile(rf"Sipho Ndlovu booked .*{booked_at}")).first.wait_for(timeout=TIMEOUT)
        practitioner.screenshot("notifications-practitioner")
        other.get_by_role("link", name="Availability").click()
        other.get_by_role("tab", name="Next 14 days").click()
        other.get_by_text(re.compile(r"\d+ open times a client could book right now")).wait_for(timeout=TIMEOUT)
        practitioner.screenshot("availability-practitioner")
    finally:
        practitioner.context.close()
    assert not offline.blocked and not practitioner.blocked


def test_a_pasted_note_over_the_limit_is_kept_and_refused_with_its_length(offline):
    """A browser stops typing at a text box's limit but not a paste: the note must not
    vanish while the booking goes ahead without it."""
    page, times = open_times_with_nomvula(offline)
    times.first.wait_for(timeout=TIMEOUT)
    chosen = times.first.inner_text().strip()
    times.first.click()
    note = page.get_by_role("textbox", name="Notes for the practitioner (optional)")
    note.fill("Please read this. " * 80 + "The end.")  # 1,448 characters, as pasted
    note.press("Control+Enter")
    offline.settle()
    page.get_by_role("button", name=re.compile(rf"^Book .*{chosen} for R")).click()
    page.get_by_text("Notes for the practitioner is 1,448 characters; the most is 1,000, so cut 448.").wait_for(
        timeout=TIMEOUT
    )
    assert len(note.input_value()) == 1448
    assert page.get_by_text("Booked!").count() == 0
    assert not offline.blocked
