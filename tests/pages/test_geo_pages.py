"""Sign-up, My account and Find practitioners say where a typed place was placed, and how precisely."""

from sqlalchemy import select

from avenrae.models import Practitioner, Role, Specialization
from avenrae.ui import format as fmt
from tests.factories import make_practitioner


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
