"""Practitioner verification: an application with documents, staff's decision, the badge.

Documents are PDF, JPEG or PNG, at most 5 MB each and at most 6 at a time (counted, and
sizes checked, before any file is read), and their type is read from their content (the
name a browser sends proves nothing). Images are decoded in full once, at upload, after
their pixel count is read from the header (at most 25 megapixels): a decompression bomb
or a truncated file is refused in plain words and nothing is stored. A small thumbnail
is kept next to each image, so staff's queue never decodes the original again. Documents
are kept in the database, never under the web root, and are shown only to their
practitioner and to staff.

A practitioner's `verification_status` follows their latest application: pending while
staff look at it (or wait for more information), verified on approval, rejected on
rejection. Every staff decision is audited and the practitioner is notified.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session

from avenrae.models import (
    OPERATORS,
    ApplicationStatus,
    Practitioner,
    Role,
    Specialization,
    User,
    VerificationApplication,
    VerificationDocument,
    VerificationMessage,
    VerificationStatus,
)
from avenrae.services import audit, notifications, validation
from avenrae.services.bookings import Actor
from avenrae.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_DOCUMENTS = 6
MAX_IMAGE_PIXELS = 25_000_000  # a 5 MB file may claim any size; 25 MP is a generous phone photo or A4 scan
THUMBNAIL_SIZE = (320, 320)
VERIFIERS = OPERATORS
CONTENT_TYPES = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}
OPEN = (ApplicationStatus.PENDING, ApplicationStatus.NEEDS_INFORMATION)

# Signatures of things people upload by mistake (or on purpose), to say what it looked like.
_LOOKS_LIKE = [
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a program"),
    (b"PK\x03\x04", "a ZIP archive or Office document"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a WebP image or other media"),
    (b"<", "a web page or XML"),
    (b"#!", "a script"),
]

# A confirmed health registration is shown to clients as confirmed by Avenrae, so it must
# read as one: the council's letters and the number ("HPCSA PS 0123456", "THPCSA 12345/2019").
REGISTRATION = re.compile(r"(?=.*\d)[A-Za-z0-9][A-Za-z0-9 ./-]{3,59}")
REGISTRATION_HELP = "Write the registration as the council gives it, letters and numbers, e.g. HPCSA PS 0123456."


@dataclass(frozen=True)
class Upload:
    """A file as the browser sent it: its bytes, or its size and a way to read it later
    (so that too many or too large files are refused before any is read)."""

    name: str
    data: bytes = b""
    size: int | None = None
    read: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)

    @property
    def length(self) -> int:
        return self.size if self.size is not None else len(self.data)

    def content(self) -> bytes:
        return self.read() if self.read is not None else self.data


class BadImage(Exception):
    """An image that cannot be (safely) decoded; the message says why in plain words."""


def _message(**fields) -> VerificationMessage:
    # clock time, not now(): several messages written in one transaction keep their order
    return VerificationMessage(created_at=datetime.now(UTC), **fields)


def _image_kind(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


def sniff(data: bytes) -> str | None:
    """The content type the bytes really are (PDF, JPEG or PNG), or None. Images are
    recognised from their header only; `decode_image` reads them in full."""
    if data.startswith(b"%PDF-") and b"%%EOF" in data[-2048:]:
        return "application/pdf"
    kind = _image_kind(data[:16])
    if kind is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Image.DecompressionBombError:
        return kind  # an image all right; decode_image says why it is refused
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return kind


def _as_rgb(image: Image.Image) -> Image.Image:
    try:
        return image.convert("RGB")
    except ValueError:  # a mode Pillow cannot turn into RGB directly (16-bit grey, ...)
        return image.convert("L").convert("RGB")


def decode_image(data: bytes) -> bytes:
    """Decode the image in full (after checking its pixel count from the header) and return
    a small JPEG thumbnail of it; BadImage says in plain words why an image is refused."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise BadImage(
                    f"is {width:,} × {height:,} pixels ({width * height / 1_000_000:.0f} megapixels); images may be "
                    f"at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels. Save it at a smaller size and upload it "
                    "again."
                )
            image.load()  # every pixel: a truncated or corrupt file fails here, not on staff's screen
            image.thumbnail(THUMBNAIL_SIZE)
            thumb = image.convert("RGBA") if image.mode in ("P", "LA", "PA") else image
            if thumb.mode != "RGB":
                background = Image.new("RGB", thumb.size, (255, 255, 255))
                if thumb.mode == "RGBA":
                    background.paste(thumb, mask=thumb.getchannel("A"))
                else:
                    background.paste(_as_rgb(thumb))
                thumb = background
            out = io.BytesIO()
            thumb.save(out, "JPEG", quality=80)
            return out.getvalue()
    except Image.DecompressionBombError:
        raise BadImage(
            f"has far too many pixels; images may be at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels. "
            "Save it at a smaller size and upload it again."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning):
        raise BadImage(
            "is damaged or incomplete: it could not be read to the end. Save or scan it again and upload the new file."
        ) from None


