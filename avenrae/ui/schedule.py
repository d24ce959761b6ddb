"""Pieces of the availability and booking pages: the weekly-hours editor and slot grids."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from avenrae.services import availability
from avenrae.services.validation import FieldError
from avenrae.ui import feedback
from avenrae.ui import format as fmt

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


def hours_text(ranges: list[tuple[time, time]]) -> str:
    return ", ".join(f"{start:%H:%M}-{availability.clock(end)}" for start, end in ranges)


def weekly_hours_inputs(weekly: list[availability.HoursRange], *, key: str) -> dict[int, str]:
    """One line of hours per weekday ("09:00-12:00, 14:00-17:00"; empty: closed), as typed.
    `feedback.clear` of the names `{key}_0` to `{key}_6` shows the saved hours again."""
    by_day: dict[int, list[tuple[time, time]]] = {}
    for item in weekly:
        by_day.setdefault(item.day_of_week, []).append((item.start, item.end))
    typed = {}
    for day, name in enumerate(DAY_NAMES):
        left, right = st.columns([1, 4], vertical_alignment="center")
        left.markdown(f"**{name}**")
        typed[day] = right.text_input(
            name,
            value=hours_text(by_day.get(day, [])),
            key=feedback.key(f"{key}_{day}"),
            placeholder="Closed",
            label_visibility="collapsed",
        )
    return typed


def parse_week(typed: dict[int, str]) -> tuple[list[availability.HoursRange], list[tuple[int, str]]]:
    """The typed week as ranges, and each day that could not be read with what is wrong."""
    ranges, unreadable = [], []
    for day, text in typed.items():
        try:
            ranges += [
                availability.HoursRange(day, start, end)
                for start, end in availability.parse_day_hours(text, day_name=DAY_NAMES[day])
            ]
        except FieldError as error:
            unreadable.append((day, str(error)))
    return ranges, unreadable


def affected_list(affected: list[availability.Affected], time_zone: str) -> None:
    """The booked sessions a change would leave out, each named, for the decision that follows."""
    for booking in affected:
        st.markdown(
            f"- {booking.session_start.astimezone(ZoneInfo(time_zone)):%a %d %b %Y, %H:%M} · "
            f"{fmt.md(booking.client_name)} · {fmt.label(booking.status)}"
        )


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
