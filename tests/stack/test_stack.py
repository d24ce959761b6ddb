"""`python -m avenrae stack up --servers 2`, for real: nginx over https in front of two app
servers, PgBouncer in transaction mode in front of a primary, a streaming replica; then
`stack down` leaves no process behind.

The stack gets a state folder (and so a cluster) of its own, so it never touches the
developer's database or a stack they have running.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import requests
from websockets.sync.client import connect as websocket_connect

from avenrae import jobs, stack
from avenrae.config import REPO_ROOT

pytestmark = [pytest.mark.stack, pytest.mark.slow]

STATE_DIR = REPO_ROOT / ".avenrae" / "stack-test"
# The demo logins and a small demo set (as the browser tests use), so a client can book.
SEED = ("--practitioners", "300", "--clients", "500", "--bookings", "4000", "--seed", "11")
CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 30_000


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AVENRAE_DATABASE_URL")}
    env.update(AVENRAE_STATE_DIR=str(STATE_DIR), AVENRAE_ENVIRONMENT="development")
    return subprocess.run(
        [sys.executable, "-m", "avenrae", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _our_processes() -> list[str]:
    """Command lines of running processes that belong to the test stack."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(STATE_DIR) in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.fixture(scope="module")
def running_stack():
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    for step in (("db", "up"), ("db", "migrate"), ("db", "seed", *SEED, "--quiet"), ("db", "down")):
        done = _cli(*step)
        assert done.returncode == 0, (step, done.stderr)
    started = _cli("stack", "up", "--servers", "2")
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        state = stack.read_state(STATE_DIR)
        assert state is not None and url == state.url
        yield state
    finally:
        state = stack.read_state(STATE_DIR)
        stopped = _cli("stack", "down")
        processes = _our_processes()
        if state is not None:  # every process it started, by id, and every port it listened on
            pids = [(state.nginx_pid, "nginx"), (state.pgbouncer_pid, "pgbouncer")]
            pids += [(server.pid, stack.SERVER_MARKER) for server in state.servers]
            processes += [f"{pid}: still running" for pid, marker in pids if stack.alive(pid, marker)]
            ports = [state.https_port, state.pgbouncer_port, state.replica_port, state.primary_port]
            ports += [server.port for server in state.servers]
            processes += [f"port {port}: still open" for port in ports if stack._port_open(port)]
        cluster = json.loads((STATE_DIR / "db.json").read_text()) if (STATE_DIR / "db.json").exists() else None
        shutil.rmtree(STATE_DIR, ignore_errors=True)
        if cluster:
            shutil.rmtree(cluster["data_dir"], ignore_errors=True)
        assert stopped.returncode == 0, stopped.stderr
        assert processes == [], "left running after `stack down`"


def _ca(state_dir: Path) -> str:
    return str(stack.stack_dir(state_dir) / "tls" / "localhost.crt")


def test_the_stack_serves_over_https_pools_writes_and_replicates(running_stack: stack.StackState):
    state = running_stack
    ca = _ca(STATE_DIR)

    # The app through nginx over https, trusting the generated certificate; plain http is not offered.
    page = requests.get(state.url, verify=ca, timeout=10)
    assert page.status_code == 200 and "<title>" in page.text
    assert "avenrae_route" in page.cookies  # the sticky-session cookie
    assert requests.get(f"{state.url}_stcore/health", verify=ca, timeout=10).text == "ok"

    # The WebSocket Streamlit talks over is upgraded through nginx to an app server.
    import ssl

    context = ssl.create_default_context(cafile=ca)
    with websocket_connect(
        f"wss://localhost:{state.https_port}/_stcore/stream", ssl=context, subprotocols=["streamlit"], open_timeout=10
    ) as socket:
        assert socket.response.status_code == 101
        assert socket.subprotocol == "streamlit"

    # A write through PgBouncer (transaction pooling: no prepared statements) ...
    key = f"stack-test:{uuid.uuid4()}"
    with psycopg.connect(state.pooled_url(), prepare_threshold=None, autocommit=True) as pooled:
        for _ in range(10):  # many transactions, each may land on another server connection
            pooled.execute(
                "INSERT INTO rate_limits AS c (key, window_start, window_end, hits, previous_hits)"
                " VALUES (%s, now(), now(), 1, 0) ON CONFLICT (key) DO UPDATE SET hits = c.hits + 1",
                (key,),
            )
        assert pooled.execute("SHOW jit").fetchone() == ("off",)  # a database setting, not a session's
    # ... reaches the replica, which is a standby.
    with psycopg.connect(state.replica_url(), autocommit=True) as replica:
        assert replica.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        deadline = time.monotonic() + 10
        while not replica.execute("SELECT 1 FROM rate_limits WHERE key = %s", (key,)).fetchone():
            assert time.monotonic() < deadline, "the write did not reach the replica within 10 s"
            time.sleep(0.1)
    assert stack.replica_lag(state) is not None


