"""Access tokens (JWT, HS256) and rotating refresh tokens.

A refresh token is random, shown to its holder once and stored only as a SHA-256
hash. Each use rotates it: the presented token is marked used and its successor, of
the same family, is issued. Presenting a token that was already used means someone
holds a copy, so the whole family is revoked and everyone holding it must log in
again; except within a few seconds of the rotation (two tabs restoring one cookie at
once), when the same successor is handed out again. Successors are derived from the
token with the signing secret, so they can be handed out again without being stored.

A family is one logged-in browser (or one API login): while it has a live token the
session stands; logging out, a password change or a deactivation revokes it, and the
next page load notices (`family_is_live`). Access tokens carry their family's id (the
`sid` claim), so the API refuses them too once the family is revoked, not only when they
expire.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import jwt
from sqlalchemy import ColumnElement, delete, exists, insert, select, update
from sqlalchemy.orm import Session

from avenrae.config import get_settings
from avenrae.db import independent_transaction, lock_until_commit, rows_changed
from avenrae.models import PasswordReset, RefreshToken, Role, SessionCode, User
from avenrae.services.errors import ServiceError

ALGORITHM = "HS256"
ISSUER = "avenrae"


class TokenError(ServiceError):
    """The token cannot be used; the user must log in again."""


class TokenReused(TokenError):
    """A refresh token was presented after it had been rotated: its family is revoked."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    family_id: uuid.UUID
    access_expires_at: datetime
    refresh_expires_at: datetime


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: Role
    expires_at: datetime
    family_id: uuid.UUID  # the session (refresh-token family) the token was issued for


def _secret_file() -> Path:
    return get_settings().state_dir / "jwt-secret"


def signing_secret() -> str:
    """AVENRAE_JWT_SECRET, or a secret generated once and kept in the git-ignored state folder."""
    configured = get_settings().jwt_secret
    if configured is not None:
        return configured.get_secret_value()
    return _generated_secret(_secret_file())


