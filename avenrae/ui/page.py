"""What every page needs besides its own widgets."""

from __future__ import annotations

import psycopg
import sqlalchemy.exc

from avenrae.db import DatabaseNotConfigured


def database_error() -> tuple[type[BaseException], ...]:
    """Exceptions meaning 'the database cannot be reached', for a plain message instead."""
    return (sqlalchemy.exc.OperationalError, psycopg.OperationalError, DatabaseNotConfigured)
