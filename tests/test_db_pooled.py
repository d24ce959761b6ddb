"""Behind PgBouncer in transaction mode psycopg must not prepare statements."""

from avenrae import db
from avenrae.config import get_settings


def test_a_pooled_database_url_is_used_without_prepared_statements(monkeypatch):
    url = "postgresql+psycopg://u:p@127.0.0.1:6432/avenrae"
    replica = "postgresql+psycopg://u:p@127.0.0.1:5433/avenrae"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("AVENRAE_DATABASE_POOLED", "true")
    get_settings.cache_clear()
    try:
        assert db._connect_args(url) == {"connect_timeout": db.CONNECT_TIMEOUT_SECONDS, "prepare_threshold": None}
        assert db._connect_args(replica) == {"connect_timeout": db.CONNECT_TIMEOUT_SECONDS, "prepare_threshold": None}
        monkeypatch.setenv("AVENRAE_DATABASE_POOLED", "false")
        get_settings.cache_clear()
        assert db._connect_args(url) == {"connect_timeout": db.CONNECT_TIMEOUT_SECONDS}
        assert db._connect_args(url + "?connect_timeout=30") == {}  # the operator's own timeout is kept
    finally:
        get_settings.cache_clear()
