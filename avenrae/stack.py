"""`python -m avenrae stack up|down|status`: the production topology on this one machine.

    browser --https--> nginx --http/ws--> serve-1 .. serve-N --> PgBouncer --> primary
                                                    \\------ analytics ------> replica

* the primary is the project-local cluster (avenrae/localdb.py), switched to
  `wal_level = replica` so it can feed a standby;
* the replica is a streaming standby made with `pg_basebackup -R` (made afresh at each
  `stack up`); the analytics pages read it (AVENRAE_ANALYTICS_DATABASE_URL);
* PgBouncer pools the primary in transaction mode (AVENRAE_DATABASE_POOLED=true);
* N app servers (`python -m avenrae serve`), each its own process;
* nginx terminates TLS with a self-signed certificate made at the first start, upgrades
  WebSockets, keeps each browser on one server (a routing cookie, hashed consistently)
  and sets X-Forwarded-Proto.

Everything lives under `.avenrae/stack/` and listens on free ports of 127.0.0.1. The
processes' ids are kept in `stack.json`; `stack down` stops exactly those (and the
primary only when `stack up` started it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from avenrae import localdb
from avenrae.config import REPO_ROOT

PACKAGES = {"nginx": "/usr/sbin/nginx", "pgbouncer": "/usr/sbin/pgbouncer"}
REPLICA_SETTINGS = ("-c", "shared_buffers=128MB", "-c", "hot_standby_feedback=on")
PRIMARY_SETTINGS = {"wal_level": "replica", "max_wal_senders": "10", "wal_keep_size": "512MB"}


class StackError(RuntimeError):
    """The stack could not be started or stopped; the message says why."""


@dataclass
class Server:
    name: str
    port: int
    pid: int


@dataclass
class StackState:
    https_port: int
    pgbouncer_port: int
    replica_port: int
    replica_dir: str
    primary_port: int
    primary_started: bool
    password: str
    pgbouncer_pid: int = 0
    nginx_pid: int = 0
    servers: list[Server] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.https_port}/"

    def pooled_url(self, database: str = localdb.DB_NAME) -> str:
        return f"postgresql://{localdb.DB_USER}:{self.password}@127.0.0.1:{self.pgbouncer_port}/{database}"

    def replica_url(self, database: str = localdb.DB_NAME) -> str:
        return f"postgresql://{localdb.DB_USER}:{self.password}@127.0.0.1:{self.replica_port}/{database}"

    def primary_url(self, database: str = localdb.DB_NAME) -> str:
        return f"postgresql://{localdb.DB_USER}:{self.password}@127.0.0.1:{self.primary_port}/{database}"


def stack_dir(state_dir: Path) -> Path:
    return state_dir / "stack"


def _state_file(state_dir: Path) -> Path:
    return stack_dir(state_dir) / "stack.json"


def read_state(state_dir: Path) -> StackState | None:
    path = _state_file(state_dir)
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    raw["servers"] = [Server(**server) for server in raw.get("servers", [])]
    return StackState(**raw)


def _write_state(state_dir: Path, state: StackState) -> None:
    path = _state_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(state), indent=2))
    path.chmod(0o600)


# --- processes -------------------------------------------------------------------


def alive(pid: int, marker: str) -> bool:
    """Whether `pid` runs and is still ours: its command line contains `marker` (a pid
    reused by an unrelated process is not taken for ours)."""
    if pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def _stop(pid: int, marker: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop one of our processes by its id (and its session, which it leads), waiting for it."""
    if not alive(pid, marker):
        return
    try:
        os.killpg(pid, sig)  # each was started as the leader of a session of its own
    except (ProcessLookupError, PermissionError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while alive(pid, marker) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if alive(pid, marker):
        os.killpg(pid, signal.SIGKILL)
        time.sleep(0.2)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child (started by another command)
        os.waitpid(pid, os.WNOHANG)


def _spawn(command: list[str], log_file: Path, *, env: dict[str, str] | None = None, user: str | None = None) -> int:
    """Start a long-running process in a session of its own, detached from ours."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(REPO_ROOT) if user is None else "/",
            start_new_session=True,
            user=user,
            group=user,
        )
    return process.pid


def _wait_for(check: Callable[[], bool], what: str, timeout: float, log_file: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tail = ""
            if log_file is not None and log_file.exists():
                lines = log_file.read_text(errors="replace").strip().splitlines()
                tail = f": {lines[-1]}" if lines else ""
            raise StackError(f"{what} did not start within {timeout:.0f} s{tail} (see {log_file})")
        time.sleep(0.2)


def _accepts(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own http://127.0.0.1 URL
            return response.status == 200
    except OSError:
        return False


# --- packages --------------------------------------------------------------------


POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
# Asked by invoke-rc.d and deb-systemd-invoke before a package's scripts start its service; 101
# is "not allowed": Debian's own nginx (its default site on port 80) and pgbouncer stay stopped.
REFUSE_SERVICE_STARTS = "#!/bin/sh\n# Left by `python -m avenrae stack up` while it installs packages.\nexit 101\n"


@contextlib.contextmanager
def services_kept_stopped(policy: Path | None = None) -> Iterator[None]:
    """While packages install, a policy-rc.d that refuses every service start; afterwards,
    whatever policy was there before (usually none), even on failure."""
    policy = policy or POLICY_RC_D
    saved = policy.with_name(policy.name + ".avenrae-saved")
    # A run killed mid-install (finally does not run on SIGTERM) leaves ours: never keep that.
    ours = policy.exists() and policy.read_text(errors="replace") == REFUSE_SERVICE_STARTS
    if policy.exists() and not ours and not saved.exists():
        policy.rename(saved)
    try:
        policy.write_text(REFUSE_SERVICE_STARTS)
        policy.chmod(0o755)
        yield
    finally:
        policy.unlink(missing_ok=True)
        if saved.exists():
            saved.rename(policy)


def apt_install(
    packages: list[str],
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
    policy: Path | None = None,
    systemd: bool | None = None,
) -> subprocess.CompletedProcess[str]:
    """apt-get install `packages` without starting their services, then (under systemd) keep
    them from starting at boot too: the stack runs its own nginx and PgBouncer."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", *packages]
    with services_kept_stopped(policy):
        result = run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True)
            result = run(install, env=env, capture_output=True, text=True)
    if result.returncode == 0 and (Path("/run/systemd/system").is_dir() if systemd is None else systemd):
        run(["systemctl", "disable", "--quiet", *(f"{name}.service" for name in packages)], capture_output=True)
    return result


