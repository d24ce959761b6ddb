"""Page tests: each page runs in Streamlit's AppTest against the rolled-back test database."""

import re
from collections.abc import Callable, Iterator

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

import avenrae.ui.server  # noqa: F401 - turns off Streamlit's pages/-folder mode, as `serve` does
from avenrae.config import REPO_ROOT
from avenrae.models import Role, User
from avenrae.services import tokens
from avenrae.ui import auth
from tests.factories import make_client, make_practitioner, make_user


@pytest.fixture(autouse=True)
def _pages_through_app_py(monkeypatch) -> None:
    """Run every page inside app.py's navigation, as `serve` does. (AppTest re-detects the
    pages/ folder before each run and would otherwise run a page on its own, skipping
    app.py: its login check, sidebar and database banner.)"""
    original = PagesManager.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(autouse=True)
def _fresh_caches(connection) -> Iterator[None]:
    """Cached reads must not carry one test's data into the next; every page test gets the db."""
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def make_person(db, role: Role, **fields) -> User:
    if role == Role.CLIENT:
        return make_client(db, **fields)
    if role == Role.PRACTITIONER:
        return make_practitioner(db, **fields).user
    return make_user(db, role=role, **fields)


def session_for(db, user: User) -> auth.AuthState:
    pair = tokens.issue(session=db, user=user)
    return auth.AuthState(user.id, pair.access_token, pair.refresh_token, pair.family_id, remember=False)


@pytest.fixture
def page(db) -> Callable[..., AppTest]:
    """Open a page through app.py (so navigation and page links work), optionally as `user`."""

    def run(path: str, *, user: User | None = None, timeout: float = 30) -> AppTest:
        app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=timeout)
        if user is not None:
            app.session_state[auth.SESSION_KEY] = session_for(db, user)
        app.switch_page(path)
        app.run()
        return app

    return run


def open_booking_page(page: Callable[..., AppTest], user, practitioner) -> AppTest:
    """Book a session, opened for `practitioner` (as a link from search does)."""
    app = page("pages/book.py", user=user)
    app.query_params["practitioner"] = str(practitioner.id)
    return app.run()


def plain(markdown: str) -> str:
    """Markdown as a reader sees it: no bold marks, no escapes, no invisible word joiners."""
    return re.sub(r"\\(.)", r"\1", markdown.replace("**", "")).replace("\u2060", "")
