"""`python -m avenrae db backup` / `db restore`: consistent dumps, restored into a new database.

A backup is `pg_dump --format=custom`: one repeatable-read snapshot of the whole
database, so every table (bookings, the payments ledger, the audit log) is as of the
same moment while the app keeps writing. Beside it, `<dump>.settings.json` keeps the
database's own settings (`ALTER DATABASE ... SET jit = off`), which a dump restored under
another name would lose.

A restore never overwrites: it creates a new database on the same server and restores
into it (in parallel), then says how to switch to it. Both talk to PostgreSQL directly,
never through PgBouncer (pg_dump needs a session of its own).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import URL, make_url

from avenrae import localdb
from avenrae.config import libpq_url, normalise_database_url

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class BackupError(RuntimeError):
    """A backup or restore failed; the message says why."""


@dataclass(frozen=True)
class Backup:
    path: Path
    bytes: int
    seconds: float


def _tool(name: str) -> str:
    bindir, _ = localdb.find_server_bindir()
    return str(bindir / name)


def _connection(url: str) -> tuple[str, dict[str, str]]:
    """The connection for pg_dump and pg_restore: the URL with everything it says (its
    sslmode, sslrootcert, a socket folder as host=...) but the password, which goes in the
    environment so it never appears in `ps`."""
    parsed = make_url(normalise_database_url(url))
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    without_password = URL.create(
        parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query
    )
    return libpq_url(without_password.render_as_string(hide_password=False)), env


def _failed(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def default_path(folder: Path, database: str) -> Path:
    return folder / f"{database}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.dump"


def backup(url: str, path: Path) -> Backup:
    """Dump the database at `url` to `path` (custom format, compressed), consistently.
    The dump holds password hashes and people's details: only its owner can read it (a
    folder it makes, likewise)."""
    started = datetime.now(UTC)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    conninfo, env = _connection(url)
    result = subprocess.run(
        [
            _tool("pg_dump"),
            "--format=custom",
            "--compress=6",
            "--no-owner",
            f"--file={partial}",
            f"--dbname={conninfo}",
        ],
        env=env,
        capture_output=True,
        text=True,
        umask=0o077,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {_failed(result)}")
    with psycopg.connect(libpq_url(normalise_database_url(url))) as conn:
        row = conn.execute(
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
            "WHERE d.datname = current_database() AND s.setrole = 0"
        ).fetchone()
    settings = list(row[0]) if row and row[0] else []
    sidecar = Path(str(path) + ".settings.json")
    sidecar.touch(mode=0o600)
    sidecar.chmod(0o600)  # one left from an earlier run keeps its mode otherwise
    sidecar.write_text(json.dumps({"database_settings": settings}, indent=2))
    partial.rename(path)  # only a complete dump carries the final name
    return Backup(path=path, bytes=path.stat().st_size, seconds=(datetime.now(UTC) - started).total_seconds())


def restore(path: Path, server_url: str, database: str, *, jobs: int = 2) -> str:
    """Restore the dump at `path` into a new database `database` on the server of
    `server_url`; returns the new database's URL. Refuses a database that exists."""
    if not _NAME.match(database):
        raise BackupError(f"{database!r} is not a plain database name (lower-case letters, digits, _)")
    if not path.is_file():
        raise BackupError(f"no backup at {path}")
    target = make_url(normalise_database_url(server_url)).set(database=database)
    admin = make_url(normalise_database_url(server_url)).set(database="postgres")
    admin_url = libpq_url(admin.render_as_string(hide_password=False))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            raise BackupError(f"the database {database!r} exists; restore into a new name (or drop it first)")
        conn.execute(f'CREATE DATABASE "{database}"')  # the name matched _NAME above
    target_url = target.render_as_string(hide_password=False)
    conninfo, env = _connection(target_url)
    result = subprocess.run(
        [_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--jobs={jobs}", f"--dbname={conninfo}", str(path)],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        raise BackupError(f"pg_restore failed (the new database was dropped again): {_failed(result)}")
    sidecar = Path(str(path) + ".settings.json")
    if sidecar.exists():
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for setting in json.loads(sidecar.read_text())["database_settings"]:
                name, _, value = setting.partition("=")
                if not _NAME.match(name.lower().replace(".", "_")):
                    raise BackupError(f"unexpected database setting {setting!r} in {sidecar}")
                conn.execute(
                    sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                        sql.Identifier(database), sql.SQL(name), sql.Literal(value)
                    )
                )
    return target_url
