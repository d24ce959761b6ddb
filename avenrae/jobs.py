"""Background jobs: what must happen without anyone clicking.

Each job runs in its own transaction under a transaction-level PostgreSQL advisory lock
(which PgBouncer's transaction pooling keeps), so several app servers (or a server and a
cron entry) never run the same job at once; each run is recorded in job_runs, and a
server's scheduler runs a job only when no server ran it within its interval, so with
several app servers each job still runs once per interval. `python -m
avenrae serve` runs them on their schedule in a background thread; `python -m avenrae
jobs NAME` runs one once, for cron or a systemd timer.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from avenrae.db import independent_transaction, session_scope
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


def _close_payment_pages(session: Session) -> str:
    return str(payments.close_payment_pages(session=session))


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
        Job("close-payment-pages", 60, _close_payment_pages, enabled=_online_payments),
        Job("refresh-analytics", 600, _refresh_analytics),
        Job("purge-expired", 86400, _purge_expired),
    )
}


class JobBusy(Exception):
    """Another process is running this job right now."""


# Kept this long, then deleted by the next run of the same job.
RUNS_KEPT_DAYS = 30

_START = text("""
    INSERT INTO job_runs (name, server, started_at) VALUES (:name, :server, now()) RETURNING id
""")
_FINISH = text("UPDATE job_runs SET finished_at = clock_timestamp(), report = :report WHERE id = :id")
_FORGET_OLD = text("DELETE FROM job_runs WHERE name = :name AND started_at < now() - make_interval(days => :days)")
_FAILED = text("""
    INSERT INTO job_runs (name, server, started_at, finished_at, failed, report)
    VALUES (:name, :server, :started_at, clock_timestamp(), true, :report)
""")


def server_name() -> str:
    """Who ran a job: this machine and process (AVENRAE_SERVER_NAME overrides, e.g. "serve-1")."""
    return os.environ.get("AVENRAE_SERVER_NAME") or f"{socket.gethostname()}:{os.getpid()}"


def _lock(session: Session, name: str) -> None:
    # Transaction-level: released at commit, so it works behind PgBouncer in transaction mode.
    key = zlib.crc32(f"avenrae.jobs.{name}".encode())
    if not session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}):
        raise JobBusy(f"{name} is already running")


def _run_recorded(session: Session, job: Job, **options: object) -> str:
    started_at = session.scalar(text("SELECT now()"))
    run_id = session.scalar(_START, {"name": job.name, "server": server_name()})
    try:
        report = job.run(session, **options)
    except Exception as exc:
        # The job's transaction is rolled back; the failure is kept beside it, so the job
        # waits its interval before it is tried again (by whichever server comes first).
        with independent_transaction(session) as connection:
            connection.execute(
                _FAILED,
                {"name": job.name, "server": server_name(), "started_at": started_at, "report": repr(exc)[:2000]},
            )
        raise
    session.execute(_FINISH, {"report": report[:2000], "id": run_id})
    session.execute(_FORGET_OLD, {"name": job.name, "days": RUNS_KEPT_DAYS})
    return report


def run_once(name: str, **options: object) -> str:
    """Run one job now, in one transaction; JobBusy if it is already running elsewhere."""
    job = JOBS[name]
    with session_scope() as session:
        _lock(session, name)
        return _run_recorded(session, job, **options)


def run_if_due(job: Job) -> tuple[str | None, float]:
    """Run `job` unless any server started it less than its interval ago; JobBusy if it
    is running elsewhere. Returns the report (None when not due) and the seconds until
    it is next due."""
    with session_scope() as session:
        _lock(session, job.name)
        last, now = session.execute(
            text("SELECT (SELECT max(started_at) FROM job_runs WHERE name = :name), now()"), {"name": job.name}
        ).one()
        if last is not None:
            wait = job.every_seconds - (now - last).total_seconds()
            if wait > 0:
                return None, wait
        return _run_recorded(session, job), float(job.every_seconds)


class Scheduler:
    """Runs every enabled job on its schedule in a daemon thread until stopped. Several
    servers may each run one: a job's runs are recorded in job_runs, and a server runs a
    job only when no server has run it within its interval."""

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
        due = dict.fromkeys(self.jobs, 0.0)  # each is looked at once at start
        while not self._stop.is_set():
            for name, job in self.jobs.items():
                if time.monotonic() < due[name] or not job.enabled():
                    continue
                try:
                    report, wait = run_if_due(job)
                    due[name] = time.monotonic() + wait
                    if report is not None:
                        log.info("job %s: %s", name, report)
                except JobBusy:
                    due[name] = time.monotonic() + self.tick_seconds
                except Exception:  # a failing job must not stop the others; it is retried next time
                    due[name] = time.monotonic() + job.every_seconds
                    log.exception("job %s failed", name)
            self._stop.wait(self.tick_seconds)
