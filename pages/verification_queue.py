"""Verification queue: staff read an application and its documents, then decide."""

import streamlit as st

from avenrae.models import ApplicationStatus
from avenrae.services import flows, verification
from avenrae.services.bookings import Actor
from avenrae.services.errors import InvalidInput
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

APPROVE_KEY = "verification_approve_confirm"


def send(decision: str, message: str, registration: str) -> None:
    st.session_state.pop(APPROVE_KEY, None)
    feedback.attempt(
        lambda s: flows.decide_verification(
            session=s,
            actor=actor,
            application_id=application.id,
            decision=decision,
            message=message,
            health_registration=registration,
        ),
        success={
            "approve": "Approved: {} is verified and can be booked.",
            "reject": "Rejected: {} has been told why.",
            "ask": "Asked {} for more information.",
        }[decision].format(fmt.md(application.practitioner_name)),
    )


def confirm_approval(message: str, registration: str) -> None:
    with st.container(border=True):
        standing = f" as registered health professional {fmt.md(registration)}" if registration else ""
        st.warning(
            f"Approve **{fmt.md(application.practitioner_name)}** ({fmt.label(application.specialization)}, "
            f"{fmt.md(application.city or 'no town given')}, {fmt.md(application.practitioner_email)}){standing}? "
            "Clients then see the Verified badge and can book them."
        )
        yes, no = st.columns(2)
        if yes.button("Yes, approve", type="primary", key=f"confirm_approve_{application.id}"):
            send("approve", message, registration)
        if no.button("Not yet", key=f"keep_approve_{application.id}"):
            st.session_state.pop(APPROVE_KEY, None)
            st.rerun()


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
                st.session_state.pop(APPROVE_KEY, None)
                if decision is None:
                    st.error("Choose a decision first.")
                elif decision == "approve":  # makes them bookable with the badge: named, and asked
                    try:
                        verification.checked_decision(decision, message, registration)
                        st.session_state[APPROVE_KEY] = (application.id, message, registration)
                    except InvalidInput as error:
                        feedback.show_error(error)
                else:
                    send(decision, message, registration)
        asked = st.session_state.get(APPROVE_KEY)
        if asked and asked[0] == application.id:
            confirm_approval(asked[1], asked[2])
with left:
    st.subheader(fmt.md(application.practitioner_name))
    st.caption(f"{fmt.md(application.practitioner_email)} · {fmt.label(application.specialization)}")
    ui_verification.details(application)
    st.caption("Documents")
    ui_verification.documents(application, actor, inline=True)
