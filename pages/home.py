"""Home: is the platform healthy, and how is it doing right now."""

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
fmt.rand_metrics(
    cols[2:],
    [
        ("Charged this month", figures.month.charged, None),
        ("Platform fees", figures.month.platform_fees, "Fee share of charges, less refunds"),
        ("Refunded", figures.month.refunded, None),
    ],
)

if figures.practitioners == 0:
    st.info("No practitioners yet. Load demo data with `python -m avenrae db seed`.")
    st.stop()

left, right = st.columns(2)
# Charts to glance at: no zoom or pan buttons, which a phone drew over their titles.
left.plotly_chart(overview.specialization_chart(figures), width="stretch", config={"displayModeBar": False})
right.plotly_chart(overview.status_chart(figures), width="stretch", config={"displayModeBar": False})

st.subheader("Where practitioners are")
maps.show(overview.supply_map(supply), key="home_supply_map", height=420, returned_objects=[])

with st.expander("Database health"):
    st.write(
        f"PostgreSQL {health.server_version} · PostGIS {health.postgis_version} · "
        f"schema {health.schema_revision or 'not migrated'} · {health.database_size} · "
        f"round trip {health.round_trip_ms:.1f} ms"
    )
