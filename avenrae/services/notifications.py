"""In-app notifications, and e-mail copies sent from an outbox when SMTP is configured.

Notifications are written in the same transaction as whatever they announce, so a
failed booking announces nothing. E-mails are never sent from inside the change's transaction
(a rollback cannot unsend one): the row is marked pending and `send_pending_emails`
sends it after the commit, from the page that made the change or from the job, over
verified TLS, each message marked sent in its own transaction.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from avenrae.config import get_settings
from avenrae.db import rows_changed, session_scope
from avenrae.models import Notification, User
from avenrae.services.errors import InvalidInput, ServiceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    user_id: uuid.UUID
    type: str
    title: str
    message: str
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Entry:
    id: uuid.UUID
    type: str
    title: str
    message: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


def email_enabled() -> bool:
    return bool(get_settings().smtp_host)


def new_email_status() -> str:
    """How a new notification enters the e-mail outbox: waiting to be sent, or not at all."""
    return "pending" if email_enabled() else "none"


# One INSERT for any number of notices (arrays unnested).
INSERT_SQL = (
    "INSERT INTO notifications (user_id, type, title, message, data, email_status) "
    "SELECT item.user_id, item.type, item.title, item.message, item.data::jsonb, :email_status "
    "FROM unnest(CAST(:user_ids AS uuid[]), CAST(:types AS text[]), CAST(:titles AS text[]), "
    "CAST(:messages AS text[]), CAST(:data AS text[])) AS item(user_id, type, title, message, data)"
)
_INSERT = text(INSERT_SQL)


def insert_sql(*, with_rows_of: str) -> str:
    """INSERT_SQL (parameters: `insert_params`) for a statement that writes what the notices
    announce too (`flows.book`): written only when the CTE `with_rows_of` returns a row."""
    return f"{INSERT_SQL} WHERE EXISTS (SELECT FROM {with_rows_of})"


def insert_params(items: list[Item]) -> dict[str, object]:
    return {
        "email_status": new_email_status(),
        "user_ids": [item.user_id for item in items],
        "types": [item.type for item in items],
        "titles": [item.title for item in items],
        "messages": [item.message for item in items],
        "data": [json.dumps(item.data or {}) for item in items],
    }


def notify_many(*, session: Session, items: list[Item]) -> None:
    """Add notifications in the caller's transaction (one INSERT for all)."""
    if items:
        session.flush()  # the rows they follow go first
        session.execute(_INSERT, insert_params(items))


def notify(*, session: Session, item: Item) -> None:
    notify_many(session=session, items=[item])


def unread_count(*, session: Session, user_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


def inbox(
    *, session: Session, user_id: uuid.UUID, unread_only: bool = False, limit: int = 50, offset: int = 0
) -> list[Entry]:
    if not 1 <= limit <= 200 or offset < 0:
        raise InvalidInput({"page": "Pages hold 1 to 200 notifications."})
    statement = select(
        Notification.id,
        Notification.type,
        Notification.title,
        Notification.message,
        Notification.data,
        Notification.created_at,
        Notification.read_at,
    ).where(Notification.user_id == user_id)
    if unread_only:
        statement = statement.where(Notification.read_at.is_(None))
    rows = session.execute(
        statement.order_by(Notification.created_at.desc(), Notification.id).limit(limit).offset(offset)
    ).all()
    return [Entry(*row) for row in rows]


def mark_read(
    *, session: Session, user_id: uuid.UUID, ids: list[uuid.UUID] | None = None, now: datetime | None = None
) -> int:
    """Mark some (or, with no ids, all) of a user's notifications read; only theirs."""
    statement = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids))
    return rows_changed(session.execute(statement.values(read_at=now or datetime.now(UTC))))


class EmailTransportError(ServiceError):
    """The mail server cannot be used safely (no TLS offered, a certificate that does not verify)."""


def _connect() -> smtplib.SMTP:
    """A logged-in connection to the mail server, always over verified TLS unless the server
    is this machine (AVENRAE_SMTP_SECURITY=none): never a password or a message in clear."""
    settings = get_settings()
    assert settings.smtp_host is not None
    context = ssl.create_default_context()
    timeout = settings.smtp_timeout_seconds
    if settings.smtp_security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        if settings.smtp_security == "starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise EmailTransportError(f"{settings.smtp_host} does not offer STARTTLS; not sending in clear.")
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
    except BaseException:
        smtp.close()
        raise
    return smtp


