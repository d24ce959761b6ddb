"""What every page does first: check who may see it."""

from __future__ import annotations

import psycopg
import sqlalchemy.exc
import streamlit as st

from avenrae.db import DatabaseNotConfigured
from avenrae.services.accounts import CurrentUser
from avenrae.ui import auth, navigation

NO_ACCESS = "You do not have access to this page."


def database_error() -> tuple[type[BaseException], ...]:
    """Exceptions meaning 'the database cannot be reached', for a plain message instead."""
    return (sqlalchemy.exc.OperationalError, psycopg.OperationalError, DatabaseNotConfigured)


def guard(page_file: str) -> CurrentUser | None:
    """Stop the page with a refusal unless the current visitor may open it."""
    spec = navigation.spec_for(page_file)
    try:
        user = auth.current_user()
    except database_error() as exc:
        st.error(f"The database is not reachable right now: {exc}")
        st.stop()
    if not navigation.allowed(spec, user):
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
