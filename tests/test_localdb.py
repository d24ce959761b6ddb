"""The project-local cluster: found where postgres can reach it, one per checkout."""

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from avenrae import localdb
from avenrae.config import REPO_ROOT, get_settings

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the postgres-user fallback only applies to root")


def test_ordinary_users_keep_the_data_in_the_repository(tmp_path, monkeypatch):
    monkeypatch.setattr(localdb, "_is_root", lambda: False)
    assert localdb.choose_data_dir(tmp_path, tmp_path / ".avenrae") == tmp_path / ".avenrae" / "pgdata"


def test_outside_folders_are_unique_per_checkout(tmp_path):
    one = localdb.outside_data_dir(tmp_path / "a" / "avenrae")
    two = localdb.outside_data_dir(tmp_path / "b" / "avenrae")
    assert one != two
    assert one == localdb.outside_data_dir(tmp_path / "a" / "avenrae")


@root_only
def test_a_checkout_postgres_cannot_enter_gets_a_cluster_outside_it():
    private = Path(tempfile.mkdtemp())  # mode 700: the postgres user cannot get in
    checkout = private / "avenrae-checkout"
    checkout.mkdir()
    state_dir = checkout / ".avenrae"
    main_state = localdb.read_state(get_settings().state_dir)
    try:
        state = localdb.up(checkout, state_dir, log=lambda _: None)
        assert Path(state.data_dir) == localdb.outside_data_dir(checkout)
        assert not Path(state.data_dir).is_relative_to(private)
        if main_state is not None and localdb.running_port(Path(main_state.data_dir)):
            assert state.port != main_state.port, "two checkouts must not share a port"
        with psycopg.connect(state.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            assert conn.execute("SELECT postgis_lib_version()").fetchone()[0]
        # Stopping and starting again keeps the same cluster and data.
        assert localdb.down(state_dir)
        again = localdb.up(checkout, state_dir, log=lambda _: None)
        assert again.data_dir == state.data_dir
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'").fetchone()[0] == 1
    finally:
        localdb.destroy(state_dir)
        shutil.rmtree(localdb.outside_data_dir(checkout).parent, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


def test_the_running_cluster_reports_its_port():
    state = localdb.read_state(get_settings().state_dir)
    if get_settings().database_url or state is None:
        pytest.skip("the suite runs against DATABASE_URL")
    assert localdb.running_port(Path(state.data_dir)) == state.port
    assert Path(state.data_dir).exists()


def test_state_lives_in_the_git_ignored_folder():
    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert ".avenrae/" in ignored
    assert get_settings().state_dir == REPO_ROOT / ".avenrae"
