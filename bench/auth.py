"""Login cost: one bcrypt hash at cost 12, and a full login through the accounts service.

    .venv/bin/python bench/auth.py [--rounds 7]

The full login (lockout check, user lookup, bcrypt check, attempt row, tokens, commit)
runs against a scratch database `avenrae_bench_auth` on the app's server. The baseline
is the bare bcrypt hash measured in the same process; the ratio shows what the rest of
a login adds on top of the deliberate bcrypt cost. A login with an unknown email is
timed too: it should cost the same as a wrong password, so timing reveals nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from avenrae.db import database_url, migrate, sibling_database
from avenrae.models import Role
from avenrae.services import accounts

PASSWORD = "Benchmarking is fun 42"


def timed(action, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    url = sibling_database(database_url(), "avenrae_bench_auth", recreate=True)
    migrate(url)
    engine = create_engine(url)
    with Session(engine) as session:
        accounts.sign_up(
            session=session,
            form=accounts.SignUp(
                role=Role.CLIENT, email="bench@example.co.za", password=PASSWORD, first_name="Bench", last_name="Mark"
            ),
        )
        session.commit()

    def login(email: str, password: str) -> None:
        with Session(engine) as session:
            with contextlib.suppress(accounts.LoginRefused):
                accounts.login(session=session, email=email, password=password)
            session.commit()
            # Keep the lockout out of the way: only the timing matters here.
            session.execute(text("DELETE FROM login_attempts"))
            session.commit()

    accounts.hash_password("warm up")
    hash_seconds = timed(lambda: accounts.hash_password(PASSWORD), args.rounds)
    login_seconds = timed(lambda: login("bench@example.co.za", PASSWORD), args.rounds)
    wrong_seconds = timed(lambda: login("bench@example.co.za", "Not the password 1"), args.rounds)
    unknown_seconds = timed(lambda: login("nobody@example.co.za", "Not the password 1"), args.rounds)
    engine.dispose()

    print(f"median of {args.rounds} rounds")
    print(f"{'bcrypt hash, cost 12 (baseline)':<32}{hash_seconds * 1000:8.1f} ms")
    for label, seconds in [
        ("full login, right password", login_seconds),
        ("full login, wrong password", wrong_seconds),
        ("full login, unknown email", unknown_seconds),
    ]:
        print(f"{label:<32}{seconds * 1000:8.1f} ms   ratio {seconds / hash_seconds:.2f}x")


if __name__ == "__main__":
    main()
