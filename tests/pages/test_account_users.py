"""The account page and the admin Users page."""


import pytest
from sqlalchemy import select

from avenrae.models import AuditLog, Client, Role, User
from avenrae.services import accounts
from avenrae.ui import format as fmt
from avenrae.ui import users
from tests.factories import PASSWORD, make_client, make_practitioner, make_user
from tests.pages.conftest import plain


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
    app = click(app, "Change password")  # nothing typed: what is missing, not "not right"
    assert app.error[0].value == "Please fix these:\n- Enter your current password.\n- Enter the new password."
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


def test_a_client_says_where_they_live_and_find_practitioners_opens_there(db, page):
    client = make_client(db)
    app = page("pages/search.py", user=client)
    assert app.selectbox(key="find_place").value == "Johannesburg, Gauteng"  # not known yet
    app = page("pages/account.py", user=client)
    assert fields(app)["Town, suburb, township or postal code"].value == ""
    app = click(app, "Save place")
    assert app.error[0].value == "Type your town, suburb, township or postal code."
    fields(app)["Town, suburb, township or postal code"].input("Qwertyville")
    app = click(app, "Save place")
    assert app.error[0].value.startswith("We could not find “Qwertyville” in South Africa.")
    fields(app)["Town, suburb, township or postal code"].input("4066")
    app = click(app, "Save place")
    assert app.success[0].value == (
        "Your place is saved as Umlazi, KwaZulu-Natal (postal area 4066): Find practitioners opens there."
    )
    assert fields(app)["Town, suburb, township or postal code"].value == "Umlazi, KwaZulu-Natal"
    app = page("pages/search.py", user=client)
    assert app.selectbox(key="find_place").value == "Umlazi, KwaZulu-Natal"


def home_of(db, client) -> str | None:
    return db.scalar(select(Client.preferred_place).where(Client.user_id == client.id))


def test_a_client_whose_place_has_a_namesake_is_asked_which_before_it_is_saved(db, page):
    # Found by a new user's trial: "Chatsworth" was saved as the KwaZulu-Natal one without a
    # question, so a Western Cape client's search opened 1,300 km away.
    client = make_client(db)
    app = page("pages/account.py", user=client)
    fields(app)["Town, suburb, township or postal code"].input("Chatsworth")
    app = click(app, "Save place")
    assert app.warning[0].value.startswith("More than one place has the name you typed: choose yours under")
    choice = next(r for r in app.radio if r.label.startswith("More than one place is called “Chatsworth”"))
    assert home_of(db, client) is None  # nothing saved before choosing
    choice.set_value("Chatsworth, Western Cape")
    app = click(app, "Save place")
    assert app.success[0].value == "Your place is saved as Chatsworth, Western Cape: Find practitioners opens there."
    assert home_of(db, client) == "Chatsworth, Western Cape"
    fields(app)["Town, suburb, township or postal code"].input("Morningside, Durban")  # a suburb the list lacks
    app = click(app, "Save place")
    assert app.success[0].value == (  # said to be approximate (found by a second new user's trial)
        "Your place is saved as Durban, KwaZulu-Natal (approximate: “Morningside” is not in our offline map): "
        "Find practitioners opens there."
    )


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


def test_about_you_and_a_rate_clients_cannot_be_misled_by_are_refused_in_words(db, page):
    """Found by a new user's trial: "About you" took a phone number, a link and a promised cure
    (shown under the Verified badge), and a rate of R0 was saved and then crashed the booking."""
    practitioner = make_practitioner(db, rate="400.00", bio="Calm, patient grief counselling.")
    app = page("pages/account.py", user=practitioner.user)
    next(t for t in app.text_area if t.label.startswith("About you")).input(
        "Skip the booking fee: WhatsApp me on 082 999 8888 or pay me at http://nomvula-heals.example. "
        "I cure cancer and HIV, guaranteed."
    )
    app.number_input[0].set_value(0.0)
    app = click(app, "Save practice")
    message = app.error[0].value
    assert "About you cannot include contact details (“WhatsApp”, “082 999 8888”, “http://nomvula-heals.example”)" in (
        message
    )
    assert "health-outcome claim (“cure”, “guaranteed”)" in message
    assert "Rate per session must be between R50 and R100,000." in message
    db.refresh(practitioner)
    assert (practitioner.bio, str(practitioner.rate_per_session)) == ("Calm, patient grief counselling.", "400.00")


