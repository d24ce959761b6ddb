"""A forgotten password in the browser: from the login page to a link, from the link to a new
password, and in with it. The test server has no e-mail server, so (as in development) the
e-mail is written to its log, where the test reads the link."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.e2e.conftest import ARTIFACTS, TIMEOUT
from tests.factories import make_client

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "Jacaranda season 2031"


def emailed_link(email: str, app_url: str) -> str:
    log = (ARTIFACTS / "streamlit.log").read_text()
    found = re.findall(rf"the e-mail to {re.escape(email)}:\n.*?(http\S+/reset_password\?token=[\w-]+)", log, re.S)
    assert found, "no reset e-mail in the server's log"
    return app_url + "/reset_password?token=" + found[-1].split("token=")[1]


def test_a_client_who_forgot_their_password_chooses_a_new_one_and_logs_in(e2e_database_url, offline, app_url):
    engine = create_engine(e2e_database_url)
    with Session(engine) as db:
        email = make_client(db, first_name="Nandi", last_name="Khumalo").email
        db.commit()
    engine.dispose()

    page = offline.open("/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_role("heading", name="Forgot password?").wait_for(timeout=TIMEOUT)
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_role("button", name="Send me a link").click()
    sent = page.get_by_text(re.compile("a link to choose a new password is on its way"))
    sent.wait_for(timeout=TIMEOUT)
    assert sent.locator("a").count() == 0  # the typed address is text, not a mail link
    offline.screenshot("password-reset-link-sent")

    page.wait_for_timeout(1000)  # the e-mail goes out after the answer
    page.goto(emailed_link(email, app_url))
    page.get_by_role("heading", name="Your new password").wait_for(timeout=TIMEOUT)
    expect(page).to_have_url(re.compile(r"/reset_password$"))  # the token left the address bar
    page.get_by_role("textbox", name="New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("textbox", name="The new password again").fill(NEW_PASSWORD)
    offline.screenshot("password-reset-choose")
    page.get_by_role("button", name="Save the new password").click()
    page.get_by_text("Your new password is saved. Log in with it.").wait_for(timeout=TIMEOUT)
    page.get_by_role("textbox", name="Email", exact=True).fill(email)
    page.get_by_role("textbox", name="Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
