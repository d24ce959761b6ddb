"""Sessions end when they should, remember-me works across tabs and servers, and the
lockout cannot be outrun."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from avenrae import db as app_db
from avenrae.db import session_scope
from avenrae.models import LoginAttempt, RefreshToken, Role, SessionCode, User
from avenrae.services import accounts, ratelimit, tokens
from avenrae.ui import auth, server
from tests.factories import PASSWORD, make_client, make_user

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


# --- an open session ends at the next click --------------------------------------------------


@pytest.mark.parametrize(
    "end_it",
    [
        pytest.param(
            lambda db, user: accounts.change_password(
                session=db, user_id=user.id, old_password=PASSWORD, new_password="A brand new one 42"
            ),
            id="password changed elsewhere",
        ),
        pytest.param(lambda db, user: tokens.revoke_all(session=db, user_id=user.id), id="logged out everywhere"),
        pytest.param(
            lambda db, user: accounts.set_active(
                session=db, actor_id=make_user(db, role=Role.ADMIN).id, user_id=user.id, active=False, reason="test"
            ),
            id="deactivated",
        ),
    ],
)
def test_an_open_session_ends_at_the_next_click(db, page, end_it):
    user = make_client(db)
    app = page("pages/search.py", user=user)
    assert not app.exception and app.title[0].value == "Find practitioners"
    end_it(db, user)
    app.run()
    assert auth.SESSION_KEY not in app.session_state
    assert [t.value for t in app.title] == ["Log in to Avenrae"]
    # Why, then where logging in again leads: back to the page they were on.
    assert [i.value for i in app.info] == [auth.SESSION_ENDED, "Log in to open Find practitioners."]


def test_a_session_outlives_its_access_token_without_spending_its_refresh_token(db, page, monkeypatch):
    user = make_client(db)
    app = page("pages/search.py", user=user)
    state: auth.AuthState = app.session_state[auth.SESSION_KEY]
    refresh_before = state.refresh_token
    state.access_token = "expired-or-garbled"
    app.run()
    assert not app.exception and app.title[0].value == "Find practitioners"
    renewed: auth.AuthState = app.session_state[auth.SESSION_KEY]
    assert tokens.decode_access(renewed.access_token).user_id == user.id
    assert renewed.refresh_token == refresh_before
    assert db.scalar(select(func.count()).select_from(RefreshToken).where(RefreshToken.rotated_at.is_not(None))) == 0


# --- remember me with two tabs -----------------------------------------------------------------


def test_two_tabs_restoring_one_cookie_get_the_same_successor(db):
    user = make_client(db)
    cookie = tokens.issue(session=db, user=user, now=NOW).refresh_token
    _, tab_b = tokens.rotate(session=db, refresh_token=cookie, now=NOW + timedelta(seconds=1))
    _, tab_a = tokens.rotate(session=db, refresh_token=cookie, now=NOW + timedelta(seconds=3))
    assert tab_a.refresh_token == tab_b.refresh_token
    assert db.scalar(select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_not(None))) == 0
    # The successor carries on as usual.
    _, next_visit = tokens.rotate(session=db, refresh_token=tab_a.refresh_token, now=NOW + timedelta(hours=1))
    assert next_visit.family_id == tab_a.family_id


def test_a_stale_copy_presented_after_the_grace_period_is_still_theft(db):
    user = make_client(db)
    cookie = tokens.issue(session=db, user=user, now=NOW).refresh_token
    tokens.rotate(session=db, refresh_token=cookie, now=NOW)
    with pytest.raises(tokens.TokenReused):
        tokens.rotate(session=db, refresh_token=cookie, now=NOW + timedelta(minutes=5))
    assert db.scalar(select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))) == 0


@pytest.fixture
def committed_user(committed_db):
    with Session(committed_db, expire_on_commit=False) as session:
        user = make_client(session)
        session.commit()
        return user


def test_two_tabs_rotating_at_the_same_moment_both_keep_the_session(committed_db, committed_user):
    with Session(committed_db) as session:
        cookie = tokens.issue(session=session, user=session.get(User, committed_user.id)).refresh_token
        session.commit()
    barrier = threading.Barrier(2)

    def restore(_: int) -> str:
        with Session(committed_db) as session:
            barrier.wait()
            _, pair = tokens.rotate(session=session, refresh_token=cookie)
            session.commit()
            return pair.refresh_token

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(restore, range(2))
    assert first == second
    with committed_db.connect() as connection:
        assert (
            connection.execute(text("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL")).scalar() == 0
        )


def test_a_reuse_revocation_is_kept_even_when_the_callers_transaction_rolls_back(committed_db, committed_user):
    with Session(committed_db) as session:
        cookie = tokens.issue(session=session, user=session.get(User, committed_user.id), now=NOW).refresh_token
        tokens.rotate(session=session, refresh_token=cookie, now=NOW)
        session.commit()
    with Session(committed_db) as session:
        with pytest.raises(tokens.TokenReused):
            tokens.rotate(session=session, refresh_token=cookie, now=NOW + timedelta(minutes=5))
        session.rollback()
    with committed_db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL")).scalar() == 0


# --- remember-me codes live in the database ---------------------------------------------------


def test_a_code_made_by_one_server_is_redeemed_by_another_once(db):
    with session_scope() as session:
        code = tokens.new_cookie_code(session=session, refresh_token="the-refresh-token")
    stored = db.scalars(select(SessionCode)).one()
    assert b"the-refresh-token" not in stored.sealed_token and code not in stored.code_hash
    other_server = TestClient(Starlette(routes=[Route("/_avenrae/session", server.remember_session, methods=["POST"])]))
    first = other_server.post("/_avenrae/session", content=code)
    assert first.status_code == 204 and "avenrae_session=the-refresh-token" in first.headers["set-cookie"]
    assert other_server.post("/_avenrae/session", content=code).status_code == 400  # used up
    assert db.scalar(select(func.count()).select_from(SessionCode)) == 0


def test_a_code_to_clear_the_cookie_and_an_expired_code(db):
    with session_scope() as session:
        clear = tokens.new_cookie_code(session=session, refresh_token=None)
        old = tokens.new_cookie_code(session=session, refresh_token="x", now=datetime.now(UTC) - timedelta(minutes=3))
    with session_scope() as session:
        assert tokens.redeem_cookie_code(session=session, code=clear) == (True, None)
        assert tokens.redeem_cookie_code(session=session, code=old) == (False, None)


# --- the lockout cannot be outrun ---------------------------------------------------------------


def test_fifty_parallel_wrong_passwords_get_at_most_five_guesses(committed_db, committed_user, monkeypatch):
    monkeypatch.setitem(app_db.SessionLocal.kw, "bind", committed_db)
    barrier = threading.Barrier(50)

    def guess(_: int) -> str:
        barrier.wait()
        try:
            with session_scope() as session:
                accounts.login(session=session, email=committed_user.email, password="Not it at all 1")
        except accounts.AccountLocked:
            return "locked"
        except accounts.InvalidCredentials:
            return "wrong"
        return "in"

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(guess, range(50)))
    with committed_db.connect() as connection:
        guesses = connection.execute(
            text("SELECT count(*) FROM login_attempts WHERE reason IN ('bad_password', 'unknown_email')")
        ).scalar()
    assert guesses <= 5
    assert outcomes.count("wrong") + outcomes.count("locked") == 50 and outcomes.count("locked") >= 45


def test_a_failed_login_is_recorded_whatever_the_callers_transaction_does(committed_db, committed_user):
    with Session(committed_db) as session:
        with pytest.raises(accounts.InvalidCredentials):
            accounts.login(session=session, email=committed_user.email, password="Not it at all 1")
        session.rollback()
    with Session(committed_db) as session:
        assert session.scalar(select(LoginAttempt.reason)) == "bad_password"


def test_one_address_is_limited_on_login_and_sign_up(db, monkeypatch):
    from avenrae.config import get_settings

    monkeypatch.setattr(get_settings(), "login_attempts_per_ip", 3)
    monkeypatch.setattr(get_settings(), "signups_per_ip", 2)
    users = [make_client(db) for _ in range(4)]
    for user in users[:3]:
        accounts.login(session=db, email=user.email, password=PASSWORD, ip_address="196.25.1.1")
    with pytest.raises(accounts.TooManyAttempts, match="Too many login attempts from your network") as limited:
        accounts.login(session=db, email=users[3].email, password=PASSWORD, ip_address="196.25.1.1")
    assert limited.value.retry_after > 0
    # Another address is not affected.
    accounts.login(session=db, email=users[3].email, password=PASSWORD, ip_address="196.25.1.2")

    def signup(n: int) -> accounts.SignUp:
        return accounts.SignUp(
            role=Role.CLIENT,
            email=f"new{n}@example.co.za",
            password="A good password 1",
            first_name="Thandi",
            last_name="Mokoena",
        )

    for n in range(2):
        accounts.sign_up(session=db, form=signup(n), ip_address="196.25.1.1")
    with pytest.raises(ratelimit.RateLimited, match="Too many sign-ups"):
        accounts.sign_up(session=db, form=signup(3), ip_address="196.25.1.1")
    assert db.scalar(select(func.count()).select_from(User).where(User.email == "new3@example.co.za")) == 0
