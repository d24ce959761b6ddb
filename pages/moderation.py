"""Review moderation: one review at a time, flags explained, one key per decision."""

import pandas as pd
import streamlit as st

from avenrae.db import session_scope
from avenrae.models import ReviewStatus
from avenrae.services import flows, reviews
from avenrae.services.bookings import Actor
from avenrae.services.errors import ServiceError
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui import reviews as ui_reviews
from avenrae.ui.page import signed_in

user = signed_in(__file__)
actor = Actor(user.id, user.role)
st.title("Review moderation")
feedback.show_flash()

COMMON_REASONS = [
    "",
    "Contains contact details",
    "Claims a health outcome we cannot publish as fact",
    "Abusive or offensive language",
    "Not about the session",
    "Personal information about someone else",
]
VIEWS = {
    "Waiting (pending)": ReviewStatus.PENDING,
    "Published (to hide)": ReviewStatus.PUBLISHED,
    "Hidden (to publish again)": ReviewStatus.HIDDEN,
}
FIRST = next(iter(VIEWS))
# The queue choice on a row of its own: its three buttons need the width.
view = st.segmented_control("Queue", list(VIEWS), default=FIRST, key="moderation_view") or FIRST
middle, right = st.columns([4, 1], vertical_alignment="bottom")
words = middle.text_input("Client or practitioner", placeholder="Part of a name or e-mail", key="moderation_text")
flagged_only = right.toggle("Flagged only", key="moderation_flagged")
status = VIEWS[view]
skipped: set = st.session_state.setdefault("moderation_skipped", set())

try:
    with session_scope() as session:
        queued, total = reviews.queue(
            session=session, actor=actor, filters=reviews.QueueFilter(status, flagged_only, words), limit=100
        )
except ServiceError as problem:
    feedback.show_error(problem)
    st.stop()

waiting = [r for r in queued if r.id not in skipped] or queued
if not waiting:
    st.success("Nothing waiting here. Well done.")
    st.stop()

current = waiting[0]
st.caption(f"{fmt.rows(total, total.exact, 'review')} in this queue · flagged ones first, then oldest first")
with st.container(border=True):
    ui_reviews.card(current, show_practitioner=True)
    st.caption(f"Written {fmt.local_time(current.created_at)}")
    notes = ui_reviews.flag_notes(current)
    if notes:
        st.warning("**Flags**\n\n" + "\n".join(f"- {note}" for note in notes))
    else:
        st.caption("No automatic flags.")
    reason_pick = st.selectbox(
        "Reason (needed to reject or hide; the client sees it)", COMMON_REASONS, key=f"reason_pick_{current.id}"
    )
    reason_typed = st.text_input("Or type a reason", key=f"reason_typed_{current.id}")
    reason = reason_typed.strip() or reason_pick
    buttons = st.columns(4)
    if status != ReviewStatus.PUBLISHED and buttons[0].button(
        "Publish", type="primary", shortcut="P", help="Shortcut: P", width="stretch"
    ):
        feedback.attempt(
            lambda s: flows.moderate_review(session=s, actor=actor, review_id=current.id, action="publish"),
            success="Published. The rating is updated.",
        )
    if status == ReviewStatus.PENDING and buttons[1].button(
        "Reject", shortcut="J", help="Shortcut: J", width="stretch"
    ):
        feedback.attempt(
            lambda s: flows.moderate_review(
                session=s, actor=actor, review_id=current.id, action="reject", reason=reason
            ),
            success="Rejected; the client has been told why.",
        )
    if status == ReviewStatus.PUBLISHED and buttons[1].button(
        "Hide", shortcut="H", help="Shortcut: H", width="stretch"
    ):
        feedback.attempt(
            lambda s: flows.moderate_review(session=s, actor=actor, review_id=current.id, action="hide", reason=reason),
            success="Hidden; the rating is updated and the client has been told why.",
        )
    if len(waiting) > 1 and buttons[3].button("Next", shortcut="N", help="Shortcut: N (skip for now)", width="stretch"):
        skipped.add(current.id)
        st.rerun()
    st.caption("Keys: P publish · J reject · H hide · N next (with or without Shift)")
    ui_reviews.shifted_shortcuts({"P": "Publish", "J": "Reject", "H": "Hide", "N": "Next"})

st.subheader("In this queue")
st.dataframe(
    pd.DataFrame(
        {
            "Written": [fmt.local_time(r.created_at) for r in queued],
            "Stars": [ui_reviews.stars(r.rating) for r in queued],
            "Practitioner": [r.practitioner_name for r in queued],
            "Flags": [", ".join(reviews.FLAG_LABELS[f] for f in r.flags) for r in queued],
            "Review": [r.comment[:120] for r in queued],
        }
    ),
    hide_index=True,
    width="stretch",
)
