"""Sign-up, My account and Find practitioners say where a typed place was placed, and how precisely."""

from sqlalchemy import select

from avenrae.config import get_settings
from avenrae.models import Practitioner, Role, Specialization
from avenrae.ui import auth
from avenrae.ui import format as fmt
from tests.factories import make_client, make_practitioner


def press(app, label):
    next(b for b in app.button if b.label == label).click()
    return app.run()


def test_a_practitioner_signing_up_by_postal_code_is_told_where_they_were_placed(db, page):
    app = page("pages/signup.py")
    app.radio[0].set_value(Role.PRACTITIONER).run()
    inputs = {t.label: t for t in app.text_input}
    inputs["First name"].input("Nomsa")
    inputs["Last name"].input("Mkhize")
    inputs["Email"].input("nomsa.postal@example.co.za")
    inputs["Mobile number"].input("071 555 0101")
    inputs["Password"].input("Sunrise over Durban 7")
    inputs["Town or city"].input("4066")
    app.selectbox[0].set_value(Specialization.HEALER)
    app = press(app, "Create account")
    assert not app.exception
    assert "Clients find you at " + fmt.md("Umlazi, KwaZulu-Natal (postal area 4066)") in app.success[0].value
    # Not bookable until verified: said, and the new practitioner starts where verifying does.
    assert "once our staff have verified you" in app.success[0].value
    assert app.title[0].value == "Verification"
    practitioner = db.scalar(select(Practitioner).where(Practitioner.city == "Umlazi"))
    assert practitioner.location_precision == "postal area"


def test_my_account_shows_where_clients_find_the_practitioner(db, page):
    practitioner = make_practitioner(db, location_note="Umlazi, KwaZulu-Natal (postal area 4066)")
    app = page("pages/account.py", user=practitioner.user)
    assert not app.exception
    captions = " ".join(c.value for c in app.caption)
    assert "Clients find you at " + fmt.md("Umlazi, KwaZulu-Natal (postal area 4066)") in captions


def test_a_town_we_only_know_roughly_is_said_to_be_approximate(db, page):
    practitioner = make_practitioner(db)
    app = page("pages/account.py", user=practitioner.user)
    {t.label: t for t in app.text_input}["Town or city"].input("Morningside, Durban")
    app = press(app, "Save practice")
    assert not app.exception
    db.refresh(practitioner)
    assert practitioner.location_precision == "city"
    captions = " ".join(c.value for c in app.caption)
    assert "approximate" in captions and "Morningside" in captions


# --- ambiguous names: the places to choose from ---------------------------------------------

CHATSWORTH_WC = (-33.54778, 18.58201)


def which(app):
    """The choice between same-named places, if the page shows one."""
    return next((r for r in app.radio if "Which do you mean?" in r.label), None)


def fill_in_practitioner_sign_up(app, email, town):
    app.radio[0].set_value(Role.PRACTITIONER).run()
    inputs = {t.label: t for t in app.text_input}
    inputs["First name"].input("Priya")
    inputs["Last name"].input("Naidoo")
    inputs["Email"].input(email)
    inputs["Mobile number"].input("071 555 0102")
    inputs["Password"].input("Sunrise over Durban 7")
    inputs["Town or city"].input(town)
    app.selectbox[0].set_value(Specialization.COUNSELOR)
    return app


def test_signing_up_in_an_ambiguous_town_asks_which_and_saves_the_one_chosen(db, page):
    app = fill_in_practitioner_sign_up(page("pages/signup.py"), "priya.which@example.co.za", "Chatsworth")
    app = press(app, "Create account")
    assert not app.exception
    choice = which(app)
    assert choice is not None and choice.label.startswith("More than one place is called “Chatsworth”")
    assert choice.options == ["Chatsworth, KwaZulu\\-Natal", "Chatsworth, Western Cape"]  # shown escaped
    assert choice.value == "Chatsworth, KwaZulu-Natal"  # the geocoder's answer, selected
    assert "choose yours under Town or city" in app.warning[0].value
    assert db.scalar(select(Practitioner).where(Practitioner.city == "Chatsworth")) is None  # nothing saved yet

    choice.set_value("Chatsworth, Western Cape")
    app = press(app, "Create account")
    assert not app.exception
    practitioner = db.scalar(select(Practitioner).where(Practitioner.city == "Chatsworth"))
    assert (practitioner.province, practitioner.location_precision) == ("Western Cape", "place")
    assert practitioner.location_note == "Chatsworth, Western Cape"
    assert "Clients find you at " + fmt.md("Chatsworth, Western Cape") in app.success[0].value


def test_an_ambiguous_town_is_asked_with_every_other_problem_at_once(db, page):
    make_client(db, email="taken@example.co.za")
    app = fill_in_practitioner_sign_up(page("pages/signup.py"), "taken@example.co.za", "Chatsworth")
    {t.label: t for t in app.text_input}["Password"].input("password12")
    app = press(app, "Create account")
    assert which(app) is not None and "choose yours under Town or city" in app.warning[0].value
    problems = app.error[0].value
    assert "An account with that email already exists" in problems
    assert "password" in problems.lower()
    assert problems.index("An account with that email") < problems.lower().index("password")  # down the form


