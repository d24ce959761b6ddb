"""The original platform's contract, exactly: the bodies its client sends, the fields and
statuses it reads."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, func, select

from avenrae.models import Booking, Client, Practitioner, Role, User, VerificationStatus
from tests.api.conftest import bearer, booking_day
from tests.factories import DURBAN as FACTORY_DURBAN
from tests.factories import PASSWORD, make_booking, make_review, make_user

DURBAN = {"latitude": -29.8683, "longitude": 31.0292}


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


# --- auth ------------------------------------------------------------------------------


def test_signup_as_a_client(api):
    body = {
        "firstName": "Lerato",
        "lastName": "Mokoena",
        "email": "lerato.api@example.co.za",
        "password": "Sunrise over Durban 7",
        "phone": "082 123 4567",
        "role": "client",
    }
    answer = api.post("/api/auth/signup", json=body)
    assert answer.status_code == 201, answer.text
    data = answer.json()
    assert data["success"] is True
    assert data["token"] and data["refreshToken"]
    assert set(data["user"]) >= {"id", "email", "role", "firstName", "lastName"}
    assert data["user"]["email"] == "lerato.api@example.co.za"
    assert data["user"]["role"] == "client"
    assert (data["user"]["firstName"], data["user"]["lastName"]) == ("Lerato", "Mokoena")
    verified = api.get("/api/auth/verify", headers={"Authorization": f"Bearer {data['token']}"})
    assert verified.json()["user"]["id"] == data["user"]["id"]


def test_signup_as_a_practitioner_geocodes_the_service_address(api, db):
    body = {
        "firstName": "Sipho",
        "lastName": "Zulu",
        "email": "sipho.api@example.co.za",
        "password": "Sunrise over Durban 7",
        "phone": "+27 71 555 0101",
        "role": "practitioner",
        "specialization": "healer",
        "bio": "Traditional healer",
        "serviceAddress": "123 Main St, Durban, South Africa",
    }
    answer = api.post("/api/auth/signup", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["user"]["role"] == "practitioner"
    practitioner = db.scalar(
        select(Practitioner).join(User, User.id == Practitioner.user_id).where(User.email == "sipho.api@example.co.za")
    )
    assert (practitioner.city, practitioner.province) == ("Durban", "KwaZulu-Natal")
    assert practitioner.bio == "Traditional healer"
    # Where in-person clients go, as typed (found by a client-app developer's trial: only "Durban" was kept),
    # given to a client once a booking is paid; anyone may read the area (found in review: the street was public).
    assert practitioner.service_address == "123 Main St, Durban, South Africa"
    shown = api.get(f"/api/practitioners/{practitioner.id}").json()
    assert shown["address"] == "Durban, KwaZulu-Natal"


def test_signup_as_a_practitioner_at_given_coordinates(api, db):
    body = {
        "firstName": "Thandi",
        "lastName": "Khumalo",
        "email": "thandi.api@example.co.za",
        "password": "Sunrise over Durban 7",
        "phone": "+27 71 555 0102",
        "role": "practitioner",
        "specialization": "medium",
        "bio": "",
        "serviceAddress": "Khayelitsha",
        "latitude": -34.0386,
        "longitude": 18.6731,
    }
    answer = api.post("/api/auth/signup", json=body)
    assert answer.status_code == 201, answer.text
    practitioner = db.scalar(
        select(Practitioner).join(User, User.id == Practitioner.user_id).where(User.email == "thandi.api@example.co.za")
    )
    assert (practitioner.city, practitioner.location_precision) == ("Khayelitsha", "map pin")


def test_login_returns_tokens_and_the_user(api, client_user):
    answer = api.post("/api/auth/login", json={"email": client_user.email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["success"] is True and data["token"] and data["refreshToken"]
    assert data["user"]["id"] == str(client_user.id)
    assert data["user"]["email"] == client_user.email
    assert data["user"]["role"] == "client"


def test_a_login_or_refresh_without_its_fields_is_422_naming_them(api, client_user):
    # Found by an API trial: {} answered 401 "wrong email or password" and OpenAPI marked nothing required.
    answer = api.post("/api/auth/login", json={})
    assert answer.status_code == 422
    assert set(answer.json()["errors"]) == {"email", "password"}
    assert api.post("/api/auth/refresh", json={}).json()["errors"] == {"refreshToken": "refreshToken is required."}
    # Logging out stays forgiving: an app that lost its refresh token may still log out (found by a review).
    assert api.post("/api/auth/logout", json={}).json() == {"message": "You have logged out."}
    schemas = api.get("/api/openapi.json").json()["components"]["schemas"]
    assert set(schemas["LoginIn"]["required"]) == {"email", "password"}
    assert schemas["RefreshIn"]["required"] == ["refreshToken"]


def test_verify_a_valid_token(api, client_user, db):
    answer = api.get("/api/auth/verify", headers=bearer(client_user, db))
    assert answer.status_code == 200
    assert answer.json()["valid"] is True
    assert answer.json()["user"]["id"] == str(client_user.id)


def test_verify_an_invalid_or_missing_token_is_401_valid_false(api):
    for headers in ({"Authorization": "Bearer not-a-token"}, {}):
        answer = api.get("/api/auth/verify", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {"valid": False}


def test_refresh_takes_the_refresh_token_and_returns_a_new_pair(api, client_user):
    login = api.post("/api/auth/login", json={"email": client_user.email, "password": PASSWORD}).json()
    answer = api.post("/api/auth/refresh", json={"refreshToken": login["refreshToken"]})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["token"] and data["refreshToken"] and data["refreshToken"] != login["refreshToken"]
    assert api.get("/api/auth/verify", headers={"Authorization": f"Bearer {data['token']}"}).json()["valid"]


# --- practitioners ---------------------------------------------------------------------


def test_search_around_durban_nearest_first(api, db, practitioner):
    from tests.factories import make_practitioner

    farther = make_practitioner(db, location=(-29.95, 30.95), rate="300.00")
    make_practitioner(db, specialization="prophet")  # another specialization: left out
    answer = api.get(
        "/api/practitioners/search",
        params={"specialization": "healer", **DURBAN, "radius": 50, "limit": 20},
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["total"] == 2
    ids = [hit["id"] for hit in data["practitioners"]]
    assert ids == [str(practitioner.id), str(farther.id)]
    first = data["practitioners"][0]
    assert set(first) >= {"id", "name", "specialization", "rating", "distance_km", "rate", "location"}
    assert first["name"] == "Nomsa Dlamini"
    assert first["specialization"] == "healer"
    assert first["rate"] == 450.0
    assert set(first["location"]) == {"latitude", "longitude"}
    assert first["distance_km"] <= data["practitioners"][1]["distance_km"]


def test_practitioner_profile_with_published_reviews(api, db, practitioner):
    from avenrae.models import ReviewStatus

    older = make_review(db, make_booking(db, practitioner=practitioner, status="completed"), comment="Kind and wise.")
    newer = make_review(db, make_booking(db, practitioner=practitioner, status="completed"), comment="Helped a lot.")
    make_review(db, make_booking(db, practitioner=practitioner, status="completed"), status=ReviewStatus.PENDING)
    older.created_at = newer.created_at.replace(year=newer.created_at.year - 1)
    db.flush()
    answer = api.get(f"/api/practitioners/{practitioner.id}")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert set(data) >= {
        "id",
        "name",
        "specialization",
        "bio",
        "rating",
        "rate",
        "duration",
        "address",
        "reviewCount",
        "reviews",
    }
    assert (data["rate"], data["duration"], data["address"]) == (450.0, 60, "Durban, KwaZulu-Natal")
    assert "Main Street" not in answer.text  # the street: once a booking is paid
    assert data["location"] == pytest.approx({"latitude": FACTORY_DURBAN[0], "longitude": FACTORY_DURBAN[1]})
    assert [review["comment"] for review in data["reviews"]] == ["Helped a lot.", "Kind and wise."]


def test_availability_lists_the_days_slots(api, practitioner):
    day = booking_day()
    answer = api.get(f"/api/practitioners/{practitioner.id}/availability", params={"date": day.isoformat()})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["date"] == day.isoformat()
    assert [slot["time"] for slot in data["slots"]] == [f"{hour:02d}:00" for hour in range(8, 17)]
    assert all(set(slot) >= {"id", "time", "available"} and slot["available"] for slot in data["slots"])


def test_a_practitioner_who_cannot_be_booked_has_no_available_time(api, db, practitioner):
    # Found by a client-app developer's trial: every time read "available", then booking it was a 403.
    practitioner.verification_status = VerificationStatus.PENDING
    db.flush()
    day = booking_day()
    assert api.get(f"/api/practitioners/{practitioner.id}").json()["bookable"] is False
    data = api.get(f"/api/practitioners/{practitioner.id}/availability", params={"date": day.isoformat()}).json()
    assert [slot["time"] for slot in data["slots"]] == [f"{hour:02d}:00" for hour in range(8, 17)]  # their hours
    assert not any(slot["available"] for slot in data["slots"])


# --- bookings --------------------------------------------------------------------------


def slot(api, practitioner, time="10:00", day=None) -> tuple[str, str]:
    day = day or booking_day()
    slots = api.get(f"/api/practitioners/{practitioner.id}/availability", params={"date": day.isoformat()}).json()
    return day.isoformat(), next(s["id"] for s in slots["slots"] if s["time"] == time)


def booking_body(practitioner, session_date: str, slot_id: str, **more) -> dict:
    """The original contract's POST /api/bookings body, in person, with any `more` fields."""
    body = {"practitionerId": str(practitioner.id), "sessionDate": session_date, "sessionSlotId": slot_id,
            "notes": "", "meetingType": "in_person"}  # fmt: skip
    return {**body, **more}


