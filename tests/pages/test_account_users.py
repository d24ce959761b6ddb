"""The account page and the admin Users page."""

from sqlalchemy import select

from avenrae.models import AuditLog, Role, User
from avenrae.services import accounts
from tests.factories import PASSWORD, make_client, make_practitioner, make_user


def fresh(db, model, key):
    """Read a row again: the page changed it through its own session."""
    db.expire_all()
    return db.get(model, key)


def fields(app):
    return {t.label: t for t in app.text_input}


def click(app, label):
    next(b for b in app.button if b.label == label).click()
    return app.run()


def test_changing_password_needs_the_current_one(db, page):
    user = make_client(db)
    app = page("pages/account.py", user=user)
    form = fields(app)
    form["Current password"].input("wrong one")
    form["New password"].input("Brand new secret 5")
    form["New password again"].input("Brand new secret 5")
    app = click(app, "Change password")
    assert "current password is not right" in app.error[0].value
    assert accounts.verify_password(PASSWORD, fresh(db, User, user.id).password_hash)


def test_changing_password_keeps_this_session_logged_in(db, page):
    user = make_client(db)
    app = page("pages/account.py", user=user)
    form = fields(app)
    form["Current password"].input(PASSWORD)
    form["New password"].input("Brand new secret 5")
    form["New password again"].input("Brand new secret 5")
    app = click(app, "Change password")
    assert not app.exception
    assert "Password changed" in app.success[0].value
    assert accounts.verify_password("Brand new secret 5", fresh(db, User, user.id).password_hash)
    assert app.title[0].value == "My account"


def test_practitioner_edits_their_practice(db, page):
    practitioner = make_practitioner(db, rate="400.00")
    app = page("pages/account.py", user=practitioner.user)
    form = fields(app)
    form["Town or city"].input("Polokwane")
    app.number_input[0].set_value(650.0)
    app = click(app, "Save practice")
    assert not app.exception
    db.refresh(practitioner)
    assert (practitioner.city, str(practitioner.rate_per_session)) == ("Polokwane", "650.00")
    assert "saved" in app.success[0].value


def test_practitioner_unknown_town_is_refused(db, page):
    practitioner = make_practitioner(db)
    app = page("pages/account.py", user=practitioner.user)
    fields(app)["Town or city"].input("Nowhereville")
    app = click(app, "Save practice")
    assert "could not find" in app.error[0].value
    db.refresh(practitioner)
    assert practitioner.city == "Durban"


def test_admin_finds_and_deactivates_a_user_with_a_reason(db, page):
    admin = make_user(db, role=Role.ADMIN, first_name="Amahle")
    target = make_client(db, first_name="Sipho", last_name="Ndlovu", email="sipho@example.co.za")
    make_client(db, first_name="Lerato", email="lerato@example.co.za")
    app = page("pages/users.py", user=admin)
    fields(app)["Search by name or email"].input("sipho")
    app = app.run()
    frame = app.dataframe[0].value
    assert list(frame["Email"]) == ["sipho@example.co.za"]
    fields(app)["Reason (kept in the audit log)"].input("fraud report")
    app = click(app, "Deactivate")
    assert not app.exception
    assert "deactivated" in app.success[0].value
    assert fresh(db, User, target.id).is_active is False
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "user.deactivate"))
    assert (entry.actor_id, entry.reason) == (admin.id, "fraud report")


def test_admin_creates_an_analyst_and_sees_errors_in_plain_words(db, page):
    admin = make_user(db, role=Role.ADMIN)
    app = page("pages/users.py", user=admin)
    form = fields(app)
    form["First name"].input("Priya")
    form["Last name"].input("Naidoo")
    form["Email"].input("priya@avenrae.co.za")
    form["Temporary password"].input("short")
    app = click(app, "Create account")
    assert "at least 10" in app.error[0].value
    assert db.scalar(select(User).where(User.email == "priya@avenrae.co.za")) is None
    fields(app)["Temporary password"].input("Welcome to Avenrae 1")
    app = click(app, "Create account")
    created = db.scalar(select(User).where(User.email == "priya@avenrae.co.za"))
    assert created is not None and created.must_change_password and created.role == Role.STAFF


def test_names_with_markup_are_shown_as_text(db, page):
    admin = make_user(db, role=Role.ADMIN)
    make_client(db, first_name="<script>alert(1)</script>", last_name="X", email="x@example.co.za")
    app = page("pages/users.py", user=admin)
    assert "<script>alert(1)</script> X" in list(app.dataframe[0].value["Name"])
