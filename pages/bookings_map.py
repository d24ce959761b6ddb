"""Bookings map: where sessions happen, where practitioners are and where searches find
nobody, on a grid of equal-area hexagons. Read-only."""

import streamlit as st

from avenrae.services import analytics
from avenrae.ui import analytics as view
from avenrae.ui import bookings_map as hexmap
from avenrae.ui import format as fmt
from avenrae.ui import maps
from avenrae.ui.page import signed_in

signed_in(__file__)
st.title("Bookings map")
view.freshness_note()

choice = hexmap.controls()
booked: analytics.CellLayer = view.read(analytics.booking_cells, choice.filters, choice.measure)
supply: analytics.CellLayer = view.read(analytics.supply_cells, choice.filters.specializations)
unmet: analytics.CellLayer = view.read(analytics.unmet_demand_cells, choice.filters)

summary = st.columns(4)
summary[0].metric("Bookings", fmt.count(sum(c.bookings for c in booked.cells)))
fmt.rand_metric(summary[1], "Amount paid", sum((c.paid for c in booked.cells), start=0))
summary[2].metric("Hexagons with bookings", fmt.count(len(booked.cells)))
summary[3].metric("Unmet searches", fmt.count(int(unmet.total)))

if not booked.cells:
    first, last = choice.filters.first_month, choice.filters.last_month
    st.info(
        f"No bookings from {first:%b %Y} to {last:%b %Y} with these filters. "
        "The supply and unmet demand layers still show."
    )
events = maps.show(
    hexmap.draw(choice, booked, supply, unmet), key="bookings_map", height=560, returned_objects=["last_clicked"]
)
if booked.cells:
    hexmap.legend(choice, booked)

picked, busiest = hexmap.hexagon_picker(events, booked)
if picked is not None:
    hexmap.hexagon_breakdown(choice, picked)
hexmap.busiest_table(choice, busiest)
