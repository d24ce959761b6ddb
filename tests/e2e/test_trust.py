"""Trust in a real browser: a review goes through moderation and moves the rating on the
search page; a practitioner applies for verification with a PDF and gets the badge."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from avenrae.models import BookingStatus, MeetingType, Practitioner, Role, User, VerificationStatus
from avenrae.seed import DEMO_PASSWORD
from avenrae.services import accounts
from tests.e2e.conftest import TIMEOUT
from tests.factories import make_booking, sample_document

pytestmark = pytest.mark.e2e

PASSWORD = "Healing hands 2026"


def sign_up_practitioner(url: str, first: str, last: str, email: str) -> None:
    engine = create_engine(url)
    with Session(engine) as session:
        accounts.sign_up(
            session=session,
            form=accounts.SignUp(
                role=Role.PRACTITIONER,
                email=email,
                password=PASSWORD,
                first_name=first,
                last_name=last,
                phone="082 555 0101",
                specialization="counselor",
                place="Kimberley",
                bio="I listen.",
                rate_per_session="400",
                meeting_types=[MeetingType.IN_PERSON, MeetingType.ONLINE],
            ),
        )
        session.commit()
    engine.dispose()


def search_for(offline, page, words: str):
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    page.get_by_role("combobox", name="Place").click()
    page.keyboard.type("Kimberley")
    page.get_by_role("option", name=re.compile("^Kimberley")).first.click()
    page.get_by_role("textbox", name="Words").fill(words)
    page.keyboard.press("Enter")
    page.get_by_text(re.compile(r"Showing 1–1 within")).wait_for(timeout=TIMEOUT)
    offline.settle()
    return page.locator('[data-testid="stTable"] table tbody tr').first


@pytest.fixture(scope="module")
def reviewed_practitioner(e2e_database_url):
    """A verified Kimberley practitioner who saw the demo client two days ago."""
    sign_up_practitioner(e2e_database_url, "Qhawe", "Rating", "qhawe.rating@example.co.za")
    engine = create_engine(e2e_database_url)
    with Session(engine) as session:
        practitioner = session.scalar(select(Practitioner).join(User).where(User.email == "qhawe.rating@example.co.za"))
        practitioner.verification_status = VerificationStatus.VERIFIED
        client = session.scalar(select(User).where(User.email == "client@demo.avenrae.co.za"))
        make_booking(
            session,
            practitioner=practitioner,
            client=client,
            start=datetime.now(UTC) - timedelta(days=2),
            status=BookingStatus.COMPLETED,
        )
        session.commit()
    engine.dispose()


def test_a_review_is_moderated_and_moves_the_rating_on_search(browser, app_url, offline, reviewed_practitioner):
    page = offline.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_role("link", name="My reviews").click()
    page.get_by_role("heading", name="My reviews").wait_for(timeout=TIMEOUT)
    page.get_by_role("combobox", name="Session").click()
    page.get_by_role("option", name=re.compile("^Qhawe Rating")).click()
    page.get_by_test_id("stRadioGroup").get_by_text("★★★★☆", exact=True).click()
    page.get_by_role("textbox", name="Your review").fill("Qhawe listened <b>carefully</b> and gave me calm.")
    page.get_by_role("button", name="Send review").click()
    page.get_by_text("Thank you! Your review will appear once a moderator has read it.").first.wait_for(timeout=TIMEOUT)
    page.get_by_text("Waiting for a moderator").first.wait_for(timeout=TIMEOUT)
    # The form is empty again in the browser, so one more tap cannot send the text for another session.
    form = page.get_by_test_id("stForm")
    assert form.get_by_role("textbox", name="Your review").input_value() == ""
    assert not form.get_by_role("radio", checked=True).count()
    offline.screenshot("my-reviews-after-writing")

    staff = type(offline)(browser, app_url)
    try:
        moderation = staff.log_in("staff@demo.avenrae.co.za", DEMO_PASSWORD)
        moderation.get_by_role("link", name="Review moderation").click()
        moderation.get_by_role("heading", name="Review moderation").wait_for(timeout=TIMEOUT)
        moderation.get_by_role("textbox", name="Client or practitioner").fill("Qhawe")
        moderation.keyboard.press("Enter")
        moderation.get_by_text("1 review in this queue", exact=False).wait_for(timeout=TIMEOUT)
        # The review as text, tags shown, not run (the queue's table may carry it too).
        moderation.get_by_test_id("stText").get_by_text("Qhawe listened <b>carefully</b> and gave me calm.").wait_for(
            timeout=TIMEOUT
        )
        moderation.get_by_text("No automatic flags.").wait_for(timeout=TIMEOUT)
        staff.screenshot("review-moderation")
        moderation.get_by_role("button", name=re.compile("^Publish")).click()
        moderation.get_by_text(re.compile(r"^Published .* The rating is updated\.$")).first.wait_for(timeout=TIMEOUT)
    finally:
        staff.context.close()

    page.get_by_role("link", name="Find practitioners").click()
    row = search_for(offline, page, "Qhawe")
    assert "★ 4.0 (1 review)" in row.inner_text()
    offline.screenshot("search-after-review-published")


def test_a_practitioner_applies_with_a_pdf_and_staff_approve(browser, app_url, offline, e2e_database_url, tmp_path):
    sign_up_practitioner(e2e_database_url, "Buhle", "Badge", "buhle.badge@example.co.za")
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(sample_document("pdf", size=(600, 800)))

    page = offline.log_in("buhle.badge@example.co.za", PASSWORD)
    page.get_by_role("link", name="Verification").click()
    page.get_by_text("You are not verified yet").wait_for(timeout=TIMEOUT)
    page.get_by_role("textbox", name="Legal name (as on your ID)").fill("Buhle Badge")
    page.get_by_role("spinbutton", name="Years of practice").fill("8")
    page.get_by_role("textbox", name="About your training and practice").fill("Trained as a counselor in Bloemfontein.")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(pdf))
    page.get_by_text("certificate.pdf").first.wait_for(timeout=TIMEOUT)
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Application sent. Staff will look at it soon.").first.wait_for(timeout=TIMEOUT)
    offline.screenshot("verification-applied")

    staff = type(offline)(browser, app_url)
    try:
        queue = staff.log_in("staff@demo.avenrae.co.za", DEMO_PASSWORD)
        queue.get_by_role("link", name="Verification queue").click()
        queue.get_by_role("heading", name="Verification queue").wait_for(timeout=TIMEOUT)
        queue.get_by_role("combobox", name="Application").click()
        queue.get_by_role("option", name=re.compile("^Buhle Badge")).click()
        queue.get_by_role("heading", name="Buhle Badge").wait_for(timeout=TIMEOUT)
        queue.locator("canvas").first.wait_for(timeout=TIMEOUT)  # the PDF, drawn inline by the viewer
        staff.screenshot("verification-queue")
        queue.get_by_text("Approve", exact=True).click()
        queue.get_by_role("button", name="Send decision").click()
        queue.get_by_role("button", name="Yes, approve").click()
        queue.get_by_text("Approved: Buhle Badge is verified and can be booked.").first.wait_for(timeout=TIMEOUT)
        queue.get_by_role("link", name="Find practitioners").click()
        row = search_for(staff, queue, "Buhle")
        assert "✔ Verified" in row.inner_text()
        staff.screenshot("search-verified-badge")
    finally:
        staff.context.close()

    page.get_by_role("link", name="Bookings").click()  # away and back: the page reads the decision afresh
    page.get_by_role("heading", name="My bookings").wait_for(timeout=TIMEOUT)
    page.get_by_role("link", name="Verification").click()
    page.get_by_text("You are verified. Clients see the badge on your profile.").wait_for(timeout=TIMEOUT)
    offline.screenshot("verification-approved")
    assert not offline.blocked