def _check_document(upload: Upload) -> VerificationDocument | str:
    name = (upload.name or "document").strip()[-255:] or "document"
    if upload.length == 0:
        return f"{name} is empty."
    if upload.length > MAX_DOCUMENT_BYTES:
        return f"{name} is {upload.length / 1024 / 1024:.1f} MB; each document may be at most 5 MB."
    data = upload.content()
    if not data:
        return f"{name} is empty."
    if len(data) > MAX_DOCUMENT_BYTES:
        return f"{name} is {len(data) / 1024 / 1024:.1f} MB; each document may be at most 5 MB."
    kind = sniff(data)
    if kind is None:
        looks = next((what for magic, what in _LOOKS_LIKE if data.startswith(magic)), None)
        said = f" (its content looks like {looks})" if looks else ""
        return f"{name} is not a PDF, JPEG or PNG file{said}. Upload a scan or photo of the document."
    thumbnail = None
    if kind != "application/pdf":
        try:
            thumbnail = decode_image(data)
        except BadImage as bad:
            return f"{name} {bad}"
    return VerificationDocument(
        file_name=name,
        content_type=kind,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
        thumbnail=thumbnail,
    )


def _documents(uploads: list[Upload], problems: dict[str, str], *, required: bool) -> list[VerificationDocument]:
    if required and not uploads:
        problems["documents"] = "Attach at least one supporting document (PDF, JPEG or PNG)."
        return []
    if len(uploads) > MAX_DOCUMENTS:
        problems["documents"] = f"Attach at most {MAX_DOCUMENTS} documents at a time."
        return []
    checked = [_check_document(upload) for upload in uploads]
    refused = [c for c in checked if isinstance(c, str)]
    if refused:
        problems["documents"] = " ".join(refused)
    return [c for c in checked if isinstance(c, VerificationDocument)]


@dataclass(frozen=True)
class ApplicationForm:
    legal_name: str
    years_of_practice: object
    statement: str
    registration_body: str = ""
    registration_number: str = ""
    documents: list[Upload] = field(default_factory=list)


def _own_practitioner(session: Session, actor: Actor) -> Practitioner:
    practitioner = session.scalar(select(Practitioner).where(Practitioner.user_id == actor.id).with_for_update())
    if actor.role != Role.PRACTITIONER or practitioner is None:
        raise PermissionDenied("Only practitioners apply for verification.")
    return practitioner


