"""In-app notifications, and e-mail copies sent from an outbox when SMTP is configured.

Notifications are written in the same transaction as whatever they announce, so a
failed booking announces nothing. E-mails are never sent from inside a transaction
(a rollback cannot unsend one): the row is marked pending and `send_pending_emails`
sends it after the commit, from the page that made the change or from the job.
"""

from __future__ import annotations

import smtplib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from avenrae.config import get_settings
from avenrae.models import Notification, User
from avenrae.services.errors import InvalidInput


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


def notify_many(*, session: Session, items: list[Item]) -> None:
    """Add notifications in the caller's transaction (one INSERT for all)."""
    if not items:
        return
    status = new_email_status()
    session.execute(
        insert(Notification),
        [
            {
                "user_id": item.user_id,
                "type": item.type,
                "title": item.title,
                "message": item.message,
                "data": item.data or {},
                "email_status": status,
            }
            for item in items
        ],
    )


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
    return session.execute(statement.values(read_at=now or datetime.now(UTC))).rowcount


def send_pending_emails(*, session: Session, limit: int = 200) -> tuple[int, int]:
    """Send e-mail copies waiting in the outbox; returns (sent, failed). The caller commits."""
    settings = get_settings()
    if not settings.smtp_host:
        return 0, 0
    rows = session.execute(
        select(Notification.id, Notification.title, Notification.message, User.email, User.first_name)
        .join(User, User.id == Notification.user_id)
        .where(Notification.email_status == "pending")
        .order_by(Notification.created_at)
        .limit(limit)
        .with_for_update(of=Notification, skip_locked=True)
    ).all()
    if not rows:
        return 0, 0
    sent = failed = 0
    try:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20)
    except OSError:
        return 0, 0  # the server is down: everything stays pending for the next run
    with smtp:
        if settings.smtp_starttls and smtp.has_extn("starttls"):
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        for row in rows:
            message = EmailMessage()
            message["From"] = settings.smtp_from
            message["To"] = row.email
            message["Subject"] = f"Avenrae: {row.title}"
            message.set_content(f"Hello {row.first_name},\n\n{row.message}\n\n— Avenrae\n")
            try:
                smtp.send_message(message)
                status = "sent"
                sent += 1
            except smtplib.SMTPException:
                status = "failed"
                failed += 1
            session.execute(update(Notification).where(Notification.id == row.id).values(email_status=status))
    return sent, failed
