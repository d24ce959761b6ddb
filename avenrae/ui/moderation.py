"""The Review moderation page's parts: one review with its flags and one key per decision,
and the queue as a table. Decisions go through `flows.moderate_review`, which tells the client."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from avenrae.models import ReviewStatus
from avenrae.services import flows, screening
from avenrae.services.bookings import Actor
from avenrae.services.reviews import ReviewView
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui import reviews as ui_reviews

PUBLISH_FLAGGED_KEY = "moderation_publish_flagged"
COMMON_REASONS = [
    "Contains contact details",
    "Claims a health outcome we cannot publish as fact",
    "Abusive or offensive language",
    "Not about the session",
    "Personal information about someone else",
]


EMPTY = {
    ReviewStatus.PENDING: "Nothing waiting here. Well done.",
    ReviewStatus.PUBLISHED: "No published reviews.",
    ReviewStatus.HIDDEN: "No hidden reviews.",
}
QUEUE_WORDS = {  # "No review ... matches": each queue in a sentence
    ReviewStatus.PENDING: "waiting (pending)",
    ReviewStatus.PUBLISHED: "published",
    ReviewStatus.HIDDEN: "hidden",
}


def _show_whole_queue() -> None:
    st.session_state["moderation_text"] = ""
    st.session_state["moderation_flagged"] = False


def empty_queue(status: ReviewStatus, *, words: str, flagged_only: bool) -> None:
    """Nothing to show: because the queue is empty, or because the filter hides what is in it."""
    if not words.strip() and not flagged_only:
        (st.success if status == ReviewStatus.PENDING else st.info)(EMPTY[status])
        return
    what = f"matches “{fmt.md(words.strip())}”" if words.strip() else "is flagged"
    if words.strip() and flagged_only:
        what += " and is flagged"
    st.info(f"No review {QUEUE_WORDS[status]} {what}.")
    st.button("Show the whole queue", on_click=_show_whole_queue)


def decision_panel(
    current: ReviewView, *, actor: Actor, status: ReviewStatus, waiting: list[ReviewView], skipped: set
) -> None:
    """The review at the head of the queue and its buttons (P publish, J reject, H hide, N next)."""
    with st.container(border=True):
        ui_reviews.card(current, show_practitioner=True)
        st.caption(f"Written {_written(current)}")
        if current.status == ReviewStatus.HIDDEN and current.moderated_at:
            # Before publishing again: why it was hidden (a complaint, a legal request) and by whom.
            st.info(
                f"Hidden {fmt.local_time(current.moderated_at)} by {fmt.md(current.moderator_name or 'staff')}: "
                f"{fmt.md(current.moderation_reason or 'no reason given')}"
            )
        notes = ui_reviews.flag_notes(current)
        if notes:
            st.warning("**Flags**\n\n" + "\n".join(f"- {note}" for note in notes))
        else:
            st.caption("No automatic flags.")
        reason_pick = st.selectbox(
            "Reason (needed to reject or hide; the client sees it)",
            COMMON_REASONS,
            index=None,
            placeholder="Choose a reason",
            key=f"reason_pick_{current.id}",
        )
        reason_typed = st.text_input("Or type a reason", key=f"reason_typed_{current.id}")
        reason = reason_typed.strip() or reason_pick or ""
        buttons = st.columns(4)
        whose = f"{fmt.md(current.client_name)}’s review of {fmt.md(current.practitioner_name)}"

        def publish() -> None:
            feedback.attempt(
                lambda s: flows.moderate_review(session=s, actor=actor, review_id=current.id, action="publish"),
                success=f"Published {whose}. The rating is updated.",
                clears=(PUBLISH_FLAGGED_KEY,),
            )

        flagged = bool(notes)
        publish_label = "Publish anyway…" if flagged else "Publish"
        if status != ReviewStatus.PUBLISHED and buttons[0].button(
            publish_label,
            type="secondary" if flagged and status == ReviewStatus.PENDING else "primary",
            shortcut="P",
            help="Shortcut: P",
            width="stretch",
        ):
            if flagged:  # one key never publishes what the checks flagged: it asks first
                st.session_state[PUBLISH_FLAGGED_KEY] = str(current.id)
            else:
                publish()
        if st.session_state.get(PUBLISH_FLAGGED_KEY) == str(current.id):
            st.warning("This review was flagged (above). Publish it as it is, for everyone to read?")
            yes, no, _ = st.columns([2, 1, 3])
            if yes.button("Yes, publish it as it is", type="primary", key=f"publish_flagged_{current.id}"):
                publish()
            if no.button("No", key=f"keep_flagged_{current.id}"):
                del st.session_state[PUBLISH_FLAGGED_KEY]
                st.rerun()
        if status == ReviewStatus.PENDING and buttons[1].button(
            "Reject",
            type="primary" if flagged else "secondary",  # what the flags suggest
            shortcut="J",
            help="Shortcut: J",
            width="stretch",
        ):
            feedback.attempt(
                lambda s: flows.moderate_review(
                    session=s, actor=actor, review_id=current.id, action="reject", reason=reason
                ),
                success=f"Rejected {whose}; the client has been told why.",
            )
        if status == ReviewStatus.PUBLISHED and buttons[1].button(
            "Hide", shortcut="H", help="Shortcut: H", width="stretch"
        ):
            feedback.attempt(
                lambda s: flows.moderate_review(
                    session=s, actor=actor, review_id=current.id, action="hide", reason=reason
                ),
                success=f"Hid {whose}: the rating is updated and the client has been told why.",
            )
        if len(waiting) > 1 and buttons[3].button(
            "Next", shortcut="N", help="Shortcut: N (skip for now)", width="stretch"
        ):
            skipped.add(current.id)
            st.rerun()
        keys = {  # only the keys of the buttons this queue shows
            "P": (publish_label, "publish", status != ReviewStatus.PUBLISHED),
            "J": ("Reject", "reject", status == ReviewStatus.PENDING),
            "H": ("Hide", "hide", status == ReviewStatus.PUBLISHED),
            "N": ("Next", "next", len(waiting) > 1),
        }
        shown = {key: (label, word) for key, (label, word, on) in keys.items() if on}
        with st.container(key="keyboard_hints"):  # hidden on touch screens (ui/style.py)
            pressed = " · ".join(f"{key} {word}" for key, (_, word) in shown.items())
            st.caption(f"Keys: {pressed} (with or without Shift)")
        ui_reviews.shifted_shortcuts({key: label for key, (label, _) in shown.items()})


def queue_table(queued: list[ReviewView]) -> None:
    st.subheader("In this queue")
    st.dataframe(
        pd.DataFrame(
            {
                "Written": [_written(r) for r in queued],
                "Stars": [ui_reviews.stars(r.rating) for r in queued],
                "Practitioner": [r.practitioner_name for r in queued],
                "Flags": [", ".join(screening.FLAG_LABELS[f] for f in r.flags) for r in queued],
                "Review": [r.comment[:120] for r in queued],
            }
        ),
        hide_index=True,
        placeholder=fmt.MISSING,
        width="stretch",
    )


def _written(review: ReviewView) -> str:
    return fmt.local_time(review.created_at) if review.created_at else ""