def test_practitioner_unknown_town_is_refused(db, page):
    practitioner = make_practitioner(db)
    app = page("pages/account.py", user=practitioner.user)
    fields(app)["Town or city"].input("Nowhereville")
    app = click(app, "Save practice")
    assert "could not find" in app.error[0].value
    db.refresh(practitioner)
    assert practitioner.city == "Durban"


def buttons(app) -> list[str]:
    return [b.label for b in app.button]


def users_page_at(db, page, query):
    admin = make_user(db, role=Role.ADMIN, first_name="Amahle")
    app = page("pages/users.py", user=admin)
    fields(app)["Search by name or email"].input(query)
    return admin, app.run()


def deactivations(db):
    return db.scalars(select(AuditLog).where(AuditLog.action == "user.deactivate")).all()


def test_admin_finds_and_deactivates_a_user_with_a_reason(db, page):
    target = make_client(db, first_name="Sipho", last_name="Ndlovu", email="sipho@example.co.za")
    make_client(db, first_name="Lerato", email="lerato@example.co.za")
    admin, app = users_page_at(db, page, "sipho")
    frame = app.dataframe[0].value
    assert list(frame["Email"]) == ["sipho@example.co.za"]
    fields(app)["Reason (kept in the audit log)"].input("fraud report")
    app = click(click(app, "Deactivate"), "Yes, deactivate")
    assert not app.exception
    assert "deactivated" in app.success[0].value
    assert fresh(db, User, target.id).is_active is False
    [entry] = deactivations(db)
    assert (entry.actor_id, entry.reason) == (admin.id, "fraud report")


def test_deactivate_asks_first_naming_the_person_and_keep_changes_nothing(db, page):
    target = make_client(db, first_name="Zanele", last_name="Trial", email="zanele@example.co.za")
    _, app = users_page_at(db, page, "zanele")
    fields(app)["Reason (kept in the audit log)"].input("asked to close the account")
    app = click(app, "Deactivate")
    assert not app.exception and not app.success
    assert [plain(w.value) for w in app.warning] == [
        "Deactivate Zanele Trial <zanele@example.co.za>? "
        "They are logged out everywhere and cannot log in until reactivated."
    ]
    assert {"Yes, deactivate", "Keep active"} <= set(buttons(app))
    assert fresh(db, User, target.id).is_active is True
    app = click(app, "Keep active")
    assert not app.exception and not app.warning and not app.success
    assert "Yes, deactivate" not in buttons(app) and "Deactivate" in buttons(app)
    assert fields(app)["Reason (kept in the audit log)"].value == "asked to close the account"
    assert fresh(db, User, target.id).is_active is True
    assert deactivations(db) == []


def test_an_admin_is_not_offered_deactivating_themselves(db, page):
    # Found by a new user's trial: asked to confirm, then refused.
    admin = make_user(db, role=Role.ADMIN, first_name="Amahle", email="amahle.admin@example.co.za")
    app = page("pages/users.py", user=admin)
    fields(app)["Search by name or email"].input("amahle.admin")
    app = app.run()
    assert "Deactivate" not in buttons(app)
    assert "You cannot deactivate your own account; ask another administrator." in [c.value for c in app.caption]
    # Nor a temporary password for themselves, which logged them out at once (a second new user's trial).
    assert "Set temporary password" not in buttons(app)
    assert "Change your own password on My account." in [c.value for c in app.caption]
    assert fresh(db, User, admin.id).is_active is True


