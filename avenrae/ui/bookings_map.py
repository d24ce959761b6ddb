"""The Bookings map's parts: its filters, the hexagon layers and their legend, and the
breakdown of one hexagon. Figures come from `services.analytics` through `ui.analytics`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import branca.colormap as cm
import folium
import pandas as pd
import streamlit as st

from avenrae import geo
from avenrae import months as calendar_months
from avenrae.models import BookingStatus, Specialization
from avenrae.services import analytics
from avenrae.ui import analytics as view
from avenrae.ui import format as fmt
from avenrae.ui import maps

MEASURES = {"bookings": "Bookings", "paid": "Amount paid"}


@dataclass(frozen=True)
class Choice:
    filters: analytics.MapFilters
    measure: str  # "bookings" or "paid"
    show_supply: bool
    show_demand: bool

    @property
    def value_label(self) -> str:
        return "Bookings" if self.measure == "bookings" else "Amount paid (R)"

    @property
    def file_stem(self) -> str:
        return f"avenrae-map-{self.filters.first_month:%Y-%m}-{self.filters.last_month:%Y-%m}"


def controls() -> Choice:
    """Months (the last twelve to start with), statuses, specializations, the measure, layers."""
    this_month = fmt.today().replace(day=1)
    months: list[date] = calendar_months.months_up_to(
        calendar_months.next_month(calendar_months.next_month(this_month)), 39
    )
    top = st.columns([1.2, 1.2, 2, 2, 1.4])
    first = top[0].selectbox(
        "From", months, index=months.index(this_month) - 11, format_func=lambda m: f"{m:%b %Y}", key="map_first"
    )
    last = top[1].selectbox(
        "To", months, index=months.index(this_month), format_func=lambda m: f"{m:%b %Y}", key="map_last"
    )
    statuses = top[2].multiselect(
        "Status", list(BookingStatus), format_func=fmt.label, placeholder="All", key="map_status"
    )
    specializations = top[3].multiselect(
        "Specialization", list(Specialization), format_func=fmt.label, placeholder="All", key="map_specs"
    )
    measure = top[4].radio("Colour by", list(MEASURES), format_func=MEASURES.get, horizontal=True, key="map_measure")
    layers = st.columns([1, 1, 3])
    show_supply = layers[0].toggle("Practitioner supply", value=False, key="map_supply")
    show_demand = layers[1].toggle("Unmet demand", value=True, key="map_demand")
    layers[2].caption(
        f"Each hexagon covers about {analytics.HEX_AREA_KM2:,} km². Bookings count where the practitioner "
        "practises, by the month of the session (sessions still to come in these months too, unlike Revenue & "
        "fees, which counts up to today); amount paid is what clients paid for those sessions less "
        "refunds (payments ledger). Unmet demand: searches from the search page that found nobody."
    )
    filters = analytics.MapFilters(first, last, tuple(statuses), tuple(specializations))
    return Choice(filters, measure or "bookings", show_supply, show_demand)


def draw(
    choice: Choice, booked: analytics.CellLayer, supply: analytics.CellLayer, unmet: analytics.CellLayer
) -> folium.Map:
    # Opens on what is drawn (the whole country when nothing is), in quarter zoom steps: a whole
    # step below the best fit left the hexagons specks on a phone.
    folium_map = maps.base_map(location=(-30.2, 25.2), zoom=6, zoom_snap=0.25)
    shown = [booked, *([supply] if choice.show_supply else []), *([unmet] if choice.show_demand else [])]
    folium_map.fit_bounds(_bounds(shown), padding=(10, 10), max_zoom=10)
    if booked.cells:
        # On a square-root scale, so a few busy city hexagons do not wash out the rest.
        top_value = max(c.value for c in booked.cells) ** 0.5 or 1
        scale = cm.LinearColormap(["#F6C35B", "#E07B39", "#B5483B", "#6E1F2A"], vmin=0, vmax=top_value)
        folium.GeoJson(
            booked.feature_collection(choice.value_label),
            name="Bookings",
            style_function=lambda f: {
                "fillColor": scale(f["properties"]["value"] ** 0.5),
                "color": "#6E1F2A",
                "weight": 0.6,
                "fillOpacity": 0.8,
            },
            highlight_function=lambda f: {"weight": 2, "color": "#1B1B1B"},
            tooltip=folium.GeoJsonTooltip(fields=[choice.value_label], localize=True),
        ).add_to(folium_map)
    if choice.show_supply and supply.cells:
        group = folium.FeatureGroup(name="Practitioner supply")
        for cell in supply.cells:
            folium.CircleMarker(
                cell.centre, radius=2 + min(cell.value, 400) ** 0.5 / 2, color="#2B7BB9", weight=1, fill=True,
                fill_opacity=0.35, tooltip=f"{fmt.count(int(cell.value), 'practitioner')}",
            ).add_to(group)  # fmt: skip
        group.add_to(folium_map)
    if choice.show_demand and unmet.cells:
        group = folium.FeatureGroup(name="Unmet demand")
        for cell in unmet.cells:
            folium.CircleMarker(
                cell.centre, radius=3 + min(cell.value, 100) ** 0.5 * 1.5, color="#6B4FA0", weight=2,
                fill=False, dash_array="4 3",
                tooltip=f"{fmt.count(int(cell.value), 'search', 'searches')} found nobody",
            ).add_to(group)  # fmt: skip
        group.add_to(folium_map)
    folium.LayerControl(collapsed=False).add_to(folium_map)
    return folium_map


def _bounds(layers: list[analytics.CellLayer]) -> list[tuple[float, float]]:
    """South-west and north-east corners around every hexagon of the layers."""
    corners = [corner for layer in layers for cell in layer.cells for corner in cell.polygon["coordinates"][0]]
    if not corners:
        return maps.SOUTH_AFRICA_BOUNDS
    latitudes, longitudes = [c[1] for c in corners], [c[0] for c in corners]
    return [(min(latitudes), min(longitudes)), (max(latitudes), max(longitudes))]


def legend(choice: Choice, booked: analytics.CellLayer) -> None:
    """The legend under the map (branca's own needs d3 from the internet)."""
    lowest, highest = min(c.value for c in booked.cells), max(c.value for c in booked.cells)
    shown_value = fmt.rand if choice.measure == "paid" else (lambda v: fmt.count(int(v)))
    st.markdown(
        "<div style='display:flex;align-items:center;gap:.6rem;font-size:.85rem'>"
        f"<span>{choice.value_label}: {shown_value(lowest)}</span>"
        "<span style='flex:0 0 180px;height:10px;border-radius:3px;"
        "background:linear-gradient(90deg,#F6C35B,#E07B39,#B5483B,#6E1F2A)'></span>"
        f"<span>{shown_value(highest)}</span>"
        + ("<span style='margin-left:1rem;color:#2B7BB9'>● practitioners</span>" if choice.show_supply else "")
        + ("<span style='color:#6B4FA0'>◌ searches that found nobody</span>" if choice.show_demand else "")
        + "</div>",
        unsafe_allow_html=True,
    )


def hexagon_picker(events: dict, booked: analytics.CellLayer) -> tuple[str | None, list[analytics.Cell]]:
    """A click on the map, or a pick from the busiest hexagons, chooses a hexagon; with the busiest."""
    clicked = events.get("last_clicked")
    if clicked and clicked != st.session_state.get("map_last_click"):
        st.session_state["map_last_click"] = clicked
        i, j = view.read(analytics.cell_of, clicked["lat"], clicked["lng"])
        st.session_state["map_cell"] = analytics.cell_key(i, j)
    busiest = sorted(booked.cells, key=lambda c: (-c.value, c.i, c.j))[:25]
    by_cell = {c.key: c for c in booked.cells}
    options: list[str | None] = [None, *(c.key for c in busiest)]
    if st.session_state.get("map_cell") not in options:
        options.append(st.session_state["map_cell"])

    def describe(key: str | None) -> str:
        if key is None:
            return "Click a hexagon on the map, or pick one of the busiest"
        cell = by_cell.get(key)
        if cell is None:
            return f"{hexagon_name(key)} · no bookings"
        return f"{hexagon_name(key, cell)} · {fmt.count(cell.bookings, 'booking')} · {fmt.rand(cell.paid)} paid"

    return st.selectbox("Hexagon", options, format_func=describe, key="map_cell"), busiest


def hexagon_name(key: str, cell: analytics.Cell | None = None) -> str:
    """A hexagon as people know the area: "Around Durban, KwaZulu-Natal (16:-79)"; the grid
    position keeps two hexagons around one city apart."""
    if cell is None:
        latitude, longitude = view.read(analytics.cell_centre, *analytics.cell_of_key(key))
    else:
        latitude, longitude = cell.centre
    area = geo.area_name(latitude, longitude)
    return f"Around {area} ({key})" if area else f"Hexagon {key}"


def hexagon_breakdown(choice: Choice, picked: str) -> None:
    cell_i, cell_j = analytics.cell_of_key(picked)
    breakdown = view.read(analytics.cell_breakdown, choice.filters, cell_i, cell_j)
    searches = view.read(analytics.unmet_searches_in_cell, choice.filters, cell_i, cell_j)
    st.subheader(hexagon_name(picked))
    st.caption(f"{fmt.count(searches, 'search', 'searches')} from here found nobody in these months.")
    table = breakdown.assign(
        specialization=breakdown["specialization"].map(fmt.label),
        paid=breakdown["paid"].map(lambda v: round(float(v), 2)),
    ).rename(
        columns={
            "specialization": "Specialization",
            **{s.value: fmt.label(s.value) for s in BookingStatus},
            "bookings": "Bookings",
            "paid": "Amount paid (R)",
            "practitioners": "Practitioners now",
        }
    )
    view.table("this hexagon", table, key=f"cell_{cell_i}_{cell_j}", file_stem=choice.file_stem)


def busiest_table(choice: Choice, busiest: list[analytics.Cell]) -> None:
    st.subheader("Busiest hexagons")
    if not busiest:
        st.caption("None in these months.")
        return
    centres = [c.centre for c in busiest]
    view.table(
        "busiest hexagons",
        pd.DataFrame(
            {
                "Area": [geo.area_name(lat, lon) or "" for lat, lon in centres],
                "Hexagon": [f"({c.key})" for c in busiest],  # as its name writes it; "-18:-89" reads as a formula
                "Latitude": [round(lat, 3) for lat, _ in centres],
                "Longitude": [round(lon, 3) for _, lon in centres],
                "Bookings": [c.bookings for c in busiest],
                "Amount paid (R)": [round(float(c.paid), 2) for c in busiest],
            }
        ),
        key="busiest",
        file_stem=choice.file_stem,
    )
