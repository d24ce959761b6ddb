"""Review moderation: one review at a time, flags explained, one key per decision."""

import streamlit as st

from avenrae.models import ReviewStatus
from avenrae.services import reviews
from avenrae.services.bookings import Actor
from avenrae.ui import feedback, moderation
from avenrae.ui import format as fmt
from avenrae.ui.page import signed_in

user = signed_in(__file__)
actor = Actor(user.id, user.role)
st.title("Review moderation")
feedback.show_flash()

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

queued, total = feedback.read(
    lambda session: reviews.queue(
        session=session, actor=actor, filters=reviews.QueueFilter(status, flagged_only, words), limit=100
    )
)

waiting = [r for r in queued if r.id not in skipped] or queued
if not waiting:
    moderation.empty_queue(status, words=words, flagged_only=flagged_only)
    st.stop()

current = waiting[0]
st.caption(f"{fmt.rows(total, total.exact, 'review')} in this queue · flagged ones first, then oldest first")
moderation.decision_panel(current, actor=actor, status=status, waiting=waiting, skipped=skipped)
moderation.queue_table(queued)
