"""The long staff list of bookings at any size, read so a page costs the same at ten
thousand rows as at ten million (the ledger's list, built the same way, is
`ledger.staff_list`).

- Pages are keyset pages (after the last row shown, along an index), never OFFSET.
- How many rows match is counted exactly when that is cheap, and otherwise estimated
  from the planner's statistics and said to be an estimate ("about 1.8 million").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from avenrae.models import Booking
from avenrae.services import bookings, ledger
from avenrae.services.counting import Count, count
from avenrae.services.errors import InvalidInput

NO_BOOKING_FILTER = bookings.BookingFilter()


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
    refunds: dict[uuid.UUID, ledger.RefundProgress]  # of the cancelled rows with a refund due


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
    refunding = [r.id for r in rows if r.cancelled_with_refund]
    return BookingList(
        rows,
        total,
        Cursor(rows[-1].session_start, rows[-1].id) if more else None,
        ledger.refund_progress(session, refunding) if refunding else {},
    )
