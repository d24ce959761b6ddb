"""What partner integrations run by staff need: the bookings export (Bearer token of staff or an admin)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from avenrae.db import session_scope
from avenrae.models import BookingStatus
from avenrae.services import bookings

from ..deps import LoggedIn
from ..problems import Problem
from ..schemas import MAX_OFFSET
from .bookings import BookingsOut, booking_out

router = APIRouter(prefix="/staff", tags=["staff"])


@router.get("/bookings", response_model=BookingsOut)
def export_bookings(
    caller: LoggedIn,
    start_from: Annotated[
        datetime | None, Query(alias="from", description="Sessions starting at or after (ISO 8601)")
    ] = None,
    start_to: Annotated[datetime | None, Query(alias="to", description="Sessions starting before (ISO 8601)")] = None,
    status: Annotated[list[BookingStatus] | None, Query()] = None,
    practitionerId: uuid.UUID | None = None,
    clientId: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="A multiple of limit")] = 0,
) -> BookingsOut:
    """Every booking, soonest session first, for staff and administrators (as the Bookings page)."""
    if not caller.actor.is_operator:
        raise Problem(403, "Only staff can export bookings.")
    if offset % limit:
        message = "offset must be a multiple of limit."
        raise Problem(422, message, errors={"offset": message})
    for name, moment in (("from", start_from), ("to", start_to)):
        if moment is not None and moment.tzinfo is None:
            message = f"{name} needs a time zone (for example 2026-12-01T00:00:00+02:00)."
            raise Problem(422, message, errors={name: message})
    filters = bookings.BookingFilter(
        statuses=tuple(status or ()),
        start_from=start_from,
        start_to=start_to,
        practitioner_id=practitionerId,
        client_id=clientId,
        soonest_first=True,
    )
    with session_scope() as session:
        page = bookings.list_for(
            session=session, actor=caller.actor, filters=filters, page=offset // limit + 1, page_size=limit
        )
    return BookingsOut(bookings=[booking_out(caller, row) for row in page.rows], total=page.total)
