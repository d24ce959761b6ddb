"""`python -m avenrae ...`: the database, demo data, map assets and the server.

Every failure ends with one line saying why and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg
import pydantic
import sqlalchemy.exc

from avenrae import localdb
from avenrae.config import ENV_FILE, LOOPBACK_HOSTS, REPO_ROOT, THIS_MACHINE_PROXIES, get_settings, libpq_url


class CommandError(RuntimeError):
    """A command could not do its job; the message is the one line the user sees."""


# --- argument types ----------------------------------------------------------------


def _whole_number(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _port(text: str) -> int:
    value = _whole_number(1)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1-65535)")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: what was wrong and where to look."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --- db ----------------------------------------------------------------------------


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _database_url() -> str:
    from avenrae.db import database_url

    return database_url()


def cmd_db_up(args: argparse.Namespace) -> None:
    settings = get_settings()
    if settings.database_url:
        _check_connection(settings.database_url)
        _say("Using DATABASE_URL; it accepts connections.")
        return
    state = localdb.up(REPO_ROOT, settings.state_dir, log=_say)
    _say(f"Local database running on 127.0.0.1:{state.port} (data in {state.data_dir}).")


def _check_connection(url: str) -> None:
    try:
        psycopg.connect(libpq_url(url), connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "no reason given"
        raise CommandError(f"cannot connect to the database: {reason}") from exc


def cmd_db_down(args: argparse.Namespace) -> None:
    from avenrae import stack

    settings = get_settings()
    if settings.database_url:
        raise CommandError("DATABASE_URL is set: that database is not ours to stop")
    if not args.force and stack.runs_on_the_local_cluster(settings.state_dir):
        raise CommandError(
            "the stack runs on the local database: `python -m avenrae stack down` first (or `db down --force`)"
        )
    if localdb.down(settings.state_dir):
        _say("Local database stopped.")
    else:
        _say("The local database was not running.")


def cmd_db_url(args: argparse.Namespace) -> None:
    print(libpq_url(_database_url()))


def cmd_db_migrate(args: argparse.Namespace) -> None:
    from avenrae.db import migrate

    url = _database_url()
    _check_connection(url)
    migrate(url, args.revision)
    _say(f"Database migrated to {args.revision}.")


def cmd_db_seed(args: argparse.Namespace) -> None:
    from avenrae import seed

    if get_settings().production:
        raise CommandError("refusing to load demo data in production (AVENRAE_ENVIRONMENT=production)")
    options = seed.SeedOptions(
        practitioners=args.practitioners, clients=args.clients, bookings=args.bookings, seed=args.seed
    )
    seed.validate(options)
    url = libpq_url(_database_url())
    _check_connection(url)
    if args.if_empty and seed.is_seeded(url):
        _say("The database already has data; not seeding again.")
        return
    report = seed.seed(url, options, show_progress=not args.quiet)
    for table, rows in report.rows.items():
        _say(f"  {table:<22} {rows:>12,} rows")
    _say(f"Seeded {report.total_rows:,} rows in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s).")
    _say("Demo logins (password for all: " + seed.DEMO_PASSWORD + "):")
    for role, email, _ in seed.demo_logins():
        _say(f"  {role:<13} {email}")
    from avenrae import jobs

    _say(jobs.run_once("refresh-analytics", full=True))


def cmd_db_reset(args: argparse.Namespace) -> None:
    from avenrae.db import downgrade, migrate

    url = _database_url()
    _check_connection(url)
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("refusing to reset without confirmation: pass --yes")
        answer = input(f"This deletes every row in the database {name!r}. Type the name to confirm: ")
        if answer.strip() != name:
            raise CommandError("not confirmed; nothing was changed")
    downgrade(url, "base")
    migrate(url, "head")
    _say(f"Database {name!r} reset: empty and migrated to head.")


def _not_through_a_pooler(command: str) -> None:
    if get_settings().database_pooled:
        raise CommandError(
            f"{command} talks to PostgreSQL directly, not through PgBouncer: point DATABASE_URL at the "
            "primary's own port and set AVENRAE_DATABASE_POOLED=false for it (docs/deploy.md: backup.env)"
        )


def cmd_db_backup(args: argparse.Namespace) -> None:
    from avenrae import backup

    _not_through_a_pooler("db backup")
    url = _database_url()
    _check_connection(url)
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    path = args.out or backup.default_path(get_settings().state_dir / "backups", name)
    made = backup.backup(url, path)
    _say(f"Backed up {name!r}: {made.bytes / 1e6:,.1f} MB in {made.seconds:.1f} s (a consistent snapshot).")
    print(made.path)


def cmd_db_restore(args: argparse.Namespace) -> None:
    from avenrae import backup

    _not_through_a_pooler("db restore")
    url = _database_url()
    _check_connection(url)
    target = backup.restore(args.file, url, args.into)
    _say(f"Restored {args.file.name} into the new database {args.into!r}.")
    _say(
        "To use it: point DATABASE_URL at it (below, with the password where it says ***), "
        "or rename databases while the app is stopped."
    )
    print(libpq_url(sqlalchemy.make_url(target).render_as_string(hide_password=True)))


# --- users ---------------------------------------------------------------------------


def cmd_users_create(args: argparse.Namespace) -> None:
    import getpass
    import secrets

    from avenrae.db import session_scope
    from avenrae.models import Role
    from avenrae.services import accounts
    from avenrae.services.errors import ServiceError

    generated = None
    if sys.stdin.isatty():
        password = getpass.getpass("Temporary password (they choose their own at first login): ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the two passwords are not the same; nothing was created")
    else:
        password = generated = secrets.token_urlsafe(12) + "-7a"
    form = accounts.StaffUserCreate(
        role=Role(args.role),
        email=args.email,
        first_name=args.first_name,
        last_name=args.last_name,
        temporary_password=password,
    )
    try:
        with session_scope() as session:
            user = accounts.create_staff_user(session=session, actor_id=None, form=form)
            email = user.email
    except ServiceError as exc:
        raise CommandError(str(exc)) from exc
    _say(f"Created {args.role} {email}; they must choose a new password when they first log in.")
    if generated:
        print(generated)


# --- jobs ----------------------------------------------------------------------------


def cmd_jobs(args: argparse.Namespace) -> None:
    from avenrae import jobs

    job = jobs.JOBS[args.job]
    if not job.enabled():
        needs = (
            "an SMTP server (AVENRAE_SMTP_HOST)" if args.job == "send-email" else "Stripe (AVENRAE_STRIPE_SECRET_KEY)"
        )
        raise CommandError(f"{args.job} has nothing to do here: it needs {needs}, which is not configured")
    if args.full and args.job != "refresh-analytics":
        raise CommandError("--full only applies to refresh-analytics")
    try:
        _say(jobs.run_once(args.job, **({"full": True} if args.full else {})))
    except jobs.JobBusy as busy:
        raise CommandError(f"{busy}; try again in a moment") from busy


# --- assets and serve --------------------------------------------------------------


def cmd_assets(args: argparse.Namespace) -> None:
    from avenrae import assets

    fetched = assets.fetch(force=args.force, log=_say)
    _say(f"Map assets ready in {assets.VENDOR_DIR} ({fetched} downloaded).")


def cmd_check(args: argparse.Namespace) -> int:
    from avenrae import deploy

    found = [str(problem) for problem in deploy.problems(get_settings())] if args.deploy else _database_problems()
    for line in found:
        print(line)
    return 1 if found else 0


def _database_problems() -> list[str]:
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text

    from avenrae.db import migrations_config

    url = _database_url()
    try:
        _check_connection(url)
    except CommandError as exc:
        return [f"DATABASE_URL: {exc}."]
    head = ScriptDirectory.from_config(migrations_config()).get_current_head()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except sqlalchemy.exc.ProgrammingError:
        current = None
    finally:
        engine.dispose()
    if current != head:
        return [
            f"DATABASE_URL: the schema is at {current or 'nothing'}, not {head}. Fix: python -m avenrae db migrate."
        ]
    return []


def _become_server(
    command: list[str], *, announce: str, dry_run: bool, supervise: Callable[[], int] | None = None
) -> None:
    """Refuse an unsafe production set-up, start the local cluster when no DATABASE_URL is
    given, then become `command` (rather than wait on a child, so a stop signal reaches it),
    or, given `supervise`, run it (it starts and stops its own children) and exit with its code."""
    from avenrae import deploy

    blockers = deploy.serving_blockers(get_settings())
    if blockers:
        raise CommandError(f"not serving in production: {blockers[0]} (python -m avenrae check --deploy lists all)")
    if not get_settings().database_url:
        localdb.up(REPO_ROOT, get_settings().state_dir, log=_say)
    _say(announce)
    sys.stdout.flush()
    os.chdir(REPO_ROOT)
    # uvicorn (under Streamlit and under `api`) believes X-Forwarded-For only from these; its
    # own FORWARDED_ALLOW_IPS, when an operator set it, stands.
    os.environ.setdefault("FORWARDED_ALLOW_IPS", get_settings().trusted_proxies)
    if dry_run:
        print(" ".join(command))
        return
    if supervise is not None:
        raise SystemExit(supervise())
    os.execv(sys.executable, command)  # noqa: S606 - this interpreter, with an argument list built by the caller


def _note_proxies(address: str) -> None:
    """Listening beyond this machine while believing forwarded addresses only from it: a
    proxy elsewhere would make every visitor one address to the per-address limits."""
    if address not in LOOPBACK_HOSTS and get_settings().trusted_proxies == THIS_MACHINE_PROXIES:
        _say(
            f"Listening on {address}: if a proxy on another machine forwards to this server, set "
            "AVENRAE_TRUSTED_PROXIES to its address, or every visitor shares the proxy's per-address limits."
        )


def _shown(address: str) -> str:
    return "localhost" if address in ("127.0.0.1", "localhost") else address


def cmd_serve(args: argparse.Namespace) -> None:
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO_ROOT / "avenrae" / "ui" / "server.py"),
        "--server.port",
        str(args.port),
        "--server.address",
        args.address,
    ]
    _note_proxies(args.address)
    _public_url_follows(args.address, args.port)
    _become_server(
        command, announce=f"Serving Avenrae on http://{_shown(args.address)}:{args.port}", dry_run=args.dry_run
    )


def _public_url_follows(address: str, port: int) -> None:
    """Without AVENRAE_PUBLIC_URL, a development server's links (in e-mails, a password reset's,
    and Stripe's way back) name the address it serves on, not the default port."""
    settings = get_settings()
    if settings.production or "public_url" in settings.model_fields_set:
        return
    url = f"http://{_shown(address)}:{port}"
    os.environ["AVENRAE_PUBLIC_URL"] = url
    settings.public_url = url
    _say(f"Links in e-mails and payment returns lead to {url} (set AVENRAE_PUBLIC_URL to change it).")


