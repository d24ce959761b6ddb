"""Revenue & fees and Bookings map in AppTest: figures as the service computes them, exports
that hold exactly the tables shown, plain words for a bad period and for a quiet one."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import streamlit as st
from dateutil.relativedelta import relativedelta

from avenrae.models import BookingStatus, MeetingType, Role, Specialization, TransactionKind
from avenrae.services import analytics
from avenrae.ui import analytics as ui_analytics
from avenrae.ui import format as fmt
from avenrae.ui import maps, revenue
from tests.factories import make_booking, make_practitioner, make_transaction, make_user

TODAY = datetime.now(UTC).date()
YEAR_AGO = TODAY - relativedelta(years=1) + timedelta(days=1)  # where "Last 12 months" starts


@pytest.fixture
def analyst(db):
    return make_user(db, role=Role.ANALYST)


@pytest.fixture
def recent(db):
    """Paid sessions over the last few weeks, in two provinces, one refunded."""
    durban = make_practitioner(db, rate="333.33", first_name="Thandi", last_name="Mokoena")
    cape = make_practitioner(
        db, specialization=Specialization.MEDIUM, city="Cape Town", province="Western Cape",
        location=(-33.92, 18.42), rate="500.00", first_name="Pieter", last_name="Botha",
    )  # fmt: skip
    for n in range(8):
        practitioner = durban if n % 2 else cape
        start = datetime.combine(TODAY - timedelta(days=3 + 4 * n), datetime.min.time(), UTC) + timedelta(hours=9)
        status = BookingStatus.CANCELLED if n == 3 else BookingStatus.COMPLETED
        booking = make_booking(
            db, practitioner=practitioner, start=start, status=status,
            meeting_type=MeetingType.ONLINE if n % 3 else MeetingType.IN_PERSON,
        )  # fmt: skip
        make_transaction(db, booking, created_at=start - timedelta(days=1))
        if status == BookingStatus.CANCELLED:
            make_transaction(db, booking, kind=TransactionKind.REFUND, created_at=start)
    analytics.refresh(db.connection())
    return durban, cape


@pytest.fixture
def downloads(monkeypatch):
    """What each download button would hand the browser, by label."""
    offered: dict[str, bytes] = {}
    original = st.download_button

    def record(label, data, *args, **kwargs):
        offered[label] = data
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", record)
    return offered


TABS = ("Over time", "By specialization", "By place", "Practitioners", "Month over month")


def open_tab(app, name: str):
    """Only the open tab runs: open another as a click would (it reruns the page)."""
    app.session_state["revenue_tab"] = name
    return app.run()


def workbook(downloads) -> bytes:
    data = downloads["Download every table as Excel"]
    return data() if callable(data) else data  # worked out when asked for


def metric(app, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


def test_revenue_page_shows_the_service_figures(db, page, analyst, recent):
    app = page("pages/revenue.py", user=analyst)
    assert not app.exception, app.exception
    totals = analytics.summary(db.connection(), analytics.Filters(YEAR_AGO, TODAY))
    assert metric(app, "Gross bookings value") == fmt.rand(totals.gross)
    assert metric(app, "Platform fees") == fmt.rand(totals.platform_fees)
    assert metric(app, "Refunds") == fmt.rand(totals.refunds) != fmt.rand(0)
    assert metric(app, "Bookings") == "8"
    assert "payments ledger" in " ".join(c.value for c in app.caption)
    assert "Figures as of" in " ".join(c.value for c in app.caption)
    assert [f.value.columns[0] for f in app.dataframe] == ["Period"]  # only the open tab's table
    cities = next(f for f in open_tab(app, "By place").dataframe if "City" in f.value.columns).value
    assert set(cities["City"]) == {"Durban", "Cape Town"}
    top = next(f for f in open_tab(app, "Practitioners").dataframe if "Practitioner" in f.value.columns).value
    assert top.iloc[0]["Practitioner"] in ("Thandi Mokoena", "Pieter Botha")


def test_months_partly_in_the_period_are_marked_not_shown_as_a_fall(db, page, analyst, recent):
    this_month = fmt.today().replace(day=1)
    start = (this_month - timedelta(days=40)).replace(day=15)  # the middle of the month before last
    end = this_month - timedelta(days=20)  # part of last month
    app = page("pages/revenue.py", user=analyst)
    app.date_input(key="revenue_period").set_value((start, end))
    app = app.run()
    assert f"Open markers: {start:%b %Y} and {end:%b %Y} are only partly in the period, so smaller." in [
        c.value for c in app.caption
    ]
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["marker"]["symbol"] == ["circle-open", "circle-open"]
    last_day = this_month - timedelta(days=1)
    app.date_input(key="revenue_period").set_value((last_day.replace(day=1), last_day))
    app = app.run()  # last month, whole: nothing to mark
    assert not [c.value for c in app.caption if c.value.startswith("Open markers")]
    assert json.loads(app.get("plotly_chart")[0].proto.spec)["data"][0]["marker"]["symbol"] == ["circle"]


def test_weeks_are_partly_covered_by_their_days():
    monday = date(2026, 11, 30)
    covered = analytics.partly_covered([monday, monday + timedelta(days=7)], "week", monday, monday + timedelta(days=9))
    assert covered == [False, True]
    assert analytics.partly_covered([monday], "day", monday, monday) == [False]


@pytest.mark.parametrize(
    ("grain", "periods", "labels"),
    [
        ("day", [date(2026, 12, 1)], ["01 Dec<br>2026"]),
        ("week", [date(2026, 11, 30), date(2026, 12, 7)], ["30 Nov<br>2026", "07 Dec"]),
        (
            "week",
            [date(2026, 12, 21), date(2026, 12, 28), date(2027, 1, 4)],
            ["21 Dec<br>’26", "28 Dec", "04 Jan<br>2027"],  # the short year: "2026" and "2027" ran together
        ),
        ("month", [date(2026, 12, 1)], ["Dec<br>2026"]),
        ("month", [date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)], ["Mar<br>2026", "Apr", "May"]),
    ],
)
def test_a_short_period_is_labelled_by_its_days_weeks_or_months(grain, periods, labels):
    """One day's chart read 23:59:59.9995, 00:00:00, 00:00:00.0005 along the bottom."""
    series = pd.DataFrame(
        {
            "period": periods,
            "gross": [Decimal("1200.00")] * len(periods),
            "platform_fees": [Decimal("180.00")] * len(periods),
            "refunds": [Decimal("0.00")] * len(periods),
            "partial": [False] * len(periods),
        }
    )
    assert revenue.over_time_chart(series, grain).layout.yaxis.rangemode == "nonnegative"
    for chart in (
        revenue.over_time_chart(series, grain),
        revenue.specialization_chart(series.assign(specialization="healer"), grain),
    ):
        axis = chart.layout.xaxis
        assert list(axis.tickvals) == periods and list(axis.ticktext) == labels
        if len(periods) == 1:  # centred, half a period either side
            low, high = axis.range
            assert low < datetime.combine(periods[0], datetime.min.time()) < high


