"""The Home page's parts: its cached reads, its two bar charts and the map of supply."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import folium
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from avenrae.db import session_scope
from avenrae.services import overview
from avenrae.ui import format as fmt
from avenrae.ui import maps

Kind = TypeVar("Kind", bound=str)  # an enum of str values, such as Specialization


@st.cache_data(ttl=60, show_spinner=False)
def health() -> overview.DatabaseHealth:
    with session_scope() as session:
        return overview.database_health(session)


@st.cache_data(ttl=60, show_spinner="Counting practitioners and bookings ...")
def live_figures() -> overview.LiveFigures:
    with session_scope() as session:
        return overview.live_figures(session, fmt.today(), fmt.default_zone())


@st.cache_data(ttl=300, show_spinner=False)
def supply_by_city() -> list[overview.CitySupply]:
    with session_scope() as session:
        return overview.supply_by_city(session)


def _count_chart(counts: Mapping[Kind, int], *, label: str, measure: str, title: str, colour: str) -> go.Figure:
    """One bar a kind (an enum value, shown as words), its count as the height."""
    frame = pd.DataFrame({label: [fmt.label(kind) for kind in counts], measure: list(counts.values())})
    return px.bar(frame, x=label, y=measure, title=title, color_discrete_sequence=[colour]).update_layout(
        height=320, margin=dict(t=48, b=8, l=8, r=8)
    )


def specialization_chart(figures: overview.LiveFigures) -> go.Figure:
    return _count_chart(
        figures.practitioners_by_specialization,
        label="Specialization",
        measure="Practitioners",
        title="Practitioners by specialization",
        colour="#2F6B4F",
    )


def status_chart(figures: overview.LiveFigures) -> go.Figure:
    return _count_chart(
        figures.bookings_by_status, label="Status", measure="Bookings", title="Bookings by status", colour="#B5793A"
    )


def supply_map(supply: list[overview.CitySupply]) -> folium.Map:
    """A circle a city, its area in proportion to the practitioners there (the largest 25 px across)."""
    folium_map = maps.base_map()
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
        ).add_to(folium_map)
    return folium_map
