"""On a phone (a small touch screen that says it is mobile): what a thumb finds on the pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from avenrae.seed import DEMO_PASSWORD
from tests.e2e.conftest import TIMEOUT
from tests.e2e.test_everyday import log_in

pytestmark = pytest.mark.e2e

ABOVE = """(toolbar) => {
    const container = toolbar.closest('.stElementContainer');
    const above = container.previousElementSibling;
    return [toolbar.getBoundingClientRect().top, above.getBoundingClientRect().bottom,
            getComputedStyle(toolbar).opacity];
}"""


def test_a_tables_tools_sit_above_it_in_a_band_of_their_own_and_choices_end_in_an_ellipsis(phone):
    # Found on a phone: a touch screen keeps the last touched table "hovered", and its tool bar
    # (search, download, full screen) then covered the words above the table; a long choice in a
    # select box was cut mid-letter ("... with Lwazi Bu").
    page = log_in(phone, "staff@demo.avenrae.co.za", DEMO_PASSWORD)
    page.goto(phone.app_url + "/bookings")
    page.get_by_role("heading", name="Bookings").first.wait_for(timeout=TIMEOUT)
    phone.settle()
    table = page.locator('[data-testid="stDataFrame"]').first
    toolbar = table.locator('[data-testid="stElementToolbar"]')
    toolbar.wait_for(state="attached", timeout=TIMEOUT)
    table.tap()  # a touch leaves the table "hovered", its tools shown
    top, above_bottom, opacity = toolbar.evaluate(ABOVE)
    assert float(opacity) == 1
    assert top >= above_bottom - 1, (top, above_bottom)  # and it covers nothing above
    choice = page.locator('[data-testid="stSelectbox"] input').first
    assert choice.evaluate("input => getComputedStyle(input).textOverflow") == "ellipsis"
    phone.screenshot("phone-bookings-staff")


def test_keyboard_shortcuts_are_not_offered_on_a_phone(phone):
    # Found on a phone: review moderation said "Keys: P publish · J reject" to a thumb, and its
    # buttons carried the keys' badges ("Reject  J").
    page = log_in(phone, "staff@demo.avenrae.co.za", DEMO_PASSWORD)
    page.goto(phone.app_url + "/moderation")
    page.get_by_role("heading", name="Review moderation").wait_for(timeout=TIMEOUT)
    phone.settle()
    hints = page.get_by_text(re.compile(r"^Keys: P publish"))
    hints.wait_for(state="attached", timeout=TIMEOUT)
    assert not hints.is_visible()
    reject = page.get_by_role("button", name=re.compile(r"^Reject"))
    assert reject.is_visible()
    badge = reject.locator("kbd")
    badge.wait_for(state="attached", timeout=TIMEOUT)  # Streamlit draws it; the phone does not show it
    assert not badge.is_visible()


def test_a_question_asked_before_yes_comes_into_view(phone):
    # Found on a phone: "Cancel this booking…" asked its question below the fold, so the tap seemed
    # to do nothing (the same for recording a payment).
    page = log_in(phone, "client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.goto(phone.app_url + "/bookings")
    page.get_by_role("heading", name="My bookings").first.wait_for(timeout=TIMEOUT)
    phone.settle()
    page.get_by_label("Reason (needed; seen by your practitioner)").fill("Travelling that week")
    page.get_by_role("button", name="Cancel this booking…").tap()
    yes = page.get_by_role("button", name="Yes, cancel this booking")
    yes.wait_for(timeout=TIMEOUT)
    page.wait_for_timeout(1000)  # the jump into view
    box = yes.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 844, box
    # A trial found "Save with this choice" dead where the script's frame lay over it: the
    # frame takes no room and no tap, and a tap at a button's middle reaches the button.
    frame_box = page.locator('iframe[srcdoc*="avenrae-into-view"]').first.locator("xpath=..")
    assert frame_box.evaluate("e => getComputedStyle(e.closest('.stElementContainer')).pointerEvents") == "none"
    for button in (yes, page.get_by_role("button", name="Keep it")):
        middle = button.bounding_box()
        reached = page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y)?.closest('button')?.innerText",
            [middle["x"] + middle["width"] / 2, middle["y"] + middle["height"] / 2],
        )
        assert reached == button.inner_text()
    phone.screenshot("phone-cancel-question-in-view")
    page.get_by_role("button", name="Keep it").tap()  # nothing cancelled: the next tests share the data
    page.get_by_role("button", name="Yes, cancel this booking").wait_for(state="detached", timeout=TIMEOUT)


def test_the_next_page_of_practitioners_starts_in_view(phone):
    # Found on a phone: "Next →" left the view at the end of the next page, twenty tall rows below its
    # first, and "← Previous" and "Next →" sat a screen apart.
    page = log_in(phone, "client@demo.avenrae.co.za", DEMO_PASSWORD)
    page.get_by_role("heading", name="Find practitioners").wait_for(timeout=TIMEOUT)
    phone.settle()
    following = page.get_by_role("button", name="Next →")
    previous = page.get_by_role("button", name="← Previous")
    following.scroll_into_view_if_needed()
    side_by_side = previous.bounding_box(), following.bounding_box()
    assert side_by_side[0] and side_by_side[1] and abs(side_by_side[0]["y"] - side_by_side[1]["y"]) < 5
    following.tap()
    page.get_by_text(re.compile(r"^Showing 21–")).wait_for(timeout=TIMEOUT)
    phone.settle()
    page.wait_for_timeout(1000)  # the jump into view
    results = page.locator(".st-key-search_results").bounding_box()
    assert results is not None and -5 <= results["y"] <= 844 / 2, results
    phone.screenshot("phone-search-next-page")


def test_tapping_a_booking_in_the_list_opens_it(phone):
    # Found on a phone: tapping a row of the bookings table only outlined the cell; the details,
    # Cancel and Move below stayed on the first booking until the "Booking" list was used.
    page = log_in(phone, "staff@demo.avenrae.co.za", DEMO_PASSWORD)
    page.goto(phone.app_url + "/bookings")
    page.get_by_role("heading", name="Bookings").first.wait_for(timeout=TIMEOUT)
    phone.settle()
    table = page.locator('[data-testid="stDataFrame"]').first
    rows = table.locator('[role="row"]')
    rows.nth(3).wait_for(state="attached", timeout=TIMEOUT)
    when, client = rows.nth(3).locator('[role="gridcell"]').all_inner_texts()[:2]  # the third booking
    choice = page.get_by_role("combobox", name="Booking", exact=True)
    chosen = re.compile(rf"^{re.escape(when)} · {re.escape(client)} with ")
    assert not chosen.match(choice.input_value())
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    assert box is not None
    page.touchscreen.tap(box["x"] + 60, box["y"] + 35 * 3 + 17)  # header, two rows, then the third's first cell
    expect(choice).to_have_value(chosen, timeout=TIMEOUT)
    phone.settle()
    page.wait_for_timeout(1000)  # the jump to what the tap opened
    opened = choice.bounding_box()
    assert opened is not None and 60 <= opened["y"] <= 844 / 2, opened  # below the bar across the top
    phone.screenshot("phone-bookings-row-tapped")
