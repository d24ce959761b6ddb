"""The ASGI app `python -m avenrae serve` runs: Streamlit plus Avenrae's own routes.

`/_avenrae/session` turns a single-use code (see avenrae.ui.auth) into the HttpOnly
remember-me cookie, or clears it; `/_avenrae/stripe/webhook` receives Stripe's events
(see avenrae.services.payments). While it runs, the background jobs (avenrae.jobs) run on
their schedule. Run with `streamlit run avenrae/ui/server.py`.
"""

import contextlib
from collections.abc import AsyncIterator

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from streamlit.runtime.pages_manager import PagesManager

from avenrae import jobs
from avenrae.config import REPO_ROOT, get_settings
from avenrae.db import session_scope
from avenrae.services import payments
from avenrae.ui.auth import COOKIE_NAME, redeem_code

# A folder named pages/ beside the entry script makes Streamlit fall back to its first
# multipage mode: a deep link such as /users would run pages/users.py directly, around
# app.py's navigation. Our pages/ holds st.navigation pages only, so turn that off.
PagesManager.uses_pages_directory = False


async def remember_session(request: Request) -> Response:
    code = (await request.body()).decode(errors="replace").strip()
    valid, refresh_token = redeem_code(code)
    if not valid:
        return Response("unknown or expired code", status_code=400)
    response = Response(status_code=204)
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
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


def _apply_stripe_event(payload: bytes, signature: str | None) -> str:
    with session_scope() as session:
        return payments.handle_webhook(session=session, payload=payload, signature=signature)


async def stripe_webhook(request: Request) -> Response:
    """Stripe's events: 400 when not provably from Stripe; 500 (Stripe retries) when applying failed."""
    payload = await request.body()
    try:
        outcome = await run_in_threadpool(_apply_stripe_event, payload, request.headers.get("stripe-signature"))
    except payments.WebhookRejected as rejected:
        return JSONResponse({"error": str(rejected)}, status_code=400)
    return JSONResponse({"result": outcome})


@contextlib.asynccontextmanager
async def background_jobs(_app: st.App) -> AsyncIterator[None]:
    """Expire unpaid holds, complete finished sessions and send e-mail while the server runs."""
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
        Route("/_avenrae/stripe/webhook", stripe_webhook, methods=["POST"]),
    ],
    lifespan=background_jobs,
)