def ensure_packages(log: Callable[[str], None] = print) -> None:
    """Install nginx and PgBouncer from Debian when missing (as scripts/setup installs PostGIS)."""
    missing = [name for name, binary in PACKAGES.items() if not Path(binary).exists()]
    if not missing:
        return
    can_apt = os.geteuid() == 0 and Path("/etc/debian_version").exists() and shutil.which("apt-get")
    if not can_apt:
        raise StackError(f"missing {', '.join(missing)}: install the Debian packages ({' '.join(missing)})")
    log(f"Installing {' '.join(missing)} with apt-get (their own services left stopped and disabled) ...")
    result = apt_install(missing)
    if result.returncode != 0 or any(not Path(PACKAGES[name]).exists() for name in missing):
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StackError(f"could not install {' '.join(missing)}: {tail[0]}")


# --- the parts ---------------------------------------------------------------------


def _server_user_dir(path: Path) -> Path:
    """A folder the PostgreSQL server user owns (when we are root)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.geteuid() == 0:
        uid, gid = localdb._postgres_uid_gid()
        os.chown(path, uid, gid)
    return path


def _prepare_primary(state: localdb.ClusterState, state_dir: Path, log: Callable[[str], None]) -> localdb.ClusterState:
    """Let the primary feed a standby: wal_level = replica and WAL senders (a restart)."""
    with psycopg.connect(state.url_for("postgres"), autocommit=True) as conn:
        current = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in PRIMARY_SETTINGS}  # type: ignore[index]
        if current["wal_level"] in ("replica", "logical") and int(current["max_wal_senders"]) > 0:
            return state
        for name, value in PRIMARY_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    log("Restarting the primary with wal_level = replica ...")
    localdb.down(state_dir)
    return localdb.up(REPO_ROOT, state_dir, log=log)


def _make_replica(primary: localdb.ClusterState, directory: Path, port: int, log: Callable[[str], None]) -> None:
    bindir = Path(f"/usr/lib/postgresql/{primary.major}/bin")
    if directory.exists():
        shutil.rmtree(directory)
    _server_user_dir(directory)
    log("Making the replica with pg_basebackup ...")
    conninfo = f"host=127.0.0.1 port={primary.port} user={localdb.DB_USER} password={primary.password}"
    made = localdb._run_as_server_user(
        [str(bindir / "pg_basebackup"), "-d", conninfo, "-D", str(directory), "-R", "-X", "stream", "-c", "fast"]
    )
    if made.returncode != 0:
        raise StackError(f"pg_basebackup failed: {localdb._last_line(made)}")
    options = " ".join([f"-p {port}", *REPLICA_SETTINGS])
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(directory), "-l", str(directory / "server.log"), "-o", options]
    started = localdb._run_as_server_user([*pg_ctl, "-w", "start"])
    if started.returncode != 0:
        raise StackError(f"the replica did not start: {localdb._last_line(started)}")


def _stop_replica(directory: Path, major: int) -> None:
    if localdb.running_port(directory) is None:
        return
    bindir = Path(f"/usr/lib/postgresql/{major}/bin")
    localdb._run_as_server_user([str(bindir / "pg_ctl"), "-D", str(directory), "-m", "fast", "-w", "stop"])


def _start_pgbouncer(state: StackState, directory: Path) -> int:
    _server_user_dir(directory)
    userlist = directory / "userlist.txt"
    userlist.write_text(f'"{localdb.DB_USER}" "{state.password}"\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text(
        f"""[databases]
