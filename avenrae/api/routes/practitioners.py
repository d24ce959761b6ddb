"""Finding practitioners, their profiles and their open times (anyone may call these)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import Field

from avenrae.db import session_scope
from avenrae.services import availability, bookings, reviews, search

from ..deps import Anyone
from ..problems import Problem
from ..schemas import MAX_OFFSET, Model, money
from ..threads import waits_on_others

router = APIRouter(prefix="/practitioners", tags=["practitioners"], dependencies=[Anyone])


class Location(Model):
    latitude: float
    longitude: float


class PractitionerHit(Model):
    id: uuid.UUID
    name: str
    specialization: str
    rating: float | None
    distance_km: float
    rate: float
    location: Location
    reviewCount: int
    verified: bool
    duration: int
    meetingTypes: list[str]
    city: str | None
    province: str | None


class SearchOut(Model):
    practitioners: list[PractitionerHit]
    total: int = Field(
        description="Matches up to the end of this page (all of them when `hasMore` is false); with "
        f"`countAll=true`, every match, counted up to {search.COUNT_CAP:,} (slower where practitioners are dense)"
    )
    hasMore: bool
    centre: Location
    place: str | None = Field(None, description="Where a typed `place` was placed on the map")


def _meeting_types(in_person: bool, online: bool) -> list[str]:
    return [kind for kind, on in (("in_person", in_person), ("online", online)) if on]


@router.get("/search", response_model=SearchOut)
@waits_on_others
def search_practitioners(
    latitude: Annotated[float | None, Query(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Query(ge=-180, le=180)] = None,
    place: Annotated[str | None, Query(max_length=200, description="A town, suburb or postal code")] = None,
    radius: Annotated[float, Query(description="Kilometres, 1 to 500")] = 25,
    specialization: Annotated[
        list[str] | None,
        Query(description="healer, prophet, medium or counselor; repeat it (or separate by commas) for several"),
    ] = None,
    text: Annotated[
        str, Query(max_length=search.MAX_TEXT_LENGTH, description="Words to look for in names and bios")
    ] = "",
    minRating: Annotated[float | None, Query()] = None,
    meetingType: Annotated[Literal["in_person", "online"] | None, Query()] = None,
    minPrice: Annotated[float | None, Query(description="Lowest price a session, fee included (rand)")] = None,
    maxPrice: Annotated[float | None, Query(description="Highest price a session, fee included (rand)")] = None,
    verified: Annotated[bool, Query(description="true: verified practitioners only; false: everyone")] = False,
    sort: Annotated[Literal["distance", "rating", "price", "relevance"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=search.MAX_PAGE_SIZE)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="A multiple of limit")] = 0,
    countAll: Annotated[bool, Query(description="Count every match for `total`, not just up to this page")] = False,
) -> SearchOut:
    """Practitioners around a point (or a typed place) within `radius` km, nearest first
    unless sorted otherwise; the same search and filters as the web's Search page."""
    if offset % limit:
        message = "offset must be a multiple of limit (0, limit, 2 x limit, ...)."
        raise Problem(422, message, errors={"offset": message})
    query = search.SearchQuery(
        place=place,
        latitude=latitude,
        longitude=longitude,
        radius_km=radius,
        specializations=tuple(
            kind.strip().lower() for sent in specialization or () for kind in sent.split(",") if kind.strip()
        ),
        min_rating=minRating,
        verified_only=verified,
        meeting_type=meetingType,
        min_price=minPrice,
        max_price=maxPrice,
        text=text,
        sort=sort,
        page=offset // limit + 1,
        page_size=limit,
    )
    with session_scope() as session:
        resolved = search.resolve(query, session=session)
        page = search.search(session=session, query=resolved)
        total = offset + len(page.hits)
        if countAll and page.has_more:
            total = max(total + 1, search.count(session=session, query=resolved))
        elif offset and not page.hits:  # past the end: how many there are, fewer than offset
            total = search.count(session=session, query=resolved)
    return SearchOut(
        practitioners=[
            PractitionerHit(
                id=hit.practitioner_id,
                name=hit.name,
                specialization=hit.specialization.value,
                rating=money(hit.rating),
                distance_km=round(hit.distance_km, 3),
                rate=float(hit.rate),
                location=Location(latitude=hit.latitude, longitude=hit.longitude),
                reviewCount=hit.review_count,
                verified=hit.verified,
                duration=hit.session_minutes,
                meetingTypes=_meeting_types(hit.offers_in_person, hit.offers_online),
                city=hit.city,
                province=hit.province,
            )
            for hit in page.hits
        ],
        total=total,
        hasMore=page.has_more,
        centre=Location(latitude=resolved.latitude, longitude=resolved.longitude),
        place=resolved.place_label,
    )


