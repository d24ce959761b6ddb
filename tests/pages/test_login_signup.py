"""Logging in and signing up through the pages."""

from sqlalchemy import func, select

from avenrae.config import get_settings
from avenrae.models import LoginAttempt, Practitioner, Role, Specialization, User
from avenrae.services import tokens
from avenrae.ui import auth
from tests.factories import PASSWORD, make_client


def submit(app, label):
    next(b for b in app.button if b.label == label).click()
    return app.run()


def test_wrong_password_shows_the_message_and_records_the_attempt(db, page):
    make_client(db, email="sipho@example.co.za")
    app = page("pages/login.py")
    inputs = {t.label: t for t in app.text_input}
    inputs["Email"].input("sipho@example.co.za")
    inputs["Password"].input("Not my password 1")
    app = submit(app, "Log in")
    assert "do not match" in app.error[0].value
    assert auth.SESSION_KEY not in app.session_state
    assert db.scalar(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.reason == "bad_password")) == 1


def test_logging_in_lands_on_the_roles_first_page(db, page, monkeypatch):
    make_client(db, email="sipho@example.co.za", first_name="Sipho")
    codes = []
    real = tokens.new_cookie_code
    monkeypatch.setattr(
        tokens,
        "new_cookie_code",
        lambda *, session, refresh_token: (
            codes.append(refresh_token) or real(session=session, refresh_token=refresh_token)
        ),
    )
    app = page("pages/login.py")
    inputs = {t.label: t for t in app.text_input}
    inputs["Email"].input("SIPHO@example.co.za")
    inputs["Password"].input(PASSWORD)
    app.checkbox[0].check()
    app = submit(app, "Log in")
    assert not app.exception
    assert app.title[0].value == "Find practitioners"  # a client's first page
    assert auth.SESSION_KEY in app.session_state
    # "Remember me" handed the browser a code for the cookie holding the refresh token.
    assert len(codes) == 1 and codes[0] == app.session_state[auth.SESSION_KEY].refresh_token


def test_client_sign_up_creates_the_account_and_logs_in(db, page):
    app = page("pages/signup.py")
    inputs = {t.label: t for t in app.text_input}
    inputs["First name"].input("Lindiwe")
    inputs["Last name"].input("<b>Dube</b>")
    inputs["Email"].input("lindiwe@example.co.za")
    inputs["Mobile number (optional)"].input("082 123 4567")
    inputs["Password"].input("Sunrise over Durban 7")
    app = submit(app, "Create account")
    assert any("Last name cannot contain < or >." in e.value for e in app.error)
    assert db.scalar(select(User).where(User.email == "lindiwe@example.co.za")) is None
    next(t for t in app.text_input if t.label == "Last name").input("*Dube*")
    next(t for t in app.text_input if t.label == "Password").input("Sunrise over Durban 7")
    app = submit(app, "Create account")
    assert not app.exception
    user = db.scalar(select(User).where(User.email == "lindiwe@example.co.za"))
    assert user.last_name == "*Dube*" and user.role == Role.CLIENT
    assert app.title[0].value == "Find practitioners"
    assert "Welcome to Avenrae" in app.success[0].value


def practitioner_form(page, *, town: str):
    """Sign-up as a practitioner, every field filled in well but the town, as given."""
    app = page("pages/signup.py")
    app.radio[0].set_value(Role.PRACTITIONER).run()
    inputs = {t.label: t for t in app.text_input}
    inputs["First name"].input("Nomsa")
    inputs["Last name"].input("Mkhize")
    inputs["Email"].input("nomsa@example.co.za")
    inputs["Mobile number"].input("071 555 0101")
    inputs["Password"].input("Sunrise over Durban 7")
    inputs["Town or city"].input(town)
    app.selectbox[0].set_value(Specialization.HEALER)
    return app


def test_practitioner_sign_up_with_an_unknown_town_changes_nothing(db, page):
    app = practitioner_form(page, town="Durbn")
    app = submit(app, "Create account")
    assert not app.exception
    assert "Did you mean Durban" in app.error[0].value
    assert db.scalar(select(func.count()).select_from(User)) == 0
    assert db.scalar(select(func.count()).select_from(Practitioner)) == 0


def test_a_negative_rate_and_length_are_refused_in_words(db, page):
    app = practitioner_form(page, town="Durban")
    numbers = {n.label: n for n in app.number_input}
    # No bounds in the browser, which would keep the last value in range with a red border only.
    assert all(n.min is None and n.max is None for n in numbers.values())
    numbers["Rate per session (R)"].set_value(-250.0)
    numbers["Session length (minutes)"].set_value(-30)
    app = submit(app, "Create account")
    message = app.error[0].value
    assert "Rate per session must be between R50 and R100,000." in message
    assert "Session length (minutes)" in message
    assert db.scalar(select(func.count()).select_from(User)) == 0


def test_sign_up_lists_every_problem(db, page):
    app = page("pages/signup.py")
    inputs = {t.label: t for t in app.text_input}
    inputs["Email"].input("not-an-email")
    inputs["Password"].input("short")
    app = submit(app, "Create account")
    message = app.error[0].value
    assert "Please fix these" in message and "First name is required" in message and "at least 10" in message
    # Down the form, as it asks: names, email, then password.
    order = [message.index(words) for words in ("First name", "Last name", "email", "at least 10")]
    assert order == sorted(order)
    assert db.scalar(select(func.count()).select_from(User)) == 0


def test_sign_ups_from_one_network_are_limited_on_the_page(db, page, monkeypatch):
    monkeypatch.setattr(get_settings(), "signups_per_ip", 1)
    monkeypatch.setattr(auth, "client_ip", lambda: "196.25.1.1")

    def sign_up(email):
        app = page("pages/signup.py")
        inputs = {t.label: t for t in app.text_input}
        inputs["First name"].input("Lindiwe")
        inputs["Last name"].input("Dube")
        inputs["Email"].input(email)
        inputs["Password"].input("Sunrise over Durban 7")
        return submit(app, "Create account")

    assert "Welcome to Avenrae" in sign_up("lindiwe@example.co.za").success[0].value
    refused = sign_up("thandi@example.co.za")
    assert "Too many sign-ups from your network" in refused.error[0].value
    assert db.scalar(select(User).where(User.email == "thandi@example.co.za")) is None


def test_the_sign_up_and_details_fields_read_in_order_when_columns_stack(db, page):
    # Found by a phone trial: two columns of fields stack on a phone, left column first, so the
    # form read First name, Email, Last name, Mobile. Each pair now has its own row.
    app = page("pages/signup.py")
    assert [t.label for t in app.text_input][:4] == ["First name", "Last name", "Email", "Mobile number (optional)"]
    account = page("pages/account.py", user=make_client(db))
    labels = [t.label for t in account.text_input]
    assert labels.index("First name") + 1 == labels.index("Last name") == labels.index("Mobile number") - 1
