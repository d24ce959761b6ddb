"""How a review looks wherever it is shown: stars, the text as typed, the reply."""

from __future__ import annotations

import json
import uuid

import streamlit as st

from avenrae.db import session_scope
from avenrae.services import reviews, screening
from avenrae.ui import format as fmt


def stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)


def card(review: reviews.ReviewView, *, show_practitioner: bool = False, show_client: bool = True) -> None:
    """One review: who and when, the stars, the comment and reply as plain text (never markup)."""
    who = []
    if show_client:
        who.append(fmt.md(review.client_name))
    if show_practitioner:
        who.append(f"about {fmt.md(review.practitioner_name)}")
    who.append(f"session of {fmt.local_time(review.session_start, pattern='%d %b %Y')}")
    st.markdown(f"**{stars(review.rating)}** · " + " · ".join(who))
    st.text(review.comment)
    if review.reply:
        st.caption("Reply from the practitioner:")
        st.text(review.reply)


def flag_notes(review: reviews.ReviewView) -> list[str]:
    """'Contact details: 082 123 4567' lines, for moderators."""
    return [
        f"{screening.FLAG_LABELS[flag]}: " + ", ".join(f"“{fmt.md(s)}”" for s in snippets[:4])
        for flag, snippets in screening.flag_matches(review.comment).items()
    ]


@st.cache_data(ttl=60, show_spinner=False)
def _latest(practitioner_id: uuid.UUID) -> list[reviews.ReviewView]:
    with session_scope() as session:
        return reviews.published(session=session, practitioner_id=practitioner_id, limit=5)


def latest(practitioner_id: uuid.UUID) -> None:
    """The newest published reviews of a practitioner, folded away."""
    found = _latest(practitioner_id)
    if not found:
        return
    with st.expander(f"What clients say ({fmt.count(len(found), 'recent review')})"):
        for review in found:
            card(review)


def shifted_shortcuts(keys: dict[str, str]) -> None:
    """Let Shift+P do what P does (and so on): Streamlit's button shortcuts match the key
    without modifiers only, and people type capitals too. Clicks the button with that label."""
    labels = {key.upper(): label for key, label in keys.items()}
    st.html(
        "<script>(function () {"
        "const doc = window.parent.document;"
        f"doc.avenraeShiftKeys = {json.dumps(labels)};"
        "if (doc.avenraeShiftListening) return; doc.avenraeShiftListening = true;"
        "doc.addEventListener('keydown', (event) => {"
        "  const label = (doc.avenraeShiftKeys || {})[(event.key || '').toUpperCase()];"
        "  const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes((event.target.tagName || '').toUpperCase());"
        "  if (!label || !event.shiftKey || event.ctrlKey || event.metaKey || event.altKey || typing) return;"
        "  const button = [...doc.querySelectorAll('button[data-testid^=\"stBaseButton\"]')]"
        "    .find((b) => b.innerText.trim().split('\\n')[0].trim() === label);"
        "  if (button && !button.disabled) { event.preventDefault(); button.click(); }"
        "});"
        "})();</script>",
        unsafe_allow_javascript=True,
    )
