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
from sqlalchemy.orm import Session, aliased

from avenrae.models import AuditLog, Practitioner, Review, Role, User, booking_reference
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


def target_words(entry: AuditRow, names: dict[tuple[str, str], str]) -> str:
    """'Booking AVN-1A2B3C4D', 'User Lindiwe Dube <lindiwe@…>', or the kind and id when unknown."""
    kind = entry.target_type.replace("_", " ").capitalize()
    if entry.target_type == "booking" and entry.target_id:
        return f"Booking {booking_reference(entry.target_id)}"
    named = names.get((entry.target_type, entry.target_id or ""))
    return f"{kind} {named or entry.target_id or ''}".strip()


def target_names(session: Session, rows: list[AuditRow]) -> dict[tuple[str, str], str]:
    """Who or what each entry's target is, as people know it: a user's name and email, a
    practitioner's name, whose review of whom; a few reads for a whole page (booking
    references are derived from their ids, so they need none)."""
    wanted: dict[str, set[uuid.UUID]] = {}
    for row in rows:
        if row.target_type in ("user", "practitioner", "review") and row.target_id:
            try:
                wanted.setdefault(row.target_type, set()).add(uuid.UUID(row.target_id))
            except ValueError:
                continue
    names: dict[tuple[str, str], str] = {}
    full_name = User.first_name + " " + User.last_name
    if wanted.get("user"):
        for key, name, email in session.execute(
            select(User.id, full_name, User.email).where(User.id.in_(wanted["user"]))
        ):
            names["user", str(key)] = f"{name} <{email}>"
    if wanted.get("practitioner"):
        for key, name in session.execute(
            select(Practitioner.id, full_name)
            .join(User, User.id == Practitioner.user_id)
            .where(Practitioner.id.in_(wanted["practitioner"]))
        ):
            names["practitioner", str(key)] = name
    if wanted.get("review"):
        reviewer, reviewed = aliased(User), aliased(User)
        for key, client, practitioner in session.execute(
            select(
                Review.id,
                reviewer.first_name + " " + reviewer.last_name,
                reviewed.first_name + " " + reviewed.last_name,
            )
            .join(reviewer, reviewer.id == Review.client_id)
            .join(Practitioner, Practitioner.id == Review.practitioner_id)
            .join(reviewed, reviewed.id == Practitioner.user_id)
            .where(Review.id.in_(wanted["review"]))
        ):
            names["review", str(key)] = f"{client}’s review of {practitioner}"
    return names


CSV_COLUMNS = ["when_utc", "actor", "action", "target_type", "target_id", "target", "before", "after", "reason"]


def export_csv(*, session: Session, actor_role: Role, filters: AuditFilter = AuditFilter()) -> tuple[str, int]:
    """Every matching entry (up to EXPORT_LIMIT) as CSV, newest first; and the row count."""
    _admin(actor_role)
    rows = session.execute(
        _matching(filters).order_by(AuditLog.created_at.desc(), AuditLog.id).limit(EXPORT_LIMIT)
    ).all()
    entries = [AuditRow(*row) for row in rows]
    names = target_names(session, entries)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(
            spreadsheet.cell(value)
            for value in [
                entry.at.astimezone(UTC).isoformat(timespec="seconds"),
                entry.actor,
                entry.action,
                entry.target_type,
                entry.target_id or "",
                target_words(entry, names),
                json.dumps(entry.before, sort_keys=True) if entry.before is not None else "",
                json.dumps(entry.after, sort_keys=True) if entry.after is not None else "",
                entry.reason or "",
            ]
        )
    return buffer.getvalue(), len(rows)
