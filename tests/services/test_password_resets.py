"""A forgotten password, reset from an e-mailed link: the link works once, for a while, for
the newest request only; asking never tells whether an account exists; choosing the new
password ends every session and any lockout."""

import email
import email.policy
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from avenrae.config import get_settings
from avenrae.models import AuditLog, LoginAttempt, Notification, PasswordReset, RefreshToken, Role
from avenrae.services import accounts, password_resets, ratelimit, retention, tokens
from avenrae.services.errors import InvalidInput, ServiceError
from tests.factories import PASSWORD, make_client, make_user

NEW_PASSWORD = "Jacaranda season 2031"
NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


def token_of(link: password_resets.ResetLink) -> str:
    return re.fullmatch(r".*/reset_password\?token=([\w-]+)", link.url).group(1)


def resets(db) -> int:
    return db.scalar(select(func.count()).select_from(PasswordReset))


def test_a_link_sets_a_new_password_once_and_ends_every_session(db):
    sipho = make_client(db, email="sipho@example.co.za", first_name="Sipho")
    tokens.issue(session=db, user=sipho, now=NOW)  # logged in somewhere
    link = password_resets.make_link(session=db, email=" SIPHO@example.co.za ", now=NOW)
    assert (link.email, link.first_name, link.minutes) == ("sipho@example.co.za", "Sipho", 60)
    assert link.url.startswith(get_settings().public_url.rstrip("/") + "/reset_password?token=")
    token = token_of(link)
    # Only its hash is kept: nothing in the table (or anywhere a dump would show) holds the link.
    stored = db.execute(text("SELECT row_to_json(p)::text FROM password_resets p")).scalar_one()
    assert token not in stored and tokens.hash_token(token) in stored
    assert password_resets.check(session=db, token=token, now=NOW) == "sipho@example.co.za"

    password_resets.choose_password(session=db, token=token, password=NEW_PASSWORD, now=NOW + timedelta(minutes=5))
    db.refresh(sipho)
    assert accounts.verify_password(NEW_PASSWORD, sipho.password_hash)
    assert db.scalar(select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))) == 0
    assert db.scalar(select(AuditLog.action).where(AuditLog.target_id == str(sipho.id))) == "user.password_reset"
    with pytest.raises(password_resets.LinkNotValid):
        password_resets.choose_password(session=db, token=token, password="Another fine day 2031", now=NOW)
    db.refresh(sipho)
    assert accounts.verify_password(NEW_PASSWORD, sipho.password_hash)
    assert accounts.login(session=db, email="sipho@example.co.za", password=NEW_PASSWORD).user.id == sipho.id


def test_asking_for_an_unknown_or_closed_account_looks_the_same_and_writes_nothing(db):
    closed = make_client(db, email="gone@example.co.za", is_active=False)
    assert password_resets.make_link(session=db, email="nobody@example.co.za") is None
    assert password_resets.make_link(session=db, email=closed.email) is None
    assert resets(db) == 0


def test_a_link_runs_out_and_a_newer_one_ends_it(db):
    make_client(db, email="lerato@example.co.za")
    first = token_of(password_resets.make_link(session=db, email="lerato@example.co.za", now=NOW))
    with pytest.raises(password_resets.LinkNotValid, match="run out"):
        password_resets.check(session=db, token=first, now=NOW + timedelta(minutes=61))
    second = token_of(
        password_resets.make_link(session=db, email="lerato@example.co.za", now=NOW + timedelta(minutes=1))
    )
    with pytest.raises(password_resets.LinkNotValid):
        password_resets.choose_password(session=db, token=first, password=NEW_PASSWORD, now=NOW + timedelta(minutes=2))
    assert password_resets.check(session=db, token=second, now=NOW + timedelta(minutes=2)) == "lerato@example.co.za"
    for made_up in ("", "x" * 500, "not-a-token"):
        with pytest.raises(password_resets.LinkNotValid):
            password_resets.check(session=db, token=made_up, now=NOW)


def test_a_weak_new_password_is_refused_and_the_link_still_works(db):
    thabo = make_client(db, email="thabo@example.co.za")
    token = token_of(password_resets.make_link(session=db, email=thabo.email, now=NOW))
    for weak, words in (("", "Enter the new password"), ("short", "at least 10"), ("password12", "guess")):
        with pytest.raises(InvalidInput) as refused:
            password_resets.choose_password(session=db, token=token, password=weak, now=NOW)
        assert words in refused.value.problems["password"]
    db.refresh(thabo)
    assert accounts.verify_password(PASSWORD, thabo.password_hash)
    assert password_resets.check(session=db, token=token, now=NOW) == thabo.email


def test_a_new_password_ends_a_lockout(db):
    naledi = make_client(db, email="naledi@example.co.za")
    for _ in range(get_settings().lockout_failures):
        with pytest.raises(accounts.LoginRefused):
            accounts.login(session=db, email=naledi.email, password="Wrong guess 12345")
    with pytest.raises(accounts.AccountLocked):
        accounts.login(session=db, email=naledi.email, password=PASSWORD)
    token = token_of(password_resets.make_link(session=db, email=naledi.email))
    password_resets.choose_password(session=db, token=token, password=NEW_PASSWORD, ip_address="198.51.100.7")
    assert accounts.login(session=db, email=naledi.email, password=NEW_PASSWORD).user.id == naledi.id
    reasons = db.scalars(select(LoginAttempt.reason).where(LoginAttempt.succeeded)).all()
    assert sorted(reasons) == ["ok", "password_reset"]


