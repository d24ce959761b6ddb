"""`python -m avenrae`: bad input gets one line and a non-zero exit, and changes nothing."""

import os
import subprocess
import sys

import psycopg
import pytest

from avenrae import db as app_db
from avenrae.config import REPO_ROOT, libpq_url


@pytest.fixture(scope="module")
def cli_database(server_url):
    url = app_db.sibling_database(server_url, "avenrae_cli_test", recreate=True)
    app_db.migrate(url)
    return libpq_url(url)


def avenrae(*args: str, database_url: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "avenrae", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def count_users(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM users").fetchone()[0]


def test_help_lists_every_command():
    result = avenrae("--help")
    assert result.returncode == 0
    for command in ("db", "assets", "serve"):
        assert command in result.stdout
    db_help = avenrae("db", "--help").stdout
    for action in ("up", "down", "url", "migrate", "seed", "reset"):
        assert action in db_help


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["db", "seed", "--practitioners", "abc"], "'abc' is not a whole number"),
        (["db", "seed", "--bookings", "-5"], "must be at least 0"),
        (["db", "seed", "--practitioners", "0"], "must be at least 1"),
        (["serve", "--port", "70000"], "not a TCP port"),
        (["db", "explode"], "invalid choice"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_bad_arguments_get_one_line(args, expected, cli_database):
    line = one_line_error(avenrae(*args, database_url=cli_database))
    assert expected in line
    assert count_users(cli_database) == 0


def test_seed_that_cannot_fit_changes_nothing(cli_database):
    line = one_line_error(
        avenrae(
            "db", "seed", "--practitioners", "1", "--clients", "1", "--bookings", "100000", database_url=cli_database
        )
    )
    assert line.startswith("error:") and "do not fit" in line
    assert count_users(cli_database) == 0


def test_unreachable_database_is_one_line():
    line = one_line_error(avenrae("db", "migrate", database_url="postgresql://nobody:x@127.0.0.1:1/nothing"))
    assert line.startswith("error: cannot connect to the database")


def test_a_url_that_is_not_postgres_is_refused():
    line = one_line_error(avenrae("db", "url", database_url="mysql://someone@localhost/db"))
    assert "PostgreSQL URL" in line


def test_reset_without_yes_refuses_when_not_interactive(cli_database):
    line = one_line_error(avenrae("db", "reset", database_url=cli_database, stdin=""))
    assert "--yes" in line


def test_down_refuses_a_database_that_is_not_ours(cli_database):
    assert "not ours to stop" in one_line_error(avenrae("db", "down", database_url=cli_database))


def test_url_prints_a_uri_psql_accepts(cli_database):
    result = avenrae("db", "url", database_url=cli_database)
    assert result.returncode == 0
    url = result.stdout.strip()
    assert url.startswith("postgresql://")
    psql = subprocess.run(
        ["psql", url, "-Atc", "SELECT postgis_lib_version() IS NOT NULL"], capture_output=True, text=True, timeout=30
    )
    assert psql.stdout.strip() == "t", psql.stderr


def test_seed_if_empty_then_refuse_a_second_seed(cli_database):
    first = avenrae(
        "db",
        "seed",
        "--practitioners",
        "30",
        "--clients",
        "40",
        "--bookings",
        "200",
        "--quiet",
        database_url=cli_database,
    )
    assert first.returncode == 0, first.stderr
    assert "rows/s" in first.stderr and "admin@demo.avenrae.co.za" in first.stderr
    users = count_users(cli_database)
    again = avenrae("db", "seed", "--if-empty", database_url=cli_database)
    assert again.returncode == 0 and "not seeding again" in again.stderr
    refused = one_line_error(avenrae("db", "seed", database_url=cli_database))
    assert "already holds" in refused and "db reset" in refused
    assert count_users(cli_database) == users
    reset = avenrae("db", "reset", "--yes", database_url=cli_database)
    assert reset.returncode == 0, reset.stderr
    assert count_users(cli_database) == 0


def test_serve_starts_streamlit_on_the_asked_port(cli_database):
    result = avenrae("serve", "--port", "8765", "--dry-run", database_url=cli_database)
    assert result.returncode == 0, result.stderr
    assert "streamlit run" in result.stdout and "--server.port 8765" in result.stdout
    # Found in a trial: a password reset link from `scripts/run --port 8611` led to port 8501.
    assert "Links in e-mails and payment returns lead to http://localhost:8765" in result.stderr


def test_jobs_run_once_and_say_what_they_did(cli_database):
    done = avenrae("jobs", "expire-pending", database_url=cli_database)
    assert done.returncode == 0, done.stderr
    assert "unpaid bookings whose hold ran out" in done.stderr + done.stdout
    env_without_smtp = {key: value for key, value in os.environ.items() if not key.startswith("AVENRAE_SMTP")}
    result = subprocess.run(
        [sys.executable, "-m", "avenrae", "jobs", "send-email"],
        cwd=REPO_ROOT,
        env={**env_without_smtp, "DATABASE_URL": cli_database},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "it needs an SMTP server (AVENRAE_SMTP_HOST), which is not configured" in one_line_error(result)


def test_api_serves_the_json_api_alone_with_workers(cli_database):
    result = avenrae("api", "--port", "8766", "--workers", "4", "--dry-run", database_url=cli_database)
    assert result.returncode == 0, result.stderr
    assert "uvicorn --factory avenrae.api:standalone" in result.stdout
    assert "--fd <a socket on localhost:8766>" in result.stdout
    assert "(4 worker process(es), a socket each)" in result.stderr + result.stdout


def test_the_api_listens_on_sockets_without_nagle_and_says_when_the_port_is_taken(cli_database):
    import socket

    from avenrae import workers

    group = workers.listening_sockets("127.0.0.1", 0, 2)
    try:
        taken = group[0].getsockname()[1]
        assert [listener.getsockname()[1] for listener in group] == [taken, taken]
        for listener in group:
            assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert listener.get_inheritable()
            listener.listen()
        for count in (1, 2):  # a second server cannot join the first one's group
            with pytest.raises(OSError):
                workers.listening_sockets("127.0.0.1", taken, count)
        result = avenrae("api", "--port", str(taken), "--workers", "2", database_url=cli_database)
        assert one_line_error(result).endswith(f"cannot listen on 127.0.0.1:{taken}: Address already in use")
    finally:
        for listener in group:
            listener.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if entry.isdigit() and int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def _established_on(pid: int, port: int) -> int:
    """How many connections to `port` the process `pid` has accepted."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if int(row[1].split(":")[1], 16) == port and row[3] == "01" and row[9] in inodes)


def test_api_workers_share_the_connections_and_a_dead_one_is_replaced(cli_database):
    import signal
    import socket
    import time
    import urllib.request

    from avenrae import workers

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "avenrae", "api", "--port", str(port), "--workers", "2"],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": cli_database},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/openapi.json", timeout=2) as answer:
                    assert answer.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.2)
        answered = time.monotonic()  # after both workers started
        first = _children(server.pid)
        assert len(first) == 2

        # A burst of keep-alive clients: before, one process took them all and the other idled.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
        time.sleep(1)
        accepted = [_established_on(worker, port) for worker in first]
        assert sum(accepted) == 16 and min(accepted) > 0, accepted

        time.sleep(max(0.0, answered + workers.FAILED_START_SECONDS - time.monotonic()))  # a crash, not a failed start
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (now := _children(server.pid)) == first or len(now) < 2:
            assert time.monotonic() < deadline, "no worker replaced the one that died"
            time.sleep(0.2)
        assert first[1] in now and first[0] not in now
    finally:
        for client in clients:
            client.close()
        server.terminate()
        server.wait(timeout=40)
    assert server.returncode == 0
    assert "exited (exit code -9); starting another" in server.stderr.read()
    assert _children(server.pid) == []


def test_the_run_script_explains_itself_without_setting_anything_up(tmp_path):
    done = subprocess.run(
        [str(REPO_ROOT / "scripts" / "run"), "--help"], capture_output=True, text=True, timeout=10, cwd=tmp_path
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: scripts/run [--port N] [--address ADDRESS]")
    assert "Installing" not in done.stdout + done.stderr


def _login_address(cli_database: str, trusted: str) -> str | None:
    """The client address a login through a running `api` is counted against, when it says
    it was forwarded for 203.0.113.9 and the server believes proxies at `trusted`."""
    import http.client
    import json
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    email = f"proxy-{port}@example.co.za"
    env = {**os.environ, "DATABASE_URL": cli_database, "AVENRAE_TRUSTED_PROXIES": trusted}
    server = subprocess.Popen(
        [sys.executable, "-m", "avenrae", "api", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                body = json.dumps({"email": email, "password": "wrong"})
                headers = {"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"}
                connection.request("POST", "/api/auth/login", body=body, headers=headers)
                connection.getresponse().read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.3)
            finally:
                connection.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    with psycopg.connect(cli_database) as connection:
        return connection.execute("SELECT ip_address FROM login_attempts WHERE email = %s", (email,)).fetchone()[0]


def test_forwarded_addresses_are_believed_only_from_the_trusted_proxies(cli_database):
    # Found by an operator's trial: behind a proxy on another host every visitor had the
    # proxy's address, and 30 wrong logins from anyone locked everyone out.
    assert str(_login_address(cli_database, "127.0.0.1")) == "203.0.113.9"
    assert str(_login_address(cli_database, "192.0.2.10")) == "127.0.0.1"


def test_trusted_proxies_must_be_addresses():
    result = subprocess.run(
        [sys.executable, "-m", "avenrae", "check"],
        cwd=REPO_ROOT,
        env={**os.environ, "AVENRAE_TRUSTED_PROXIES": "nginx.internal"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "AVENRAE_TRUSTED_PROXIES" in one_line_error(result)
