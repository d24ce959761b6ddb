"""The first thing anyone sees: Home with real figures and a map that draws offline."""

import re

import pytest

from avenrae.seed import DEMO_PASSWORD
from tests.e2e.conftest import TIMEOUT

pytestmark = pytest.mark.e2e


def test_home_shows_figures_and_an_offline_map(offline):
    page = offline.log_in("analyst@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_text("Avenrae operations").wait_for(timeout=TIMEOUT)
    page.wait_for_selector('[data-testid="stMetric"]', timeout=TIMEOUT)
    practitioners = page.locator('[data-testid="stMetric"]').filter(has_text="Active practitioners")
    value = practitioners.locator('[data-testid="stMetricValue"]').inner_text()
    assert int(value.replace(",", "")) > 0

    # The map lives in streamlit-folium's iframe; with the internet blocked its
    # Leaflet comes from the app and the practitioner circles still draw.
    frame = offline.map_frame()
    frame.locator(".leaflet-container").wait_for(timeout=TIMEOUT)
    circles = frame.locator("path.leaflet-interactive")
    circles.first.wait_for(timeout=TIMEOUT)
    assert circles.count() > 10
    # The street map's tiles cannot load: the map says so rather than look broken.
    frame.get_by_text("Street map unavailable: showing country outlines.").wait_for(timeout=TIMEOUT)
    script_urls = [u for u in offline.blocked if re.search(r"\.(js|css)(\?|$)", u)]
    assert script_urls == [], f"map scripts or styles were fetched from the internet: {script_urls}"
    offline.screenshot("home")
