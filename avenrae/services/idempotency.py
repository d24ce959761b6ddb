"""Idempotency keys: a request retried under the same key gets the first answer again.

The answer is stored in the same transaction as the work it reports, so either both are
kept or neither is; concurrent retries of one key take turns (a transaction-level lock),
and the second finds the first's answer. A key reused for a different request is refused.
Keys are per user and kept for KEPT_FOR.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from avenrae import db
from avenrae.db import rows_changed
from avenrae.models import IdempotencyKey
from avenrae.services.errors import InvalidInput

KEPT_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


def request_hash(what: str, payload: Any) -> str:
    """A fingerprint of the request (what was asked, with which body)."""
    canonical = json.dumps([what, payload], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput({"idempotency_key": f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters."})
    return key


def claim(
    *, session: Session, user_id: uuid.UUID, key: str, fingerprint: str, now: datetime | None = None
) -> Answer | None:
    """The stored answer for this key, or None: then do the work and `remember` its answer in
    this same transaction. Holds the key until the transaction ends."""
    key = check_key(key)
    db.lock_until_commit(session, f"avenrae.idempotency:{user_id}:{key}")
    row = session.get(IdempotencyKey, (user_id, key), populate_existing=True)
    if row is None:
        return None
    if row.created_at < (now or datetime.now(UTC)) - KEPT_FOR:
        session.delete(row)
        session.flush()
        return None
    if row.request_hash != fingerprint:
        raise InvalidInput({"idempotency_key": "This Idempotency-Key was used for a different request; use a new key."})
    return Answer(row.status_code, row.response)


def remember(*, session: Session, user_id: uuid.UUID, key: str, fingerprint: str, answer: Answer) -> None:
    session.add(
        IdempotencyKey(
            user_id=user_id,
            key=check_key(key),
            request_hash=fingerprint,
            status_code=answer.status_code,
            response=answer.body,
        )
    )
    session.flush()


def purge(*, session: Session, now: datetime | None = None) -> int:
    """Forget keys older than KEPT_FOR."""
    cutoff = (now or datetime.now(UTC)) - KEPT_FOR
    return rows_changed(session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)))


def stored(*, session: Session, user_id: uuid.UUID) -> list[str]:
    return list(session.scalars(select(IdempotencyKey.key).where(IdempotencyKey.user_id == user_id)))
