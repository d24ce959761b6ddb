"""Audit log: who did what, when, to which record; filter and export."""

from datetime import UTC, datetime, time, timedelta

import pandas as pd
import streamlit as st

from avenrae.db import session_scope
from avenrae.services import audit
from avenrae.services.errors import ServiceError
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

user = signed_in(__file__)
st.title("Audit log")

today = datetime.now(UTC).date()
with session_scope() as session:
    known_actions = audit.actions(session=session, actor_role=user.role)
left, middle, right = st.columns([2, 2, 3])
period = left.date_input("Period", value=(today - timedelta(days=30), today), format="DD/MM/YYYY")
actor_text = middle.text_input("Actor", placeholder="Name or e-mail")
actions = right.multiselect("Action", known_actions, placeholder="All")
left, right = st.columns([4, 1])
target = left.text_input("Target", placeholder="A kind (review, booking, user, practitioner) or an id")
page = right.number_input("Page", min_value=1, value=1, step=1)

if not isinstance(period, tuple) or len(period) != 2:
    st.info("Choose the last day of the period too.")
    st.stop()
filters = audit.AuditFilter(
    actor=actor_text,
    actions=tuple(actions),
    target=target,
    start=datetime.combine(period[0], time(0), UTC),
    end=datetime.combine(period[1] + timedelta(days=1), time(0), UTC),
)
try:
    with session_scope() as session:
        found, total = audit.search(session=session, actor_role=user.role, filters=filters, page=int(page))
except ServiceError as problem:
    feedback.show_error(problem)
    st.stop()

if not found:
    st.info("No entries match.")
    st.stop()
pages = max(1, -(-total // 50))
st.caption(f"{fmt.count(total, 'entry', 'entries')} · page {int(page)} of {pages:,} · times in {fmt.default_zone()}")
st.dataframe(
    pd.DataFrame(
        {
            "When": [fmt.local_time(r.at) for r in found],
            "Actor": [r.actor for r in found],
            "Action": [r.action for r in found],
            "Target": [f"{r.target_type} {r.target_id or ''}".strip() for r in found],
            "Before": [str(r.before or "") for r in found],
            "After": [str(r.after or "") for r in found],
            "Reason": [r.reason or "" for r in found],
        }
    ),
    hide_index=True,
    width="stretch",
)


@st.fragment
def export() -> None:
    if st.button("Prepare CSV of every matching entry"):
        with session_scope() as session:
            data, rows = audit.export_csv(session=session, actor_role=user.role, filters=filters)
        st.download_button(
            f"Download CSV ({fmt.count(rows, 'row')})",
            data,
            file_name=f"avenrae-audit-{today}.csv",
            mime="text/csv",
            type="primary",
        )
        if rows >= audit.EXPORT_LIMIT:
            st.warning(f"Only the newest {audit.EXPORT_LIMIT:,} entries are in the file; narrow the filters.")


export()
