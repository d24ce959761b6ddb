"""Access tokens and rotating refresh tokens with reuse detection."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import select

from avenrae.config import get_settings
from avenrae.db import session_scope
from avenrae.models import RefreshToken
from avenrae.services import tokens
from tests.factories import make_client

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def test_rotation_spends_the_token_and_keeps_the_family(db):
    user = make_client(db)
    first = tokens.issue(session=db, user=user, now=NOW)
    same_user, second = tokens.rotate(session=db, refresh_token=first.refresh_token, now=NOW + timedelta(hours=1))
    assert same_user.id == user.id
    assert second.family_id == first.family_id
    assert second.refresh_token != first.refresh_token
    spent = db.scalar(select(RefreshToken).where(RefreshToken.token_hash == tokens.hash_token(first.refresh_token)))
    assert spent.rotated_at == NOW + timedelta(hours=1)
    assert second.refresh_expires_at == NOW + timedelta(hours=1, days=7)


LATER = NOW + timedelta(minutes=1)  # past the grace period for a token rotated at NOW


def test_reusing_a_spent_token_revokes_the_whole_family(db):
    user = make_client(db)
    first = tokens.issue(session=db, user=user, now=NOW)
    _, second = tokens.rotate(session=db, refresh_token=first.refresh_token, now=NOW)
    other_browser = tokens.issue(session=db, user=user, now=NOW)
    with pytest.raises(tokens.TokenReused):
        tokens.rotate(session=db, refresh_token=first.refresh_token, now=LATER)
    with pytest.raises(tokens.TokenError):
        tokens.rotate(session=db, refresh_token=second.refresh_token, now=LATER)
    # Another browser of the same user is a different family and carries on.
    tokens.rotate(session=db, refresh_token=other_browser.refresh_token, now=LATER)


def test_the_reuse_revocation_is_kept_when_caught_inside_the_scope(db):
    user = make_client(db)
    first = tokens.issue(session=db, user=user, now=NOW)
    _, _second = tokens.rotate(session=db, refresh_token=first.refresh_token, now=NOW)
    with session_scope() as session, pytest.raises(tokens.TokenReused):
        tokens.rotate(session=session, refresh_token=first.refresh_token, now=LATER)
    live = db.scalars(select(RefreshToken).where(RefreshToken.revoked_at.is_(None))).all()
    assert live == []


def test_expired_revoked_and_unknown_refresh_tokens_are_refused(db):
    user = make_client(db)
    expired = tokens.issue(session=db, user=user, now=NOW - timedelta(days=8))
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.rotate(session=db, refresh_token=expired.refresh_token, now=NOW)
    logged_out = tokens.issue(session=db, user=user, now=NOW)
    assert tokens.revoke_family(session=db, family_id=logged_out.family_id) == 1
    with pytest.raises(tokens.TokenError):
        tokens.rotate(session=db, refresh_token=logged_out.refresh_token, now=NOW)
    with pytest.raises(tokens.TokenError):
        tokens.rotate(session=db, refresh_token="made-up", now=NOW)


def test_a_deactivated_user_cannot_refresh(db):
    user = make_client(db)
    pair = tokens.issue(session=db, user=user, now=NOW)
    user.is_active = False
    db.flush()
    with pytest.raises(tokens.TokenError, match="no longer"):
        tokens.rotate(session=db, refresh_token=pair.refresh_token, now=NOW)


def test_access_tokens_expire_after_a_day_and_resist_tampering(db):
    user = make_client(db)
    pair = tokens.issue(session=db, user=user, now=NOW)
    assert tokens.decode_access(pair.access_token, now=NOW + timedelta(hours=23)).user_id == user.id
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.decode_access(pair.access_token, now=NOW + timedelta(hours=24))
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "admin"}, "not-our-secret-not-our-secret-xx", algorithm="HS256")
    with pytest.raises(tokens.TokenError):
        tokens.decode_access(forged, now=NOW)
    unsigned = jwt.encode({**claims, "role": "admin"}, None, algorithm="none")
    with pytest.raises(tokens.TokenError):
        tokens.decode_access(unsigned, now=NOW)


def test_the_secret_is_generated_once_into_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(get_settings(), "state_dir", tmp_path)
    monkeypatch.setattr(get_settings(), "jwt_secret", None)
    first = tokens.signing_secret()
    assert len(first) >= 48
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o777 == 0o600
    assert tokens.signing_secret() == first


def test_a_configured_secret_wins(monkeypatch):
    from pydantic import SecretStr

    monkeypatch.setattr(get_settings(), "jwt_secret", SecretStr("s" * 40))
    assert tokens.signing_secret() == "s" * 40


def test_a_damaged_generated_secret_is_refused_not_used(tmp_path, monkeypatch):
    # An empty file is what a process left that created the file and died before writing.
    monkeypatch.setattr(get_settings(), "state_dir", tmp_path)
    monkeypatch.setattr(get_settings(), "jwt_secret", None)
    (tmp_path / "jwt-secret").write_text("")
    with pytest.raises(RuntimeError, match="damaged"):
        tokens.signing_secret()


def test_the_generated_secret_is_read_once_a_process(tmp_path, monkeypatch):
    monkeypatch.setattr(get_settings(), "state_dir", tmp_path)
    monkeypatch.setattr(get_settings(), "jwt_secret", None)
    first = tokens.signing_secret()
    (tmp_path / "jwt-secret").write_text("y" * 48)
    assert tokens.signing_secret() == first
    assert sorted(path.name for path in tmp_path.iterdir()) == ["jwt-secret"]  # no draft left behind