def apply(*, session: Session, actor: Actor, form: ApplicationForm) -> VerificationApplication:
    """A practitioner applies; nothing is written unless every field and document is right.
    Who may apply is asked first, before any document is opened."""
    practitioner = _own_practitioner(session, actor)
    if practitioner.verification_status == VerificationStatus.VERIFIED:
        raise Conflict("You are already verified.")
    waiting = session.scalar(
        select(VerificationApplication.id).where(
            VerificationApplication.practitioner_id == practitioner.id, VerificationApplication.status.in_(OPEN)
        )
    )  # the practitioner's row is locked: no second application can slip in meanwhile
    if waiting is not None:
        raise Conflict("You already have an application waiting for staff; add to it instead.")
    problems: dict[str, str] = {}
    values = {}
    for name, check in {
        "legal_name": lambda: validation.person_name(form.legal_name, label="Legal name", max_length=200),
        "registration_body": lambda: validation.text(
            form.registration_body, label="Registering body", max_length=120, required=False, one_line=True
        ),
        "registration_number": lambda: validation.text(
            form.registration_number, label="Registration number", max_length=60, required=False, one_line=True
        ),
        "years_of_practice": lambda: validation.whole_number(
            form.years_of_practice, label="Years of practice", minimum=0, maximum=80
        ),
        "statement": lambda: validation.text(form.statement, label="About your training and practice", max_length=4000),
    }.items():
        try:
            values[name] = check()
        except validation.FieldError as error:
            problems[name] = str(error)
    legal_name = values.get("legal_name")
    if isinstance(legal_name, str) and len(legal_name) < 2:
        problems["legal_name"] = "Legal name must be at least 2 characters."
    if values.get("registration_number") and not values.get("registration_body"):
        problems["registration_body"] = "Say which body the registration number is with."
    documents = _documents(form.documents, problems, required=True)
    if problems:
        raise InvalidInput(problems)
    application = VerificationApplication(practitioner_id=practitioner.id, **values)
    session.add(application)
    session.flush()
    for document in documents:
        document.application_id = application.id
        document.uploaded_by_id = actor.id
    session.add_all(documents)
    session.add(
        _message(
            application_id=application.id,
            author_id=actor.id,
            kind="submitted",
            message=f"Applied with {len(documents)} document{'' if len(documents) == 1 else 's'}.",
        )
    )
    practitioner.verification_status = VerificationStatus.PENDING
    session.flush()
    return application


def respond(
    *, session: Session, actor: Actor, application_id: uuid.UUID, message: str, documents: list[Upload] | None = None
) -> VerificationApplication:
    """The practitioner answers staff's request for more information; it goes back in the queue."""
    practitioner = _own_practitioner(session, actor)
    application = session.scalar(
        select(VerificationApplication).where(VerificationApplication.id == application_id).with_for_update()
    )
    if application is None or application.practitioner_id != practitioner.id:
        raise NotFound("No such application of yours.")
    if application.status != ApplicationStatus.NEEDS_INFORMATION:
        raise Conflict("Staff have not asked for anything more on this application.")
    problems: dict[str, str] = {}
    try:
        message = validation.text(message, label="Your answer", max_length=4000)
    except validation.FieldError as error:
        problems["message"] = str(error)
    added = _documents(documents or [], problems, required=False)
    if problems:
        raise InvalidInput(problems)
    for document in added:
        document.application_id = application.id
        document.uploaded_by_id = actor.id
    session.add_all(added)
    suffix = f" (added {len(added)} document{'' if len(added) == 1 else 's'})" if added else ""
    session.add(_message(application_id=application.id, author_id=actor.id, kind="answered", message=message + suffix))
    application.status = ApplicationStatus.PENDING
    session.flush()
    return application


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class DocumentInfo:
    id: uuid.UUID
    file_name: str
    content_type: str
    size_bytes: int
    uploaded_at: datetime


@dataclass(frozen=True)
class Message:
    kind: str
    author: str
    message: str
    at: datetime


@dataclass(frozen=True)
class ApplicationView:
    id: uuid.UUID
    practitioner_id: uuid.UUID
    practitioner_name: str
    practitioner_email: str
    specialization: str
    city: str | None
    legal_name: str
    registration_body: str | None
    registration_number: str | None
    years_of_practice: int
    statement: str
    status: ApplicationStatus
    submitted_at: datetime
    decided_at: datetime | None
    documents: list[DocumentInfo]
    messages: list[Message]
    # The registration staff confirmed, as profiles show it: approved, or pending again (a new name)
    confirmed_registration: str | None = None


