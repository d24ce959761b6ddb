"""My reviews: review completed sessions and see what moderators decided."""

import streamlit as st

from avenrae.db import session_scope
from avenrae.models import ReviewStatus
from avenrae.services import reviews
from avenrae.services.bookings import Actor
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui import reviews as ui_reviews
from avenrae.ui.page import signed_in

user = signed_in(__file__)
actor = Actor(user.id, user.role)
st.title("My reviews")
feedback.show_flash()

with session_scope() as session:
    open_sessions = reviews.reviewable(session=session, actor=actor)
    written = reviews.mine(session=session, actor=actor)

st.subheader("Review a session")
if not open_sessions:
    st.caption("Nothing to review: sessions can be reviewed for 90 days once they have taken place.")
else:
    choices = {
        f"{s.practitioner_name} · {fmt.local_time(s.session_start)}" + (" · write it again" if s.rejected else ""): s
        for s in open_sessions
    }
    # Not cleared on submit: a refused review keeps what was written.
    with st.form("write_review"):
        chosen = st.selectbox("Session", list(choices))
        rating = st.radio(
            "Your rating",
            [5, 4, 3, 2, 1],
            index=None,
            horizontal=True,
            format_func=ui_reviews.stars,
            key=feedback.key("review_rating"),
        )
        comment = st.text_area(
            "Your review", placeholder="How was the session? What helped?", key=feedback.key("review_comment")
        )
        st.caption(
            "Reviews are read by a moderator before they are published. Please leave out phone numbers, "
            "e-mail addresses and links, and do not describe a session as curing an illness."
        )
        if st.form_submit_button("Send review", type="primary"):
            session_picked = choices[chosen]
            feedback.attempt(
                lambda s: reviews.write(
                    session=s, actor=actor, booking_id=session_picked.booking_id, rating=rating, comment=comment
                ),
                success="Thank you! Your review will appear once a moderator has read it.",
                clears=("review_rating", "review_comment"),
            )
    st.caption(
        "Open for review: "
        + "; ".join(
            f"{fmt.md(s.practitioner_name)} (session of {fmt.local_time(s.session_start, pattern='%d %b')}) "
            f"until {fmt.local_time(s.review_by, pattern='%d %b')}"
            for s in open_sessions
        )
    )

st.subheader("Reviews you wrote")
if not written:
    st.caption("You have not written any reviews yet.")
rewritable = {s.booking_id for s in open_sessions if s.rejected}
STATUS_WORDS = {
    ReviewStatus.PENDING: ":material/hourglass_empty: Waiting for a moderator",
    ReviewStatus.PUBLISHED: ":material/check_circle: Published",
    ReviewStatus.REJECTED: ":material/block: Not published",
    ReviewStatus.HIDDEN: ":material/visibility_off: Taken down",
}
for review in written:
    with st.container(border=True):
        st.markdown(f"**{STATUS_WORDS[review.status]}**")
        ui_reviews.card(review, show_practitioner=True, show_client=False)
        if review.moderation_reason and review.status in (ReviewStatus.REJECTED, ReviewStatus.HIDDEN):
            st.caption(f"Moderator's reason: {fmt.md(review.moderation_reason)}")
        if review.status == ReviewStatus.REJECTED and review.booking_id in rewritable:
            st.caption("You can write it again above, leaving out what the moderator named.")
