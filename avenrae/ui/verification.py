"""An application as staff and its practitioner see it: details, documents, messages."""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from avenrae.db import session_scope
from avenrae.services import verification
from avenrae.services.bookings import Actor
from avenrae.ui import format as fmt

logger = logging.getLogger(__name__)

MESSAGE_WORDS = {
    "submitted": "applied",
    "asked": "asked for more information",
    "answered": "answered",
    "approved": "approved",
    "rejected": "did not approve",
    "renamed": "changed their name",
}
STATUS_WORDS = {
    "pending": "Waiting for staff",
    "needs_information": "Staff need more information",
    "approved": "Approved",
    "rejected": "Not approved",
}


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
    size = f"{info.size_bytes / 1024:,.0f} KB"
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
    st.markdown(
        f"**Legal name:** {fmt.md(application.legal_name)}  \n"
        f"**Registration:** {registration}  \n"
        f"**Years of practice:** {application.years_of_practice}"
    )
    st.caption("Statement")
    st.text(application.statement)
