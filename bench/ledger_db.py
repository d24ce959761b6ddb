"""The scratch database the payments and trust benchmarks share, and their timer."""

from __future__ import annotations

import statistics
import time

from sqlalchemy import Engine, create_engine, text

from avenrae import seed
from avenrae.config import libpq_url
from avenrae.db import database_url, migrate, sibling_database

NAME = "avenrae_bench_payments"


def median_ms(action, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def scratch_engine(*, bookings: int, reseed: bool) -> Engine:
    """`avenrae_bench_payments`, migrated, and seeded with `bookings` the first time."""
    url = sibling_database(database_url(), NAME, recreate=reseed)
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        empty = not connection.execute(text("SELECT EXISTS (SELECT FROM users)")).scalar()
    if empty:
        options = seed.SeedOptions(
            practitioners=max(1000, bookings // 100), clients=max(2000, bookings // 10), bookings=bookings, seed=5
        )
        seed.seed(libpq_url(url), options, show_progress=False)
    return engine
