"""What is kept, and for how long: records about people are deleted once no longer needed
(POPIA, section 14). The `purge-expired` job runs this daily.

| record | kept for |
|---|---|
| login attempts (email, address, outcome) | AVENRAE_LOGIN_ATTEMPTS_RETENTION_DAYS (90) |
| refresh tokens, after they expire or are revoked | AVENRAE_EXPIRED_TOKENS_RETENTION_DAYS (7) |
| password reset links (their hashes), after they run out | AVENRAE_EXPIRED_TOKENS_RETENTION_DAYS (7) |
| Stripe webhook events (kept to apply each once) | AVENRAE_STRIPE_EVENTS_RETENTION_DAYS (30) |
| remember-me codes | until used, or two minutes |
| rate-limit counters | a day |
| the API's idempotency keys (the answer each got) | a day |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from avenrae.config import get_settings
from avenrae.db import rows_changed
from avenrae.models import (
    LoginAttempt,
    PasswordReset,
    PreviousReleaseRateLimitCounter,
    RateLimitCounter,
    RefreshToken,
    SessionCode,
    StripeEvent,
)
from avenrae.services import idempotency


@dataclass(frozen=True)
class Purged:
    login_attempts: int
    refresh_tokens: int
    stripe_events: int
    session_codes: int
    rate_limit_counters: int
    idempotency_keys: int = 0
    password_resets: int = 0

    def __str__(self) -> str:
        return (
            f"Deleted {self.login_attempts} login attempts, {self.refresh_tokens} expired refresh tokens, "
            f"{self.password_resets} password reset links, {self.stripe_events} Stripe events, "
            f"{self.session_codes} remember-me codes, {self.rate_limit_counters} rate-limit counters and "
            f"{self.idempotency_keys} idempotency keys past their keeping time."
        )


def purge_expired(*, session: Session, now: datetime | None = None) -> Purged:
    """Delete every record past its keeping time (see the module's table)."""
    now = now or datetime.now(UTC)
    settings = get_settings()
    tokens_before = now - timedelta(days=settings.expired_tokens_retention_days)

    def deleted(statement) -> int:
        return rows_changed(session.execute(statement))

    return Purged(
        login_attempts=deleted(
            delete(LoginAttempt).where(
                LoginAttempt.attempted_at < now - timedelta(days=settings.login_attempts_retention_days)
            )
        ),
        refresh_tokens=deleted(
            delete(RefreshToken).where(
                or_(RefreshToken.expires_at < tokens_before, RefreshToken.revoked_at < tokens_before)
            )
        ),
        stripe_events=deleted(
            delete(StripeEvent).where(
                StripeEvent.received_at < now - timedelta(days=settings.stripe_events_retention_days)
            )
        ),
        session_codes=deleted(delete(SessionCode).where(SessionCode.expires_at < now)),
        rate_limit_counters=deleted(
            delete(RateLimitCounter).where(RateLimitCounter.window_start < now - timedelta(days=1))
        )
        + deleted(  # the previous release's, which no server writes once all are upgraded
            delete(PreviousReleaseRateLimitCounter).where(
                PreviousReleaseRateLimitCounter.window_start < now - timedelta(days=1)
            )
        ),
        idempotency_keys=idempotency.purge(session=session, now=now),
        password_resets=deleted(delete(PasswordReset).where(PasswordReset.expires_at < tokens_before)),
    )
