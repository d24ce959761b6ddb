"""Background jobs: what must happen without anyone clicking.

Each job runs in its own transaction under a PostgreSQL advisory lock, so several app
servers (or a server and a cron entry) never run the same job at once. `python -m
avenrae serve` runs them on their schedule in a background thread; `python -m avenrae
jobs NAME` runs one once, for cron or a systemd timer.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from avenrae.db import session_scope
from avenrae.services import analytics, flows, notifications, payments, retention

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: int
    run: Callable[..., str]  # does the work given a session (and options), returns a one-line report
    enabled: Callable[[], bool] = lambda: True


def _expire_pending(session: Session) -> str:
    return f"Cancelled {flows.expire_pending(session=session)} unpaid bookings whose hold ran out."


def _complete_finished(session: Session) -> str:
    return f"Marked {flows.complete_finished(session=session)} finished sessions as completed."


def _send_email(_session: Session) -> str:  # one transaction per message, of its own
    sent, failed = notifications.send_pending_emails()
    return f"Sent {sent} e-mails; {failed} failed."


def _refresh_payments(session: Session) -> str:
    return f"Confirmed {flows.refresh_open_payments(session=session)} bookings paid online."


def _refund_owed(_session: Session) -> str:  # one transaction per booking and per refund, of their own
    run = flows.refund_owed_automatically()
    return (
        f"Sent {run.sent} refunds online; the provider refused {run.refused} (left to staff); "
        f"{run.waiting} wait for the next run."
    )


def _purge_expired(session: Session) -> str:
    return str(retention.purge_expired(session=session))


def _refresh_analytics(session: Session, full: bool = False) -> str:
    return str(analytics.refresh(session.connection(), full=full))


def _online_payments() -> bool:
    return payments.online_gateway() is not None


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("expire-pending", 60, _expire_pending),
        Job("complete-finished", 3600, _complete_finished),
        Job("send-email", 60, _send_email, enabled=notifications.email_enabled),
        Job("refresh-payments", 60, _refresh_payments, enabled=_online_payments),
        Job("refund-owed", 300, _refund_owed, enabled=_online_payments),
        Job("refresh-analytics", 600, _refresh_analytics),
        Job("purge-expired", 86400, _purge_expired),
    )
}


class JobBusy(Exception):
    """Another process is running this job right now."""


def run_once(name: str, **options: object) -> str:
    """Run one job now, in one transaction; JobBusy if it is already running elsewhere."""
    job = JOBS[name]
    with session_scope() as session:
        key = zlib.crc32(f"avenrae.jobs.{name}".encode())
        if not session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}):
            raise JobBusy(f"{name} is already running")
        return job.run(session, **options)


class Scheduler:
    """Runs every enabled job on its schedule in a daemon thread until stopped."""

    def __init__(self, jobs: dict[str, Job] | None = None, tick_seconds: float = 5.0):
        self.jobs = jobs or JOBS
        self.tick_seconds = tick_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="avenrae-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        due = dict.fromkeys(self.jobs, 0.0)  # everything runs once at start
        while not self._stop.is_set():
            for name, job in self.jobs.items():
                if time.monotonic() < due[name] or not job.enabled():
                    continue
                due[name] = time.monotonic() + job.every_seconds
                try:
                    report = run_once(name)
                    log.info("job %s: %s", name, report)
                except JobBusy:
                    pass
                except Exception:  # a failing job must not stop the others; it is retried next time
                    log.exception("job %s failed", name)
            self._stop.wait(self.tick_seconds)
