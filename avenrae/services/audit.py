"""The audit trail: who did what to which record, with the state before and after.

Every staff and admin action writes one row in the same transaction as the action;
admins read and export them.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from avenrae.models import AuditLog, Role, User
from avenrae.services import spreadsheet, validation
from avenrae.services.errors import InvalidInput, PermissionDenied


def record(
    *,
    session: Session,
    actor_id: uuid.UUID | None,
    action: str,
    target_type: str,
    target_id: uuid.UUID | str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditLog:
    """Add one audit row in the caller's transaction, so it lands only if the action does."""
    entry = AuditLog(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        before=before,
        after=after,
        reason=reason,
    )
    session.add(entry)
    return entry


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""  # part of the actor's name or e-mail
    actions: tuple[str, ...] = ()
    target: str = ""  # a target type ("review") or a target id, or part of one
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class AuditRow:
    id: uuid.UUID
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


EXPORT_LIMIT = 50_000
ADMINS = (Role.ADMIN,)


def _admin(actor_role: Role) -> None:
    if actor_role not in ADMINS:
        raise PermissionDenied("Only admins can read the audit log.")


def _matching(filters: AuditFilter) -> Select:
    if filters.start and filters.end and filters.start >= filters.end:
        raise InvalidInput({"end": "The end of the period is before its start."})
    conditions = []
    if filters.start:
        conditions.append(AuditLog.created_at >= filters.start)
    if filters.end:
        conditions.append(AuditLog.created_at < filters.end)
    if filters.actions:
        conditions.append(AuditLog.action.in_(filters.actions))
    for word in filters.actor.lower().split()[:4]:
        conditions.append(User.search_text.like(validation.contains(word)))
    target = filters.target.strip().lower().removeprefix("avn-")  # a booking's reference is its id's start
    if target:
        conditions.append(
            or_(
                AuditLog.target_type == target,
                func.lower(AuditLog.target_id).like(validation.like_escaped(target) + "%"),
            )
        )
    actor_label = func.coalesce(User.first_name + " " + User.last_name + " <" + User.email + ">", "the system")
    return (
        select(
            AuditLog.id,
            AuditLog.created_at,
            actor_label,
            AuditLog.action,
            AuditLog.target_type,
            AuditLog.target_id,
            AuditLog.before,
            AuditLog.after,
            AuditLog.reason,
        )
        .outerjoin(User, User.id == AuditLog.actor_id)
        .where(*conditions)
    )


def actions(*, session: Session, actor_role: Role) -> list[str]:
    _admin(actor_role)
    return list(session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)))


def search(
    *, session: Session, actor_role: Role, filters: AuditFilter = AuditFilter(), page: int = 1, page_size: int = 50
) -> tuple[list[AuditRow], int]:
    """One page of matching entries, newest first, and how many match in all."""
    _admin(actor_role)
    if page < 1 or not 1 <= page_size <= 500:
        raise InvalidInput({"page": "Pages start at 1 and hold at most 500 entries."})
    matching = _matching(filters)
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    rows = session.execute(
        matching.order_by(AuditLog.created_at.desc(), AuditLog.id).limit(page_size).offset((page - 1) * page_size)
    ).all()
    return [AuditRow(*row) for row in rows], total


CSV_COLUMNS = ["when_utc", "actor", "action", "target_type", "target_id", "before", "after", "reason"]


def export_csv(*, session: Session, actor_role: Role, filters: AuditFilter = AuditFilter()) -> tuple[str, int]:
    """Every matching entry (up to EXPORT_LIMIT) as CSV, newest first; and the row count."""
    _admin(actor_role)
    rows = session.execute(
        _matching(filters).order_by(AuditLog.created_at.desc(), AuditLog.id).limit(EXPORT_LIMIT)
    ).all()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        entry = AuditRow(*row)
        writer.writerow(
            spreadsheet.cell(value)
            for value in [
                entry.at.astimezone(UTC).isoformat(timespec="seconds"),
                entry.actor,
                entry.action,
                entry.target_type,
                entry.target_id or "",
                json.dumps(entry.before, sort_keys=True) if entry.before is not None else "",
                json.dumps(entry.after, sort_keys=True) if entry.after is not None else "",
                entry.reason or "",
            ]
        )
    return buffer.getvalue(), len(rows)
