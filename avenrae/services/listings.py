"""The long staff lists at any size: bookings and the payments ledger, read so a page
costs the same at ten thousand rows as at ten million.

- Pages are keyset pages (after the last row shown, along an index), never OFFSET.
- How many rows match is counted exactly when that is cheap, and otherwise estimated
  from the planner's statistics and said to be an estimate ("about 1.8 million").
- The ledger's totals over a long period come from the analytics rollups (as of their
  last refresh) rather than from adding up every ledger row of the period.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select, text, tuple_
from sqlalchemy.orm import Session, aliased

from avenrae.models import Booking, PaymentStatus, PaymentTransaction, Practitioner, Role, TransactionKind, User
from avenrae.services import bookings, ledger
from avenrae.services.counting import Count, count
from avenrae.services.errors import InvalidInput

# Ledger totals are added up live below this many rows, and read from the rollups above.
LIVE_TOTALS_BELOW = 100_000
NO_BOOKING_FILTER = bookings.BookingFilter()
NO_LEDGER_FILTER = ledger.LedgerFilter()


# --- bookings -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last row's session start and id."""

    session_start: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class BookingList:
    rows: list[bookings.BookingRow]
    total: Count
    next: Cursor | None  # None: this is the last page


def booking_list(
    *,
    session: Session,
    actor: bookings.Actor,
    filters: bookings.BookingFilter = NO_BOOKING_FILTER,
    after: Cursor | None = None,
    page_size: int = 25,
) -> BookingList:
    """A page of the bookings the actor may see (a client's own, a practitioner's own,
    everyone's for staff), by session start (soonest first or latest first), after `after`."""
    if not 1 <= page_size <= 200:
        raise InvalidInput({"page": "A page holds 1 to 200 bookings."})
    statement, client, practitioner_user = bookings._rows_statement()
    conditions = bookings.visible_conditions(actor, filters, client, practitioner_user)
    matching = statement.where(*conditions)
    # Without words the names do not narrow anything: count the bookings alone.
    total = count(session, matching if filters.text.split() else select(Booking.id).where(*conditions))
    key = tuple_(Booking.session_start, Booking.id)
    if after is not None:
        mark = tuple_(after.session_start, after.id)
        matching = matching.where(key > mark if filters.soonest_first else key < mark)
    order = (
        (Booking.session_start.asc(), Booking.id.asc())
        if filters.soonest_first
        else (Booking.session_start.desc(), Booking.id.desc())
    )
    rows = [
        bookings.BookingRow(**row._mapping) for row in session.execute(matching.order_by(*order).limit(page_size + 1))
    ]
    more = len(rows) > page_size
    rows = rows[:page_size]
    return BookingList(rows, total, Cursor(rows[-1].session_start, rows[-1].id) if more else None)


# --- the payments ledger ---------------------------------------------------------------


@dataclass(frozen=True)
class LedgerTotals:
    totals: ledger.Totals
    as_of: datetime | None  # None: added up live; else the rollups' last refresh


@dataclass(frozen=True)
class LedgerList:
    rows: list[ledger.LedgerRow]
    total: Count
    totals: LedgerTotals
    next: tuple[datetime, uuid.UUID] | None


def ledger_list(
    *,
    session: Session,
    role: Role,
    filters: ledger.LedgerFilter = NO_LEDGER_FILTER,
    after: tuple[datetime, uuid.UUID] | None = None,
    page_size: int = 50,
    days: tuple[Any, Any] | None = None,
) -> LedgerList:
    """The ledger for staff, newest first, a keyset page after `after`, with how many rows
    match and the totals of the completed ones. `days` (first and last, in the platform's
    time zone) is the period `filters.start`/`end` spans: with it, a long period's totals
    come from the rollups."""
    ledger._operators_only(role)
    client = aliased(User)
    practitioner_user = aliased(User)
    conditions: list[Any] = ledger.ledger_conditions(filters, client, practitioner_user)
    words = filters.text.split()

    def with_names(query: Select) -> Select:
        return (
            query.join(Booking, Booking.id == PaymentTransaction.booking_id)
            .join(client, client.id == Booking.client_id)
            .join(Practitioner, Practitioner.id == Booking.practitioner_id)
            .join(practitioner_user, practitioner_user.id == Practitioner.user_id)
        )

    # Without words no join narrows the rows: count the ledger alone.
    counted = (with_names(select(PaymentTransaction.id)) if words else select(PaymentTransaction.id)).where(*conditions)
    total = count(session, counted)
    totals = _ledger_totals(session, filters, conditions, with_names, words, total, days)

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
    rows = [ledger.LedgerRow.of(t, c, p) for t, c, p in found]
    return LedgerList(rows, total, totals, (rows[-1].created_at, rows[-1].id) if more else None)


def _ledger_totals(session, filters, conditions, with_names, words, total: Count, days) -> LedgerTotals:
    small = total.exact or total.value < LIVE_TOTALS_BELOW
    refreshed = session.execute(text("SELECT refreshed_at FROM analytics_refresh WHERE id = 1")).scalar()
    if small or words or filters.providers or days is None or refreshed is None:
        sums = session.execute(with_names(select(*ledger._totals_columns())).where(*conditions)).one()
        return LedgerTotals(ledger._totals(sums), None)
    # Totals are of completed rows only; the rollups hold exactly those, by day.
    if filters.statuses and PaymentStatus.COMPLETED not in filters.statuses:
        zero = Decimal("0.00")
        return LedgerTotals(ledger.Totals(zero, zero, zero, zero), None)
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
    totals = ledger._totals(
        (gross, refunded, gross_fees - refunded_fees, (gross - gross_fees) - (refunded - refunded_fees))
    )
    return LedgerTotals(totals, refreshed)
