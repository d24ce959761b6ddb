"""A password reset racing the account's other sessions (found by review): a session
refreshing its token at that moment, or a password change with the old password waiting its
turn, must not outlive or undo the reset."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from avenrae.models import RefreshToken, User
from avenrae.services import accounts, password_resets, tokens
from avenrae.services.errors import InvalidInput
from tests.factories import PASSWORD, make_client

NEW_PASSWORD = "Jacaranda season 2031"


@pytest.fixture
def owner(committed_db):
    """A client logged in somewhere (a refresh token), with a reset link asked for; the link's token."""
    with Session(committed_db, expire_on_commit=False) as session:
        user = make_client(session)
        cookie = tokens.issue(session=session, user=user).refresh_token
        token = password_resets.make_link(session=session, email=user.email).url.split("token=")[1]
        session.commit()
    return user, cookie, token


def while_the_reset_waits_to_commit(committed_db, token: str, other) -> object:
    """Run `other` (in a thread, its own transaction) while a reset has done its work but not
    committed; commit the reset a moment later. What `other` returned or raised."""
    started = threading.Event()

    def run_other():
        started.set()
        with Session(committed_db) as session:
            try:
                result = other(session)
                session.commit()
                return result
            except Exception as error:  # what the caller asserts on
                session.rollback()
                return error

    with Session(committed_db) as reset, ThreadPoolExecutor(1) as pool:
        password_resets.choose_password(session=reset, token=token, password=NEW_PASSWORD)
        outcome = pool.submit(run_other)
        started.wait()
        time.sleep(0.5)  # `other` is now waiting for the reset's locks
        reset.commit()
        return outcome.result(timeout=30)


def test_a_session_refreshing_during_a_reset_ends_with_it(committed_db, owner):
    user, cookie, token = owner
    outcome = while_the_reset_waits_to_commit(
        committed_db, token, lambda session: tokens.rotate(session=session, refresh_token=cookie)
    )
    assert isinstance(outcome, tokens.TokenError), outcome
    with Session(committed_db) as session:
        live = select(func.count()).select_from(RefreshToken).where(RefreshToken.user_id == user.id)
        assert session.scalar(live.where(RefreshToken.revoked_at.is_(None))) == 0


def test_a_password_change_with_the_old_password_cannot_undo_a_reset(committed_db, owner):
    user, _, token = owner
    outcome = while_the_reset_waits_to_commit(
        committed_db,
        token,
        lambda session: accounts.change_password(
            session=session, user_id=user.id, old_password=PASSWORD, new_password="Taken back 2031 !"
        ),
    )
    assert isinstance(outcome, InvalidInput) and "current password is not right" in str(outcome.problems), outcome
    with Session(committed_db) as session:
        assert accounts.verify_password(NEW_PASSWORD, session.get(User, user.id).password_hash)
