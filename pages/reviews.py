"""Reviews: what clients said about the practitioner, and their one public reply to each."""

import streamlit as st

from avenrae.db import session_scope
from avenrae.services import counting, flows, reviews
from avenrae.services.bookings import Actor
from avenrae.services.errors import ServiceError
from avenrae.ui import feedback, widgets
from avenrae.ui import format as fmt
from avenrae.ui import reviews as ui_reviews
from avenrae.ui.page import signed_in

WAITING, EVERY = "Waiting for your reply", "All"

user = signed_in(__file__)
actor = Actor(user.id, user.role)
st.title("Reviews")
feedback.show_flash()

PER_PAGE = 10
# First those waiting for a reply, when there are some; the reader's choice after that.
show = st.session_state.get("reviews_show", "first visit")
offset = (st.session_state.get("reviews_page", 1) - 1) * PER_PAGE
try:
    with session_scope() as session:
        mine = reviews.for_me(
            session=session,
            actor=actor,
            unanswered_only=None if show == "first visit" else show == WAITING,
            limit=PER_PAGE,
            offset=offset,
        )
        summary = reviews.summary(session=session, practitioner_id=mine.practitioner.id)
except ServiceError as problem:
    feedback.show_error(problem)
    st.stop()

left, right = st.columns([1, 2])
left.metric("Rating", f"{summary.rating:.2f} ★" if summary.rating is not None else "—")
left.metric("Published reviews", fmt.count(summary.review_count))
if summary.review_count:  # no empty chart with a stray axis before the first review
    right.caption("Published reviews by stars")
    right.bar_chart(
        {"Stars": [f"{s} ★" for s in summary.stars], "Reviews": list(summary.stars.values())},
        x="Stars",
        y="Reviews",
        horizontal=True,
        height=180,
    )
st.caption("Only published reviews count. A moderator reads each one first; you see them here once published.")

if not mine.published:
    st.info("No published reviews yet. After a completed session, clients are invited to leave one.")
    st.stop()
show = st.session_state["reviews_show"] = WAITING if mine.unanswered_only else EVERY
st.segmented_control(
    "Show",
    [WAITING, EVERY],
    format_func=lambda shown: f"{shown} ({mine.unanswered if shown == WAITING else mine.published:,})",
    key="reviews_show",
    on_change=lambda: st.session_state.pop("reviews_page", None),  # another list starts at its first page
)
shown_total = mine.unanswered if show == WAITING else mine.published
if not mine.reviews and show == WAITING:
    st.success("You have replied to every review.")
elif not mine.reviews:
    st.info("No reviews on this page.")
for review in mine.reviews:
    with st.container(border=True):
        ui_reviews.card(review)
        if review.reply is None:
            with st.expander("Reply publicly", key=f"reply_open_{review.id}"), st.form(f"reply_{review.id}"):
                text = st.text_area("Your public reply", key=f"reply_text_{review.id}")
                if st.form_submit_button("Post reply"):
                    feedback.attempt(
                        lambda s, review_id=review.id, typed=text: flows.reply_to_review(
                            session=s, actor=actor, review_id=review_id, text=typed
                        ),
                        success="Your reply is posted.",
                    )
pages = counting.pages(shown_total, PER_PAGE)
if pages > 1:
    widgets.page_number(key="reviews_page", label=f"Page (of {pages:,})")