def cmd_api(args: argparse.Namespace) -> None:
    """The JSON API alone (no pages, no background jobs), with uvicorn: stateless, so it
    scales out by adding workers or machines; `serve` already includes it at /api.

    Each worker process listens on a socket of its own (avenrae.workers says why), which
    has TCP_NODELAY set: uvicorn, given a socket (`--fd`), does not set it on the
    connections it accepts, and a keep-alive client would then wait for a delayed ACK
    (about 40 ms) on every response."""
    from avenrae import workers

    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "avenrae.api:standalone",
        "--proxy-headers",
        "--no-server-header",
    ]
    _note_proxies(args.address)
    where = f"{_shown(args.address)}:{args.port}"
    announce = f"Serving the Avenrae API on http://{where}/api ({args.workers} worker process(es), a socket each)"
    if args.dry_run:
        _become_server([*command, "--fd", f"<a socket on {where}>"], announce=announce, dry_run=True)
        return
    try:  # open before the checks' slow parts, so a taken port is said at once
        listeners = workers.listening_sockets(args.address, args.port, args.workers)
    except OSError as error:
        raise CommandError(f"cannot listen on {args.address}:{args.port}: {error.strerror}") from error
    if args.workers == 1:
        _become_server([*command, "--fd", str(listeners[0].fileno())], announce=announce, dry_run=False)
    else:
        _become_server(
            command, announce=announce, dry_run=False, supervise=lambda: workers.supervise(command, listeners, log=_say)
        )


