"""An application as staff and its practitioner see it: details, documents, messages."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import streamlit as st

from avenrae.db import session_scope
from avenrae.models import VerificationStatus
from avenrae.services import flows, verification
from avenrae.services.bookings import Actor
from avenrae.services.errors import InvalidInput
from avenrae.ui import feedback
from avenrae.ui import format as fmt

logger = logging.getLogger(__name__)

DOCUMENT_MB = verification.MAX_DOCUMENT_BYTES // (1024 * 1024)  # the uploader refuses bigger files before sending them

MESSAGE_WORDS = {
    "submitted": "applied",
    "asked": "asked for more information",
    "answered": "answered",
    "approved": "approved",
    "rejected": "did not approve",
    "renamed": "changed their name",
    "practice_changed": "changed their practice",
}
STATUS_WORDS = {
    "pending": "Waiting for staff",
    "needs_information": "Staff need more information",
    "approved": "Approved",
    "rejected": "Not approved",
}


# Files of other kinds are refused by the uploader with only a red mark (found by a trial).
OTHER_FILES = (
    "A Word document or another kind of file: save or print it as a PDF first. A clear photo of a paper "
    "document (JPEG or PNG) works too. A file marked red was not taken and is not sent."
)


def uploads(files) -> list[verification.Upload]:
    """The browser's files, each read only when the service gets to it (after counting them
    and checking their sizes)."""
    return [verification.Upload(f.name, size=f.size, read=f.getvalue) for f in files or []]


def messages(application: verification.ApplicationView) -> None:
    for message in application.messages:
        line = f"**{fmt.md(message.author)}** {MESSAGE_WORDS.get(message.kind, message.kind)} · "
        st.markdown(line + fmt.local_time(message.at))
        if message.message:
            st.text(message.message)


def _original(actor: Actor, document_id) -> Callable[[], bytes]:
    """The original file, read from the database only when Download is clicked."""

    def read() -> bytes:
        with session_scope() as session:
            return verification.document(session=session, actor=actor, document_id=document_id)[1]

    return read


def _document(info: verification.DocumentInfo, actor: Actor, preview: bytes | None, *, inline: bool) -> None:
    size = fmt.file_size(info.size_bytes)
    st.markdown(f"**{fmt.md(info.file_name)}** · {verification.CONTENT_TYPES[info.content_type]} · {size}")
    st.download_button(  # first: whatever the preview does, the file can be downloaded
        "Download",
        _original(actor, info.id),
        file_name=info.file_name,
        mime=info.content_type,
        key=f"download_{info.id}",
        on_click="ignore",
    )
    if not inline:
        return
    if info.content_type == "application/pdf":
        with session_scope() as session:
            _, content = verification.document(session=session, actor=actor, document_id=info.id)
        st.pdf(content, height=520, key=f"pdf_{info.id}")
    elif preview is not None:
        st.image(preview, caption="Preview: download the file to see it at full size.")
    else:
        st.info("No preview of this image: download it to look at it.")


def documents(application: verification.ApplicationView, actor: Actor, *, inline: bool) -> None:
    """Each document downloadable; inline, PDFs in a viewer and images as the thumbnail made at
    upload (never the original, decoded again). A document that cannot be shown says so and
    the rest of the page goes on."""
    if not application.documents:  # a re-check of someone verified before documents were kept
        st.info("No documents on file for this practitioner: ask for them if the decision needs them.")
        return
    previews: dict = {}
    if inline:
        try:
            with session_scope() as session:
                previews = verification.thumbnails(session=session, actor=actor, application_id=application.id)
        except Exception:  # previews are a convenience: the decision must still render
            logger.exception("Could not read the previews of application %s", application.id)
    for info in application.documents:
        try:
            _document(info, actor, previews.get(info.id), inline=inline)
        except Exception:  # one bad stored document must never stop the decision form
            logger.exception("Could not show document %s", info.id)
            st.warning(f"{fmt.md(info.file_name)} could not be shown. Download it, or ask the practitioner again.")


def details(application: verification.ApplicationView) -> None:
    registration = (
        f"{fmt.md(application.registration_body or '')} {fmt.md(application.registration_number or '')}".strip()
        or "none given"
    )
    confirmed = application.confirmed_registration
    st.markdown(
        f"**Legal name:** {fmt.md(application.legal_name)}  \n"
        f"**Registration:** {registration}  \n"
        + (f"**Confirmed by staff:** {fmt.md(confirmed)}  \n" if confirmed else "")
        + f"**Years of practice:** {application.years_of_practice}"
    )
    st.caption("Statement")
    st.text(application.statement)


HEADLINES = {
    VerificationStatus.UNVERIFIED: (
        "info",
        "You are not verified yet. Verified practitioners carry a badge in search and can be booked; apply below.",
    ),
    VerificationStatus.PENDING: ("info", "Your application is with staff. You will be notified of their decision."),
    VerificationStatus.VERIFIED: ("success", "✔ You are verified. Clients see the badge on your profile."),
    VerificationStatus.REJECTED: ("warning", "Your last application was not approved. You may apply again."),
}


def headline(mine: verification.MyVerification) -> None:
    """Where the practitioner stands, in one line (a rejection with its reason, rather than
    at the foot of the old application), and what their profile says about it."""
    kind, text = HEADLINES[mine.status]
    if reason := mine.rejection_reason:
        text = f"Your last application was not approved: *{fmt.md(reason)}* You may apply again below."
    getattr(st, kind)(text)
    st.caption(
        verification.health_status_line(
            verified=mine.status == VerificationStatus.VERIFIED, health_registration=mine.health_registration
        )
    )


def answer_form(actor: Actor, application_id: uuid.UUID) -> None:
    """Staff asked for more: the practitioner answers, with more documents if they like."""
    st.subheader("Staff need more from you")
    with st.form("answer"):  # gone once sent
        answer = st.text_area("Your answer")
        more = st.file_uploader(
            f"More documents (PDF, JPEG or PNG, up to {DOCUMENT_MB} MB each)",
            type=["pdf", "jpg", "jpeg", "png"],
            accept_multiple_files=True,
            max_upload_size=DOCUMENT_MB,
            help=OTHER_FILES,
        )
        if st.form_submit_button("Send answer", type="primary"):
            feedback.attempt(
                lambda s: verification.respond(
                    session=s,
                    actor=actor,
                    application_id=application_id,
                    message=answer,
                    documents=uploads(more),
                ),
                success="Sent. Your application is back with staff.",
            )


def apply_form(actor: Actor) -> None:
    """A new application: who they are, any registration, their practice, documents."""
    st.subheader("Apply for verification")
    with st.form("apply"):
        legal_name = st.text_input("Legal name (as on your ID)")
        left, right = st.columns(2)
        body = left.text_input("Registering body, if any", placeholder="e.g. Traditional Health Practitioners Council")
        number = right.text_input("Registration number, if any")
        years = st.number_input("Years of practice", value=None, step=1)
        statement = st.text_area(
            "About your training and practice",
            placeholder="Where and with whom you trained, how you work with clients",
        )
        files = st.file_uploader(
            f"Supporting documents: certificates, letters, your ID (PDF, JPEG or PNG, up to {DOCUMENT_MB} MB each)",
            type=["pdf", "jpg", "jpeg", "png"],
            accept_multiple_files=True,
            max_upload_size=DOCUMENT_MB,
            help=OTHER_FILES,
        )
        st.caption(
            "Documents are kept privately and seen only by Avenrae staff. A Word document: save it as a PDF "
            "first; a file marked red was not taken and is not sent."
        )
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
                        documents=uploads(files),
                    ),
                ),
                success="Application sent. Staff will look at it soon.",
            )


# --- deciding --------------------------------------------------------------------------

APPROVE_KEY = "verification_approve_confirm"
DECIDED = {
    "approve": "Approved: {} is verified and can be booked.",
    "reject": "Rejected: {} has been told why.",
    "ask": "Asked {} for more information.",
}


def send_or_ask(
    application: verification.ApplicationView, actor: Actor, decision: str | None, message: str, registration: str
) -> None:
    """The decision form sent: asking for more goes at once; approving (bookable with the
    badge) and rejecting (told at once, unverified) are checked, then asked about by name
    (`approval_question`)."""
    st.session_state.pop(APPROVE_KEY, None)
    if decision is None:
        st.error("Choose a decision first.")
    elif decision in ("approve", "reject"):
        try:
            verification.checked_decision(decision, message, registration)
            st.session_state[APPROVE_KEY] = (application.id, decision, message, registration)
        except InvalidInput as error:
            feedback.show_error(error)
    else:
        _send(application, actor, decision, message, registration)


def approval_question(application: verification.ApplicationView, actor: Actor) -> None:
    """The question "Approve …?" or "Reject …?", naming who, once the form asked it of this application."""
    asked = st.session_state.get(APPROVE_KEY)
    if not asked or asked[0] != application.id:
        return
    _, decision, message, registration = asked
    who = (
        f"**{fmt.md(application.practitioner_name)}** ({fmt.label(application.specialization)}, "
        f"{fmt.md(application.city or 'no town given')}, {fmt.md(application.practitioner_email)})"
    )
    with st.container(border=True):
        if decision == "approve":
            standing = f" as registered health professional {fmt.md(registration)}" if registration else ""
            st.warning(f"Approve {who}{standing}? Clients then see the Verified badge and can book them.")
        else:
            st.warning(
                f"Reject {who}? They are told at once, with your message, and stay unverified: clients cannot "
                "book them until a new application is approved."
            )
        yes, no = st.columns(2)
        if yes.button(f"Yes, {decision}", type="primary", key=f"confirm_{decision}_{application.id}"):
            _send(application, actor, decision, message, registration)
        if no.button("Not yet", key=f"keep_{decision}_{application.id}"):
            st.session_state.pop(APPROVE_KEY, None)
            st.rerun()


def _send(
    application: verification.ApplicationView, actor: Actor, decision: str, message: str, registration: str
) -> None:
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
        success=DECIDED[decision].format(fmt.md(application.practitioner_name)),
    )
