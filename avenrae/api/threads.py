"""Where an endpoint's blocking work runs.

Endpoints are plain functions, run in worker threads. Most of their time is the database's
and the interpreter's, which a few threads at a time use best: AVENRAE_API_THREADS of them
per process (the rest wait their turn, cheaply, instead of contending for the interpreter
and the database). Work that mostly waits on someone else (Stripe, Nominatim, a password
hash) would hold those few places for its whole wait, so it runs in threads of its own,
AVENRAE_API_WAITING_THREADS of them: mark such an endpoint `@waits_on_others`, or send such
a step to `waiting`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar

from avenrae.config import get_settings

Params = ParamSpec("Params")
Result = TypeVar("Result")

_WAITING: RunVar[CapacityLimiter] = RunVar("avenrae_waiting_threads")


@asynccontextmanager
async def limits(app: Any) -> AsyncIterator[None]:
    """The API process's lifespan: AVENRAE_API_THREADS for ordinary work."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = get_settings().api_threads
    yield


def _waiting_limiter() -> CapacityLimiter:
    """The event loop's limiter for work that waits on others, made at its first use."""
    try:
        return _WAITING.get()
    except LookupError:
        limiter = CapacityLimiter(get_settings().api_waiting_threads)
        _WAITING.set(limiter)
        return limiter


async def waiting(work: Callable[Params, Result], *args: Params.args, **kwargs: Params.kwargs) -> Result:
    """Run `work` in a thread for work that waits on others."""
    return await anyio.to_thread.run_sync(functools.partial(work, *args, **kwargs), limiter=_waiting_limiter())


def waits_on_others(endpoint: Callable[Params, Result]) -> Callable[Params, Awaitable[Result]]:
    """Run this endpoint's work in the threads for work that waits on others. Its parameters
    (and so its dependencies, which read the caller) are FastAPI's as before."""

    @functools.wraps(endpoint)
    async def run(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        return await waiting(endpoint, *args, **kwargs)

    return run
