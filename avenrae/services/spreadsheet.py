"""Cells that a spreadsheet cannot run: every CSV and Excel export goes through here.

A cell whose text begins with = + - @ (or a tab or carriage return, which some
spreadsheets skip before reading a formula) is run as a formula when the file is opened:
a practitioner named `=HYPERLINK("http://evil","x")` would become a live link in staff's
spreadsheet. As OWASP advises (CSV Injection), such text gets a leading apostrophe, which
makes the spreadsheet show it as text. Numbers are left alone: -5 is a number, not a formula.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """The value as a spreadsheet should read it: text that would be a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def frame(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of the table with every text cell made inert (column names too)."""
    safe = table.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(cell)
    return safe.rename(columns={c: cell(c) for c in safe.columns if isinstance(c, str)})


def csv_file(text: str) -> bytes:
    """CSV text as the file to download: UTF-8 with a byte-order mark, which is how Excel
    knows it is UTF-8 (without it, "Mkhizé" and "—" open garbled in the machine's code page)."""
    return text.encode("utf-8-sig")
