"""Notifications: the inbox, read marks, and e-mail copies through a real local SMTP server."""

from datetime import UTC, datetime

from sqlalchemy import select

from avenrae.config import get_settings
from avenrae.models import Notification
from avenrae.services import notifications
from tests.factories import make_client


def item(user, title="Booking confirmed", message="Your session is confirmed."):
    return notifications.Item(user.id, "booking_confirmed", title, message, {"booking_id": "x"})


def test_inbox_unread_count_and_marking_read(db):
    sipho, lerato = make_client(db), make_client(db)
    notifications.notify_many(session=db, items=[item(sipho, "One"), item(sipho, "Two"), item(lerato, "Theirs")])
    assert notifications.unread_count(session=db, user_id=sipho.id) == 2
    entries = notifications.inbox(session=db, user_id=sipho.id)
    assert {e.title for e in entries} == {"One", "Two"}
    assert (
        notifications.mark_read(session=db, user_id=sipho.id, ids=[entries[0].id], now=datetime(2030, 1, 1, tzinfo=UTC))
        == 1
    )
    assert notifications.unread_count(session=db, user_id=sipho.id) == 1
    # Someone else's notification cannot be marked through another account.
    theirs = notifications.inbox(session=db, user_id=lerato.id)[0]
    assert notifications.mark_read(session=db, user_id=sipho.id, ids=[theirs.id]) == 0
    assert notifications.mark_read(session=db, user_id=sipho.id) == 1
    assert notifications.unread_count(session=db, user_id=sipho.id) == 0
    assert notifications.unread_count(session=db, user_id=lerato.id) == 1


def test_without_smtp_nothing_waits_to_be_mailed(db, monkeypatch):
    monkeypatch.setattr(get_settings(), "smtp_host", None)
    notifications.notify(session=db, item=item(make_client(db)))
    assert db.scalar(select(Notification.email_status)) == "none"
    assert notifications.send_pending_emails() == (0, 0)


def test_email_copies_go_out_after_the_fact_and_once(db, smtp_server):
    client = make_client(db, email="sipho@example.co.za", first_name="Sipho")
    notifications.notify(session=db, item=item(client, message="Your session on Mon 07 Jan is confirmed."))
    assert db.scalar(select(Notification.email_status)) == "pending"
    assert notifications.send_pending_emails() == (1, 0)
    assert notifications.send_pending_emails() == (0, 0)
    [envelope] = smtp_server.messages
    assert envelope.rcpt_tos == ["sipho@example.co.za"]
    body = envelope.content.decode()
    assert "Subject: Avenrae: Booking confirmed" in body and "Hello Sipho" in body and "Mon 07 Jan" in body
    db.expire_all()
    assert db.scalar(select(Notification.email_status)) == "sent"


def test_a_server_that_is_down_leaves_mail_waiting(db, monkeypatch):
    settings = get_settings()
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "smtp_port", 1)
    notifications.notify(session=db, item=item(make_client(db)))
    assert notifications.send_pending_emails() == (0, 0)
    assert db.scalar(select(Notification.email_status)) == "pending"
