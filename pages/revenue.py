"""Revenue & fees: what clients paid, what the platform earned, what went back, and bookings,
over time and by specialization, province, city, meeting type and practitioner. Read-only."""

import streamlit as st

from avenrae.services import analytics
from avenrae.ui import analytics as view
from avenrae.ui import revenue
from avenrae.ui.page import signed_in

signed_in(__file__)
st.title("Revenue & fees")
view.freshness_note()

filters = revenue.controls()
if filters is None:
    st.stop()
grain = revenue.grain()
totals: analytics.Summary = view.read(analytics.summary, filters)
if totals.empty:
    st.info(
        f"No bookings or payments between {filters.start:%d %b %Y} and {filters.end:%d %b %Y} under these "
        "filters. Try a longer period or fewer filters."
    )
    st.stop()
revenue.headline(totals)

# The bottom of the ranking has no shortcut: it adds up every practitioner in the period,
# seconds on a large platform, so it is worked out only when asked for.
show_bottom = st.session_state.get("revenue_bottom", False)
file_stem = f"avenrae-revenue-{filters.start}-{filters.end}"


def table(name: str, frame, key: str, *, monthly: bool = False) -> None:
    view.table(name, view.shown(frame), key=key, file_stem=file_stem, monthly=monthly)


# Only the open tab runs (and reads its figures); switching tabs reruns the page.
tabs = st.tabs(
    ["Over time", "By specialization", "By place", "Practitioners", "Month over month"],
    key="revenue_tab",
    on_change="rerun",
)
if tabs[0].open:
    with tabs[0]:
        series = view.read(analytics.over_time, filters, grain)
        st.plotly_chart(revenue.over_time_chart(series, grain), width="stretch", key="chart_over_time")
        note = revenue.partial_note(series, grain)
        if note:
            st.caption(note)
        table("Over time", series, "over_time", monthly=grain == "month")
if tabs[1].open:
    with tabs[1]:
        stacked = view.read(analytics.by_specialization_over_time, filters, grain)
        st.plotly_chart(revenue.specialization_chart(stacked, grain), width="stretch", key="chart_specialization")
        table("By specialization", view.read(analytics.breakdown, filters, "specialization"), "specialization")
if tabs[2].open:
    with tabs[2]:
        by_province = view.read(analytics.breakdown, filters, "province")
        st.plotly_chart(revenue.province_chart(by_province), width="stretch", key="chart_province")
        table("By province", by_province, "province")
        st.subheader("By city")
        table("By city", view.read(analytics.breakdown, filters, "city"), "city")
        st.subheader("By meeting type")
        table("By meeting type", view.read(analytics.breakdown, filters, "meeting_type"), "meeting_type")
if tabs[3].open:
    with tabs[3]:
        best = view.read(analytics.practitioners_ranked, filters)
        st.plotly_chart(revenue.leaders_chart(best), width="stretch", key="chart_practitioners")
        st.subheader("Top 10")
        table("Top practitioners", best, "top")
        st.subheader("Bottom 10", help="Least gross among practitioners with a booking or a payment in the period")
        st.toggle(
            "Rank the lowest earners too",
            key="revenue_bottom",
            help="Adds up every practitioner's figures for the period: a few seconds on a large platform.",
        )
        if show_bottom:
            table("Bottom practitioners", view.read(analytics.practitioners_ranked, filters, 10, False), "bottom")
if tabs[4].open:
    with tabs[4]:
        st.caption("Growth against the month before. Months the period only partly covers get no growth figure.")
        table("Month over month", view.read(analytics.month_over_month, filters), "months", monthly=True)

st.download_button(
    "Download every table as Excel",
    lambda: view.to_excel(revenue.tables(filters, grain, show_bottom=show_bottom)),  # made when asked for
    file_name=f"{file_stem}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    type="primary",
    icon=":material/table_view:",
    key="excel",
)
