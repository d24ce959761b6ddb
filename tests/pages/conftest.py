"""Page tests: each page runs in Streamlit's AppTest against the rolled-back test database."""

from collections.abc import Callable, Iterator

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from avenrae.config import REPO_ROOT


@pytest.fixture(autouse=True)
def _fresh_caches(connection) -> Iterator[None]:
    """Cached reads must not carry one test's data into the next; every page test gets the db."""
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def page() -> Callable[..., AppTest]:
    """Run a page file once and return the AppTest to inspect or interact with."""

    def run(path: str, *, timeout: float = 30) -> AppTest:
        app = AppTest.from_file(str(REPO_ROOT / path), default_timeout=timeout)
        app.run()
        return app

    return run
