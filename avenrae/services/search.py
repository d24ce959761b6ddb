"""Finding practitioners near a place: radius, filters, full-text, nearest first.

Every query is index-assisted: a radius test on the GiST index of practitioners.location
(geo.within: ST_DWithin written out) finds the candidates, and "nearest first" walks the
same index in distance order (`<->`) so the first page of a dense city costs a few
milliseconds. `<->` measures on
a sphere while reported distances are on the spheroid (as ST_Distance and
find_practitioners_near report them), so nearest-first runs in two steps: the KNN walk
finds the first k candidates, and the spheroid distance of the farthest of them bounds
an exact, spheroid-ordered pass. The reported distances are therefore always in order.

A practitioner appears only where the search centre is within their own service
radius as well as within the searcher's radius.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal

from sqlalchemy import Float, Integer, Numeric, Select, String, bindparam, exists, func, insert, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from avenrae import geo
from avenrae.models import (
    UNLISTED_USER,
    MeetingType,
    Practitioner,
    PractitionerMapPoint,
    SearchLog,
    Specialization,
    User,
    VerificationStatus,
)
from avenrae.services import pricing
from avenrae.services.errors import InvalidInput

Sort = Literal["distance", "rating", "price", "relevance"]
SORTS: tuple[Sort, ...] = ("distance", "rating", "price", "relevance")
MIN_RADIUS_KM = 1
MAX_RADIUS_KM = 500
MAX_PAGE_SIZE = 300
MAX_TEXT_LENGTH = 200
MAX_WORDS = 8


@dataclass(frozen=True)
class SearchQuery:
    """What a person asked for, as typed. `resolve()` checks it."""

    place: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float | int | str = 25
    specializations: tuple[Specialization | str, ...] = ()
    min_rating: float | Decimal | str | None = None
    verified_only: bool = False
    meeting_type: MeetingType | str | None = None
    min_price: Decimal | float | str | None = None
    max_price: Decimal | float | str | None = None
    text: str = ""
    sort: str | None = None  # default: relevance with text, distance without
    page: int = 1
    page_size: int = 20


@dataclass(frozen=True)
class ResolvedSearch:
    """A checked search: a centre on the map and clean filters."""

    latitude: float
    longitude: float
    place_label: str | None
    radius_km: float
    specializations: tuple[Specialization, ...] = ()
    min_rating: Decimal | None = None
    verified_only: bool = False
    meeting_type: MeetingType | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    words: tuple[str, ...] = ()
    sort: Sort = "distance"
    page: int = 1
    page_size: int = 20
    # "Placed at Umlazi, KwaZulu-Natal (postal area 4066)" when the place typed is not a label.
    place_note: str | None = None

    @property
    def centre_label(self) -> str:
        return self.place_label or f"{self.latitude:.4f}, {self.longitude:.4f}"

    def filters_for_log(self) -> dict[str, object]:
        return {
            key: value
            for key, value in {
                "specializations": [s.value for s in self.specializations],
                "min_rating": str(self.min_rating) if self.min_rating is not None else None,
                "verified_only": self.verified_only or None,
                "meeting_type": self.meeting_type.value if self.meeting_type else None,
                "min_price": str(self.min_price) if self.min_price is not None else None,
                "max_price": str(self.max_price) if self.max_price is not None else None,
                "text": " ".join(self.words) or None,
                "sort": self.sort,
            }.items()
            if value not in (None, [])
        }


@dataclass(frozen=True)
class Hit:
    practitioner_id: uuid.UUID
    name: str
    specialization: Specialization
    verified: bool
    rating: Decimal | None
    review_count: int
    rate: Decimal
    session_minutes: int
    offers_in_person: bool
    offers_online: bool
    city: str | None
    province: str | None
    bio: str
    latitude: float
    longitude: float
    distance_km: float


@dataclass(frozen=True)
class SearchPage:
    search: ResolvedSearch
    hits: list[Hit]
    has_more: bool

    @property
    def first_number(self) -> int:
        return (self.search.page - 1) * self.search.page_size + 1


@dataclass(frozen=True)
class MapCell:
    """Practitioners beyond the marker limit, counted per grid cell."""

    latitude: float
    longitude: float
    practitioners: int


@dataclass(frozen=True)
class MapLayer:
    markers: list[Hit]
    cells: list[MapCell] = field(default_factory=list)

    @property
    def aggregated(self) -> int:
        return sum(cell.practitioners for cell in self.cells)


# --- checking input ------------------------------------------------------------------


def _decimal(value: object, label: str, low: Decimal, high: Decimal, problems: dict[str, str], key: str):
    if value is None or str(value).strip() == "":
        return None
    try:
        number = Decimal(str(value).replace("R", "").replace(",", "").strip())
    except InvalidOperation:
        problems[key] = f"{label} must be a number."
        return None
    if not number.is_finite() or not low <= number <= high:
        problems[key] = f"{label} must be between {low} and {high}."
        return None
    return number


def _coordinate(value: object, label: str, limit: float, problems: dict[str, str], key: str) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        problems[key] = f"{label} must be a number."
        return None
    if not math.isfinite(number) or not -limit <= number <= limit:
        problems[key] = f"{label} must be between -{limit:g} and {limit:g}."
        return None
    return number


def words_of(text: str) -> tuple[str, ...]:
    """The words of a free-text query: letters and digits only, so nothing in it is syntax."""
    return tuple(dict.fromkeys(re.findall(r"\w+", text.lower())))[:MAX_WORDS]


def resolve(query: SearchQuery, *, session: Session | None = None) -> ResolvedSearch:
    """Check every field; InvalidInput names each problem. Only an online geocoder, if enabled, is queried."""
    problems: dict[str, str] = {}
    latitude = longitude = None
    label = note = None
    if query.place and query.place.strip():
        try:
            located = geo.resolve(query.place, session=session)
        except geo.PlaceNotFound as exc:
            problems["place"] = str(exc)
        else:
            latitude, longitude, label = located.latitude, located.longitude, located.place.label
            note = None if geo.name_key(query.place) == geo.name_key(label) else located.sentence
    elif query.latitude is not None or query.longitude is not None:
        latitude = _coordinate(query.latitude, "Latitude", 90, problems, "latitude")
        longitude = _coordinate(query.longitude, "Longitude", 180, problems, "longitude")
    else:
        problems["place"] = "Choose a place, or click the map, to search around."

    radius = _decimal(
        query.radius_km, "Radius (km)", Decimal(MIN_RADIUS_KM), Decimal(MAX_RADIUS_KM), problems, "radius_km"
    )
    if radius is None and "radius_km" not in problems:
        problems["radius_km"] = f"Radius must be between {MIN_RADIUS_KM} and {MAX_RADIUS_KM} km."
    min_rating = _decimal(query.min_rating, "Minimum rating", Decimal(0), Decimal(5), problems, "min_rating")
    min_price = _decimal(query.min_price, "Lowest price", Decimal(0), Decimal(100000), problems, "min_price")
    max_price = _decimal(query.max_price, "Highest price", Decimal(0), Decimal(100000), problems, "max_price")
    if min_price is not None and max_price is not None and min_price > max_price:
        problems["max_price"] = "The highest price must not be below the lowest price."

    specializations: list[Specialization] = []
    for value in query.specializations:
        try:
            specializations.append(Specialization(value))
        except ValueError:
            problems["specializations"] = f"“{value}” is not a specialization."
    meeting_type = None
    if query.meeting_type:
        try:
            meeting_type = MeetingType(query.meeting_type)
        except ValueError:
            problems["meeting_type"] = "Meeting type must be in person or online."

    text = query.text or ""
    if len(text) > MAX_TEXT_LENGTH:
        problems["text"] = (
            f"Keep the search words under {MAX_TEXT_LENGTH} characters (cut {len(text) - MAX_TEXT_LENGTH:,})."
        )
    words = words_of(text)
    sort: Sort = "relevance" if words else "distance"
    if query.sort and query.sort not in SORTS:
        problems["sort"] = "Sort by distance, rating, price or relevance."
    elif query.sort in SORTS and not (query.sort == "relevance" and not words):
        sort = SORTS[SORTS.index(query.sort)]
    if query.page < 1:
        problems["page"] = "Pages start at 1."
    if not 1 <= query.page_size <= MAX_PAGE_SIZE:
        problems["page_size"] = f"A page holds 1 to {MAX_PAGE_SIZE} practitioners."
    if problems or latitude is None or longitude is None or radius is None:
        raise InvalidInput(problems)
    return ResolvedSearch(
        latitude=latitude,
        longitude=longitude,
        place_label=label,
        radius_km=float(radius),
        specializations=tuple(dict.fromkeys(specializations)),
        min_rating=min_rating or None,
        verified_only=query.verified_only,
        meeting_type=meeting_type,
        min_price=min_price,
        max_price=max_price,
        words=words,
        sort=sort,
        page=query.page,
        page_size=query.page_size,
        place_note=note,
    )


# --- building the query --------------------------------------------------------------
#
# Statements are built once per *shape* (which filters are present, how to sort) with
# bound parameters, and cached: building a SQLAlchemy statement costs several
# milliseconds, more than running the query.


@dataclass(frozen=True)
class _Shape:
    sort: Sort
    specializations: bool
    min_rating: bool
    verified_only: bool
    meeting_type: MeetingType | None
    min_price: bool
    max_price: bool
    words: int


def _shape(search: ResolvedSearch) -> _Shape:
    return _Shape(
        sort=search.sort,
        specializations=bool(search.specializations),
        min_rating=search.min_rating is not None,
        verified_only=search.verified_only,
        meeting_type=search.meeting_type,
        min_price=search.min_price is not None,
        max_price=search.max_price is not None,
        words=len(search.words),
    )


def _params(search: ResolvedSearch, *, offset: int = 0, limit: int = 0) -> dict[str, object]:
    params: dict[str, object] = {
        "latitude": search.latitude,
        "longitude": search.longitude,
        "radius_m": search.radius_km * 1000,
        "offset": offset,
        "limit": limit,
        "wanted": offset + limit,
        "specializations": list(search.specializations),
        "min_rating": search.min_rating,
        # Prices are what the client pays (with the fee), as results show them; rows hold rates.
        "min_price": None if search.min_price is None else pricing.lowest_rate_costing(search.min_price),
        "max_price": None if search.max_price is None else pricing.highest_rate_costing(search.max_price),
    }
    params.update({f"word_{i}": word for i, word in enumerate(search.words)})
    return params


def _centre() -> ColumnElement:
    return geo.point(bindparam("latitude", type_=Float), bindparam("longitude", type_=Float))


def _text_query(count: int) -> ColumnElement:
    """Any of the words (OR), each stemmed by the English configuration; bound, never parsed."""
    queries: list[ColumnElement] = [
        func.plainto_tsquery("english", bindparam(f"word_{i}", type_=String)) for i in range(count)
    ]
    combined = queries[0]
    for query in queries[1:]:
        combined = combined.op("||")(query)
    return combined


# Where the filters read a practitioner's columns: the practitioners table, or its narrow
# copy for the map's counts (the same column names; no search document, so no words).
Filtered = type[Practitioner] | type[PractitionerMapPoint]


def _conditions(shape: _Shape, centre: ColumnElement, p: Filtered = Practitioner) -> list[ColumnElement]:
    conditions: list[ColumnElement] = [
        geo.within(p.location, centre, bindparam("radius_m", type_=Float)),
        # ...and they travel this far: the centre lies within their own service radius.
        geo.closer_than(p.location, centre, p.service_radius_km * 1000),
        # Listed: their account is active. Deactivated accounts are few and indexed
        # (ix_users_unlisted), so this anti-join costs next to nothing, where joining
        # users would read a user row for every candidate.
        ~exists().where(UNLISTED_USER, User.id == p.user_id).correlate_except(User),
    ]
    if shape.specializations:
        conditions.append(p.specialization.in_(bindparam("specializations", expanding=True)))
    if shape.min_rating:
        conditions.append(p.rating >= bindparam("min_rating", type_=Numeric))
    if shape.verified_only:
        conditions.append(p.verification_status == VerificationStatus.VERIFIED)
    if shape.meeting_type == MeetingType.IN_PERSON:
        conditions.append(p.offers_in_person.is_(True))
    elif shape.meeting_type == MeetingType.ONLINE:
        conditions.append(p.offers_online.is_(True))
    if shape.min_price:
        conditions.append(p.rate_per_session >= bindparam("min_price", type_=Numeric))
    if shape.max_price:
        conditions.append(p.rate_per_session <= bindparam("max_price", type_=Numeric))
    if shape.words:
        assert p is Practitioner, "the words need the search document"
        conditions.append(Practitioner.search_document.op("@@")(_text_query(shape.words)))
    return conditions


def _hits_select(distance: ColumnElement) -> Select:
    return select(
        Practitioner.id,
        (User.first_name + " " + User.last_name).label("name"),
        Practitioner.specialization,
        (Practitioner.verification_status == VerificationStatus.VERIFIED).label("verified"),
        Practitioner.rating,
        Practitioner.review_count,
        Practitioner.rate_per_session,
        Practitioner.session_duration_minutes,
        Practitioner.offers_in_person,
        Practitioner.offers_online,
        Practitioner.city,
        Practitioner.province,
        Practitioner.bio,
        func.ST_Y(geo.as_geometry(Practitioner.location)).label("latitude"),
        func.ST_X(geo.as_geometry(Practitioner.location)).label("longitude"),
        (distance / 1000.0).label("distance_km"),
    ).join(User, User.id == Practitioner.user_id)


@lru_cache(maxsize=512)
def _page_statement(shape: _Shape) -> Select:
    """One page of hits for searches of this shape; parameters from `_params`."""
    centre = _centre()
    conditions = _conditions(shape, centre)
    distance = func.ST_Distance(Practitioner.location, centre)
    statement = _hits_select(distance)
    if shape.sort == "distance":
        # Step 1: walk the GiST index nearest-first (sphere) for the first `wanted`.
        nearest = (
            select(Practitioner.location)
            .where(*conditions)
            .order_by(Practitioner.location.op("<->")(centre))
            .limit(bindparam("wanted", type_=Integer))
            .subquery("nearest")
        )
        # Step 2: everything within the farthest of them (spheroid), exactly ordered. The
        # bound is joined in (not repeated as a scalar subquery) so step 1 runs once.
        bound = select(func.max(func.ST_Distance(nearest.c.location, centre)).label("metres")).subquery("bound")
        statement = (
            statement.join(bound, true())
            .where(*conditions, geo.within(Practitioner.location, centre, bound.c.metres))
            .order_by(distance, Practitioner.id)
        )
    elif shape.sort == "rating":
        statement = statement.where(*conditions).order_by(
            Practitioner.rating.desc().nulls_last(), Practitioner.review_count.desc(), distance, Practitioner.id
        )
    elif shape.sort == "price":
        statement = statement.where(*conditions).order_by(Practitioner.rate_per_session, distance, Practitioner.id)
    else:
        rank = func.ts_rank_cd(Practitioner.search_document, _text_query(shape.words))
        statement = statement.where(*conditions).order_by(rank.desc(), distance, Practitioner.id)
    return statement.offset(bindparam("offset", type_=Integer)).limit(bindparam("limit", type_=Integer))


@lru_cache(maxsize=512)
def _cells_statement(shape: _Shape, cell_degrees: float) -> Select:
    """Matches other than the markers, counted per grid cell: from the narrow map points
    unless words are searched for (they need the practitioners' search document)."""
    p: Filtered = Practitioner if shape.words else PractitionerMapPoint
    geometry = geo.as_geometry(p.location)
    return (
        select(func.avg(func.ST_Y(geometry)), func.avg(func.ST_X(geometry)), func.count())
        .where(*_conditions(shape, _centre(), p), p.id.not_in(bindparam("markers", expanding=True)))
        .group_by(func.ST_SnapToGrid(geometry, cell_degrees))
    )


def _without_stop_words(session: Session, search: ResolvedSearch) -> ResolvedSearch:
    """Words that are all stop words ("the", "and") make an empty query: search without them."""
    if not search.words:
        return search
    nodes = session.scalar(select(func.numnode(_text_query(len(search.words)))), _params(search))
    if nodes:
        return search
    return replace(search, words=(), sort="distance" if search.sort == "relevance" else search.sort)


def _to_hit(row) -> Hit:
    return Hit(
        practitioner_id=row.id,
        name=row.name,
        specialization=row.specialization,
        verified=row.verified,
        rating=row.rating,
        review_count=row.review_count,
        rate=row.rate_per_session,
        session_minutes=row.session_duration_minutes,
        offers_in_person=row.offers_in_person,
        offers_online=row.offers_online,
        city=row.city,
        province=row.province,
        bio=row.bio,
        latitude=float(row.latitude),
        longitude=float(row.longitude),
        distance_km=float(row.distance_km),
    )


def _find(session: Session, search: ResolvedSearch, *, offset: int, limit: int) -> list[Hit]:
    search = _without_stop_words(session, search)
    statement = _page_statement(_shape(search))
    rows = session.execute(statement, _params(search, offset=offset, limit=limit)).all()
    return [_to_hit(row) for row in rows]


# --- the service ---------------------------------------------------------------------


def search(*, session: Session, query: SearchQuery | ResolvedSearch, log: bool = True) -> SearchPage:
    """One page of practitioners for a search; the first page of each search is logged."""
    resolved = query if isinstance(query, ResolvedSearch) else resolve(query, session=session)
    offset = (resolved.page - 1) * resolved.page_size
    hits = _find(session, resolved, offset=offset, limit=resolved.page_size + 1)
    page = SearchPage(search=resolved, hits=hits[: resolved.page_size], has_more=len(hits) > resolved.page_size)
    if log and resolved.page == 1:
        session.execute(
            insert(SearchLog).values(
                centre=geo.point_wkt(resolved.latitude, resolved.longitude),
                place=resolved.place_label,
                radius_km=Decimal(str(resolved.radius_km)).quantize(Decimal("0.01")),
                filters=resolved.filters_for_log(),
                results_found=len(hits),
                more_results=page.has_more,
            )
        )
    return page


def map_layer(*, session: Session, query: SearchQuery | ResolvedSearch, max_markers: int = 300) -> MapLayer:
    """The nearest `max_markers` as markers, the rest counted per grid cell.

    The browser never receives more than `max_markers` markers plus at most a few
    hundred cells, however many practitioners match.
    """
    resolved = query if isinstance(query, ResolvedSearch) else resolve(query, session=session)
    nearest_first = _without_stop_words(session, replace(resolved, sort="distance", page=1))
    hits = _find(session, nearest_first, offset=0, limit=max_markers + 1)
    if len(hits) <= max_markers:
        return MapLayer(markers=hits)
    markers = hits[:max_markers]
    # Cells of about a twelfth of the radius: a readable grid at any zoom the radius implies.
    cell_degrees = round(max(resolved.radius_km / 12 / 111.32, 0.01), 4)
    rows = session.execute(
        _cells_statement(_shape(nearest_first), cell_degrees),
        {**_params(nearest_first), "markers": [marker.practitioner_id for marker in markers]},
    ).all()
    return MapLayer(markers=markers, cells=[MapCell(float(lat), float(lon), count) for lat, lon, count in rows])


COUNT_CAP = 10_000


@lru_cache(maxsize=512)
def _count_statement(shape: _Shape) -> Select:
    capped = select(Practitioner.id).where(*_conditions(shape, _centre())).limit(COUNT_CAP).subquery("capped")
    return select(func.count()).select_from(capped)


def count(*, session: Session, query: SearchQuery | ResolvedSearch) -> int:
    """How many practitioners match a search (whatever the page), counted up to COUNT_CAP:
    past it a dense city would cost more to count than to search."""
    resolved = query if isinstance(query, ResolvedSearch) else resolve(query, session=session)
    resolved = _without_stop_words(session, resolved)
    return session.scalar(_count_statement(_shape(resolved)), _params(resolved)) or 0