def test_book_a_session_r450_costs_517_50(api, db, practitioner, client_user):
    session_date, slot_id = slot(api, practitioner)
    body = booking_body(practitioner, session_date, slot_id, notes="First visit")
    answer = api.post("/api/bookings", json=body, headers=bearer(client_user, db))
    assert answer.status_code == 201, answer.text
    data = answer.json()
    assert set(data) >= {"bookingId", "status", "totalAmount", "paymentLink"}
    assert data["status"] == "pending"
    assert data["totalAmount"] == 517.50
    booking = db.get(Booking, uuid.UUID(data["bookingId"]))
    assert booking.client_id == client_user.id and booking.notes == "First visit"
    # The time is no longer open.
    again = api.get(f"/api/practitioners/{practitioner.id}/availability", params={"date": session_date}).json()
    assert next(s for s in again["slots"] if s["id"] == slot_id)["available"] is False


def test_a_booking_at_a_price_other_than_the_one_shown_is_refused(api, db, practitioner, client_user):
    session_date, slot_id = slot(api, practitioner)
    # 460.00: what the app showed before the practitioner's new rate
    body = booking_body(practitioner, session_date, slot_id, expectedTotal=460.00)
    refused = api.post("/api/bookings", json=body, headers=bearer(client_user, db))
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "The price of this session changed to R517.50 since it was shown to you. Check it and book again."
    )
    assert db.scalar(select(func.count()).select_from(Booking).where(Booking.client_id == client_user.id)) == 0
    booked = api.post("/api/bookings", json={**body, "expectedTotal": 517.5}, headers=bearer(client_user, db))
    assert booked.status_code == 201 and booked.json()["totalAmount"] == 517.50


