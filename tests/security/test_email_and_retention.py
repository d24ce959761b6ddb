"""E-mail goes only over verified TLS and is never sent twice; personal records are
deleted once their keeping time has passed."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from avenrae import db as app_db
from avenrae.config import get_settings
from avenrae.models import (
    LoginAttempt,
    Notification,
    PreviousReleaseRateLimitCounter,
    RateLimitCounter,
    RefreshToken,
    SessionCode,
    StripeEvent,
)
from avenrae.services import notifications, retention, tokens
from tests.factories import make_client

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Inbox:
    def __init__(self, stall_on: int | None = None):
        self.messages: list = []
        self.logins: list = []
        self.stall_on = stall_on

    async def handle_DATA(self, server, session, envelope):
        if self.stall_on is not None and len(self.messages) + 1 == self.stall_on:
            self.stall_on = None
            await asyncio.sleep(3)  # longer than the client waits: it gives up
            return "451 too slow"
        self.messages.append(envelope)
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append(mechanism)
        return AuthResult(success=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp(monkeypatch):
    started = []

    def start(inbox: Inbox, *, security: str, tls_context: ssl.SSLContext | None = None) -> Inbox:
        port = free_port()
        controller = Controller(
            inbox,
            hostname="127.0.0.1",
            port=port,
            tls_context=tls_context,
            authenticator=inbox.authenticate,
            auth_require_tls=False,
        )
        controller.start()
        started.append(controller)
        settings = get_settings()
        monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
        monkeypatch.setattr(settings, "smtp_port", port)
        monkeypatch.setattr(settings, "smtp_security", security)
        monkeypatch.setattr(settings, "smtp_username", "avenrae")
        monkeypatch.setattr(settings, "smtp_password", SecretStr("mail-password"))
        monkeypatch.setattr(settings, "smtp_timeout_seconds", 1.0)
        return inbox

    yield start
    for controller in started:
        controller.stop()


def waiting(db) -> list[str]:
    db.expire_all()
    return db.scalars(select(Notification.email_status).order_by(Notification.created_at)).all()


def notify(db, n: int = 1) -> None:
    client = make_client(db)
    for i in range(n):
        notifications.notify(session=db, item=notifications.Item(client.id, "test", f"Message {i}", "Hello"))


def test_no_starttls_offered_means_no_password_and_no_mail_in_clear(db, smtp):
    inbox = smtp(Inbox(), security="starttls")  # this server offers no STARTTLS
    notify(db)
    assert notifications.send_pending_emails() == (0, 0)
    assert inbox.logins == [] and inbox.messages == []
    assert waiting(db) == ["pending"]


def test_a_certificate_that_does_not_verify_is_refused(db, smtp, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = smtp(Inbox(), security="starttls", tls_context=context)
    notify(db)
    assert notifications.send_pending_emails() == (0, 0)
    assert inbox.logins == [] and inbox.messages == []
    assert waiting(db) == ["pending"]


def test_in_clear_only_to_a_relay_on_this_machine(monkeypatch):
    from pydantic import ValidationError

    from avenrae.config import Settings

    with pytest.raises(ValidationError, match="only allowed for a relay on localhost"):
        Settings(smtp_host="smtp.example.co.za", smtp_security="none")
    assert Settings(smtp_host="localhost", smtp_security="none").smtp_security == "none"


def test_a_timeout_half_way_never_sends_a_message_twice(committed_db, smtp, monkeypatch):
    monkeypatch.setitem(app_db.SessionLocal.kw, "bind", committed_db)
    inbox = smtp(Inbox(stall_on=2), security="none")
    with Session(committed_db) as session:
        notify(session, n=3)
        session.commit()
    assert notifications.send_pending_emails() == (1, 0)  # the second timed out: the run stops there
    with Session(committed_db) as session:
        assert sorted(waiting(session)) == ["pending", "pending", "sent"]
    assert notifications.send_pending_emails() == (2, 0)
    subjects = [e.content.decode().split("Subject: ")[1].splitlines()[0] for e in inbox.messages]
    assert sorted(subjects) == ["Avenrae: Message 0", "Avenrae: Message 1", "Avenrae: Message 2"]  # none twice


def test_old_records_are_purged_and_recent_ones_kept(db):
    user = make_client(db)
    old, recent = NOW - timedelta(days=200), NOW - timedelta(days=1)
    for at in (old, recent):
        db.add(LoginAttempt(email="x@example.co.za", succeeded=False, reason="bad_password", attempted_at=at))
        db.add(StripeEvent(id=f"evt_{at:%j}", type="x", payload={}, received_at=at))
        db.add(RateLimitCounter(key=f"login-ip:{at:%j}", window_start=at, window_end=at, hits=1))
        db.add(PreviousReleaseRateLimitCounter(key=f"login-ip:{at:%j}", window_start=at, hits=1))
    expired = tokens.issue(session=db, user=user, now=NOW - timedelta(days=30))
    live = tokens.issue(session=db, user=user, now=NOW)
    tokens.new_cookie_code(session=db, refresh_token="x", now=NOW - timedelta(hours=1))
    db.flush()
    purged = retention.purge_expired(session=db, now=NOW)
    assert (purged.login_attempts, purged.stripe_events, purged.refresh_tokens, purged.session_codes) == (1, 1, 1, 1)
    assert purged.rate_limit_counters == 2  # the old one of each table
    assert db.scalars(select(LoginAttempt.attempted_at)).all() == [recent]
    hashes = db.scalars(select(RefreshToken.token_hash)).all()
    assert hashes == [tokens.hash_token(live.refresh_token)] and tokens.hash_token(expired.refresh_token) not in hashes
    assert db.scalar(select(func.count()).select_from(SessionCode)) == 0
    assert db.execute(text("SELECT count(*) FROM stripe_events")).scalar() == 1
