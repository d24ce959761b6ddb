"""Small widgets several pages share. Each owns its state under the key it is given."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from avenrae.services import spreadsheet
from avenrae.ui import feedback, page
from avenrae.ui import format as fmt


def kept(store: str, defaults: dict[str, Any]) -> None:
    """Let the widgets keyed in `defaults` keep their values across a visit to another page.

    Streamlit forgets a widget's value after a run that does not draw it (another page);
    `remember` copies the values into an entry of their own, which it keeps, and this puts
    them back before the widgets are drawn, or the defaults the first time. The widgets
    must then not be given a value or index of their own (Streamlit would warn that both
    set it).
    """
    saved = st.session_state.setdefault(store, {})
    for key, default in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = saved.get(key, default)


def remember(store: str, keys: Any) -> None:
    """Copy the widgets' values for `kept` to put back after another page."""
    st.session_state[store] = {key: st.session_state[key] for key in keys if key in st.session_state}


def page_number(*, key: str, label: str = "Page") -> int:
    """Which page of a long list to show, from 1."""
    return int(st.number_input(label, min_value=1, value=1, step=1, key=key))


def date_range(
    *, key: str, label: str = "Period", days: int = 30, today: date | None = None
) -> tuple[date, date] | None:
    """A first and a last day (the last `days` days, both ends counted, to start with: the
    same period as Revenue's "Last 30 days"); None, with a hint, until both ends are chosen."""
    today = today or fmt.today()
    chosen = st.date_input(label, value=(today - timedelta(days=days - 1), today), format="DD/MM/YYYY", key=key)
    if not isinstance(chosen, tuple) or len(chosen) != 2:
        st.info("Choose the last day of the period too.")
        return None
    return chosen[0], chosen[1]


def keyset_page(*, key: str, scope: object) -> tuple[Any, int]:
    """Where the page to show starts (None: at the first row) and its number, from 1, for a
    list read a page at a time after the last row shown. Other filters (`scope`) start over."""
    state = st.session_state.setdefault(key, {"scope": scope, "stack": []})
    if state["scope"] != scope:
        state["scope"], state["stack"] = scope, []
    stack = state["stack"]
    return (stack[-1] if stack else None), len(stack) + 1


def keyset_buttons(*, key: str, following: Any) -> None:
    """Previous and Next under a list shown by keyset_page; `following`: where the next page
    starts (None on the last page)."""
    stack = st.session_state[key]["stack"]
    left, right, _ = st.columns([1, 1, 6])
    left.button("← Previous", key=f"{key}_previous", disabled=not stack, on_click=stack.pop, width="stretch")
    right.button(
        "Next →",
        key=f"{key}_next",
        disabled=following is None,
        on_click=stack.append,
        args=(following,),
        width="stretch",
    )


@st.fragment
def csv_export(prepare: Callable[[Session], tuple[str, int]], *, name: str, noun: str, limit: int) -> None:
    """A button that reads every matching row (at most `limit`) only when asked, then a
    download of the file (UTF-8 with a byte-order mark, cells made inert by the service)."""
    if st.button(f"Prepare CSV of every matching {noun}"):
        page.still_allowed()
        data, rows = feedback.read(prepare)
        st.download_button(
            f"Download CSV ({fmt.count(rows, 'row')})",
            spreadsheet.csv_file(data),
            file_name=f"avenrae-{name}-{fmt.today()}.csv",
            mime="text/csv",
            type="primary",
        )
        if rows >= limit:
            st.warning(f"Only the newest {limit:,} are in the file; narrow the filters.")


def plain_table(table: pd.DataFrame) -> None:
    """st.table, whose cells Streamlit draws as markdown: every text cell is escaped first, so
    a name like "![x](https://…)" reads as written instead of fetching an image or linking."""
    st.table(table.map(lambda cell: fmt.md(cell) if isinstance(cell, str) else cell))
