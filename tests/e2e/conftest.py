"""End-to-end: the real app in a subprocess, driven by Debian's Chromium through Playwright.

The app runs against its own database (`avenrae_e2e`, seeded with a small demo set),
and the browser is offline: every request that is not to the app is aborted, as on
a machine without internet. Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import create_engine

from avenrae import db as app_db
from avenrae import seed
from avenrae.config import REPO_ROOT, libpq_url
from avenrae.services import analytics
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: F401 - the e2e tests import them from here
from tests.stripe_fake import WEBHOOK_SECRET

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
E2E_SEED = seed.SeedOptions(practitioners=300, clients=500, bookings=4_000, seed=11)
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Mobile Safari/537.36",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# How long a journey waits for what it expects: generous, as a shared CI machine can be
# slow for seconds at a time; a test that passes does not wait longer for it.
TIMEOUT = 60_000


@pytest.fixture(scope="session")
def e2e_database_url(server_url: str) -> str:
    url = app_db.sibling_database(server_url, "avenrae_e2e", recreate=True)
    app_db.migrate(url)
    seed.seed(libpq_url(url), E2E_SEED, show_progress=False)
    engine = create_engine(url)
    with engine.begin() as connection:
        analytics.refresh(connection)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def app_url(e2e_database_url: str) -> Iterator[str]:
    port = _free_port()
    env = dict(
        os.environ,
        DATABASE_URL=e2e_database_url,
        AVENRAE_ENVIRONMENT="test",
        AVENRAE_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,  # webhooks verify; no Stripe key: the manual gateway
    )
    env.pop("AVENRAE_STRIPE_SECRET_KEY", None)
    log = open(ARTIFACTS.mkdir(parents=True, exist_ok=True) or ARTIFACTS / "streamlit.log", "w")  # noqa: SIM115
    # Exactly what `scripts/run` serves: python -m avenrae serve.
    server = subprocess.Popen(
        [sys.executable, "-m", "avenrae", "serve", "--port", str(port), "--address", "127.0.0.1"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start; see {ARTIFACTS / 'streamlit.log'}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


class OfflinePage:
    """A browser tab that can only reach the app; it remembers what it was refused."""

    def __init__(self, browser, app_url: str, *, phone: bool = False):
        self.context = browser.new_context(**(PHONE if phone else {"viewport": {"width": 1440, "height": 1000}}))
        self.blocked: list[str] = []
        self.console_errors: list[str] = []
        app_host = urlparse(app_url).netloc

        def only_the_app(route):
            if urlparse(route.request.url).netloc == app_host:
                route.continue_()
            else:
                self.blocked.append(route.request.url)
                route.abort()

        self.context.route("**/*", only_the_app)
        self.context.set_default_timeout(TIMEOUT)  # every click and wait, not only those that pass one
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.app_url = app_url

    def open(self, path: str = "/"):
        self.page.goto(self.app_url + path)
        self.page.wait_for_selector('[data-testid="stApp"]', timeout=TIMEOUT)
        return self.page

    def log_in(self, email: str, password: str, *, remember: bool = False):
        page = self.open("/")  # the login page is the default for visitors
        page.get_by_role("textbox", name="Email", exact=True).fill(email)
        page.get_by_role("textbox", name="Password", exact=True).fill(password)
        if remember:
            page.get_by_text("Keep me logged in").click()
        page.get_by_role("button", name="Log in").click()
        return page

    def settle(self, timeout: float = TIMEOUT) -> None:
        """Wait until Streamlit has finished the run and drawn every element."""
        self.page.wait_for_function(
            """() => !document.querySelector('[data-testid="stStatusWidget"]')
                     && !document.querySelector('[data-testid="stSkeleton"]')""",
            timeout=timeout,
        )
        self.page.wait_for_timeout(800)

    def map_frame(self, timeout: float = TIMEOUT):
        """The folium map on the page. The map reports its view back once drawn, which reruns
        the page, and during that run a stale copy of the iframe stands beside the new one:
        take the newest, and let Playwright resolve it again on every action (lazily)."""
        selector = 'iframe[title="streamlit_folium.st_folium"]'
        self.page.wait_for_function(f"() => document.querySelectorAll('{selector}').length >= 1", timeout=timeout)
        return self.page.frame_locator(selector).last

    def click_map(self, shown, *, position: dict | None = None, centre_on: tuple[float, float] | None = None) -> None:
        """Click the map (at `position`, else its middle, after centring it on `centre_on` at zoom 15) until
        `shown` (a locator) appears. A loaded machine can swap the map's iframe for a fresh copy between
        the wait and the click, and the click is then lost with the old copy: click again, up to three times."""
        for attempt in range(3):
            container = self.map_frame().locator(".leaflet-container")
            container.wait_for(timeout=TIMEOUT)
            self.settle()
            if centre_on is not None:
                container.evaluate(
                    """(element, [lat, lng]) => {
                        const map = Object.values(window).find(value => value instanceof L.Map);
                        map.setView([lat, lng], 15, {animate: false});
                    }""",
                    list(centre_on),
                )
            container.click(position=position)
            try:
                shown.wait_for(timeout=TIMEOUT / 2)
                return
            except PlaywrightTimeout:
                if attempt == 2:
                    raise

    def screenshot(self, name: str) -> Path:
        self.settle()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def offline(browser, app_url) -> Iterator[OfflinePage]:
    tab = OfflinePage(browser, app_url)
    yield tab
    tab.context.close()


@pytest.fixture
def phone(browser, app_url) -> Iterator[OfflinePage]:
    """The same, on a phone: a small touch screen that says it is mobile."""
    tab = OfflinePage(browser, app_url, phone=True)
    yield tab
    tab.context.close()
