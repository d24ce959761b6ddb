"""Home page: live figures from the database, an empty state, a plain error when down."""

import base64
import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy
import pytest
import sqlalchemy.exc

from avenrae.models import BookingStatus, Role, Specialization, TransactionKind
from avenrae.ui import format as fmt
from avenrae.ui import overview as overview_ui
from avenrae.ui.page import DATABASE_UNAVAILABLE
from tests.factories import make_booking, make_practitioner, make_transaction, make_user


@pytest.fixture
def staff(db):
    return make_user(db, role=Role.STAFF)


def metric(app, label_start: str) -> str:
    return next(m.value for m in app.metric if m.label.startswith(label_start))


def charts(app) -> dict[str, dict[str, int]]:
    """Each bar chart's title and its bars as the user sees them."""
    shown = {}
    for chart in app.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        (bars,) = figure["data"]
        heights = bars["y"]  # plotly sends numbers as a typed array: {"dtype": "i1", "bdata": base64}
        heights = numpy.frombuffer(base64.b64decode(heights["bdata"]), heights["dtype"]).tolist()
        shown[figure["layout"]["title"]["text"]] = dict(zip(bars["x"], heights, strict=True))
    return shown


def test_home_shows_live_figures(db, page, staff):
    healer = make_practitioner(db, specialization=Specialization.HEALER, rate="400.00")
    make_practitioner(db, specialization=Specialization.COUNSELOR, city="Kimberley", province="Northern Cape")
    now = datetime.now(ZoneInfo("Africa/Johannesburg"))
    booking = make_booking(db, practitioner=healer, status=BookingStatus.COMPLETED)
    make_transaction(db, booking, created_at=now)
    refunded = make_booking(db, practitioner=healer, status=BookingStatus.CANCELLED)
    make_transaction(db, refunded, created_at=now)
    make_transaction(db, refunded, kind=TransactionKind.REFUND, created_at=now)

    app = page("pages/home.py", user=staff)

    assert not app.exception
    assert app.title[0].value == "Avenrae operations"
    assert metric(app, "Active practitioners") == "2"
    assert metric(app, "Bookings, all time") == "2"
    assert metric(app, "Charged this month") == "R920.00"
    assert metric(app, "Platform fees") == "R60.00"
    assert metric(app, "Refunded") == "R460.00"
    assert any("Where practitioners are" in h.value for h in app.subheader)
    assert charts(app) == {
        "Practitioners by specialization": {"Healer": 1, "Prophet": 0, "Medium": 0, "Counselor": 1},
        "Bookings by status": {"Pending": 0, "Confirmed": 0, "Completed": 1, "Cancelled": 1, "No show": 0},
    }


def test_home_without_practitioners_says_how_to_get_some(db, page, staff):
    app = page("pages/home.py", user=staff)
    assert not app.exception
    assert metric(app, "Active practitioners") == "0"
    assert "python -m avenrae db seed" in app.info[0].value


def test_home_says_plainly_when_the_database_is_down(db, page, staff, monkeypatch):
    def unreachable():
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(overview_ui, "live_figures", unreachable)
    app = page("pages/home.py", user=staff)
    assert not app.exception
    assert [e.value for e in app.error] == [DATABASE_UNAVAILABLE]
    shown = [e.value for kind in (app.markdown, app.error, app.warning, app.info, app.caption) for e in kind]
    assert not any("connection refused" in str(text) for text in shown)
    assert not app.metric


def test_a_huge_amount_shows_whole_in_compact_form_with_the_exact_value_on_hover(db, page, staff):
    booking = make_booking(db, practitioner=make_practitioner(db), status=BookingStatus.COMPLETED)
    make_transaction(
        db, booking, amount=Decimal("4183380123.45"), created_at=datetime.now(ZoneInfo("Africa/Johannesburg"))
    )

    app = page("pages/home.py", user=staff)

    assert not app.exception
    charged = next(m for m in app.metric if m.label == "Charged this month")
    assert charged.value == "R4.18 bn"
    assert "R4,183,380,123.45" in charged.help


def test_a_row_of_amounts_shares_one_precision(db, page, staff):
    healer = make_practitioner(db, rate="40000.00")  # a large charge: R46,000.00 with the fee
    booking = make_booking(db, practitioner=healer, status=BookingStatus.COMPLETED)
    make_transaction(db, booking, created_at=datetime.now(ZoneInfo("Africa/Johannesburg")))

    app = page("pages/home.py", user=staff)

    assert metric(app, "Charged this month") == "R46,000"
    fees = next(m for m in app.metric if m.label == "Platform fees")
    assert fees.value == "R6,000" and "Exact: R6,000.00" in fees.help  # not R6,000.00 beside R46,000
    assert metric(app, "Refunded") == "R0"


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0", "R0.00"),
        ("9999.99", "R9,999.99"),
        ("58341.52", "R58,342"),
        ("100000", "R100,000"),
        ("949999.49", "R949,999"),
        ("999999.50", "R1.00 m"),
        ("1000000", "R1.00 m"),
        ("12500000", "R12.5 m"),
        ("125430000", "R125 m"),
        ("999600000", "R1.00 bn"),
        ("4183380123.45", "R4.18 bn"),
        ("-58341.50", "-R58,342"),
        ("-2500000", "-R2.50 m"),
    ],
)
def test_compact_rand(amount, shown):
    assert fmt.compact_rand(Decimal(amount)) == shown


@pytest.mark.parametrize(("amount", "shown"), [("9999.99", "R10,000"), ("-0.30", "R0"), ("-0.50", "-R1"), ("0", "R0")])
def test_compact_rand_in_whole_rand_beside_larger_amounts(amount, shown):
    assert fmt.compact_rand(Decimal(amount), whole=True) == shown


def test_on_a_large_platform_the_counts_come_from_the_rollups_and_agree(db, page, staff, monkeypatch):
    from avenrae.services import analytics, overview

    healer = make_practitioner(db, specialization=Specialization.HEALER)
    make_practitioner(db, specialization=Specialization.COUNSELOR)
    make_booking(db, practitioner=healer, status=BookingStatus.COMPLETED)
    cancelled = make_booking(db, practitioner=healer, status=BookingStatus.CANCELLED)
    now = datetime.now(ZoneInfo("Africa/Johannesburg"))
    make_transaction(db, cancelled, created_at=now)
    make_transaction(db, cancelled, kind=TransactionKind.REFUND, created_at=now)
    analytics.refresh(db.connection())
    zone = "Africa/Johannesburg"
    today = datetime.now(ZoneInfo(zone)).date()
    live = overview.live_figures(db, today, zone)
    monkeypatch.setattr(overview, "LIVE_COUNTS_BELOW", 0)
    counted = overview.live_figures(db, today, zone)
    assert live.counted_at is None and counted.counted_at is not None
    assert counted.bookings_by_status == live.bookings_by_status
    assert counted.practitioners_by_specialization == live.practitioners_by_specialization
    assert counted.month.charged == live.month.charged == Decimal("460.00")
    assert (counted.month.refunded, counted.month.platform_fees) == (live.month.refunded, live.month.platform_fees)
    app = page("pages/home.py", user=staff)
    assert not app.exception
    assert any("analytics refresh" in c.value for c in app.caption)


def test_the_home_charts_have_no_toolbar_to_cover_their_titles(db, page, staff):
    """Two glance-at charts: plotly's zoom and pan buttons sat over their titles on a phone."""
    make_practitioner(db)
    app = page("pages/home.py", user=staff)
    shown = app.get("plotly_chart")
    assert len(shown) == 2
    assert all(json.loads(chart.proto.config)["displayModeBar"] is False for chart in shown)
