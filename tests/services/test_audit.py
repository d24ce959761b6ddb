"""The audit log: one row per staff or admin action; admins filter and export it."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from avenrae.models import AuditLog, BookingStatus, Role
from avenrae.services import accounts, audit, flows
from avenrae.services.bookings import Actor
from avenrae.services.errors import InvalidInput, PermissionDenied
from tests.factories import make_booking, make_transaction, make_user


def rows(db) -> list[AuditLog]:
    return db.scalars(select(AuditLog).order_by(AuditLog.created_at)).all()


@pytest.fixture
def staff(db):
    return make_user(db, role=Role.STAFF, first_name="Zanele", last_name="Staff")


def test_a_cancellation_on_behalf_and_its_refund_leave_one_row_each(db, staff):
    booking = make_booking(db, start=datetime.now(UTC) + timedelta(days=5), status=BookingStatus.CONFIRMED)
    make_transaction(db, booking)
    actor = Actor(staff.id, Role.STAFF)
    flows.cancel(
        session=db, booking_id=booking.id, actor=actor, reason="Client phoned in sick", on_behalf_of="client"
    )
    assert [(r.action, r.actor_id, r.target_id) for r in rows(db)] == [("booking.cancel", staff.id, str(booking.id))]
    flows.refund(
        session=db,
        booking_id=booking.id,
        actor=actor,
        amount=Decimal("10.00"),
        reason="Goodwill",
        method="eft",
        reference="EFT 991",
    )
    assert [r.action for r in rows(db)] == ["booking.cancel", "payment.refund"]


def test_a_role_change_leaves_one_row_with_before_and_after(db):
    admin = make_user(db, role=Role.ADMIN)
    someone = make_user(db, role=Role.STAFF)
    accounts.change_role(session=db, actor_id=admin.id, user_id=someone.id, role=Role.ANALYST, reason="Moved team")
    [row] = rows(db)
    assert (row.action, row.before["role"], row.after["role"], row.reason) == (
        "user.change_role",
        "staff",
        "analyst",
        "Moved team",
    )


@pytest.fixture
def logged(db, staff):
    other = make_user(db, role=Role.ADMIN, first_name="Pieter", last_name="Admin")
    now = datetime.now(UTC)
    entries = [
        AuditLog(
            actor_id=staff.id,
            action="review.publish",
            target_type="review",
            target_id="r-1",
            after={"status": "published"},
            created_at=now - timedelta(days=3),
        ),
        AuditLog(
            actor_id=staff.id,
            action="review.reject",
            target_type="review",
            target_id="r-2",
            reason='=HYPERLINK("http://evil")',
            created_at=now - timedelta(days=2),
        ),
        AuditLog(
            actor_id=other.id,
            action="user.change_role",
            target_type="user",
            target_id="u-9",
            before={"role": "staff"},
            after={"role": "admin"},
            created_at=now - timedelta(days=1),
        ),
    ]
    db.add_all(entries)
    db.flush()
    return other


def test_admins_filter_by_actor_action_target_and_date(db, staff, logged):
    admin = Role.ADMIN
    found, total = audit.search(session=db, actor_role=admin, filters=audit.AuditFilter(actor="zanele"))
    assert total == 2 and [r.action for r in found] == ["review.reject", "review.publish"]
    found, _ = audit.search(session=db, actor_role=admin, filters=audit.AuditFilter(actions=("user.change_role",)))
    assert [r.actor for r in found] == [f"Pieter Admin <{logged.email}>"]
    assert audit.search(session=db, actor_role=admin, filters=audit.AuditFilter(target="review"))[1] == 2
    assert audit.search(session=db, actor_role=admin, filters=audit.AuditFilter(target="u-9"))[1] == 1
    since = datetime.now(UTC) - timedelta(days=2, hours=12)
    assert audit.search(session=db, actor_role=admin, filters=audit.AuditFilter(start=since))[1] == 2
    with pytest.raises(InvalidInput, match="before its start"):
        audit.search(session=db, actor_role=admin, filters=audit.AuditFilter(start=since, end=since))


def test_the_csv_export_holds_exactly_the_filtered_rows_and_defuses_formulas(db, staff, logged):
    text, count = audit.export_csv(session=db, actor_role=Role.ADMIN, filters=audit.AuditFilter(target="review"))
    exported = list(csv.DictReader(io.StringIO(text)))
    assert count == 2 and [r["action"] for r in exported] == ["review.reject", "review.publish"]
    assert exported[0]["reason"] == '\'=HYPERLINK("http://evil")'
    assert exported[1]["after"] == '{"status": "published"}'


@pytest.mark.parametrize("role", [Role.STAFF, Role.ANALYST, Role.PRACTITIONER, Role.CLIENT])
def test_only_admins_read_the_audit_log(db, role):
    with pytest.raises(PermissionDenied):
        audit.search(session=db, actor_role=role)
    with pytest.raises(PermissionDenied):
        audit.export_csv(session=db, actor_role=role)
