"""A forgotten password through the pages: the login page leads to it, asking answers the same
for any address, and the e-mailed link's page sets the new password and returns to login."""

from sqlalchemy import func, select

from avenrae.config import get_settings
from avenrae.models import PasswordReset
from avenrae.services import accounts, password_resets
from avenrae.ui import auth, password_reset
from tests.factories import PASSWORD, make_client
from tests.pages.conftest import plain
from tests.pages.test_login_signup import submit

NEW_PASSWORD = "Jacaranda season 2031"


def ask(page, email: str):
    app = page("pages/reset_password.py")
    app.text_input(key="reset_email").input(email)
    app = submit(app, "Send me a link")
    return app


def test_the_login_page_leads_to_the_reset(page):
    app = page("pages/login.py")
    assert any(link.label == "Forgot your password?" for link in app.get("page_link"))
    app = page("pages/reset_password.py")
    assert app.title[0].value == "Forgot password?"


def test_asking_says_the_same_whether_or_not_the_account_exists(db, page):
    make_client(db, email="sipho@example.co.za")
    answers = []
    for email in ("sipho@example.co.za", "nobody@example.co.za"):
        app = ask(page, email)
        assert not app.exception and not app.error
        answers.append(app.success[0].value.replace(f"`{email}`", "<email>"))
        assert app.text_input(key="reset_email~1").value == ""  # the form is empty again
    assert answers[0] == answers[1]
    assert "a link to choose a new password is on its way" in answers[0] and "60 minutes" in answers[0]
    assert db.scalar(select(func.count()).select_from(PasswordReset)) == 1


def test_a_wrong_address_is_said_plainly_and_nothing_is_sent(db, page):
    app = ask(page, "sipho at home")
    assert "email" in app.error[0].value.lower() and not app.success
    assert db.scalar(select(func.count()).select_from(PasswordReset)) == 0


def test_the_emailed_link_sets_the_password_and_returns_to_login(db, page):
    sipho = make_client(db, email="sipho@example.co.za")
    link = password_resets.make_link(session=db, email=sipho.email)
    token = link.url.split("token=")[1]
    app = page("pages/reset_password.py")
    app.query_params["token"] = token
    app.run()
    assert app.title[0].value == "Your new password"
    assert "sipho@example.co.za" in plain(app.markdown[0].value)
    assert "token" not in app.query_params  # out of the address bar at once
    assert app.session_state[password_reset.TOKEN_KEY] == token

    fields = {field.label: field for field in app.text_input}
    fields["New password"].input(NEW_PASSWORD)
    fields["The new password again"].input(NEW_PASSWORD + "!")
    app = submit(app, "Save the new password")
    assert "not the same" in app.error[0].value
    db.refresh(sipho)
    assert accounts.verify_password(PASSWORD, sipho.password_hash)

    fields = {field.label: field for field in app.text_input}
    fields["New password"].input("password12")
    fields["The new password again"].input("password12")
    app = submit(app, "Save the new password")
    assert "guess" in app.error[0].value

    fields = {field.label: field for field in app.text_input}
    fields["New password"].input(NEW_PASSWORD)
    fields["The new password again"].input(NEW_PASSWORD)
    app = submit(app, "Save the new password")
    assert not app.exception
    assert app.title[0].value == "Log in to Avenrae"
    assert app.info[0].value == password_resets.CHOSEN
    db.refresh(sipho)
    assert accounts.verify_password(NEW_PASSWORD, sipho.password_hash)
    assert auth.SESSION_KEY not in app.session_state


def test_a_used_link_says_so_and_offers_a_new_one(db, page):
    sipho = make_client(db, email="sipho@example.co.za")
    token = password_resets.make_link(session=db, email=sipho.email).url.split("token=")[1]
    password_resets.choose_password(session=db, token=token, password=NEW_PASSWORD)
    app = page("pages/reset_password.py")
    app.query_params["token"] = token
    app.run()
    assert "run out, was already used" in app.error[0].value
    assert app.title[0].value == "Forgot password?"
    assert password_reset.TOKEN_KEY not in app.session_state


def test_production_without_email_sends_people_to_an_administrator(page, monkeypatch):
    monkeypatch.setattr(get_settings(), "environment", "production")
    monkeypatch.setattr(get_settings(), "smtp_host", None)
    app = page("pages/reset_password.py")
    assert "Ask an administrator" in app.info[0].value
    assert not app.text_input


def test_a_logged_in_visitor_opening_a_link_loses_the_token_from_the_address(db, page):
    """Found by review: the page stopped at "You are already logged in." before taking the token
    out of the address bar, so it stayed in the address and the browser's history."""
    sipho = make_client(db, email="sipho@example.co.za")
    token = password_resets.make_link(session=db, email=sipho.email).url.split("token=")[1]
    app = page("pages/reset_password.py", user=make_client(db))
    app.query_params["token"] = token
    app.run()
    assert "already logged in" in app.info[0].value
    assert "token" not in app.query_params
