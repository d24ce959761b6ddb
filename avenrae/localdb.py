"""A project-local PostgreSQL + PostGIS cluster for development and tests.

Used only when no DATABASE_URL is set. The cluster belongs to this checkout: its
state (port, password, where the data lives) sits in `.avenrae/` in the repository,
its data in `.avenrae/pgdata` when the `postgres` system user can reach that folder,
otherwise in a postgres-owned folder outside the repository keyed by the
repository's path. Each checkout picks its own free port, so two checkouts on one
machine never collide.

PostgreSQL refuses to run as root, so when we are root every server command runs as
the `postgres` system user.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

DB_NAME = "avenrae"
DB_USER = "avenrae"
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "shared_buffers": "'512MB'",
    "work_mem": "'16MB'",
    "maintenance_work_mem": "'1GB'",
    "max_wal_size": "'8GB'",
    # A development cluster: bulk loads into freshly truncated tables skip the WAL.
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "synchronous_commit": "off",
    "jit": "off",
    "log_min_duration_statement": "2000",
}


class LocalDatabaseError(RuntimeError):
    """The local cluster could not be set up or started; the message says why."""


@dataclass
class ClusterState:
    data_dir: str
    port: int
    password: str
    major: int

    @property
    def url(self) -> str:
        return f"postgresql://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{DB_NAME}"

    def url_for(self, database: str) -> str:
        return f"postgresql://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{database}"


def _is_root() -> bool:
    return os.geteuid() == 0


def find_server_bindir() -> tuple[Path, int]:
    """The newest installed PostgreSQL server's bin directory and major version."""
    override = os.environ.get("AVENRAE_PG_BINDIR")
    candidates: list[tuple[int, Path]] = []
    if override:
        bindir = Path(override)
        major = _major_of(bindir)
        return bindir, major
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        for child in root.iterdir():
            if child.name.isdigit() and (child / "bin" / "initdb").exists():
                candidates.append((int(child.name), child / "bin"))
    if not candidates:
        initdb = shutil.which("initdb")
        if initdb:
            bindir = Path(initdb).resolve().parent
            return bindir, _major_of(bindir)
        raise LocalDatabaseError(
            "PostgreSQL server binaries not found: install postgresql-15 "
            "(or set DATABASE_URL to an existing PostgreSQL + PostGIS database)"
        )
    major, bindir = max(candidates)
    return bindir, major


def _major_of(bindir: Path) -> int:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+)", out)
    if not match:
        raise LocalDatabaseError(f"cannot read the PostgreSQL version from {out!r}")
    return int(match.group(1))


def _sharedir(bindir: Path) -> Path:
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    return Path(f"/usr/share/postgresql/{bindir.parent.name}")


def postgis_available(bindir: Path) -> bool:
    return (_sharedir(bindir) / "extension" / "postgis.control").exists()


