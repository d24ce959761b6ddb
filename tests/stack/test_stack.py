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
    started = _cli("stack", "up", "--servers", "2")
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        state = stack.read_state(STATE_DIR)
        assert state is not None and url == state.url
        yield state
    finally:
        stopped = _cli("stack", "down")
        processes = _our_processes()
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
                "INSERT INTO rate_limit_counters AS c (key, window_start, hits) VALUES (%s, now(), 1)"
                " ON CONFLICT (key, window_start) DO UPDATE SET hits = c.hits + 1",
                (key,),
            )
        assert pooled.execute("SHOW jit").fetchone() == ("off",)  # a database setting, not a session's
    # ... reaches the replica, which is a standby.
    with psycopg.connect(state.replica_url(), autocommit=True) as replica:
        assert replica.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        deadline = time.monotonic() + 10
        while not replica.execute("SELECT 1 FROM rate_limit_counters WHERE key = %s", (key,)).fetchone():
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


def test_jobs_run_once_across_servers_and_a_killed_server_is_routed_around(running_stack: stack.StackState):
    state = running_stack
    ca = _ca(STATE_DIR)
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

    # Kill one app server outright: nginx routes every browser to the other, which serves.
    os.kill(state.servers[0].pid, signal.SIGKILL)
    for _ in range(5):
        page = requests.get(state.url, verify=ca, timeout=10)
        assert page.status_code == 200
    status = {part.name: part.running for part in stack.status(STATE_DIR)}
    assert status["serve-1"] is False and status["serve-2"] is True and status["nginx"] is True
