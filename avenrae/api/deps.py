"""What every endpoint needs: the caller, and the request limits.

Each endpoint runs its work in one transaction of its own (`session_scope`), committed
before the answer is sent. Before it, the admission (`statement_scope`: each statement
commits by itself) reads the token's user, checking it is still active and its session
still live, then counts the request against its client address (and its token). An access
token names its session (the refresh-token family, claim `sid`), so logging out, a
password change or a deactivation ends it at once rather than when it expires. That is
two statements per request: the user, their practitioner id and the session's liveness
in one; both counters in the other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from avenrae.config import get_settings
from avenrae.db import statement_scope
from avenrae.models import Role
from avenrae.services import accounts, bookings, ratelimit, tokens
from avenrae.services.accounts import CurrentUser

from .problems import BEARER, Problem, for_service_error

bearer = HTTPBearer(
    auto_error=False, description="The access token (`token`) from /api/auth/login, /signup or /refresh."
)
NOT_LOGGED_IN = "Log in first: send the access token as Authorization: Bearer <token>."
SESSION_ENDED = "This session has ended (logged out, or the account can no longer log in); please log in again."


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _per_ip() -> ratelimit.Limit:
    return ratelimit.Limit(
        "api-ip", get_settings().api_requests_per_ip, timedelta(minutes=1), "Too many requests from your network."
    )


def _per_token() -> ratelimit.Limit:
    return ratelimit.Limit(
        "api-token", get_settings().api_requests_per_token, timedelta(minutes=1), "Too many requests with this token."
    )


@dataclass(frozen=True)
class Caller:
    """Who sent the request: the user, as the services' rules see them."""

    user: CurrentUser

    @property
    def id(self) -> uuid.UUID:
        return self.user.id

    @property
    def role(self) -> Role:
        return self.user.role

    @property
    def actor(self) -> bookings.Actor:
        return bookings.Actor(self.user.id, self.user.role)


def _admit(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller | None:
    """Count the request (per address; per token when one is sent) and find its caller.
    The counts are committed even when the request is refused; a refusal for the rate
    comes before one for the token. The caller is read first and counted last: the counter
    rows (one per address, shared by all its clients) are then held only from that statement
    to the commit."""
    refused: Problem | None = None
    user = None
    ip = client_ip(request)
    hits = [(_per_ip(), ip)] if ip else []
    with statement_scope() as session:
        try:
            if credentials is not None:
                claims = tokens.decode_access(credentials.credentials)
                hits.append((_per_token(), f"{claims.user_id}:{int(claims.expires_at.timestamp())}"))
                user = accounts.get_current(session=session, user_id=claims.user_id, family_id=claims.family_id)
                if user is None:
                    refused = Problem(401, SESSION_ENDED, headers=BEARER)
        except tokens.TokenError as error:
            refused = for_service_error(error)
        try:
            if hits:
                ratelimit.hit_committed(session, hits)
        except ratelimit.RateLimited as error:
            refused = for_service_error(error)
    if refused is not None:
        raise refused
    return None if user is None else Caller(user)


def admitted(request: Request) -> None:
    """For endpoints anyone may call: counted per client address."""
    _admit(request, None)


def caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    """The logged-in caller, temporary password or not; 401 without a valid access token."""
    if credentials is None or not credentials.credentials:
        _admit(request, None)
        raise Problem(401, NOT_LOGGED_IN, headers=BEARER)
    found = _admit(request, credentials)
    assert found is not None
    return found


def caller_with_own_password(found: Annotated[Caller, Depends(caller)]) -> Caller:
    """The logged-in caller, once they chose their own password: an account an admin created
    or reset may only read itself and change its password first, as on the web."""
    if found.user.must_change_password:
        raise Problem(403, NOT_YET_ITS_OWN)
    return found


NOT_YET_ITS_OWN = "This account has a temporary password: choose your own first (POST /api/me/password)."
LoggedIn = Annotated[Caller, Depends(caller_with_own_password)]
# Only for reading oneself and changing the password.
LoggedInWithAnyPassword = Annotated[Caller, Depends(caller)]
Anyone = Depends(admitted)
