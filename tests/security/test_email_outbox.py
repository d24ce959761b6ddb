"""One message the mail server will never take (an address it cannot send to, content it
refuses for good) is marked failed and the outbox goes on: it never stops every e-mail behind
it (found by review)."""

import socket
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from sqlalchemy import select, update

from avenrae.config import get_settings
from avenrae.models import Notification
from avenrae.services import notifications, validation
from tests.factories import make_client


class Inbox(Sink):
    def __init__(self, reject_subject: str | None = None):
        self.messages = []
        self.reject_subject = reject_subject

    async def handle_DATA(self, server, session, envelope):
        if self.reject_subject and f"Subject: {self.reject_subject}".encode() in envelope.content:
            return "554 5.7.1 Message rejected as spam"
        self.messages.append(envelope)
        return "250 OK"


def start(monkeypatch, inbox: Inbox, smtputf8: bool) -> Controller:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Many relays (Amazon SES among them) do not offer SMTPUTF8.
    controller = Controller(inbox, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    settings = get_settings()
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "smtp_port", port)
    monkeypatch.setattr(settings, "smtp_security", "none")
    return controller


@pytest.fixture
def mail(monkeypatch):
    started: list[Controller] = []

    def run(inbox: Inbox, smtputf8: bool = True) -> Inbox:
        started.append(start(monkeypatch, inbox, smtputf8))
        return inbox

    yield run
    for controller in started:
        controller.stop()


def _older(db, title: str) -> None:
    # The stuck message is the older one (created first), as it would be in real life.
    db.execute(
        update(Notification)
        .where(Notification.title == title)
        .values(created_at=datetime.now(UTC) - timedelta(minutes=5))
    )
    db.flush()


def test_an_address_the_server_cannot_take_fails_alone(db, mail):
    inbox = mail(Inbox(), smtputf8=False)
    zoe = make_client(db, email=validation.email("zoë@example.co.za"), first_name="Zoë")  # sign-up accepts it
    sipho = make_client(db, email="sipho@example.co.za", first_name="Sipho")
    notifications.notify(session=db, item=notifications.Item(zoe.id, "t", "For Zoe", "Hello"))
    notifications.notify(session=db, item=notifications.Item(sipho.id, "t", "For Sipho", "Hello"))
    _older(db, "For Zoe")

    for _ in range(3):  # three runs of the minute job
        notifications.send_pending_emails()

    delivered = [rcpt for envelope in inbox.messages for rcpt in envelope.rcpt_tos]
    db.expire_all()
    statuses = dict(db.execute(select(Notification.title, Notification.email_status)).all())
    assert "sipho@example.co.za" in delivered, f"Sipho's e-mail never went out; outbox: {statuses}"
    assert statuses == {"For Zoe": "failed", "For Sipho": "sent"}


def test_a_message_the_server_rejects_for_good_fails_alone(db, mail):
    inbox = mail(Inbox(reject_subject="Avenrae: Rejected one"))
    lerato = make_client(db, first_name="Lerato")
    sipho = make_client(db, email="sipho2@example.co.za", first_name="Sipho")
    notifications.notify(session=db, item=notifications.Item(lerato.id, "t", "Rejected one", "Hello"))
    notifications.notify(session=db, item=notifications.Item(sipho.id, "t", "For Sipho", "Hello"))
    _older(db, "Rejected one")

    for _ in range(3):
        notifications.send_pending_emails()

    delivered = [rcpt for envelope in inbox.messages for rcpt in envelope.rcpt_tos]
    db.expire_all()
    statuses = dict(db.execute(select(Notification.title, Notification.email_status)).all())
    assert "sipho2@example.co.za" in delivered, f"Sipho's e-mail never went out; outbox: {statuses}"
    assert statuses == {"Rejected one": "failed", "For Sipho": "sent"}


def test_a_server_that_says_try_later_keeps_every_message_waiting(db, mail):
    class Busy(Inbox):
        async def handle_DATA(self, server, session, envelope):
            return "451 4.3.0 Try again later"

    mail(Busy())
    sipho = make_client(db, email="sipho3@example.co.za", first_name="Sipho")
    notifications.notify(session=db, item=notifications.Item(sipho.id, "t", "First", "Hello"))
    notifications.notify(session=db, item=notifications.Item(sipho.id, "t", "Second", "Hello"))
    assert notifications.send_pending_emails() == (0, 0)
    db.expire_all()
    statuses = dict(db.execute(select(Notification.title, Notification.email_status)).all())
    assert statuses == {"First": "pending", "Second": "pending"}


def test_every_message_carries_a_date_and_an_id_of_the_senders_domain(monkeypatch):
    # Without Date a relay stamps its own or spam filters count it against the message;
    # without Message-ID some servers refuse it (found by an operator's trial).
    settings = get_settings()
    monkeypatch.setattr(settings, "smtp_from", "Avenrae <no-reply@mail.avenrae.co.za>")
    notification_id = uuid.uuid4()
    message = notifications._message(notification_id, "sipho@example.co.za", "Sipho", "Booked", "Hello")
    again = notifications._message(notification_id, "sipho@example.co.za", "Sipho", "Booked", "Hello")
    other = notifications._message(uuid.uuid4(), "sipho@example.co.za", "Sipho", "Booked", "Hello")

    assert message["Date"].endswith(" -0000")  # UTC (RFC 5322: no local zone said)
    sent_at = parsedate_to_datetime(message["Date"]).replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - sent_at) < timedelta(minutes=1)
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@mail.avenrae.co.za>")
    assert again["Message-ID"] == message["Message-ID"]  # a copy sent again is recognisably the same
    assert other["Message-ID"] != message["Message-ID"]

    monkeypatch.setattr(settings, "smtp_from", "Avenrae")  # no address: the public URL's host instead
    monkeypatch.setattr(settings, "public_url", "https://ops.avenrae.co.za")
    assert notifications._message(notification_id, "s@example.co.za", "S", "T", "x")["Message-ID"].endswith(
        "@ops.avenrae.co.za>"
    )
