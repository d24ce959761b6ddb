"""Pages as people see them: every page of every role, timed in headless Chromium from the
click in the sidebar until it is fully drawn, on the 10M analytics bench database and on a
small demo database (the baseline), in the same run.

    .venv/bin/python bench/pages.py                          # 10M (bench/analytics.py's database) vs demo
    .venv/bin/python bench/pages.py --roles admin --pages Payments,Bookings --rounds 3
    .venv/bin/python bench/pages.py --screenshots bench/screenshots

One server (`python -m avenrae serve`) per database, each with DATABASE_URL pointing at it.
The large database is `avenrae_bench_analytics` as bench/analytics.py leaves it (seed that
first: it takes about 15 minutes); the baseline `avenrae_bench_pages_demo` is the default
demo seed (1,000 practitioners, 3,000 clients, 20,000 bookings), made on first use and kept.
The demo accounts every seed creates are the logins; the bench (not the app) gives them a
known password and clears any forced password change.

A visit: click the page's link in the sidebar, then wait until Streamlit reports the run
finished (its `script_finished` message on the websocket), the running indicator is gone,
no element of the previous page is left (stale), and the page's first table, chart or map
is in the DOM (pages that show none: the run finished and the page is idle). "first" is the
first visit to the page in this server (cold caches); p50/max are over --rounds visits,
the first included. While timing, the bench holds the background jobs' advisory locks, so
the server's scheduler skips them (a refresh of the rollups would otherwise run beside).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avenrae import seed
from avenrae.config import REPO_ROOT, libpq_url
from avenrae.db import database_url, migrate, sibling_database
from avenrae.jobs import JOBS
from avenrae.models import Role
from avenrae.services import accounts, analytics
from avenrae.ui import navigation

LARGE = "avenrae_bench_analytics"
DEMO = "avenrae_bench_pages_demo"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
ROLES = (Role.ADMIN, Role.STAFF, Role.ANALYST, Role.PRACTITIONER, Role.CLIENT)
CONTENT = (
    '[data-testid="stDataFrame"], [data-testid="stTable"], [data-testid="stVegaLiteChart"], '
    '[data-testid="stArrowVegaLiteChart"], [data-testid="stDeckGlJsonChart"], [data-testid="stPlotlyChart"], '
    'iframe[title="streamlit_folium.st_folium"]'
)
# Done: the run has finished, nothing is running or stale, and the content (if expected) is drawn.
DONE_JS = """([content, wantContent]) => {
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  if (document.querySelector('[data-stale="true"]')) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || !main.querySelector('[data-testid="stElementContainer"]')) return false;
  return !wantContent || !!main.querySelector(content);
}"""


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)
    content: bool = False
    error: str = ""

    @property
    def first(self) -> float:
        return self.samples[0]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


def demo_database() -> str:
    url = sibling_database(database_url(), DEMO)
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        empty = not connection.execute(text("SELECT EXISTS (SELECT FROM users)")).scalar()
    if empty:
        print(f"Seeding the demo baseline {DEMO} (once) ...", flush=True)
        seed.seed(libpq_url(url), seed.SeedOptions(), show_progress=False)
        with engine.begin() as connection:
            analytics.refresh(connection, full=True)
    engine.dispose()
    return url


def large_database(name: str) -> str:
    url = sibling_database(database_url(), name)
    engine = create_engine(url)
    with engine.connect() as connection:
        ready = connection.execute(text("SELECT to_regclass('bookings') IS NOT NULL")).scalar() and (
            connection.execute(text("SELECT EXISTS (SELECT FROM bookings)")).scalar()
        )
    engine.dispose()
    if not ready:
        raise SystemExit(f"{name} is empty: seed it first with .venv/bin/python bench/analytics.py")
    return url


def logins(url: str) -> dict[Role, str]:
    """The demo account of each role, with the known password (set here, in the bench)."""
    engine = create_engine(url)
    hashed = accounts.hash_password(seed.DEMO_PASSWORD)
    found = {}
    with engine.begin() as connection:
        for role, email, _ in seed.demo_logins():
            connection.execute(
                text(
                    "UPDATE users SET password_hash = :hash, must_change_password = false, is_active = true "
                    "WHERE email = :email"
                ),
                {"hash": hashed, "email": email},
            )
            found[Role(role)] = email
        connection.execute(text("DELETE FROM rate_limits"))  # earlier runs' logins
    engine.dispose()
    return found


@contextlib.contextmanager
def jobs_held(url: str) -> Iterator[None]:
    """Hold every background job's advisory lock: the server's scheduler then skips them."""
    engine = create_engine(url)
    connection = engine.connect()
    try:
        for name in JOBS:
            connection.execute(
                text("SELECT pg_advisory_lock(:key)"), {"key": zlib.crc32(f"avenrae.jobs.{name}".encode())}
            )
        connection.commit()
        yield
    finally:
        connection.close()
        engine.dispose()


@contextlib.contextmanager
def server(url: str, log_path: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, DATABASE_URL=url, AVENRAE_ENVIRONMENT="development")
    env.pop("AVENRAE_STRIPE_SECRET_KEY", None)
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "avenrae", "serve", "--port", str(port), "--address", "127.0.0.1"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{address}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {log_path}")
            time.sleep(0.3)
        yield address
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


class Tab:
    """One logged-in browser tab on one server, counting Streamlit's finished runs."""

    def __init__(self, browser, address: str):
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000})
        self.page = self.context.new_page()
        self.address = address
        self.finished = 0
        self.current = ""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        def frame(payload):
            if isinstance(payload, bytes | bytearray):
                with contextlib.suppress(Exception):
                    if ForwardMsg.FromString(bytes(payload)).WhichOneof("type") == "script_finished":
                        self.finished += 1

        self.page.on("websocket", lambda ws: ws.on("framereceived", frame))

    def log_in(self, email: str, role: Role) -> None:
        page = self.page
        page.goto(self.address + "/")
        page.get_by_role("textbox", name="Email", exact=True).fill(email, timeout=60_000)
        page.get_by_role("textbox", name="Password", exact=True).fill(seed.DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector('[data-testid="stSidebarNavLink"]:has-text("Log out")', timeout=60_000)
        self.idle(False, 120_000)
        self.current = next(
            s.title
            for s in navigation.PAGES
            if s.path == navigation.default_page(SimpleNamespace(role=role, must_change_password=False))
        )

    def idle(self, want_content: bool, timeout: float) -> None:
        self.page.wait_for_function(DONE_JS, arg=[CONTENT, want_content], timeout=timeout, polling=25)

    def visit(self, title: str, want_content: bool | None, timeout: float = 60_000) -> tuple[float, bool]:
        """Seconds from the click to fully drawn; and whether the page shows a table, chart or map
        (want_content None: the first visit, which finds that out)."""
        page = self.page
        link = page.locator('[data-testid="stSidebarNavLink"]', has_text=title).first
        before = self.finished
        started = time.perf_counter()
        link.click()
        deadline = started + timeout / 1000
        while self.finished == before:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{title}: no finished run in {timeout / 1000:.0f} s")
            page.wait_for_timeout(10)
        self.current = title
        if want_content is None:
            self.idle(False, timeout)
            done = time.perf_counter()
            if page.locator(CONTENT).count():
                return done - started, True
            with contextlib.suppress(Exception):  # drawn a moment after the run (charts, maps)?
                self.idle(True, 1500)
                return time.perf_counter() - started, True
            return done - started, False
        while True:
            self.idle(want_content, max(1000, (deadline - time.perf_counter()) * 1000))
            done = time.perf_counter()
            runs = self.finished
            page.wait_for_timeout(250)  # still done, and no new run started: the page has settled
            if self.finished == runs and page.evaluate(DONE_JS, [CONTENT, want_content]):
                return done - started, want_content


def time_role(
    browser, address: str, role: Role, email: str, specs, rounds: int, shots: Path | None, tag: str
) -> dict[str, Timing]:
    """Round-robin over the role's pages, so each visit is a click from the page before."""
    tab = Tab(browser, address)
    timings = {spec.title: Timing() for spec in specs}
    try:
        tab.log_in(email, role)
        for round_ in range(rounds):
            for spec in specs:
                timing = timings[spec.title]
                if timing.error:
                    continue
                try:
                    if tab.current == spec.title:
                        tab.visit("My account" if spec.title != "My account" else "Notifications", False)
                    seconds, timing.content = tab.visit(spec.title, timing.content if round_ else None)
                    timing.samples.append(seconds)
                    if shots and round_ == 0:
                        tab.page.screenshot(path=str(shots / f"{tag}-{spec.url_path}.png"), full_page=True)
                except Exception as problem:
                    timing.error = f"{type(problem).__name__}: {str(problem).splitlines()[0][:80]}"
    finally:
        tab.context.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=LARGE, help=f"the large database (default {LARGE})")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--roles", default=",".join(r.value for r in ROLES))
    parser.add_argument("--pages", default="", help="comma-separated page titles (default: all)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the demo database")
    parser.add_argument("--screenshots", type=Path, help="save a screenshot of each page (first visit) here")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    roles = [Role(r) for r in args.roles.split(",") if r]
    wanted = {p.strip() for p in args.pages.split(",") if p.strip()}
    targets = [("10M", large_database(args.database))]
    if not args.no_baseline:
        targets.append(("demo", demo_database()))
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    logs = REPO_ROOT / "tests" / "artifacts"
    logs.mkdir(parents=True, exist_ok=True)

    results: dict[tuple[str, Role, str], Timing] = {}
    load = os.getloadavg()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        for tag, url in targets:
            emails = logins(url)
            with jobs_held(url), server(url, logs / f"bench-pages-{tag}.log") as address:
                for role in roles:
                    specs = [s for s in navigation.PAGES if role in s.roles and (not wanted or s.title in wanted)]
                    print(f"{tag}: {role.value}, {len(specs)} pages ...", flush=True)
                    timed = time_role(browser, address, role, emails[role], specs, args.rounds, args.screenshots, tag)
                    for title, timing in timed.items():
                        results[(tag, role, title)] = timing
        browser.close()
    load_after = os.getloadavg()

    print(
        f"\nclick in the sidebar to fully drawn, seconds; p50 and max of {args.rounds} visits, first = cold "
        f"(load average {load[0]:.1f} before, {load_after[0]:.1f} after, on {os.cpu_count()} cores)\n"
    )
    print("| role | page | 10M p50 | 10M max | 10M first | demo p50 | ratio p50 | waits for |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    large_p50s = []
    for role in roles:
        for spec in navigation.PAGES:
            big = results.get(("10M", role, spec.title))
            if big is None:
                continue
            small = results.get(("demo", role, spec.title))
            if big.error:
                print(f"| {role.value} | {spec.title} | {big.error} | | | | | |")
                continue
            large_p50s.append(big.p50)
            small_p50 = f"{small.p50:.2f}" if small and not small.error else (small.error if small else "")
            ratio = f"{big.p50 / small.p50:.1f}x" if small and not small.error else ""
            print(
                f"| {role.value} | {spec.title} | {big.p50:.2f} | {big.max:.2f} | {big.first:.2f} | {small_p50} | "
                f"{ratio} | {'table/chart' if big.content else 'idle'} |"
            )
    if large_p50s:
        slowest = max(t.max for (tag, _, _), t in results.items() if tag == "10M" and not t.error)
        print(
            f"\n10M: median of the page p50s {statistics.median(large_p50s):.2f} s, slowest p50 "
            f"{max(large_p50s):.2f} s, slowest visit {slowest:.2f} s"
        )


if __name__ == "__main__":
    main()
