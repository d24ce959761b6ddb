"""What every page does first: check who may see it; and what every page shows when the
database cannot be reached."""

from __future__ import annotations

import logging
import time
from typing import NoReturn

import psycopg
import sqlalchemy.exc
import streamlit as st
from sqlalchemy import text

from avenrae.db import DatabaseNotConfigured, session_scope
from avenrae.services.accounts import CurrentUser
from avenrae.ui import auth, navigation

log = logging.getLogger(__name__)
LOGIN_PAGE = "pages/login.py"
NO_ACCESS = "You do not have access to this page."
DATABASE_UNAVAILABLE = (
    "Avenrae cannot reach its database right now, so this page cannot be shown. Nothing you saved is lost; "
    "the page comes back by itself as soon as the database does."
)


def database_error() -> tuple[type[BaseException], ...]:
    """Exceptions meaning 'the database cannot be reached', for a plain message instead."""
    return (sqlalchemy.exc.OperationalError, psycopg.OperationalError, DatabaseNotConfigured)


def database_unavailable(error: BaseException) -> None:
    """One friendly banner (never the driver's text: it names hosts and users), and a quiet
    check every few seconds that reloads the page once the database answers again."""
    log.warning("database unreachable: %s", error)
    st.error(DATABASE_UNAVAILABLE, icon=":material/cloud_off:")
    st.session_state[_BANNER_SHOWN_AT] = time.monotonic()
    _reload_when_back()


_BANNER_SHOWN_AT = "avenrae_database_banner_at"
RECHECK_SECONDS = 5


@st.fragment(run_every=RECHECK_SECONDS)
def _reload_when_back() -> None:
    if time.monotonic() - st.session_state.get(_BANNER_SHOWN_AT, 0) < RECHECK_SECONDS - 1:
        return  # drawn with the banner just now: the first check comes on the timer
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
    except database_error():
        return
    st.rerun(scope="app")


def guard(page_file: str) -> CurrentUser | None:
    """Stop the page with a refusal unless the current visitor may open it. A visitor who is
    not logged in is sent to log in instead, and comes back here (with this query) after."""
    spec = navigation.spec_for(page_file)
    try:
        user = auth.current_user()
    except database_error() as exc:
        database_unavailable(exc)
        st.stop()
    st.session_state[_PAGE_SPEC] = spec
    if not navigation.allowed(spec, user):
        if user is None:  # any page but login and sign-up; if the session just ended, login says why
            target = navigation.return_target(spec, st.query_params.to_dict())
            st.switch_page(LOGIN_PAGE, query_params={navigation.RETURN_PARAM: target})
        if not spec.roles:
            st.info("You are already logged in.")
        else:
            st.error(NO_ACCESS)
        st.stop()
    return user


_PAGE_SPEC = "avenrae_page_spec"


def still_allowed() -> None:
    """In a fragment, which reruns without the page (so without `guard`): the visitor must
    still be allowed the page (not logged out, deactivated or moved to another role since
    it was drawn), or the whole page runs again and `guard` refuses it."""
    spec = st.session_state.get(_PAGE_SPEC)
    if spec is None or not navigation.allowed(spec, auth.current_user()):
        st.rerun(scope="app")


def signed_in(page_file: str) -> CurrentUser:
    """guard() for pages that only logged-in users may open."""
    user = guard(page_file)
    assert user is not None, "pages for logged-in users must not list ANONYMOUS"
    return user


def asked_for() -> navigation.PageSpec | None:
    """On the login page: the page the visitor asked for before logging in, if any."""
    asked = navigation.return_page(st.query_params.get(navigation.RETURN_PARAM))
    return asked[0] if asked else None


def carried_on() -> dict[str, str]:
    """The page asked for, as a query to hand on between the login and sign-up pages."""
    target = st.query_params.get(navigation.RETURN_PARAM)
    return {navigation.RETURN_PARAM: target} if target and navigation.return_page(target) else {}


def go_on(user: CurrentUser | None, *, otherwise: str | None = None) -> NoReturn:
    """Just logged in: to the page asked for, with its query, if this user may open it;
    otherwise to `otherwise` or the role's first page."""
    asked = navigation.return_page(st.query_params.get(navigation.RETURN_PARAM))
    if asked is not None and navigation.allowed(asked[0], user):
        st.switch_page(asked[0].path, query_params=asked[1])
    st.switch_page(otherwise or navigation.default_page(user))
