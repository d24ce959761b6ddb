"""The Find practitioners page in AppTest."""

from avenrae.models import MeetingType, Role, Specialization
from avenrae.services import search
from avenrae.ui import search as finder
from tests.factories import make_client, make_practitioner, make_user
from tests.pages.conftest import plain


def table_rows(app):
    """The results as a reader sees them (the cells are escaped markdown)."""
    frame = app.table[0].value
    return [{column: plain(cell) if isinstance(cell, str) else cell for column, cell in row.items()}
            for row in frame.to_dict("records")]  # fmt: skip


def choose_place(app, label):
    app.selectbox(key="find_place").set_value(label)
    return app.run()


def test_client_searches_durban_and_sees_distances_in_order(db, page):
    near = make_practitioner(db, first_name="Near", location=(-29.86, 31.03))
    make_practitioner(db, first_name="Further", location=(-29.80, 31.00))
    make_practitioner(db, first_name="Medium", specialization=Specialization.MEDIUM, location=(-29.85, 31.02))
    app = page("pages/search.py", user=make_client(db))
    app = choose_place(app, "Durban, KwaZulu-Natal")
    assert not app.exception
    rows = table_rows(app)
    assert [r["Name"].split()[0] for r in rows] == ["Near", "Medium", "Further"]
    distances = [float(r["Distance"].split()[0]) * (1 if r["Distance"].endswith(" km") else 0.001) for r in rows]
    assert distances == sorted(distances)
    assert rows[0]["You pay"] == "R460.00"
    app.multiselect(key="find_specs").set_value([Specialization.HEALER]).run()
    assert {r["Name"].split()[0] for r in table_rows(app)} == {"Near", "Further"}
    assert near.id


def test_nobody_nearby_offers_to_widen_the_search(db, page):
    make_practitioner(db, location=(-28.80, 24.76), city="Kimberley")  # ~8 km from the centre of Kimberley
    app = page("pages/search.py", user=make_client(db))
    app = choose_place(app, "Kimberley, Northern Cape")
    app.select_slider(key="find_radius").set_value(5)
    app.multiselect(key="find_specs").set_value([Specialization.HEALER])
    app = app.run()
    assert app.info[0].value == "No healers within 5 km of Kimberley — widen to 25 km?"
    next(b for b in app.button if b.label == "Search within 25 km").click()
    app = app.run()
    assert len(table_rows(app)) == 1


def test_staff_may_search_too_and_each_search_is_logged(db, page):
    from sqlalchemy import func, select

    from avenrae.models import SearchLog

    make_practitioner(db)
    app = page("pages/search.py", user=make_user(db, role=Role.STAFF))
    choose_place(app, "Durban, KwaZulu-Natal")
    assert db.scalar(select(func.count()).select_from(SearchLog).where(SearchLog.place == "Durban, KwaZulu-Natal")) == 1


def test_popups_escape_everything_user_written():
    hit = search.Hit(
        practitioner_id=None,
        name="<b>Bold</b>",
        specialization=Specialization.HEALER,
        verified=False,
        rating=None,
        review_count=0,
        rate=400,
        session_minutes=60,
        offers_in_person=True,
        offers_online=False,
        city="<i>Town</i>",
        province="KZN",
        bio="<img src=x onerror=alert(1)>",
        latitude=0,
        longitude=0,
        distance_km=3.2,
    )
    html = finder.popup_html(hit)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>Bold" not in html and "&lt;b&gt;Bold&lt;/b&gt;" in html
    assert "<i>Town" not in html and "3.2 km" in html


def test_a_full_page_of_results_says_there_are_more_in_words(db, page):
    for number in range(21):
        make_practitioner(db, first_name=f"Near{number}", location=(-29.86 + number / 1000, 31.03))
    app = page("pages/search.py", user=make_client(db))
    app = choose_place(app, "Durban, KwaZulu-Natal")
    assert app.caption[0].value.startswith("Showing 1–20 of more than 20 within 25 km of Durban")
    next(b for b in app.button if b.label == "Next →").click().run()
    assert app.caption[0].value.startswith("Showing 21–21 within 25 km of Durban")


