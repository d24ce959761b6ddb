"""Reviews: what clients said about the practitioner, and their one public reply to each."""

import streamlit as st

from avenrae.db import session_scope
from avenrae.services import flows, reviews
from avenrae.services.bookings import Actor
from avenrae.services.errors import ServiceError
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui import reviews as ui_reviews
from avenrae.ui.page import signed_in

user = signed_in(__file__)
actor = Actor(user.id, user.role)
st.title("Reviews")
feedback.show_flash()

try:
    with session_scope() as session:
        practitioner, published = reviews.for_me(session=session, actor=actor)
        summary = reviews.summary(session=session, practitioner_id=practitioner.id)
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

if not published:
    st.info("No published reviews yet. After a completed session, clients are invited to leave one.")
for review in published:
    with st.container(border=True):
        ui_reviews.card(review)
        if review.reply is None:
            with st.form(f"reply_{review.id}"):  # gone once posted
                text = st.text_area("Your public reply", key=f"reply_text_{review.id}")
                if st.form_submit_button("Post reply"):
                    feedback.attempt(
                        lambda s, review_id=review.id, typed=text: flows.reply_to_review(
                            session=s, actor=actor, review_id=review_id, text=typed
                        ),
                        success="Your reply is posted.",
                    )