def _message_domain() -> str:
    """The sender's domain (spam filters compare Message-ID with From), else the public URL's host."""
    settings = get_settings()
    _, sender = parseaddr(settings.smtp_from)
    local_part, at, domain = sender.rpartition("@")
    return (domain if at and local_part else None) or urlsplit(settings.public_url).hostname or "avenrae.invalid"


def _message(message_id: str, email: str, first_name: str, title: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = get_settings().smtp_from
    message["To"] = email
    message["Subject"] = f"Avenrae: {title}"
    message["Date"] = formatdate(localtime=False)
    # One id per notification: a copy sent again (the server took it, but marking it sent
    # failed) carries the same id, so mail programs can tell it is the same message.
    message["Message-ID"] = f"<{message_id}@{_message_domain()}>"
    message.set_content(f"Hello {first_name},\n\n{text}\n\n— Avenrae\n")
    return message


_NEXT = (
    select(Notification.id, Notification.title, Notification.message, User.email, User.first_name)
    .join(User, User.id == Notification.user_id)
    .where(Notification.email_status == "pending")
    .order_by(Notification.created_at)
    .limit(1)
    .with_for_update(of=Notification, skip_locked=True)
)


def _never_taken(error: BaseException) -> bool:
    """Whether the server refused this message for good (its address or its content), as
    opposed to the connection or the server failing, after which every message waits.
    Refusals of the sender concern every message, so they wait too."""
    if isinstance(error, smtplib.SMTPRecipientsRefused | smtplib.SMTPNotSupportedError | UnicodeError | ValueError):
        return True  # an address the server will never take, or one it cannot be sent to (SMTPUTF8)
    if isinstance(error, smtplib.SMTPSenderRefused):
        return False
    return isinstance(error, smtplib.SMTPResponseException) and 500 <= error.smtp_code < 600


def send_now(*, message_id: str, email: str, first_name: str, title: str, text: str) -> bool:
    """Send one e-mail at once, outside the outbox: for what must never be stored, such as a
    link that resets a password. False (and logged) when it could not be sent."""
    if not email_enabled():
        return False
    try:
        with _connect() as smtp:
            smtp.send_message(_message(message_id, email, first_name, title, text))
    except (OSError, smtplib.SMTPException, EmailTransportError, UnicodeError, ValueError) as error:
        log.warning("e-mail %s not sent: %s", message_id, error)
        return False
    return True


def send_pending_emails(*, limit: int = 200) -> tuple[int, int]:
    """Send e-mail copies waiting in the outbox, each in a transaction of its own (the row
    locked while it is sent, marked sent as soon as the server took it), so a failure or a
    timeout later never sends one again. Returns (sent, failed)."""
    if not email_enabled():
        return 0, 0
    with session_scope() as session:
        if session.scalar(select(func.count()).select_from(_NEXT.subquery())) == 0:
            return 0, 0
    try:
        smtp = _connect()
    except (OSError, smtplib.SMTPException, EmailTransportError) as error:
        log.warning("e-mail not sent, the outbox waits: %s", error)
        return 0, 0  # the server is down or unsafe: everything stays pending for the next run
    sent = failed = 0
    with smtp:
        for _ in range(limit):
            with session_scope() as session:
                row = session.execute(_NEXT).first()
                if row is None:
                    break
                try:
                    smtp.send_message(
                        _message(f"notification.{row.id}", row.email, row.first_name, row.title, row.message)
                    )
                except (OSError, smtplib.SMTPException, UnicodeError, ValueError) as error:
                    if not _never_taken(error):
                        log.warning("e-mail not sent, the outbox waits: %s", error)
                        break  # the connection is gone: this one and the rest wait for the next run
                    # This one will never be taken (and would stop every e-mail behind it).
                    log.warning("e-mail %s refused for good: %s", row.id, error)
                    status = "failed"
                else:
                    status = "sent"
                session.execute(update(Notification).where(Notification.id == row.id).values(email_status=status))
            if status == "sent":
                sent += 1
            else:
                failed += 1
    return sent, failed
