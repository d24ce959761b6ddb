"""Small widgets several pages share. Each owns its state under the key it is given."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st


def page_number(*, key: str, label: str = "Page") -> int:
    """Which page of a long list to show, from 1."""
    return int(st.number_input(label, min_value=1, value=1, step=1, key=key))


def date_range(
    *, key: str, label: str = "Period", days: int = 30, today: date | None = None
) -> tuple[date, date] | None:
    """A first and a last day (the last `days` days to start with); None, with a hint, until
    both ends are chosen."""
    today = today or date.today()
    chosen = st.date_input(label, value=(today - timedelta(days=days), today), format="DD/MM/YYYY", key=key)
    if not isinstance(chosen, tuple) or len(chosen) != 2:
        st.info("Choose the last day of the period too.")
        return None
    return chosen[0], chosen[1]
