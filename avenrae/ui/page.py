"""What every page does first: check who may see it; and what every page shows when the
database cannot be reached."""

from __future__ import annotations

import logging
import time

import psycopg
import sqlalchemy.exc
import streamlit as st
from sqlalchemy import text

from avenrae.db import DatabaseNotConfigured, session_scope
from avenrae.services.accounts import CurrentUser
from avenrae.ui import auth, navigation

log = logging.getLogger(__name__)
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
    """Stop the page with a refusal unless the current visitor may open it."""
    spec = navigation.spec_for(page_file)
    try:
        user = auth.current_user()
    except database_error() as exc:
        database_unavailable(exc)
        st.stop()
    if not navigation.allowed(spec, user):
        if user is None and auth.has_notice():  # the session just ended: say why, where one logs in again
            st.switch_page("pages/login.py")
        if user is not None and not spec.roles:
            st.info("You are already logged in.")
        else:
            st.error(NO_ACCESS)
        st.stop()
    return user


def signed_in(page_file: str) -> CurrentUser:
    """guard() for pages that only logged-in users may open."""
    user = guard(page_file)
    assert user is not None, "pages for logged-in users must not list ANONYMOUS"
    return user