@functools.cache  # read once a process (every request signs or checks a token)
def _generated_secret(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then linked into place (which fails if another
        # process got there first), so no process ever reads a half-written secret.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process won the race; read theirs
        except OSError:  # a file system without hard links: a rename, which a racing process may repeat
            if not path.exists():
                os.replace(draft, path)
        finally:
            draft.unlink(missing_ok=True)
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise RuntimeError(f"The signing secret in {path} is damaged (too short): delete the file and restart.")
    return secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def successor_of(refresh_token: str) -> str:
    """The token a rotation of `refresh_token` issues: unguessable without the signing secret."""
    digest = hmac.new(signing_secret().encode(), b"successor:" + refresh_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def access_token(user_id: uuid.UUID, role: Role, now: datetime, family_id: uuid.UUID) -> tuple[str, datetime]:
    """A signed access token for the user, in the session `family_id`, and when it expires."""
    expires = now + timedelta(hours=get_settings().access_token_hours)
    token = jwt.encode(
        {
            "sub": str(user_id),
            "role": role.value,
            "sid": str(family_id),
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "iss": ISSUER,
            "jti": secrets.token_hex(8),
        },
        signing_secret(),
        algorithm=ALGORITHM,
    )
    return token, expires


def issue(
    *,
    session: Session,
    user: User,
    now: datetime | None = None,
    family_id: uuid.UUID | None = None,
    refresh_token: str | None = None,
) -> TokenPair:
    """A new access token and a new refresh token (in a new family unless one is given)."""
    now = _now(now)
    family = family_id or uuid.uuid4()
    access, access_expires = access_token(user.id, user.role, now, family)
    refresh_expires = now + timedelta(days=get_settings().refresh_token_days)
    refresh = refresh_token or secrets.token_urlsafe(32)
    session.add(
        RefreshToken(user_id=user.id, family_id=family, token_hash=hash_token(refresh), expires_at=refresh_expires)
    )
    session.flush()
    return TokenPair(access, refresh, family, access_expires, refresh_expires)


def decode_access(token: str, now: datetime | None = None) -> AccessClaims:
    """The claims of a valid, unexpired access token; TokenError otherwise (a token without
    a session id, signed before tokens carried one, too). Whether its session is still live
    is the caller's question (`family_is_live`): this reads no database."""
    try:
        claims = jwt.decode(
            token,
            signing_secret(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # Expiry is checked below against `now`, which tests may set.
            options={"require": ["exp", "sub", "role", "sid"], "verify_exp": False, "verify_iat": False},
        )
        user_id, role, family_id = uuid.UUID(claims["sub"]), Role(claims["role"]), uuid.UUID(str(claims["sid"]))
    except (jwt.PyJWTError, ValueError) as exc:
        raise TokenError("Your session is no longer valid; please log in again.") from exc
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    if expires <= _now(now):
        raise TokenError("Your session has expired; please log in again.")
    return AccessClaims(user_id=user_id, role=role, expires_at=expires, family_id=family_id)


class MayHoldASession(Protocol):
    """What `may_log_in` reads: a User, or a row of these columns."""

    is_active: bool
    deleted_at: datetime | None
    is_demo: bool


def may_log_in(user: MayHoldASession | None) -> bool:
    """The one rule for who may hold a session: active, not deleted, and no demo account
    (made by `db seed`) on a production server."""
    return (
        user is not None
        and user.is_active
        and user.deleted_at is None
        and not (user.is_demo and get_settings().production)
    )


def _find(session: Session, refresh_token: str) -> RefreshToken | None:
    return session.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_token(refresh_token)))


def _revoke_whatever_happens(session: Session, family_id: uuid.UUID, now: datetime) -> None:
    """Revoke a family in a transaction of its own (kept even if the caller's rolls back),
    and in the caller's, which sees tokens it issued but has not committed."""
    with independent_transaction(session) as connection:
        connection.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    revoke_family(session=session, family_id=family_id, now=now)


def rotate(*, session: Session, refresh_token: str, now: datetime | None = None) -> tuple[User, TokenPair]:
    """Spend a refresh token for a new pair of the same family.

    Reuse of a spent token (after the grace period) revokes its family and raises
    TokenReused; the revocation is kept whatever the caller's transaction does. Call it
    before the caller's transaction has touched this family's tokens.
    """
    now = _now(now)
    stored = _find(session, refresh_token)
    if stored is not None:
        # Read again once the account's sessions are ours: a password reset or a sign-out
        # everywhere committing meanwhile must not be outlived by the pair issued here.
        _lock_sessions(session, stored.user_id)
        stored = session.scalar(
            select(RefreshToken).where(RefreshToken.id == stored.id).execution_options(populate_existing=True)
        )
    if stored is None or stored.revoked_at is not None:
        raise TokenError("Your saved session has ended; please log in again.")
    if stored.expires_at <= now:
        raise TokenError("Your saved session has expired; please log in again.")
    user = session.get(User, stored.user_id, populate_existing=True)
    if not may_log_in(user):
        _revoke_whatever_happens(session, stored.family_id, now)
        raise TokenError("This account can no longer log in.")
    assert user is not None
    presented = refresh_token
    grace = timedelta(seconds=get_settings().refresh_reuse_grace_seconds)
    # A token rotated moments ago by another tab: hand out the token that rotation issued
    # (following the chain if it moved on), without rotating again.
    for _ in range(5):
        if stored.rotated_at is None:
            break
        if now - stored.rotated_at > grace:
            _revoke_whatever_happens(session, stored.family_id, now)
            raise TokenReused(
                "This session was used somewhere else, so we signed it out everywhere. Please log in again."
            )
        presented = successor_of(presented)
        found = _find(session, presented)
        if found is None or found.revoked_at is not None:
            raise TokenError("Your saved session has ended; please log in again.")
        stored = found
    if presented != refresh_token:
        return user, _same_session(user, presented, stored, now)
    locked = session.scalar(
        select(RefreshToken)
        .where(RefreshToken.id == stored.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    if locked.revoked_at is not None:
        raise TokenError("Your saved session has ended; please log in again.")
    if locked.rotated_at is not None:  # another tab rotated it while we waited: its successor is ours too
        successor = successor_of(presented)
        row = _find(session, successor)
        assert row is not None
        return user, _same_session(user, successor, row, now)
    locked.rotated_at = now
    return user, issue(
        session=session, user=user, now=now, family_id=locked.family_id, refresh_token=successor_of(presented)
    )


def _same_session(user: User, refresh_token: str, stored: RefreshToken, now: datetime) -> TokenPair:
    """The pair for a refresh token that another tab's rotation already issued."""
    access, access_expires = access_token(user.id, user.role, now, stored.family_id)
    return TokenPair(access, refresh_token, stored.family_id, access_expires, stored.expires_at)


def family_live(
    family_id: uuid.UUID | ColumnElement[uuid.UUID], now: datetime | ColumnElement[datetime] | None = None
) -> ColumnElement[bool]:
    """The condition that the browser session of this family still stands (not logged out,
    revoked or expired), to ask alone (`family_is_live`) or within a larger query (whose
    parameters may name the family and the time)."""
    return exists().where(
        RefreshToken.family_id == family_id,
        RefreshToken.revoked_at.is_(None),
        RefreshToken.expires_at > (now if isinstance(now, ColumnElement) else _now(now)),
    )


def family_is_live(session: Session, family_id: uuid.UUID, now: datetime | None = None) -> bool:
    """Whether the browser session of this family still stands."""
    return bool(session.scalar(select(family_live(family_id, now))))


# --- single-use codes for the remember-me cookie -----------------------------------------

CODE_LIFETIME = timedelta(minutes=2)


def _keystream(code: str, length: int) -> bytes:
    return hashlib.shake_256(b"avenrae-session-code:" + code.encode()).digest(length)


def new_cookie_code(*, session: Session, refresh_token: str | None, now: datetime | None = None) -> str:
    """A code the browser trades once, within two minutes, for setting the remember-me cookie
    to `refresh_token` (or clearing it, for None). Kept in the database, so any app server
    can redeem it; the token is stored enciphered with the code, which only the browser holds."""
    code = secrets.token_urlsafe(24)
    sealed = None
    if refresh_token is not None:
        plain = refresh_token.encode()
        sealed = bytes(a ^ b for a, b in zip(plain, _keystream(code, len(plain)), strict=True))
    session.execute(
        insert(SessionCode).values(
            code_hash=hash_token(code), sealed_token=sealed, expires_at=_now(now) + CODE_LIFETIME
        )
    )
    return code


def redeem_cookie_code(*, session: Session, code: str, now: datetime | None = None) -> tuple[bool, str | None]:
    """(valid, refresh token or None to clear); each code works once."""
    row = session.execute(
        delete(SessionCode)
        .where(SessionCode.code_hash == hash_token(code), SessionCode.expires_at > _now(now))
        .returning(SessionCode.sealed_token)
    ).first()
    if row is None:
        return False, None
    sealed = row.sealed_token
    if sealed is None:
        return True, None
    return True, bytes(a ^ b for a, b in zip(sealed, _keystream(code, len(sealed)), strict=True)).decode()


def revoke_family(*, session: Session, family_id: uuid.UUID, now: datetime | None = None) -> int:
    """Revoke every live token of one family (one logged-in browser); returns how many."""
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now(now))
    )
    return rows_changed(result)


def _lock_sessions(session: Session, user_id: uuid.UUID) -> None:
    """One change to an account's sessions at a time (a rotation, a sign-out everywhere),
    until the caller's transaction ends."""
    lock_until_commit(session, f"avenrae.sessions:{user_id}")


def revoke_all(*, session: Session, user_id: uuid.UUID, now: datetime | None = None) -> int:
    """Sign a user out of every browser, and end any link e-mailed to reset the password
    (after a password change, a temporary password or a deactivation an old link must not
    undo it). A rotation under way waits, then finds its session ended."""
    now = _now(now)
    _lock_sessions(session, user_id)
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    end_reset_links(session, user_id, now)
    return rows_changed(result)


def end_reset_links(session: Session, user_id: uuid.UUID, now: datetime) -> None:
    """Links e-mailed to reset this user's password, not used yet, stop working now."""
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None), PasswordReset.expires_at > now)
        .values(expires_at=now)
    )


def revoke_by_token(*, session: Session, refresh_token: str, now: datetime | None = None) -> bool:
    """Log out the session (family) a refresh token belongs to; False when the token is unknown."""
    stored = _find(session, refresh_token)
    if stored is None:
        return False
    revoke_family(session=session, family_id=stored.family_id, now=now)
    return True
