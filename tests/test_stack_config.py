"""The stack's generated configuration and its commands when nothing runs (no processes started)."""

import subprocess
import sys
from pathlib import Path

import pytest

from avenrae import cli, localdb, stack
from avenrae.config import get_settings


def _state(tmp_path: Path) -> stack.StackState:
    return stack.StackState(
        https_port=8443,
        pgbouncer_port=6432,
        replica_port=5433,
        replica_dir=str(tmp_path / "replica"),
        primary_port=5432,
        primary_started=False,
        password="secret",
        servers=[stack.Server("serve-1", 8501, 0), stack.Server("serve-2", 8502, 0)],
    )


def test_nginx_proxies_websockets_to_every_server_sticky_over_tls(tmp_path):
    conf = stack.nginx_conf(_state(tmp_path), tmp_path, tmp_path / "c.crt", tmp_path / "c.key", worker_user=None)
    assert "listen 127.0.0.1:8443 ssl;" in conf
    assert "server 127.0.0.1:8501" in conf and "server 127.0.0.1:8502" in conf
    assert "hash $route consistent;" in conf and "avenrae_route=$route" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "add_header Strict-Transport-Security" not in conf  # localhost: it would pin https on every port
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in conf
    assert "daemon off;" in conf


def test_app_servers_are_pooled_and_read_analytics_on_the_replica(tmp_path):
    env = stack.server_env(_state(tmp_path), "serve-1", "cookie")
    assert env["DATABASE_URL"].endswith("@127.0.0.1:6432/avenrae")
    assert env["AVENRAE_DATABASE_POOLED"] == "true"
    assert env["AVENRAE_ANALYTICS_DATABASE_URL"].endswith("@127.0.0.1:5433/avenrae")
    assert env["AVENRAE_PUBLIC_URL"] == "https://localhost:8443"
    assert env["STREAMLIT_SERVER_COOKIE_SECRET"] == "cookie"
    assert "options" not in env["DATABASE_URL"]  # PgBouncer refuses the startup parameter


def test_a_process_id_is_ours_only_while_its_command_line_says_so():
    import os

    assert stack.alive(os.getpid(), "python")
    assert not stack.alive(os.getpid(), "nginx: master")
    assert not stack.alive(0, "python")


def test_stack_commands_when_nothing_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVENRAE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    from avenrae.config import get_settings

    get_settings.cache_clear()
    try:
        assert cli.main(["stack", "status"]) == 3
        assert "not running" in capsys.readouterr().err
        assert cli.main(["stack", "down"]) == 0
        assert "was not running" in capsys.readouterr().err
        monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example.co.za/avenrae")
        get_settings.cache_clear()
        assert cli.main(["stack", "up"]) == 1
        assert "project-local cluster only" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()