# --- stack -------------------------------------------------------------------------


def _local_only(what: str) -> None:
    if get_settings().database_url:
        raise CommandError(f"DATABASE_URL is set: {what} runs on the project-local cluster only; unset it")


def cmd_stack_up(args: argparse.Namespace) -> None:
    from avenrae import stack

    _local_only("the stack")
    state = stack.up(get_settings().state_dir, servers=args.servers, log=_say)
    _say(f"Stack up: nginx (TLS) -> {len(state.servers)} app servers -> PgBouncer -> primary; replica for analytics.")
    print(state.url)


def cmd_stack_down(args: argparse.Namespace) -> None:
    from avenrae import stack

    if not stack.down(get_settings().state_dir, log=_say):
        _say("The stack was not running.")


def cmd_stack_status(args: argparse.Namespace) -> int:
    from avenrae import stack

    state_dir = get_settings().state_dir
    parts = stack.status(state_dir)
    if not parts:
        _say("The stack is not running (python -m avenrae stack up).")
        return 3
    for part in parts:
        print(f"{part.name:<10} {'running' if part.running else 'STOPPED':<8} {part.where}")
    state = stack.read_state(state_dir)
    running = {part.name for part in parts if part.running}
    if state is not None and "replica" in running and "primary" not in running:
        # A standby cut off from its primary has replayed all it received: it would say 0 s.
        print("replica lag: unknown (the primary is stopped)")
    elif state is not None and "replica" in running:
        try:
            lag = stack.replica_lag(state)
            print(f"replica lag: {'unknown' if lag is None else f'{lag:.1f} s'}")
        except psycopg.Error:
            print("replica lag: unknown (the replica does not answer)")
    return 0 if all(part.running for part in parts) else 1