* = host=127.0.0.1 port={state.primary_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {state.pgbouncer_port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {userlist}
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
reserve_pool_size = 5
server_lifetime = 3600
; after a failed connection to the primary (a restart), try again within a second, not 15
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
admin_users = {localdb.DB_USER}
logfile = {directory / "pgbouncer.log"}
log_connections = 0
log_disconnections = 0
"""
    )
    user = None
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        uid, gid = localdb._postgres_uid_gid()
        for path in (userlist, ini):
            os.chown(path, uid, gid)
        user = "postgres"
    userlist.chmod(0o600)
    return _spawn([PACKAGES["pgbouncer"], str(ini)], directory / "stdout.log", user=user)


def _certificate(directory: Path, log: Callable[[str], None]) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made once and kept."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert, key = directory / "localhost.crt", directory / "localhost.key"
    if cert.exists() and key.exists():
        return cert, key
    log("Making a self-signed TLS certificate for localhost ...")
    made = subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825", "-sha256"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        raise StackError(f"openssl could not make a certificate: {made.stderr.strip()[-200:]}")
    key.chmod(0o600)
    return cert, key


def nginx_conf(state: StackState, directory: Path, cert: Path, key: Path, *, worker_user: str | None) -> str:
    upstreams = "\n".join(
        f"        server 127.0.0.1:{server.port} max_fails=1 fail_timeout=10s;" for server in state.servers
    )
    user_line = f"user {worker_user};" if worker_user else ""
    temp = directory / "temp"
    return f"""# Made by `python -m avenrae stack up`; see docs/deploy.md for the production version.
{user_line}
daemon off;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{ worker_connections 1024; }}

http {{
    # Which app server answered each request ($upstream_addr), for `stack status` readers and tests.
    # Never a password reset link's token (its query string; no Referer, which repeats it).
    map $uri $logged_request {{
        /reset_password "$request_method $uri $server_protocol";
        default         $request;
    }}
    log_format stack '$remote_addr [$time_local] "$logged_request" $status $body_bytes_sent -> $upstream_addr';
    access_log {directory / "access.log"} stack;
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    types {{ text/html html; }}
    client_max_body_size 20m;
    server_tokens off;

    # A WebSocket asks to upgrade; other requests close their upstream connection. (Sending
    # no Connection header, so `keepalive` reuses them, left a browser on a killed server
    # waiting in tests/stack: not worth it for Streamlit, whose traffic is the WebSocket.)
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    # Sticky sessions: a browser keeps the routing cookie nginx gave it on its first
    # request, and the same cookie always hashes to the same server while it is up.
    map $cookie_avenrae_route $route {{
        ''      $request_id;
        default $cookie_avenrae_route;
    }}

    upstream avenrae {{
        hash $route consistent;
{upstreams}
        keepalive 16;
    }}

    server {{
        listen 127.0.0.1:{state.https_port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        # No Strict-Transport-Security: on localhost it would force https on every port
        # (the development server's too) for as long as the browser remembers it.
        add_header Set-Cookie "avenrae_route=$route; Path=/; Secure; HttpOnly; SameSite=Lax" always;

        location / {{
            proxy_pass http://avenrae;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 1h;
            proxy_buffering off;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""


def _start_nginx(state: StackState, directory: Path, log: Callable[[str], None]) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = _certificate(stack_dir_of(directory) / "tls", log)
    worker_user = "nobody nogroup" if os.geteuid() == 0 else None
    temp = directory / "temp"
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / name).mkdir(parents=True, exist_ok=True)
        if worker_user:
            os.chown(temp / name, 65534, 65534)
    conf = directory / "nginx.conf"
    conf.write_text(nginx_conf(state, directory, cert, key, worker_user=worker_user))
    checked = subprocess.run(
        [PACKAGES["nginx"], "-t", "-p", str(directory), "-c", str(conf)], capture_output=True, text=True
    )
    if checked.returncode != 0:
        raise StackError(f"nginx refused its configuration: {checked.stderr.strip().splitlines()[-1]}")
    return _spawn([PACKAGES["nginx"], "-p", str(directory), "-c", str(conf)], directory / "stdout.log")


def stack_dir_of(part_dir: Path) -> Path:
    return part_dir.parent


def server_env(state: StackState, name: str, cookie_secret: str) -> dict[str, str]:
    """The environment of one app server of the stack."""
    return dict(
        os.environ,
        DATABASE_URL=state.pooled_url(),
        AVENRAE_DATABASE_POOLED="true",
        AVENRAE_ANALYTICS_DATABASE_URL=state.replica_url(),
        AVENRAE_PUBLIC_URL=f"https://localhost:{state.https_port}",
        AVENRAE_SERVER_NAME=name,
        STREAMLIT_SERVER_HEADLESS="true",
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
        STREAMLIT_SERVER_FILE_WATCHER_TYPE="none",
        STREAMLIT_SERVER_RUN_ON_SAVE="false",
        # The same on every server, so a browser moved to another server keeps valid XSRF tokens.
        STREAMLIT_SERVER_COOKIE_SECRET=cookie_secret,
    )


def _cookie_secret(directory: Path) -> str:
    path = directory / "cookie-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def start_server(state: StackState, state_dir: Path, name: str, port: int) -> Server:
    directory = stack_dir(state_dir)
    env = server_env(state, name, _cookie_secret(directory))
    command = [sys.executable, "-m", "avenrae", "serve", "--port", str(port)]
    pid = _spawn(command, directory / "servers" / f"{name}.log", env=env)
    return Server(name=name, port=port, pid=pid)


SERVER_MARKER = "avenrae"  # `-m avenrae serve`, then (after exec) `streamlit run .../avenrae/ui/server.py`


# --- up, down, status ------------------------------------------------------------------


def _restart_servers(state_dir: Path, state: StackState, names: list[str], log: Callable[[str], None]) -> StackState:
    """Start again the app servers that stopped, on their own ports (nginx still lists them)."""
    log(f"Starting {', '.join(names)} again ...")
    directory = stack_dir(state_dir)
    for position, server in enumerate(state.servers):
        if server.name in names:
            state.servers[position] = start_server(state, state_dir, server.name, server.port)
            _write_state(state_dir, state)
    for server in state.servers:
        if server.name in names:
            _wait_for(
                functools.partial(_http_ok, f"http://127.0.0.1:{server.port}/_avenrae/ready"),
                server.name,
                90,
                directory / "servers" / f"{server.name}.log",
            )
    return state


def up(state_dir: Path, servers: int = 2, log: Callable[[str], None] = print) -> StackState:
    """Start every part not yet running; return the stack's state. On a running stack, app
    servers that stopped are started again; any other part stopped means starting over."""
    existing = read_state(state_dir)
    if existing is not None:
        parts = status(state_dir)
        stopped = [part.name for part in parts if not part.running]
        if any(part.running for part in parts if part.name != "primary"):
            if not stopped:
                if servers != len(existing.servers):
                    raise StackError(
                        f"the stack runs {len(existing.servers)} app servers: `stack down`, then `stack up "
                        f"--servers {servers}` to change that"
                    )
                log("The stack is already running.")
                return existing
            if all(name.startswith("serve-") for name in stopped):
                return _restart_servers(state_dir, existing, stopped, log)
            raise StackError(
                f"{', '.join(stopped)} stopped while the rest runs: `python -m avenrae stack down`, then `stack up`"
            )
    ensure_packages(log)
    directory = stack_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "servers").mkdir(exist_ok=True)

    cluster = localdb.read_state(state_dir)
    primary_was_running = cluster is not None and localdb.running_port(Path(cluster.data_dir)) is not None
    cluster = localdb.up(REPO_ROOT, state_dir, log=log)
    cluster = _prepare_primary(cluster, state_dir, log)
    from avenrae.db import migrate  # migrations before the new code: on the primary, directly

    migrate(cluster.url)

    state = StackState(
        https_port=localdb.free_port(),
        pgbouncer_port=localdb.free_port(),
        replica_port=localdb.free_port(),
        replica_dir=str(directory / "replica"),
        primary_port=cluster.port,
        primary_started=not primary_was_running,
        password=cluster.password,
    )
    _write_state(state_dir, state)
    try:
        _make_replica(cluster, Path(state.replica_dir), state.replica_port, log)
        state.pgbouncer_pid = _start_pgbouncer(state, directory / "pgbouncer")
        _write_state(state_dir, state)
        _wait_for(lambda: _accepts(state.pooled_url()), "PgBouncer", 20, directory / "pgbouncer" / "pgbouncer.log")
        log(f"Starting {servers} app servers ...")
        for number in range(1, servers + 1):
            state.servers.append(start_server(state, state_dir, f"serve-{number}", localdb.free_port()))
            _write_state(state_dir, state)
        for server in state.servers:
            _wait_for(
                functools.partial(_http_ok, f"http://127.0.0.1:{server.port}/_avenrae/ready"),
                server.name,
                90,
                directory / "servers" / f"{server.name}.log",
            )
        state.nginx_pid = _start_nginx(state, directory / "nginx", log)
        _write_state(state_dir, state)
        _wait_for(lambda: _port_open(state.https_port), "nginx", 20, directory / "nginx" / "error.log")
    except BaseException:
        down(state_dir, log=lambda _: None)
        raise
    return state


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def down(state_dir: Path, log: Callable[[str], None] = print) -> bool:
    """Stop everything `up` started (and nothing else); False when nothing was running."""
    state = read_state(state_dir)
    if state is None:
        return False
    stopped = [
        part.name for part in status(state_dir) if part.running and (part.name != "primary" or state.primary_started)
    ]
    _stop(state.nginx_pid, "nginx", signal.SIGQUIT)
    for server in state.servers:
        _stop(server.pid, SERVER_MARKER)
    _stop(state.pgbouncer_pid, "pgbouncer")
    cluster = localdb.read_state(state_dir)
    major = cluster.major if cluster else localdb.find_server_bindir()[1]
    _stop_replica(Path(state.replica_dir), major)
    shutil.rmtree(state.replica_dir, ignore_errors=True)
    if state.primary_started:
        localdb.down(state_dir)
    _state_file(state_dir).unlink(missing_ok=True)
    if stopped:
        log(f"Stopped: {', '.join(stopped)}.")
    return bool(stopped)


@dataclass(frozen=True)
class Part:
    name: str
    running: bool
    where: str


def status(state_dir: Path) -> list[Part]:
    state = read_state(state_dir)
    if state is None:
        return []
    cluster = localdb.read_state(state_dir)
    primary_up = cluster is not None and localdb.running_port(Path(cluster.data_dir)) is not None
    parts = [
        Part("primary", primary_up, f"127.0.0.1:{state.primary_port}"),
        Part("replica", localdb.running_port(Path(state.replica_dir)) is not None, f"127.0.0.1:{state.replica_port}"),
        Part("pgbouncer", alive(state.pgbouncer_pid, "pgbouncer"), f"127.0.0.1:{state.pgbouncer_port}"),
    ]
    parts += [Part(s.name, alive(s.pid, SERVER_MARKER), f"127.0.0.1:{s.port}") for s in state.servers]
    parts.append(Part("nginx", alive(state.nginx_pid, "nginx"), state.url))
    return parts


def runs_on_the_local_cluster(state_dir: Path) -> bool:
    """Whether any part `stack up` started besides the primary still runs (and needs it)."""
    return any(part.running for part in status(state_dir) if part.name != "primary")


def replica_lag(state: StackState) -> float | None:
    """Seconds the replica's replay is behind (0 when it has replayed all it received)."""
    with psycopg.connect(state.replica_url(), connect_timeout=3) as conn:
        row = conn.execute(
            "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
            "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
        ).fetchone()
    return None if row is None or row[0] is None else float(row[0])