def test_the_quick_period_shown_is_the_period_used(db, page, analyst, recent):
    app = page("pages/revenue.py", user=analyst)
    assert app.pills(key="revenue_preset").value == "Last 12 months"  # the default period, said
    app.date_input(key="revenue_period").set_value((TODAY - timedelta(days=40), TODAY - timedelta(days=10)))
    app = app.run()
    assert app.pills(key="revenue_preset").value is None  # typed by hand: no quick period claims it
    app.pills(key="revenue_preset").set_value("Last 30 days")
    app = app.run()
    today = fmt.today()  # the platform's day, which the quick periods count from
    assert app.date_input(key="revenue_period").value == (today - timedelta(days=29), today)


def test_over_time_says_which_periods_the_dates_cover_only_in_part(db, page, analyst, recent, downloads):
    """A first month that starts on the 5th holds less than a whole month: the table and its
    CSV say so, as the chart's open markers do."""
    app = page("pages/revenue.py", user=analyst)
    start = TODAY.replace(day=1) - relativedelta(months=2) + timedelta(days=4)
    app.date_input(key="revenue_period").set_value((start, TODAY)).run()
    table = open_tab(app, "Over time").dataframe[0].value
    ends_partly = TODAY.day != (TODAY.replace(day=1) + relativedelta(months=1) - timedelta(days=1)).day
    assert list(table["Partly in the period"]) == [True, False, ends_partly]
    again = pd.read_csv(io.BytesIO(downloads["CSV: Over time"]), encoding="utf-8-sig")
    assert list(again["Partly in the period"]) == ["yes", "no", "yes" if ends_partly else "no"]