def test_analytics_read_the_replica_and_say_its_lag(running_stack: stack.StackState, monkeypatch):
    from avenrae import db
    from avenrae.config import get_settings
    from avenrae.services import analytics

    monkeypatch.setenv("DATABASE_URL", running_stack.pooled_url())
    monkeypatch.setenv("AVENRAE_DATABASE_POOLED", "true")
    monkeypatch.setenv("AVENRAE_ANALYTICS_DATABASE_URL", running_stack.replica_url())
    get_settings.cache_clear()
    try:
        deadline = time.monotonic() + 20  # the first refresh-analytics run, by either server
        while True:
            with db.analytics_scope() as connection:
                assert analytics.reading_replica(connection)
                fresh = analytics.freshness(connection)
            if fresh is not None:
                break
            assert time.monotonic() < deadline, "refresh-analytics never ran"
            time.sleep(0.5)
        assert fresh.replica_lag_seconds is not None and fresh.replica_lag_seconds < 10
    finally:
        get_settings.cache_clear()


def test_jobs_run_once_across_servers(running_stack: stack.StackState):
    state = running_stack
    # Both servers started their schedulers; each job ran once between them.
    with psycopg.connect(state.primary_url()) as primary:
        deadline = time.monotonic() + 20
        while True:
            runs = primary.execute("SELECT name, server, started_at FROM job_runs ORDER BY started_at").fetchall()
            if {name for name, _, _ in runs} >= {"expire-pending", "refresh-analytics", "purge-expired"}:
                break
            assert time.monotonic() < deadline, runs
            time.sleep(0.5)
    for name in {name for name, _, _ in runs}:
        starts = [started for job, _, started in runs if job == name]
        gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
        assert all(gap >= timedelta(seconds=jobs.JOBS[name].every_seconds - 1) for gap in gaps), (name, starts)


def _server_of(page, base_url: str) -> str:
    """The app server (127.0.0.1:port) nginx sends this browser to: a request with its
    cookies (the routing cookie among them), then the upstream nginx logged for it."""
    marker = f"/_stcore/health?probe={uuid.uuid4().hex}"
    assert page.request.get(base_url.rstrip("/") + marker).ok
    log = stack.stack_dir(STATE_DIR) / "nginx" / "access.log"
    for _ in range(50):
        found = [line.rsplit("-> ", 1)[-1].strip() for line in log.read_text().splitlines() if marker in line]
        if found:
            return found[-1].split(",")[-1].strip()  # after a failover nginx lists every server it tried
        time.sleep(0.1)
    raise AssertionError("nginx did not log the probe")