def test_asking_which_town_counts_as_a_sign_up_so_emails_cannot_be_tested_for_free(db, page, monkeypatch):
    monkeypatch.setattr(get_settings(), "signups_per_ip", 1)
    monkeypatch.setattr(auth, "client_ip", lambda: "196.25.1.2")
    press(fill_in_practitioner_sign_up(page("pages/signup.py"), "one@example.co.za", "Chatsworth"), "Create account")
    app = press(
        fill_in_practitioner_sign_up(page("pages/signup.py"), "two@example.co.za", "Chatsworth"), "Create account"
    )
    assert "Too many sign-ups from your network" in app.error[0].value


def test_signing_up_in_a_town_with_one_place_asks_nothing(db, page):
    app = fill_in_practitioner_sign_up(page("pages/signup.py"), "priya.umlazi@example.co.za", "Umlazi")
    app = press(app, "Create account")
    assert not app.exception
    assert which(app) is None and not app.warning
    assert db.scalar(select(Practitioner).where(Practitioner.city == "Umlazi")).province == "KwaZulu-Natal"


def test_my_account_keeps_a_practitioner_in_their_own_chatsworth_and_moves_them_on_request(db, page):
    practitioner = make_practitioner(
        db, location=CHATSWORTH_WC, city="Chatsworth", province="Western Cape", service_address="Chatsworth"
    )
    app = page("pages/account.py", user=practitioner.user)
    choice = which(app)
    assert choice is not None and choice.value == "Chatsworth, Western Cape"  # where they are, not the likelier
    app = press(app, "Save practice")  # saving other details leaves them where they were
    assert not app.exception and not app.warning
    db.refresh(practitioner)
    assert (practitioner.city, practitioner.province) == ("Chatsworth", "Western Cape")

    which(app).set_value("Chatsworth, KwaZulu-Natal")
    app = press(app, "Save practice")
    assert not app.exception
    db.refresh(practitioner)
    assert (practitioner.city, practitioner.province) == ("Chatsworth", "KwaZulu-Natal")
    assert "Clients find you at " + fmt.md("Chatsworth, KwaZulu-Natal") in " ".join(c.value for c in app.caption)


def type_place(app, text):
    """Type a place that is not one of the listed labels: the browser sends the text as the
    selectbox's value (accept_new_options); AppTest only sends listed options, so list it."""
    box = app.selectbox(key="find_place")
    box.options.append(text)
    return box.set_value(text).run()


def keep_typed_place(app):
    """Before another run: the browser keeps sending the typed place, AppTest needs it listed again."""
    box = app.selectbox(key="find_place")
    box.options.append(box.value)
    return app


def test_find_practitioners_in_an_ambiguous_place_searches_the_one_chosen(db, page):
    make_practitioner(db, first_name="Kzn", location=(-29.91, 30.89), city="Chatsworth")
    make_practitioner(db, first_name="Cape", location=CHATSWORTH_WC, city="Chatsworth", province="Western Cape")
    app = page("pages/search.py", user=make_client(db))
    app = type_place(app, "Chatsworth")
    assert not app.exception
    choice = which(app)
    assert choice is not None and choice.value == "Chatsworth, KwaZulu-Natal"
    assert [r["Name"].split()[0] for r in app.table[0].value.to_dict("records")] == ["Kzn"]

    choice.set_value("Chatsworth, Western Cape")
    app = keep_typed_place(app).run()
    assert not app.exception
    assert [r["Name"].split()[0] for r in app.table[0].value.to_dict("records")] == ["Cape"]
    assert "of " + fmt.md("Chatsworth, Western Cape") in " ".join(c.value for c in app.caption)
    app.switch_page("pages/bookings.py")  # and back: still the Chatsworth chosen
    app = keep_typed_place(app).run()
    app.switch_page("pages/search.py")
    app = app.run()
    assert which(app).value == "Chatsworth, Western Cape"
    assert [r["Name"].split()[0] for r in app.table[0].value.to_dict("records")] == ["Cape"]


def test_find_practitioners_in_a_place_with_one_name_offers_no_choice(db, page):
    make_practitioner(db, first_name="Near", location=(-29.97, 30.89), city="Umlazi")
    app = page("pages/search.py", user=make_client(db))
    app = type_place(app, "Umlazi")
    assert not app.exception
    assert which(app) is None
    assert [r["Name"].split()[0] for r in app.table[0].value.to_dict("records")] == ["Near"]


def test_a_typed_place_is_still_there_after_visiting_another_page(db, page):
    app = page("pages/search.py", user=make_client(db))
    app = type_place(app, "Umlazi")
    assert not app.exception
    app.switch_page("pages/bookings.py")
    app = keep_typed_place(app).run()
    app.switch_page("pages/search.py")
    app = app.run()
    assert not app.exception
    assert app.selectbox(key="find_place").value == "Umlazi"
    assert "Umlazi" in " ".join(c.value for c in app.caption)


def test_a_new_home_place_opens_the_search_there_at_once(db, page):
    # Found by a trial: saved on My account, the search kept opening at the old place until a new login.
    from avenrae.services import accounts

    client = make_client(db)
    app = page("pages/search.py", user=client)
    assert app.selectbox(key="find_place").value == "Johannesburg, Gauteng"
    app.switch_page("pages/account.py")
    app = app.run()
    saved = accounts.set_home_place(session=db, user_id=client.id, place="Umlazi")
    db.flush()
    app.switch_page("pages/search.py")
    app = app.run()
    assert not app.exception
    assert app.selectbox(key="find_place").value == saved.label
    # A place typed after that stays until the home place changes again.
    app = type_place(app, "Durban")
    app.switch_page("pages/account.py")
    app = keep_typed_place(app).run()
    app.switch_page("pages/search.py")
    assert app.run().selectbox(key="find_place").value == "Durban"
