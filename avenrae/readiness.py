"""Whether this server can serve: its database answers.

Streamlit's `/_stcore/health` says 200 while the database is down, so nginx, systemd and
operators ask `/_avenrae/ready` (serve) or `/api/health` (the API alone) instead. Both answer
within READY_TIMEOUT_SECONDS whatever the database does, and never say why it failed
(they answer anyone): the reason goes to the log.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from sqlalchemy import text

from avenrae.db import session_scope

log = logging.getLogger(__name__)
READY_TIMEOUT_SECONDS = 2.0
RETRY_AFTER_SECONDS = 5
NOT_READY = "database unavailable"

# One check at a time: against a database that hangs, probes would otherwise pile up
# threads (each waiting for the connect timeout) that the pages and the API need.
_checking = threading.Lock()


def _database_answers() -> bool:
    if not _checking.acquire(timeout=READY_TIMEOUT_SECONDS):
        return False  # the check before still waits on the database
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception as error:  # whatever keeps the database from answering
        log.warning("not ready: the database does not answer: %s", error)
        return False
    finally:
        _checking.release()


async def database_ready() -> bool:
    """Whether the database answered SELECT 1 within READY_TIMEOUT_SECONDS."""
    try:
        # asyncio's thread, not Starlette's: a check cut short by the timeout must be left
        # behind (it ends by itself), not waited for.
        return await asyncio.wait_for(asyncio.to_thread(_database_answers), READY_TIMEOUT_SECONDS)
    except TimeoutError:
        log.warning("not ready: the database did not answer within %s s", READY_TIMEOUT_SECONDS)
        return False


NOT_READY_HEADERS = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
