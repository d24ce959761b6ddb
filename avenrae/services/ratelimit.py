"""Rate limits shared by every app server: counters in the database, not in one process.

Each key (an action and who does it, "login-ip:196.25.1.1") counts hits per fixed
window; the rate over the last window is estimated from the current window and the
previous one weighted by how much of it still overlaps (the sliding-window counter of
Cloudflare's and nginx's limiters). Hits are counted in a transaction of their own, so
a refused or failed request still counts, and before any expensive work is done.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from avenrae.db import independent_transaction
from avenrae.services.errors import ServiceError

# One statement for any number of keys, touching one row per key through the primary key
# (no read of other rows, whose plan could go stale as the table grows). A hit in the row's
# window adds to it; in the next window the row moves along and its hits become the
# previous window's; later than that, both start afresh. A server whose clock lags by up to a
# window counts into the window already there (and is judged by it); a row further ahead (a
# clock far off) starts afresh in the caller's window, so one bad clock cannot hold a key's
# count for longer than a window. The counter rows are locked from this statement to
# the commit (every request from one address updates the same row), so the commit is not
# waited onto disk (synchronous_commit off, for this transaction alone): a crash may forget
# the last moment's counts, which no one relies on. Rows are locked in key order, so two
# requests never wait on each other crosswise.
_COUNT = text("""
    WITH counted AS (
        INSERT INTO rate_limits AS c (key, window_start, window_end, hits, previous_hits)
        SELECT key, window_start, window_end, 1, 0
        FROM jsonb_to_recordset(CAST(:asked AS jsonb))
             AS asked(key text, window_start timestamptz, window_end timestamptz)
        ORDER BY key
        ON CONFLICT (key) DO UPDATE SET
            previous_hits = CASE WHEN c.window_start BETWEEN excluded.window_start AND excluded.window_end
                                      THEN c.previous_hits
                                 WHEN c.window_end = excluded.window_start THEN c.hits
                                 ELSE 0 END,
            hits = CASE WHEN c.window_start BETWEEN excluded.window_start AND excluded.window_end
                        THEN c.hits + 1 ELSE 1 END,
            window_start = CASE WHEN c.window_start BETWEEN excluded.window_start AND excluded.window_end
                                THEN c.window_start ELSE excluded.window_start END,
            window_end = CASE WHEN c.window_start BETWEEN excluded.window_start AND excluded.window_end
                              THEN c.window_end ELSE excluded.window_end END
        RETURNING key, hits, previous_hits, window_start
    ), relaxed AS (
        SELECT set_config('synchronous_commit', 'off', true)
    )
    SELECT key, hits, previous_hits, window_start, (SELECT count(*) FROM relaxed) FROM counted
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
    """Count one hit by `who`, in a transaction of its own; RateLimited (with a Retry-After)
    when over the limit."""
    with independent_transaction(session) as connection:
        _count(connection, [(limit, who)], now or datetime.now(UTC))


def hit_committed(session: Session, hits: Sequence[tuple[Limit, str]], *, now: datetime | None = None) -> None:
    """Count one hit for each (limit, who), with distinct keys, in the caller's session (no
    second connection): a request's admission before its work, in autocommit or in a short
    transaction that writes nothing else, is made last and commits whether or not this
    refuses. RateLimited for the first limit (in the order given) that is over."""
    _count(session, hits, now or datetime.now(UTC))


def _count(executor: Session | Connection, hits: Sequence[tuple[Limit, str]], now: datetime) -> None:
    epoch = now.timestamp()
    asked = []
    for limit, who in hits:
        seconds = limit.window.total_seconds()
        start = datetime.fromtimestamp(epoch - epoch % seconds, UTC)
        asked.append((limit, f"{limit.action}:{network_of(who)}"[:200], start))
    rows = executor.execute(
        _COUNT,
        {
            "asked": json.dumps(
                [
                    {"key": key, "window_start": start.isoformat(), "window_end": (start + limit.window).isoformat()}
                    for limit, key, start in asked
                ]
            )
        },
    ).all()
    counts = {key: (current, previous, start) for key, current, previous, start, _ in rows}
    for limit, key, _ in asked:
        _judge(limit, *counts[key], now)


def network_of(who: str) -> str:
    """Who a limit counts: an IPv6 address by its /64, the block one home or phone is given
    (any of its 2^64 addresses is the same visitor); an IPv4 address (also one written as
    IPv6) and anything else as it is."""
    try:
        address = ipaddress.ip_address(who)
    except ValueError:
        return who
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # an IPv4 visitor seen through an IPv6 socket
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return who


def _judge(limit: Limit, current: int, previous: int, start: datetime, now: datetime) -> None:
    """Refuse when the estimate over the last window is over; `start` is the counting window's
    (ahead of `now` when this server's clock lags: then the previous window weighs whole)."""
    seconds = limit.window.total_seconds()
    elapsed = max(0.0, (now - start).total_seconds() / seconds)
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
