"""The few rules the app adds to Streamlit's own look, mostly for small touch screens."""

from __future__ import annotations

import streamlit as st

# A touch screen keeps the last touched element "hovered": a table's tool bar (search,
# download, full screen), drawn above the table on hover, then covered the words above it.
# Where nothing can hover it has a band of its own above the table.
# A select box shows its choice in an input, which cannot wrap: a long choice was cut
# mid-letter ("... with Lwazi Bu"); it and the listed options now end in an ellipsis.
# Keyboard shortcuts (the hint under review moderation, the keys' badges on its buttons)
# are not offered where there is no keyboard to press them.
# The script that brings a box into view (feedback.bring_into_view) takes no room and catches
# no click (a trial found "Save with this choice" dead where its frame lay over the button),
# and the box it brings to the top stops below the bar across the top of the page.
TOUCH_SCREENS = """
@media (hover: none) {
  .stElementContainer:has(> [data-testid="stFullScreenFrame"] > [data-testid="stDataFrame"]) {
    margin-top: 1.75rem;
  }
  .st-key-keyboard_hints, .stButton button kbd { display: none; }
}
[data-testid="stSelectbox"] input { text-overflow: ellipsis; }
.stElementContainer:has(iframe[srcdoc*="avenrae-into-view"]) {
  position: absolute; width: 0; height: 0; overflow: hidden; pointer-events: none;
}
.st-key-booking_choice, .st-key-search_results { scroll-margin-top: 4.5rem; }
[data-testid="stSelectboxVirtualDropdown"] [role="option"] > div {
  display: block; text-overflow: ellipsis; line-height: 28px;
}
"""


def apply() -> None:
    """Add the rules to the page (a style element alone takes no room)."""
    st.html(f"<style>{TOUCH_SCREENS}</style>")
