"""Every operation of the OpenAPI document, called anonymously and as each role: allowed, or
401 (anonymous) / 403 (wrong role, not one's own), never a server error."""

from __future__ import annotations

import uuid

import pytest

from avenrae.models import Role
from tests.api.conftest import bearer, booking_day
from tests.factories import make_booking, make_user

ANYONE = {"anonymous", "client", "practitioner", "staff", "analyst", "admin"}
LOGGED_IN = ANYONE - {"anonymous"}
OPERATORS = {"staff", "admin"}
BOOKING_PARTIES = {"client", "practitioner"} | OPERATORS

# These answer 401 to the (wrong) credentials in their body, whoever sends them.
CHECK_CREDENTIALS = {("POST", "/auth/login"), ("POST", "/auth/refresh")}
# Who may use each operation (everyone else: 401 when anonymous, 403 when logged in).
ALLOWED = {
    ("POST", "/auth/signup"): ANYONE,
    ("POST", "/auth/login"): ANYONE,
    ("GET", "/auth/verify"): LOGGED_IN,
    ("POST", "/auth/refresh"): ANYONE,
    ("POST", "/auth/logout"): ANYONE,
    ("POST", "/auth/forgot-password"): ANYONE,
    ("POST", "/auth/reset-password"): ANYONE,
    ("GET", "/practitioners/search"): ANYONE,
    ("GET", "/practitioners/{practitioner_id}"): ANYONE,
    ("GET", "/practitioners/{practitioner_id}/availability"): ANYONE,
    ("POST", "/bookings"): {"client"} | OPERATORS,
    ("GET", "/bookings/my-bookings"): BOOKING_PARTIES,
    ("GET", "/bookings/{booking_id}"): BOOKING_PARTIES,
    ("GET", "/bookings/{booking_id}/cancellation"): BOOKING_PARTIES,
    ("POST", "/bookings/{booking_id}/cancel"): BOOKING_PARTIES,
    ("POST", "/bookings/{booking_id}/reschedule"): BOOKING_PARTIES,
    ("POST", "/bookings/{booking_id}/complete"): {"practitioner"} | OPERATORS,
    ("POST", "/bookings/{booking_id}/no-show"): {"practitioner"} | OPERATORS,
    ("POST", "/bookings/{booking_id}/pay"): {"client"} | OPERATORS,
    ("POST", "/bookings/{booking_id}/pay-by-eft"): {"client"} | OPERATORS,
    ("POST", "/bookings/{booking_id}/payment-intent"): {"client"} | OPERATORS,
    ("GET", "/bookings/{booking_id}/payment"): BOOKING_PARTIES,
    ("GET", "/practice/schedule"): {"practitioner"},
    ("PUT", "/practice/weekly-hours"): {"practitioner"},
    ("PUT", "/practice/special-dates/{on_date}"): {"practitioner"},
    ("POST", "/practice/time-off"): {"practitioner"},
    ("DELETE", "/practice/time-off/{time_off_id}"): {"practitioner"},
    ("PUT", "/practice/rules"): {"practitioner"},
    ("GET", "/practice/verification"): {"practitioner"},
    ("GET", "/practice/payouts"): {"practitioner"},
    ("PUT", "/practice/payout-account"): {"practitioner"},
    ("GET", "/me"): LOGGED_IN,
    ("PATCH", "/me"): LOGGED_IN,
    ("POST", "/me/password"): LOGGED_IN,
    ("POST", "/reviews"): {"client"},
    ("GET", "/reviews/mine"): {"client"},
    ("GET", "/notifications"): LOGGED_IN,
    ("POST", "/notifications/read"): LOGGED_IN,
    ("GET", "/staff/bookings"): OPERATORS,
}


def test_the_matrix_names_every_operation(api):
    document = api.get("/api/openapi.json").json()
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert operations == set(ALLOWED)