def _views(session: Session, applications: Sequence[VerificationApplication]) -> list[ApplicationView]:
    """Full views of these applications, in three queries whatever their number."""
    ids = [a.id for a in applications]
    people = {
        row.id: row
        for row in session.execute(
            select(
                Practitioner.id,
                Practitioner.specialization,
                Practitioner.city,
                User.first_name,
                User.last_name,
                User.email,
                Practitioner.health_registration,
            )
            .join(User, User.id == Practitioner.user_id)
            .where(Practitioner.id.in_({a.practitioner_id for a in applications}))
        )
    }
    documents: dict[uuid.UUID, list[DocumentInfo]] = {key: [] for key in ids}
    for row in session.execute(
        select(
            VerificationDocument.application_id,
            VerificationDocument.id,
            VerificationDocument.file_name,
            VerificationDocument.content_type,
            VerificationDocument.size_bytes,
            VerificationDocument.created_at,
        )
        .where(VerificationDocument.application_id.in_(ids))
        .order_by(VerificationDocument.created_at, VerificationDocument.file_name)
    ):
        documents[row.application_id].append(
            DocumentInfo(
                id=row.id,
                file_name=row.file_name,
                content_type=row.content_type,
                size_bytes=row.size_bytes,
                uploaded_at=row.created_at,
            )
        )
    messages: dict[uuid.UUID, list[Message]] = {key: [] for key in ids}
    for application_id, kind, author, message, at in session.execute(
        select(
            VerificationMessage.application_id,
            VerificationMessage.kind,
            User.first_name + " " + User.last_name,
            VerificationMessage.message,
            VerificationMessage.created_at,
        )
        .outerjoin(User, User.id == VerificationMessage.author_id)
        .where(VerificationMessage.application_id.in_(ids))
        .order_by(VerificationMessage.created_at)
    ):
        messages[application_id].append(Message(kind, author or "Someone", message, at))
    views = []
    for application in applications:
        person = people[application.practitioner_id]
        views.append(
            ApplicationView(
                application.id,
                application.practitioner_id,
                f"{person.first_name} {person.last_name}",
                person.email,
                person.specialization.value,
                person.city,
                application.legal_name,
                application.registration_body,
                application.registration_number,
                application.years_of_practice,
                application.statement,
                application.status,
                application.created_at,
                application.decided_at,
                documents[application.id],
                messages[application.id],
                # Confirmed by staff: on an approved application, and on a pending one (a
                # verified practitioner's new name) as what approving it again would keep.
                person.health_registration
                if application.status in (ApplicationStatus.APPROVED, ApplicationStatus.PENDING)
                else None,
            )
        )
    return views


@dataclass(frozen=True)
class MyVerification:
    status: VerificationStatus
    health_registration: str | None
    applications: list[ApplicationView]

    @property
    def rejection_reason(self) -> str | None:
        """Why staff last refused the practitioner, when that is where they stand."""
        if self.status != VerificationStatus.REJECTED or not self.applications:
            return None
        reasons = [m.message for m in self.applications[0].messages if m.kind == "rejected"]  # oldest first
        return reasons[-1] if reasons else None


def mine(*, session: Session, actor: Actor) -> MyVerification:
    practitioner = session.scalar(select(Practitioner).where(Practitioner.user_id == actor.id))
    if actor.role != Role.PRACTITIONER or practitioner is None:
        raise PermissionDenied("Only practitioners apply for verification.")
    applications = session.scalars(
        select(VerificationApplication)
        .where(VerificationApplication.practitioner_id == practitioner.id)
        .order_by(VerificationApplication.created_at.desc())
    ).all()
    return MyVerification(
        practitioner.verification_status,
        practitioner.health_registration,
        _views(session, applications),
    )


def _verifier(actor: Actor) -> None:
    if actor.role not in VERIFIERS:
        raise PermissionDenied("Only staff can verify practitioners.")


def queue(
    *,
    session: Session,
    actor: Actor,
    statuses: tuple[ApplicationStatus, ...] = (ApplicationStatus.PENDING,),
    limit: int = 50,
) -> tuple[list[ApplicationView], int]:
    """Applications in these states, oldest first (first come, first served), and how many in all."""
    _verifier(actor)
    condition = VerificationApplication.status.in_(statuses)
    total = session.scalar(select(func.count()).select_from(VerificationApplication).where(condition)) or 0
    applications = session.scalars(
        select(VerificationApplication)
        .where(condition)
        .order_by(VerificationApplication.created_at, VerificationApplication.id)
        .limit(limit)
    ).all()
    return _views(session, applications), total