def test_a_month_without_a_growth_figure_reads_as_a_dash_not_none(db, page, analyst, recent):
    table = open_tab(page("pages/revenue.py", user=analyst), "Month over month").dataframe[0]
    assert table.value["Gross growth (%)"].isna().any()  # the period's first month has nothing to grow from
    assert table.proto.placeholder == fmt.MISSING == "—"
    columns = json.loads(table.proto.columns)
    assert columns["Bookings"]["type_config"]["format"] == "%,d"  # 10,179 as in the headlines, not 10179
    assert columns["Period"]["type_config"]["format"] == "MMM YYYY"  # a month reads "Dec 2025", not "1 Dec 2025"


def test_a_mark_with_a_gap_is_yes_no_or_empty_in_the_csv():
    """A yes/no column with an unknown value (pandas keeps it as objects, not bools) reads
    yes/no like any other, and the unknown one stays empty: never "True" or "False"."""
    frame = pd.DataFrame({"Practitioner": ["Ann", "Ben", "Cee"], "Verified": [True, None, False]})
    rows = list(csv.DictReader(io.StringIO(ui_analytics.to_csv(frame).decode("utf-8-sig"))))
    assert [row["Verified"] for row in rows] == ["yes", "", "no"]


def test_exports_hold_exactly_the_tables_shown(db, page, analyst, recent, downloads):
    app = page("pages/revenue.py", user=analyst)
    frames, csvs = [], []
    for name in TABS:
        downloads.clear()
        frames += [f.value for f in open_tab(app, name).dataframe]
        csvs += [data for label, data in downloads.items() if label.startswith("CSV: ")]
    assert len(csvs) == len(frames) == 7
    assert "Bottom practitioners" not in workbook_sheets(downloads)
    for frame, data in zip(frames, csvs, strict=True):
        assert data.startswith(codecs.BOM_UTF8)  # Excel reads it as UTF-8
        text = data.decode("utf-8-sig")
        money = [c for c in frame.columns if c.endswith("(R)")]
        assert money
        marks = [c for c in frame.columns if frame[c].dtype == bool]
        shown = frame.assign(
            **{c: frame[c].map("{:.2f}".format) for c in money},
            **{c: frame[c].map({True: "yes", False: "no"}) for c in marks},
        )
        assert text == shown.to_csv(index=False)
        cells = list(csv.DictReader(io.StringIO(text)))
        assert all(re.fullmatch(r"-?\d+\.\d\d", row[c]) for row in cells for c in money)  # never "3741.0"
        again = pd.read_csv(io.BytesIO(data))
        assert list(again.columns) == list(frame.columns) and len(again) == len(frame)
    sheets = workbook_sheets(downloads)
    assert len(sheets) == len(frames)
    for frame, sheet in zip(frames, sheets.values(), strict=True):
        assert list(sheet.columns) == list(frame.columns)
        for column in frame.columns:
            if frame[column].dtype.kind == "f":
                assert sheet[column].fillna(-1).round(2).tolist() == frame[column].fillna(-1).round(2).tolist()
            elif frame[column].dtype == bool:
                assert sheet[column].tolist() == frame[column].map({True: "yes", False: "no"}).tolist()
            else:
                assert sheet[column].astype(str).tolist() == frame[column].astype(str).tolist()


