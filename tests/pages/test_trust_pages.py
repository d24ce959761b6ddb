"""My reviews, Reviews, Review moderation, Verification, Verification queue and Audit log in AppTest."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from avenrae.models import (
    ApplicationStatus,
    AuditLog,
    BookingStatus,
    Practitioner,
    Review,
    ReviewStatus,
    Role,
    VerificationApplication,
    VerificationStatus,
)
from avenrae.services import audit, flows, verification
from avenrae.services.bookings import Actor
from avenrae.services.errors import InvalidInput
from avenrae.ui import format as fmt
from tests.factories import make_booking, make_client, make_practitioner, make_review, make_user, sample_document


def button(app, label):
    return next(b for b in app.button if b.label == label)


@pytest.fixture
def completed(db):
    client = make_client(db, first_name="Lindiwe", last_name="Dube")
    practitioner = make_practitioner(db, first_name="Thandi", last_name="Zulu")
    return make_booking(
        db,
        client=client,
        practitioner=practitioner,
        start=datetime.now(UTC) - timedelta(days=2),
        status=BookingStatus.COMPLETED,
    )


def test_a_client_writes_a_review_and_sees_it_waiting(db, page, completed):
    app = page("pages/my_reviews.py", user=completed.client)
    assert not app.exception
    app.radio[0].set_value(4)
    app.text_area[0].input("<b>Kind</b> and calm; she listened.")
    app.button[0].click()
    app = app.run()
    assert app.success[0].value.startswith("Thank you! Your review will appear")
    review = db.scalar(select(Review))
    assert (review.rating, review.comment, review.status) == (4, "<b>Kind</b> and calm; she listened.", "pending")
    assert any("Waiting for a moderator" in m.value for m in app.markdown)
    assert "<b>Kind</b> and calm; she listened." in [t.value for t in app.text]  # shown as typed, as text


def test_a_client_writes_a_rejected_review_again(db, page, completed):
    make_review(
        db, completed, rating=5, comment="Call me on 082 555 0101", status=ReviewStatus.REJECTED,
        moderation_reason="Contains personal contact details.",
    )  # fmt: skip
    app = page("pages/my_reviews.py", user=completed.client)
    assert app.selectbox[0].value.endswith("· write it again")
    assert "You can write it again above, leaving out what the moderator named." in [c.value for c in app.caption]
    app.radio[0].set_value(4)
    app.text_area[0].input("Kind and calm; she listened.")
    app.button[0].click()
    app = app.run()
    assert app.success[0].value.startswith("Thank you! Your review will appear")
    review = db.scalar(select(Review))
    assert (review.comment, review.status) == ("Kind and calm; she listened.", "pending")
    assert review.moderation_reason is None
    assert app.caption[0].value.startswith("Nothing to review")  # offered once, not again while it waits


@pytest.mark.parametrize(
    ("rating", "comment", "message"),
    [(None, "Lovely", "Choose a rating from 1 to 5 stars."), (5, "", "Write a few words about the session.")],
)
def test_a_review_without_stars_or_words_is_refused_plainly(db, page, completed, rating, comment, message):
    app = page("pages/my_reviews.py", user=completed.client)
    if rating is not None:
        app.radio[0].set_value(rating)
    app.text_area[0].input(comment)
    app.button[0].click()
    app = app.run()
    assert app.error[0].value == message
    assert db.scalar(select(func.count()).select_from(Review)) == 0
    assert app.text_area[0].value == comment  # what was written is still there to fix


def test_the_moderator_sees_flags_and_publishes_a_flagged_review_only_after_saying_yes(db, page, completed):
    make_review(
        db,
        completed,
        rating=5,
        status=ReviewStatus.PENDING,
        comment="She cured my cancer! 082 123 4567",
        flags=["contact", "health_claim"],
    )
    staff = make_user(db, role=Role.STAFF)
    app = page("pages/moderation.py", user=staff)
    assert not app.exception
    flags = app.warning[0].value
    assert "Contact details: “082 123 4567”" in flags and "Health-outcome claim: “cured”" in flags
    button(app, "Publish anyway…").click()  # P: one key asks, it does not publish
    app = app.run()
    assert db.scalar(select(Review.status)) == ReviewStatus.PENDING
    assert app.warning[1].value == "This review was flagged (above). Publish it as it is, for everyone to read?"
    button(app, "Yes, publish it as it is").click()
    app = app.run()
    assert app.success[0].value == f"Published {fmt.md('Lindiwe D.')}’s review of Thandi Zulu. The rating is updated."
    practitioner = db.get(Practitioner, completed.practitioner_id)
    db.refresh(practitioner)
    assert (practitioner.rating, practitioner.review_count) == (Decimal("5.00"), 1)
    assert db.scalar(select(func.count()).select_from(AuditLog)) == 1


def test_a_filter_that_hides_the_queue_says_so_and_clears_in_one_click(db, page, completed):
    # Found by a phone trial: with a name typed, "Nothing waiting here. Well done." while 153 waited.
    make_review(db, completed, status=ReviewStatus.PENDING)
    app = page("pages/moderation.py", user=make_user(db, role=Role.STAFF))
    app.text_input(key="moderation_text").input("Sipho Ndlovu").run()
    assert not app.success
    assert app.info[0].value == "No review waiting (pending) matches “Sipho Ndlovu”."
    button(app, "Show the whole queue").click()
    app = app.run()
    assert app.text_input(key="moderation_text").value == ""
    assert any(fmt.md("Lindiwe D.") in m.value for m in app.markdown)  # the review, back in view
    app.segmented_control[0].set_value("Hidden (to publish again)").run()
    assert app.info[0].value == "No hidden reviews."


def test_a_flagged_review_offers_reject_as_the_main_action(db, page, completed):
    # Found by a phone trial: the full-width green button on a review flagged for a phone number
    # and a health claim was "Publish anyway…"; rejecting it is what the flags suggest.
    make_review(db, completed, status=ReviewStatus.PENDING, comment="Call 082 123 4567", flags=["contact"])
    app = page("pages/moderation.py", user=make_user(db, role=Role.STAFF))
    assert (button(app, "Reject").proto.type, button(app, "Publish anyway…").proto.type) == ("primary", "secondary")


def test_a_hidden_review_says_why_when_and_by_whom_before_it_is_published_again(db, page, completed):
    # Found by a staff trial: the Hidden queue offered P to publish again without the reason (a legal takedown?).
    hider = make_user(db, role=Role.STAFF, first_name="Ayanda", last_name="Khumalo")
    make_review(
        db, completed, status=ReviewStatus.HIDDEN, moderation_reason="Legal request: names a third party",
        moderated_by_id=hider.id, moderated_at=datetime.now(UTC) - timedelta(hours=3),
    )  # fmt: skip
    app = page("pages/moderation.py", user=make_user(db, role=Role.STAFF))
    app.segmented_control[0].set_value("Hidden (to publish again)").run()
    [said] = [i.value for i in app.info if i.value.startswith("Hidden ")]
    assert said.endswith("by Ayanda Khumalo: Legal request: names a third party")
    assert "Keys: P publish (with or without Shift)" in [c.value for c in app.caption]  # no J or H here


def test_rejecting_without_a_reason_says_so_and_changes_nothing(db, page, completed):
    review = make_review(db, completed, status=ReviewStatus.PENDING)
    app = page("pages/moderation.py", user=make_user(db, role=Role.STAFF))
    button(app, "Reject").click()
    app = app.run()
    assert "A reason is required" in app.error[0].value
    db.refresh(review)
    assert review.status == ReviewStatus.PENDING
    app.selectbox[0].set_value("Not about the session")
    button(app, "Reject").click()
    app = app.run()
    assert app.success[0].value == "Rejected Lindiwe D\\.’s review of Thandi Zulu; the client has been told why."
    # Also as a toast: on a phone the page reopens scrolled down at the next review, where
    # the message at the top is out of sight (found by a phone trial).
    assert [toast.value for toast in app.toast] == [app.success[0].value]
    db.refresh(review)
    assert (review.status, review.moderation_reason) == (ReviewStatus.REJECTED, "Not about the session")


def test_the_practitioner_sees_published_reviews_and_replies(db, page, completed):
    make_review(db, completed, rating=4, comment="Helpful and warm.")
    app = page("pages/reviews.py", user=completed.practitioner.user)
    assert not app.exception
    assert [m.value for m in app.metric][:2] == ["4.00 ★", "1"]
    app.text_area[0].input("Thank you, go well.")
    button(app, "Post reply").click()
    app = app.run()
    assert app.success[0].value == "Your reply is posted."
    assert db.scalar(select(Review.practitioner_reply)) == "Thank you, go well."


def test_many_reviews_come_ten_at_a_time_those_waiting_for_a_reply_first(db, page, completed):
    practitioner = completed.practitioner
    for number in range(23):
        booking = make_booking(
            db,
            client=completed.client,
            practitioner=practitioner,
            start=datetime.now(UTC) - timedelta(days=3 + number),
            status=BookingStatus.COMPLETED,
        )
        make_review(
            db,
            booking,
            comment=f"Session number {number}.",
            created_at=datetime.now(UTC) - timedelta(days=number),
            **({"practitioner_reply": "Thank you."} if number < 3 else {}),
        )  # the newest three answered
    app = page("pages/reviews.py", user=practitioner.user)
    assert not app.exception
    assert app.segmented_control[0].options == ["Waiting for your reply (20)", "All (23)"]
    assert len(app.get("expander")) == 10  # a page of ten, each with its reply tucked away
    assert app.number_input(key="reviews_page").label == "Page (of 2)"
    app.number_input(key="reviews_page").set_value(2).run()
    assert len(app.get("expander")) == 10
    app.segmented_control[0].set_value("All").run()
    pages = app.number_input(key="reviews_page")
    assert (pages.label, pages.value) == ("Page (of 3)", 1)  # another list starts at its first page
    assert len(app.get("expander")) == 7  # the newest three are answered: no reply box


def test_before_the_first_review_there_is_a_sentence_not_an_empty_chart(db, page, completed):
    app = page("pages/reviews.py", user=completed.practitioner.user)
    assert [m.value for m in app.metric][:2] == ["—", "0"]
    assert app.info[0].value.startswith("No published reviews yet.")
    assert not app.get("vega_lite_chart") and "Published reviews by stars" not in [c.value for c in app.caption]
    make_review(db, completed, rating=5, comment="Kind and clear.")
    app = app.run()
    assert len(app.get("vega_lite_chart")) == 1 and "Published reviews by stars" in [c.value for c in app.caption]


def test_applying_without_documents_is_refused_and_nothing_is_written(db, page):
    practitioner = make_practitioner(db, verification_status=VerificationStatus.UNVERIFIED)
    app = page("pages/verification.py", user=practitioner.user)
    assert not app.exception
    assert "You are not verified yet" in app.info[0].value
    assert any("not a registered health professional" in c.value for c in app.caption)
    # A Word document is refused by the uploader with only a red mark: say what to do before (found by a trial).
    assert any("A Word document: save it as a PDF first" in c.value for c in app.caption)
    app.text_input[0].input("Thandi Zulu")
    app.number_input[0].set_value(7)
    app.text_area[0].input("Trained in Nongoma for six years.")
    button(app, "Apply").click()
    app = app.run()
    assert app.error[0].value == "Attach at least one supporting document (PDF, JPEG or PNG)."
    assert db.scalar(select(func.count()).select_from(VerificationApplication)) == 0


def test_an_empty_application_names_each_field_as_it_is_labelled(db, page):
    practitioner = make_practitioner(db, verification_status=VerificationStatus.UNVERIFIED)
    app = page("pages/verification.py", user=practitioner.user)
    button(app, "Apply").click()
    app = app.run()
    shown = app.error[0].value
    assert "Years of practice is required." in shown and "About your training and practice is required." in shown
    assert db.scalar(select(func.count()).select_from(VerificationApplication)) == 0


def apply_for_verification(db, first_name: str, last_name: str, years: int, trained_in: str):
    """An unverified practitioner who has applied with one PNG document."""
    practitioner = make_practitioner(
        db, first_name=first_name, last_name=last_name, verification_status=VerificationStatus.UNVERIFIED
    )
    verification.apply(
        session=db,
        actor=Actor(practitioner.user_id, Role.PRACTITIONER),
        form=verification.ApplicationForm(
            legal_name=f"{first_name} {last_name}",
            years_of_practice=years,
            statement=f"Trained in {trained_in}.",
            documents=[verification.Upload("letter.png", sample_document("png"))],
        ),
    )
    return practitioner


@pytest.fixture
def applied(db):
    return apply_for_verification(db, "Sizwe", "Nkosi", 9, "Umlazi")


def test_staff_read_the_documents_and_approve(db, page, applied):
    app = page("pages/verification_queue.py", user=make_user(db, role=Role.STAFF))
    assert not app.exception
    assert len(app.get("image")) == 1  # the PNG, shown inline
    assert any(r"letter\.png" in m.value and "PNG" in m.value for m in app.markdown)  # escaped markdown
    app.radio[0].set_value("approve")
    button(app, "Send decision").click()
    app = app.run()
    # Approving makes them bookable with the badge: the page names who, and asks (found by a
    # new user's trial, who approved a look-alike name from the list by mistake).
    assert app.warning[0].value.startswith("Approve **Sizwe Nkosi** (")
    assert app.warning[0].value.endswith("? Clients then see the Verified badge and can book them.")
    db.refresh(applied)
    assert applied.verification_status != VerificationStatus.VERIFIED
    button(app, "Not yet").click()
    app = app.run()
    assert not app.warning and not [b for b in app.button if b.label == "Yes, approve"]
    button(app, "Send decision").click()
    button(app.run(), "Yes, approve").click()
    app = app.run()
    assert app.success[0].value == "Approved: Sizwe Nkosi is verified and can be booked."
    db.refresh(applied)
    assert applied.verification_status == VerificationStatus.VERIFIED


def test_rejecting_asks_first_naming_who(db, page, applied):
    # Found by a staff trial: Approve asked first, Reject (which tells the practitioner at once) did not.
    app = page("pages/verification_queue.py", user=make_user(db, role=Role.STAFF))
    app.radio[0].set_value("reject")
    next(t for t in app.text_area if t.label.startswith(("Message", "Reason", "The "))).input("Not readable.")
    button(app, "Send decision").click()
    app = app.run()
    assert app.warning[0].value.startswith("Reject **Sizwe Nkosi** (")
    db.refresh(applied)
    assert applied.verification_status == VerificationStatus.PENDING
    button(app, "Yes, reject").click()
    app = app.run()
    assert app.success[0].value == "Rejected: Sizwe Nkosi has been told why."
    db.refresh(applied)
    assert applied.verification_status == VerificationStatus.REJECTED


def test_a_decided_application_shows_the_registration_staff_confirmed(db, page, applied):
    app = page("pages/verification_queue.py", user=make_user(db, role=Role.STAFF))
    app.radio[0].set_value("approve")
    next(t for t in app.text_input if t.label.startswith("Confirmed health registration")).input("HPCSA PS 0123456")
    button(app, "Send decision").click()
    app = app.run()
    assert "as registered health professional HPCSA PS 0123456?" in app.warning[0].value
    button(app, "Yes, approve").click()
    app = app.run()
    app.segmented_control[0].set_value("Decided").run()
    details = next(m.value for m in app.markdown if m.value.startswith("**Legal name:**"))
    assert "**Registration:** none given  \n**Confirmed by staff:** HPCSA PS 0123456" in details


def test_a_second_click_on_send_decision_never_decides_the_next_application(db, page, applied):
    later = apply_for_verification(db, "Marelize", "Mabaso", 4, "Pretoria")
    first, second = db.scalars(
        select(VerificationApplication).order_by(VerificationApplication.practitioner_id == later.id)
    )
    first.created_at = second.created_at - timedelta(hours=1)  # Sizwe applied first
    db.flush()
    app = page("pages/verification_queue.py", user=make_user(db, role=Role.STAFF))
    assert app.subheader[0].value == "Sizwe Nkosi"
    next(r for r in app.radio if r.label == "Decision").set_value("approve")
    button(app, "Send decision").click()
    button(app.run(), "Yes, approve").click()
    app = app.run()
    assert app.success[0].value == "Approved: Sizwe Nkosi is verified and can be booked."
    assert app.subheader[0].value == "Marelize Mabaso"  # the next one, nothing chosen for it
    assert next(r for r in app.radio if r.label == "Decision").value is None
    button(app, "Send decision").click()  # the second click of a double click lands here
    app = app.run()
    assert app.error[0].value == "Choose a decision first."
    db.refresh(later)
    assert later.verification_status == VerificationStatus.PENDING
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "verification.approve")) == 1


def test_asking_for_more_needs_a_message(db, page, applied):
    app = page("pages/verification_queue.py", user=make_user(db, role=Role.ADMIN))
    app.radio[0].set_value("ask")
    button(app, "Send decision").click()
    app = app.run()
    assert "The message is required" in app.error[0].value
    assert db.scalar(select(VerificationApplication.status)) == ApplicationStatus.PENDING


def decided(db, decision: str, message: str) -> VerificationApplication:
    """The application, after staff decided on it."""
    application = db.scalar(select(VerificationApplication))
    flows.decide_verification(
        session=db,
        actor=Actor(make_user(db, role=Role.STAFF).id, Role.STAFF),
        application_id=application.id,
        decision=decision,
        message=message,
    )
    return application


def asked_for_more(db) -> VerificationApplication:
    """The application, after staff asked the practitioner for more."""
    return decided(db, "ask", "Add your ID, please.")


def test_the_practitioner_answers_a_request_for_more(db, page, applied):
    application = asked_for_more(db)
    app = page("pages/verification.py", user=applied.user)
    assert app.subheader[0].value == "Staff need more from you"
    app.text_area[0].input("My ID is attached to the first letter.")
    button(app, "Send answer").click()
    app = app.run()
    assert app.success[0].value == "Sent. Your application is back with staff."
    db.refresh(application)
    assert application.status == ApplicationStatus.PENDING


def test_a_rejected_practitioner_reads_why_at_the_top(db, page, applied):
    decided(db, "reject", "The certificate is not readable; send a clearer scan.")
    app = page("pages/verification.py", user=applied.user)
    reason = fmt.md("The certificate is not readable; send a clearer scan.")  # the markdown, escaped
    assert app.warning[0].value == f"Your last application was not approved: *{reason}* You may apply again below."


def test_an_answer_too_long_is_refused_and_kept_to_shorten(db, page, applied):
    application = asked_for_more(db)
    app = page("pages/verification.py", user=applied.user)
    answer = "My training, in full. " * 200  # 4,400 characters: nothing is cut off as it is typed
    app.text_area[0].input(answer)
    button(app, "Send answer").click()
    app = app.run()
    assert "Your answer" in app.error[0].value and "4000" in app.error[0].value.replace(",", "")
    assert app.text_area[0].value == answer
    db.refresh(application)
    assert application.status == ApplicationStatus.NEEDS_INFORMATION


def test_the_audit_log_filters_and_exports_what_it_shows(db, page):
    admin = make_user(db, role=Role.ADMIN, first_name="Pieter", last_name="Admin")
    db.add_all(
        [
            AuditLog(actor_id=admin.id, action="review.publish", target_type="review", target_id="r-1"),
            AuditLog(
                actor_id=admin.id,
                action="user.change_role",
                target_type="user",
                target_id="u-1",
                before={"role": "staff"},
                after={"role": "admin"},
            ),
        ]
    )
    db.flush()
    app = page("pages/audit.py", user=admin)
    assert not app.exception
    assert sorted(app.dataframe[0].value["Action"]) == ["Review · publish", "User · change role"]
    app.multiselect[0].set_value(["review.publish"])
    app = app.run()
    assert list(app.dataframe[0].value["Action"]) == ["Review · publish"]
    app.text_input[1].input("nothing-like-this")
    app = app.run()
    assert app.info[0].value == "No entries match."


def test_the_audit_log_reads_as_words_not_code(db, page):
    admin = make_user(db, role=Role.ADMIN)
    booking_id = "72439f5f-ce85-4a7e-9a55-1f0c2b9d8e11"
    db.add(
        AuditLog(
            actor_id=admin.id,
            action="booking.cancel",
            target_type="booking",
            target_id=booking_id,
            before={"status": "confirmed", "session_start": "2026-12-08T13:00:00+00:00"},
            after={"status": "no_show", "refund_due": True, "on_behalf_of": "client", "note": "Sipho_Ndlovu"},
        )
    )
    db.flush()
    app = page("pages/audit.py", user=admin)
    row = app.dataframe[0].value.iloc[0]
    assert row["Action"] == "Booking · cancel" and row["Target"] == "Booking AVN-72439F5F"
    # (the database keeps a record's keys in its own order)
    assert set(row["Before"].split(" · ")) == {"Status: confirmed", "Session start: Tue 08 Dec 2026, 15:00"}
    assert set(row["After"].split(" · ")) == {
        "Status: no show",
        "Refund due: yes",
        "On behalf of: client",
        "Note: Sipho_Ndlovu",
    }
    app.text_input[1].input("AVN-72439F5F")  # the reference people quote finds it
    assert app.run().dataframe[0].value.iloc[0]["Target"] == "Booking AVN-72439F5F"


def test_audit_targets_are_named_as_people_know_them(db, page, completed):
    admin = make_user(db, role=Role.ADMIN)
    review = make_review(db, completed)
    moved = make_user(db, first_name="Priya", last_name="Naidoo", email="priya@avenrae.co.za")
    for kind, target in (("user", moved.id), ("practitioner", completed.practitioner_id), ("review", review.id)):
        audit.record(session=db, actor_id=admin.id, action=f"{kind}.touch", target_type=kind, target_id=target)
    app = page("pages/audit.py", user=admin)
    assert sorted(app.dataframe[0].value["Target"]) == [
        "Practitioner Thandi Zulu",
        "Review Lindiwe Dube’s review of Thandi Zulu",
        "User Priya Naidoo <priya@avenrae.co.za>",
    ]
    text, _ = audit.export_csv(session=db, actor_role=Role.ADMIN)
    assert "Review Lindiwe Dube’s review of Thandi Zulu" in text  # the export names them too


def test_the_audit_log_pages_through_the_last_30_of_the_platforms_days(db, page):
    admin = make_user(db, role=Role.ADMIN)
    zone = ZoneInfo(fmt.default_zone())
    first_day = fmt.today() - timedelta(days=29)  # 30 days with today, as Revenue's "Last 30 days"
    first_midnight = datetime.combine(first_day, time(0), zone)  # 22:00 the day before in UTC

    def entry(action: str, at: datetime) -> AuditLog:
        return AuditLog(actor_id=admin.id, action=action, target_type="user", created_at=at)

    db.add_all([entry("user.create", first_midnight) for _ in range(51)])
    db.add(entry("user.edge", first_midnight - timedelta(seconds=1)))  # 23:59:59 the day before the period
    db.add(entry("user.today", datetime.combine(fmt.today(), time(23, 59), zone)))
    db.flush()

    app = page("pages/audit.py", user=admin)
    assert not app.exception
    assert app.date_input(key="audit_period").value == (first_day, fmt.today())
    assert app.caption[0].value == f"52 entries · page 1 of 2 · times in {fmt.default_zone()}"
    shown = app.dataframe[0].value
    assert len(shown) == 50 and shown["Action"].iloc[0] == "User · today"

    app.number_input(key="audit_page").set_value(2)
    app = app.run()
    assert app.caption[0].value.startswith("52 entries · page 2 of 2 ·")
    assert list(app.dataframe[0].value["Action"]) == ["User · create", "User · create"]

    app.number_input(key="audit_page").set_value(3)
    app = app.run()
    assert not app.dataframe
    assert app.info[0].value == "52 entries match, on 2 pages: there is no page 3."

    app.number_input(key="audit_page").set_value(1)
    app.date_input(key="audit_period").set_value((first_day - timedelta(days=1), first_day - timedelta(days=1)))
    app = app.run()
    assert app.caption[0].value.startswith("1 entry · page 1 of 1 ·")
    assert list(app.dataframe[0].value["Action"]) == ["User · edge"]
    assert app.dataframe[0].value["When"].iloc[0].endswith(", 23:59")

    app.date_input(key="audit_period").set_value((first_day,))
    app = app.run()
    assert not app.dataframe
    assert app.info[0].value == "Choose the last day of the period too."


def test_the_audit_log_shows_a_refused_read_plainly_and_stops(db, page, monkeypatch):
    def refused(**_):
        raise InvalidInput({"page": "Pages start at 1 and hold at most 500 entries."})

    monkeypatch.setattr(audit, "search", refused)
    app = page("pages/audit.py", user=make_user(db, role=Role.ADMIN))
    assert not app.exception
    assert [e.value for e in app.error] == ["Pages start at 1 and hold at most 500 entries."]
    assert not app.dataframe and not any("times in" in c.value for c in app.caption)


@pytest.mark.parametrize(
    ("size", "shown"), [(1, "1 byte"), (401, "401 bytes"), (12_800, "12 KB"), (4_404_019, "4.2 MB")]
)
def test_a_documents_size_reads_as_people_say_it(size, shown):
    assert fmt.file_size(size) == shown