@pytest.fixture
def world(api, db, practitioner, client_user):
    """A pending booking of client_user with practitioner, and one user of each staff role."""
    from datetime import UTC, datetime, timedelta

    booking = make_booking(
        db,
        practitioner=practitioner,
        client=client_user,
        status="pending",
        start=datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=5),
        hold_expires_at=datetime.now(UTC) + timedelta(minutes=30),
    )
    users = {
        "client": client_user,
        "practitioner": practitioner.user,
        **{role.value: make_user(db, role=role) for role in (Role.STAFF, Role.ANALYST, Role.ADMIN)},
    }
    day = booking_day(4)
    slot = f"{day.isoformat()}T11:00:00+02:00"
    bodies = {
        ("POST", "/auth/signup"): {
            "firstName": "M",
            "lastName": "X",
            "email": f"m{uuid.uuid4().hex[:6]}@example.co.za",
            "password": "Sunrise over Durban 7",
            "role": "client",
        },
        ("POST", "/auth/login"): {"email": "nobody@example.co.za", "password": "x"},
        ("POST", "/auth/refresh"): {"refreshToken": "unknown"},
        ("POST", "/auth/logout"): {"refreshToken": "unknown"},
        ("POST", "/auth/forgot-password"): {"email": "nobody@example.co.za"},
        ("POST", "/auth/reset-password"): {"token": "unknown", "password": "Sunrise over Durban 7"},
        ("POST", "/bookings"): {
            "practitionerId": str(practitioner.id),
            "sessionDate": day.isoformat(),
            "sessionSlotId": slot,
            "meetingType": "in_person",
            "clientId": str(client_user.id),
        },
        ("POST", "/bookings/{booking_id}/cancel"): {"reason": "Testing access"},
        ("POST", "/bookings/{booking_id}/reschedule"): {"sessionDate": day.isoformat(), "sessionSlotId": slot},
        ("PUT", "/practice/weekly-hours"): {
            "ranges": [{"dayOfWeek": 0, "start": "09:00", "end": "12:00"}],
            "bookingsInTheWay": "keep",
        },
        ("PUT", "/practice/special-dates/{on_date}"): {"ranges": [{"start": "10:00", "end": "14:00"}]},
        ("POST", "/practice/time-off"): {
            "firstDay": booking_day(30).isoformat(),
            "lastDay": booking_day(30).isoformat(),
        },
        ("PUT", "/practice/rules"): {
            "timeZone": "Africa/Johannesburg",
            "bufferMinutes": 0,
            "minNoticeMinutes": 60,
            "bookingHorizonDays": 60,
        },
        ("PUT", "/practice/payout-account"): {
            "bankName": "FNB",
            "accountHolder": "Same Person",
            "accountNumber": "62001234567",
            "branchCode": "250655",
            "password": "Sunrise over Durban 7",
        },
        ("PATCH", "/me"): {"firstName": "Same", "lastName": "Person", "phone": "082 123 4567"},
        ("POST", "/me/password"): {"currentPassword": "wrong", "newPassword": "Whatever 12345"},
        ("POST", "/reviews"): {"bookingId": str(booking.id), "rating": 5, "comment": "Fine."},
        ("POST", "/notifications/read"): {},
    }
    params = {
        ("GET", "/practitioners/search"): {"place": "Durban"},
        ("GET", "/practitioners/{practitioner_id}/availability"): {"date": day.isoformat()},
    }
    ids = {
        "practitioner_id": str(practitioner.id),
        "booking_id": str(booking.id),
        "time_off_id": str(uuid.uuid4()),
        "on_date": booking_day(20).isoformat(),
    }
    return users, bodies, params, ids


@pytest.mark.parametrize("who", sorted(ANYONE))
def test_every_operation_for_every_role(api, db, world, who):
    users, bodies, params, ids = world
    headers = {} if who == "anonymous" else bearer(users[who], db)
    for (method, path), allowed in ALLOWED.items():
        url = "/api" + path.format(**ids)
        answer = api.request(
            method, url, json=bodies.get((method, path)), params=params.get((method, path)), headers=headers
        )
        where = f"{who} {method} {path}: {answer.status_code} {answer.text[:200]}"
        assert answer.status_code < 500, where
        if who in allowed:
            assert answer.status_code not in (401, 403) or (method, path) in CHECK_CREDENTIALS, where
        elif who == "anonymous":
            assert answer.status_code == 401, where
        else:
            assert answer.status_code == 403, where


# A user an admin created or reset has a temporary password: as on the web, nothing but
# choosing their own password (and reading who they are) until they do.
WITH_A_TEMPORARY_PASSWORD = {("GET", "/me"), ("POST", "/me/password"), ("GET", "/auth/verify")}


def test_a_temporary_password_opens_nothing_but_the_password_change(api, db, world):
    users, bodies, params, ids = world
    staff = users["staff"]
    staff.must_change_password = True
    db.flush()
    headers = bearer(staff, db)
    for (method, path), allowed in ALLOWED.items():
        if allowed == ANYONE or (method, path) in CHECK_CREDENTIALS:
            continue
        answer = api.request(
            method,
            "/api" + path.format(**ids),
            json=bodies.get((method, path)),
            params=params.get((method, path)),
            headers=headers,
        )
        where = f"{method} {path}: {answer.status_code} {answer.text[:200]}"
        if (method, path) in WITH_A_TEMPORARY_PASSWORD:
            assert answer.status_code not in (401, 403), where
        else:
            assert answer.status_code == 403, where
            assert answer.json()["detail"] == (
                "This account has a temporary password: choose your own first (POST /api/me/password)."
            ), where
    assert api.get("/api/me", headers=headers).json()["mustChangePassword"] is True