def workbook_sheets(downloads) -> dict[str, pd.DataFrame]:
    return pd.read_excel(io.BytesIO(workbook(downloads)), sheet_name=None)


def test_the_lowest_earners_are_ranked_when_asked_for_and_then_exported(db, page, analyst, recent, downloads):
    app = open_tab(page("pages/revenue.py", user=analyst), "Practitioners")
    app.toggle(key="revenue_bottom").set_value(True).run()
    assert not app.exception, app.exception
    frames = [f.value for f in app.dataframe]
    assert len(frames) == 2  # the Practitioners tab: the top 10, then the bottom 10
    lowest = analytics.practitioners_ranked(db.connection(), analytics.Filters(YEAR_AGO, TODAY), 10, False)
    shown = frames[1]
    assert shown["Practitioner"].tolist() == lowest["practitioner"].tolist()
    assert sorted(shown["Practitioner"]) == ["Pieter Botha", "Thandi Mokoena"]
    exported = workbook_sheets(downloads)["Bottom practitioners"]
    assert exported["Practitioner"].tolist() == shown["Practitioner"].tolist()


def test_filters_change_the_figures(db, page, analyst, recent):
    app = page("pages/revenue.py", user=analyst)
    before = metric(app, "Gross bookings value")
    app.multiselect(key="revenue_provinces").set_value(["Western Cape"]).run()
    after = metric(app, "Gross bookings value")
    assert after != before
    wanted = analytics.summary(
        db.connection(),
        analytics.Filters(YEAR_AGO, TODAY, provinces=("Western Cape",)),
    )
    assert after == fmt.rand(wanted.gross)


def test_a_quiet_period_is_an_empty_state(db, page, analyst, recent):
    app = page("pages/revenue.py", user=analyst)
    app.date_input(key="revenue_period").set_value((date(2019, 1, 1), date(2019, 1, 31))).run()
    assert not app.exception
    assert any("No bookings or payments between 01 Jan 2019 and 31 Jan 2019" in i.value for i in app.info)
    assert not app.metric and not app.dataframe


def test_a_half_chosen_or_overlong_period_is_explained(db, page, analyst, recent):
    app = page("pages/revenue.py", user=analyst)
    app.date_input(key="revenue_period").set_value((date(2026, 1, 1),)).run()
    assert any("last day" in i.value for i in app.info)
    app.date_input(key="revenue_period").set_value((date(2019, 1, 1), TODAY)).run()
    assert any("at most three years" in e.value for e in app.error)


def test_never_refreshed_figures_say_how_to_get_them(db, page, analyst):
    app = page("pages/revenue.py", user=analyst)
    assert any("refresh-analytics" in w.value for w in app.warning)
    assert not app.metric


def test_bookings_map_shows_cells_and_a_breakdown(db, page, analyst, recent):
    app = page("pages/bookings_map.py", user=analyst)
    assert not app.exception, app.exception
    assert metric(app, "Bookings") == "8"
    assert metric(app, "Hexagons with bookings") == "2"
    picker = app.selectbox(key="map_cell")
    busiest = picker.options[1]
    assert "2 bookings" in busiest or "4 bookings" in busiest
    # Named as people know the area ("Around Durban, KwaZulu-Natal (16:-79) · 4 bookings · ..."),
    # the grid position beside it.
    assert busiest.startswith(("Around Durban, KwaZulu-Natal (", "Around Cape Town, Western Cape ("))
    picker.set_value(busiest.split("(")[1].split(")")[0]).run()  # the option's key, "i:j"
    assert app.subheader[0].value.startswith("Around ")
    breakdown = next(f for f in app.dataframe if "Practitioners now" in f.value.columns).value
    assert breakdown["Bookings"].sum() == 4
    assert set(breakdown["Specialization"]) == {fmt.label(s.value) for s in Specialization}


