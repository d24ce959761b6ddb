"""Every page as every role and as an anonymous visitor: allowed, or refused and nothing else;
a visitor who is not logged in is sent to log in and comes back to the page asked for."""

import pytest

from avenrae.config import REPO_ROOT
from avenrae.models import Role
from avenrae.ui import auth, navigation
from avenrae.ui.page import NO_ACCESS
from tests.factories import PASSWORD, make_practitioner
from tests.pages.conftest import make_person

ANONYMOUS = None
# Who may open what. A new page must be added here, or the completeness test fails.
EXPECTED = {
    "pages/home.py": {Role.STAFF, Role.ANALYST, Role.ADMIN},
    "pages/search.py": {Role.CLIENT, Role.STAFF, Role.ADMIN},
    "pages/book.py": {Role.CLIENT, Role.STAFF, Role.ADMIN},
    "pages/bookings.py": {Role.CLIENT, Role.PRACTITIONER, Role.STAFF, Role.ADMIN},
    "pages/availability.py": {Role.PRACTITIONER, Role.STAFF, Role.ADMIN},
    "pages/payments.py": {Role.STAFF, Role.ADMIN},
    "pages/earnings.py": {Role.PRACTITIONER, Role.STAFF, Role.ADMIN},
    "pages/notifications.py": set(Role),
    "pages/revenue.py": {Role.ANALYST, Role.ADMIN},
    "pages/bookings_map.py": {Role.ANALYST, Role.ADMIN},
    "pages/my_reviews.py": {Role.CLIENT},
    "pages/reviews.py": {Role.PRACTITIONER},
    "pages/verification.py": {Role.PRACTITIONER},
    "pages/moderation.py": {Role.STAFF, Role.ADMIN},
    "pages/verification_queue.py": {Role.STAFF, Role.ADMIN},
    "pages/users.py": {Role.ADMIN},
    "pages/audit.py": {Role.ADMIN},
    "pages/account.py": set(Role),
    "pages/login.py": {ANONYMOUS},
    "pages/signup.py": {ANONYMOUS},
    "pages/reset_password.py": {ANONYMOUS},
}
VISITORS = [ANONYMOUS, *Role]


def test_every_registered_page_is_in_the_matrix():
    assert {spec.path for spec in navigation.PAGES} == set(EXPECTED)


def refused(app) -> bool:
    messages = [e.value for e in app.error] + [i.value for i in app.info]
    return bool(messages) and (NO_ACCESS in messages or "You are already logged in." in messages)


def sent_to_log_in(app, title: str) -> None:
    """The login page, saying which page comes after, and nothing of the page asked for."""
    assert [t.value for t in app.title] == ["Log in to Avenrae"]
    assert f"Log in to open {title}." in [i.value for i in app.info]
    assert NO_ACCESS not in [e.value for e in app.error]
    assert not app.dataframe and not app.metric


def log_in(app, email: str):
    """Log in on the login page the last run ended on (AppTest otherwise reruns the page it was sent to)."""
    app.switch_page("pages/login.py")
    inputs = {t.label: t for t in app.text_input}
    inputs["Email"].input(email)
    inputs["Password"].input(PASSWORD)
    next(b for b in app.button if b.label == "Log in").click()
    return app.run()


@pytest.mark.parametrize("path", sorted(EXPECTED))
@pytest.mark.parametrize("visitor", VISITORS, ids=lambda v: "anonymous" if v is None else v.value)
def test_page_access(db, page, path, visitor):
    user = None if visitor is ANONYMOUS else make_person(db, visitor)
    app = page(path, user=user)
    assert not app.exception, app.exception
    if visitor in EXPECTED[path]:
        assert not refused(app)
        assert app.title, "an allowed page shows its title"
    elif visitor is ANONYMOUS:
        spec = navigation.spec_for(str(REPO_ROOT / path))
        sent_to_log_in(app, spec.title)
    else:
        assert refused(app)
        # The refusal and nothing else: no title, no form, no data.
        assert not app.title and not app.text_input and not app.button and not app.dataframe and not app.metric


def test_a_user_who_must_change_their_password_only_gets_the_account_page(db, page):
    user = make_person(db, Role.ADMIN, must_change_password=True)
    assert refused(page("pages/users.py", user=user))
    account = page("pages/account.py", user=user)
    assert "Choose your own password" in account.warning[0].value
    assert [f.label for f in account.text_input] == ["Current password", "New password", "New password again"]


