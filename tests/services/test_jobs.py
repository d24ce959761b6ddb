"""Background jobs: each runs once at a time across processes, and the scheduler keeps them going."""

import threading
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from avenrae import jobs
from avenrae.models import Booking, BookingStatus
from tests.factories import make_booking


def test_expire_pending_cancels_holds_that_ran_out(db):
    ran_out = make_booking(db, status=BookingStatus.PENDING, hold_expires_at=datetime.now(UTC) - timedelta(minutes=1))
    still_held = make_booking(
        db, status=BookingStatus.PENDING, hold_expires_at=datetime.now(UTC) + timedelta(minutes=10)
    )
    assert jobs.run_once("expire-pending") == "Cancelled 1 unpaid bookings whose hold ran out."
    db.expire_all()
    assert db.get(Booking, ran_out.id).status == BookingStatus.CANCELLED
    assert db.get(Booking, still_held.id).status == BookingStatus.PENDING


def test_a_job_already_running_elsewhere_is_not_run_twice(db, engine):
    key = zlib.crc32(b"avenrae.jobs.expire-pending")
    with engine.connect() as elsewhere:
        elsewhere.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            with pytest.raises(jobs.JobBusy, match="expire-pending is already running"):
                jobs.run_once("expire-pending")
        finally:
            elsewhere.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    assert jobs.run_once("expire-pending").startswith("Cancelled 0")


def test_the_scheduler_runs_due_jobs_skips_disabled_ones_and_survives_failures(db, monkeypatch):
    calls: list[str] = []
    ran_twice = threading.Event()

    def record(session):
        calls.append("record")
        if calls.count("record") >= 2:
            ran_twice.set()
        return "ok"

    def explode(session):
        calls.append("explode")
        raise RuntimeError("boom")

    schedule = {
        "record": jobs.Job("record", 0, record),
        "explode": jobs.Job("explode", 0, explode),
        "off": jobs.Job("off", 0, lambda session: calls.append("off") or "no", enabled=lambda: False),
    }
    monkeypatch.setattr(jobs, "JOBS", schedule)
    scheduler = jobs.Scheduler(schedule, tick_seconds=0.01)
    scheduler.start()
    try:
        assert ran_twice.wait(10), calls
    finally:
        scheduler.stop()
    assert "explode" in calls and "off" not in calls


def test_a_job_run_by_one_server_is_not_run_again_by_another_within_its_interval(db, monkeypatch):
    job = jobs.Job("hourly", 3600, lambda session: "done")
    monkeypatch.setenv("AVENRAE_SERVER_NAME", "serve-1")
    assert jobs.run_if_due(job) == ("done", 3600.0)
    monkeypatch.setenv("AVENRAE_SERVER_NAME", "serve-2")
    report, wait = jobs.run_if_due(job)
    assert report is None and 3500 < wait <= 3600
    runs = db.execute(text("SELECT server, report FROM job_runs WHERE name = 'hourly'")).all()
    assert runs == [("serve-1", "done")]


def test_a_failed_run_is_recorded_and_waits_its_interval(db):
    def explode(session):
        raise RuntimeError("boom")

    job = jobs.Job("fragile", 600, explode)
    with pytest.raises(RuntimeError):
        jobs.run_if_due(job)
    assert jobs.run_if_due(job)[0] is None
    failed = db.execute(text("SELECT failed, report FROM job_runs WHERE name = 'fragile'")).one()
    assert failed.failed and "boom" in failed.report
