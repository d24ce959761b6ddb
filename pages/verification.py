"""Verification: a practitioner applies with documents and follows staff's decision."""

import streamlit as st

from avenrae.db import session_scope
from avenrae.models import ApplicationStatus, VerificationStatus
from avenrae.services import verification
from avenrae.services.bookings import Actor
from avenrae.services.errors import ServiceError
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui import verification as ui_verification
from avenrae.ui.page import signed_in

user = signed_in(__file__)
actor = Actor(user.id, user.role)
st.title("Verification")
feedback.show_flash()

try:
    with session_scope() as session:
        mine = verification.mine(session=session, actor=actor)
except ServiceError as problem:
    feedback.show_error(problem)
    st.stop()

HEADLINES = {
    VerificationStatus.UNVERIFIED: (
        "info",
        "You are not verified yet. Verified practitioners carry a badge in search and can be booked; apply below.",
    ),
    VerificationStatus.PENDING: ("info", "Your application is with staff. You will be notified of their decision."),
    VerificationStatus.VERIFIED: ("success", "✔ You are verified. Clients see the badge on your profile."),
    VerificationStatus.REJECTED: ("warning", "Your last application was not approved. You may apply again."),
}
kind, headline = HEADLINES[mine.status]
getattr(st, kind)(headline)
st.caption(
    verification.health_status_line(
        verified=mine.status == VerificationStatus.VERIFIED, health_registration=mine.health_registration
    )
)

latest = mine.applications[0] if mine.applications else None
if latest is not None and latest.status == ApplicationStatus.NEEDS_INFORMATION:
    st.subheader("Staff need more from you")
    with st.form("answer", clear_on_submit=True):
        answer = st.text_area("Your answer", max_chars=4000)
        more = st.file_uploader(
            "More documents (PDF, JPEG or PNG, up to 5 MB each)",
            type=["pdf", "jpg", "jpeg", "png"],
            accept_multiple_files=True,
        )
        if st.form_submit_button("Send answer", type="primary"):
            feedback.attempt(
                lambda s: verification.respond(
                    session=s,
                    actor=actor,
                    application_id=latest.id,
                    message=answer,
                    documents=ui_verification.uploads(more),
                ),
                success="Sent. Your application is back with staff.",
            )

can_apply = mine.status in (VerificationStatus.UNVERIFIED, VerificationStatus.REJECTED) and (
    latest is None or latest.status not in verification.OPEN
)
if can_apply:
    st.subheader("Apply for verification")
    with st.form("apply"):
        legal_name = st.text_input("Legal name (as on your ID)", max_chars=200)
        left, right = st.columns(2)
        body = left.text_input(
            "Registering body, if any", placeholder="e.g. Traditional Health Practitioners Council", max_chars=120
        )
        number = right.text_input("Registration number, if any", max_chars=60)
        years = st.number_input("Years of practice", min_value=0, max_value=80, value=None, step=1)
        statement = st.text_area(
            "About your training and practice",
            max_chars=4000,
            placeholder="Where and with whom you trained, how you work with clients",
        )
        files = st.file_uploader(
            "Supporting documents: certificates, letters, your ID (PDF, JPEG or PNG, up to 5 MB each)",
            type=["pdf", "jpg", "jpeg", "png"],
            accept_multiple_files=True,
        )
        st.caption("Documents are kept privately and seen only by Avenrae staff.")
        if st.form_submit_button("Apply", type="primary"):
            feedback.attempt(
                lambda s: verification.apply(
                    session=s,
                    actor=actor,
                    form=verification.ApplicationForm(
                        legal_name=legal_name,
                        years_of_practice=years,
                        statement=statement,
                        registration_body=body,
                        registration_number=number,
                        documents=ui_verification.uploads(files),
                    ),
                ),
                success="Application sent. Staff will look at it soon.",
            )

for application in mine.applications:
    label = ui_verification.STATUS_WORDS[application.status.value]
    with st.expander(
        f"Application of {fmt.local_time(application.submitted_at, pattern='%d %b %Y')} · {label}",
        expanded=application is latest,
    ):
        ui_verification.details(application)
        st.caption("Documents")
        ui_verification.documents(application, actor, inline=False)
        st.caption("Messages")
        ui_verification.messages(application)
