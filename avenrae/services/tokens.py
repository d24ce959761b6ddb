"""Access tokens (JWT, HS256) and rotating refresh tokens.

A refresh token is random, shown to its holder once and stored only as a SHA-256
hash. Each use rotates it: the presented token is marked used and a new one of the
same family is issued. Presenting a token that was already used means someone holds
a copy, so the whole family is revoked and everyone holding it must log in again.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from avenrae.config import get_settings
from avenrae.models import RefreshToken, Role, User
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


def _secret_file() -> Path:
    return get_settings().state_dir / "jwt-secret"


def signing_secret() -> str:
    """AVENRAE_JWT_SECRET, or a secret generated once and kept in the git-ignored state folder."""
    configured = get_settings().jwt_secret
    if configured is not None:
        return configured.get_secret_value()
    path = _secret_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race; read theirs
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def issue(
    *, session: Session, user: User, now: datetime | None = None, family_id: uuid.UUID | None = None
) -> TokenPair:
    """A new access token and a new refresh token (in a new family unless one is given)."""
    settings = get_settings()
    now = _now(now)
    access_expires = now + timedelta(hours=settings.access_token_hours)
    refresh_expires = now + timedelta(days=settings.refresh_token_days)
    access = jwt.encode(
        {
            "sub": str(user.id),
            "role": user.role.value,
            "iat": int(now.timestamp()),
            "exp": int(access_expires.timestamp()),
            "iss": ISSUER,
            "jti": secrets.token_hex(8),
        },
        signing_secret(),
        algorithm=ALGORITHM,
    )
    refresh = secrets.token_urlsafe(32)
    family = family_id or uuid.uuid4()
    session.add(
        RefreshToken(user_id=user.id, family_id=family, token_hash=hash_token(refresh), expires_at=refresh_expires)
    )
    session.flush()
    return TokenPair(access, refresh, family, access_expires, refresh_expires)


def decode_access(token: str, now: datetime | None = None) -> AccessClaims:
    """The claims of a valid, unexpired access token; TokenError otherwise."""
    try:
        claims = jwt.decode(
            token,
            signing_secret(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # Expiry is checked below against `now`, which tests may set.
            options={"require": ["exp", "sub", "role"], "verify_exp": False, "verify_iat": False},
        )
        user_id, role = uuid.UUID(claims["sub"]), Role(claims["role"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise TokenError("Your session is no longer valid; please log in again.") from exc
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    if expires <= _now(now):
        raise TokenError("Your session has expired; please log in again.")
    return AccessClaims(user_id=user_id, role=role, expires_at=expires)


def rotate(*, session: Session, refresh_token: str, now: datetime | None = None) -> tuple[User, TokenPair]:
    """Spend a refresh token for a new pair of the same family.

    Reuse of a spent token revokes its family and raises TokenReused; the revocation is
    written to `session` first, so the caller must commit even when catching it.
    """
    now = _now(now)
    stored = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(refresh_token)).with_for_update()
    )
    if stored is None or stored.revoked_at is not None:
        raise TokenError("Your saved session has ended; please log in again.")
    if stored.rotated_at is not None:
        revoke_family(session=session, family_id=stored.family_id, now=now)
        raise TokenReused("This session was used somewhere else, so we signed it out everywhere. Please log in again.")
    if stored.expires_at <= now:
        raise TokenError("Your saved session has expired; please log in again.")
    user = session.get(User, stored.user_id)
    if user is None or not user.is_active or user.deleted_at is not None:
        revoke_family(session=session, family_id=stored.family_id, now=now)
        raise TokenError("This account can no longer log in.")
    stored.rotated_at = now
    return user, issue(session=session, user=user, now=now, family_id=stored.family_id)


def revoke_family(*, session: Session, family_id: uuid.UUID, now: datetime | None = None) -> int:
    """Revoke every live token of one family (one logged-in browser); returns how many."""
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now(now))
    )
    return result.rowcount


def revoke_all(*, session: Session, user_id: uuid.UUID, now: datetime | None = None) -> int:
    """Sign a user out of every browser."""
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=_now(now))
    )
    return result.rowcount
