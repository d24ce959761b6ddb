"""Who may see what, sessions (rotation, reuse, lockout), limits, and bad input writing nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import func, select

from avenrae.config import get_settings
from avenrae.models import Booking, RefreshToken, Role, User
from avenrae.services import accounts, tokens
from tests.api.conftest import bearer, booking_day
from tests.factories import PASSWORD, make_client, make_practitioner, make_user


def count(db, model, *where) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where))


def booking_body(api, practitioner, time="10:00") -> dict:
    day = booking_day()
    slots = api.get(f"/api/practitioners/{practitioner.id}/availability", params={"date": day.isoformat()}).json()
    slot_id = next(s["id"] for s in slots["slots"] if s["time"] == time)
    return {
        "practitionerId": str(practitioner.id),
        "sessionDate": day.isoformat(),
        "sessionSlotId": slot_id,
        "notes": "",
        "meetingType": "in_person",
    }


# --- access ----------------------------------------------------------------------------


def test_one_client_cannot_see_anothers_bookings(api, db, practitioner, client_user):
    mine = api.post("/api/bookings", json=booking_body(api, practitioner), headers=bearer(client_user, db)).json()
    other = make_client(db)
    listed = api.get("/api/bookings/my-bookings", headers=bearer(other, db)).json()
    assert listed["bookings"] == [] and listed["total"] == 0
    nobodys = uuid.uuid4()
    for method, path, body in (
        ("GET", "", None),
        ("GET", "/cancellation", None),
        ("GET", "/payment", None),
        ("POST", "/cancel", {"reason": "mine now"}),
        ("POST", "/pay", None),
        ("POST", "/pay-by-eft", None),
        ("POST", "/payment-intent", None),
    ):
        answer = api.request(method, f"/api/bookings/{mine['bookingId']}{path}", json=body, headers=bearer(other, db))
        missing = api.request(method, f"/api/bookings/{nobodys}{path}", json=body, headers=bearer(other, db))
        # Someone else's booking answers exactly as one that does not exist: an id tells nothing.
        assert (answer.status_code, answer.json()) == (missing.status_code, missing.json()), path
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["detail"] == "That booking does not exist, or it is not yours."
    assert db.get(Booking, mine["bookingId"]).status.value == "pending"


def test_the_practitioner_sees_the_booking_others_do_not(api, db, practitioner, client_user):
    booked = api.post("/api/bookings", json=booking_body(api, practitioner), headers=bearer(client_user, db)).json()
    own = api.get("/api/bookings/my-bookings", headers=bearer(practitioner.user, db)).json()
    assert [row["id"] for row in own["bookings"]] == [booked["bookingId"]]
    stranger = make_practitioner(db)
    assert api.get("/api/bookings/my-bookings", headers=bearer(stranger.user, db)).json()["bookings"] == []
    assert api.get(f"/api/bookings/{booked['bookingId']}", headers=bearer(stranger.user, db)).status_code == 404


def test_a_client_cannot_book_for_someone_else(api, db, practitioner, client_user):
    other = make_client(db)
    body = {**booking_body(api, practitioner), "clientId": str(other.id)}
    before = count(db, Booking)
    answer = api.post("/api/bookings", json=body, headers=bearer(client_user, db))
    assert answer.status_code == 403  # not quietly booked for the caller instead
    assert answer.json()["detail"] == "You can only book sessions for yourself."
    assert count(db, Booking) == before
    body["clientId"] = str(client_user.id)  # naming themselves is allowed
    assert api.post("/api/bookings", json=body, headers=bearer(client_user, db)).status_code == 201


def test_practitioners_cannot_book(api, db, practitioner):
    before = count(db, Booking)
    answer = api.post("/api/bookings", json=booking_body(api, practitioner), headers=bearer(practitioner.user, db))
    assert answer.status_code == 403
    assert count(db, Booking) == before


def test_booking_needs_a_token(api, db, practitioner):
    answer = api.post("/api/bookings", json=booking_body(api, practitioner))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["detail"].startswith("Log in first")
    expired = api.get("/api/bookings/my-bookings", headers={"Authorization": "Bearer abc.def.ghi"})
    assert expired.status_code == 401


def test_a_deactivated_users_token_stops_working(api, db, client_user):
    headers = bearer(client_user, db)
    client_user.is_active = False
    db.flush()
    assert api.get("/api/bookings/my-bookings", headers=headers).status_code == 401
    assert api.get("/api/auth/verify", headers=headers).json() == {"valid": False}


# --- sessions --------------------------------------------------------------------------


def test_refresh_rotates_and_a_reused_token_ends_the_session(api, db, client_user, monkeypatch):
    monkeypatch.setattr(get_settings(), "refresh_reuse_grace_seconds", 0)
    login = api.post("/api/auth/login", json={"email": client_user.email, "password": PASSWORD}).json()
    first = login["refreshToken"]
    second = api.post("/api/auth/refresh", json={"refreshToken": first}).json()["refreshToken"]
    third = api.post("/api/auth/refresh", json={"refreshToken": second}).json()["refreshToken"]
    reused = api.post("/api/auth/refresh", json={"refreshToken": first})
    assert reused.status_code == 401
    assert reused.json()["detail"].startswith("This session was used somewhere else")
    # The whole family is revoked: even the newest token no longer works.
    assert api.post("/api/auth/refresh", json={"refreshToken": third}).status_code == 401
    live = count(db, RefreshToken, RefreshToken.user_id == client_user.id, RefreshToken.revoked_at.is_(None))
    assert live == 0


def test_logout_ends_the_refresh_token(api, client_user):
    login = api.post("/api/auth/login", json={"email": client_user.email, "password": PASSWORD}).json()
    assert api.post("/api/auth/logout", json={"refreshToken": login["refreshToken"]}).status_code == 200
    assert api.post("/api/auth/refresh", json={"refreshToken": login["refreshToken"]}).status_code == 401


def test_logout_ends_its_access_token_at_once_and_no_other_session(api, client_user):
    credentials = {"email": client_user.email, "password": PASSWORD}
    phone, laptop = (api.post("/api/auth/login", json=credentials).json() for _ in range(2))
    old = {"Authorization": f"Bearer {phone['token']}"}
    assert api.get("/api/auth/verify", headers=old).json()["valid"] is True
    assert api.post("/api/auth/logout", json={"refreshToken": phone["refreshToken"]}).status_code == 200
    assert api.get("/api/auth/verify", headers=old).status_code == 401
    assert api.get("/api/auth/verify", headers=old).json() == {"valid": False}
    gone = api.get("/api/me", headers=old)
    assert gone.status_code == 401 and gone.headers["www-authenticate"] == "Bearer"
    assert gone.json()["detail"].startswith("This session has ended")
    # The other login (its own family) is untouched, as is a token refreshed from it.
    other = {"Authorization": f"Bearer {laptop['token']}"}
    assert api.get("/api/me", headers=other).json()["email"] == client_user.email
    renewed = api.post("/api/auth/refresh", json={"refreshToken": laptop["refreshToken"]}).json()
    assert api.get("/api/me", headers={"Authorization": f"Bearer {renewed['token']}"}).status_code == 200


def test_a_password_change_ends_every_sessions_access_token(api, client_user):
    credentials = {"email": client_user.email, "password": PASSWORD}
    tokens_ = [api.post("/api/auth/login", json=credentials).json()["token"] for _ in range(2)]
    headers = [{"Authorization": f"Bearer {token}"} for token in tokens_]
    changed = api.post(
        "/api/me/password", json={"currentPassword": PASSWORD, "newPassword": "New secret 12345"}, headers=headers[0]
    )
    assert changed.status_code == 200
    assert [api.get("/api/me", headers=h).status_code for h in headers] == [401, 401]
    fresh = api.post("/api/auth/login", json={**credentials, "password": "New secret 12345"}).json()
    assert api.get("/api/me", headers={"Authorization": f"Bearer {fresh['token']}"}).status_code == 200


def test_an_admin_reset_or_role_change_ends_the_users_access_tokens(api, db):
    admin, staff = make_user(db, role=Role.ADMIN), make_user(db, role=Role.STAFF)
    login = api.post("/api/auth/login", json={"email": staff.email, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {login['token']}"}
    assert api.get("/api/me", headers=headers).status_code == 200
    accounts.set_temporary_password(session=db, actor_id=admin.id, user_id=staff.id, password="Temporary pass 987")
    assert staff.is_active  # still an active account: only the revoked session refuses the token
    assert api.get("/api/me", headers=headers).status_code == 401
    login = api.post("/api/auth/login", json={"email": staff.email, "password": "Temporary pass 987"}).json()
    headers = {"Authorization": f"Bearer {login['token']}"}
    accounts.change_role(session=db, actor_id=admin.id, user_id=staff.id, role=Role.ANALYST)
    assert api.get("/api/me", headers=headers).status_code == 401


def test_an_access_token_without_a_session_is_refused(api, client_user):
    now = datetime.now(UTC)
    claims = {"sub": str(client_user.id), "role": "client", "iss": tokens.ISSUER, "exp": now + timedelta(hours=1)}
    unscoped = jwt.encode(claims, tokens.signing_secret(), algorithm=tokens.ALGORITHM)
    answer = api.get("/api/me", headers={"Authorization": f"Bearer {unscoped}"})
    assert answer.status_code == 401


def test_unknown_refresh_token_is_401(api):
    answer = api.post("/api/auth/refresh", json={"refreshToken": "nope"})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "Your saved session has ended; please log in again."


def test_wrong_password_then_lockout_with_the_webs_message(api, client_user):
    wrong = {"email": client_user.email, "password": "not the password 1"}
    for _ in range(4):
        answer = api.post("/api/auth/login", json=wrong)
        assert answer.status_code == 401
        assert answer.json()["detail"] == "That email and password do not match. Check them and try again."
    locked = api.post("/api/auth/login", json=wrong)
    assert locked.status_code == 429
    assert locked.json()["detail"].startswith("Too many failed attempts: logging in with this email is locked")
    assert int(locked.headers["retry-after"]) > 0
    # Even the right password waits out the lock.
    assert api.post("/api/auth/login", json={"email": client_user.email, "password": PASSWORD}).status_code == 429


def test_deactivated_account_cannot_log_in(api, db):
    user = make_user(db, is_active=False)
    answer = api.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert answer.status_code == 403
    assert answer.json()["detail"] == "This account is deactivated. Please contact Avenrae support."


# --- limits ----------------------------------------------------------------------------


def test_requests_per_address_are_limited_with_retry_after(api, monkeypatch):
    monkeypatch.setattr(get_settings(), "api_requests_per_ip", 3)
    statuses = [api.get("/api/practitioners/search", params={"place": "Durban"}).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]
    answer = api.get("/api/practitioners/search", params={"place": "Durban"})
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.json()["detail"].startswith("Too many requests from your network.")


def test_the_address_limit_is_said_before_a_bad_token_and_counts_it(api, db, monkeypatch):
    monkeypatch.setattr(get_settings(), "api_requests_per_ip", 1)
    forged = {"Authorization": "Bearer not-a-token"}
    assert api.get("/api/bookings/my-bookings", headers=forged).status_code == 401
    answer = api.get("/api/bookings/my-bookings", headers=forged)
    assert answer.status_code == 429
    assert answer.json()["detail"].startswith("Too many requests from your network.")


def test_requests_per_token_are_limited(api, db, client_user, monkeypatch):
    monkeypatch.setattr(get_settings(), "api_requests_per_token", 2)
    headers = bearer(client_user, db)
    statuses = [api.get("/api/bookings/my-bookings", headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_a_body_over_the_cap_is_413(api, monkeypatch):
    monkeypatch.setattr(get_settings(), "api_max_body_bytes", 2048)
    answer = api.post(
        "/api/auth/login", content=b"{" + b" " * 4096 + b"}", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("application/problem+json")

    def chunks():
        for _ in range(4):
            yield b" " * 1024

    streamed = api.post("/api/auth/login", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


# --- bad input -------------------------------------------------------------------------


def test_bad_signup_is_422_field_by_field_and_writes_nothing(api, db):
    before = count(db, User)
    answer = api.post(
        "/api/auth/signup",
        json={
            "firstName": "",
            "lastName": "Zulu",
            "email": "not-an-email",
            "password": "short",
            "role": "practitioner",
            "specialization": "wizard",
            "serviceAddress": "Qwzxv Plxq",
        },
    )
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["status"] == 422 and problem["title"] == "Invalid input"
    assert problem["errors"]["specialization"].startswith("Choose a specialization")
    assert count(db, User) == before


def test_bad_signup_fields_use_the_apis_names(api, db):
    answer = api.post(
        "/api/auth/signup",
        json={
            "firstName": "",
            "lastName": "Zulu",
            "email": "not-an-email",
            "password": "short",
            "role": "practitioner",
            "phone": "0821234567",
            "specialization": "healer",
            "serviceAddress": "Qwzxv Plxq",
        },
    )
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert {"firstName", "email", "password", "serviceAddress"} <= set(errors)
    assert errors["password"] == "Password must be at least 10 characters."


def test_a_taken_email_is_409(api, client_user):
    answer = api.post(
        "/api/auth/signup",
        json={
            "firstName": "T",
            "lastName": "N",
            "email": client_user.email.upper(),
            "password": "Sunrise over Durban 7",
            "role": "client",
        },
    )
    assert answer.status_code == 409
    assert answer.json()["detail"].startswith("An account with that email already exists.")


def test_staff_roles_cannot_sign_up(api, db):
    before = count(db, User)
    answer = api.post(
        "/api/auth/signup",
        json={
            "firstName": "T",
            "lastName": "N",
            "email": "boss@example.co.za",
            "password": "Sunrise over Durban 7",
            "role": "admin",
        },
    )
    assert answer.status_code == 403
    assert count(db, User) == before


def test_bad_bookings_are_4xx_and_write_nothing(api, db, practitioner, client_user):
    headers = bearer(client_user, db)
    good = booking_body(api, practitioner)
    before = count(db, Booking)
    cases = [
        ({**good, "sessionSlotId": "not a time"}, 422, "sessionSlotId"),
        ({**good, "sessionSlotId": "10:30"}, 422, "sessionSlotId"),  # not on the grid
        ({**good, "sessionSlotId": "03:00"}, 422, "sessionSlotId"),  # outside working hours
        ({**good, "meetingType": "telepathy"}, 422, "meetingType"),
        ({**good, "notes": "x" * 5000}, 422, "notes"),
        ({**good, "sessionDate": "2001-01-01"}, 422, "sessionDate"),
        ({**good, "practitionerId": "00000000-0000-0000-0000-000000000000"}, 404, None),
        ({**good, "practitionerId": "nope"}, 422, "practitionerId"),
        ({k: v for k, v in good.items() if k != "sessionSlotId"}, 422, "sessionSlotId"),
    ]
    for body, status, field in cases:
        answer = api.post("/api/bookings", json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
        problem = answer.json()
        assert problem["detail"] and "Traceback" not in answer.text
        if field:
            assert field in problem["errors"], (field, problem)
    assert (
        api.post(
            "/api/bookings", content=b"{not json", headers={**headers, "content-type": "application/json"}
        ).status_code
        == 400
    )
    assert count(db, Booking) == before


def test_a_past_time_is_refused(api, db, practitioner, client_user):
    answer = api.post(
        "/api/bookings",
        json={
            "practitionerId": str(practitioner.id),
            "sessionDate": "2020-01-06",
            "sessionSlotId": "2020-01-06T10:00:00+02:00",
            "meetingType": "in_person",
        },
        headers=bearer(client_user, db),
    )
    assert answer.status_code == 422
    assert answer.json()["errors"]["sessionSlotId"] == "That time has already passed."


def test_unverified_practitioners_cannot_be_booked(api, db, client_user):
    from avenrae.models import VerificationStatus
    from tests.factories import make_weekly_hours

    practitioner = make_practitioner(db, verification_status=VerificationStatus.PENDING)
    make_weekly_hours(db, practitioner, {day: [("08:00", "17:00")] for day in range(7)})
    answer = api.post("/api/bookings", json=booking_body(api, practitioner), headers=bearer(client_user, db))
    assert answer.status_code == 403
    assert answer.json()["detail"] == "This practitioner is not verified yet, so they cannot be booked."


def test_search_input_is_checked(api):
    assert api.get("/api/practitioners/search").json()["errors"]["place"].startswith("Choose a place")
    answer = api.get("/api/practitioners/search", params={"latitude": -29.8, "longitude": 31.0, "radius": 9000})
    assert answer.status_code == 422 and "radius" in answer.json()["errors"]
    answer = api.get("/api/practitioners/search", params={"place": "Durban", "limit": 20, "offset": 5})
    assert answer.status_code == 422 and "offset" in answer.json()["errors"]
    assert api.get("/api/practitioners/search", params={"place": "Qwzxv Plxq"}).status_code == 422
    assert (
        api.get("/api/practitioners/search", params={"place": "Durban", "specialization": "wizard"}).status_code == 422
    )


def test_unknown_practitioner_is_404(api):
    answer = api.get("/api/practitioners/00000000-0000-0000-0000-000000000000")
    assert answer.status_code == 404
    assert answer.json()["detail"] == "That practitioner is not taking bookings."


def test_cors_is_off_by_default_and_on_for_configured_origins(monkeypatch, connection):
    from fastapi.testclient import TestClient

    from avenrae.api import standalone

    with TestClient(standalone()) as plain:
        answer = plain.options(
            "/api/practitioners/search",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in answer.headers
    monkeypatch.setattr(get_settings(), "cors_origins", "https://app.avenrae.co.za")
    with TestClient(standalone()) as allowed:
        answer = allowed.options(
            "/api/practitioners/search",
            headers={"Origin": "https://app.avenrae.co.za", "Access-Control-Request-Method": "GET"},
        )
        assert answer.headers["access-control-allow-origin"] == "https://app.avenrae.co.za"
        other = allowed.options(
            "/api/practitioners/search",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"


BROKEN = "Text cannot contain a broken character (half of an emoji: a lone UTF-16 surrogate)."


def test_half_an_emoji_is_refused_in_words_not_a_server_error(api, db, client_user):
    """Found by a client-app developer's trial: an app that cuts a field mid-emoji sends a lone
    surrogate (valid JSON, "\\ud83d"), which PostgreSQL's text cannot hold: it was a 500."""
    headers = bearer(client_user, db)
    for method, path, body in (
        ("PATCH", "/api/me", '{"firstName": "bad \\ud83d text"}'),
        ("POST", "/api/auth/login", '{"email": "\\ud800@x.co", "password": "a"}'),
        ("POST", "/api/auth/refresh", '{"refreshToken": "bad \\udc00 text"}'),
    ):
        answer = api.request(method, path, content=body, headers={**headers, "Content-Type": "application/json"})
        assert (answer.status_code, answer.json()["detail"]) == (422, BROKEN), path
    whole = api.request(
        "PATCH", "/api/me", content='{"firstName": "Sipho \\ud83d\\ude00"}',  # a whole emoji, escaped
        headers={**headers, "Content-Type": "application/json"},
    )  # fmt: skip
    assert whole.status_code == 200 and whole.json()["firstName"] == "Sipho \U0001f600"
    kept = api.request(
        "PATCH", "/api/me", content='{"firstName": "Sipho \\\\ud83d"}',  # an escaped backslash: plain text
        headers={**headers, "Content-Type": "application/json"},
    )  # fmt: skip
    assert kept.status_code == 200 and kept.json()["firstName"] == "Sipho \\ud83d"


def test_nul_characters_and_huge_offsets_are_refused_not_server_errors(api, db, client_user):
    login = api.post("/api/auth/login", json={"email": "a\u0000@example.co.za", "password": "x"})
    assert login.status_code == 422
    assert login.json()["detail"] == "Text cannot contain NUL characters (\\u0000)."
    assert api.get("/api/practitioners/search", params={"place": "Dur\u0000ban"}).status_code == 422
    huge = api.get("/api/notifications", params={"offset": 10**30}, headers=bearer(client_user, db))
    assert huge.status_code == 422 and "offset" in huge.json()["errors"]
