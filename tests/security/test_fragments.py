"""A page left open: its fragments (the CSV exports) check the account again, as a full page does."""

import dataclasses

import streamlit.testing.v1.local_script_runner as local_script_runner

from avenrae.models import Role
from avenrae.services import accounts
from tests.factories import make_booking, make_transaction, make_user
from tests.pages.conftest import page  # noqa: F401 - the page fixture


def _fragment_rerun(app, monkeypatch) -> None:
    """From now on, each interaction reruns only the page's fragment (the CSV export), as the
    browser asks when a button inside an @st.fragment is clicked."""
    fragments = app._fragment_storage._fragments
    assert len(fragments) == 1, list(fragments)
    (fragment_id,) = fragments
    real = local_script_runner.RerunData

    def fragment_only(**kwargs):
        return dataclasses.replace(real(**kwargs), fragment_id_queue=[fragment_id])

    monkeypatch.setattr(local_script_runner, "RerunData", fragment_only)


def test_a_deactivated_staff_member_cannot_export_the_ledger_from_a_page_left_open(db, page, monkeypatch):  # noqa: F811
    """README: "being deactivated ends it at the next click". Every page checks the session
    in `guard()` at the top of the script, but clicking "Prepare CSV" reruns only the export's
    fragment: it checks the account again itself, so a staff member an admin has just
    deactivated gets no ledger (with every client's name) from a tab left open (found by review)."""
    staff = make_user(db, role=Role.STAFF)
    admin = make_user(db, role=Role.ADMIN)
    booking = make_booking(db, client=make_user(db, role=Role.CLIENT, first_name="Zanele", last_name="Secretname"))
    make_transaction(db, booking)
    app = page("pages/payments.py", user=staff)
    assert not app.exception
    assert any(b.label.startswith("Prepare CSV") for b in app.button)

    accounts.set_active(session=db, actor_id=admin.id, user_id=staff.id, active=False, reason="Left the company")
    _fragment_rerun(app, monkeypatch)
    next(b for b in app.button if b.label.startswith("Prepare CSV")).click().run()

    labels = [element.proto.label for element in app.get("download_button")]
    assert not any("Download CSV" in label for label in labels), (
        f"a deactivated staff member was handed the ledger export: {labels}"
    )
