"""User text is shown as text, everywhere: users with hostile names, a hostile bio, review,
reply, application and notifications are walked through every page each role can open
(in AppTest, through app.py); no rendered markdown, chart label, map popup or HTML holds a
live link, image or tag from user text."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import Message
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from avenrae.config import REPO_ROOT
from avenrae.models import (
    AuditLog,
    Booking,
    BookingStatus,
    Notification,
    ReviewStatus,
    Role,
    TransactionKind,
    VerificationDocument,
    VerificationStatus,
)
from avenrae.services import analytics, verification
from avenrae.services.bookings import Actor
from avenrae.ui import auth
from tests.factories import (
    make_booking,
    make_client,
    make_practitioner,
    make_review,
    make_transaction,
    make_user,
    make_weekly_hours,
    sample_document,
)
from tests.pages.conftest import session_for
from tests.pages.test_access import EXPECTED

LINK = "[Refund](https://evil.example/refund)"
IMAGE = "![x](https://evil.example/x.png)"
TAG = "<img src=x onerror=alert(1)>"
ANCHOR = '<a href="https://evil.example/pay">pay</a>'
FORMULA = '=HYPERLINK("https://evil.example","x")'
BARE = "https://evil.example/bare www.evil.example/bare"  # GFM links these by themselves
EVERYTHING = " ".join([LINK, IMAGE, TAG, ANCHOR, FORMULA, BARE])
JOHANNESBURG = (-26.2041, 28.0473)

# Where Streamlit renders a string as markdown, by element type (every widget's label and help too).
MARKDOWN_FIELDS = {"body", "label", "help", "caption"}
NOT_MARKDOWN = {"text", "code", "json", "arrow_data_frame", "selectbox", "multiselect"}
# st.table draws every cell as markdown (st.dataframe does not): its cells are read from its frame.
TABLE_TYPES = {"arrow_table", "table"}
HTML_TYPES = {"html", "iframe", "component_instance", "plotly_chart", "deck_gl_json_chart"}


@pytest.fixture
def hostile(db):
    """Everyone and everything written by people who mean harm, in every place text is kept."""
    client = make_client(db, first_name=LINK, last_name=f"{TAG} {ANCHOR}", email="hostile.client@example.co.za")
    practitioner = make_practitioner(
        db, first_name=f"{IMAGE} {ANCHOR}", last_name=FORMULA, email="hostile.healer@example.co.za", bio=EVERYTHING,
        location=JOHANNESBURG, city="Johannesburg", province="Gauteng", service_address=f"{LINK}, Johannesburg",
    )  # fmt: skip
    make_weekly_hours(db, practitioner, {day: [("08:00", "17:00")] for day in range(7)})
    past = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    done = make_booking(db, practitioner=practitioner, client=client, start=past, status=BookingStatus.COMPLETED,
                        notes=EVERYTHING)  # fmt: skip
    make_transaction(db, done, created_at=past - timedelta(days=1))
    make_review(db, done, rating=1, comment=EVERYTHING, practitioner_reply=f"{IMAGE} {TAG} {LINK}",
                replied_at=past + timedelta(days=1))  # fmt: skip
    later = make_booking(db, practitioner=practitioner, client=client, start=past + timedelta(days=10))
    make_transaction(db, later)
    cancelled = make_booking(db, practitioner=practitioner, client=client, start=past + timedelta(days=12),
                             status=BookingStatus.CANCELLED, cancellation_reason=EVERYTHING)  # fmt: skip
    make_transaction(db, cancelled)
    other = make_booking(db, practitioner=practitioner, start=past - timedelta(days=2),
                         status=BookingStatus.COMPLETED)  # fmt: skip
    make_review(db, other, rating=2, comment=EVERYTHING, status=ReviewStatus.PENDING, flags=["contact"])
    make_transaction(db, cancelled, kind=TransactionKind.REFUND, amount=cancelled.total_amount / 2)

    applicant = make_practitioner(
        db, first_name=LINK, last_name=IMAGE, bio=EVERYTHING, verification_status=VerificationStatus.UNVERIFIED
    )
    verification.apply(
        session=db,
        actor=Actor(applicant.user_id, Role.PRACTITIONER),
        form=verification.ApplicationForm(
            legal_name=LINK, years_of_practice=3, statement=EVERYTHING,
            registration_body=IMAGE, registration_number=TAG[:60],
            documents=[verification.Upload(f"{LINK}.png", sample_document("png"))],
        ),
    )  # fmt: skip
    assert db.scalar(select(VerificationDocument.file_name)) == f"{LINK}.png"
    for user in (client, practitioner.user, applicant.user):
        db.add(Notification(user_id=user.id, type="booking_created", title=EVERYTHING[:200], message=EVERYTHING))
    db.add(AuditLog(actor_id=client.id, action="booking.cancel", target_type="booking", reason=EVERYTHING))
    db.flush()
    analytics.refresh(db.connection())
    return client, practitioner, applicant


def strings(message: Message, path: str = ""):
    """Every string field of a protobuf message, with its field name."""
    for field, value in message.ListFields():
        values = value if isinstance(value, Sequence) and not isinstance(value, str | bytes) else [value]
        for item in values:
            if isinstance(item, Message):
                yield from strings(item, field.name)
            elif isinstance(item, str):
                yield field.name, item


def html_strings(text: str):
    """A JSON document's strings (a chart's spec, a component's arguments), or the text itself."""
    try:
        document = json.loads(text)
    except ValueError:
        yield text
        return
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def nodes(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from nodes(child)


# Escaped user text keeps none of these: "evil\.example", "\[Refund\]", "https:\u2060//".
LIVE_IN_MARKDOWN = re.compile(r"evil\.example|https?://|www\.|(?<!\\)<(img|a) |(?<!\\)!?\[(Refund|x)\]", re.I)
LIVE_IN_HTML = re.compile(r"<img src=x|<a href=\"https://evil")


def leaks(app) -> tuple[list[str], int]:
    """Live user text found on the page (sidebar included), and how many strings in the page
    itself held (escaped) user text."""
    found, shown = [], 0
    main = {id(node) for node in nodes(app.main)}
    for node in nodes(app._tree):
        proto = getattr(node, "proto", None)
        if not isinstance(proto, Message):
            continue
        kind = getattr(node, "type", "") or ""
        if kind == "plotly_chart" or kind in HTML_TYPES:
            for _, value in strings(proto):
                for text in html_strings(value):
                    shown += "evil" in text and id(node) in main
                    if LIVE_IN_HTML.search(text):
                        found.append(f"{kind}: {text[:300]}")
            continue
        if kind in TABLE_TYPES:
            frame = node.value
            for value in [*map(str, frame.columns), *(str(cell) for cell in frame.to_numpy().ravel())]:
                shown += "evil" in value and id(node) in main
                if LIVE_IN_MARKDOWN.search(value):
                    found.append(f"{kind} cell: {value[:300]}")
            continue
        if kind in NOT_MARKDOWN:
            continue
        for name, value in strings(proto):
            markdown = name in MARKDOWN_FIELDS or (name == "options" and kind in ("radio", "button_group"))
            if not markdown:
                continue
            shown += "evil" in value and id(node) in main
            if LIVE_IN_MARKDOWN.search(value):
                found.append(f"{kind}.{name}: {value[:300]}")
    return found, shown


VISITS = [(path, role) for path, roles in sorted(EXPECTED.items()) for role in sorted(roles - {None})]


# Pages whose first screen shows the hostile text (so that, there, the probe has teeth).
SHOWING = {
    "pages/bookings.py",
    "pages/moderation.py",
    "pages/my_reviews.py",
    ("pages/notifications.py", Role.CLIENT),
    ("pages/notifications.py", Role.PRACTITIONER),
    "pages/reviews.py",
    "pages/search.py",
    "pages/verification_queue.py",
}


def visitor(db, hostile, role: Role):
    client, practitioner, _ = hostile
    if role == Role.CLIENT:
        return client
    if role == Role.PRACTITIONER:
        return practitioner.user
    return make_user(db, role=role, first_name=LINK, last_name=TAG)


def opened(db, user, path: str, **query: str) -> AppTest:
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=30)
    app.session_state[auth.SESSION_KEY] = session_for(db, user)
    for name, value in query.items():
        app.query_params[name] = value
    app.switch_page(path)
    return app.run()