# --- wiring ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m avenrae", description="Avenrae operations platform.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    db = commands.add_parser("db", help="the database: start, stop, migrate, seed, reset")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION", parser_class=_Parser)
    up = db_commands.add_parser(
        "up",
        help="start the local PostgreSQL + PostGIS (or check DATABASE_URL)",
        description="Start the project-local database, creating it on first use. "
        "With DATABASE_URL set, only check that it accepts connections.",
    )
    up.set_defaults(handler=cmd_db_up)
    down = db_commands.add_parser("down", help="stop the local database")
    down.add_argument("--force", action="store_true", help="stop it even while the stack (`stack up`) runs on it")
    down.set_defaults(handler=cmd_db_down)
    db_commands.add_parser("url", help="print the database URL (libpq form, usable by psql)").set_defaults(
        handler=cmd_db_url
    )
    migrate = db_commands.add_parser("migrate", help="apply Alembic migrations")
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate.set_defaults(handler=cmd_db_migrate)
    seed = db_commands.add_parser(
        "seed",
        help="fill an empty database with demo data",
        description="Fill an empty, migrated database with deterministic South African demo "
        "data and print the demo logins. Refuses a database that already has users.",
    )
    seed.add_argument("--practitioners", type=_whole_number(1), default=1_000, metavar="N")
    seed.add_argument("--clients", type=_whole_number(1), default=3_000, metavar="N")
    seed.add_argument("--bookings", type=_whole_number(0), default=20_000, metavar="N")
    seed.add_argument("--seed", type=_whole_number(0), default=42, metavar="S", help="random seed")
    seed.add_argument("--if-empty", action="store_true", help="do nothing when data already exists")
    seed.add_argument("--quiet", action="store_true", help="no progress bar")
    seed.set_defaults(handler=cmd_db_seed)
    reset = db_commands.add_parser("reset", help="delete all data and re-create the schema")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(handler=cmd_db_reset)

    backup = db_commands.add_parser(
        "backup",
        help="a consistent dump of the database (pg_dump, custom format)",
        description="Dump the database in one consistent snapshot (pg_dump --format=custom) while the app keeps "
        "running; prints the file's path. Default file: .avenrae/backups/<db>-<UTC time>.dump. Connect directly "
        "to PostgreSQL, never through PgBouncer.",
    )
    backup.add_argument("--out", type=Path, help="the dump file to write")
    backup.set_defaults(handler=cmd_db_backup)
    restore = db_commands.add_parser(
        "restore",
        help="restore a backup into a new database",
        description="Restore a dump made by `db backup` into a new database on the same server (never over "
        "an existing one); prints the new database's URL.",
    )
    restore.add_argument("file", type=Path, help="a dump made by `db backup`")
    restore.add_argument("--into", required=True, metavar="NAME", help="the new database's name")
    restore.set_defaults(handler=cmd_db_restore)

    users = commands.add_parser("users", help="user accounts: create staff, analysts and admins")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION", parser_class=_Parser)
    create = user_commands.add_parser(
        "create",
        help="create a staff, analyst or admin account (the first admin, say)",
        description="Create a staff, analyst or admin account with a temporary password, which they must "
        "change at their first login. Asks for the password on a terminal; otherwise generates one "
        "and prints it on stdout.",
    )
    create.add_argument("--role", required=True, choices=["staff", "analyst", "admin"])
    create.add_argument("--email", required=True)
    create.add_argument("--first-name", default="Avenrae")
    create.add_argument("--last-name", default="Administrator")
    create.set_defaults(handler=cmd_users_create)

    jobs = commands.add_parser(
        "jobs",
        help="background work: expire unpaid holds, complete finished sessions, send e-mail",
        description="Run one background job once. `serve` already runs them on their schedule "
        "(expire-pending, send-email and refresh-payments every minute, refund-owed every five minutes, "
        "refresh-analytics every ten, complete-finished hourly, purge-expired daily); use this from cron "
        "or a systemd timer when the app runs elsewhere.",
    )
    jobs.add_argument(
        "job",
        choices=[
            "expire-pending",
            "complete-finished",
            "send-email",
            "refresh-payments",
            "refund-owed",
            "refresh-analytics",
            "purge-expired",
        ],
    )
    jobs.add_argument(
        "--full", action="store_true", help="refresh-analytics only: rebuild every rollup, not just what changed"
    )
    jobs.set_defaults(handler=cmd_jobs)

    stack = commands.add_parser(
        "stack",
        help="the production topology on this machine: nginx, app servers, PgBouncer, replica",
        description="Start, stop or inspect, as processes of this machine with state under .avenrae/stack/: "
        "nginx with TLS in front of N app servers, PgBouncer (transaction pooling) in front of the local "
        "cluster, and a streaming replica the analytics pages read. See docs/deploy.md.",
    )
    stack_commands = stack.add_subparsers(dest="stack_command", required=True, metavar="ACTION", parser_class=_Parser)
    stack_up = stack_commands.add_parser("up", help="start the stack and print its https URL")
    stack_up.add_argument("--servers", type=_whole_number(1), default=2, metavar="N", help="app servers (default 2)")
    stack_up.set_defaults(handler=cmd_stack_up)
    stack_commands.add_parser("down", help="stop everything `stack up` started").set_defaults(handler=cmd_stack_down)
    stack_commands.add_parser("status", help="which parts run, where; the replica's lag").set_defaults(
        handler=cmd_stack_status
    )

    assets = commands.add_parser("assets", help="download the map's JavaScript/CSS for offline use")
    assets.add_argument("--force", action="store_true", help="download again even if present")
    assets.set_defaults(handler=cmd_assets)

    check = commands.add_parser(
        "check",
        help="check the database (or, with --deploy, the production settings)",
        description="Without options: the database is reachable and migrated. With --deploy: every unsafe or "
        "missing setting for production, one line each with its fix. Prints nothing and exits 0 when all is well.",
    )
    check.add_argument("--deploy", action="store_true", help="check the settings for a production deployment")
    check.set_defaults(handler=cmd_check)

    serve = commands.add_parser("serve", help="start the database if needed and serve the app")
    serve.add_argument("--port", type=_port, default=8501)
    serve.add_argument(
        "--address",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every interface, "
        "e.g. behind a proxy on another host)",
    )
    serve.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(handler=cmd_serve)

    api = commands.add_parser("api", help="serve the JSON API alone (serve includes it at /api)")
    api.add_argument("--port", type=_port, default=8502)
    api.add_argument("--address", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    api.add_argument("--workers", type=_whole_number(1), default=1, help="worker processes (default 1)")
    api.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    api.set_defaults(handler=cmd_api)
    return parser


def _settings_read() -> str:
    """Where settings came from, for an error about several of them together."""
    return f"settings (the environment and {ENV_FILE})" if ENV_FILE.exists() else "settings"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, pydantic.ValidationError):  # every wrong setting, not only the first
        said = []
        for problem in exc.errors():
            field = ".".join(str(part) for part in problem["loc"]).upper()
            if not field:  # a combination of settings, from the environment and perhaps .env
                where = _settings_read()
            else:
                where = "setting " + ("DATABASE_URL" if field == "DATABASE_URL" else f"AVENRAE_{field}")
            said.append(f"{where}: {problem['msg'].removeprefix('Value error, ')}")
        text = "; ".join(said)
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None:
        text = str(exc.orig).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    from avenrae.backup import BackupError
    from avenrae.db import DatabaseNotConfigured
    from avenrae.seed import SeedError
    from avenrae.stack import StackError

    parser = build_parser()
    args = parser.parse_args(argv)
    expected = (
        CommandError,
        localdb.LocalDatabaseError,
        StackError,
        BackupError,
        SeedError,
        DatabaseNotConfigured,
        psycopg.Error,
        sqlalchemy.exc.SQLAlchemyError,
        OSError,
        ValueError,
    )
    try:
        status = args.handler(args)
    except expected as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return status or 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
