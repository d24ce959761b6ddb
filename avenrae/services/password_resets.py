"""A forgotten password, reset from a link sent by e-mail.

Asking never says whether an account uses the address: the ask only checks the address and
the limit per client address, and the link is made and e-mailed afterwards, on threads of
its own, so the answer and its timing are the same either way. A password change, a
temporary password, a deactivation or a new link ends the links still open. Only the link's
SHA-256 is stored; a link works once, for AVENRAE_PASSWORD_RESET_MINUTES, and a newer link
for the same account ends the older ones. Choosing the new password signs the account out
everywhere and ends a lockout, as logging in does. Each address may ask
AVENRAE_PASSWORD_RESETS_PER_IP times an hour, each account gets at most
`LINKS_PER_ACCOUNT_PER_HOUR` e-mails an hour (more are quietly not sent, so nobody can
flood someone's mailbox).

The link is e-mailed straight away, never through the notifications outbox (which stores
what it sends). Without an e-mail server a development server writes it to its log; a
production server does not offer the reset at all (an administrator sets a temporary
password instead), and `check --deploy` says so.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from avenrae import db
from avenrae.config import get_settings
from avenrae.db import session_scope
from avenrae.models import LoginAttempt, PasswordReset, User
from avenrae.services import accounts, audit, notifications, ratelimit, tokens, validation
from avenrae.services.errors import InvalidInput, ServiceError
from avenrae.services.validation import FieldError

log = logging.getLogger(__name__)

LINKS_PER_ACCOUNT_PER_HOUR = 3
PAGE = "reset_password"  # the page's address under the public URL (pages/reset_password.py)
TOKEN_MAX_LENGTH = 100
ASKED = (
    "If an account uses {email}, a link to choose a new password is on its way to it. "
    "The link works once, for {minutes} minutes."
)
CHOSEN = "Your new password is saved. Log in with it."


class LinkNotValid(ServiceError):
    """The link is unknown, used, out of date or replaced by a newer one."""

    def __init__(self) -> None:
        super().__init__(
            "This link to choose a new password has run out, was already used, or a newer one was sent. "
            "Ask for a new link below."
        )


@dataclass(frozen=True)
class ResetLink:
    """What the e-mail says (sent with `deliver` once the request has been answered)."""

    email: str
    first_name: str
    url: str
    minutes: int


def available() -> bool:
    """Whether people can reset a forgotten password themselves here."""
    return notifications.email_enabled() or not get_settings().production


def request_limit() -> ratelimit.Limit:
    return ratelimit.Limit(
        "password-reset-ip",
        get_settings().password_resets_per_ip,
        timedelta(hours=1),
        "Too many password reset requests from your network.",
    )


def ask(*, session: Session, email: str, ip_address: str | None = None, now: datetime | None = None) -> str:
    """Check the address and count the ask against the limit of `ip_address`; the address
    to send a link for (with `send_soon`, once the caller's transaction has ended). Nothing
    here looks at accounts, so the answer and its timing are the same for every address.
    InvalidInput for an address that is not one; RateLimited for too many asks."""
    if not available():
        raise ServiceError("Resetting a password by e-mail is not set up here: ask an administrator.")
    try:
        address = validation.email(email)
    except FieldError as problem:
        words = str(problem) if email.strip() else "Enter the email you log in with."
        raise InvalidInput({"email": words}) from None
    if ip_address:
        ratelimit.hit(session, request_limit(), ip_address, now=now)
    return address


def make_link(
    *, session: Session, email: str, ip_address: str | None = None, now: datetime | None = None
) -> ResetLink | None:
    """A new link for the account that uses `email` (older open ones end), or None when there
    is no such account, it may not log in, or it had its links for this hour."""
    now = now or datetime.now(UTC)
    user = accounts.find_by_email(session, email)
    if user is None or not tokens.may_log_in(user):
        return None
    db.lock_until_commit(session, f"avenrae.password-reset:{user.id}")
    recent = session.execute(
        select(func.count())
        .select_from(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.created_at > now - timedelta(hours=1))
    ).scalar_one()
    if recent >= LINKS_PER_ACCOUNT_PER_HOUR:
        return None
    tokens.end_reset_links(session, user.id, now)
    token = secrets.token_urlsafe(32)
    minutes = get_settings().password_reset_minutes
    session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=tokens.hash_token(token),
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
            ip_address=ip_address,
        )
    )
    session.flush()
    url = f"{get_settings().public_url.rstrip('/')}/{PAGE}?token={token}"
    return ResetLink(email=user.email, first_name=user.first_name, url=url, minutes=minutes)


def send_link(email: str, ip_address: str | None = None) -> bool:
    """Make the link for the account that uses `email`, if any, and e-mail it: True when an
    e-mail went out."""
    with session_scope() as session:
        link = make_link(session=session, email=email, ip_address=ip_address)
    return link is not None and deliver(link)


# Links are made and sent here, after the ask was answered: a page or API thread never waits
# for the mail server, and the answer takes as long whether or not an account uses the address.
_SENDER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="avenrae-password-reset")


def send_soon(email: str, ip_address: str | None = None) -> None:
    """`send_link` in the background (call it once the ask's transaction has ended)."""

    def done(future: Future) -> None:
        if (error := future.exception()) is not None:
            log.error("password reset e-mail to %s not made or sent", email, exc_info=error)

    _SENDER.submit(send_link, email, ip_address).add_done_callback(done)


def deliver(link: ResetLink) -> bool:
    """E-mail the link (after the request has been answered and committed). Without an
    e-mail server, a development server writes it to its log."""
    text = (
        "Someone (we hope you) asked to choose a new password for your Avenrae account. "
        f"Open this link within {link.minutes} minutes to choose one; it works once:\n\n{link.url}\n\n"
        "If it was not you, ignore this e-mail: your password stays as it is."
    )
    if not notifications.email_enabled():
        if not get_settings().production:
            log.warning(
                "No e-mail server is set (AVENRAE_SMTP_HOST), so here is the e-mail to %s:\n%s", link.email, text
            )
        return False
    return notifications.send_now(
        message_id=f"password-reset.{uuid.uuid4()}",
        email=link.email,
        first_name=link.first_name,
        title="Choose a new password",
        text=text,
    )


def _open_link(session: Session, token: str, now: datetime, *, lock: bool) -> tuple[PasswordReset, User]:
    if not token or len(token) > TOKEN_MAX_LENGTH:
        raise LinkNotValid()
    query = select(PasswordReset, User).join(User, User.id == PasswordReset.user_id)
    query = query.where(PasswordReset.token_hash == tokens.hash_token(token))
    found = session.execute(query.with_for_update(of=PasswordReset) if lock else query).first()
    if found is None:
        raise LinkNotValid()
    link, user = found
    if link.used_at is not None or link.expires_at <= now or not tokens.may_log_in(user):
        raise LinkNotValid()
    return link, user


def check(*, session: Session, token: str, now: datetime | None = None) -> str:
    """The email of the account the link resets (for the page to name it); LinkNotValid when
    it no longer works."""
    return _open_link(session, token, now or datetime.now(UTC), lock=False)[1].email


def choose_password(
    *, session: Session, token: str, password: str, ip_address: str | None = None, now: datetime | None = None
) -> User:
    """Set the password the link's owner chose: every session of the account ends, the link
    and any other open one stop working, and a lockout ends (they proved the mailbox is theirs)."""
    now = now or datetime.now(UTC)
    link, user = _open_link(session, token, now, lock=True)
    if not password:
        raise InvalidInput({"password": "Enter the new password."})
    try:
        accounts.check_password(password, email=user.email, names=(user.first_name, user.last_name))
    except FieldError as problem:
        raise InvalidInput({"password": str(problem)}) from None
    db.lock_until_commit(session, f"avenrae.login:{accounts.email_key(user.email)}")
    session.refresh(user, with_for_update=True)  # as it is now that logins and changes wait
    user.password_hash = accounts.hash_password(password)
    user.must_change_password = False
    link.used_at = now
    tokens.revoke_all(session=session, user_id=user.id, now=now)  # other open links end with the sessions
    session.add(
        LoginAttempt(
            email=accounts.email_key(user.email)[:254],
            user_id=user.id,
            succeeded=True,
            reason="password_reset",
            ip_address=ip_address,
            attempted_at=now,
        )
    )
    audit.record(
        session=session,
        actor_id=user.id,
        action="user.password_reset",
        target_type="user",
        target_id=user.id,
        reason="a new password chosen from the link e-mailed to the account",
    )
    session.flush()
    return user
