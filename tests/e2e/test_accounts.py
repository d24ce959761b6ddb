"""Accounts in a real browser: sign up, log out, a refused login, remember me, admin's Users page,
and a page opened while logged out that opens after logging in."""

import re
import time
import uuid

import pytest
from sqlalchemy import create_engine, select

from avenrae.models import Practitioner, User
from avenrae.seed import DEMO_PASSWORD
from tests.e2e.conftest import TIMEOUT

pytestmark = pytest.mark.e2e


def session_cookie(tab, *, changed_from: str | None = None, present: bool = True, timeout: float = 15):
    """The remember-me cookie once the browser has it (or once it is gone)."""
    deadline = time.monotonic() + timeout
    while True:
        cookie = next((c for c in tab.context.cookies() if c["name"] == "avenrae_session"), None)
        if (cookie is not None) == present and (cookie is None or cookie["value"] != changed_from):
            return cookie
        if time.monotonic() > deadline:
            raise AssertionError(f"the session cookie did not {'appear' if present else 'go'} in time")
        tab.page.wait_for_timeout(200)


def heading(page, text):
    page.get_by_role("heading", name=text).first.wait_for(timeout=TIMEOUT)


def test_sign_up_log_out_log_in_stay_logged_in_and_log_out(offline):
    email = f"thandi.{uuid.uuid4().hex[:8]}@example.co.za"
    password = "Sunrise over Durban 7"
    page = offline.open("/")
    heading(page, "Log in to Avenrae")
    page.get_by_text("New to Avenrae? Create an account").click()
    heading(page, "Create your Avenrae account")
    page.get_by_role("textbox", name="First name", exact=True).fill("Thandi")
    page.get_by_role("textbox", name="Last name", exact=True).fill("*Dube* & [Sons](javascript:alert)")
    page.get_by_role("textbox", name="Email", exact=True).fill(email)
    page.get_by_role("textbox", name="Mobile number (optional)", exact=True).fill("082 123 4567")
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    offline.screenshot("signup")
    page.get_by_role("button", name="Create account").click()
    heading(page, "Find practitioners")  # a new client starts by looking for someone
    page.get_by_text("Welcome to Avenrae! Your account is ready.").first.wait_for(timeout=TIMEOUT)
    page.get_by_role("link", name="My account").click()
    heading(page, "My account")
    # The name is shown as typed in the sidebar, its markdown not followed.
    page.get_by_text("*Dube* & [Sons](javascript:alert)", exact=False).first.wait_for(timeout=TIMEOUT)
    offline.screenshot("account")

    page.get_by_role("link", name="Log out").click()
    heading(page, "Log in to Avenrae")
    page.get_by_text("You have logged out.").first.wait_for(timeout=TIMEOUT)

    page = offline.log_in(email, "Not my password 1")
    page.get_by_text("That email and password do not match").wait_for(timeout=TIMEOUT)
    offline.screenshot("login-refused")

    page = offline.log_in(email, password, remember=True)
    heading(page, "Find practitioners")
    cookie = session_cookie(offline)  # the browser posts a single-use code for it
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "avenrae_session" not in page.evaluate("document.cookie")

    page.reload()
    heading(page, "Find practitioners")
    page.get_by_text("Thandi").first.wait_for(timeout=TIMEOUT)
    session_cookie(offline, changed_from=cookie["value"])  # the refresh token rotates on every use

    page.get_by_role("link", name="Log out").click()
    heading(page, "Log in to Avenrae")
    session_cookie(offline, present=False)
    page.reload()
    heading(page, "Log in to Avenrae")
    assert offline.console_errors == [] or all("Failed to load resource" in e for e in offline.console_errors)


def test_admin_sees_users_and_a_client_cannot_open_them(offline):
    page = offline.log_in("admin@demo.avenrae.co.za", DEMO_PASSWORD)
    heading(page, "Avenrae operations")
    page.get_by_role("link", name="Users").click()
    heading(page, "Users")
    page.get_by_text("users · page 1 of").wait_for(timeout=TIMEOUT)
    offline.screenshot("users")
    offline.context.clear_cookies()

    client = offline.__class__(offline.context.browser, offline.app_url)
    try:
        # Kept logged in, so the address opened next (a new session) is still the client's.
        page = client.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD, remember=True)
        heading(page, "Find practitioners")
        session_cookie(client)
        page = client.open("/users")
        page.get_by_text("You do not have access to this page.").wait_for(timeout=TIMEOUT)
        assert page.get_by_role("heading", name="Users").count() == 0
        client.screenshot("users-refused")
    finally:
        client.context.close()


def test_a_booking_link_opened_while_logged_out_opens_after_logging_in(offline, e2e_database_url):
    engine = create_engine(e2e_database_url)
    with engine.connect() as connection:
        practitioner_id = connection.scalar(
            select(Practitioner.id).join(User).where(User.email == "practitioner@demo.avenrae.co.za")
        )
    engine.dispose()
    # Logged in without "Keep me logged in": opening an address starts a new session, logged out.
    page = offline.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD)
    heading(page, "Find practitioners")
    page = offline.open(f"/book?practitioner={practitioner_id}")
    heading(page, "Log in to Avenrae")
    page.get_by_text("Log in to open Book a session.").wait_for(timeout=TIMEOUT)
    assert page.get_by_text("You do not have access to this page.").count() == 0
    offline.screenshot("login-for-a-page")

    page.get_by_role("textbox", name="Email", exact=True).fill("client@demo.avenrae.co.za")
    page.get_by_role("textbox", name="Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    heading(page, "Book a session")
    heading(page, "Nomvula Mkhize")  # the practitioner of the link, not a picker to choose one
    page.wait_for_url(re.compile(rf"/book\?practitioner={practitioner_id}$"), timeout=TIMEOUT)
    offline.screenshot("login-for-a-page-landed")


def test_every_page_opens_by_its_address_including_the_first_page_of_each_role(offline):
    # Found by a trial: /login (and each role's first page: /search, /bookings, /home) said
    # "Page not found", because the page a visit to / shows could be reached only as /.
    page = offline.open("/login")
    page.get_by_role("heading", name="Log in to Avenrae").wait_for(timeout=TIMEOUT)
    offline.settle()
    assert page.get_by_text("Page not found").count() == 0
    assert page.url.endswith("/login")
    page = offline.open("/")  # the address of the site alone: the right first page, by its name
    page.get_by_role("heading", name="Log in to Avenrae").wait_for(timeout=TIMEOUT)
    page.wait_for_url(re.compile(r"/login$"), timeout=TIMEOUT)
    from tests.e2e.test_everyday import log_in  # remembered, so an address opens logged in

    log_in(offline, "client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.wait_for_url(re.compile(r"/search$"), timeout=TIMEOUT)
    for address, heading in (("/search", "Find practitioners"), ("/bookings", "Bookings")):
        page = offline.open(address)
        page.get_by_role("heading", name=heading).first.wait_for(timeout=TIMEOUT)
        offline.settle()
        assert page.get_by_text("Page not found").count() == 0, address
