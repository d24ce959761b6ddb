"""An application as staff and its practitioner see it: details, documents, messages."""

from __future__ import annotations

import streamlit as st

from avenrae.db import session_scope
from avenrae.services import verification
from avenrae.services.bookings import Actor
from avenrae.ui import format as fmt

MESSAGE_WORDS = {
    "submitted": "applied",
    "asked": "asked for more information",
    "answered": "answered",
    "approved": "approved",
    "rejected": "did not approve",
}
STATUS_WORDS = {
    "pending": "Waiting for staff",
    "needs_information": "Staff need more information",
    "approved": "Approved",
    "rejected": "Not approved",
}


def uploads(files) -> list[verification.Upload]:
    return [verification.Upload(f.name, f.getvalue()) for f in files or []]


def messages(application: verification.ApplicationView) -> None:
    for message in application.messages:
        line = f"**{fmt.md(message.author)}** {MESSAGE_WORDS.get(message.kind, message.kind)} · "
        st.markdown(line + fmt.local_time(message.at))
        if message.message:
            st.text(message.message)


def documents(application: verification.ApplicationView, actor: Actor, *, inline: bool) -> None:
    """Each document viewable in the page (PDF viewer or image) and downloadable."""
    for info in application.documents:
        with session_scope() as session:
            _, content = verification.document(session=session, actor=actor, document_id=info.id)
        size = f"{info.size_bytes / 1024:,.0f} KB"
        st.markdown(f"**{fmt.md(info.file_name)}** · {verification.CONTENT_TYPES[info.content_type]} · {size}")
        if inline:
            if info.content_type == "application/pdf":
                st.pdf(content, height=520, key=f"pdf_{info.id}")
            else:
                st.image(content, width=520)
        st.download_button(
            "Download", content, file_name=info.file_name, mime=info.content_type, key=f"download_{info.id}"
        )


def details(application: verification.ApplicationView) -> None:
    registration = (
        f"{fmt.md(application.registration_body or '')} {fmt.md(application.registration_number or '')}".strip()
        or "none given"
    )
    st.markdown(
        f"**Legal name:** {fmt.md(application.legal_name)}  \n"
        f"**Registration:** {registration}  \n"
        f"**Years of practice:** {application.years_of_practice}"
    )
    st.caption("Statement")
    st.text(application.statement)