def test_the_busiest_hexagons_csv_reads_as_the_table_does(db, page, analyst, recent, downloads):
    """Grid positions as the hexagons' names write them, "(16:-79)", so a spreadsheet reads
    none as a formula (no apostrophe in front of some); coordinates to the places shown."""
    app = page("pages/bookings_map.py", user=analyst)
    shown = next(f for f in app.dataframe if "Hexagon" in f.value.columns).value
    again = pd.read_csv(io.BytesIO(downloads["CSV: busiest hexagons"]), encoding="utf-8-sig")
    assert list(again["Hexagon"]) == list(shown["Hexagon"])
    assert all(re.fullmatch(r"\(-?\d+:-?\d+\)", h) for h in again["Hexagon"])
    assert list(again["Latitude"]) == list(shown["Latitude"]) and list(again["Longitude"]) == list(shown["Longitude"])
    assert any(round(value, 2) != value for value in again["Latitude"])  # not cut to two places
    assert list(again["Amount paid (R)"]) == list(shown["Amount paid (R)"])


def test_the_map_legend_names_only_the_layers_shown(db, page, analyst, recent):
    def legend(app) -> str:
        return next(m.value for m in app.markdown if "linear-gradient" in m.value)

    app = page("pages/bookings_map.py", user=analyst)
    assert "searches that found nobody" in legend(app) and "practitioners" not in legend(app)  # supply starts off
    app.toggle[0].set_value(True).run()
    app.toggle[1].set_value(False).run()
    assert "practitioners" in legend(app) and "searches that found nobody" not in legend(app)


def test_bookings_map_filters_and_quiet_months(db, page, analyst, recent):
    app = page("pages/bookings_map.py", user=analyst)
    app.multiselect(key="map_status").set_value([BookingStatus.CANCELLED]).run()
    assert metric(app, "Bookings") == "1"
    app.radio(key="map_measure").set_value("paid").run()
    assert metric(app, "Amount paid") == fmt.rand(Decimal("0.00"))  # paid, then refunded in full
    first = app.selectbox(key="map_first")
    app.selectbox(key="map_last").set_value(first.options[0]).run()
    app.selectbox(key="map_first").set_value(first.options[1]).run()
    assert any("comes before" in e.value for e in app.error)


def test_quick_periods_are_as_long_as_they_say(monkeypatch):
    monkeypatch.setattr(fmt, "today", lambda: date(2026, 12, 4))
    presets = revenue._presets()
    assert presets["Last 3 months"] == (date(2026, 9, 5), date(2026, 12, 4))  # was 4 Sep: 3 months and a day
    assert presets["Last 12 months"] == (date(2025, 12, 5), date(2026, 12, 4))
    assert presets["Last 30 days"] == (date(2026, 11, 5), date(2026, 12, 4))


def months_from(first: date, count: int) -> pd.DataFrame:
    """`over_time` for `count` months from `first`, the same figures each month."""
    return pd.DataFrame(
        {
            "period": [(first + timedelta(days=31 * n)).replace(day=1) for n in range(count)],
            "gross": [Decimal("1200.00")] * count,
            "platform_fees": [Decimal("180.00")] * count,
            "refunds": [Decimal("0.00")] * count,
            "partial": [False] * count,
        }
    )


def test_a_year_of_months_is_labelled_upright_with_the_year_on_its_own_line():
    # Found by a phone trial: thirteen "Dec 2025" labels were turned on end and cut to "Dec 2".
    series = months_from(date(2025, 12, 1), 13)
    axis = revenue.over_time_chart(series, "month").layout.xaxis
    assert axis.tickangle == 0 and list(axis.tickvals) == list(series["period"])
    # The year once, where it begins: "2025" and "2026" side by side ran into one another.
    assert list(axis.ticktext) == ["Dec<br>’25", "Jan<br>2026", *(f"{m:%b}" for m in series["period"][2:])]


