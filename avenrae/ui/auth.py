"""Who is logged in: login, logout and "remember me" for Streamlit sessions.

A session keeps its tokens in `st.session_state` (on the server) and checks on every
run that its token family is still live, so a logout elsewhere, a password change or a
deactivation ends it at the next click. "Remember me" keeps the refresh token in an
HttpOnly, SameSite=Strict cookie that page scripts cannot read. Streamlit cannot set
cookies itself, so the app server has a small route (avenrae/ui/server.py): the page
hands the browser a single-use code (kept in the database, so any app server can take
it), the browser posts it to the route, and the route answers with Set-Cookie. On a
reload the new session finds the cookie in `st.context.cookies`, rotates the refresh
token and sets the new one the same way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st

from avenrae.db import session_scope
from avenrae.services import accounts, notifications, tokens
from avenrae.services.accounts import CurrentUser

SESSION_KEY = "avenrae_auth"
COOKIE_ACTION_KEY = "avenrae_cookie_action"
COOKIE_TRIED_KEY = "avenrae_cookie_tried"
NOTICE_KEY = "avenrae_auth_notice"
COOKIE_NAME = "avenrae_session"
SESSION_ENDED = (
    "Your session has ended (you logged out elsewhere, or the password or account changed). Please log in again."
)


@dataclass
class AuthState:
    user_id: uuid.UUID
    access_token: str
    refresh_token: str
    family_id: uuid.UUID
    remember: bool


# --- the remember-me cookie ------------------------------------------------------------


def _schedule_cookie(refresh_token: str | None) -> None:
    """Let the browser set the cookie to `refresh_token` (None: clear it) on this run."""
    with session_scope() as session:
        st.session_state[COOKIE_ACTION_KEY] = tokens.new_cookie_code(session=session, refresh_token=refresh_token)


def render_cookie_action() -> None:
    """Let the browser set or clear the remember-me cookie, if a change is pending."""
    code = st.session_state.pop(COOKIE_ACTION_KEY, None)
    if code is None:
        return
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    route = f"/{base}/_avenrae/session" if base else "/_avenrae/session"
    st.html(
        f"<script>fetch({route!r}, {{method: 'POST', credentials: 'same-origin', body: {code!r}}});</script>",
        unsafe_allow_javascript=True,
    )


# --- the current user --------------------------------------------------------------


def client_ip() -> str | None:
    """The browser's address, for the limits per network (None under AppTest)."""
    address = st.context.ip_address
    return address if isinstance(address, str) else None  # AppTest has no client


def _restore_from_cookie() -> AuthState | None:
    """A new browser session with a remember-me cookie: rotate it into a session."""
    if st.session_state.get(COOKIE_TRIED_KEY):
        return None
    st.session_state[COOKIE_TRIED_KEY] = True
    token = st.context.cookies.get(COOKIE_NAME)
    if not isinstance(token, str) or not token:  # AppTest has no real cookies
        return None
    failure: str | None = None
    with session_scope() as session:
        try:
            user, pair = tokens.rotate(session=session, refresh_token=token)
        except tokens.TokenError as refused:
            failure = str(refused)  # the reuse revocation is kept whatever happens to this transaction
        else:
            state = AuthState(user.id, pair.access_token, pair.refresh_token, pair.family_id, remember=True)
    if failure:
        st.session_state[NOTICE_KEY] = failure
        _schedule_cookie(None)
        return None
    st.session_state[SESSION_KEY] = state
    _schedule_cookie(state.refresh_token)
    return state


def _renew_access(state: AuthState, user: CurrentUser) -> None:
    """The access token ran out during a long session whose family is live: sign a new one.
    (The refresh token stays: it lives on the server, or in the cookie for the next visit.)"""
    state.access_token, _ = tokens.access_token(user.id, user.role, datetime.now(UTC), state.family_id)


def _forget(notice: str | None) -> None:
    state: AuthState | None = st.session_state.pop(SESSION_KEY, None)
    if notice:
        st.session_state[NOTICE_KEY] = notice
    if state is not None and state.remember:
        _schedule_cookie(None)


def current_user() -> CurrentUser | None:
    """The logged-in user, checked against the database on every run (the account and the
    session's token family); None when anonymous."""
    state: AuthState | None = st.session_state.get(SESSION_KEY) or _restore_from_cookie()
    if state is None:
        return None
    with session_scope() as session:
        user = accounts.get_current(session=session, user_id=state.user_id, family_id=state.family_id)
    if user is None:
        _forget(SESSION_ENDED)
        return None
    try:
        tokens.decode_access(state.access_token)
    except tokens.TokenError:
        _renew_access(state, user)
    return user


def unread_notifications(user: CurrentUser | None) -> int:
    """For the sidebar: how many notifications the user has not read."""
    if user is None:
        return 0
    with session_scope() as session:
        return notifications.unread_count(session=session, user_id=user.id)


def take_notice() -> str | None:
    """A message for the login page about why the last session ended, shown once."""
    return st.session_state.pop(NOTICE_KEY, None)


# --- logging in and out ------------------------------------------------------------


def log_in(email: str, password: str, *, remember: bool) -> str | None:
    """Log in and keep the session; returns the refusal to show, or None on success."""
    try:
        with session_scope() as session:
            result = accounts.login(session=session, email=email, password=password, ip_address=client_ip())
    except accounts.LoginRefused as refused:
        return str(refused)  # the attempt is recorded whatever happens to this transaction
    pair = result.tokens
    st.session_state[SESSION_KEY] = AuthState(
        result.user.id, pair.access_token, pair.refresh_token, pair.family_id, remember
    )
    st.session_state[COOKIE_TRIED_KEY] = True
    if remember:
        _schedule_cookie(pair.refresh_token)
    return None


def renew_session(email: str, password: str) -> None:
    """After a password change (which signs out every browser) keep this one logged in."""
    state: AuthState | None = st.session_state.get(SESSION_KEY)
    log_in(email, password, remember=bool(state and state.remember))


def log_out() -> None:
    """End this session: revoke its refresh tokens and clear the remember-me cookie."""
    state: AuthState | None = st.session_state.get(SESSION_KEY)
    if state is not None:
        with session_scope() as session:
            tokens.revoke_family(session=session, family_id=state.family_id)
    st.session_state.pop(SESSION_KEY, None)
    _schedule_cookie(None)
    st.session_state[COOKIE_TRIED_KEY] = True
    for key in list(st.session_state):
        if key not in (COOKIE_ACTION_KEY, COOKIE_TRIED_KEY, NOTICE_KEY):
            del st.session_state[key]


def logout_page() -> None:
    """The "Log out" entry of the navigation."""
    log_out()
    st.session_state[NOTICE_KEY] = "You have logged out."
    st.switch_page("pages/login.py")
