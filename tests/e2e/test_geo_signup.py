"""Two practitioners sign up, one from Khayelitsha by text, one by a map pin; a client finds both near Cape Town."""

import re
import uuid

import pytest

from avenrae.seed import DEMO_PASSWORD
from tests.e2e.conftest import TIMEOUT
from tests.e2e.test_search import choose, column

pytestmark = pytest.mark.e2e

MARKER = f"zzgeo{uuid.uuid4().hex[:6]}"  # in both bios, so one search finds exactly these two
PIN = (-33.9806, 18.5764)  # in Gugulethu, which the offline gazetteer knows only by postal code


def start_practitioner_sign_up(offline, first_name: str):
    page = offline.open("/")
    page.get_by_text("New to Avenrae? Create an account").click()
    page.get_by_role("heading", name="Create your Avenrae account").wait_for(timeout=TIMEOUT)
    page.get_by_text("Offer sessions as a practitioner").click()
    page.get_by_text("Where you see clients").wait_for(timeout=TIMEOUT)
    # The pin map reports its view once drawn, which reruns the page and closes any open list.
    offline.map_frame().locator(".leaflet-container").wait_for(timeout=TIMEOUT)
    offline.settle()
    return page


def fill_the_form(page, first_name: str, town: str):
    page.get_by_role("textbox", name="First name", exact=True).fill(first_name)
    page.get_by_role("textbox", name="Last name", exact=True).fill("Geo")
    page.get_by_role("textbox", name="Email", exact=True).fill(f"{first_name.lower()}.{MARKER}@example.co.za")
    page.get_by_role("textbox", name="Mobile number", exact=True).fill("082 123 4567")
    page.get_by_role("textbox", name="Password", exact=True).fill("Sunrise over Khayelitsha 7")
    # Click the option itself: Enter before the list had drawn chose nothing on a busy machine.
    choose(page, "Specialization", "Healer")
    page.get_by_role("textbox", name="Town or city", exact=True).fill(town)
    page.get_by_role("textbox", name="About you", exact=True).fill(f"Traditional healer {MARKER}.")


def pin_on_the_map(offline, page) -> None:
    """Zoom the map to PIN as a person would, and click its middle."""
    offline.click_map(page.get_by_text(re.compile(r"Pinned at -33\.98\d+, 18\.57\d+")), centre_on=PIN)


def placed_at(offline, page, where: str, screenshot: str) -> None:
    """After sign-up: My account says where clients find the new practitioner (`where`, a regex); then log out."""
    account, refused = page.get_by_role("link", name="My account"), page.get_by_role("alert")
    account.or_(refused).first.wait_for(timeout=TIMEOUT)
    assert not refused.count(), f"sign-up refused: {refused.first.inner_text()}"  # say why, not only time out
    account.click()
    page.get_by_role("heading", name="Where you see clients").wait_for(timeout=TIMEOUT)
    # On My account, and in the welcome message while its toast shows: either will do.
    page.get_by_text(re.compile("Clients find you at " + where)).first.wait_for(timeout=TIMEOUT)
    offline.screenshot(screenshot)
    page.get_by_role("link", name="Log out").click()
    page.get_by_role("heading", name="Log in to Avenrae").wait_for(timeout=TIMEOUT)


def test_sign_up_by_text_and_by_pin_then_both_are_found_around_cape_town(offline, browser, app_url):
    # 1. By text: "Khayelitsha".
    page = start_practitioner_sign_up(offline, "Ayanda")
    fill_the_form(page, "Ayanda", "Khayelitsha")
    page.get_by_role("button", name="Create account").click()
    placed_at(offline, page, re.escape("Khayelitsha, Western Cape."), "geo-account-by-text")

    # 2. By a pin: zoom the map to Gugulethu as a person would, click, and leave the town empty.
    page = start_practitioner_sign_up(offline, "Lwazi")
    pin_on_the_map(offline, page)
    offline.screenshot("geo-signup-pin")
    fill_the_form(page, "Lwazi", "")
    page.get_by_role("button", name="Create account").click()
    placed_at(offline, page, r"your map pin \(-33\.98\d+, 18\.57\d+\), near .+, Western Cape", "geo-account-pin")

    # 3. A client searches 50 km around Cape Town for the word both bios share.
    page = offline.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    page.get_by_role("combobox", name="Place").click()
    page.keyboard.type("Cape Town, Western Cape")
    page.get_by_role("option", name="Cape Town, Western Cape").first.click()
    offline.settle()
    slider = page.get_by_role("slider", name="Within")
    slider.focus()
    page.keyboard.press("ArrowRight")  # 25 -> 50 km
    page.get_by_role("slider", name="Within").and_(page.locator('[aria-valuetext="50 km"]')).wait_for(timeout=TIMEOUT)
    offline.settle()
    page.get_by_role("textbox", name="Words").fill(MARKER)
    page.keyboard.press("Enter")
    page.get_by_text(re.compile(r"Showing 1–2 within 50 km of Cape Town")).wait_for(timeout=TIMEOUT)
    offline.settle()
    assert sorted(name.split(" · ")[0] for name in column(page, "Name")) == ["Ayanda Geo", "Lwazi Geo"]
    offline.screenshot("geo-search-cape-town")

    # 4. Any place can be typed, a postal code too; the page says where it searched.
    page.get_by_role("combobox", name="Place").click()
    page.keyboard.type("7785")
    page.keyboard.press("Enter")
    page.get_by_text("Placed at Mitchells Plain, Western Cape (postal area 7785)").wait_for(timeout=TIMEOUT)
    page.get_by_text(re.compile(r"Showing 1–2 within 50 km of Mitchells Plain")).wait_for(timeout=TIMEOUT)
    offline.screenshot("geo-search-postal-code")