def thumbnails(*, session: Session, actor: Actor, application_id: uuid.UUID) -> dict[uuid.UUID, bytes]:
    """The small previews of an application's images (made at upload), by document id, in
    one query; for staff and the application's practitioner only. Originals are not read."""
    rows = session.execute(
        select(VerificationDocument.id, VerificationDocument.thumbnail, Practitioner.user_id)
        .join(VerificationApplication, VerificationApplication.id == VerificationDocument.application_id)
        .join(Practitioner, Practitioner.id == VerificationApplication.practitioner_id)
        .where(VerificationDocument.application_id == application_id)
    ).all()
    if any(actor.role not in VERIFIERS and owner != actor.id for _, _, owner in rows):
        raise NotFound("No such application.")
    return {document_id: thumbnail for document_id, thumbnail, _ in rows if thumbnail is not None}


def document(*, session: Session, actor: Actor, document_id: uuid.UUID) -> tuple[DocumentInfo, bytes]:
    """A document's bytes, for staff and the practitioner who uploaded it only."""
    row = session.execute(
        select(VerificationDocument, Practitioner.user_id)
        .join(VerificationApplication, VerificationApplication.id == VerificationDocument.application_id)
        .join(Practitioner, Practitioner.id == VerificationApplication.practitioner_id)
        .where(VerificationDocument.id == document_id)
    ).one_or_none()
    if row is None or (actor.role not in VERIFIERS and row[1] != actor.id):
        raise NotFound("No such document.")
    doc = row[0]
    return DocumentInfo(doc.id, doc.file_name, doc.content_type, doc.size_bytes, doc.created_at), doc.content


# ---------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Decision:
    application: VerificationApplication
    notice: notifications.Item


DECISIONS = {
    # decision: (application status, practitioner status or None to leave it, message title)
    "approve": (ApplicationStatus.APPROVED, VerificationStatus.VERIFIED, "You are verified"),
    "reject": (ApplicationStatus.REJECTED, VerificationStatus.REJECTED, "Verification not approved"),
    "ask": (ApplicationStatus.NEEDS_INFORMATION, None, "More information needed for verification"),
}


def checked_decision(decision: str, message: str, health_registration: str) -> tuple[str, str]:
    """A decision's words, cleaned, or InvalidInput saying what is wrong (checked before
    staff are asked to confirm, and again when it is sent)."""
    if decision not in DECISIONS:
        raise InvalidInput({"decision": "Choose approve, reject or ask for more information."})
    problems: dict[str, str] = {}
    try:
        message = validation.text(
            message,
            label="The reason" if decision == "reject" else "The message",
            max_length=2000,
            required=decision != "approve",
        )
    except validation.FieldError as error:
        problems["message"] = f"{error} The practitioner is told."
    try:
        health_registration = validation.text(
            health_registration, label="Health registration", max_length=60, required=False, one_line=True
        )
        if health_registration and not REGISTRATION.fullmatch(health_registration):
            problems["health_registration"] = REGISTRATION_HELP
    except validation.FieldError as error:
        problems["health_registration"] = str(error)
    if health_registration and decision != "approve":
        problems["health_registration"] = "A health registration is recorded only when approving."
    if problems:
        raise InvalidInput(problems)
    return message, health_registration


def decide(
    *,
    session: Session,
    actor: Actor,
    application_id: uuid.UUID,
    decision: str,
    message: str = "",
    health_registration: str = "",
    now: datetime | None = None,
) -> Decision:
    """Approve, reject (with a reason) or ask for more information (saying what), with one
    audit row; returns the notice the practitioner is owed (`flows.decide_verification`
    sends it). On approval staff may record a statutory
    health registration they confirmed, which the profile then names."""
    _verifier(actor)
    message, health_registration = checked_decision(decision, message, health_registration)
    application_status, practitioner_status, title = DECISIONS[decision]
    application = session.scalar(
        select(VerificationApplication).where(VerificationApplication.id == application_id).with_for_update()
    )
    if application is None:
        raise NotFound("No such application.")
    if application.status != ApplicationStatus.PENDING:
        raise Conflict(
            f"This application is {application.status.value.replace('_', ' ')}; it has already been dealt with "
            "or is waiting for the practitioner. Refresh the queue."
        )
    practitioner = session.scalars(
        select(Practitioner).where(Practitioner.id == application.practitioner_id).with_for_update()
    ).one()
    now = now or datetime.now(UTC)
    before = {
        "application": application.status.value,
        "practitioner": practitioner.verification_status.value,
        "health_registration": practitioner.health_registration,
    }
    application.status = application_status
    if decision != "ask":
        application.decided_by_id = actor.id
        application.decided_at = now
    if practitioner_status is not None:
        practitioner.verification_status = practitioner_status
        practitioner.verified_at = now if practitioner_status == VerificationStatus.VERIFIED else None
        practitioner.health_registration = health_registration or None
    session.add(
        _message(
            application_id=application.id,
            author_id=actor.id,
            kind={"approve": "approved", "reject": "rejected", "ask": "asked"}[decision],
            message=message,
        )
    )
    audit.record(
        session=session,
        actor_id=actor.id,
        action=f"verification.{decision}",
        target_type="practitioner",
        target_id=practitioner.id,
        before=before,
        after={
            "application": application.status.value,
            "practitioner": practitioner.verification_status.value,
            "health_registration": practitioner.health_registration,
        },
        reason=message or None,
    )
    body = {
        "approve": "Your verification was approved: clients now see the verified badge on your profile."
        + (f" {message}" if message else ""),
        "reject": f"Your verification was not approved: {message}",
        "ask": f"Staff need more information to verify you: {message} Answer on the Verification page.",
    }[decision]
    session.flush()
    return Decision(
        application=application,
        notice=notifications.Item(
            practitioner.user_id, f"verification_{decision}", title, body, {"application_id": str(application.id)}
        ),
    )