def no_live_text(app, *, must_show: bool = False) -> None:
    assert not app.exception, app.exception
    found, shown = leaks(app)
    assert not found, "\n".join(found)
    if must_show:
        assert shown, "the hostile text is on this page (escaped), or the probe proves nothing"


@pytest.mark.parametrize(("path", "role"), VISITS, ids=[f"{r.value}-{p[6:-3]}" for p, r in VISITS])
def test_no_page_renders_user_text_as_markup(db, page, hostile, path, role):
    app = page(path, user=visitor(db, hostile, role))
    no_live_text(app, must_show=path in SHOWING or (path, role) in SHOWING)


@pytest.mark.parametrize("role", [Role.ANALYST, Role.ADMIN])
def test_every_revenue_tab_shows_hostile_names_as_text(db, page, hostile, role):
    app = page("pages/revenue.py", user=visitor(db, hostile, role))
    for tab in ("Over time", "By specialization", "By place", "Month over month"):
        app.session_state["revenue_tab"] = tab  # only the open tab runs: open each as a click would
        no_live_text(app.run())
    app.session_state["revenue_tab"] = "Practitioners"  # the leaders chart names the hostile practitioner
    no_live_text(app.run(), must_show=True)


@pytest.mark.parametrize("role", [Role.CLIENT, Role.STAFF])
def test_the_booking_page_of_a_hostile_practitioner_shows_text(db, hostile, role):
    _, practitioner, _ = hostile
    app = opened(db, visitor(db, hostile, role), "pages/book.py", practitioner=str(practitioner.id))
    if role == Role.STAFF:
        app.text_input(key="book_for_query").input("refund").run()
    no_live_text(app, must_show=True)
    assert any("evil" in s.value for s in app.subheader)  # the name, escaped


