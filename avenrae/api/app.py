"""The FastAPI app: routers, errors as problem+json, body-size cap, CORS, OpenAPI."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from avenrae.config import get_settings
from avenrae.services.errors import ServiceError

from . import docs, health, problems, threads
from .problems import Problem
from .routes import auth, bookings, me, practice, practitioners, staff
from .schemas import PROBLEMS

PREFIX = "/api"
DESCRIPTION = """
The Avenrae marketplace for client, practitioner and partner apps: the same rules as the
web pages (fee, open times, radius, lockout, refund policy), from the same services.

* Log in (`POST /api/auth/login`) and send the access `token` as `Authorization: Bearer <token>`;
  swap the `refreshToken` for a new pair at `POST /api/auth/refresh` (each refresh token works once).
* Errors are RFC 9457 problem details (`application/problem+json`): `detail` is one line to show
  the person; `errors` names each wrong field.
* Requests are limited per client address and per token (429 with `Retry-After`).
* Amounts are rand, as JSON numbers with cents (517.5 is R517.50).
"""


# An escaped NUL in JSON (\\u0000, not itself escaped): PostgreSQL text cannot hold one.
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def _has_nul(body: bytes) -> bool:
    return b"\x00" in body or bool(_NUL.search(body))


# An escaped UTF-16 surrogate (not itself escaped), and a whole pair of them (an emoji). Half
# of a pair is valid JSON but no text: PostgreSQL (and UTF-8) cannot hold it.
_SURROGATE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_PAIR = re.compile(rb"(?<!\\)((?:\\\\)*)\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def _has_lone_surrogate(body: bytes) -> bool:
    return b"\\u" in body and bool(_SURROGATE.search(_PAIR.sub(rb"\1", body)))


BROKEN_CHARACTER = "Text cannot contain a broken character (half of an emoji: a lone UTF-16 surrogate)."


class BodySizeLimit:
    """Refuse (413) a request body longer than AVENRAE_API_MAX_BODY_BYTES, declared or streamed,
    and (422) a NUL character in the body or the query, which no text column can store."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().api_max_body_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        # Read the body (it is small) before the app does, so a long one is refused here
        # however it is sent, then hand it on in one piece.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > limit:
                await self._refuse(scope, receive, send, limit)
                return
            if not message.get("more_body", False):
                break
        if _has_nul(bytes(body)) or b"%00" in scope.get("query_string", b""):
            answer = problems.response(422, "Text cannot contain NUL characters (\\u0000).")
            await answer(scope, receive, send)
            return
        if _has_lone_surrogate(bytes(body)):
            answer = problems.response(422, BROKEN_CHARACTER)
            await answer(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        answer = problems.response(413, f"The request body is too large (at most {limit:,} bytes).")
        await answer(scope, receive, send)


def create_app() -> FastAPI:
    """The API, its paths relative to where it is mounted (/api)."""
    api = FastAPI(
        title="Avenrae API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    api.include_router(docs.router)
    api.include_router(health.router)
    for area in (auth, practitioners, bookings, practice, me, staff):
        api.include_router(area.router, responses=PROBLEMS)
    api.add_exception_handler(Problem, problems.handle_problem)
    api.add_exception_handler(ServiceError, problems.handle_service_error)
    api.add_exception_handler(RequestValidationError, problems.handle_validation)
    api.add_exception_handler(404, problems.handle_http)
    api.add_exception_handler(405, problems.handle_http)
    api.add_exception_handler(HTTPException, problems.handle_http)
    api.add_exception_handler(Exception, problems.handle_unexpected)
    api.add_middleware(BodySizeLimit)
    # Outermost, so every answer (a 413 too) carries the CORS headers a browser needs to read it.
    origins = get_settings().allowed_origins
    if origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    return api


def mount() -> Mount:
    """The API as a route of another Starlette app (the Streamlit server's)."""
    return Mount(PREFIX, app=create_app())


def standalone() -> Starlette:
    """The API alone, at /api: for `python -m avenrae api` (uvicorn) and the tests."""
    return Starlette(routes=[mount()], lifespan=threads.limits)
