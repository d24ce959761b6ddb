"""Verification queue: staff read an application and its documents, then decide."""

import streamlit as st

from avenrae.models import ApplicationStatus
from avenrae.services import verification
from avenrae.services.bookings import Actor
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui import verification as ui_verification
from avenrae.ui.page import signed_in

user = signed_in(__file__)
actor = Actor(user.id, user.role)
st.title("Verification queue")
feedback.show_flash()

VIEWS = {
    "Waiting for staff": (ApplicationStatus.PENDING,),
    "Waiting for the practitioner": (ApplicationStatus.NEEDS_INFORMATION,),
    "Decided": (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED),
}
FIRST = next(iter(VIEWS))
view = st.segmented_control("Show", list(VIEWS), default=FIRST, key="verification_view") or FIRST
applications, total = feedback.read(
    lambda session: verification.queue(session=session, actor=actor, statuses=VIEWS[view])
)

if not applications:
    st.success("Nothing here.")
    st.stop()
st.caption(f"{fmt.count(total, 'application')} · oldest first")
choices = {
    f"{a.practitioner_name} · {fmt.label(a.specialization)} · {a.city or ''} · "
    f"applied {fmt.local_time(a.submitted_at, pattern='%d %b %Y')}": a
    for a in applications
}
application = choices[st.selectbox("Application", list(choices))]

left, right = st.columns([3, 2])
# The decision form first: whatever the documents below do, staff can always decide.
with right:
    st.caption("Messages")
    ui_verification.messages(application)
    if application.status == ApplicationStatus.PENDING:
        # Keyed by the application: a second click (or a rerun) never sends this decision, or
        # the words typed for it, to the next application in the queue.
        with st.form(f"decide_{application.id}"):  # gone once decided
            decision = st.radio(
                "Decision",
                list(verification.DECISIONS),
                format_func={"approve": "Approve", "reject": "Reject", "ask": "Ask for more information"}.get,
                index=None,
                key=f"decision_{application.id}",
            )
            message = st.text_area(
                "Message to the practitioner (needed to reject or ask)", key=f"decision_message_{application.id}"
            )
            registration = st.text_input(
                "Confirmed health registration, if any (approve only)",
                value=application.confirmed_registration or "",  # confirmed before: kept unless cleared
                placeholder="e.g. HPCSA PS 0123456",
                key=f"decision_registration_{application.id}",
            )
            if st.form_submit_button("Send decision", type="primary"):
                ui_verification.send_or_ask(application, actor, decision, message, registration)
        ui_verification.approval_question(application, actor)
with left:
    st.subheader(fmt.md(application.practitioner_name))
    st.caption(f"{fmt.md(application.practitioner_email)} · {fmt.label(application.specialization)}")
    ui_verification.details(application)
    st.caption("Documents")
    ui_verification.documents(application, actor, inline=True)