@pytest.mark.parametrize("role", [Role.CLIENT, Role.PRACTITIONER, Role.STAFF, Role.ADMIN])
def test_each_hostile_booking_opened_shows_text(db, hostile, role):
    _, practitioner, _ = hostile
    user = visitor(db, hostile, role)
    ids = db.scalars(select(Booking.id).where(Booking.practitioner_id == practitioner.id)).all()
    assert ids
    for booking_id in ids:
        no_live_text(opened(db, user, "pages/bookings.py", booking=str(booking_id)), must_show=True)


@pytest.mark.parametrize(
    ("path", "key"), [("pages/earnings.py", "earnings_for"), ("pages/availability.py", "availability_for")]
)
def test_staff_managing_a_hostile_practitioner_see_text(db, hostile, path, key):
    app = opened(db, visitor(db, hostile, Role.STAFF), path)
    app.text_input(key=f"{key}_query").input("hyperlink").run()
    no_live_text(app)


def test_an_applicant_sees_their_own_application_as_text(db, page, hostile):
    _, _, applicant = hostile
    no_live_text(page("pages/verification.py", user=applicant.user), must_show=True)


def test_the_markdown_helper_leaves_no_link_of_any_kind():
    from avenrae.ui import format as fmt

    shown = fmt.md(EVERYTHING + " HTTP://EVIL.EXAMPLE WWW.EVIL.EXAMPLE")
    assert not LIVE_IN_MARKDOWN.search(shown), shown
    assert shown.replace("\\", "").replace("\u2060", "") == EVERYTHING + " HTTP://EVIL.EXAMPLE WWW.EVIL.EXAMPLE"


def test_a_typed_address_is_shown_as_text_and_copies_as_itself():
    """Found on the forgotten-password page: the address a visitor typed came out as a mail link;
    breaking it with an invisible character (found by review) would have gone along with every
    address copied from the app. The browser journey tests/e2e/test_password_reset.py sees it
    drawn as text."""
    from markdown_it import MarkdownIt

    from avenrae.ui import format as fmt

    render = MarkdownIt("commonmark").render
    assert render(fmt.md_address("refunds@evil.example")) == "<p><code>refunds@evil.example</code></p>\n"
    hostile = "`a`*[x](https://evil.example)*``@evil.example"
    assert render(fmt.md_address(hostile)) == (
        "<p><code>`a`*[x](https://evil.example)*``@evil.example</code></p>\n"
    )


def test_user_text_never_makes_a_heading_or_a_rule_and_names_stay_on_one_line():
    """Found in review: "=" was left as it is, so a review or bio line of "===" under a line of
    text made it a heading, and a name sent through the API with line breaks ("Sipho\\n\\nAvenrae:
    pay R500 to ...") came out as paragraphs of its own inside the other side's notices."""
    from markdown_it import MarkdownIt

    from avenrae.services import validation
    from avenrae.ui import format as fmt

    render = MarkdownIt("commonmark").render
    for written in ("Avenrae: pay R500 to 123456\n===", "Pay here\n---", "# Notice", "***", "> Avenrae says"):
        shown = render(fmt.md(written))
        assert re.fullmatch(r"<p>[^<]*</p>\n", shown), (written, shown)
    for field in ("\n\nAvenrae: pay R500", "\tSipho", "Sipho\u2028Dube"):
        with pytest.raises(validation.FieldError, match=r"^First name must be on one line\.$"):
            validation.person_name("Sipho" + field, label="First name")
    assert validation.text("Line one\nLine two", label="Your review", max_length=100) == "Line one\nLine two"
