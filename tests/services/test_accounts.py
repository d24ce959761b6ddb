"""Accounts: sign-up, login and lockout, passwords, profiles, administration."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from avenrae.db import session_scope
from avenrae.models import AuditLog, Client, LoginAttempt, MeetingType, Practitioner, RefreshToken, Role, User
from avenrae.services import accounts, tokens
from avenrae.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from avenrae.services.validation import FieldError
from tests.factories import PASSWORD, make_client, make_practitioner, make_user
from tests.plans import explain, indexes_used

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
GOOD_PASSWORD = "Sunrise over Durban 7"


def client_form(**changes) -> accounts.SignUp:
    values = dict(
        role=Role.CLIENT,
        email="Lindiwe.Dube@Example.co.za",
        password=GOOD_PASSWORD,
        first_name="Lindiwe",
        last_name="Dube",
        phone="082 123 4567",
    )
    values.update(changes)
    return accounts.SignUp(**values)


def practitioner_form(**changes) -> accounts.SignUp:
    values = dict(
        role=Role.PRACTITIONER,
        email="gogo.mkhize@example.co.za",
        password=GOOD_PASSWORD,
        first_name="Nomsa",
        last_name="Mkhize",
        phone="+27 71 555 0101",
        specialization="healer",
        street_address="14 Florida Road",
        place="durban",
        bio="Traditional healer.",
        rate_per_session="450",
        session_duration_minutes=60,
        meeting_types=[MeetingType.IN_PERSON],
    )
    values.update(changes)
    return accounts.SignUp(**values)


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


# --- sign-up -------------------------------------------------------------------------


def test_client_sign_up_creates_user_and_profile(db):
    user = accounts.sign_up(session=db, form=client_form())
    assert user.email == "Lindiwe.Dube@example.co.za"
    assert user.phone == "+27821234567"
    assert user.role == Role.CLIENT
    assert user.password_hash.startswith("$2b$12$")
    assert accounts.verify_password(GOOD_PASSWORD, user.password_hash)
    assert db.scalar(select(Client).where(Client.user_id == user.id)) is not None


@pytest.mark.parametrize(
    ("street", "place", "found"),
    [
        ("1234 Mangosuthu Highway, Umlazi", "Durban", "Umlazi"),  # the township in the address, not Durban's centre
        ("5 Long Street", "Cape Town", "Cape Town"),
        ("10 Durban Road", "Bellville", "Bellville"),  # a street named after a town far away moves nothing
        ("12 Vilakazi Street, Nowhereville", "Soweto", "Soweto"),  # an address that cannot be placed
    ],
)
def test_a_street_address_that_names_a_nearby_place_places_the_practitioner_there(db, street, place, found):
    user = accounts.sign_up(session=db, form=practitioner_form(street_address=street, place=place))
    practitioner = db.scalar(select(Practitioner).where(Practitioner.user_id == user.id))
    assert practitioner.city == found
    assert practitioner.location_note.startswith(found)


@pytest.mark.parametrize("place", ["durban", "Durban, South Africa", "DURBAN", "eThekwini"])
def test_practitioner_sign_up_geocodes_the_town(db, place):
    user = accounts.sign_up(session=db, form=practitioner_form(place=place))
    practitioner = db.scalar(select(Practitioner).where(Practitioner.user_id == user.id))
    assert (practitioner.city, practitioner.province) == ("Durban", "KwaZulu-Natal")
    assert practitioner.service_address == "14 Florida Road, Durban"
    assert practitioner.rate_per_session == Decimal("450.00")
    assert (practitioner.offers_in_person, practitioner.offers_online) == (True, False)
    distance = db.scalar(
        text(
            "SELECT ST_Distance(location, ST_MakePoint(31.0292, -29.8579)::geography) FROM practitioners WHERE id = :id"
        ),
        {"id": practitioner.id},
    )
    assert distance < 100
    assert practitioner.verification_status == "unverified"


def test_unknown_town_is_refused_with_suggestions_and_nothing_written(db):
    with pytest.raises(InvalidInput) as refused:
        accounts.sign_up(session=db, form=practitioner_form(place="Bloemfontien"))
    assert "Bloemfontein, Free State" in refused.value.problems["place"]
    assert count(db, User) == 0


def test_every_problem_is_reported_at_once(db):
    form = practitioner_form(
        email="not-an-email",
        first_name=" ",
        phone="12345",
        password="short",
        place="",
        rate_per_session="-5",
        session_duration_minutes=5,
        meeting_types=[],
        specialization=None,
    )
    with pytest.raises(InvalidInput) as refused:
        accounts.sign_up(session=db, form=form)
    assert set(refused.value.problems) == {
        "email",
        "first_name",
        "phone",
        "password",
        "place",
        "rate_per_session",
        "session_duration_minutes",
        "meeting_types",
        "specialization",
    }
    assert count(db, User) == 0


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Abc12", "at least 10"),
        ("lindiwe.dube@example.co.za", "email"),
        ("LINDIWE.DUBE@EXAMPLE.CO.ZA", "email"),
        ("lindiwe.dube", "email"),
        ("abcdefghijklmn", "two of"),
        ("12345678901234", "two of"),
        ("x" * 1025, "at most"),
        ("password12", "This is a very common password."),  # long enough, two kinds: still guessed at once
        ("qwerty1234", "harder to guess"),
        ("Lindiwe2026", "harder to guess"),  # the name in the email, and a year
        ("Lindiwe2026!", "harder to guess"),  # ... with a symbol at the end, as sites ask
        ("#Lindiwe2026", "harder to guess"),
    ],
)
def test_password_rules(db, password, rule):
    with pytest.raises(InvalidInput) as refused:
        accounts.sign_up(session=db, form=client_form(password=password))
    assert rule in refused.value.problems["password"]


@pytest.mark.parametrize("password", ["Sipho2026!!", "Ndlovu2026", "SiphoNdlovu1", "!!Ndlovu2026"])
def test_the_persons_own_names_are_guessable_too(password):
    """Found in a trial: "Sipho2026!!" was accepted for Sipho Ndlovu (sipho@...: only the
    email's words counted, and one symbol at each end was taken off)."""
    with pytest.raises(FieldError, match="harder to guess"):
        accounts.check_password(password, email="sn@example.co.za", names=("Sipho", "Ndlovu"))
    assert accounts.check_password("Jacaranda season 2031", email="sn@example.co.za", names=("Sipho", "Ndlovu"))


def test_a_password_of_many_symbols_is_not_judged_without_them():
    assert accounts.check_password("#$%^&*()_+Ab1x", email="lindiwe.dube@example.co.za") == "#$%^&*()_+Ab1x"


def test_long_passphrases_count_past_bcrypts_72_bytes():
    base = "correct horse battery staple " * 3  # 87 characters
    stored = accounts.hash_password(base + "one", rounds=4)
    assert accounts.verify_password(base + "one", stored)
    assert not accounts.verify_password(base + "two", stored)


def test_email_taken_in_another_case_is_a_conflict(db):
    accounts.sign_up(session=db, form=client_form())
    with pytest.raises(Conflict, match="already exists"):
        accounts.sign_up(session=db, form=client_form(email="LINDIWE.DUBE@example.co.za"))
    assert count(db, User) == 1


def test_a_look_alike_of_a_taken_email_is_that_email(db):
    # A full-width ｌ reads as l in staff's pickers ("Name <email>"): not a second account.
    accounts.sign_up(session=db, form=client_form())
    with pytest.raises(Conflict, match="already exists"):
        accounts.sign_up(session=db, form=client_form(email="\uff4cindiwe.dube@example.co.za"))
    with pytest.raises(Conflict, match="already exists"):
        accounts.sign_up(session=db, form=client_form(email="lindiwe.dube@\uff45xample.co.za"))
    assert count(db, User) == 1


def test_staff_cannot_sign_up_themselves(db):
    with pytest.raises(PermissionDenied):
        accounts.sign_up(session=db, form=client_form(role=Role.ADMIN))


def test_names_are_stored_as_typed(db):
    user = accounts.sign_up(session=db, form=client_form(first_name="*Lindiwe* & 'Dube' [x](y)"))
    assert user.first_name == "*Lindiwe* & 'Dube' [x](y)"


def test_a_sign_up_that_fails_half_way_leaves_no_rows(db, monkeypatch):
    def broken(user, details):
        raise RuntimeError("disk full")

    monkeypatch.setattr(accounts, "_new_practitioner", broken)
    with pytest.raises(RuntimeError), session_scope() as session:
        accounts.sign_up(session=session, form=practitioner_form())
    assert count(db, User) == 0
    assert count(db, Practitioner) == 0


# --- login -----------------------------------------------------------------------------


def test_login_issues_tokens_and_records_the_attempt(db):
    user = make_client(db, email="Sipho@example.co.za")
    result = accounts.login(session=db, email="  sipho@EXAMPLE.co.za ", password=PASSWORD, now=NOW)
    assert result.user.id == user.id
    claims = tokens.decode_access(result.tokens.access_token, now=NOW)
    assert (claims.user_id, claims.role) == (user.id, Role.CLIENT)
    assert claims.expires_at == NOW + timedelta(hours=24)
    stored = db.scalars(select(RefreshToken.token_hash)).all()
    assert stored == [tokens.hash_token(result.tokens.refresh_token)]
    assert result.tokens.refresh_token not in stored
    attempt = db.scalar(select(LoginAttempt))
    assert (attempt.email, attempt.succeeded, attempt.reason) == ("sipho@example.co.za", True, "ok")
    assert db.get(User, user.id).last_login_at == NOW


def test_wrong_password_and_unknown_email_get_the_same_answer(db):
    make_client(db, email="sipho@example.co.za")
    with pytest.raises(accounts.InvalidCredentials) as wrong:
        accounts.login(session=db, email="sipho@example.co.za", password="Not the password 1", now=NOW)
    with pytest.raises(accounts.InvalidCredentials) as unknown:
        accounts.login(session=db, email="nobody@example.co.za", password="Not the password 1", now=NOW)
    assert str(wrong.value) == str(unknown.value)
    reasons = db.scalars(select(LoginAttempt.reason).order_by(LoginAttempt.email)).all()
    assert reasons == ["unknown_email", "bad_password"]


def test_unknown_email_still_checks_a_bcrypt_hash(db, monkeypatch):
    checked = []
    real = accounts.verify_password
    monkeypatch.setattr(accounts, "verify_password", lambda p, h: checked.append(h) or real(p, h))
    with pytest.raises(accounts.InvalidCredentials):
        accounts.login(session=db, email="nobody@example.co.za", password="Whatever it is 1", now=NOW)
    assert len(checked) == 1 and checked[0].startswith("$2b$12$")


def fail(db, email, at, times=1):
    for i in range(times):
        with pytest.raises(accounts.LoginRefused):
            accounts.login(session=db, email=email, password="Wrong password 99", now=at + timedelta(seconds=i))


@pytest.mark.parametrize("email", ["sipho@example.co.za", "nobody@example.co.za"])
def test_five_failures_in_fifteen_minutes_lock_for_fifteen_minutes(db, email):
    make_client(db, email="sipho@example.co.za")
    fail(db, email, NOW, times=4)
    with pytest.raises(accounts.AccountLocked) as locked:
        accounts.login(session=db, email=email, password="Wrong password 99", now=NOW + timedelta(minutes=10))
    assert locked.value.until == NOW + timedelta(minutes=25)
    assert "locked" in str(locked.value) and "exist" not in str(locked.value)
    # Even the right password is refused while locked, and the refusal is recorded.
    with pytest.raises(accounts.AccountLocked):
        accounts.login(session=db, email=email, password=PASSWORD, now=NOW + timedelta(minutes=24))
    assert db.scalar(select(func.count()).where(LoginAttempt.reason == "locked")) == 1
    if email.startswith("sipho"):
        after = accounts.login(session=db, email=email, password=PASSWORD, now=NOW + timedelta(minutes=25, seconds=1))
        assert after.user.email == email


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(db):
    make_client(db, email="sipho@example.co.za")
    fail(db, "sipho@example.co.za", NOW, times=4)
    fail(db, "sipho@example.co.za", NOW + timedelta(minutes=16))
    assert (
        accounts.login(session=db, email="sipho@example.co.za", password=PASSWORD, now=NOW + timedelta(minutes=17)).user
        is not None
    )


def test_a_successful_login_clears_earlier_failures(db):
    make_client(db, email="sipho@example.co.za")
    fail(db, "sipho@example.co.za", NOW, times=4)
    accounts.login(session=db, email="sipho@example.co.za", password=PASSWORD, now=NOW + timedelta(minutes=1))
    with pytest.raises(accounts.InvalidCredentials):
        accounts.login(
            session=db, email="sipho@example.co.za", password="Wrong password 99", now=NOW + timedelta(minutes=2)
        )


@pytest.mark.parametrize("change", [{"is_active": False}, {"deleted_at": NOW}])
def test_deactivated_or_deleted_users_cannot_log_in(db, change):
    make_client(db, email="sipho@example.co.za", **change)
    with pytest.raises(accounts.AccountDisabled):
        accounts.login(session=db, email="sipho@example.co.za", password=PASSWORD, now=NOW)


def test_a_refused_login_is_recorded_when_caught_inside_the_scope(db):
    with session_scope() as session, pytest.raises(accounts.InvalidCredentials):
        accounts.login(session=session, email="nobody@example.co.za", password="Whatever it is 1")
    assert count(db, LoginAttempt) == 1


# --- own account -------------------------------------------------------------------------


def test_change_password_needs_the_old_one_and_signs_out_everywhere(db):
    user = make_client(db)
    pair = tokens.issue(session=db, user=user)
    with pytest.raises(InvalidInput) as wrong_old:
        accounts.change_password(session=db, user_id=user.id, old_password="nope", new_password=GOOD_PASSWORD)
    assert "current password" in wrong_old.value.problems["old_password"]
    with pytest.raises(InvalidInput):
        accounts.change_password(session=db, user_id=user.id, old_password=PASSWORD, new_password="short")
    with pytest.raises(InvalidInput, match="different"):
        accounts.change_password(session=db, user_id=user.id, old_password=PASSWORD, new_password=PASSWORD)
    accounts.change_password(session=db, user_id=user.id, old_password=PASSWORD, new_password=GOOD_PASSWORD)
    assert accounts.verify_password(GOOD_PASSWORD, db.get(User, user.id).password_hash)
    with pytest.raises(tokens.TokenError):
        tokens.rotate(session=db, refresh_token=pair.refresh_token)


def test_guessing_the_current_password_locks_as_failed_logins_do(db):
    # Someone at an unlocked browser (or with a stolen token) guessing the password to take
    # the account over: each wrong guess is a failed attempt for the email, kept whatever the
    # caller does, and five in fifteen minutes lock the change and the login alike.
    user = make_client(db, email="sipho@example.co.za")
    for _ in range(4):
        with pytest.raises(InvalidInput):
            accounts.change_password(
                session=db, user_id=user.id, old_password="Guess 12345", new_password=GOOD_PASSWORD
            )
    with pytest.raises(accounts.AccountLocked) as locked:
        accounts.change_password(session=db, user_id=user.id, old_password="Guess 12345", new_password=GOOD_PASSWORD)
    assert str(locked.value).startswith("Too many failed attempts: changing the password of this account is locked")
    with pytest.raises(accounts.AccountLocked):
        accounts.change_password(session=db, user_id=user.id, old_password=PASSWORD, new_password=GOOD_PASSWORD)
    with pytest.raises(accounts.AccountLocked):
        accounts.login(session=db, email="sipho@example.co.za", password=PASSWORD)
    assert accounts.verify_password(PASSWORD, db.get(User, user.id).password_hash)
    with session_scope() as elsewhere:  # recorded in transactions of their own
        assert (
            elsewhere.scalar(
                select(func.count()).where(
                    LoginAttempt.email == "sipho@example.co.za", LoginAttempt.reason == "bad_password"
                )
            )
            == 5
        )


def test_practitioner_profile_update_moves_them_when_the_town_changes(db):
    practitioner = make_practitioner(db)
    form = accounts.PractitionerProfileUpdate(
        specialization="counselor",
        street_address="3 Long Street",
        place="Kimberley",
        bio="Counsellor.",
        rate_per_session="600.50",
        session_duration_minutes="45",
        meeting_types=[MeetingType.ONLINE],
    )
    accounts.update_practitioner_profile(session=db, user_id=practitioner.user_id, form=form)
    db.refresh(practitioner)
    assert (practitioner.city, practitioner.province) == ("Kimberley", "Northern Cape")
    assert practitioner.rate_per_session == Decimal("600.50")
    latitude = db.scalar(
        text("SELECT ST_Y(location::geometry) FROM practitioners WHERE id = :id"), {"id": practitioner.id}
    )
    assert latitude == pytest.approx(-28.73, abs=0.05)
    profile = accounts.get_practitioner_profile(session=db, user_id=practitioner.user_id)
    assert profile.street_address == "3 Long Street"


def test_profile_update_refuses_bad_input_and_keeps_the_old_values(db):
    user = make_client(db, first_name="Sipho")
    with pytest.raises(InvalidInput):
        accounts.update_profile(
            session=db, user_id=user.id, form=accounts.ProfileUpdate(first_name="", last_name="N", phone="1")
        )
    assert db.get(User, user.id).first_name == "Sipho"


# --- administration ----------------------------------------------------------------------


def test_only_admins_administer(db):
    staff = make_user(db, role=Role.STAFF)
    target = make_user(db, role=Role.ANALYST)
    with pytest.raises(PermissionDenied):
        accounts.set_active(session=db, actor_id=staff.id, user_id=target.id, active=False, reason="test")
    with pytest.raises(PermissionDenied):
        accounts.create_staff_user(session=db, actor_id=staff.id, form=staff_form())


def staff_form(**changes) -> accounts.StaffUserCreate:
    values = dict(
        role=Role.STAFF,
        email="pieter@avenrae.co.za",
        first_name="Pieter",
        last_name="Venter",
        temporary_password="Temporary pass 42",
    )
    values.update(changes)
    return accounts.StaffUserCreate(**values)


def audit_rows(db, action):
    return db.scalars(select(AuditLog).where(AuditLog.action == action)).all()


def test_admin_creates_staff_who_must_change_their_password(db):
    admin = make_user(db, role=Role.ADMIN)
    user = accounts.create_staff_user(session=db, actor_id=admin.id, form=staff_form())
    assert user.must_change_password
    [entry] = audit_rows(db, "user.create")
    assert (entry.actor_id, entry.target_id) == (admin.id, str(user.id))
    assert entry.after["role"] == "staff" and "Temporary pass 42" not in str(entry.after)
    with pytest.raises(InvalidInput):
        accounts.create_staff_user(session=db, actor_id=admin.id, form=staff_form(role=Role.CLIENT, email="x@y.za"))
    with pytest.raises(Conflict):
        accounts.create_staff_user(session=db, actor_id=admin.id, form=staff_form(email="PIETER@avenrae.co.za"))


def test_change_role_is_audited_and_guarded(db):
    admin = make_user(db, role=Role.ADMIN)
    staff = make_user(db, role=Role.STAFF)
    accounts.change_role(session=db, actor_id=admin.id, user_id=staff.id, role=Role.ANALYST, reason="moved team")
    [entry] = audit_rows(db, "user.change_role")
    assert (entry.before["role"], entry.after["role"], entry.reason) == ("staff", "analyst", "moved team")
    with pytest.raises(PermissionDenied, match="own role"):
        accounts.change_role(session=db, actor_id=admin.id, user_id=admin.id, role=Role.STAFF)
    client = make_client(db)
    with pytest.raises(InvalidInput):
        accounts.change_role(session=db, actor_id=admin.id, user_id=client.id, role=Role.STAFF)


def test_admins_cannot_lock_themselves_out(db):
    # An admin can neither demote nor deactivate themselves, so some admin always remains.
    admin = make_user(db, role=Role.ADMIN)
    with pytest.raises(PermissionDenied, match="own account"):
        accounts.set_active(session=db, actor_id=admin.id, user_id=admin.id, active=False, reason="leaving")
    with pytest.raises(PermissionDenied, match="own role"):
        accounts.change_role(session=db, actor_id=admin.id, user_id=admin.id, role=Role.STAFF)
    colleague = make_user(db, role=Role.ADMIN)
    accounts.change_role(session=db, actor_id=colleague.id, user_id=admin.id, role=Role.STAFF)
    assert db.get(User, admin.id).role == Role.STAFF
    with pytest.raises(PermissionDenied):  # no longer an admin
        accounts.set_active(session=db, actor_id=admin.id, user_id=colleague.id, active=False, reason="test")


def test_deactivation_signs_out_and_reactivation_restores(db):
    admin = make_user(db, role=Role.ADMIN)
    client = make_client(db, email="sipho@example.co.za")
    pair = tokens.issue(session=db, user=client)
    accounts.set_active(session=db, actor_id=admin.id, user_id=client.id, active=False, reason="chargebacks")
    with pytest.raises(tokens.TokenError):
        tokens.rotate(session=db, refresh_token=pair.refresh_token)
    with pytest.raises(accounts.AccountDisabled):
        accounts.login(session=db, email="sipho@example.co.za", password=PASSWORD)
    accounts.set_active(session=db, actor_id=admin.id, user_id=client.id, active=True)
    assert accounts.login(session=db, email="sipho@example.co.za", password=PASSWORD).user.id == client.id
    assert [e.action for e in db.scalars(select(AuditLog).order_by(AuditLog.created_at, AuditLog.action))] == [
        "user.activate",
        "user.deactivate",
    ]


@pytest.mark.parametrize("reason", ["", "   \n\t "])
def test_deactivating_needs_a_reason(db, reason):
    admin = make_user(db, role=Role.ADMIN)
    client = make_client(db, email="zanele@example.co.za")
    pair = tokens.issue(session=db, user=client)
    with pytest.raises(InvalidInput) as refused:
        accounts.set_active(session=db, actor_id=admin.id, user_id=client.id, active=False, reason=reason)
    assert refused.value.problems == {
        "reason": "Say why you are deactivating this account; the audit log keeps the reason."
    }
    db.expire_all()
    assert db.get(User, client.id).is_active
    assert tokens.rotate(session=db, refresh_token=pair.refresh_token)  # still logged in
    assert audit_rows(db, "user.deactivate") == []


def test_the_deactivation_reason_is_kept_trimmed(db):
    admin = make_user(db, role=Role.ADMIN)
    client = make_client(db)
    accounts.set_active(session=db, actor_id=admin.id, user_id=client.id, active=False, reason="  fraud report \n")
    [entry] = audit_rows(db, "user.deactivate")
    assert entry.reason == "fraud report"
    with pytest.raises(InvalidInput, match="cut 1"):
        accounts.deactivation_reason("x" * (accounts.DEACTIVATION_REASON_MAX_LENGTH + 1))


def test_temporary_password_replaces_the_old_one(db):
    admin = make_user(db, role=Role.ADMIN)
    client = make_client(db, email="sipho@example.co.za")
    accounts.set_temporary_password(session=db, actor_id=admin.id, user_id=client.id, password="Fresh start 2026")
    assert db.get(User, client.id).must_change_password
    with pytest.raises(accounts.InvalidCredentials):
        accounts.login(session=db, email="sipho@example.co.za", password=PASSWORD)
    result = accounts.login(session=db, email="sipho@example.co.za", password="Fresh start 2026")
    assert result.user.must_change_password
    [entry] = audit_rows(db, "user.temporary_password")
    assert "Fresh start" not in str(entry.before) + str(entry.after)
    with pytest.raises(InvalidInput):
        accounts.set_temporary_password(session=db, actor_id=admin.id, user_id=client.id, password="weak")


def test_missing_user_is_not_found(db):
    admin = make_user(db, role=Role.ADMIN)
    import uuid

    with pytest.raises(NotFound):
        accounts.set_active(session=db, actor_id=admin.id, user_id=uuid.uuid4(), active=False, reason="test")


def test_search_by_words_role_and_pages(db):
    make_client(db, first_name="Thandi", last_name="Nkosi", email="thandi@example.co.za")
    make_client(db, first_name="Thandeka", last_name="Zulu", email="tz@example.co.za")
    make_user(db, role=Role.STAFF, first_name="Thandi", last_name="Mokoena", email="t.mokoena@avenrae.co.za")
    make_client(db, first_name="100%", last_name="Real_Name", email="odd@example.co.za")
    assert {r.email for r in accounts.search_users(session=db, query="thandi").rows} == {
        "thandi@example.co.za",
        "t.mokoena@avenrae.co.za",
    }
    assert [r.email for r in accounts.search_users(session=db, query="THANDI nkosi").rows] == ["thandi@example.co.za"]
    assert [r.email for r in accounts.search_users(session=db, query="thand", role=Role.STAFF).rows] == [
        "t.mokoena@avenrae.co.za"
    ]
    assert [r.email for r in accounts.search_users(session=db, query="100%").rows] == ["odd@example.co.za"]
    assert accounts.search_users(session=db, query="_").total == 1
    first = accounts.search_users(session=db, page_size=3)
    second = accounts.search_users(session=db, page=2, page_size=3)
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (4, 2, 3, 1)
    assert not {r.id for r in first.rows} & {r.id for r in second.rows}
    with pytest.raises(InvalidInput):
        accounts.search_users(session=db, page=0)


def test_search_can_use_the_trigram_index(db):
    make_client(db)
    db.execute(text("SET LOCAL enable_seqscan = off"))
    plan = explain(db, "SELECT id FROM users WHERE search_text LIKE '%thandi%'")
    assert "ix_users_search_text_trgm" in indexes_used(plan)


def test_a_client_keeps_a_home_place_that_search_opens_on(db):
    client = make_client(db)
    assert accounts.preferred_place(session=db, user_id=client.id) is None
    for typed, named in (("Jozi", "Johannesburg, Gauteng"), ("4066", "Umlazi, KwaZulu-Natal")):
        assert accounts.set_home_place(session=db, user_id=client.id, place=typed).label == named
        assert accounts.preferred_place(session=db, user_id=client.id) == named
    with pytest.raises(InvalidInput) as refused:
        accounts.set_home_place(session=db, user_id=client.id, place="Qwertyville")
    assert "We could not find “Qwertyville” in South Africa" in refused.value.problems["place"]
    assert accounts.preferred_place(session=db, user_id=client.id) == "Umlazi, KwaZulu-Natal"  # unchanged
    assert accounts.set_home_place(session=db, user_id=client.id, place="  ") is None
    assert accounts.preferred_place(session=db, user_id=client.id) is None
    with pytest.raises(PermissionDenied):
        accounts.set_home_place(session=db, user_id=make_practitioner(db).user_id, place="Umlazi")
