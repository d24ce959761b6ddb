"""Rate limits shared by every app server: counters in the database, not in one process.

Each key (an action and who does it, "login-ip:196.25.1.1") counts hits per fixed
window; the rate over the last window is estimated from the current window and the
previous one weighted by how much of it still overlaps (the sliding-window counter of
Cloudflare's and nginx's limiters). Hits are counted in a transaction of their own, so
a refused or failed request still counts, and before any expensive work is done.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from avenrae.db import independent_transaction
from avenrae.services.errors import ServiceError

_COUNT = text("""
    WITH counted AS (
        INSERT INTO rate_limit_counters AS c (key, window_start, hits) VALUES (:key, :window_start, 1)
        ON CONFLICT (key, window_start) DO UPDATE SET hits = c.hits + 1
        RETURNING hits
    )
    SELECT (SELECT hits FROM counted),
           coalesce((SELECT hits FROM rate_limit_counters WHERE key = :key AND window_start = :previous), 0)
""")


class RateLimited(ServiceError):
    """Too many requests; `retry_after` is how many seconds to wait."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    """At most `hits` per `window`, for one action."""

    action: str
    hits: int
    window: timedelta
    message: str  # what the person is told, e.g. "Too many login attempts from your network."


def hit(session: Session, limit: Limit, who: str, *, now: datetime | None = None) -> None:
    """Count one hit by `who`; RateLimited (with a Retry-After) when over the limit."""
    now = now or datetime.now(UTC)
    seconds = limit.window.total_seconds()
    epoch = now.timestamp()
    start = datetime.fromtimestamp(epoch - epoch % seconds, UTC)
    key = f"{limit.action}:{who}"[:200]
    with independent_transaction(session) as connection:
        current, previous = connection.execute(
            _COUNT, {"key": key, "window_start": start, "previous": start - limit.window}
        ).one()
    _judge(limit, current, previous, start, now)


def hit_committed(session: Session, limit: Limit, who: str, *, now: datetime | None = None) -> None:
    """`hit`, counted in the caller's own transaction, which must commit whether or not this
    refuses (a request's own short transaction before its work): no second connection."""
    now = now or datetime.now(UTC)
    seconds = limit.window.total_seconds()
    epoch = now.timestamp()
    start = datetime.fromtimestamp(epoch - epoch % seconds, UTC)
    key = f"{limit.action}:{who}"[:200]
    current, previous = session.execute(
        _COUNT, {"key": key, "window_start": start, "previous": start - limit.window}
    ).one()
    _judge(limit, current, previous, start, now)


def _judge(limit: Limit, current: int, previous: int, start: datetime, now: datetime) -> None:
    seconds = limit.window.total_seconds()
    elapsed = (now - start).total_seconds() / seconds
    if current + previous * (1 - elapsed) > limit.hits:
        wait = _wait(current, previous, elapsed, limit.hits) * seconds
        raise RateLimited(f"{limit.message} Try again in {_minutes(wait)}.", retry_after=max(1, math.ceil(wait)))


def _wait(current: int, previous: int, elapsed: float, allowed: int) -> float:
    """Windows to wait until one more hit fits the estimate."""
    if current < allowed:  # the previous window's weight must fall first
        return max(0.0, 1 - (allowed - current - 1) / previous - elapsed)
    # Only in the next window, once this one's weight has fallen far enough.
    return (1 - elapsed) + max(0.0, 1 - (allowed - 1) / current)


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute" + ("" if minutes == 1 else "s")
