"""The ledger: every movement of money for a booking, one row each in payment_transactions.

This module alone reads and writes that table. A row is written once and, while pending,
settled once (the database refuses anything else, and refunds beyond what was paid). A
booking's payment_status is derived from its rows (`restate`), in the same transaction
as every change to them.

How a payment splits: the practitioner's share of a charge is round(amount x service /
total, 2) and the platform's fee share is the rest (`fee_split`, and
`PRACTITIONER_SHARE_SQL` for the same rule in SQL). For a charge of the whole total these
are exactly the booking's service amount and platform fee. A refund takes back from each
in the same proportion, worked out on the booking's refunds so far (this one included)
less what the earlier ones took, so refunds in any number of parts add up to the share
of their sum: a full refund takes back exactly the service amount and the fee. Earnings,
Payments, Home, Revenue and the analytics refresh all split money this one way.
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from avenrae.config import get_settings
from avenrae.models import (
    OPERATORS,
    AuditLog,
    Booking,
    PaymentStatus,
    PaymentTransaction,
    Practitioner,
    Role,
    TransactionKind,
    User,
    booking_ids_of_reference,
    booking_reference,
)
from avenrae.services import audit, spreadsheet, validation
from avenrae.services.counting import Count, count
from avenrae.services.errors import InvalidInput, PermissionDenied, ServiceError
from avenrae.services.pricing import CENT

if TYPE_CHECKING:
    from avenrae.services.bookings import NewBooking

log = logging.getLogger(__name__)

MANUAL = "manual"
UNCHOSEN = "pending"  # the provider of an open charge until it is paid one way or another
MANUAL_METHODS = {"eft": "EFT", "cash": "Cash", "card_machine": "Card machine"}


def method_words(method: str) -> str:
    """A way of paying by hand mid-sentence: "EFT", "cash", "card machine"."""
    words = MANUAL_METHODS[method]
    return words if words.isupper() else words.lower()


POLICY_REFUND_REASON = "Refund for your cancelled booking."  # by an owed refund (the policy's or one staff set)
PAID_TWICE_REASON = "Paid twice."  # a refund of money a booking that goes ahead did not need
# Refunds being paid out or paid: what no longer can be refunded.
LIVE = (PaymentStatus.PENDING, PaymentStatus.COMPLETED)


# --- how money splits ------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    practitioner: Decimal
    platform: Decimal


def fee_split(
    amount: Decimal, *, service_amount: Decimal, total_amount: Decimal, refunded_before: Decimal | None = None
) -> Split:
    """The practitioner's and the platform's parts of a ledger amount for a booking: a
    charge, or (with `refunded_before`, the booking's completed refunds before it) a refund."""
    amount = Decimal(amount)
    if total_amount <= 0:
        return Split(Decimal("0.00"), amount)

    def share(of: Decimal) -> Decimal:
        return (of * service_amount / total_amount).quantize(CENT, rounding=ROUND_HALF_UP)

    before = Decimal(refunded_before or 0)
    practitioner = share(before + amount) - share(before)
    return Split(practitioner, amount - practitioner)


def practitioner_share_sql(t: str = "t", b: str = "b") -> str:
    """`fee_split`'s practitioner part in SQL, for a ledger row `t` of a booking `b`
    (PostgreSQL rounds numeric halves away from zero: half-up for the positive amounts of
    the ledger). NULL when the booking's total is zero. A refund's share is read in one
    look at its booking's refunds (this one and the completed ones before it)."""
    ratio = f"{b}.service_amount / nullif({b}.total_amount, 0)"
    refund_share = (
        f"(SELECT round(sum(e.amount) * {ratio}, 2) - round((sum(e.amount) - {t}.amount) * {ratio}, 2)"  # noqa: S608 - table names, never input
        f" FROM payment_transactions e WHERE e.booking_id = {t}.booking_id AND e.kind = 'refund'"
        f" AND (e.id = {t}.id OR (e.status = 'completed' AND (e.created_at, e.id) < ({t}.created_at, {t}.id))))"
    )
    return f"CASE WHEN {t}.kind = 'refund' THEN {refund_share} ELSE round({t}.amount * {ratio}, 2) END"


PRACTITIONER_SHARE_SQL = practitioner_share_sql()
FEE_SHARE_SQL = f"t.amount - coalesce({PRACTITIONER_SHARE_SQL}, 0)"
# `paid` in SQL: what a booking's ledger rows `t` add up to, charges less refunds (the
# caller keeps to completed rows, t.status = 'completed').
NET_PAID_SQL = "sum(CASE WHEN t.kind = 'charge' THEN t.amount ELSE -t.amount END)"


def _practitioner_share() -> ColumnElement[Decimal]:
    """The same, for ORM queries over PaymentTransaction joined to its Booking (unaliased)."""
    share = practitioner_share_sql(PaymentTransaction.__tablename__, Booking.__tablename__)
    return func.coalesce(literal_column(share, Numeric(12, 2)), 0)


def _fee_share() -> ColumnElement[Decimal]:
    return PaymentTransaction.amount - _practitioner_share()


# --- one booking's money -----------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    charged: Decimal  # completed charges
    refunded: Decimal  # completed refunds
    refunds_pending: Decimal
    charges_pending: int
    charges_failed: int
    charges_expired: int

    @property
    def given_back(self) -> Decimal:
        """Refunds made or under way."""
        return self.refunded + self.refunds_pending

    @property
    def refundable(self) -> Decimal:
        return self.charged - self.refunded - self.refunds_pending

    @property
    def status(self) -> PaymentStatus:
        if self.charged == 0:
            if self.charges_pending:
                return PaymentStatus.PENDING
            if self.charges_failed:
                return PaymentStatus.FAILED
            return PaymentStatus.EXPIRED if self.charges_expired else PaymentStatus.PENDING
        if self.refunded >= self.charged:
            return PaymentStatus.REFUNDED
        return PaymentStatus.COMPLETED


def _sum(kind: TransactionKind, *statuses: PaymentStatus) -> ColumnElement[Decimal]:
    wanted = and_(PaymentTransaction.kind == kind, PaymentTransaction.status.in_(statuses))
    return func.coalesce(func.sum(PaymentTransaction.amount).filter(wanted), 0)


def _balance_columns() -> tuple[ColumnElement, ...]:
    charge = PaymentTransaction.kind == TransactionKind.CHARGE
    return (
        _sum(TransactionKind.CHARGE, PaymentStatus.COMPLETED),
        _sum(TransactionKind.REFUND, PaymentStatus.COMPLETED),
        _sum(TransactionKind.REFUND, PaymentStatus.PENDING),
        func.count().filter(charge, PaymentTransaction.status == PaymentStatus.PENDING),
        func.count().filter(charge, PaymentTransaction.status == PaymentStatus.FAILED),
        func.count().filter(charge, PaymentTransaction.status == PaymentStatus.EXPIRED),
    )


def _balance(row: Sequence) -> Balance:
    return Balance(Decimal(row[0]), Decimal(row[1]), Decimal(row[2]), row[3], row[4], row[5])


def balance(session: Session, booking_id: uuid.UUID) -> Balance:
    return _balance(
        session.execute(select(*_balance_columns()).where(PaymentTransaction.booking_id == booking_id)).one()
    )


def refundable(session: Session, booking_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    """What each of these bookings can still be refunded, in one read; those with nothing
    left to refund are left out."""
    rows = session.execute(
        select(PaymentTransaction.booking_id, *_balance_columns())
        .where(PaymentTransaction.booking_id.in_(list(booking_ids)))
        .group_by(PaymentTransaction.booking_id)
    ).all()
    found = {row[0]: _balance(row[1:]).refundable for row in rows}
    return {booking_id: amount for booking_id, amount in found.items() if amount > 0}


def restate(session: Session, booking: Booking) -> Balance:
    """Write the booking's payment_status as its ledger says."""
    session.flush()
    found = balance(session, booking.id)
    booking.payment_status = found.status
    session.flush()
    return found


def paid(session: Session, booking_id: uuid.UUID) -> Decimal:
    """What the client paid and is not already getting back: completed charges less the
    refunds made or under way (what a cancellation's policy applies to)."""
    return balance(session, booking_id).refundable


def owed(session: Session, booking: Booking, found: Balance | None = None) -> Decimal:
    """What the booking still owes back (a cancellation's refund, or money paid beyond the
    price of a booking that goes ahead): the refund due less the refunds made since it was
    set (`found`: the booking's balance, when the caller has read it already)."""
    if not booking.refund_due:
        return Decimal("0.00")
    found = found or balance(session, booking.id)
    since = found.given_back - booking.refunded_before_cancel
    return max(booking.refund_due - since, Decimal("0.00"))


def _given_back_since_cancel() -> ColumnElement[Decimal]:
    """Over a booking joined to its ledger rows: the refunds made or under way since its
    refund due was set (what `owed` subtracts from it)."""
    refunds = PaymentTransaction.kind == TransactionKind.REFUND
    return (
        func.coalesce(func.sum(PaymentTransaction.amount).filter(refunds, PaymentTransaction.status.in_(LIVE)), 0)
        - Booking.refunded_before_cancel
    )


@dataclass(frozen=True)
class RefundProgress:
    """Where the refund a booking owes stands."""

    owed: Decimal  # still to be paid back (`owed`)
    on_its_way: Decimal  # asked of the payment provider, not confirmed yet


def refund_progress(session: Session, booking_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, RefundProgress]:
    """For the bookings among these that have a refund due, in one read: what is still
    owed and what is on its way. Others are left out."""
    rows = session.execute(
        select(
            Booking.id,
            Booking.refund_due - _given_back_since_cancel(),
            _sum(TransactionKind.REFUND, PaymentStatus.PENDING),
        )
        .outerjoin(PaymentTransaction, PaymentTransaction.booking_id == Booking.id)
        .where(Booking.id.in_(list(booking_ids)), Booking.refund_due > 0)
        .group_by(Booking.id)
    ).all()
    return {
        booking_id: RefundProgress(max(Decimal(owed or 0), Decimal("0.00")), Decimal(pending))
        for booking_id, owed, pending in rows
    }


# --- charges -----------------------------------------------------------------------------


_OPEN_CHARGE_COLUMNS = (
    "INSERT INTO payment_transactions (booking_id, user_id, kind, provider, amount, status, idempotency_key) "
)
_OPEN_CHARGE_VALUES = (
    f":charge_booking_id, :charge_client_id, 'charge', '{UNCHOSEN}', :charge_amount, 'pending', :charge_key"
)
_OPEN_CHARGE = text(f"{_OPEN_CHARGE_COLUMNS} VALUES ({_OPEN_CHARGE_VALUES})")


def open_charge_sql(*, with_rows_of: str) -> str:
    """The INSERT of `open_charge` as SQL (parameters: `open_charge_params`), for a statement
    that writes the booking too (`flows.book`): the charge is written only when the CTE
    `with_rows_of` returns a row (the booking was written)."""
    return f"{_OPEN_CHARGE_COLUMNS} SELECT {_OPEN_CHARGE_VALUES} FROM {with_rows_of}"  # noqa: S608 - module constants


def open_charge_params(booking: Booking | NewBooking) -> dict[str, object]:
    return {
        "charge_booking_id": booking.id,
        "charge_client_id": booking.client_id,
        "charge_amount": booking.total_amount,
        "charge_key": f"booking:{booking.id}:charge",
    }


def open_charge(session: Session, booking: Booking) -> None:
    """The pending charge of a new booking: what the client is asked to pay."""
    session.flush()
    session.execute(_OPEN_CHARGE, open_charge_params(booking))


def pending_charge(session: Session, booking_id: uuid.UUID) -> PaymentTransaction | None:
    return session.scalar(
        select(PaymentTransaction)
        .where(
            PaymentTransaction.booking_id == booking_id,
            PaymentTransaction.kind == TransactionKind.CHARGE,
            PaymentTransaction.status == PaymentStatus.PENDING,
        )
        .order_by(PaymentTransaction.created_at)
        .limit(1)
    )


def expect_provider(session: Session, booking: Booking, provider: str) -> None:
    """The pending charge will be paid through `provider` (a payment page was opened)."""
    pending = pending_charge(session, booking.id)
    if pending is not None:
        pending.provider = provider
        session.flush()


def note_charge_failure(session: Session, booking: Booking, message: str) -> None:
    """A payment attempt was declined; the charge stays open for another try."""
    pending = pending_charge(session, booking.id)
    if pending is not None:
        pending.failure_reason = message[:500]
        session.flush()


def charge_recorded(session: Session, booking_id: uuid.UUID, provider: str, reference: str) -> bool:
    """Whether this provider's payment is already a completed charge of this booking. (A
    reference by hand, from a bank statement, may well be the same for two bookings; typed
    twice it may differ in spacing or case, "FNB 123" and "fnb123" being one payment.)"""
    found = session.scalars(
        select(PaymentTransaction.provider_reference).where(
            PaymentTransaction.booking_id == booking_id,
            PaymentTransaction.provider == provider,
            PaymentTransaction.kind == TransactionKind.CHARGE,
            PaymentTransaction.status == PaymentStatus.COMPLETED,
        )
    )
    if provider != MANUAL:
        return reference in found
    key = _reference_key(reference)
    return any(earlier and _reference_key(earlier) == key for earlier in found)


def any_charge_with_reference(session: Session, reference: str) -> uuid.UUID | None:
    """The booking a provider's payment was charged to, if any."""
    return session.scalar(
        select(PaymentTransaction.booking_id).where(
            PaymentTransaction.provider_reference == reference, PaymentTransaction.kind == TransactionKind.CHARGE
        )
    )


def _settle(row: PaymentTransaction, status: PaymentStatus, at: datetime | None = None) -> None:
    """A pending row settles. Completed, it counts from when the money moved (`at`, now),
    not from when it was asked for: the day it counts on, and what the analytics refresh
    finds as changed since it last ran."""
    row.status = status
    if status == PaymentStatus.COMPLETED:
        row.created_at = max(at or datetime.now(UTC), row.created_at)


def settle_charge(
    session: Session,
    booking: Booking,
    *,
    provider: str,
    reference: str,
    amount: Decimal,
    method: str | None = None,
    created_by_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> PaymentTransaction:
    """Mark the booking's pending charge completed, or add a completed charge when none is
    pending. Either counts from `at` (now), when the money arrived, not when it was asked for."""
    pending = pending_charge(session, booking.id)
    if pending is not None and pending.amount == amount:
        _settle(pending, PaymentStatus.COMPLETED, at)
        pending.provider = provider
        pending.provider_reference = reference
        pending.method = method
        pending.created_by_id = created_by_id
        charge = pending
    else:
        charge = PaymentTransaction(
            booking_id=booking.id,
            user_id=booking.client_id,
            kind=TransactionKind.CHARGE,
            provider=provider,
            method=method,
            provider_reference=reference,
            amount=amount,
            status=PaymentStatus.COMPLETED,
            # Per booking: a reference typed by hand may be on two bookings' statements.
            idempotency_key=f"{provider}:charge:{booking.id}:{reference}",
            created_by_id=created_by_id,
        )
        session.add(charge)
    restate(session, booking)
    return charge


def close_open_charges(
    session: Session, booking_ids: Sequence[uuid.UUID], *, status: PaymentStatus, reason: str
) -> None:
    """The bookings will not be paid (cancelled, or their hold ran out): settle their open charges."""
    session.execute(
        update(PaymentTransaction)
        .where(
            PaymentTransaction.booking_id.in_(booking_ids),
            PaymentTransaction.kind == TransactionKind.CHARGE,
            PaymentTransaction.status == PaymentStatus.PENDING,
        )
        .values(status=status, failure_reason=reason)
    )


# --- refunds -----------------------------------------------------------------------------


def charges_to_refund(session: Session, booking_id: uuid.UUID) -> list[PaymentTransaction]:
    """Completed charges, newest first (refunds come out of the latest money in)."""
    return list(
        session.scalars(
            select(PaymentTransaction)
            .where(
                PaymentTransaction.booking_id == booking_id,
                PaymentTransaction.kind == TransactionKind.CHARGE,
                PaymentTransaction.status == PaymentStatus.COMPLETED,
            )
            .order_by(PaymentTransaction.created_at.desc())
        )
    )


def _room(session: Session, charge: PaymentTransaction) -> Decimal:
    """What of one charge has not been refunded (pending refunds count), online or by hand."""
    taken = session.scalar(
        select(func.coalesce(func.sum(PaymentTransaction.amount), 0)).where(
            PaymentTransaction.refund_of_id == charge.id, PaymentTransaction.status.in_(LIVE)
        )
    )
    return max(charge.amount - Decimal(taken or 0), Decimal(0))


def _refund_row(
    booking: Booking,
    charge: PaymentTransaction,
    amount: Decimal,
    *,
    reason: str,
    created_by_id: uuid.UUID | None,
    method: str | None = None,
    reference: str | None = None,
    by_hand: bool = False,
) -> PaymentTransaction:
    row_id = uuid.uuid4()
    by_hand = by_hand or charge.provider == MANUAL
    provider = MANUAL if by_hand else charge.provider
    return PaymentTransaction(
        id=row_id,
        booking_id=booking.id,
        user_id=booking.client_id,
        kind=TransactionKind.REFUND,
        provider=provider,
        method=method if by_hand else None,
        provider_reference=reference if by_hand else None,
        amount=amount,
        # Paid out by hand already; online ones wait to be sent, with the key they are
        # always sent with (written and committed first: a crash in between can only ask
        # for the same refund again, never a second one).
        status=PaymentStatus.COMPLETED if by_hand else PaymentStatus.PENDING,
        idempotency_key=f"{provider}:refund:{row_id}",
        failure_reason=reason,
        created_by_id=created_by_id,
        refund_of_id=charge.id,
    )


def write_refund(
    session: Session,
    booking: Booking,
    amount: Decimal,
    *,
    reason: str,
    created_by_id: uuid.UUID | None = None,
    method: str | None = None,
    reference: str | None = None,
    online: bool = True,
) -> list[PaymentTransaction]:
    """Refund rows for `amount`, out of the newest charges first. Manual payments are paid
    back by staff, who give the method and reference; online ones are queued to be sent
    (`unsent_refunds`), or, where online refunds cannot be sent (`online` False: no gateway
    configured), paid back by hand too. InvalidInput when the payments cannot return that much."""
    written = [
        _refund_row(
            booking,
            charge,
            part,
            reason=reason,
            created_by_id=created_by_id,
            method=method,
            reference=(reference or "").strip() or None,
            by_hand=not online,
        )
        for charge, part in plan_refund(session, booking.id, amount, method=method, reference=reference, online=online)
    ]
    session.add_all(written)
    restate(session, booking)
    return written


def plan_refund(
    session: Session,
    booking_id: uuid.UUID,
    amount: Decimal,
    *,
    method: str | None,
    reference: str | None,
    online: bool = True,
) -> list[tuple[PaymentTransaction, Decimal]]:
    """Which charges `amount` would go back out of, newest first, and how much of each,
    writing nothing (what staff are asked to confirm is what `write_refund` then does).
    InvalidInput when the payments cannot return that much, or a part paid back by hand (a
    manual payment, or any payment when `online` is False) has no method and reference."""
    found = balance(session, booking_id)
    if amount <= 0:
        raise InvalidInput({"amount": "Refund more than R0."})
    if amount > found.refundable:
        raise InvalidInput(
            {"amount": f"At most R{found.refundable:,.2f} can be refunded: that is what was paid and not yet refunded."}
        )
    parts: list[tuple[PaymentTransaction, Decimal]] = []
    left = amount
    for charge in charges_to_refund(session, booking_id):
        if left <= 0:
            break
        part = min(left, _room(session, charge))
        if part <= 0:
            continue
        if (charge.provider == MANUAL or not online) and (
            method not in MANUAL_METHODS or not (reference or "").strip()
        ):
            paid = "This was paid by hand" if charge.provider == MANUAL else "Card refunds are not set up here"
            raise InvalidInput({"reference": f"{paid}: pay the refund by EFT or cash and give its reference."})
        parts.append((charge, part))
        left -= part
    if left > 0:
        raise InvalidInput({"amount": "That is more than the payments of this booking can return."})
    by_hand = any(charge.provider == MANUAL or not online for charge, _ in parts)
    if by_hand:
        try:
            validation.reference(reference)
        except validation.FieldError as error:
            raise InvalidInput({"reference": str(error)}) from None
    used = _refund_reference_used(session, booking_id, reference or "") if by_hand else None
    if used is not None:  # a second click, or a form left filled in: one payout recorded twice
        raise InvalidInput(
            {
                "reference": f"A refund with the reference {used} is already recorded for this booking: give this "
                "payout's own reference. Nothing was refunded."
            }
        )
    return parts


def _reference_key(reference: str) -> str:
    """A reference typed by hand, as compared: spaces and case aside ("FNB 123" is "fnb123")."""
    return "".join(reference.split()).casefold()


def _refund_reference_used(session: Session, booking_id: uuid.UUID, reference: str) -> str | None:
    """An earlier refund of this booking paid back by hand with the same reference (as
    written then), whatever its spacing or case."""
    earlier = session.scalars(
        select(PaymentTransaction.provider_reference).where(
            PaymentTransaction.booking_id == booking_id,
            PaymentTransaction.kind == TransactionKind.REFUND,
            PaymentTransaction.provider == MANUAL,
            PaymentTransaction.status.in_(LIVE),
        )
    )
    key = _reference_key(reference)
    return next((found for found in earlier if found and _reference_key(found) == key), None)


def has_online_charges(session: Session, booking_id: uuid.UUID) -> bool:
    return any(c.provider != MANUAL for c in charges_to_refund(session, booking_id))


def unsent_refunds(
    session: Session, *, booking_id: uuid.UUID | None = None, ids: Sequence[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """Online refunds written but not yet sent to their provider, oldest first."""
    queued = select(PaymentTransaction.id).where(
        PaymentTransaction.kind == TransactionKind.REFUND,
        PaymentTransaction.status == PaymentStatus.PENDING,
        PaymentTransaction.provider_reference.is_(None),
        PaymentTransaction.provider != MANUAL,
    )
    if booking_id is not None:
        queued = queued.where(PaymentTransaction.booking_id == booking_id)
    if ids is not None:
        queued = queued.where(PaymentTransaction.id.in_(ids))
    return list(session.scalars(queued.order_by(PaymentTransaction.created_at)))


@dataclass(frozen=True)
class RefundToSend:
    row: PaymentTransaction
    payment_reference: str  # the provider's payment it comes out of


def lock_refund_to_send(session: Session, row_id: uuid.UUID) -> RefundToSend | None:
    """A queued refund, locked while it is sent; None when it was sent meanwhile."""
    row = session.scalar(
        select(PaymentTransaction)
        .where(PaymentTransaction.id == row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None or row.status != PaymentStatus.PENDING or row.provider_reference is not None:
        return None
    charge = session.get(PaymentTransaction, row.refund_of_id) if row.refund_of_id else None
    if charge is None or not charge.provider_reference:
        raise InvalidInput({"refund": "This refund does not say which payment it comes out of."})
    return RefundToSend(row, charge.provider_reference)


def settle_refund(
    session: Session, row: PaymentTransaction, *, reference: str | None, status: PaymentStatus, note: str = ""
) -> None:
    """The provider answered about a refund: its reference and whether it went through."""
    if reference is not None:
        row.provider_reference = reference
    _settle(row, status)
    if note:
        row.failure_reason = f"{row.failure_reason} {note}".strip()
    booking = session.get(Booking, row.booking_id)
    assert booking is not None
    restate(session, booking)


@dataclass(frozen=True)
class ProviderRefund:
    """A refund as the provider lists it."""

    reference: str
    amount: Decimal
    status: PaymentStatus
    ledger_row: uuid.UUID | None  # the row that asked for it, when it was ours


OVER_REFUNDED = "payment.over_refunded"


def _audit_over_refund(session: Session, booking: Booking, state: ProviderRefund, room: Decimal, note: str) -> None:
    """Once per provider refund: an audit row staff can find, and a warning in the log."""
    seen = session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(
            AuditLog.action == OVER_REFUNDED,
            AuditLog.target_type == "booking",
            AuditLog.target_id == str(booking.id),
            AuditLog.after["reference"].astext == state.reference,
        )
    )
    if seen:
        return
    over = state.amount - room
    log.warning("booking %s: provider refund %s went R%s over what was paid", booking.id, state.reference, over)
    audit.record(
        session=session,
        actor_id=None,
        action=OVER_REFUNDED,
        target_type="booking",
        target_id=booking.id,
        after={"reference": state.reference, "refunded": str(state.amount), "over": str(over)},
        reason=note,
    )


class RefundBeingSent(ServiceError):
    """A refund of this payment is being sent to the provider right now: what is left to
    refund is known once it has its answer. Ask again in a moment (nothing was changed)."""


# Why a refund we queued failed without the provider refusing it, or one made in its dashboard
# failed: neither counts as a refusal of our automatic refunds (MAX_AUTOMATIC_REFUND_FAILURES).
SUPERSEDED = "Not sent: a refund made in the payment provider's dashboard came first."
DASHBOARD_FAILED = "Tried in the payment provider's dashboard; it failed."


def _supersede_unsent_refunds(session: Session, booking: Booking, charge: PaymentTransaction | None) -> int:
    """Mark failed the refunds of `charge` queued and never sent (no provider reference yet;
    those the provider lists were given theirs first). RefundBeingSent when one of them is
    being sent right now: whether it went out decides what the dashboard refund left."""
    if charge is None:
        return 0
    unsent_refund = (
        PaymentTransaction.booking_id == booking.id,
        PaymentTransaction.kind == TransactionKind.REFUND,
        PaymentTransaction.refund_of_id == charge.id,
        PaymentTransaction.status == PaymentStatus.PENDING,
        PaymentTransaction.provider_reference.is_(None),
    )
    unsent = session.scalars(select(PaymentTransaction).where(*unsent_refund).with_for_update(skip_locked=True)).all()
    still_unsent = session.scalar(select(func.count()).select_from(PaymentTransaction).where(*unsent_refund)) or 0
    if still_unsent > len(unsent):
        raise RefundBeingSent("A refund of this payment is being sent right now; try again in a moment.")
    for row in unsent:
        row.status = PaymentStatus.FAILED
        row.failure_reason = SUPERSEDED
    session.flush()
    return len(unsent)


def _record_dashboard_refund(
    session: Session, booking: Booking, provider: str, charge: PaymentTransaction | None, state: ProviderRefund
) -> int:
    """A refund made in the provider's dashboard, as a ledger row; rows changed. Refunds of
    the charge we queued and have not sent give way to it (the provider would refuse them
    now); money paid back another way (by hand) can leave less to refund than the provider
    knows: the ledger keeps refunds within what was paid and says what went out beyond it.
    One that failed moved no money and is recorded as it is."""
    changed, amount = 0, state.amount
    note = "Refunded in the payment provider's dashboard."
    if state.status == PaymentStatus.FAILED:
        note = DASHBOARD_FAILED
    else:
        session.flush()
        room = balance(session, booking.id).refundable
        if state.amount > room:
            changed += _supersede_unsent_refunds(session, booking, charge)
            room = balance(session, booking.id).refundable
        if state.amount > room:
            note += (
                f" It refunded R{state.amount:,.2f} but only R{room:,.2f} was left to refund: "
                f"R{state.amount - room:,.2f} more than was paid has gone back."
            )
            _audit_over_refund(session, booking, state, room, note)
        amount = min(state.amount, room)
        if amount <= 0:
            return changed
    session.add(
        PaymentTransaction(
            booking_id=booking.id,
            user_id=booking.client_id,
            kind=TransactionKind.REFUND,
            provider=provider,
            provider_reference=state.reference,
            amount=amount,
            status=state.status,
            idempotency_key=f"{provider}:refund:{state.reference}",
            failure_reason=note,
            refund_of_id=charge.id if charge else None,
        )
    )
    return changed + 1


def sync_provider_refunds(
    session: Session, booking: Booking, *, provider: str, payment_reference: str, refunds: list[ProviderRefund]
) -> int:
    """Bring the refunds of one online payment in line with the provider's list (refunds
    that settled or failed later, then refunds made in its dashboard). Returns rows changed."""
    charge = session.scalar(
        select(PaymentTransaction).where(
            PaymentTransaction.provider_reference == payment_reference,
            PaymentTransaction.kind == TransactionKind.CHARGE,
        )
    )
    changed = 0
    unknown: list[ProviderRefund] = []
    for state in refunds:  # first the ledger's own refunds, so what is left to refund is up to date
        ours = and_(PaymentTransaction.provider == provider, PaymentTransaction.provider_reference == state.reference)
        if state.ledger_row is not None:
            ours = or_(ours, PaymentTransaction.id == state.ledger_row)
        row = session.scalar(
            select(PaymentTransaction)
            .where(PaymentTransaction.kind == TransactionKind.REFUND, ours)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None:
            unknown.append(state)
        elif row.status == PaymentStatus.PENDING and (
            state.status != PaymentStatus.PENDING or row.provider_reference is None
        ):
            row.provider_reference = state.reference
            _settle(row, state.status)
            changed += 1
    for state in unknown:
        changed += _record_dashboard_refund(session, booking, provider, charge, state)
    restate(session, booking)
    return changed


# Automatic refunds stop after this many refusals for one booking: staff take over.
MAX_AUTOMATIC_REFUND_FAILURES = 3


def owed_online(session: Session) -> list[uuid.UUID]:
    """Bookings whose refund (a cancellation's, or money paid beyond the price) is not fully
    queued or paid yet, that were paid online, and where automatic refunds have not been
    refused too often."""
    refunds = PaymentTransaction.kind == TransactionKind.REFUND
    since = _given_back_since_cancel()
    online_charges = func.count().filter(
        PaymentTransaction.kind == TransactionKind.CHARGE, PaymentTransaction.provider != MANUAL
    )
    return list(
        session.scalars(
            select(Booking.id)
            .join(PaymentTransaction, PaymentTransaction.booking_id == Booking.id)
            .where(Booking.refund_due > 0)
            .group_by(Booking.id)
            .having(
                Booking.refund_due - since > 0,
                online_charges > 0,
                func.count().filter(
                    refunds,
                    PaymentTransaction.status == PaymentStatus.FAILED,
                    func.coalesce(PaymentTransaction.failure_reason, "").not_in([SUPERSEDED, DASHBOARD_FAILED]),
                )
                < MAX_AUTOMATIC_REFUND_FAILURES,
            )
            .order_by(Booking.cancelled_at.nulls_first())
        )
    )


# --- what the pages show -----------------------------------------------------------------


def _operators_only(role: Role) -> None:
    if role not in OPERATORS:
        raise PermissionDenied("Only staff can see payments and refunds.")


@dataclass(frozen=True)
class Totals:
    charged: Decimal
    refunded: Decimal
    platform_fees: Decimal  # fee share of charges less fee share of refunds
    earnings: Decimal  # practitioners' share of charges less their share of refunds

    @property
    def net(self) -> Decimal:
        return self.charged - self.refunded


def _totals_columns() -> tuple[ColumnElement, ...]:
    done = PaymentTransaction.status == PaymentStatus.COMPLETED
    charge = PaymentTransaction.kind == TransactionKind.CHARGE

    def total(
        value: ColumnElement[Decimal] | InstrumentedAttribute[Decimal], *where: ColumnElement[bool]
    ) -> ColumnElement:
        return func.coalesce(func.sum(value).filter(done, *where), 0)

    return (
        total(PaymentTransaction.amount, charge),
        total(PaymentTransaction.amount, ~charge),
        total(_fee_share(), charge) - total(_fee_share(), ~charge),
        total(_practitioner_share(), charge) - total(_practitioner_share(), ~charge),
    )


def _totals(row: Sequence) -> Totals:
    return Totals(*(Decimal(value).quantize(CENT) for value in row))


def totals_between(session: Session, start: datetime, end: datetime) -> Totals:
    """Money moved between two instants (completed rows, by when they were made)."""
    return _totals(
        session.execute(
            select(*_totals_columns())
            .select_from(PaymentTransaction)
            .join(Booking, Booking.id == PaymentTransaction.booking_id)
            .where(PaymentTransaction.created_at >= start, PaymentTransaction.created_at < end)
        ).one()
    )


@dataclass(frozen=True)
class LedgerFilter:
    start: datetime | None = None
    end: datetime | None = None
    kinds: tuple[TransactionKind, ...] = ()
    statuses: tuple[PaymentStatus, ...] = ()
    providers: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class LedgerRow:
    id: uuid.UUID
    created_at: datetime
    booking_id: uuid.UUID
    kind: TransactionKind
    provider: str
    method: str | None
    provider_reference: str | None
    amount: Decimal
    status: PaymentStatus
    client_name: str
    practitioner_name: str
    note: str | None

    @classmethod
    def of(cls, row: PaymentTransaction, client: User, practitioner: User) -> LedgerRow:
        """A ledger row as staff read it, by name, from the row and the two people it concerns."""
        return cls(
            id=row.id,
            created_at=row.created_at,
            booking_id=row.booking_id,
            kind=row.kind,
            provider=row.provider,
            method=row.method,
            provider_reference=row.provider_reference,
            amount=row.amount,
            status=row.status,
            client_name=client.full_name,
            practitioner_name=practitioner.full_name,
            note=row.failure_reason,
        )

    @property
    def paid_via(self) -> str:
        """How the money moved, in words: "EFT", "Cash", "Stripe"; "—" while no way is chosen
        (a booking's open charge, not yet paid)."""
        if self.provider == UNCHOSEN:
            return "—"
        return MANUAL_METHODS.get(self.method or "", "By hand" if self.provider == MANUAL else self.provider.title())


def ledger_conditions(filters: LedgerFilter, client: Any, practitioner_user: Any) -> list[ColumnElement[bool]]:
    """What a ledger filter asks of payment_transactions (and, for typed words, of the two
    people's names, aliased by the caller), for the live page and the keyset listing alike."""
    if filters.start and filters.end and filters.start >= filters.end:
        raise InvalidInput({"end": "The end of the period is before its start."})
    conditions: list[ColumnElement[bool]] = []
    if filters.start:
        conditions.append(PaymentTransaction.created_at >= filters.start)
    if filters.end:
        conditions.append(PaymentTransaction.created_at < filters.end)
    if filters.kinds:
        conditions.append(PaymentTransaction.kind.in_(filters.kinds))
    if filters.statuses:
        conditions.append(PaymentTransaction.status.in_(filters.statuses))
    if filters.providers:
        conditions.append(PaymentTransaction.provider.in_(filters.providers))
    for word in filters.text.lower().split()[:4]:
        pattern = validation.contains(word)
        either = [
            client.search_text.like(pattern),
            practitioner_user.search_text.like(pattern),
            func.lower(PaymentTransaction.provider_reference).like(pattern),
        ]
        booking_ids = booking_ids_of_reference(word)  # every charge and refund of a booking
        if booking_ids:
            either.append(PaymentTransaction.booking_id.between(*booking_ids))
        conditions.append(or_(*either))
    return conditions


@dataclass(frozen=True)
class OwedRefund:
    booking_id: uuid.UUID
    client_name: str
    session_start: datetime
    cancelled_at: datetime | None  # None: not cancelled, paid beyond its price
    outstanding: Decimal
    paid_via: str  # how the money came in, in words: "EFT", "Stripe, Cash"


def refunds_owed(*, session: Session, role: Role) -> list[OwedRefund]:
    """Bookings owed a refund not (fully) paid out yet, in one query: cancellations, and
    bookings that go ahead but were paid more than their price (`cancelled_at` None)."""
    _operators_only(role)
    since = _given_back_since_cancel()
    outstanding = Booking.refund_due - since
    charged = and_(
        PaymentTransaction.kind == TransactionKind.CHARGE, PaymentTransaction.status == PaymentStatus.COMPLETED
    )
    rows = session.execute(
        select(
            Booking.id,
            (User.first_name + " " + User.last_name).label("client_name"),
            Booking.session_start,
            Booking.cancelled_at,
            outstanding.label("outstanding"),
            func.array_agg(func.distinct(func.coalesce(PaymentTransaction.method, PaymentTransaction.provider)))
            .filter(charged)
            .label("paid_via"),
        )
        .join(User, User.id == Booking.client_id)
        .outerjoin(PaymentTransaction, PaymentTransaction.booking_id == Booking.id)
        .where(Booking.refund_due > 0)
        .group_by(Booking.id, User.id)
        .having(outstanding > 0)
        .order_by(Booking.cancelled_at.nulls_first())
    ).all()
    return [
        OwedRefund(
            r.id,
            r.client_name,
            r.session_start,
            r.cancelled_at,
            Decimal(r.outstanding),
            ", ".join(sorted(MANUAL_METHODS.get(way, way.title()) for way in r.paid_via or ())) or "nothing recorded",
        )
        for r in rows
    ]


@dataclass(frozen=True)
class EarningsMonth:
    month: str  # "2026-11"
    sessions: int
    earned: Decimal  # the practitioner's share of completed charges
    refunds: Decimal  # their share of refunds
    net: Decimal


def earnings(
    *, session: Session, role: Role, user_id: uuid.UUID, practitioner_id: uuid.UUID | None = None, months: int = 12
) -> list[EarningsMonth]:
    """A practitioner's money by month, in their time zone: their share of completed
    charges, less their share of refunds (the platform fee is the platform's)."""
    if role == Role.PRACTITIONER:
        own = session.scalar(select(Practitioner.id).where(Practitioner.user_id == user_id))
        if practitioner_id not in (None, own):
            raise PermissionDenied("You can only see your own earnings.")
        practitioner_id = own
    elif role not in OPERATORS:
        raise PermissionDenied("Earnings are for practitioners and staff.")
    if practitioner_id is None:
        raise InvalidInput({"practitioner": "Choose a practitioner."})
    zone = session.scalar(select(Practitioner.time_zone).where(Practitioner.id == practitioner_id))
    month = func.to_char(func.timezone(zone, PaymentTransaction.created_at), "YYYY-MM")
    # Whole months: from the first of the month `months - 1` before this one, in their zone.
    this_month = func.date_trunc("month", func.timezone(zone, func.now()))
    since = func.timezone(zone, this_month - func.make_interval(0, months - 1))
    share = _practitioner_share()
    is_charge = PaymentTransaction.kind == TransactionKind.CHARGE
    rows = session.execute(
        select(
            month.label("month"),
            func.count(func.distinct(Booking.id)).filter(is_charge),
            func.coalesce(func.sum(share).filter(is_charge), 0),
            func.coalesce(func.sum(share).filter(~is_charge), 0),
        )
        .join(Booking, Booking.id == PaymentTransaction.booking_id)
        .where(
            Booking.practitioner_id == practitioner_id,
            PaymentTransaction.status == PaymentStatus.COMPLETED,
            PaymentTransaction.created_at >= since,
        )
        .group_by(month)
        .order_by(month.desc())
    ).all()
    return [EarningsMonth(m, n, Decimal(e), Decimal(r), Decimal(e) - Decimal(r)) for m, n, e, r in rows]


@dataclass(frozen=True)
class Payable:
    """A practitioner's share of the money kept for their sessions that ended before a moment."""

    ready: Decimal  # completed charges less completed refunds, where nothing is still owed back
    held: Decimal  # the same for bookings with a refund owed or on its way, before it: what is left is paid later


def payable(session: Session, practitioner_id: uuid.UUID, before: datetime) -> Payable:
    """What a practitioner earned (their share: `fee_split`) from sessions that ended before
    `before`, split into what is ready to pay out and what waits on a refund. A refund made
    after a payout lowers the next one (the ready amount less what was paid out can fall
    below zero)."""
    completed = PaymentTransaction.status == PaymentStatus.COMPLETED
    share = _practitioner_share()
    signed = case((PaymentTransaction.kind == TransactionKind.CHARGE, share), else_=-share)
    pending_refund = and_(
        PaymentTransaction.kind == TransactionKind.REFUND, PaymentTransaction.status == PaymentStatus.PENDING
    )
    per_booking = (
        select(
            func.coalesce(func.sum(signed).filter(completed), 0).label("earned"),
            # What `owed` says is still to go back (nothing unless a refund is due), or a refund
            # on its way: the booking's earnings wait until that settles.
            (
                ((func.coalesce(Booking.refund_due, 0) > 0) & (Booking.refund_due - _given_back_since_cancel() > 0))
                | func.bool_or(pending_refund)
            ).label("waits"),
        )
        .join(Booking, Booking.id == PaymentTransaction.booking_id)
        # session_start too, so the practitioner's bookings are read as a range of their index.
        .where(
            Booking.practitioner_id == practitioner_id,
            Booking.session_start < before,
            Booking.session_end <= before,
        )
        .group_by(Booking.id)
        .subquery()
    )
    ready, held = session.execute(
        select(
            func.coalesce(func.sum(per_booking.c.earned).filter(~per_booking.c.waits), 0),
            func.coalesce(func.sum(per_booking.c.earned).filter(per_booking.c.waits), 0),
        )
    ).one()
    return Payable(Decimal(ready), Decimal(held))


# Totals are added up live below this many rows, and read from the rollups above (as of
# their last refresh) rather than from every ledger row of a long period.
LIVE_TOTALS_BELOW = 100_000
NO_FILTER = LedgerFilter()


# --- the ledger for staff, at any size ----------------------------------------------------


@dataclass(frozen=True)
class LedgerTotals:
    totals: Totals
    as_of: datetime | None  # None: added up live; else the rollups' last refresh


@dataclass(frozen=True)
class StaffList:
    rows: list[LedgerRow]
    total: Count
    totals: LedgerTotals
    next: tuple[datetime, uuid.UUID] | None


def _with_names(query: Select, client: Any, practitioner_user: Any) -> Select:
    """Ledger rows joined to their booking's client and practitioner (as those aliases)."""
    return (
        query.join(Booking, Booking.id == PaymentTransaction.booking_id)
        .join(client, client.id == Booking.client_id)
        .join(Practitioner, Practitioner.id == Booking.practitioner_id)
        .join(practitioner_user, practitioner_user.id == Practitioner.user_id)
    )


EXPORT_LIMIT = 50_000
CSV_COLUMNS = (
    "when_utc",
    "when_local",
    "booking",
    "kind",
    "status",
    "paid_via",
    "amount",
    "currency",
    "reference",
    "client",
    "practitioner",
    "note",
)  # fmt: skip  when_local: in AVENRAE_DEFAULT_TIME_ZONE, as the page and bank statements show it


def export_csv(*, session: Session, role: Role, filters: LedgerFilter = NO_FILTER) -> tuple[str, int]:
    """The matching ledger rows (the newest EXPORT_LIMIT), newest first, as CSV for a
    spreadsheet: amounts as plain numbers, every text cell made inert; and the row count."""
    _operators_only(role)
    client, practitioner_user = aliased(User), aliased(User)
    found = session.execute(
        _with_names(select(PaymentTransaction, client, practitioner_user), client, practitioner_user)
        .where(*ledger_conditions(filters, client, practitioner_user))
        .order_by(PaymentTransaction.created_at.desc(), PaymentTransaction.id.desc())
        .limit(EXPORT_LIMIT)
    ).all()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    zone = ZoneInfo(get_settings().default_time_zone)
    for transaction, payer, practitioner in found:
        row = LedgerRow.of(transaction, payer, practitioner)
        writer.writerow(
            spreadsheet.cell(value)
            for value in (
                row.created_at.astimezone(UTC).isoformat(timespec="seconds"),
                row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                booking_reference(row.booking_id),
                row.kind.value,
                row.status.value,
                row.paid_via,
                f"{row.amount:.2f}",
                transaction.currency,
                row.provider_reference or "",
                row.client_name,
                row.practitioner_name,
                row.note or "",
            )
        )
    return buffer.getvalue(), len(found)


def staff_list(
    *,
    session: Session,
    role: Role,
    filters: LedgerFilter = NO_FILTER,
    after: tuple[datetime, uuid.UUID] | None = None,
    page_size: int = 50,
    days: tuple[Any, Any] | None = None,
) -> StaffList:
    """The ledger for staff, newest first, a keyset page after `after` (never OFFSET), with
    how many rows match (estimated, and said so, where an exact count costs seconds) and the
    totals of the completed ones. `days` (first and last, in the platform's
    time zone) is the period `filters.start`/`end` spans: with it, a long period's totals
    come from the rollups."""
    _operators_only(role)
    client = aliased(User)
    practitioner_user = aliased(User)
    conditions: list[Any] = ledger_conditions(filters, client, practitioner_user)
    words = filters.text.split()

    def with_names(query: Select) -> Select:
        return _with_names(query, client, practitioner_user)

    # Without words no join narrows the rows: count the ledger alone.
    counted = (with_names(select(PaymentTransaction.id)) if words else select(PaymentTransaction.id)).where(*conditions)
    total = count(session, counted)
    totals = _staff_totals(session, filters, conditions, with_names, words, total, days)

    rows_query = with_names(select(PaymentTransaction, client, practitioner_user)).where(*conditions)
    if after is not None:
        rows_query = rows_query.where(
            tuple_(PaymentTransaction.created_at, PaymentTransaction.id) < tuple_(after[0], after[1])
        )
    found = session.execute(
        rows_query.order_by(PaymentTransaction.created_at.desc(), PaymentTransaction.id.desc()).limit(page_size + 1)
    ).all()
    more = len(found) > page_size
    found = found[:page_size]
    rows = [LedgerRow.of(t, c, p) for t, c, p in found]
    return StaffList(rows, total, totals, (rows[-1].created_at, rows[-1].id) if more else None)


def _staff_totals(session, filters, conditions, with_names, words, total: Count, days) -> LedgerTotals:
    small = total.exact or total.value < LIVE_TOTALS_BELOW
    refreshed = session.execute(text("SELECT refreshed_at FROM analytics_refresh WHERE id = 1")).scalar()
    if small or words or filters.providers or days is None or refreshed is None:
        sums = session.execute(with_names(select(*_totals_columns())).where(*conditions)).one()
        return LedgerTotals(_totals(sums), None)
    # Totals are of completed rows only; the rollups hold exactly those, by day.
    if filters.statuses and PaymentStatus.COMPLETED not in filters.statuses:
        zero = Decimal("0.00")
        return LedgerTotals(Totals(zero, zero, zero, zero), None)
    charges = not filters.kinds or TransactionKind.CHARGE in filters.kinds
    refunds = not filters.kinds or TransactionKind.REFUND in filters.kinds
    row = session.execute(
        text(
            """
            SELECT coalesce(sum(gross), 0), coalesce(sum(gross_fees), 0),
                   coalesce(sum(refunds), 0), coalesce(sum(refunded_fees), 0)
            FROM analytics_days WHERE day BETWEEN :first AND :last
            """
        ),
        {"first": days[0], "last": days[1]},
    ).one()
    gross, gross_fees = (row[0], row[1]) if charges else (0, 0)
    refunded, refunded_fees = (row[2], row[3]) if refunds else (0, 0)
    totals = _totals((gross, refunded, gross_fees - refunded_fees, (gross - gross_fees) - (refunded - refunded_fees)))
    return LedgerTotals(totals, refreshed)
