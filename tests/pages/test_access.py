"""Every page as every role and as an anonymous visitor: allowed, or refused and nothing else."""

import pytest

from avenrae.models import Role
from avenrae.ui import auth, navigation
from avenrae.ui.page import NO_ACCESS
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
}
VISITORS = [ANONYMOUS, *Role]


def test_every_registered_page_is_in_the_matrix():
    assert {spec.path for spec in navigation.PAGES} == set(EXPECTED)


def refused(app) -> bool:
    messages = [e.value for e in app.error] + [i.value for i in app.info]
    return bool(messages) and (NO_ACCESS in messages or "You are already logged in." in messages)


@pytest.mark.parametrize("path", sorted(EXPECTED))
@pytest.mark.parametrize("visitor", VISITORS, ids=lambda v: "anonymous" if v is None else v.value)
def test_page_access(db, page, path, visitor):
    user = None if visitor is ANONYMOUS else make_person(db, visitor)
    app = page(path, user=user)
    assert not app.exception, app.exception
    if visitor in EXPECTED[path]:
        assert not refused(app)
        assert app.title, "an allowed page shows its title"
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
    # Sent to log in again, told why; nothing of the Users page is shown.
    assert [t.value for t in app.title] == ["Log in to Avenrae"]
    assert [i.value for i in app.info] == [auth.SESSION_ENDED]
    assert auth.SESSION_KEY not in app.session_state
