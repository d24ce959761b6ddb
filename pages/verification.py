"""Verification: a practitioner applies with documents and follows staff's decision."""

import streamlit as st

from avenrae.models import ApplicationStatus, VerificationStatus
from avenrae.services import verification
from avenrae.services.bookings import Actor
from avenrae.ui import feedback
from avenrae.ui import format as fmt
from avenrae.ui import verification as ui_verification
from avenrae.ui.page import signed_in

user = signed_in(__file__)
actor = Actor(user.id, user.role)
st.title("Verification")
feedback.show_flash()

mine = feedback.read(lambda session: verification.mine(session=session, actor=actor))

ui_verification.headline(mine)

latest = mine.applications[0] if mine.applications else None
if latest is not None and latest.status == ApplicationStatus.NEEDS_INFORMATION:
    ui_verification.answer_form(actor, latest.id)
can_apply = mine.status in (VerificationStatus.UNVERIFIED, VerificationStatus.REJECTED) and (
    latest is None or latest.status not in verification.OPEN
)
if can_apply:
    ui_verification.apply_form(actor)

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
