"""`db backup` then `db restore` into a new database reproduces every table and the ledger."""

from __future__ import annotations

import stat
import subprocess
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session

from avenrae import backup, cli
from avenrae.config import libpq_url
from avenrae.models import BookingStatus, PaymentStatus, TransactionKind
from tests.factories import make_booking, make_review, make_transaction

RESTORED = "avenrae_restore_test"

COUNT_TABLES = """
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name
"""
LEDGER = """
    SELECT kind, status, count(*), sum(amount) FROM payment_transactions GROUP BY kind, status ORDER BY kind, status
"""


def _facts(url: str) -> tuple[dict[str, int], list[tuple], list[tuple]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = [row[0] for row in connection.execute(text(COUNT_TABLES))]
            counts = {t: connection.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
            ledger = [tuple(row) for row in connection.execute(text(LEDGER))]
            settings = [
                tuple(row)
                for row in connection.execute(text("SELECT name, setting FROM pg_settings WHERE name = 'jit'"))
            ]
    finally:
        engine.dispose()
    return counts, ledger, settings


@pytest.fixture
def restored_url(test_database_url):
    admin = libpq_url(make_url(test_database_url).set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{RESTORED}" WITH (FORCE)')
    yield make_url(test_database_url).set(database=RESTORED).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{RESTORED}" WITH (FORCE)')


def test_backup_then_restore_reproduces_every_table_and_the_ledger(
    committed_db, test_database_url, restored_url, tmp_path
):
    with Session(committed_db) as session:
        for number in range(5):
            booking = make_booking(session, status=BookingStatus.CONFIRMED)
            charge = make_transaction(session, booking, amount=Decimal("450.00") + number)
            if number % 2:
                make_transaction(
                    session, booking, kind=TransactionKind.REFUND, amount=Decimal("100.50"), refund_of_id=charge.id
                )
            make_transaction(session, booking, status=PaymentStatus.FAILED, amount=Decimal("1.00"))
            completed = make_booking(session, status=BookingStatus.COMPLETED)
            make_review(session, completed)
        session.commit()
    before = _facts(test_database_url)
    assert before[0]["bookings"] == 10 and before[1]

    dump = tmp_path / "avenrae.dump"
    made = backup.backup(test_database_url, dump)
    assert made.path == dump and dump.stat().st_size > 0
    url = backup.restore(dump, test_database_url, RESTORED)
    assert make_url(url).database == RESTORED

    assert _facts(restored_url) == before  # every table's rows, the ledger's sums, jit off for the database
    with pytest.raises(backup.BackupError, match="exists"):
        backup.restore(dump, test_database_url, RESTORED)


def test_the_cli_backs_up_and_restores(committed_db, test_database_url, restored_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", test_database_url)
    from avenrae.config import get_settings

    get_settings.cache_clear()
    try:
        dump = tmp_path / "private" / "cli.dump"
        assert cli.main(["db", "backup", "--out", str(dump)]) == 0
        assert capsys.readouterr().out.strip() == str(dump)
        # people's details and password hashes: only the owner reads them
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(f"{dump}.settings.json").stat().st_mode) == 0o600
        assert stat.S_IMODE(dump.parent.stat().st_mode) == 0o700
        assert cli.main(["db", "restore", str(dump), "--into", RESTORED]) == 0
        printed = capsys.readouterr().out.strip()
        assert make_url(printed).database == RESTORED
        password = make_url(test_database_url).password
        assert password is None or password not in printed
        assert cli.main(["db", "restore", str(dump), "--into", "Bad-Name"]) == 1
    finally:
        get_settings.cache_clear()


def test_backups_refuse_to_go_through_pgbouncer(test_database_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", test_database_url)
    monkeypatch.setenv("AVENRAE_DATABASE_POOLED", "true")
    from avenrae.config import get_settings

    get_settings.cache_clear()
    try:
        dump = tmp_path / "pooled.dump"
        assert cli.main(["db", "backup", "--out", str(dump)]) == 1
        assert "not through PgBouncer" in capsys.readouterr().err
        assert not dump.exists()
        assert cli.main(["db", "restore", str(dump), "--into", RESTORED]) == 1
        assert "AVENRAE_DATABASE_POOLED=false" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()


def test_the_dump_keeps_the_urls_tls_settings_and_hides_the_password(monkeypatch, tmp_path):
    # docs/deploy.md asks for sslmode=verify-full in the URLs: pg_dump is given it too, not
    # libpq's default "prefer" (no certificate check, clear text if TLS is not offered).
    seen: dict[str, object] = {}

    def fake_run(command, *, env, **kwargs):
        seen.update(command=command, env=env)
        return subprocess.CompletedProcess(command, 1, "", "stopped by the test")

    monkeypatch.setattr(backup.subprocess, "run", fake_run)
    url = "postgresql://avenrae:secret@db.internal:5432/avenrae?sslmode=verify-full&sslrootcert=/etc/avenrae/ca.pem"
    with pytest.raises(backup.BackupError, match="stopped by the test"):
        backup.backup(url, tmp_path / "nightly.dump")
    [dbname] = [part for part in seen["command"] if part.startswith("--dbname=")]
    target = make_url(dbname.removeprefix("--dbname="))
    assert (target.host, target.database, target.username) == ("db.internal", "avenrae", "avenrae")
    assert target.query == {"sslmode": "verify-full", "sslrootcert": "/etc/avenrae/ca.pem"}
    assert "secret" not in " ".join(seen["command"]) and seen["env"]["PGPASSWORD"] == "secret"


def test_a_backup_that_requires_tls_is_not_taken_in_clear(test_database_url, tmp_path):
    # The test server offers no TLS: a URL that requires it gets no dump at all.
    url = make_url(test_database_url).update_query_dict({"sslmode": "require"}).render_as_string(hide_password=False)
    path = tmp_path / "nightly.dump"
    with pytest.raises(backup.BackupError, match=r"pg_dump failed.*SSL"):
        backup.backup(url, path)
    assert list(tmp_path.iterdir()) == []
