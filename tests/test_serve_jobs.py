"""`serve` runs the background jobs unless AVENRAE_RUN_JOBS=false leaves them to timers (found
by an operator's trial: docs/deploy.md said timers could run them instead, yet every `serve`
still did)."""

from __future__ import annotations

import threading

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from avenrae import jobs
from avenrae.config import Settings, get_settings
from avenrae.ui import server


def _job_threads_while_serving(monkeypatch, run_jobs: bool) -> list[str]:
    monkeypatch.setattr(jobs, "JOBS", {})  # a schedule with nothing on it: only its thread is looked for
    monkeypatch.setattr(get_settings(), "run_jobs", run_jobs)
    with TestClient(Starlette(lifespan=server.background_jobs)):
        return [thread.name for thread in threading.enumerate() if thread.name == "avenrae-jobs"]


@pytest.mark.parametrize(("run_jobs", "threads"), [(True, ["avenrae-jobs"]), (False, [])])
def test_serve_runs_the_jobs_only_when_told_to(monkeypatch, run_jobs, threads):
    assert _job_threads_while_serving(monkeypatch, run_jobs) == threads


def test_jobs_run_in_serve_by_default(monkeypatch):
    monkeypatch.delenv("AVENRAE_RUN_JOBS", raising=False)
    assert Settings().run_jobs is True
    monkeypatch.setenv("AVENRAE_RUN_JOBS", "false")
    assert Settings().run_jobs is False
