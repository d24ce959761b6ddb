"""The ASGI app `python -m avenrae serve` runs: Streamlit plus Avenrae's own routes.

`/_avenrae/session` turns a single-use code (see avenrae.ui.auth) into the HttpOnly
remember-me cookie, or clears it; `/_avenrae/ready` says whether this server's database
answers (avenrae.readiness); `/_avenrae/stripe/webhook` receives Stripe's events
(see avenrae.services.payments); `/api` is the public JSON API (avenrae.api, a FastAPI app
mounted here). While it runs, the background jobs (avenrae.jobs) run on
their schedule; as it starts, what the pages import is loaded (`warm_up`).
Run with `streamlit run avenrae/ui/server.py`.
"""

import contextlib
import importlib
import logging
import threading
from collections.abc import AsyncIterator

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from streamlit.runtime.pages_manager import PagesManager

from avenrae import deploy, geo, jobs, readiness
from avenrae.api.app import mount as api_mount
from avenrae.config import REPO_ROOT, get_settings
from avenrae.db import session_scope
from avenrae.services import flows, payments, tokens
from avenrae.ui.auth import COOKIE_NAME

log = logging.getLogger(__name__)
# Request bodies are read only this far: a cookie code is 32 characters, Stripe's events a
# few kilobytes.
MAX_CODE_BYTES = 1024
MAX_WEBHOOK_BYTES = 1024 * 1024

# A folder named pages/ beside the entry script makes Streamlit fall back to its first
# multipage mode: a deep link such as /users would run pages/users.py directly, around
# app.py's navigation. Our pages/ holds st.navigation pages only, so turn that off.
PagesManager.uses_pages_directory = False


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (BodyTooLarge) as soon as it is longer than `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def _redeem(code: str) -> tuple[bool, str | None]:
    with session_scope() as session:
        return tokens.redeem_cookie_code(session=session, code=code)


async def remember_session(request: Request) -> Response:
    try:
        code = (await read_body(request, MAX_CODE_BYTES)).decode(errors="replace").strip()
    except BodyTooLarge:
        return Response("request too large", status_code=413)
    valid, refresh_token = await run_in_threadpool(_redeem, code)
    if not valid:
        return Response("unknown or expired code", status_code=400)
    response = Response(status_code=204)
    secure = (
        get_settings().production
        or request.url.scheme == "https"
        or request.headers.get("x-forwarded-proto") == "https"
    )
    if refresh_token is None:
        response.delete_cookie(COOKIE_NAME, path="/", secure=secure, httponly=True, samesite="strict")
    else:
        response.set_cookie(
            COOKIE_NAME,
            refresh_token,
            max_age=get_settings().refresh_token_days * 86400,
            path="/",
            secure=secure,
            httponly=True,
            samesite="strict",
        )
    response.headers["Cache-Control"] = "no-store"
    return response


async def ready(_request: Request) -> Response:
    """200 "ok" while this server's database answers, else 503: what nginx and operators
    should wait for (Streamlit's /_stcore/health says 200 with the database down)."""
    if await readiness.database_ready():
        return PlainTextResponse("ok\n", headers={"Cache-Control": "no-store"})
    return PlainTextResponse(f"{readiness.NOT_READY}\n", status_code=503, headers=readiness.NOT_READY_HEADERS)


def _apply_stripe_event(payload: bytes, signature: str | None) -> str:
    with session_scope() as session:
        outcome = flows.handle_webhook(session=session, payload=payload, signature=signature)
    # Committed: refunds it queued (money that came too late, or unmatched) may go out now.
    if "refund" in outcome:
        payments.send_queued_refunds()
    return outcome


async def stripe_webhook(request: Request) -> Response:
    """Stripe's events: 400 when not provably from Stripe, 413 when too large, 503 (Stripe
    retries) while Stripe cannot be reached; otherwise 200 with what was done."""
    try:
        payload = await read_body(request, MAX_WEBHOOK_BYTES)
    except BodyTooLarge:
        return JSONResponse({"error": "event too large"}, status_code=413)
    try:
        outcome = await run_in_threadpool(_apply_stripe_event, payload, request.headers.get("stripe-signature"))
    except payments.WebhookRejected as rejected:
        return JSONResponse({"error": str(rejected)}, status_code=400)
    except payments.PaymentError as unreachable:
        log.warning("Stripe webhook deferred: %s", unreachable)
        return JSONResponse({"error": "Stripe cannot be reached; try again"}, status_code=503)
    return JSONResponse({"result": outcome})


# What the pages import and load on first use: seconds of a first visit after a start
# (folium alone imports in about a second), done once while the server comes up instead.
# Not streamlit_folium: it declares its component on import, which must happen in a page's
# run (declared from this thread, the maps never drew), nor our own pages' modules.
WARM_UP_MODULES = ("pandas", "plotly.express", "folium")


def warm_up() -> None:
    for module in WARM_UP_MODULES:
        importlib.import_module(module)
    geo.places()  # the offline gazetteer behind every place picker


@contextlib.asynccontextmanager
async def background_jobs(_app: st.App) -> AsyncIterator[None]:
    """Expire unpaid holds, complete finished sessions and send e-mail while the server runs
    (unless AVENRAE_RUN_JOBS=false leaves them to timers). In production, refuse to start at
    all while a setting puts money or sessions at risk."""
    settings = get_settings()
    blockers = deploy.serving_blockers(settings)
    if blockers:
        raise SystemExit(f"not serving in production: {blockers[0]}")
    # Beside the server, not before it: a visit that comes first waits on the same imports.
    threading.Thread(target=warm_up, name="avenrae-warm-up", daemon=True).start()
    if not settings.run_jobs:
        log.info("AVENRAE_RUN_JOBS=false: background jobs are left to `python -m avenrae jobs`")
        yield
        return
    scheduler = jobs.Scheduler()
    scheduler.start()
    try:
        yield
    finally:
        scheduler.stop()


app = st.App(
    str(REPO_ROOT / "app.py"),
    routes=[
        Route("/_avenrae/session", remember_session, methods=["POST"]),
        Route("/_avenrae/ready", ready, methods=["GET"]),
        Route("/_avenrae/stripe/webhook", stripe_webhook, methods=["POST"]),
        api_mount(),
    ],
    lifespan=background_jobs,
)
