"""The Revenue & fees page's parts: its filters, headline figures, the charts of each tab
and the workbook of every table. Figures come from `services.analytics` via `ui.analytics`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from dateutil.relativedelta import relativedelta

from avenrae.models import MeetingType, Specialization
from avenrae.services import analytics
from avenrae.ui import analytics as view
from avenrae.ui import format as fmt

# The tool bar stands up the right side: across the top it covered the title on a phone.
CHART = dict(
    height=360, margin=dict(t=48, b=8, l=8, r=8), legend=dict(orientation="h", y=-0.22), modebar=dict(orientation="v")
)
COLOURS = {"Gross": "#2F6B4F", "Platform fees": "#C98B2B", "Refunds": "#B5483B"}
SPECIALIZATION_COLOURS = {"Healer": "#2F6B4F", "Prophet": "#6B4FA0", "Medium": "#2B7BB9", "Counselor": "#C98B2B"}


def _presets() -> dict[str, tuple[date, date]]:
    """Each ends today, and starts the day after the same date that long ago (both ends count)."""
    today = fmt.today()
    return {
        "Last 30 days": (today - timedelta(days=29), today),
        "Last 3 months": (today - relativedelta(months=3) + timedelta(days=1), today),
        "Last 12 months": (today - relativedelta(years=1) + timedelta(days=1), today),
        "This year": (today.replace(month=1, day=1), today),
    }


def controls() -> analytics.Filters | None:
    """Quick periods, the period, grain and filters; None, with a hint, until the period has both ends."""
    presets = _presets()

    def use_preset() -> None:
        chosen = st.session_state.get("revenue_preset")
        if chosen:
            st.session_state["revenue_period"] = presets[chosen]

    def forget_preset() -> None:  # a period typed by hand is no longer the quick one
        chosen = st.session_state.get("revenue_preset")
        if chosen and tuple(st.session_state.get("revenue_period") or ()) != presets[chosen]:
            st.session_state["revenue_preset"] = None

    st.session_state.setdefault("revenue_period", presets["Last 12 months"])
    st.session_state.setdefault("revenue_preset", "Last 12 months")
    st.pills("Quick period", list(presets), key="revenue_preset", on_change=use_preset)
    top = st.columns([2.2, 1, 1.6, 1.6, 1.4])
    period = top[0].date_input("Period", format="DD/MM/YYYY", key="revenue_period", on_change=forget_preset)
    top[1].selectbox("Group by", ["month", "week", "day"], format_func=str.capitalize, key="revenue_grain")
    specializations = top[2].multiselect(
        "Specialization", list(Specialization), format_func=fmt.label, placeholder="All", key="revenue_specs"
    )
    provinces = top[3].multiselect(
        "Province", view.read(analytics.provinces), placeholder="All", key="revenue_provinces"
    )
    meeting_types = top[4].multiselect(
        "Meeting type", list(MeetingType), format_func=fmt.label, placeholder="All", key="revenue_meeting"
    )
    st.caption(
        "Money comes from the payments ledger: completed charges and refunds on the day they were made. "
        "Platform fees are the fee share of charges less that of refunds; practitioner earnings are service "
        "amounts less their share of refunds. Booking counts come from bookings, by the day of the session."
    )
    if not isinstance(period, tuple) or len(period) != 2:
        st.info("Choose the last day of the period too.")
        return None
    return analytics.Filters(
        start=period[0],
        end=period[1],
        specializations=tuple(specializations),
        provinces=tuple(provinces),
        meeting_types=tuple(meeting_types),
    )


def grain() -> str:
    return str(st.session_state.get("revenue_grain", "month"))


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def headline(totals: analytics.Summary) -> None:
    cols = st.columns(4)
    fmt.rand_metrics(
        cols[:4],
        [
            ("Gross bookings value", totals.gross, "What clients paid (completed charges)"),
            ("Platform fees", totals.platform_fees, "The platform's revenue, after refunds"),
            ("Refunds", totals.refunds, None),
            ("Practitioner earnings", totals.earnings, "Service amounts less refunds"),
        ],
    )
    cols = st.columns(4)
    cols[0].metric("Bookings", fmt.count(totals.bookings), help="Sessions in the period, whatever their status")
    cols[1].metric("Cancellation rate", _percent(totals.cancellation_rate))
    cols[2].metric("No-show rate", _percent(totals.no_show_rate), help="Of sessions that were due: no-shows")
    cols[3].metric(
        "Average rating",
        "–" if totals.average_rating is None else f"{totals.average_rating:.2f} ★",
        help=f"Of {fmt.count(totals.reviews, 'published review')}",
    )


def tables(filters: analytics.Filters, grain: str, *, show_bottom: bool) -> dict[str, pd.DataFrame]:
    """Every table of the page, as shown (for the workbook; each tab reads only its own)."""
    by = {dimension: view.read(analytics.breakdown, filters, dimension) for dimension in analytics.FIGURE_DIMENSIONS}
    worst = view.read(analytics.practitioners_ranked, filters, 10, False) if show_bottom else None
    return {
        "Over time": view.shown(view.read(analytics.over_time, filters, grain)),
        "By specialization": view.shown(by["specialization"]),
        "By province": view.shown(by["province"]),
        "By city": view.shown(by["city"]),
        "By meeting type": view.shown(by["meeting_type"]),
        "Top practitioners": view.shown(view.read(analytics.practitioners_ranked, filters)),
        **({"Bottom practitioners": view.shown(worst)} if worst is not None else {}),
        "Month over month": view.shown(view.read(analytics.month_over_month, filters)),
    }


def over_time_chart(series: pd.DataFrame, grain: str) -> go.Figure:
    """The figures over time (`analytics.over_time`); a week or month the period covers only
    in part has an open marker."""
    chart = go.Figure()
    symbols = ["circle-open" if part else "circle" for part in series["partial"]]
    for column, name in (("gross", "Gross"), ("platform_fees", "Platform fees"), ("refunds", "Refunds")):
        chart.add_scatter(
            x=series["period"], y=series[column].map(float), name=name, mode="lines+markers",
            line=dict(color=COLOURS[name]), marker=dict(symbol=symbols, size=8),
        )  # fmt: skip
    chart.update_layout(title=f"Revenue, platform fees and refunds by {grain}", yaxis_title="Rand", **CHART)
    chart.update_yaxes(rangemode="nonnegative")  # no money moved reads as a line at R0, not -1 to 1
    return _period_axis(chart, list(series["period"]), grain)


# The year on a line of its own: on a phone twelve "Dec 2025" labels were turned on end
# and cut to "Dec 2", which read the same for 2025 and 2026.
_PERIOD_LABEL = {"day": "%d %b", "week": "%d %b", "month": "%b"}
_PERIOD_LENGTH = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
LABEL_EACH_UP_TO = 13  # periods (a year of months with both ends in part); beyond that plotly spaces the labels


def period_labels(periods: list, grain: str) -> list[str]:
    """Labels such as "Dec", "Jan<br>2026", "Feb": the year under the first period and where
    a year begins. When a year begins a tick or two after the first, the first carries the
    short year ("Nov<br>'25"): two full years side by side ran into one another."""
    labels = []
    for index, period in enumerate(periods):
        if index == 0:
            soon_new_year = any(later.year != period.year for later in periods[1:3])
            year = f"<br>’{period:%y}" if soon_new_year else f"<br>{period:%Y}"
        else:
            year = f"<br>{period:%Y}" if period.year != periods[index - 1].year else ""
        labels.append(f"{period:{_PERIOD_LABEL[grain]}}{year}")
    return labels


def _period_axis(chart: go.Figure, periods: list, grain: str) -> go.Figure:
    """Days, weeks or months along the bottom, read as such and upright: each labelled when
    there are few (plotly would label one day by the millisecond), one alone centred in its
    width; more are spaced by plotly to fit the width, the year under the first of each."""
    # Three letters a month fit a phone's width upright; "30 Nov" may need turning, as plotly decides.
    upright = dict(tickangle=0) if grain == "month" else {}
    if len(periods) <= LABEL_EACH_UP_TO:
        chart.update_xaxes(tickvals=periods, ticktext=period_labels(periods, grain), **upright)
        if len(periods) > 6:
            chart.update_xaxes(tickfont=dict(size=10))
    else:
        chart.update_xaxes(tickformat=_PERIOD_LABEL[grain] + "\n%Y", **upright)  # plotly's line break
    if len(periods) == 1:
        middle = datetime.combine(periods[0], time(0))
        half = _PERIOD_LENGTH[grain] / 2
        chart.update_xaxes(range=[middle - half, middle + half])
    return chart


def partial_note(series: pd.DataFrame, grain: str) -> str | None:
    """Says which weeks or months are only partly in the period (their figures are smaller)."""
    names = [
        f"{period:%b %Y}" if grain == "month" else f"the week of {period:%d %b %Y}"
        for period in series["period"][series["partial"]]
    ]
    if not names:
        return None
    which = " and ".join(names)
    return f"Open markers: {which} {'is' if len(names) == 1 else 'are'} only partly in the period, so smaller."


def specialization_chart(stacked: pd.DataFrame, grain: str) -> go.Figure:
    frame = stacked.assign(specialization=stacked["specialization"].map(fmt.label), gross=stacked["gross"].map(float))
    chart = px.bar(
        frame,
        x="period",
        y="gross",
        color="specialization",
        color_discrete_map=SPECIALIZATION_COLOURS,
        labels={"period": grain.capitalize(), "gross": "Gross (R)", "specialization": "Specialization"},
        title=f"Gross bookings value by specialization and {grain}",
    ).update_layout(**CHART)
    # Bars on a time axis are as wide as the gap between periods; one period alone needs telling.
    chart.update_traces(width=_PERIOD_LENGTH[grain].total_seconds() * 1000 * 0.7)
    return _period_axis(chart, sorted(set(frame["period"])), grain)


def province_chart(by_province: pd.DataFrame) -> go.Figure:
    frame = by_province.assign(
        gross=by_province["gross"].map(float), platform_fees=by_province["platform_fees"].map(float)
    )
    return (
        px.bar(
            frame.melt(id_vars="province", value_vars=["gross", "platform_fees"]),
            x="value",
            y="province",
            color="variable",
            orientation="h",
            barmode="group",
            color_discrete_map={"gross": COLOURS["Gross"], "platform_fees": COLOURS["Platform fees"]},
            labels={"value": "Rand", "province": "", "variable": ""},
            title="Gross and platform fees by province",
        )
        .for_each_trace(lambda t: t.update(name="Gross" if t.name == "gross" else "Platform fees"))
        .update_layout(**CHART)
        .update_yaxes(autorange="reversed")
    )


def leaders_chart(best: pd.DataFrame) -> go.Figure:
    leaders = best.assign(
        gross=best["gross"].map(float),
        specialization=best["specialization"].map(fmt.label),
        practitioner=best["practitioner"].map(fmt.escape),  # plotly renders <a>, <b>, ... in labels
    )
    return px.bar(
        leaders,
        x="gross",
        y="practitioner",
        orientation="h",
        color="specialization",
        color_discrete_map=SPECIALIZATION_COLOURS,
        # Ranked by gross, whatever the colour: plotly would otherwise group bars by specialization.
        category_orders={"practitioner": leaders["practitioner"].tolist()},
        labels={"gross": "Gross (R)", "practitioner": "", "specialization": "Specialization"},
        title="Top practitioners by gross bookings value",
    ).update_layout(**CHART)