@dataclass(frozen=True)
class BackToStaff:
    application: VerificationApplication
    notices: list[notifications.Item]


@dataclass(frozen=True)
class _Change:
    """What a verified practitioner changed that staff must check again, in words."""

    kind: str  # the queue's message kind
    action: str  # the audit action
    field: str  # the audited field
    before: str
    after: str
    note: str  # for staff, in the queue
    reason: str  # for the audit log
    own_title: str
    own_text: str
    staff_title: str
    staff_text: str
    notice_type: str


def name_changed(*, session: Session, user: User, before: str, after: str) -> BackToStaff | None:
    """A verified practitioner who changes their name goes back to staff: the badge is off
    (status pending) until staff approve the new name. `flows.update_profile` calls this in
    the same transaction and sends the notices returned; None when nothing changes."""
    if before == after:
        return None
    return _back_to_staff(
        session,
        user,
        _Change(
            kind="renamed",
            action="verification.name_change",
            field="name",
            before=before,
            after=after,
            note=f"Changed their name from “{before}” to “{after}”. Check that the new name belongs to the verified "
            "person.",
            reason="The practitioner changed their name.",
            own_title="Your new name goes to staff",
            own_text="You changed your name, so staff check it again before clients see the verified badge. "
            "You will be notified of their decision.",
            staff_title="A verified practitioner changed their name",
            staff_text=f"{before} is now called {after}. Their verification is back in the queue.",
            notice_type="verification_name_change",
        ),
    )


def practice_changed(
    *, session: Session, user: User, before: Specialization, after: Specialization
) -> BackToStaff | None:
    """A verified practitioner who changes what they practise (a counselor becoming a
    prophet) goes back to staff as a new name does: what staff checked, and any health
    registration they confirmed, was for the old practice."""
    if before == after:
        return None
    was, now = before.value.replace("_", " "), after.value.replace("_", " ")
    name = f"{user.first_name} {user.last_name}"
    return _back_to_staff(
        session,
        user,
        _Change(
            kind="practice_changed",
            action="verification.practice_change",
            field="specialization",
            before=before.value,
            after=after.value,
            note=f"Changed their practice from {was} to {now}. Check that their documents and any health "
            "registration still fit.",
            reason="The practitioner changed their practice.",
            own_title="Your new practice goes to staff",
            own_text=f"You changed your practice to {now}, so staff check your verification again before clients "
            "see the verified badge. You will be notified of their decision.",
            staff_title="A verified practitioner changed their practice",
            staff_text=f"{name} changed their practice from {was} to {now}. Their verification is back in the queue.",
            notice_type="verification_practice_change",
        ),
    )