def ensure_postgis(bindir: Path, major: int, log=print) -> None:
    """Install PostGIS for this server when missing (as root on Debian/Ubuntu)."""
    if postgis_available(bindir):
        return
    package = f"postgresql-{major}-postgis-3"
    can_apt = _is_root() and Path("/etc/debian_version").exists() and shutil.which("apt-get")
    if not can_apt:
        raise LocalDatabaseError(
            f"PostGIS is not installed for PostgreSQL {major}: install the package {package} "
            f"(for example `sudo apt-get install {package}`) and run this again"
        )
    log(f"Installing {package} with apt-get ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", package]
    result = subprocess.run(install, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
    if result.returncode != 0 or not postgis_available(bindir):
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise LocalDatabaseError(f"could not install {package}: {tail[0]}")


# --- where the data lives ---------------------------------------------------------


def _run_as_server_user(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a server command as `postgres` when we are root, else as ourselves."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    if _is_root():
        return subprocess.run(cmd, user="postgres", group="postgres", cwd="/", **kwargs)
    return subprocess.run(cmd, **kwargs)


def _server_user_can_use(directory: Path) -> bool:
    check = ["sh", "-c", 'test -r "$1" && test -w "$1" && test -x "$1"', "sh", str(directory)]
    return _run_as_server_user(check).returncode == 0


def _postgres_uid_gid() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise LocalDatabaseError(
            "running as root but there is no `postgres` system user to run the server: "
            "install the postgresql package or run as an ordinary user"
        ) from exc
    return entry.pw_uid, entry.pw_gid


def outside_data_dir(repo_root: Path) -> Path:
    """A postgres-owned folder outside the repository, unique to this checkout."""
    key = hashlib.sha256(str(repo_root.resolve()).encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", repo_root.resolve().name).strip("-") or "repo"
    base = Path("/var/lib/postgresql")
    if not base.is_dir():
        base = Path("/var/tmp")
    return base / "avenrae" / f"{slug}-{key}" / "pgdata"


def choose_data_dir(repo_root: Path, state_dir: Path) -> Path:
    """`state_dir/pgdata` when the server user can reach it, otherwise outside the repo."""
    inside = state_dir / "pgdata"
    if not _is_root():
        state_dir.mkdir(parents=True, exist_ok=True)
        return inside
    uid, gid = _postgres_uid_gid()
    if not inside.exists():
        inside.mkdir(parents=True, mode=0o700)
        os.chown(inside, uid, gid)
    if _server_user_can_use(inside):
        return inside
    shutil.rmtree(inside, ignore_errors=True)
    outside = outside_data_dir(repo_root)
    outside.mkdir(parents=True, mode=0o700, exist_ok=True)
    for folder in [outside, *outside.parents]:
        if folder in (Path("/var/lib/postgresql"), Path("/var/tmp"), Path("/")):
            break
        os.chown(folder, uid, gid)
    if not _server_user_can_use(outside):
        raise LocalDatabaseError(f"the postgres user cannot write to {outside}")
    return outside


# --- state -------------------------------------------------------------------------


def _state_file(state_dir: Path) -> Path:
    return state_dir / "db.json"


def read_state(state_dir: Path) -> ClusterState | None:
    path = _state_file(state_dir)
    if not path.exists():
        return None
    return ClusterState(**json.loads(path.read_text()))


def _write_state(state_dir: Path, state: ClusterState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = _state_file(state_dir)
    path.write_text(json.dumps(asdict(state), indent=2))
    path.chmod(0o600)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    """Whether a server could listen on the port now. Like PostgreSQL, bind with
    SO_REUSEADDR: connections of a stopped server lingering in TIME_WAIT do not keep
    its port (a restart keeps its port, and running servers can reach it again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# --- lifecycle ---------------------------------------------------------------------


def _initdb(bindir: Path, data_dir: Path, password: str) -> None:
    pwfile = data_dir.parent / f".pwfile-{secrets.token_hex(4)}"
    pwfile.write_text(password + "\n")
    try:
        if _is_root():
            uid, gid = _postgres_uid_gid()
            os.chown(pwfile, uid, gid)
        pwfile.chmod(0o600)
        result = _run_as_server_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                DB_USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise LocalDatabaseError(f"initdb failed: {_last_line(result)}")
    settings = "".join(f"{name} = {value}\n" for name, value in SERVER_SETTINGS.items())
    conf = data_dir / "postgresql.conf"
    with conf.open("a") as handle:
        handle.write("\n# Avenrae development cluster\n" + settings)


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def running_port(data_dir: Path) -> int | None:
    """The port of the server running on this data directory, if one is."""
    pid_file = data_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 4:
        return None
    pid = int(lines[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return int(lines[3])


def _wait_until_accepting(state: ClusterState, database: str = "postgres", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(state.url_for(database), connect_timeout=2).close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise LocalDatabaseError(f"the database did not accept connections: {exc}") from exc
            time.sleep(0.2)


def up(repo_root: Path, state_dir: Path, log=print) -> ClusterState:
    """Start (creating on first use) the local cluster; return its state."""
    bindir, major = find_server_bindir()
    ensure_postgis(bindir, major, log=log)
    state = read_state(state_dir)
    if state is not None and not Path(state.data_dir, "PG_VERSION").exists():
        log(f"The data directory {state.data_dir} is gone; creating a new cluster.")
        state = None
    if state is None:
        data_dir = choose_data_dir(repo_root, state_dir)
        if not (data_dir / "PG_VERSION").exists():
            password = secrets.token_urlsafe(18)
            log(f"Creating a PostgreSQL {major} cluster in {data_dir} ...")
            _initdb(bindir, data_dir, password)
        else:
            raise LocalDatabaseError(
                f"{data_dir} holds a cluster but {_state_file(state_dir)} is missing: "
                "remove that folder or restore the state file"
            )
        state = ClusterState(data_dir=str(data_dir), port=free_port(), password=password, major=major)
        _write_state(state_dir, state)
        created = True
    else:
        created = False
        if state.major != major:
            bindir = Path(f"/usr/lib/postgresql/{state.major}/bin")
            if not bindir.exists():
                raise LocalDatabaseError(
                    f"the local cluster was made by PostgreSQL {state.major}, which is no longer "
                    f"installed: delete {state_dir} and {state.data_dir} to start afresh"
                )
    data_dir = Path(state.data_dir)
    port = running_port(data_dir)
    if port is None:
        if not _port_is_free(state.port):
            state.port = free_port()
            _write_state(state_dir, state)
        log_file = data_dir / "server.log"
        result = _run_as_server_user(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(log_file),
                "-o",
                f"-p {state.port}",
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        if result.returncode != 0:
            detail = _last_line(result)
            if log_file.exists():
                tail = log_file.read_text(errors="replace").strip().splitlines()[-1:]
                detail = tail[0] if tail else detail
            raise LocalDatabaseError(f"the local PostgreSQL server did not start: {detail}")
    elif port != state.port:
        state.port = port
        _write_state(state_dir, state)
    _wait_until_accepting(state)
    ensure_database(state, DB_NAME)
    if created:
        log(f"Local database ready at {data_dir} (port {state.port}).")
    return state


def ensure_database(state: ClusterState, name: str) -> None:
    """Create the database `name` in the local cluster unless it exists."""
    with psycopg.connect(state.url_for("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def down(state_dir: Path) -> bool:
    """Stop the local cluster. Returns False when it was not running."""
    state = read_state(state_dir)
    if state is None or running_port(Path(state.data_dir)) is None:
        return False
    bindir = Path(f"/usr/lib/postgresql/{state.major}/bin")
    if not bindir.exists():
        bindir, _ = find_server_bindir()
    result = _run_as_server_user([str(bindir / "pg_ctl"), "-D", state.data_dir, "-m", "fast", "-w", "stop"])
    if result.returncode != 0:
        raise LocalDatabaseError(f"could not stop the local server: {_last_line(result)}")
    return True


def destroy(state_dir: Path) -> None:
    """Stop the cluster and delete its data and state."""
    state = read_state(state_dir)
    down(state_dir)
    if state is not None:
        shutil.rmtree(state.data_dir, ignore_errors=True)
    _state_file(state_dir).unlink(missing_ok=True)