class ReviewOut(Model):
    id: uuid.UUID
    rating: int
    comment: str
    author: str = Field(description="First name and initial")
    createdAt: datetime | None
    reply: str | None


class PriceOut(Model):
    rate: float
    platformFee: float
    totalAmount: float


class PractitionerOut(Model):
    id: uuid.UUID
    name: str
    specialization: str
    bio: str
    rating: float | None
    rate: float
    duration: int
    address: str = Field(
        description="The area they see clients in (town and province); the street is given to the client once a "
        "booking is paid (GET /api/bookings/{id}, contact), as on the web"
    )
    location: Location = Field(description="Where they see clients, as precise as they gave it on the map")
    city: str | None
    province: str | None
    verified: bool
    bookable: bool
    meetingTypes: list[str]
    timeZone: str
    price: PriceOut
    reviewCount: int = Field(description="Published reviews")
    reviews: list[ReviewOut] = Field(description="Published reviews, newest first, one page")


@router.get("/{practitioner_id}", response_model=PractitionerOut)
def practitioner(
    practitioner_id: uuid.UUID,
    reviewsLimit: Annotated[int, Query(ge=1, le=100)] = 10,
    reviewsOffset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PractitionerOut:
    """One practitioner's profile with a page of their published reviews, newest first.
    (The original listed `reviews` twice; here `reviewCount` is the count, `reviews` the list.)"""
    with session_scope() as session:
        found = bookings.practitioner_for_booking(session=session, practitioner_id=practitioner_id)
        published = reviews.published(
            session=session, practitioner_id=practitioner_id, limit=reviewsLimit, offset=reviewsOffset
        )
    price = found.price
    return PractitionerOut(
        id=found.id,
        name=found.name,
        specialization=str(found.specialization),
        bio=found.bio,
        rating=money(found.rating),
        rate=float(found.rate),
        duration=found.session_minutes,
        address=", ".join(part for part in (found.city, found.province) if part),
        location=Location(latitude=found.latitude, longitude=found.longitude),
        city=found.city,
        province=found.province,
        verified=found.verified,
        bookable=found.bookable,
        meetingTypes=[kind.value for kind in found.meeting_types],
        timeZone=found.time_zone,
        price=PriceOut(
            rate=float(price.service_amount),
            platformFee=float(price.platform_fee),
            totalAmount=float(price.total_amount),
        ),
        reviewCount=found.review_count,
        reviews=[
            ReviewOut(
                id=review.id,
                rating=review.rating,
                comment=review.comment,
                author=review.client_name,
                createdAt=review.created_at,
                reply=review.reply,
            )
            for review in published
        ],
    )


class SlotOut(Model):
    id: str = Field(description="The start, ISO 8601 with the practitioner's UTC offset; send it as sessionSlotId")
    time: str = Field(description="HH:MM in the practitioner's time zone")
    available: bool


class AvailabilityOut(Model):
    date: date
    timeZone: str
    slots: list[SlotOut]


def open_and_free(
    session, practitioner_id: uuid.UUID, on: date, zone: ZoneInfo, ignore: uuid.UUID | None = None
) -> list[tuple[datetime, bool]]:
    """The day's open times (in working hours, clear of time off, within notice and horizon)
    and whether each can be booked now, as availability.bookable_slots says."""
    if not availability.within_plans(on, datetime.now(zone).date()):
        return []
    start = datetime.combine(on, time(0), zone).astimezone(UTC)
    end = datetime.combine(on + timedelta(days=1), time(0), zone).astimezone(UTC)
    every = availability.bookable_slots(
        session=session, practitioner_id=practitioner_id, start=start, end=end, count_bookings=False
    )
    free = set(
        availability.bookable_slots(
            session=session, practitioner_id=practitioner_id, start=start, end=end, ignore_booking_id=ignore
        )
    )
    return [(moment, moment in free) for moment in every]


@router.get("/{practitioner_id}/availability", response_model=AvailabilityOut)
def practitioner_availability(
    practitioner_id: uuid.UUID, date: Annotated[date, Query(description="YYYY-MM-DD, in the practitioner's time zone")]
) -> AvailabilityOut:
    """The day's session times: every time the practitioner works, `available` when it can be
    booked now (never, while the practitioner cannot be booked at all: `bookable` on their profile)."""
    with session_scope() as session:
        found = bookings.practitioner_for_booking(session=session, practitioner_id=practitioner_id)
        zone = ZoneInfo(found.time_zone)
        slots = open_and_free(session, practitioner_id, date, zone)
    if not found.bookable:
        slots = [(moment, False) for moment, _ in slots]
    return AvailabilityOut(
        date=date,
        timeZone=found.time_zone,
        slots=[
            SlotOut(
                id=moment.astimezone(zone).isoformat(), time=moment.astimezone(zone).strftime("%H:%M"), available=free
            )
            for moment, free in slots
        ],
    )