def test_yes_deactivates_and_the_button_then_reads_reactivate(db, page):
    target = make_client(db, first_name="Zanele", last_name="Trial", email="zanele@example.co.za")
    admin, app = users_page_at(db, page, "zanele")
    fields(app)["Reason (kept in the audit log)"].input("  duplicate account ")
    app = click(click(app, "Deactivate"), "Yes, deactivate")
    assert not app.exception and not app.warning
    assert plain(app.success[0].value) == (
        "Zanele Trial <zanele@example.co.za> is deactivated and logged out everywhere."
    )
    assert fresh(db, User, target.id).is_active is False
    [entry] = deactivations(db)
    assert (entry.actor_id, entry.target_id, entry.reason) == (admin.id, str(target.id), "duplicate account")
    assert list(app.dataframe[0].value["Active"]) == [False]
    assert "Reactivate" in buttons(app) and "Deactivate" not in buttons(app)
    assert fields(app)["Reason (kept in the audit log)"].value == ""
    # and back again: the button follows at once this way too
    app = click(app, "Reactivate")
    assert not app.exception
    assert fresh(db, User, target.id).is_active is True
    assert "Deactivate" in buttons(app) and "Reactivate" not in buttons(app)


def test_the_picked_user_stays_picked_after_deactivating_them(db, page):
    make_client(db, first_name="Zanele", last_name="Other", email="zanele.other@example.co.za")
    target = make_client(db, first_name="Zanele", last_name="Trial", email="zanele@example.co.za")
    _, app = users_page_at(db, page, "zanele")
    picker = next(s for s in app.selectbox if s.label == "User")
    picker.select(str(target.id))
    app = app.run()
    fields(app)["Reason (kept in the audit log)"].input("duplicate account")
    app = click(app, "Deactivate")
    assert "Zanele Trial" in plain(app.warning[0].value)
    app = click(app, "Yes, deactivate")
    assert fresh(db, User, target.id).is_active is False
    assert next(s for s in app.selectbox if s.label == "User").value == str(target.id)
    assert "Reactivate" in buttons(app)
    fields(app)["Search by name or email"].input("zanele.other")  # the picked one is not in these results
    app = app.run()
    assert not app.exception
    assert "Deactivate" in buttons(app)


@pytest.mark.parametrize("reason", ["", "   "])
def test_deactivating_without_a_reason_is_refused_in_plain_words(db, page, reason):
    target = make_client(db, first_name="Zanele", last_name="Trial", email="zanele@example.co.za")
    _, app = users_page_at(db, page, "zanele")
    if reason:
        fields(app)["Reason (kept in the audit log)"].input(reason)
    app = click(app, "Deactivate")
    assert not app.exception and not app.success and not app.warning
    assert [e.value for e in app.error] == [
        "Say why you are deactivating this account; the audit log keeps the reason."
    ]
    assert "Yes, deactivate" not in buttons(app)
    assert fresh(db, User, target.id).is_active is True
    assert deactivations(db) == []


def test_admin_creates_an_analyst_and_sees_errors_in_plain_words(db, page):
    admin = make_user(db, role=Role.ADMIN)
    app = page("pages/users.py", user=admin)
    app = click(app, "Create account")  # nothing typed: the problems in the form's order (found by a trial)
    assert app.error[0].value == (
        "Please fix these:\n- First name is required.\n- Last name is required.\n- Email is required.\n"
        "- Password must be at least 10 characters."
    ), app.error[0].value
    form = fields(app)
    form["First name"].input("Priya")
    form["Last name"].input("Naidoo")
    form["Email"].input("priya naidoo@avenrae.co.za")
    form["Temporary password"].input("short")
    app = click(app, "Create account")
    assert "An email address cannot contain spaces." in app.error[0].value and "at least 10" in app.error[0].value
    fields(app)["Email"].input("Priya@Avenrae.co.za")
    fields(app)["Temporary password"].input("Welcome to Avenrae 1")
    app = click(app, "Create account")
    created = db.scalar(select(User).where(User.email == "Priya@avenrae.co.za"))
    assert created is not None and created.must_change_password and created.role == Role.STAFF
    # Said as saved, and the new account is the one chosen to change below.
    assert app.success[0].value.startswith(f"Account created for {fmt.md('Priya@avenrae.co.za')} — ")
    assert app.selectbox(key="users_pick").value == str(created.id)


def test_names_with_markup_are_shown_as_text(db, page):
    admin = make_user(db, role=Role.ADMIN)
    make_client(db, first_name="<script>alert(1)</script>", last_name="X", email="x@example.co.za")
    app = page("pages/users.py", user=admin)
    assert "<script>alert(1)</script> X" in list(app.dataframe[0].value["Name"])


