"""Home: is the platform healthy, and how is it doing right now."""

import folium
import pandas as pd
import plotly.express as px
import streamlit as st

from avenrae.ui import format as fmt
from avenrae.ui import maps, overview
from avenrae.ui.page import signed_in

signed_in(__file__)
st.title("Avenrae operations")

figures = overview.live_figures()
health = overview.health()
supply = overview.supply_by_city()

month = figures.month.month_start.strftime("%B %Y")
if figures.counted_at is None:
    st.caption(f"Live figures · money this month ({month}) comes from the payments ledger")
else:
    st.caption(
        f"Practitioners, bookings and money this month ({month}) as the analytics refresh of "
        f"{fmt.local_time(figures.counted_at)} counted them (every ten minutes)"
    )
cols = st.columns(5)
cols[0].metric("Active practitioners", fmt.count(figures.practitioners))
cols[1].metric("Bookings, all time", fmt.count(figures.bookings))
fmt.rand_metric(cols[2], f"Charged in {month}", figures.month.charged)
fmt.rand_metric(cols[3], "Platform fees", figures.month.platform_fees, help="Fee share of charges, less refunds")
fmt.rand_metric(cols[4], "Refunded", figures.month.refunded)

if figures.practitioners == 0:
    st.info("No practitioners yet. Load demo data with `python -m avenrae db seed`.")
    st.stop()

left, right = st.columns(2)
specialization = pd.DataFrame(
    {
        "Specialization": [fmt.label(s) for s in figures.practitioners_by_specialization],
        "Practitioners": list(figures.practitioners_by_specialization.values()),
    }
)
left.plotly_chart(
    px.bar(
        specialization,
        x="Specialization",
        y="Practitioners",
        title="Practitioners by specialization",
        color_discrete_sequence=["#2F6B4F"],
    ).update_layout(height=320, margin=dict(t=48, b=8, l=8, r=8)),
    width="stretch",
)
status = pd.DataFrame(
    {
        "Status": [fmt.label(s) for s in figures.bookings_by_status],
        "Bookings": list(figures.bookings_by_status.values()),
    }
)
right.plotly_chart(
    px.bar(
        status, x="Status", y="Bookings", title="Bookings by status", color_discrete_sequence=["#B5793A"]
    ).update_layout(height=320, margin=dict(t=48, b=8, l=8, r=8)),
    width="stretch",
)

st.subheader("Where practitioners are")
supply_map = maps.base_map()
largest = max(city.practitioners for city in supply)
for city in supply:
    folium.CircleMarker(
        location=(city.latitude, city.longitude),
        radius=3 + 22 * (city.practitioners / largest) ** 0.5,
        color="#2F6B4F",
        fill=True,
        fill_opacity=0.55,
        weight=1,
        tooltip=folium.Tooltip(
            f"{fmt.escape(city.city)}, {fmt.escape(city.province)}: "
            f"{city.practitioners:,} practitioners ({city.verified:,} verified)"
        ),
    ).add_to(supply_map)
maps.show(supply_map, key="home_supply_map", height=420, returned_objects=[])

with st.expander("Database health"):
    st.write(
        f"PostgreSQL {health.server_version} · PostGIS {health.postgis_version} · "
        f"schema {health.schema_revision or 'not migrated'} · {health.database_size} · "
        f"round trip {health.round_trip_ms:.1f} ms"
    )
