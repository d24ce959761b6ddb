"""Exports cannot hurt staff: a practitioner named like a formula is plain text in every
CSV and Excel file the platform hands out (OWASP: CSV injection)."""

from __future__ import annotations

import csv
import io
import tomllib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest
import streamlit as st

from avenrae.config import REPO_ROOT
from avenrae.models import BookingStatus, Role, booking_reference
from avenrae.services import analytics, audit, ledger, spreadsheet
from avenrae.services.errors import PermissionDenied
from tests.factories import make_booking, make_practitioner, make_transaction, make_user

HOSTILE = '=HYPERLINK("http://evil","x")'


@pytest.fixture
def downloads(monkeypatch):
    offered: dict[str, bytes] = {}
    original = st.download_button

    def record(label, data, *args, **kwargs):
        offered[label] = data
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", record)
    return offered


def test_tables_offer_no_raw_csv_of_their_own():
    """st.dataframe's built-in CSV download writes cells raw: it is switched off, so every
    export is one of the app's download buttons, through the helper."""
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True


def test_the_one_helper_quotes_every_formula_start_and_leaves_numbers_alone():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert spreadsheet.cell(f"{start}1+1") == f"'{start}1+1"
    assert spreadsheet.cell("Thandi Mokoena") == "Thandi Mokoena"
    assert spreadsheet.cell(-5) == -5 and spreadsheet.cell(None) is None
    table = spreadsheet.frame(pd.DataFrame({"name": [HOSTILE, "Ann"], "gross": [-1.5, 2.0]}))
    assert table["name"].tolist() == ["'" + HOSTILE, "Ann"] and table["gross"].tolist() == [-1.5, 2.0]


def test_a_practitioner_named_like_a_formula_is_inert_in_the_revenue_csv_and_workbook(db, page, downloads):
    analyst = make_user(db, role=Role.ANALYST)
    evil = make_practitioner(db, first_name=HOSTILE, last_name="Zulu", rate="900.00")
    start = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=5)
    booking = make_booking(db, practitioner=evil, start=start, status=BookingStatus.COMPLETED)
    make_transaction(db, booking, created_at=start - timedelta(days=1))
    analytics.refresh(db.connection())

    app = page("pages/revenue.py", user=analyst)
    app.session_state["revenue_tab"] = "Practitioners"  # only the open tab runs: open it as a click would
    app.run()
    assert not app.exception, app.exception
    shown = next(f.value for f in app.dataframe if "Practitioner" in f.value.columns)
    assert f"{HOSTILE} Zulu" in shown["Practitioner"].tolist()  # shown as typed, on screen

    rows = list(csv.DictReader(io.StringIO(downloads["CSV: Top practitioners"].decode("utf-8-sig"))))
    names = [row["Practitioner"] for row in rows]
    assert f"'{HOSTILE} Zulu" in names
    assert not any(name.startswith(spreadsheet.FORMULA_STARTS) for name in names)

    excel = downloads["Download every table as Excel"]
    workbook = openpyxl.load_workbook(io.BytesIO(excel() if callable(excel) else excel))  # made when asked for
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula: {cell.value}"
    top = workbook["Top practitioners"]
    assert f"'{HOSTILE} Zulu" in [c.value for c in top["A"]] + [c.value for row in top.iter_rows() for c in row]


def test_an_actor_named_like_a_formula_is_inert_in_the_audit_csv(db):
    admin = make_user(db, role=Role.ADMIN)
    staff = make_user(db, role=Role.STAFF, first_name=HOSTILE, last_name="Staff")
    audit.record(session=db, actor_id=staff.id, action="user.update", target_type="user", target_id=staff.id)
    data, _ = audit.export_csv(session=db, actor_role=admin.role)
    rows = list(csv.DictReader(io.StringIO(data)))
    assert rows[0]["actor"].startswith("'=HYPERLINK")


def test_the_payments_csv_staff_download_has_every_matching_row_inert_and_amounts_as_numbers(db, page, downloads):
    staff = make_user(db, role=Role.STAFF)
    evil = make_practitioner(db, first_name=HOSTILE, last_name="Zulu")
    booking = make_booking(db, practitioner=evil)
    make_transaction(db, booking, method="eft", provider="manual", provider_reference="-FNB 12")
    other = make_booking(db, practitioner=make_practitioner(db, first_name="Ann"))
    make_transaction(db, other, method="cash", provider="manual")

    app = page("pages/payments.py", user=staff)
    next(t for t in app.text_input if t.label.startswith("Client, practitioner")).input("zulu").run()
    next(b for b in app.button if b.label == "Prepare CSV of every matching payment").click()
    app = app.run()
    assert not app.exception, app.exception
    [data] = [v for label, v in downloads.items() if label.startswith("Download CSV (1 row)")]
    [row] = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))  # only what the filters match
    assert (row["booking"], row["kind"], row["paid_via"], row["amount"], row["currency"]) == (
        booking_reference(booking.id), "charge", "EFT", "460.00", "ZAR",
    )  # fmt: skip
    assert row["practitioner"] == f"'{HOSTILE} Zulu" and row["reference"] == "'-FNB 12"
    # Beside UTC, the time as the page and a bank statement show it (found by a staff trial reconciling).
    local = datetime.fromisoformat(row["when_utc"]).astimezone(ZoneInfo("Africa/Johannesburg"))
    assert row["when_local"] == f"{local:%Y-%m-%d %H:%M:%S}"
    with pytest.raises(PermissionDenied):
        ledger.export_csv(session=db, role=Role.CLIENT)
