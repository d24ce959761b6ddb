"""How many requests one API process works on at once (AVENRAE_API_THREADS), and work that
waits on others (Stripe, Nominatim, a password hash) running beside them, not in their place."""

import threading

import anyio.to_thread
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Mount

from avenrae.api import standalone, threads
from avenrae.config import get_settings


def limit_inside(client: TestClient) -> float:
    assert client.portal is not None
    return client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)


def test_the_api_process_works_on_as_many_requests_at_once_as_set(monkeypatch, connection):
    with TestClient(standalone()) as client:
        assert limit_inside(client) == 2
    monkeypatch.setattr(get_settings(), "api_threads", 5)
    with TestClient(standalone()) as client:
        assert limit_inside(client) == 5
        answers = [client.get("/api/auth/verify") for _ in range(3)]  # each runs in a worker thread
        assert [answer.json() for answer in answers] == [{"valid": False}] * 3


def one_place_app(released: threading.Event, started: threading.Event) -> Starlette:
    """An API with one place for ordinary work, an endpoint that waits on someone else (until
    `released`), one that blocks an ordinary place the same way, and a quick one."""
    api = FastAPI()

    @api.get("/waits")
    @threads.waits_on_others
    def waits() -> str:
        started.set()
        released.wait(10)
        return "done waiting"

    @api.get("/blocks")
    def blocks() -> str:
        started.set()
        released.wait(10)
        return "done blocking"

    @api.get("/quick")
    def quick() -> str:
        return "quick"

    return Starlette(routes=[Mount("/api", app=api)], lifespan=threads.limits)


def quick_answer_while(path: str, monkeypatch) -> tuple[str | None, str]:
    """Ask `path` (which holds on until released), then /api/quick: the quick answer, or None
    when it did not come within a second."""
    monkeypatch.setattr(get_settings(), "api_threads", 1)
    released, started = threading.Event(), threading.Event()
    answers: dict[str, str] = {}
    with TestClient(one_place_app(released, started)) as client:
        slow = threading.Thread(target=lambda: answers.update(slow=client.get(path).json()))
        slow.start()
        assert started.wait(5)
        quick = threading.Thread(target=lambda: answers.update(quick=client.get("/api/quick").json()))
        quick.start()
        quick.join(timeout=1)
        seen = answers.get("quick")
        released.set()
        slow.join(5)
        quick.join(5)
    return seen, answers["slow"]


def test_work_that_waits_on_others_does_not_take_the_place_of_other_requests(monkeypatch):
    seen, slow = quick_answer_while("/api/waits", monkeypatch)
    assert seen == "quick"
    assert slow == "done waiting"


def test_ordinary_work_takes_turns(monkeypatch):
    seen, slow = quick_answer_while("/api/blocks", monkeypatch)
    assert seen is None  # the one place was taken: the quick request waited its turn
    assert slow == "done blocking"