def test_a_deactivated_user_is_treated_as_logged_out(db, page):
    user = make_person(db, Role.ADMIN)
    user.is_active = False
    db.flush()
    app = page("pages/users.py", user=user)
    # Sent to log in again, told why and what comes after; nothing of the Users page is shown.
    assert [t.value for t in app.title] == ["Log in to Avenrae"]
    assert [i.value for i in app.info] == [auth.SESSION_ENDED, "Log in to open Users."]
    assert auth.SESSION_KEY not in app.session_state


def test_a_visitor_not_logged_in_logs_in_and_lands_on_the_page_asked_for(db, page):
    practitioner = make_person(db, Role.PRACTITIONER, email="nomsa@example.co.za")
    app = page("pages/earnings.py")
    assert not app.exception, app.exception
    sent_to_log_in(app, "Earnings")
    assert app.query_params[navigation.RETURN_PARAM] == "earnings"
    app = log_in(app, practitioner.email)
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["My earnings"]
    assert navigation.RETURN_PARAM not in app.query_params


def test_the_page_asked_for_keeps_its_query(db, page):
    client = make_person(db, Role.CLIENT, email="lindiwe@example.co.za")
    practitioner = make_practitioner(db, first_name="Thandeka", last_name="Zulu")
    app = page("pages/book.py")
    app.query_params["practitioner"] = str(practitioner.id)
    app = app.run()
    sent_to_log_in(app, "Book a session")
    app = log_in(app, client.email)
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["Book a session"]
    assert app.query_params["practitioner"] == str(practitioner.id)
    assert app.subheader[0].value == "Thandeka Zulu"  # the practitioner asked for, not a picker


def test_a_logged_in_client_opening_a_staff_page_is_still_refused(db, page):
    app = page("pages/payments.py", user=make_person(db, Role.CLIENT))
    assert [e.value for e in app.error] == [NO_ACCESS]
    assert not app.title and not app.text_input


def test_logging_in_for_a_page_the_role_may_not_open_lands_on_the_roles_first_page(db, page):
    client = make_person(db, Role.CLIENT, email="lindiwe@example.co.za")
    app = page("pages/payments.py")
    sent_to_log_in(app, "Payments")
    app = log_in(app, client.email)
    assert [t.value for t in app.title] == ["Find practitioners"]  # not the refusal


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/phish", "//evil.example/earnings", "login", "logout", "../earnings", "earnings/x", ""],
)
def test_a_return_target_that_is_not_one_of_our_pages_is_ignored(db, page, target):
    practitioner = make_person(db, Role.PRACTITIONER, email="nomsa@example.co.za")
    app = page("pages/login.py")
    app.query_params[navigation.RETURN_PARAM] = target
    app = app.run()
    assert not [i.value for i in app.info if i.value.startswith("Log in to open")]
    app = log_in(app, practitioner.email)
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["My bookings"]  # the practitioner's first page, as without one


def test_return_targets_name_only_pages_for_logged_in_users():
    book = navigation.spec_for(str(REPO_ROOT / "pages/book.py"))
    target = navigation.return_target(book, {"practitioner": "abc", "meeting": "online"})
    assert target == "book?practitioner=abc&meeting=online"
    assert navigation.return_page(target) == (book, {"practitioner": "abc", "meeting": "online"})
    assert navigation.return_page("book?next=users") == (book, {})
    assert navigation.return_page("https://evil.example/book") is None
    assert navigation.return_page("signup") is None
    assert navigation.return_page(None) is None


def test_a_visitor_who_signs_up_instead_lands_on_the_page_asked_for(db, page):
    practitioner = make_practitioner(db, first_name="Thandeka", last_name="Zulu")
    app = page("pages/book.py")
    app.query_params["practitioner"] = str(practitioner.id)
    app = app.run()
    sent_to_log_in(app, "Book a session")
    asked = app.query_params[navigation.RETURN_PARAM]
    app.switch_page("pages/signup.py")  # what "New to Avenrae? Create an account" opens, with the same query
    app.query_params[navigation.RETURN_PARAM] = asked
    app = app.run()
    inputs = {t.label: t for t in app.text_input}
    inputs["First name"].input("Lindiwe")
    inputs["Last name"].input("Dube")
    inputs["Email"].input("lindiwe.new@example.co.za")
    inputs["Password"].input("Sunrise over Durban 7")
    next(b for b in app.button if b.label == "Create account").click()
    app = app.run()
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["Book a session"]
    assert app.subheader[0].value == "Thandeka Zulu"