def test_a_booking_request_takes_four_statements(api, db, connection, practitioner, client_user):
    """Who asks (the user and their session), the request counters, the booking rules, the
    write: the answer needs no further read (each statement is a round trip, and this is
    the busiest endpoint)."""
    body = booking_body(practitioner, *slot(api, practitioner))
    headers = bearer(client_user, db)
    sent = []
    listener = lambda *args: sent.append(args[2])  # noqa: E731
    event.listen(connection, "before_cursor_execute", listener)
    try:
        answer = api.post("/api/bookings", json=body, headers=headers)
    finally:
        event.remove(connection, "before_cursor_execute", listener)
    assert answer.status_code == 201, answer.text
    assert "by EFT" in answer.json()["eftInstructions"]
    statements = [s for s in sent if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO"))]
    assert len(statements) == 4, statements


def test_a_taken_time_is_409_with_the_webs_message_and_writes_nothing(api, db, practitioner, client_user):
    from tests.factories import make_client

    session_date, slot_id = slot(api, practitioner)
    body = {
        "practitionerId": str(practitioner.id),
        "sessionDate": session_date,
        "sessionSlotId": slot_id,
        "notes": "",
        "meetingType": "in_person",
    }
    assert api.post("/api/bookings", json=body, headers=bearer(client_user, db)).status_code == 201
    before = count(db, Booking)
    answer = api.post("/api/bookings", json=body, headers=bearer(make_client(db), db))
    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"] == "That time was just taken — pick another."
    assert count(db, Booking) == before


def test_my_bookings(api, db, practitioner, client_user):
    session_date, slot_id = slot(api, practitioner, "11:00")
    body = {
        "practitionerId": str(practitioner.id),
        "sessionDate": session_date,
        "sessionSlotId": slot_id,
        "notes": "",
        "meetingType": "in_person",
    }
    booked = api.post("/api/bookings", json=body, headers=bearer(client_user, db)).json()
    answer = api.get("/api/bookings/my-bookings", headers=bearer(client_user, db))
    assert answer.status_code == 200, answer.text
    [row] = answer.json()["bookings"]
    assert set(row) >= {"id", "practitioner", "date", "time", "status", "totalAmount"}
    assert row["id"] == booked["bookingId"]
    assert row["practitioner"]["id"] == str(practitioner.id)
    assert row["practitioner"]["name"] == "Nomsa Dlamini"
    assert (row["date"], row["time"], row["status"], row["totalAmount"]) == (session_date, "11:00", "pending", 517.5)


def test_signup_writes_a_user_and_its_profile(api, db):
    users, clients = count(db, User), count(db, Client)
    api.post(
        "/api/auth/signup",
        json={
            "firstName": "A",
            "lastName": "B",
            "email": "ab.api@example.co.za",
            "password": "Sunrise over Durban 7",
            "phone": "",
            "role": "client",
        },
    )
    assert (count(db, User), count(db, Client)) == (users + 1, clients + 1)


# --- documentation -----------------------------------------------------------------------


def test_openapi_31_and_offline_docs(api):
    document = api.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {
        "/auth/signup",
        "/auth/login",
        "/auth/verify",
        "/auth/refresh",
        "/practitioners/search",
        "/practitioners/{practitioner_id}",
        "/practitioners/{practitioner_id}/availability",
        "/bookings",
        "/bookings/my-bookings",
    } <= set(document["paths"])
    assert document["servers"] == [{"url": "/api"}]
    page = api.get("/api/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "/api/docs/assets/swagger-ui-bundle.js" in page.text
    assert api.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert api.get("/api/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert api.get("/api/docs/assets/secrets.txt").status_code == 404


def test_search_total_to_this_page_or_every_match(api, db, practitioner):
    from tests.factories import make_practitioner

    for _ in range(2):
        make_practitioner(db)
    params = {**DURBAN, "radius": 50, "limit": 2}
    page = api.get("/api/practitioners/search", params=params).json()
    assert (len(page["practitioners"]), page["total"], page["hasMore"]) == (2, 2, True)
    assert api.get("/api/practitioners/search", params={**params, "countAll": "true"}).json()["total"] == 3
    last = api.get("/api/practitioners/search", params={**params, "offset": 2}).json()
    assert (len(last["practitioners"]), last["total"], last["hasMore"]) == (1, 3, False)


def test_malformed_fields_are_said_in_plain_words(api, db, client_user):
    answer = api.post(
        "/api/bookings",
        json={"practitionerId": "not-a-uuid", "sessionDate": "bad", "sessionSlotId": "x"},
        headers=bearer(client_user, db),
    )
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert errors["practitionerId"] == "practitionerId is not a valid id."
    assert errors["sessionDate"] == "sessionDate must be a date as YYYY-MM-DD."
    assert "Input should" not in answer.text and "found `n`" not in answer.text


def test_every_problem_names_the_field_as_the_api_writes_it(api, db, practitioner, client_user):
    # Found by a client-app developer's trial: "practitioner_id", "hours" and "client" were not the API's names.
    path = api.get("/api/practitioners/not-a-uuid").json()
    assert path["errors"] == {"practitionerId": "practitionerId is not a valid id."}
    overlapping = {"ranges": [{"dayOfWeek": 0, "start": "09:00", "end": "12:00"},
                              {"dayOfWeek": 0, "start": "11:00", "end": "14:00"}]}  # fmt: skip
    hours = api.put("/api/practice/weekly-hours", json=overlapping, headers=bearer(practitioner.user, db))
    assert hours.status_code == 422 and list(hours.json()["errors"]) == ["ranges"]
    day, slot_id = slot(api, practitioner)
    staff = make_user(db, role=Role.STAFF)
    unnamed = api.post("/api/bookings", json=booking_body(practitioner, day, slot_id), headers=bearer(staff, db))
    assert unnamed.status_code == 422 and list(unnamed.json()["errors"]) == ["clientId"]
