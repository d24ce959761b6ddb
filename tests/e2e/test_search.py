"""Searching in a real browser: Durban, 25 km, healers; escaped popups; a click on the map."""

import re

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from avenrae.models import MeetingType, Role
from avenrae.seed import DEMO_PASSWORD
from avenrae.services import accounts
from tests.e2e.conftest import TIMEOUT

pytestmark = pytest.mark.e2e

XSS = "<img src=x onerror=alert(1)>"


def durban_healer(url: str, *, first_name: str, last_name: str, bio: str, meeting: MeetingType, verified: bool) -> None:
    """A healer in Durban, signed up in the app's database (verified by staff, if asked)."""
    engine = create_engine(url)
    with Session(engine) as session:
        signed_up = accounts.sign_up(
            session=session,
            form=accounts.SignUp(
                role=Role.PRACTITIONER,
                email=f"{first_name.lower()}@example.co.za",
                password="Durban healer 42",
                first_name=first_name,
                last_name=last_name,
                phone="082 000 0000",
                specialization="healer",
                place="Durban",
                bio=bio,
                rate_per_session="300",
                meeting_types=[meeting],
            ),
        )
        if verified:
            session.execute(
                text("UPDATE practitioners SET verification_status = 'verified' WHERE user_id = :id"),
                {"id": signed_up.id},
            )
        session.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def trickster(e2e_database_url):
    """A practitioner whose bio tries to run a script."""
    durban_healer(
        e2e_database_url,
        first_name="Zzxss",
        last_name="Trickster",
        bio=f"Hello {XSS} there",
        meeting=MeetingType.ONLINE,
        verified=False,
    )


@pytest.fixture(scope="module")
def tappable(e2e_database_url):
    """A verified practitioner no other search words find."""
    durban_healer(
        e2e_database_url,
        first_name="Zzqtap",
        last_name="Mapfinder",
        bio="Found on the map.",
        meeting=MeetingType.IN_PERSON,
        verified=True,
    )


def choose(page, label, option):
    page.get_by_role("combobox", name=label).click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option).first.click()


def column(page, header):
    """The texts of one column of the results table, found by its header."""
    table = page.locator('[data-testid="stTable"] table')
    headers = [h.strip() for h in table.locator("thead tr th").all_inner_texts()]
    position = headers.index(header) + 1
    return [c.strip() for c in table.locator(f"tbody tr > :nth-child({position})").all_inner_texts()]


def distances_km(page):
    return [float(c.split()[0]) / (1000 if c.endswith(" m") else 1) for c in column(page, "Distance")]


def test_durban_healers_within_25_km(offline):
    page = offline.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    choose(page, "Place", "Durban, KwaZulu-Natal")
    choose(page, "Specializations", "Healer")
    page.keyboard.press("Escape")
    page.get_by_text(re.compile(r"Showing 1–\d+( of more than \d+)? within 25 km of Durban")).wait_for(timeout=TIMEOUT)
    frame = offline.map_frame()
    frame.locator(".awesome-marker, .marker-cluster").first.wait_for(timeout=TIMEOUT)
    offline.settle()
    specializations = column(page, "Specialization")
    assert specializations and set(specializations) == {"Healer"}
    found = distances_km(page)
    assert found == sorted(found) and all(d <= 25 for d in found)
    offline.screenshot("search-durban-healers")


def test_practitioners_close_together_are_counted_in_a_colour_no_specialization_has(offline):
    # Found by a phone trial: the counting bubbles were the library's green and yellow, read beside
    # the legend as "9 healers" and "42 counselors".
    page = offline.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    choose(page, "Place", "Durban, KwaZulu-Natal")
    page.keyboard.press("Escape")
    bubble = offline.map_frame().locator(".avenrae-cluster").first
    bubble.wait_for(timeout=TIMEOUT)
    inner = bubble.locator("div > div")
    assert inner.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(61, 74, 67)"
    assert int(inner.inner_text()) > 1
    assert not offline.map_frame().locator(".marker-cluster-small, .marker-cluster-medium").count()
    page.get_by_text("numbered circle: several practitioners close together (tap to zoom in)").wait_for(timeout=TIMEOUT)
    offline.settle()
    offline.screenshot("search-map-counted-bubbles")


def test_a_bio_with_markup_shows_as_text_and_runs_nothing(offline, trickster):
    dialogs = []
    page = offline.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.on("dialog", lambda dialog: dialogs.append(dialog.message) or dialog.dismiss())
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    choose(page, "Place", "Durban, KwaZulu-Natal")
    page.get_by_role("textbox", name="Words").fill("Zzxss")
    page.keyboard.press("Enter")
    page.get_by_text("Showing 1–1 within 25 km of Durban").wait_for(timeout=TIMEOUT)
    offline.settle()  # the map of the previous run may linger until this one is drawn
    frame = offline.map_frame()
    marker = frame.locator(".awesome-marker-icon-green").first  # the healer, not the centre pin
    marker.wait_for(timeout=TIMEOUT)
    offline.settle()
    marker.click()
    popup = frame.locator(".leaflet-popup-content")
    popup.wait_for(timeout=TIMEOUT)
    assert XSS in popup.inner_text()
    assert popup.locator("img").count() == 0
    page.wait_for_timeout(500)
    assert dialogs == []
    offline.screenshot("search-escaped-popup")