def test_opening_users_puts_nobody_under_the_controls_until_one_is_picked(db, page):
    # Found by a staff trial: the page opened with the first user of the list picked, so a
    # temporary password typed at once went to whoever that was.
    admin = make_user(db, role=Role.ADMIN, first_name="Amahle")
    first = make_client(db, first_name="Aaron", email="aaron@example.co.za")
    make_client(db, first_name="Busi", email="busi@example.co.za")
    app = page("pages/users.py", user=admin)
    assert not app.exception
    assert app.selectbox(key="users_pick").value is None
    assert users.NOBODY_PICKED in [c.value for c in app.caption]
    assert not {"Set temporary password", "Deactivate", "Change role"} & set(buttons(app))
    assert "New temporary password" not in fields(app)
    app.selectbox(key="users_pick").select(str(first.id))
    app = app.run()
    assert {"Set temporary password", "Deactivate"} <= set(buttons(app))


def test_a_temporary_password_asks_first_naming_the_person_and_cancel_changes_nothing(db, page):
    target = make_client(db, first_name="Sipho", last_name="Ndlovu", email="sipho@example.co.za")
    _, app = users_page_at(db, page, "sipho")
    old_hash = target.password_hash
    fields(app)["New temporary password"].input("Temporary-Pass-2026")
    app = click(app, "Set temporary password")
    assert not app.exception and not app.success
    assert [plain(w.value) for w in app.warning] == [
        "Set a temporary password for Sipho Ndlovu <sipho@example.co.za>? "
        "They are logged out everywhere and must choose a new password when they next log in."
    ]
    assert fresh(db, User, target.id).must_change_password is False
    app = click(app, "Cancel")
    assert not app.warning and "Yes, set it" not in buttons(app)
    changed = fresh(db, User, target.id)
    assert (changed.password_hash, changed.must_change_password) == (old_hash, False)


def test_a_temporary_password_the_rules_refuse_is_refused_before_asking(db, page):
    target = make_client(db, first_name="Sipho", last_name="Ndlovu", email="sipho@example.co.za")
    _, app = users_page_at(db, page, "sipho")
    fields(app)["New temporary password"].input("short")
    app = click(app, "Set temporary password")
    assert not app.warning and "Yes, set it" not in buttons(app)
    assert "at least 10" in app.error[0].value
    assert fresh(db, User, target.id).must_change_password is False


def test_a_temporary_password_does_not_stay_in_the_box_after_it_is_set(db, page):
    target = make_client(db, first_name="Sipho", last_name="Ndlovu", email="sipho@example.co.za")
    _, app = users_page_at(db, page, "sipho")
    fields(app)["New temporary password"].input("Temporary-Pass-2026")
    app = click(click(app, "Set temporary password"), "Yes, set it")
    assert plain(app.success[0].value) == (
        "Sipho Ndlovu <sipho@example.co.za> must choose a new password at their next login."
    )
    assert not app.warning
    assert fresh(db, User, target.id).must_change_password is True
    assert fields(app)["New temporary password"].value == ""  # not left for the next user picked


def test_a_reason_is_not_carried_over_to_the_next_action(db, page):
    # Found by a staff trial: a role change's reason was recorded again for a temporary password.
    staff = make_user(db, role=Role.STAFF, first_name="Lerato", email="lerato@avenrae.co.za")
    _, app = users_page_at(db, page, "lerato")
    fields(app)["Reason (kept in the audit log)"].input("Moved to the analytics team")
    next(s for s in app.selectbox if s.label == "New role").set_value(Role.ANALYST)
    app = click(app.run(), "Change role")
    assert fresh(db, User, staff.id).role == Role.ANALYST
    assert fields(app)["Reason (kept in the audit log)"].value == ""
    fields(app)["New temporary password"].input("Temporary-Pass-2026")
    click(click(app, "Set temporary password"), "Yes, set it")
    assert fresh(db, User, staff.id).must_change_password is True
    reasons = db.scalars(
        select(AuditLog.reason).where(AuditLog.target_id == str(staff.id)).order_by(AuditLog.created_at)
    ).all()
    assert reasons[-1] in (None, "")
