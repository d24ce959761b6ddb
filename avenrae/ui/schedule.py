"""Pieces of the availability and booking pages: the weekly-hours editor and slot grids."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from avenrae.services import availability

DAY_NAMES = list(availability.DAY_NAMES)
COMMON_ZONES = [
    "Africa/Johannesburg",
    "Africa/Windhoek",
    "Africa/Maputo",
    "Africa/Harare",
    "Africa/Gaborone",
    "Europe/London",
    "UTC",
]


def weekly_hours_editor(weekly: list[availability.HoursRange], *, key: str) -> list[availability.HoursRange]:
    """An editable table of weekly ranges (one row each); returns what it holds now."""
    frame = pd.DataFrame(
        {  # object columns, so an empty week still edits as days and times
            "Day": pd.Series([DAY_NAMES[r.day_of_week] for r in weekly], dtype=object),
            "From": pd.Series([r.start for r in weekly], dtype=object),
            "To": pd.Series([r.end for r in weekly], dtype=object),
        }
    )
    edited = st.data_editor(
        frame,
        key=key,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        column_config={
            "Day": st.column_config.SelectboxColumn("Day", options=DAY_NAMES, required=True),
            "From": st.column_config.TimeColumn("From", format="HH:mm", step=900, required=True),
            "To": st.column_config.TimeColumn("To", format="HH:mm", step=900, required=True),
        },
    )
    ranges = []
    for row in edited.itertuples(index=False):
        if pd.isna(row.Day) and pd.isna(row.From) and pd.isna(row.To):
            continue  # an empty row left behind
        ranges.append(
            availability.HoursRange(
                DAY_NAMES.index(row.Day) if isinstance(row.Day, str) else -1,
                row.From if isinstance(row.From, time) else None,
                row.To if isinstance(row.To, time) else None,
            )
        )
    return ranges


def slot_grid(slots: list[datetime], time_zone: str, first_day, days: int = 14) -> pd.DataFrame:
    """Open times as a grid: a row per time of day, a column per date, ● where a slot is open."""
    zone = ZoneInfo(time_zone)
    local = [slot.astimezone(zone) for slot in slots]
    dates = [first_day + timedelta(days=offset) for offset in range(days)]
    times = sorted({moment.strftime("%H:%M") for moment in local})
    grid = pd.DataFrame("", index=times, columns=[d.strftime("%a %d %b") for d in dates])
    for moment in local:
        column = moment.strftime("%a %d %b")
        if column in grid.columns:
            grid.loc[moment.strftime("%H:%M"), column] = "●"
    return grid
