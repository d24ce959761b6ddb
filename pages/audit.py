"""Audit log: who did what, when, to which record; filter and export."""

import pandas as pd
import streamlit as st

from avenrae.services import audit, counting
from avenrae.ui import feedback, widgets
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

PAGE_SIZE = 50

user = signed_in(__file__)
st.title("Audit log")

known_actions = feedback.read(lambda session: audit.actions(session=session, actor_role=user.role))
left, middle, right = st.columns([2, 2, 3])
with left:
    period = widgets.date_range(key="audit_period")
actor_text = middle.text_input("Actor", placeholder="Name or e-mail")
actions = right.multiselect("Action", known_actions, format_func=fmt.action, placeholder="All")
left, right = st.columns([4, 1])
target = left.text_input(
    "Target", placeholder="A kind (review, booking, user, practitioner), an id, or a booking's AVN- reference"
)
with right:
    page = widgets.page_number(key="audit_page")

if period is None:
    st.stop()
start, end = fmt.day_bounds(*period)
filters = audit.AuditFilter(actor=actor_text, actions=tuple(actions), target=target, start=start, end=end)


def entries_and_names(session):
    """A page of entries, and what their targets are called."""
    entries, matching = audit.search(
        session=session, actor_role=user.role, filters=filters, page=page, page_size=PAGE_SIZE
    )
    return entries, matching, audit.target_names(session, entries)


found, total, names = feedback.read(entries_and_names)

pages = counting.pages(total, PAGE_SIZE)
if not found:
    st.info(
        "No entries match."
        if total == 0
        else f"{fmt.count(total, 'entry', 'entries')} match, on {fmt.count(pages, 'page')}: there is no page {page}."
    )
    st.stop()
st.caption(f"{fmt.count(total, 'entry', 'entries')} · page {page} of {pages:,} · times in {fmt.default_zone()}")
st.dataframe(
    pd.DataFrame(
        {
            "When": [fmt.local_time(r.at) for r in found],
            "Actor": [r.actor for r in found],
            "Action": [fmt.action(r.action) for r in found],
            "Target": [audit.target_words(r, names) for r in found],
            "Before": [fmt.fields(r.before) for r in found],
            "After": [fmt.fields(r.after) for r in found],
            "Reason": [r.reason or "" for r in found],
        }
    ),
    hide_index=True,
    placeholder=fmt.MISSING,
    width="stretch",
)


widgets.csv_export(
    lambda session: audit.export_csv(session=session, actor_role=user.role, filters=filters),
    name="audit",
    noun="entry",
    limit=audit.EXPORT_LIMIT,
)
