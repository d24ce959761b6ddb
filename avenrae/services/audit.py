"""The audit trail: who did what to which record, with the state before and after."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from avenrae.models import AuditLog


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
