"""Cached reads behind the Home page."""

from __future__ import annotations

import streamlit as st

from avenrae.db import session_scope
from avenrae.services import overview
from avenrae.ui import format as fmt


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
