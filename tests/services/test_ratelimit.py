"""Rate-limit counters: several keys in one statement, the first limit over refuses, and the
counting transaction does not wait for its commit to reach the disk (it holds rows every
request from one address needs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from avenrae.models import RateLimitCounter
from avenrae.services import ratelimit

NOW = datetime(2026, 12, 2, 9, 0, 30, tzinfo=UTC)
PER_ADDRESS = ratelimit.Limit("t-ip", 3, timedelta(minutes=1), "Too many requests from your network.")
PER_TOKEN = ratelimit.Limit("t-token", 2, timedelta(minutes=1), "Too many requests with this token.")


def counts(db: Session) -> dict[str, int]:
    rows = db.execute(select(RateLimitCounter.key, RateLimitCounter.hits).where(RateLimitCounter.key.like("t-%")))
    return {key: hits for key, hits in rows}


def test_several_limits_are_counted_at_once_and_the_first_over_refuses(db):
    hits = [(PER_ADDRESS, "196.25.1.1"), (PER_TOKEN, "user-a")]
    ratelimit.hit_committed(db, hits, now=NOW)
    ratelimit.hit_committed(db, hits, now=NOW)
    assert counts(db) == {"t-ip:196.25.1.1": 2, "t-token:user-a": 2}

    with pytest.raises(ratelimit.RateLimited, match="Too many requests with this token") as refused:
        ratelimit.hit_committed(db, hits, now=NOW)
    assert refused.value.retry_after >= 1
    assert counts(db) == {"t-ip:196.25.1.1": 3, "t-token:user-a": 3}  # counted even when refused

    with pytest.raises(ratelimit.RateLimited, match="Too many requests from your network"):
        ratelimit.hit_committed(db, hits, now=NOW)  # both over: the address, asked first, is said


def test_a_lagging_server_is_judged_by_the_window_it_counts_into(db):
    """Its own clock would put it at the end of the window before, where the previous
    window's hits weigh almost nothing; the row is already in the next window, where they
    weigh whole (the safe side for a limit)."""
    for _ in range(3):
        ratelimit.hit_committed(db, [(PER_ADDRESS, "196.25.4.1")], now=NOW)  # 09:00:30
    ratelimit.hit_committed(db, [(PER_ADDRESS, "196.25.4.1")], now=NOW + timedelta(seconds=85))  # 09:01:55
    with pytest.raises(ratelimit.RateLimited):  # 09:00:58 on a lagging clock: 2 + 3 in full > 3
        ratelimit.hit_committed(db, [(PER_ADDRESS, "196.25.4.1")], now=NOW + timedelta(seconds=28))


def test_the_previous_window_still_weighs_on_the_next(db):
    for _ in range(3):
        ratelimit.hit_committed(db, [(PER_ADDRESS, "196.25.1.2")], now=NOW)
    with pytest.raises(ratelimit.RateLimited):  # 10 s into the next minute: 3 x 5/6 + 1 > 3
        ratelimit.hit_committed(db, [(PER_ADDRESS, "196.25.1.2")], now=NOW + timedelta(seconds=40))
    ratelimit.hit_committed(db, [(PER_ADDRESS, "196.25.1.3")], now=NOW + timedelta(seconds=40))  # another address


def test_the_counting_transaction_alone_skips_waiting_for_the_disk(engine: Engine):
    with engine.connect() as connection, Session(bind=connection) as session:  # one connection throughout
        session.execute(text("SET synchronous_commit = on"))  # as a production server has it (this cluster: off)
        session.commit()
        ratelimit.hit_committed(session, [(PER_ADDRESS, "196.25.9.9")], now=datetime.now(UTC))
        assert session.scalar(text("SHOW synchronous_commit")) == "off"
        session.commit()
        assert session.scalar(text("SHOW synchronous_commit")) == "on"  # the next transaction waits again
        session.execute(text("DELETE FROM rate_limits WHERE key = 't-ip:196.25.9.9'"))
        session.execute(text("RESET synchronous_commit"))
        session.commit()


def row(db: Session, key: str) -> tuple[int, int, datetime]:
    found = db.execute(
        select(RateLimitCounter.hits, RateLimitCounter.previous_hits, RateLimitCounter.window_start).where(
            RateLimitCounter.key == key
        )
    ).one()
    return found.hits, found.previous_hits, found.window_start


def test_one_row_per_key_moves_along_keeping_the_window_before(db):
    generous = ratelimit.Limit("t-ip", 100, timedelta(minutes=1), "Too many requests from your network.")
    minute = NOW.replace(second=0)
    for _ in range(3):
        ratelimit.hit_committed(db, [(generous, "196.25.2.1")], now=NOW)
    assert row(db, "t-ip:196.25.2.1") == (3, 0, minute)

    ratelimit.hit_committed(db, [(generous, "196.25.2.1")], now=NOW + timedelta(minutes=1, seconds=20))
    assert row(db, "t-ip:196.25.2.1") == (1, 3, minute + timedelta(minutes=1))

    # A server whose clock lags behind counts into the window already there.
    ratelimit.hit_committed(db, [(generous, "196.25.2.1")], now=NOW)
    assert row(db, "t-ip:196.25.2.1") == (2, 3, minute + timedelta(minutes=1))

    # Two windows later nothing from before weighs.
    ratelimit.hit_committed(db, [(generous, "196.25.2.1")], now=NOW + timedelta(minutes=3))
    assert row(db, "t-ip:196.25.2.1") == (1, 0, minute + timedelta(minutes=3))

    # A clock an hour ahead moves the row; a right one, finding it that far ahead, starts
    # afresh in its own window rather than adding to the future one for an hour.
    ratelimit.hit_committed(db, [(generous, "196.25.2.1")], now=NOW + timedelta(hours=1))
    ratelimit.hit_committed(db, [(generous, "196.25.2.1")], now=NOW + timedelta(minutes=3, seconds=5))
    assert row(db, "t-ip:196.25.2.1") == (1, 0, minute + timedelta(minutes=3))
    assert db.scalar(select(func.count()).where(RateLimitCounter.key == "t-ip:196.25.2.1")) == 1


def test_counting_reads_only_its_own_rows_through_the_primary_key(db):
    """Whatever the table holds, a hit touches its key's row alone: no scan for the plan to
    go stale on as the table grows (the previous design joined the previous window's rows,
    and a plan made on a small table read every row)."""
    db.execute(
        text(
            "INSERT INTO rate_limits (key, window_start, window_end, hits, previous_hits)"
            " SELECT 't-token:' || n, now(), now(), 1, 0 FROM generate_series(1, 5000) AS n"
        )
    )
    start = NOW.replace(second=0)
    asked = json.dumps([{"key": "t-ip:196.25.3.1", "window_start": start.isoformat(), "window_end": start.isoformat()}])
    plan = "\n".join(db.scalars(text(f"EXPLAIN {ratelimit._COUNT.text}"), {"asked": asked}))
    assert "Conflict Arbiter Indexes: pk_rate_limits" in plan
    assert "Scan on rate_limits" not in plan, plan


def test_servers_of_the_previous_release_keep_counting_during_an_upgrade(db):
    """Migrations run before new code: the previous release's counting statement (its own
    table, a row per key and window) still works on the migrated schema."""
    previous_release = text("""
        INSERT INTO rate_limit_counters AS c (key, window_start, hits) VALUES (:key, :start, 1)
        ON CONFLICT (key, window_start) DO UPDATE SET hits = c.hits + 1 RETURNING hits
    """)
    for expected in (1, 2):
        assert db.scalar(previous_release, {"key": "t-ip:196.25.5.1", "start": NOW.replace(second=0)}) == expected


def test_an_ipv6_visitor_is_counted_by_their_64_block(db):
    """Found by review: every IPv6 address had a counter of its own, and one home or phone is
    given a /64 (2^64 addresses), so a limit per address held nobody back."""
    for suffix in range(3):
        ratelimit.hit_committed(db, [(PER_ADDRESS, f"2001:db8:5:7::{suffix + 1:x}")], now=NOW)
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.hit_committed(db, [(PER_ADDRESS, "2001:db8:5:7:ab:cd:ef:12")], now=NOW)
    ratelimit.hit_committed(db, [(PER_ADDRESS, "2001:db8:5:8::1")], now=NOW)  # the next block is someone else
    ratelimit.hit_committed(db, [(PER_ADDRESS, "::ffff:196.25.1.1")], now=NOW)  # IPv4 seen through IPv6
    assert counts(db) == {"t-ip:2001:db8:5:7::/64": 4, "t-ip:2001:db8:5:8::/64": 1, "t-ip:196.25.1.1": 1}