def test_years_of_months_are_spaced_by_plotly_and_stay_upright():
    axis = revenue.over_time_chart(months_from(date(2024, 1, 1), 30), "month").layout.xaxis
    assert (axis.tickformat, axis.tickangle, axis.dtick, axis.tickvals) == ("%b\n%Y", 0, None, None)


def test_the_workbook_reads_like_the_screen_amounts_in_rand_and_cents_headers_kept_in_view():
    """Opened in Excel, amounts show as 1,234,567.50 (not 1234567.5), yes/no as on screen and
    in the CSV, every header fits its column and stays in view while scrolling."""
    import openpyxl

    frame = pd.DataFrame(
        {
            "Practitioner": ["Thandi Mokoena", "=cmd"],
            "Gross bookings value (R)": [1234567.5, 299.0],
            "Verified": [True, False],
        }
    )
    sheet = openpyxl.load_workbook(io.BytesIO(ui_analytics.to_excel({"Practitioners": frame})))["Practitioners"]
    assert [cell.value for cell in sheet[1]] == list(frame.columns)
    amounts = [row[1] for row in sheet.iter_rows(min_row=2)]
    assert [cell.value for cell in amounts] == [1234567.5, 299.0]  # numbers, so they still add up
    assert {cell.number_format for cell in amounts} == {"#,##0.00"}
    assert [row[2].value for row in sheet.iter_rows(min_row=2)] == ["yes", "no"]
    assert sheet.iter_rows(min_row=3).__next__()[0].value == "'=cmd"  # still inert
    assert sheet.freeze_panes == "A2"
    for letter, header in zip("ABC", frame.columns, strict=True):
        assert sheet.column_dimensions[letter].width >= len(header)


def hexagon_at(lat: float, lng: float, value: float) -> analytics.Cell:
    ring = [
        [lng + 0.1 * dx, lat + 0.1 * dy]
        for dx, dy in ((1, 0), (0.5, 0.9), (-0.5, 0.9), (-1, 0), (-0.5, -0.9), (0.5, -0.9))
    ]
    return analytics.Cell(0, 0, value, int(value), Decimal(0), {"type": "Polygon", "coordinates": [[*ring, ring[0]]]})


def test_the_bookings_map_opens_on_the_hexagons_shown():
    # Found on a phone: the map opened on the whole country at a whole zoom step below it, so
    # the hexagons were specks. It now fits what is drawn, in quarter steps.
    from avenrae.ui import bookings_map

    def view(booked: list[analytics.Cell], supply: list[analytics.Cell], show_supply: bool):
        choice = bookings_map.Choice(filters=None, measure="bookings", show_supply=show_supply, show_demand=False)
        layers = [analytics.CellLayer(cells, sum(c.value for c in cells)) for cells in (booked, supply, [])]
        folium_map = bookings_map.draw(choice, *layers)
        fit = next(c for c in folium_map._children.values() if type(c).__name__ == "FitBounds")
        return fit.bounds, folium_map.options

    durban, pretoria = hexagon_at(-29.86, 31.03, 4), hexagon_at(-25.75, 28.19, 1)
    (south_west, north_east), options = view([durban], [pretoria], show_supply=False)
    assert options["zoom_snap"] == 0.25
    assert -30.0 < south_west[0] < north_east[0] < -29.7 and 30.9 < south_west[1] < north_east[1] < 31.2
    (south_west, north_east), _ = view([durban], [pretoria], show_supply=True)  # the supply drawn too
    assert south_west[0] < -29.8 and north_east[0] > -25.8
    assert view([], [], show_supply=False)[0] == maps.SOUTH_AFRICA_BOUNDS  # nothing to show: the country