def test_the_search_is_still_there_after_visiting_another_page(db, page):
    make_practitioner(db, first_name="Near", location=(-29.86, 31.03))
    app = page("pages/search.py", user=make_client(db))
    app = choose_place(app, "Durban, KwaZulu-Natal")
    app.select_slider(key="find_radius").set_value(50)
    app.multiselect(key="find_specs").set_value([Specialization.HEALER])
    app.text_input(key="find_text").input("herbs")
    app = app.run()
    app.switch_page("pages/bookings.py")
    app = app.run()
    assert not app.exception
    app.switch_page("pages/search.py")
    app = app.run()
    assert not app.exception
    assert app.selectbox(key="find_place").value == "Durban, KwaZulu-Natal"
    assert app.select_slider(key="find_radius").value == 50
    assert app.multiselect(key="find_specs").value == [Specialization.HEALER]
    assert app.text_input(key="find_text").value == "herbs"
    assert not app.warning, [w.value for w in app.warning]  # no "default value but also set via Session State"


def test_the_meeting_filter_shows_any_chosen_until_another_is(db, page):
    # Found by a trial: "Any" was meant but no option looked chosen (the radio's value was None).
    make_practitioner(db, first_name="Both", location=(-26.2, 28.04))
    app = page("pages/search.py", user=make_client(db))
    meeting = app.radio(key="find_meeting")
    assert (meeting.index, meeting.options[0]) == (0, "Any")
    meeting.set_value(MeetingType.ONLINE)
    app = app.run()
    assert not app.exception and app.radio(key="find_meeting").index == 2


def test_a_practitioner_who_cannot_be_booked_yet_says_so_beside_their_name(db, page, monkeypatch):
    # Found on a phone: the nearest two were missing from "Book with" and the reason was in a
    # column off the right of the screen.
    from avenrae.config import get_settings
    from avenrae.models import VerificationStatus

    monkeypatch.setattr(get_settings(), "allow_unverified_bookings", False)
    waiting = VerificationStatus.PENDING
    make_practitioner(db, first_name="Waiting", location=(-29.86, 31.03), verification_status=waiting)
    make_practitioner(db, first_name="Checked", location=(-29.85, 31.02))
    app = choose_place(page("pages/search.py", user=make_client(db)), "Durban, KwaZulu-Natal")
    names = [r["Name"] for r in table_rows(app)]
    assert names[0].startswith("Waiting ") and names[0].endswith(" · not bookable yet")
    assert names[1].startswith("Checked ") and "bookable" not in names[1]


def test_the_minimum_rating_reads_any_or_stars(db, page):
    # Found on a phone: the filter read "0.00" before anything was chosen.
    near = make_practitioner(db, first_name="Loved", location=(-29.86, 31.03))
    near.rating = 4.5
    make_practitioner(db, first_name="Unrated", location=(-29.85, 31.02))
    app = choose_place(page("pages/search.py", user=make_client(db)), "Durban, KwaZulu-Natal")
    rating = app.select_slider(key="find_rating")
    assert rating.format_func(rating.value) == "Any" and rating.format_func(4.0) == "4★ or more"
    rating.set_value(4.0).run()
    assert [r["Name"].split()[0] for r in table_rows(app)] == ["Loved"]


def test_the_default_order_says_what_it_is_and_a_chosen_order_stays_when_words_are_typed(db, page):
    # Found by a new user's trial: "Best match" read as something other than the nearest-first it was.
    make_practitioner(db, first_name="Near", location=(-29.86, 31.03))
    app = choose_place(page("pages/search.py", user=make_client(db)), "Durban, KwaZulu-Natal")
    order = app.selectbox(key="find_sort")
    assert order.format_func(order.value) == "Best match (nearest first)"
    order.set_value("rating").run()
    app.text_input(key="find_text").input("herbs").run()
    order = app.selectbox(key="find_sort")
    assert order.value == "rating" and order.format_func("best") == "Best match for your words"