def test_one_account_gets_three_links_an_hour_and_one_address_its_limit(db, monkeypatch):
    make_client(db, email="zanele@example.co.za")
    links = [
        password_resets.make_link(session=db, email="zanele@example.co.za", now=NOW + timedelta(minutes=i))
        for i in range(4)
    ]
    assert [link is not None for link in links] == [True, True, True, False]  # the fourth is quietly not sent
    assert resets(db) == 3
    assert (
        password_resets.make_link(session=db, email="zanele@example.co.za", now=NOW + timedelta(minutes=61)) is not None
    )

    monkeypatch.setattr(get_settings(), "password_resets_per_ip", 2)
    for _ in range(2):
        assert password_resets.ask(session=db, email="Someone@Example.co.za", ip_address="203.0.113.9") == (
            "Someone@example.co.za"
        )
    with pytest.raises(ratelimit.RateLimited, match="Too many password reset requests"):
        password_resets.ask(session=db, email="zanele@example.co.za", ip_address="203.0.113.9")


def test_an_address_that_is_not_one_is_refused_in_plain_words(db):
    with pytest.raises(InvalidInput) as empty:
        password_resets.ask(session=db, email="  ")
    assert empty.value.problems == {"email": "Enter the email you log in with."}
    with pytest.raises(InvalidInput) as wrong:
        password_resets.ask(session=db, email="sipho at example")
    assert "does not look right" in wrong.value.problems["email"] or "spaces" in wrong.value.problems["email"]


def test_the_link_is_made_and_emailed_after_the_answer_and_never_stored(db, smtp_server):
    make_client(db, email="ayanda@example.co.za", first_name="Ayanda")
    address = password_resets.ask(session=db, email="AYANDA@example.co.za")
    assert resets(db) == 0  # the ask alone looks at no account
    password_resets.send_soon(address)
    [link_hash] = db.scalars(select(PasswordReset.token_hash)).all()
    [envelope] = smtp_server.messages
    assert envelope.rcpt_tos == ["ayanda@example.co.za"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    body = message.get_content()
    assert message["Subject"] == "Avenrae: Choose a new password" and "Hello Ayanda," in body
    url = re.search(r"http\S+/reset_password\?token=[\w-]+", body).group(0)
    assert tokens.hash_token(url.split("token=")[1]) == link_hash
    assert "within 60 minutes" in body and "ignore this e-mail" in body
    assert db.scalar(select(func.count()).select_from(Notification)) == 0
    password_resets.send_soon("nobody@example.co.za")  # no account: nothing made, nothing sent
    assert resets(db) == 1 and len(smtp_server.messages) == 1


@pytest.mark.parametrize("change", ["own password", "temporary password", "deactivation"])
def test_a_password_change_or_a_deactivation_ends_the_open_links(db, change):
    admin = make_user(db, role=Role.ADMIN)
    lindiwe = make_client(db, email="lindiwe@example.co.za")
    token = token_of(password_resets.make_link(session=db, email=lindiwe.email))
    if change == "own password":
        accounts.change_password(session=db, user_id=lindiwe.id, old_password=PASSWORD, new_password=NEW_PASSWORD)
    elif change == "temporary password":
        accounts.set_temporary_password(session=db, actor_id=admin.id, user_id=lindiwe.id, password=NEW_PASSWORD)
    else:
        accounts.set_active(session=db, actor_id=admin.id, user_id=lindiwe.id, active=False, reason="Fraud report")
        accounts.set_active(session=db, actor_id=admin.id, user_id=lindiwe.id, active=True)
    with pytest.raises(password_resets.LinkNotValid):
        password_resets.check(session=db, token=token)


def test_without_an_email_server_development_logs_the_link_and_production_does_not_offer_it(db, monkeypatch, caplog):
    make_client(db, email="bongani@example.co.za")
    monkeypatch.setattr(get_settings(), "smtp_host", None)
    link = password_resets.make_link(session=db, email="bongani@example.co.za")
    with caplog.at_level(logging.WARNING, logger="avenrae.services.password_resets"):
        assert password_resets.deliver(link) is False
    assert link.url in caplog.text

    monkeypatch.setattr(get_settings(), "environment", "production")
    assert not password_resets.available()
    with pytest.raises(ServiceError, match="ask an administrator"):
        password_resets.ask(session=db, email="bongani@example.co.za")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="avenrae.services.password_resets"):
        assert password_resets.deliver(link) is False
    assert link.url not in caplog.text


def test_links_are_deleted_a_week_after_they_run_out(db):
    make_client(db, email="mpho@example.co.za")
    password_resets.make_link(session=db, email="mpho@example.co.za", now=NOW)
    assert retention.purge_expired(session=db, now=NOW + timedelta(days=6)).password_resets == 0
    assert retention.purge_expired(session=db, now=NOW + timedelta(days=8)).password_resets == 1
    assert resets(db) == 0