@pytest.fixture
def stack_without_its_primary(tmp_path, monkeypatch):
    """A state folder whose stack.json lists an app server and a replica that run (a sleeping
    process of ours stands for both) while the local cluster does not."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "avenrae serve"])
    state = _state(tmp_path)
    state.replica_port = localdb.free_port()  # nothing answers there
    state.servers = [stack.Server("serve-1", localdb.free_port(), sleeper.pid)]
    stack._write_state(tmp_path, state)
    replica = Path(state.replica_dir)
    replica.mkdir()
    (replica / "postmaster.pid").write_text(f"{sleeper.pid}\n{replica}\n0\n{state.replica_port}\n")
    monkeypatch.setenv("AVENRAE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield state
    get_settings.cache_clear()
    sleeper.kill()
    sleeper.wait()


def test_db_down_refuses_while_the_stack_runs_on_it(stack_without_its_primary, capsys):
    # Found by an operator's trial: `db down` stopped the primary under a running stack.
    assert cli.main(["db", "down"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: the stack runs on the local database") and "stack down" in line
    assert cli.main(["db", "down", "--force"]) == 0
    assert "was not running" in capsys.readouterr().err


def test_stack_status_says_the_lag_is_unknown_while_the_primary_is_stopped(stack_without_its_primary, capsys):
    # A standby without its primary has replayed all it received, so it would say 0 s.
    assert cli.main(["stack", "status"]) == 1
    out = capsys.readouterr().out
    assert "primary    STOPPED" in out
    assert "replica lag: unknown (the primary is stopped)" in out


def _apt(policy: Path, exit_status: int = 0, raises: BaseException | None = None):
    """Stands in for subprocess.run: records each command, and what policy-rc.d answers a
    package that asks to start its service while apt-get runs."""
    commands: list = []

    def run(command, **options):
        commands.append(command)
        if command[0] == "apt-get" and command[1] == "install":
            commands.append(("policy-rc.d nginx start", subprocess.run([str(policy), "nginx", "start"]).returncode))
            if raises is not None:
                raise raises
        return subprocess.CompletedProcess(command, exit_status if command[0] == "apt-get" else 0, "", "")

    return run, commands


def test_packages_install_with_their_services_kept_stopped(tmp_path):
    # Found by an operator's trial: on a systemd host, installing nginx and pgbouncer for the stack
    # enabled and started Debian's own services (nginx's default site on port 80).
    policy = tmp_path / "policy-rc.d"
    run, commands = _apt(policy)
    assert stack.apt_install(["nginx", "pgbouncer"], run=run, policy=policy, systemd=True).returncode == 0
    assert commands == [
        ["apt-get", "install", "-y", "-q", "nginx", "pgbouncer"],
        ("policy-rc.d nginx start", 101),
        ["systemctl", "disable", "--quiet", "nginx.service", "pgbouncer.service"],
    ]
    assert not policy.exists()


def test_a_failed_install_leaves_the_policy_that_was_there(tmp_path):
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 0\n")  # the administrator's own
    run, commands = _apt(policy, exit_status=100)
    assert stack.apt_install(["nginx"], run=run, policy=policy, systemd=True).returncode == 100
    assert [command[:2] for command in commands] == [
        ["apt-get", "install"],
        ("policy-rc.d nginx start", 101),
        ["apt-get", "update"],
        ["apt-get", "install"],
        ("policy-rc.d nginx start", 101),
    ]  # nothing to disable: nothing was installed
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"
    run, _ = _apt(policy, raises=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        stack.apt_install(["nginx"], run=run, policy=policy, systemd=False)
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"
    assert list(tmp_path.iterdir()) == [policy]


def test_our_own_policy_left_by_a_killed_run_is_removed_not_kept(tmp_path):
    # Found by a review: a run killed mid-install (SIGTERM) left ours, which the next run kept as
    # the administrator's, so no package's service would ever start again.
    policy = tmp_path / "policy-rc.d"
    policy.write_text(stack.REFUSE_SERVICE_STARTS)
    with stack.services_kept_stopped(policy):
        pass
    assert not policy.exists() and list(tmp_path.iterdir()) == []


def test_nginx_logs_no_password_reset_token(tmp_path):
    """Found by review: the access log kept each request line, so a reset link's token sat in
    the logs for anyone who reads them. The real nginx, on the generated configuration."""
    import os
    import socket
    import ssl
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = _state(tmp_path)
    state.https_port = port
    worker_user = "nobody nogroup" if os.geteuid() == 0 else None
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / "temp" / temp).mkdir(parents=True)
        if worker_user:
            os.chown(tmp_path / "temp" / temp, 65534, 65534)
    cert, key = stack._certificate(tmp_path / "tls", lambda _: None)
    conf = tmp_path / "nginx.conf"
    conf.write_text(stack.nginx_conf(state, tmp_path, cert, key, worker_user=worker_user))
    nginx = subprocess.Popen(["/usr/sbin/nginx", "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    try:
        context = ssl._create_unverified_context()  # the stack's own self-signed certificate
        for path in ("/reset_password?token=THE-SECRET-TOKEN", "/bookings?booking=kept-in-the-log"):
            for _ in range(50):
                try:
                    urllib.request.urlopen(f"https://localhost:{port}{path}", context=context, timeout=5)
                except urllib.error.HTTPError:
                    break  # answered (no app server runs behind it: 502), and logged
                except OSError:
                    time.sleep(0.1)  # nginx is still starting
        time.sleep(0.3)
        log = (tmp_path / "access.log").read_text()
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
    assert '"GET /reset_password HTTP/1.1"' in log
    assert "THE-SECRET-TOKEN" not in log
    assert "/bookings?booking=kept-in-the-log" in log  # other queries stay, for whoever reads the log
