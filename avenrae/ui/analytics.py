"""What the analytics pages share: cached reads, tables as shown, exports of exactly those."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from avenrae.db import analytics_scope
from avenrae.services import analytics, spreadsheet
from avenrae.services.errors import ServiceError
from avenrae.ui import feedback
from avenrae.ui import format as fmt

# Figures cached this long; the rollups themselves change at most every refresh.
CACHE_SECONDS = 300

DIMENSION_LABELS = {
    "period": "Period",
    "specialization": "Specialization",
    "province": "Province",
    "city": "City",
    "meeting_type": "Meeting type",
    "practitioner": "Practitioner",
    "partial": "Partly in the period",
    "gross_growth": "Gross growth (%)",
    "platform_fees_growth": "Fee growth (%)",
    "bookings_growth": "Bookings growth (%)",
}
PERCENT_COLUMNS = ("cancellation_rate", "no_show_rate", "gross_growth", "platform_fees_growth", "bookings_growth")


def read(query: Callable[..., Any], *args: Any) -> Any:
    """Run one analytics query on the read-only connection; a ServiceError is shown and stops the page."""
    try:
        return _cached(query.__name__, args, _stamp())
    except ServiceError as problem:
        feedback.show_error(problem)
        st.stop()


def _stamp() -> str:
    """Changes whenever the rollups are refreshed, so cached figures never outlive them."""
    fresh = freshness()
    return fresh.refreshed_at.isoformat() if fresh else "never"


@st.cache_data(ttl=60, show_spinner=False)
def freshness() -> analytics.Freshness | None:
    with analytics_scope() as connection:
        return analytics.freshness(connection)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Adding up ...", max_entries=200)
def _cached(name: str, args: tuple[Any, ...], stamp: str) -> Any:
    with analytics_scope() as connection:
        return getattr(analytics, name)(connection, *args)


def freshness_note() -> analytics.Freshness:
    """Say how fresh the figures are (stopping the page if they were never computed)."""
    fresh = freshness()
    if fresh is None:
        st.warning(
            "The figures have not been computed yet. They appear after the first analytics refresh: "
            "`python -m avenrae jobs refresh-analytics` (the app server runs it every ten minutes)."
        )
        st.stop()
    age = datetime.now(fresh.refreshed_at.tzinfo) - fresh.refreshed_at
    minutes = int(age.total_seconds() // 60)
    ago = "just now" if minutes < 1 else f"{fmt.count(minutes, 'minute')} ago" if minutes < 120 else "hours ago"
    st.caption(
        f":material/update: Figures as of {fmt.local_time(fresh.refreshed_at)} ({ago}); refreshed every ten "
        f"minutes.{replica_note(fresh)} Days are in {fmt.default_zone()}."
    )
    return fresh


def replica_note(fresh: analytics.Freshness) -> str:
    """What to say about the read replica the figures come from (nothing on the primary)."""
    if fresh.replica_unreachable:
        return " Read from the main database while the analytics replica is not answering."
    lag_seconds = fresh.replica_lag_seconds
    if lag_seconds is None:
        return ""
    if lag_seconds < 1:
        return " Read from the replica, which is up to date."
    return f" Read from the replica, {fmt.count(round(lag_seconds), 'second')} behind the live data."


def shown(frame: pd.DataFrame, *, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """A figures frame as the page shows it (and exports it): labelled columns, money in
    rand to the cent, rates and growth as percentages, names of enums as words."""
    table = frame.drop(columns=[c for c in (*drop, "practitioner_id") if c in frame.columns]).copy()
    for column in table.columns:
        if column in analytics.MONEY_FIGURES:
            table[column] = table[column].map(lambda v: round(float(v), 2))
        elif column in PERCENT_COLUMNS:
            table[column] = (table[column].astype(float) * 100).round(1)
        elif column == "average_rating":
            table[column] = table[column].astype(float).round(2)
        elif column in ("specialization", "meeting_type"):
            table[column] = table[column].map(fmt.label)
        elif column == "period":
            table[column] = pd.to_datetime(table[column]).dt.date
    labels = {**analytics.FIGURE_LABELS, **DIMENSION_LABELS}
    labels.update({c: f"{analytics.FIGURE_LABELS[c]} (%)" for c in ("cancellation_rate", "no_show_rate")})
    return table.rename(columns={c: labels.get(c, c) for c in table.columns})


def is_money(column: object) -> bool:
    """A column of rand, as `shown` labels them ("Gross bookings value (R)")."""
    return str(column).endswith("(R)")


def column_config(table: pd.DataFrame, *, monthly: bool = False) -> dict[str, Any]:
    """How each column reads on screen; `monthly`: its periods are months ("Dec 2025", not "1 Dec 2025")."""
    config: dict[str, Any] = {}
    for column in table.columns:
        if is_money(column):
            config[column] = st.column_config.NumberColumn(column, format="R%,.2f")  # as fmt.rand writes it
        elif column.endswith("(%)"):
            config[column] = st.column_config.NumberColumn(column, format="%.1f%%")
        elif column == "Period":
            config[column] = st.column_config.DateColumn(column, format="MMM YYYY" if monthly else "D MMM YYYY")
        elif table[column].dtype.kind in "iu":  # counts: 10,179 as the headlines write them
            config[column] = st.column_config.NumberColumn(column, format="%,d")
    return config


def table(name: str, frame: pd.DataFrame, *, key: str, file_stem: str, monthly: bool = False) -> None:
    """Show a table and offer it as CSV, exactly as shown."""
    st.dataframe(
        frame,
        hide_index=True,
        placeholder=fmt.MISSING,
        width="stretch",
        column_config=column_config(frame, monthly=monthly),
    )
    st.download_button(
        f"CSV: {name}",
        to_csv(frame),
        file_name=f"{file_stem}-{key}.csv",
        mime="text/csv",
        key=f"csv_{key}",
        icon=":material/download:",
    )


def to_csv(frame: pd.DataFrame) -> bytes:
    """The table as CSV, with any text a spreadsheet would run as a formula made inert,
    amounts to the cent ("3741.00", not "3741.0"), yes/no for a mark (not True/False) and
    every other figure as shown (a latitude keeps its three places)."""
    safe = marks_as_words(spreadsheet.frame(frame))
    for column in safe.columns:
        if is_money(column):
            safe[column] = safe[column].map(lambda amount: amount if pd.isna(amount) else f"{float(amount):.2f}")
    return spreadsheet.csv_file(safe.to_csv(index=False))


def marks_as_words(frame: pd.DataFrame) -> pd.DataFrame:
    """Yes/no columns read "yes" and "no", as on screen (never True/False)."""
    for column in frame.columns:
        if is_mark(frame[column]):
            frame[column] = frame[column].map({True: "yes", False: "no"})
    return frame


def is_mark(values: pd.Series) -> bool:
    """A yes/no column: bools, with or without unknowns (which pandas keeps as objects)."""
    if pd.api.types.is_bool_dtype(values):
        return True
    known = values.dropna()
    return values.dtype == object and not known.empty and all(isinstance(v, bool | np.bool_) for v in known)


def to_excel(sheets: dict[str, pd.DataFrame]) -> bytes:
    """One workbook, one sheet per table (sheet names cut to Excel's 31 characters), read as
    on screen: amounts stay numbers shown to the cent with thousands separated, yes/no marks
    in words, each column as wide as its header, and the header row kept in view."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            safe = marks_as_words(spreadsheet.frame(frame))
            safe.to_excel(writer, sheet_name=name[:31], index=False)
            sheet = writer.sheets[name[:31]]
            sheet.freeze_panes = "A2"
            for header, cells in zip(safe.columns, sheet.iter_cols(), strict=True):
                sheet.column_dimensions[cells[0].column_letter].width = max(12, len(str(header)) + 2)
                if is_money(header):
                    for cell in cells[1:]:
                        cell.number_format = "#,##0.00"
    return buffer.getvalue()