def test_tapping_a_practitioner_on_the_map_offers_booking_them(offline, tappable):
    # Found on a phone: the popup's "Book a session →" link did nothing (the map's frame may
    # not navigate the app). The tap now offers the booking under the map.
    page = offline.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    choose(page, "Place", "Durban, KwaZulu-Natal")
    page.get_by_role("textbox", name="Words").fill("Zzqtap")
    page.keyboard.press("Enter")
    page.get_by_text("Showing 1–1 within 25 km of Durban").wait_for(timeout=TIMEOUT)
    offline.settle()
    marker = offline.map_frame().locator(".awesome-marker-icon-green").first
    marker.wait_for(timeout=TIMEOUT)
    offline.settle()
    marker.click()
    popup = offline.map_frame().locator(".leaflet-popup-content")
    popup.wait_for(timeout=TIMEOUT)
    assert "Book them with the button under the map." in popup.inner_text()
    page.get_by_text("Zzqtap Mapfinder · Healer").wait_for(timeout=TIMEOUT)
    offline.screenshot("search-tapped-marker")
    page.get_by_role("button", name="Book Zzqtap Mapfinder").click()  # named: "Book with" has its own button
    page.get_by_role("heading", name="Book a session").wait_for(timeout=TIMEOUT)
    page.get_by_text("Zzqtap Mapfinder").first.wait_for(timeout=TIMEOUT)


def test_clicking_the_map_searches_around_that_point(offline):
    page = offline.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    offline.click_map(page.get_by_text("Searching around the point you clicked"), position={"x": 200, "y": 200})
    page.get_by_role("button", name="Search by place instead").click()
    page.get_by_role("combobox", name="Place").wait_for(timeout=TIMEOUT)


def test_back_from_another_page_finds_the_search_as_it_was_left(offline):
    page = offline.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    choose(page, "Place", "Durban, KwaZulu-Natal")
    page.get_by_role("textbox", name="Words").fill("herbs")
    page.keyboard.press("Enter")
    page.get_by_text(re.compile(r"within 25 km of Durban")).wait_for(timeout=TIMEOUT)
    offline.settle()
    page.get_by_role("link", name="Bookings", exact=True).click()
    page.get_by_role("heading", name="My bookings").wait_for(timeout=TIMEOUT)
    offline.settle()
    page.go_back()
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    page.get_by_text(re.compile(r"within 25 km of Durban")).wait_for(timeout=TIMEOUT)
    assert page.get_by_role("textbox", name="Words").input_value() == "herbs"
    offline.screenshot("search-after-back")


MAP_STATE = """(element) => {
    const map = Object.values(window).find(value => value instanceof L.Map);
    const centre = map.getCenter();
    return [centre.lat, centre.lng];
}"""


def swipe(cdp, x: float, y: float, *, fingers: int) -> None:
    """A touch that moves 200 px up the screen, with one finger or two side by side."""

    def points(dy: float) -> list[dict]:
        spread = [0] if fingers == 1 else [-40, 40]
        return [{"x": x + dx, "y": y - dy, "id": n} for n, dx in enumerate(spread)]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": points(0)})
    for step in range(1, 11):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": points(20 * step)})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_on_a_phone_one_finger_over_the_map_scrolls_the_page_and_two_move_the_map(phone):
    # Found on a phone: a swipe that began on the map moved the map, so the page could not be
    # scrolled past it to the results. One finger now scrolls the page; two still move the map.
    page = phone.log_in("client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    phone.settle()
    container = phone.map_frame().locator(".leaflet-container")
    container.wait_for(timeout=TIMEOUT)
    container.scroll_into_view_if_needed()
    phone.settle()
    cdp = phone.context.new_cdp_session(page)
    scrolled = """() => document.querySelector('[data-testid="stMain"]').scrollTop"""
    box = container.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.8
    page_before, map_before = page.evaluate(scrolled), container.evaluate(MAP_STATE)
    swipe(cdp, x, y, fingers=1)
    page.wait_for_timeout(1200)
    assert page.evaluate(scrolled) > page_before + 50  # the page moved under the finger
    assert container.evaluate(MAP_STATE) == map_before  # the map did not
    box = container.bounding_box()
    swipe(cdp, box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.8, fingers=2)
    page.wait_for_timeout(1200)
    assert container.evaluate(MAP_STATE) != map_before