def test_a_browser_keeps_its_login_and_booking_when_its_server_dies_and_the_primary_restarts(running_stack, browser):
    """In Chromium through nginx over https: log in ("keep me logged in"), book; kill the
    server the browser is on; reload: still logged in, on the other server, the booking
    there; an analyst's Revenue & fees reads the replica; the primary restarts and the
    next page works within 10 s."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (scripts/test installs it as root)")
    from avenrae.seed import DEMO_PASSWORD

    state = running_stack
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1440, "height": 1000})
    page = context.new_page()

    def settle() -> None:
        page.wait_for_function(
            """() => !document.querySelector('[data-testid="stStatusWidget"]')
                     && !document.querySelector('[data-testid="stSkeleton"]')""",
            timeout=TIMEOUT,
        )
        page.wait_for_timeout(500)

    page.goto(state.url)
    page.get_by_role("textbox", name="Email", exact=True).fill("client@demo.avenrae.co.za")
    page.get_by_role("textbox", name="Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_text("Keep me logged in").click()
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    for _ in range(100):
        if any(c["name"] == "avenrae_session" and c["secure"] for c in context.cookies()):
            break  # Secure: the app saw X-Forwarded-Proto: https
        page.wait_for_timeout(100)
    else:
        raise AssertionError("the remember-me cookie was never set (Secure)")

    # Book a session.
    page.get_by_role("link", name="Book a session").click()
    page.get_by_role("textbox", name="Find a practitioner").fill("Nomvula Mkhize")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Nomvula Mkhize").wait_for(timeout=TIMEOUT)
    settle()
    times = page.locator('[data-testid="stButtonGroup"] button').filter(has_text=re.compile(r"^\d\d:\d\d$"))
    times.first.wait_for(timeout=TIMEOUT)
    booked_at = times.first.inner_text().strip()
    times.first.click()
    confirm = page.get_by_role("button", name=re.compile(rf"^Book .*{booked_at} for R"))
    confirm.wait_for(timeout=TIMEOUT)
    confirm.click()
    page.get_by_text("Booked! The time is held for you while you pay").first.wait_for(timeout=TIMEOUT)

    # Kill the server this browser is on; nothing else.
    first = _server_of(page, state.url)
    victim = next(server for server in state.servers if first.endswith(f":{server.port}"))
    os.kill(victim.pid, signal.SIGKILL)

    # Reload: still logged in (the remember-me cookie), now on the other server, booking there.
    page.goto(state.url + "bookings")
    page.get_by_role("heading", name="My bookings").wait_for(timeout=TIMEOUT)
    page.get_by_text(re.compile(rf"{booked_at}–\d\d:\d\d · In person · .* with Nomvula Mkhize")).first.wait_for(
        timeout=TIMEOUT
    )
    second = _server_of(page, state.url)
    assert second != first and not second.endswith(f":{victim.port}")

    # An analyst's Revenue & fees reads the replica (the note appears only on a standby).
    analyst = browser.new_context(ignore_https_errors=True, viewport={"width": 1440, "height": 1000})
    other = analyst.new_page()
    other.goto(state.url)
    other.get_by_role("textbox", name="Email", exact=True).fill("analyst@demo.avenrae.co.za")
    other.get_by_role("textbox", name="Password", exact=True).fill(DEMO_PASSWORD)
    other.get_by_role("button", name="Log in").click()
    other.get_by_role("link", name="Revenue & fees").click()
    other.get_by_role("heading", name="Revenue & fees").wait_for(timeout=TIMEOUT)
    other.get_by_text(re.compile(r"Read from the replica")).first.wait_for(timeout=TIMEOUT)
    analyst.close()

    # `stack up` starts the dead server again, on its port; the rest keeps running.
    again = _cli("stack", "up")
    assert again.returncode == 0, again.stderr
    running = {part.name: part.running for part in stack.status(STATE_DIR)}
    assert all(running.values()), running
    assert stack._http_ok(f"http://127.0.0.1:{victim.port}/_stcore/health")

    # Restart the primary under the stack (--force: `db down` otherwise refuses while the stack runs);
    # the next page works within 10 s (PgBouncer reconnects).
    assert _cli("db", "down", "--force").returncode == 0
    restarted = _cli("db", "up")
    assert restarted.returncode == 0, restarted.stderr
    began = time.monotonic()
    page.goto(state.url + "bookings")
    try:
        page.get_by_role("heading", name="My bookings").wait_for(timeout=10_000)
        page.get_by_text(re.compile(rf"{booked_at}–\d\d:\d\d")).first.wait_for(timeout=10_000)
    except Exception:
        print(f"after {time.monotonic() - began:.1f} s the page says:", page.inner_text("body")[:2000])
        raise
    assert time.monotonic() - began < 10
    context.close()