def _back_to_staff(session: Session, user: User, change: _Change) -> BackToStaff | None:
    """The badge off (status pending) until staff approve again: a new application, copied
    from the approved one with its documents, waits in the queue; one audit row; the
    practitioner and staff are told (the notices returned). None unless verified."""
    practitioner = session.scalar(select(Practitioner).where(Practitioner.user_id == user.id).with_for_update())
    if practitioner is None:
        return None
    if practitioner.verification_status == VerificationStatus.PENDING:
        return _told_while_waiting(session, user, practitioner, change)
    if practitioner.verification_status != VerificationStatus.VERIFIED:
        return None
    approved = session.scalar(
        select(VerificationApplication)
        .where(
            VerificationApplication.practitioner_id == practitioner.id,
            VerificationApplication.status == ApplicationStatus.APPROVED,
        )
        .order_by(VerificationApplication.decided_at.desc().nulls_last(), VerificationApplication.created_at.desc())
        .limit(1)
    )
    full_name = f"{user.first_name} {user.last_name}"
    application = VerificationApplication(
        practitioner_id=practitioner.id,
        legal_name=approved.legal_name if approved else full_name,
        registration_body=approved.registration_body if approved else None,
        registration_number=approved.registration_number if approved else None,
        years_of_practice=approved.years_of_practice if approved else 0,
        statement=(approved.statement if approved else change.note)[:4000],
    )
    session.add(application)
    session.flush()
    if approved is not None:  # the documents staff approved, copied inside the database
        columns = ["file_name", "content_type", "size_bytes", "sha256", "content", "thumbnail", "uploaded_by_id"]
        copies = select(
            func.gen_random_uuid(),  # one id a row: a Python-side default would give them all one
            literal(application.id),
            *(getattr(VerificationDocument, c) for c in columns),
        ).where(VerificationDocument.application_id == approved.id)
        session.execute(insert(VerificationDocument).from_select(["id", "application_id", *columns], copies))
    practitioner.verification_status = VerificationStatus.PENDING
    practitioner.verified_at = None
    return _put_to_staff(session, user, practitioner, application, change, was=VerificationStatus.VERIFIED)


def _told_while_waiting(
    session: Session, user: User, practitioner: Practitioner, change: _Change
) -> BackToStaff | None:
    """A change while staff are still to decide (a re-check, or a first application): said on
    the waiting application and audited, so staff decide on what is true now."""
    waiting = session.scalar(
        select(VerificationApplication)
        .where(
            VerificationApplication.practitioner_id == practitioner.id,
            VerificationApplication.status == ApplicationStatus.PENDING,
        )
        .order_by(VerificationApplication.created_at.desc())
        .limit(1)
    )
    if waiting is None:
        return None
    return _put_to_staff(session, user, practitioner, waiting, change, was=VerificationStatus.PENDING)


def _put_to_staff(
    session: Session,
    user: User,
    practitioner: Practitioner,
    application: VerificationApplication,
    change: _Change,
    *,
    was: VerificationStatus,
) -> BackToStaff:
    """The change said on the application staff will decide, one audit row, and the notices
    for the practitioner and for staff (returned, for the caller to send)."""
    session.add(_message(application_id=application.id, author_id=user.id, kind=change.kind, message=change.note))
    audit.record(
        session=session,
        actor_id=user.id,
        action=change.action,
        target_type="practitioner",
        target_id=practitioner.id,
        before={change.field: change.before, "practitioner": was.value},
        after={change.field: change.after, "practitioner": VerificationStatus.PENDING.value},
        reason=change.reason,
    )
    staff = session.scalars(
        select(User.id).where(User.role.in_(VERIFIERS), User.is_active.is_(True), User.deleted_at.is_(None))
    ).all()
    session.flush()
    data = {"application_id": str(application.id)}
    return BackToStaff(
        application=application,
        notices=[
            notifications.Item(user.id, change.notice_type, change.own_title, change.own_text, data),
            *(
                notifications.Item(staff_id, change.notice_type, change.staff_title, change.staff_text, data)
                for staff_id in staff
            ),
        ],
    )


def health_status_line(*, verified: bool, health_registration: str | None) -> str:
    """What a profile says plainly about the practitioner's standing."""
    if verified and health_registration:
        return f"Registered health professional: {health_registration} (confirmed by Avenrae)."
    if verified:
        return (
            "Identity and practice checked by Avenrae. Not a registered health professional: "
            "this is not medical care, and it does not replace a doctor."
        )
    return (
        "Not yet verified by Avenrae, and not a registered health professional: "
        "this is not medical care, and it does not replace a doctor."
    )
