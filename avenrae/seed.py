"""Demo data at any scale: realistic South African practitioners, clients and bookings.

Deterministic for a given seed and anchor time. Everything happens in one transaction,
so a failed seed leaves the database as it was. For speed at millions of rows:

* people are formatted in Python and loaded with COPY;
* bookings are planned with numpy (who, when, what happened) and loaded with binary
  COPY into a staging table; bookings, payments, reviews, notifications and the audit
  trail are then derived from that plan inside PostgreSQL with INSERT ... SELECT;
* indexes and key constraints are dropped for the load and rebuilt afterwards, which
  is several times faster than maintaining them row by row. CHECK constraints stay,
  and the rebuilt keys, uniqueness and exclusion constraints validate every row.

Bookings of one practitioner sit in distinct two-hour slots of their weekly hours, so
they never overlap; money follows the platform's rules (fee = 15% of the service amount, half-up
to the cent; total = service + fee).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import psycopg.sql
from tqdm import tqdm

from avenrae import geo, seed_demo, seed_text
from avenrae.config import get_settings
from avenrae.models import Base, BookingStatus, PractitionerMapPoint, Role, Specialization
from avenrae.services import accounts

DEMO_PASSWORD = "Avenrae-demo-2026"  # noqa: S105 - the documented demo password; refused in production
DEMO_ACCOUNTS = (
    (Role.ADMIN, "admin@demo.avenrae.co.za", "Amahle", "Zungu"),
    (Role.STAFF, "staff@demo.avenrae.co.za", "Pieter", "Venter"),
    (Role.ANALYST, "analyst@demo.avenrae.co.za", "Priya", "Naidoo"),
    (Role.PRACTITIONER, "practitioner@demo.avenrae.co.za", "Nomvula", "Mkhize"),
    (Role.CLIENT, "client@demo.avenrae.co.za", "Sipho", "Ndlovu"),
)
MAX_PRACTITIONERS = 2_000_000
MAX_BOOKINGS = 20_000_000
HISTORY_DAYS = 395  # a little over 13 months of past sessions
HORIZON_DAYS = 60
FORWARD_DAYS = 14  # how fast bookings thin out ahead of now (days for the weight to fall to 1/e)
SLOT_HOURS = 2  # bookings start on a 2-hour grid; sessions last at most 90 minutes
LOCAL_TZ = ZoneInfo("Africa/Johannesburg")

SPECIALIZATIONS = [s.value for s in Specialization]
SPECIALIZATION_WEIGHTS = [0.35, 0.20, 0.15, 0.30]
BASE_RATES = {"healer": 350, "prophet": 300, "medium": 450, "counselor": 500}
DURATIONS = np.array([30, 45, 60, 90])
VERIFICATION = np.array(["verified", "pending", "unverified", "rejected"])
SERVICE_RADII = np.array([10, 25, 50, 100])
BOOKING_STATUSES = [s.value for s in BookingStatus]
STATUS_CODE = {s: i for i, s in enumerate(BookingStatus)}

# Weekly hours templates: weekday (0 = Monday) -> (start hour, end hour) ranges.
WEEKLY_TEMPLATES: tuple[dict[int, tuple[tuple[int, int], ...]], ...] = (
    {d: ((8, 18),) for d in range(0, 5)},
    {d: ((9, 17),) for d in range(1, 6)},
    {**{d: ((8, 12), (14, 18)) for d in range(0, 5)}, 5: ((9, 13),)},
    {d: ((10, 18),) for d in range(2, 7)},
)
TEMPLATE_WEIGHTS = [0.4, 0.2, 0.25, 0.15]

# Every table of the schema: the seed truncates them all and rebuilds all their keys.
SEEDED_TABLES = tuple(table.name for table in Base.metadata.sorted_tables)
# Keep practitioner_map_points in step with practitioners (migration 20261204_map_points).
MAP_POINT_TRIGGERS = ("practitioner_map_points_on_insert", "practitioner_map_points_on_update")


class SeedError(ValueError):
    """The seed cannot run with these options or on this database; nothing was written."""


@dataclass(frozen=True)
class SeedOptions:
    practitioners: int = 1_000
    clients: int = 3_000
    bookings: int = 20_000
    seed: int = 42
    anchor: datetime | None = None  # "now" for the data; defaults to the current minute


@dataclass
class SeedReport:
    rows: dict[str, int] = field(default_factory=dict)
    # Of those, what the demo accounts' work added (seed_demo: a few bookings, payments, notices).
    demo_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    steps: list[tuple[str, int, float]] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0


def demo_logins() -> list[tuple[str, str, str]]:
    """(role, email, password) of the demo accounts every seed creates."""
    return [(role.value, email, DEMO_PASSWORD) for role, email, _, _ in DEMO_ACCOUNTS]


def validate(options: SeedOptions) -> None:
    for name in ("practitioners", "clients", "bookings"):
        if getattr(options, name) < 0:
            raise SeedError(f"--{name} must be zero or more")
    if options.practitioners < 1 or options.clients < 1:
        raise SeedError("--practitioners and --clients must be at least 1 (the demo accounts)")
    if options.practitioners > MAX_PRACTITIONERS:
        raise SeedError(f"--practitioners must be at most {MAX_PRACTITIONERS:,}")
    if options.bookings > MAX_BOOKINGS:
        raise SeedError(f"--bookings must be at most {MAX_BOOKINGS:,}")
    capacity = options.practitioners * min(len(s) for s in _template_slot_offsets())
    if options.bookings > capacity:
        raise SeedError(
            f"{options.bookings:,} bookings do not fit in the weekly hours of "
            f"{options.practitioners:,} practitioners (at most {capacity:,}); add practitioners"
        )
    if not 0 <= options.seed < 2**32:
        raise SeedError("--seed must be between 0 and 4294967295")


# --- ids and binary COPY ------------------------------------------------------------

PG_EPOCH = 946_684_800  # 2000-01-01 in Unix seconds: PostgreSQL's binary timestamp zero

# Staging column types -> numpy layout of their COPY BINARY representation.
BINARY_LAYOUT = {
    "uuid": "V16",
    "int2": ">i2",
    "int4": ">i4",
    "int8": ">i8",
    "float8": ">f8",
    "timestamptz": ">i8",  # microseconds since PG_EPOCH
}
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_BINARY_TRAILER = b"\xff\xff"


def random_uuids(seed: int, stream: str, count: int) -> np.ndarray:
    """`count` version-4 UUIDs as 16-byte records, reproducible from (seed, stream)."""
    rng = np.random.default_rng([seed, int.from_bytes(stream.encode()[:8].ljust(8, b"\0"), "big")])
    raw = rng.integers(0, 256, size=(count, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return raw.view("V16").reshape(count)


def _value(cursor: psycopg.Cursor) -> Any:
    """The one value of a query that always returns one row."""
    row = cursor.fetchone()
    assert row is not None
    return row[0]


def as_uuid(record: np.void) -> uuid.UUID:
    return uuid.UUID(bytes=record.tobytes())


def pg_time(unix_seconds: np.ndarray) -> np.ndarray:
    return (np.asarray(unix_seconds, dtype=np.int64) - PG_EPOCH) * 1_000_000


def _binary_rows(columns: list[tuple[str, np.ndarray]], start: int, stop: int) -> bytes:
    """COPY BINARY tuples of fixed-width columns, built as one numpy record array."""
    layout: list[tuple[str, str]] = [("fields", ">i2")]
    for i, (pg_type, _) in enumerate(columns):
        layout += [(f"len{i}", ">i4"), (f"val{i}", BINARY_LAYOUT[pg_type])]
    records = np.empty(stop - start, dtype=layout)
    records["fields"] = len(columns)
    for i, (pg_type, values) in enumerate(columns):
        records[f"len{i}"] = np.dtype(BINARY_LAYOUT[pg_type]).itemsize
        records[f"val{i}"] = values[start:stop]
    return records.tobytes()


def stage(cur: psycopg.Cursor, table: str, columns: dict[str, tuple[str, np.ndarray]]) -> int:
    """Create an unlogged staging table and fill it with COPY BINARY; returns rows."""
    cur.execute(f"CREATE UNLOGGED TABLE {table} ({', '.join(f'{n} {t}' for n, (t, _) in columns.items())})")
    typed = list(columns.values())
    size = len(typed[0][1])
    chunk = 250_000
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(_BINARY_SIGNATURE)
        for offset in range(0, size, chunk):
            copy.write(_binary_rows(typed, offset, min(offset + chunk, size)))
        copy.write(_BINARY_TRAILER)
    return size


SEED_UUID_SQL = """
CREATE FUNCTION pg_temp.seed_uuid(seed bigint, kind text, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT md5(seed::text || ':' || kind || ':' || n::text)::uuid $$
"""


# --- timeline ----------------------------------------------------------------------


def _anchor(options: SeedOptions) -> datetime:
    anchor = options.anchor or datetime.now(UTC)
    return anchor.astimezone(UTC).replace(second=0, microsecond=0)


def _template_slot_offsets(first_day: date | None = None, days: int | None = None) -> list[np.ndarray]:
    """Per template, the local start times of bookable 2-hour slots as Unix seconds."""
    first_day = first_day or date(2026, 1, 5)
    days = days or HISTORY_DAYS + HORIZON_DAYS
    result = []
    for template in WEEKLY_TEMPLATES:
        starts = []
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            for start_hour, end_hour in template.get(day.weekday(), ()):
                for hour in range(start_hour, end_hour - SLOT_HOURS + 1, SLOT_HOURS):
                    local = datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL_TZ)
                    starts.append(int(local.timestamp()))
        result.append(np.array(starts, dtype=np.int64))
    return result


# --- the plan ----------------------------------------------------------------------


@dataclass
class PeoplePlan:
    """Everything about practitioners and clients, as arrays indexed by their number."""

    user_ids: np.ndarray  # practitioners' users first, then clients', then staff
    practitioner_ids: np.ndarray
    client_ids: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    phone: np.ndarray
    joined: np.ndarray  # Unix seconds
    specialization: np.ndarray
    place: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    rate_cents: np.ndarray
    duration: np.ndarray
    offers: np.ndarray  # 0 both, 1 in person only, 2 online only
    verification: np.ndarray
    radius: np.ndarray
    template: np.ndarray
    street: np.ndarray
    street_number: np.ndarray
    bio: np.ndarray  # (n, 3): opening, middle, closing
    client_place: np.ndarray


NEIGHBOUR_KM = 25.0


def _spread_around(
    rng: np.random.Generator, gazetteer: tuple[geo.Place, ...], place: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points near each chosen town that stay on land.

    A random circle around a coastal town puts half its points in the sea. Instead each
    point lies on the line from its town towards a neighbouring town (within 25 km;
    towns are on land), a few hundred metres off it at most.
    """
    coords = np.array([(pl.latitude, pl.longitude) for pl in gazetteer])
    lat = np.radians(coords[:, 0])
    dlat = lat[:, None] - lat[None, :]
    dlon = np.radians(coords[:, 1])[:, None] - np.radians(coords[:, 1])[None, :]
    km = 6371.0 * np.sqrt(dlat**2 + (np.cos((lat[:, None] + lat[None, :]) / 2) * dlon) ** 2)
    near = km <= NEIGHBOUR_KM  # includes the town itself
    counts = near.sum(axis=1)
    neighbours = np.full((len(gazetteer), counts.max()), -1)
    for i, row in enumerate(near):
        found = np.flatnonzero(row)
        neighbours[i, : len(found)] = found
    pick = neighbours[place, (rng.random(len(place)) * counts[place]).astype(np.int64)]
    along = rng.random(len(place))
    base = coords[place]
    target = coords[pick]
    point = base + along[:, None] * (target - base)
    jitter_km = rng.normal(0, 0.35, size=(len(place), 2))
    point[:, 0] += jitter_km[:, 0] / 111.32
    point[:, 1] += jitter_km[:, 1] / (111.32 * np.cos(np.radians(point[:, 0])))
    return point[:, 0], point[:, 1]


def _plan_people(
    rng: np.random.Generator, options: SeedOptions, gazetteer: tuple[geo.Place, ...], now: int
) -> PeoplePlan:
    p, c = options.practitioners, options.clients
    people = p + c
    population = np.array([pl.population for pl in gazetteer], dtype=float)
    weights = population**0.75
    weights /= weights.sum()
    place = rng.choice(len(gazetteer), size=p, p=weights)
    latitude, longitude = _spread_around(rng, gazetteer, place)
    specialization = rng.choice(len(SPECIALIZATIONS), size=p, p=SPECIALIZATION_WEIGHTS)
    base = np.array([BASE_RATES[s] for s in SPECIALIZATIONS])[specialization]
    rands = np.clip(np.round(base * rng.lognormal(0, 0.35, p) / 10) * 10, 100, 2500).astype(np.int64)
    rate_cents = rands * 100 + np.where(rng.random(p) < 0.05, 50, 0)  # a few rates with cents
    plan = PeoplePlan(
        user_ids=random_uuids(options.seed, "users", people + len(DEMO_ACCOUNTS)),
        practitioner_ids=random_uuids(options.seed, "practs", p),
        client_ids=random_uuids(options.seed, "clients", c),
        first_name=rng.integers(len(seed_text.FIRST_NAMES), size=people),
        last_name=rng.integers(len(seed_text.LAST_NAMES), size=people),
        phone=rng.integers(600_000_000, 849_999_999, size=people),
        joined=now - rng.integers(420 * 86400, 900 * 86400, size=people),
        specialization=specialization,
        place=place,
        latitude=latitude,
        longitude=longitude,
        rate_cents=rate_cents,
        duration=rng.choice(DURATIONS, size=p, p=[0.1, 0.2, 0.55, 0.15]),
        offers=rng.choice(3, size=p, p=[0.6, 0.25, 0.15]),
        verification=rng.choice(len(VERIFICATION), size=p, p=[0.7, 0.1, 0.15, 0.05]),
        radius=rng.choice(SERVICE_RADII, size=p, p=[0.15, 0.3, 0.4, 0.15]),
        template=rng.choice(len(WEEKLY_TEMPLATES), size=p, p=TEMPLATE_WEIGHTS),
        street=rng.integers(len(seed_text.STREETS), size=p),
        street_number=rng.integers(1, 400, size=p),
        bio=np.column_stack(
            [
                rng.integers(4, size=p),
                rng.integers(len(seed_text.BIO_MIDDLES), size=p),
                rng.integers(len(seed_text.BIO_CLOSINGS), size=p),
            ]
        ),
        client_place=rng.choice(len(gazetteer), size=c, p=weights),
    )
    # The demo practitioner: a verified healer in central Durban, both meeting types.
    durban = next(i for i, pl in enumerate(gazetteer) if pl.name == "Durban")
    plan.place[0], plan.latitude[0], plan.longitude[0] = durban, -29.8610, 31.0250
    plan.specialization[0] = SPECIALIZATIONS.index("healer")
    plan.rate_cents[0], plan.duration[0], plan.offers[0] = 45_000, 60, 0
    plan.verification[0], plan.radius[0], plan.template[0] = 0, 50, 0
    plan.client_place[0] = durban
    return plan


def _plan_bookings(
    rng: np.random.Generator, options: SeedOptions, people: PeoplePlan, anchor: datetime
) -> dict[str, np.ndarray]:
    """Who booked whom, when, and what happened: one array per staging column."""
    b, p = options.bookings, options.practitioners
    first_day = (anchor.astimezone(LOCAL_TZ) - timedelta(days=HISTORY_DAYS)).date()
    slot_lists = _template_slot_offsets(first_day, HISTORY_DAYS + HORIZON_DAYS)
    slot_counts = np.array([len(s) for s in slot_lists])
    slots = np.zeros((len(slot_lists), slot_counts.max()), dtype=np.int64)
    for t, starts in enumerate(slot_lists):
        slots[t, : len(starts)] = starts

    now = int(anchor.timestamp())
    # Each slot weighs 1 in the past; ahead, the weight thins out (bookings far ahead are the
    # few made so far), so this month's sales are not swollen by every future session.
    cumulative = []
    for starts in slot_lists:
        weight = np.where(starts <= now, 1.0, np.exp(-(starts - now) / (FORWARD_DAYS * 86400)))
        cumulative.append(np.concatenate([[0.0], np.cumsum(weight)]))
    room = np.array([int(c[-1]) for c in cumulative])  # bookings a template's stretches can hold

    # How many bookings each practitioner gets: popular ones more, unverified fewer.
    popularity = rng.lognormal(0, 0.8, p) * np.where(people.verification == 0, 1.0, 0.3)
    popularity[0] = popularity.max()  # the demo practitioner has a full diary
    counts = rng.multinomial(b, popularity / popularity.sum())
    capacity = room[people.template]
    overflow = int(np.maximum(counts - capacity, 0).sum())
    counts = np.minimum(counts, capacity)
    if overflow:
        spare = capacity - counts
        before = np.cumsum(spare) - spare
        counts += np.clip(overflow - before, 0, spare)

    # Booking j of a practitioner with k bookings takes a slot from the j-th of k stretches
    # of equal weight of their slot list: distinct slots, so no two of them overlap (a
    # stretch weighs at least 1, and no slot weighs more, so it holds at least one slot).
    practitioner = np.repeat(np.arange(p), counts)
    j = np.arange(b) - np.repeat(np.cumsum(counts) - counts, counts)
    k = counts[practitioner]
    template = people.template[practitioner]
    low = np.zeros(b, dtype=np.int64)
    high = np.zeros(b, dtype=np.int64)
    for t, cum in enumerate(cumulative):
        mine = template == t
        low[mine] = np.searchsorted(cum, j[mine] * cum[-1] / k[mine], side="right") - 1
        high[mine] = np.searchsorted(cum, (j[mine] + 1) * cum[-1] / k[mine], side="right") - 1
    high = np.maximum(np.minimum(high, slot_counts[template]), low + 1)
    slot = low + (rng.random(b) * (high - low)).astype(np.int64)
    start = slots[template, slot]
    duration = people.duration[practitioner]
    end = start + duration * 60
    past = end <= now

    client_weights = rng.lognormal(0, 1.0, options.clients)
    client = rng.choice(options.clients, size=b, p=client_weights / client_weights.sum())
    # The demo client's sessions: 25 of the demo practitioner's, spread over the whole time
    # line, so some are recent (reviewable), some ahead (to cancel or move).
    demo_practitioner = np.flatnonzero(practitioner == 0)
    if len(demo_practitioner):  # none when there are few bookings for many practitioners
        client[demo_practitioner[np.unique(np.linspace(0, len(demo_practitioner) - 1, 25).astype(np.int64))]] = 0

    roll = rng.random(b)
    code = STATUS_CODE
    status = np.where(
        past,
        np.select(
            [roll < 0.85, roll < 0.95],
            [code[BookingStatus.COMPLETED], code[BookingStatus.CANCELLED]],
            code[BookingStatus.NO_SHOW],
        ),
        np.select(
            [roll < 0.75, roll < 0.85],
            [code[BookingStatus.CONFIRMED], code[BookingStatus.PENDING]],
            code[BookingStatus.CANCELLED],
        ),
    )
    pending = status == code[BookingStatus.PENDING]
    cancelled = status == code[BookingStatus.CANCELLED]
    completed = status == code[BookingStatus.COMPLETED]

    lead = ((rng.random(b) * 29 + 1) * 86400).astype(np.int64)
    # A session too near to have been booked `lead` ahead was booked within the last month:
    # spread over those days, not all an hour ago (which would pile a month's sales on today).
    created = np.where(start - lead <= now - 3600, start - lead, now - 3600 - (lead - 86400))
    # Pending bookings are fresh: a client is at the payment step right now.
    created = np.where(pending, now - (60 + rng.random(b) * 540).astype(np.int64), created)

    offers = people.offers[practitioner]
    meeting = np.where(offers == 1, 0, np.where(offers == 2, 1, (rng.random(b) < 0.4).astype(np.int64)))

    who = rng.random(b)
    cancel_by = np.where(cancelled, np.select([who < 0.7, who < 0.9], [1, 2], 3), 0)  # client, practitioner, staff
    cancelled_at = created + (rng.random(b) * (np.minimum(start, now) - created)).astype(np.int64)
    paid_then_cancelled = rng.random(b) < 0.7
    pay = np.where(pending, 0, np.where(cancelled & ~paid_then_cancelled, 2, 1))  # pending, paid, failed
    refund_owed = (cancel_by >= 2) | ((cancel_by == 1) & (start - cancelled_at >= 86400))
    refund = cancelled & (pay == 1) & refund_owed
    method_roll = rng.random(b)
    method = np.select([method_roll < 0.75, method_roll < 0.9], [0, 1], 2)  # card, eft, cash

    reviewed = completed & (rng.random(b) < 0.45)
    rating = rng.choice([5, 4, 3, 2, 1], size=b, p=[0.55, 0.25, 0.1, 0.05, 0.05])
    review = np.where(reviewed, rating, 0)
    review_at = np.minimum(end + (3600 + rng.random(b) * 9 * 86400).astype(np.int64), now - 60)
    moderation_roll = rng.random(b)
    # 0 published, 1 pending, 2 rejected, 3 hidden; only recent reviews still wait.
    review_status = np.where(
        (review_at > now - 14 * 86400) & (moderation_roll < 0.5),
        1,
        np.select([moderation_roll < 0.96, moderation_roll < 0.99], [0, 2], 3),
    )
    sizes = np.array([len(seed_text.REVIEW_COMMENTS[r]) for r in (1, 2, 3, 4, 5)])
    first_comment = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    stars = np.maximum(review, 1) - 1
    comment = first_comment[stars] + (rng.random(b) * sizes[stars]).astype(np.int64) + 1

    return {
        "id": random_uuids(options.seed, "bookings", b),
        "charge_id": random_uuids(options.seed, "charges", b),
        "n": np.arange(b, dtype=np.int32),
        "client_user_id": people.user_ids[p + client],
        "practitioner_id": people.practitioner_ids[practitioner],
        "practitioner_user_id": people.user_ids[practitioner],
        "rate_cents": people.rate_cents[practitioner],
        "session_start": pg_time(start),
        "session_end": pg_time(end),
        "created": pg_time(created),
        "cancelled": pg_time(cancelled_at),
        "reviewed": pg_time(review_at),
        "status": status,
        "meeting": meeting,
        "cancel_by": cancel_by,
        "pay": pay,
        "method": method,
        "refund": refund.astype(np.int64),
        "review": review,
        "review_status": review_status,
        "comment_idx": comment,
        "note_idx": np.where(rng.random(b) < 0.3, rng.integers(1, len(seed_text.SERVICE_NOTES) + 1, b), 0),
        "staff_booked": (rng.random(b) < 0.05).astype(np.int64),
        "reason_idx": rng.integers(1, 3 + 1, b),
        "reply": (rng.random(b) < 0.15).astype(np.int64),
        "recent": (created >= now - 14 * 86400).astype(np.int64),
        "read": (created < now - 2 * 86400).astype(np.int64),
    }


BOOKING_STAGING_TYPES = {
    "id": "uuid",
    "charge_id": "uuid",
    "n": "int4",
    "client_user_id": "uuid",
    "practitioner_id": "uuid",
    "practitioner_user_id": "uuid",
    "rate_cents": "int8",
    "session_start": "timestamptz",
    "session_end": "timestamptz",
    "created": "timestamptz",
    "cancelled": "timestamptz",
    "reviewed": "timestamptz",
    "status": "int2",
    "meeting": "int2",
    "cancel_by": "int2",
    "pay": "int2",
    "method": "int2",
    "refund": "int2",
    "review": "int2",
    "review_status": "int2",
    "comment_idx": "int2",
    "note_idx": "int2",
    "staff_booked": "int2",
    "reason_idx": "int2",
    "reply": "int2",
    "recent": "int2",
    "read": "int2",
}


# --- constraints off and on --------------------------------------------------------


@dataclass
class _Keys:
    constraints: list[tuple[str, str, str, str]]  # table, name, definition, type
    indexes: list[tuple[str, str]]  # name, definition


def _drop_keys(cur: psycopg.Cursor) -> _Keys:
    tables = list(SEEDED_TABLES)
    constraints = cur.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype::text
        FROM pg_constraint c
        WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('p', 'u', 'f', 'x')
        """,
        (tables,),
    ).fetchall()
    indexes = cur.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        (tables,),
    ).fetchall()
    for table, name, _, _kind in sorted(constraints, key=lambda c: c[3] != "f"):
        cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cur.execute(f"DROP INDEX {name}")
    return _Keys(constraints=constraints, indexes=indexes)


def _restore_keys(cur: psycopg.Cursor, keys: _Keys, on_step: Callable[[str, float], None]) -> None:
    order = {"p": 0, "u": 1, "x": 2, "f": 3}
    for table, name, definition, kind in sorted(keys.constraints, key=lambda c: order[c[3]]):
        if kind == "f":
            continue
        started = time.perf_counter()
        cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        on_step(name, started)
    for name, definition in keys.indexes:
        started = time.perf_counter()
        cur.execute(definition)
        on_step(name, started)
    for table, name, definition, kind in keys.constraints:
        if kind == "f":
            started = time.perf_counter()
            cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            on_step(name, started)


# --- the seeder --------------------------------------------------------------------


class _Seeder:
    def __init__(self, conn: psycopg.Connection, options: SeedOptions, show_progress: bool, url: str):
        self.conn = conn
        self.url = url
        self.cur = conn.cursor()
        self.options = options
        self.anchor = _anchor(options)
        self.now_s = int(self.anchor.timestamp())
        self.rng = np.random.default_rng(options.seed)
        self.gazetteer = geo.places()
        self.fee_rate = get_settings().platform_fee_rate
        self.report = SeedReport()
        self.show_progress = show_progress
        self.bar = tqdm(disable=True)

    # -- bookkeeping

    def _sql(self, table: str | None, query: str, params: dict | None = None) -> int:
        """Run one statement; count its rows towards `table` unless table is None."""
        started = time.perf_counter()
        self.cur.execute(query, {"seed": self.options.seed, **(params or {})})
        rows = max(self.cur.rowcount, 0) if table else 0
        label = table or query.split("(")[0].split()[0].lower()
        self.report.steps.append((label, rows, time.perf_counter() - started))
        if table:
            self.report.rows[table] = self.report.rows.get(table, 0) + rows
            self.bar.update(rows)
        return rows

    def _staged(self, label: str, table: str, columns: dict[str, tuple[str, np.ndarray]]) -> None:
        started = time.perf_counter()
        rows = stage(self.cur, table, columns)
        self.report.steps.append((label, rows, time.perf_counter() - started))

    # -- run

    def run(self) -> SeedReport:
        started = time.perf_counter()
        people = _plan_people(self.rng, self.options, self.gazetteer, self.now_s)
        plan = _plan_bookings(self.rng, self.options, people, self.anchor)
        self.report.steps.append(("planning (numpy)", 0, time.perf_counter() - started))
        self.bar = tqdm(
            total=self._expected_rows(people, plan),
            unit=" rows",
            unit_scale=True,
            disable=not self.show_progress,
            desc="Seeding",
            dynamic_ncols=True,
        )
        try:
            with self.conn.transaction():
                self._prepare()
                keys = _drop_keys(self.cur)
                self._load_people(people)
                self._load_bookings(plan)
                self.bar.set_description("Rebuilding indexes and keys")
                _restore_keys(
                    self.cur,
                    keys,
                    lambda name, t: self.report.steps.append((f"key {name}", 0, time.perf_counter() - t)),
                )
                self.cur.execute("DROP TABLE seed_people, seed_practitioners, seed_clients, seed_bookings")
                self.cur.execute("ALTER TABLE practitioners ENABLE TRIGGER practitioners_search_document")
                self._copy_map_points()
            # Each logged search counts practitioners with the GiST index, which only serves
            # queries once the load has committed: the load updated practitioners (ratings)
            # before the index was rebuilt, and PostgreSQL keeps such an index from the
            # transaction that built it, so every search would read every practitioner.
            with self.conn.transaction():
                self._load_searches()
        finally:
            self.bar.close()
        demo_started = time.perf_counter()
        before = self._counts()
        seed_demo.run(self.url, now=self.anchor)
        for table, rows in self._counts().items():
            if rows != before[table]:
                self.report.demo_rows[table] = rows - before[table]
                self.report.rows[table] = self.report.rows.get(table, 0) + rows - before[table]
        self.report.steps.append(("demo accounts' work (through the flows)", 0, time.perf_counter() - demo_started))
        analyze_started = time.perf_counter()
        self.conn.autocommit = True
        self.cur.execute(f"ANALYZE {', '.join(SEEDED_TABLES)}")
        self.report.steps.append(("analyze", 0, time.perf_counter() - analyze_started))
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _counts(self) -> dict[str, int]:
        counted = "SELECT count(*) FROM {}"  # the models' own table names, quoted by psycopg
        found = {
            table: _value(self.cur.execute(psycopg.sql.SQL(counted).format(psycopg.sql.Identifier(table))))
            for table in SEEDED_TABLES
        }
        self.conn.rollback()  # only read: end the transaction the counts began
        return found

    def _search_count(self) -> int:
        return max(200, self.options.bookings // 1000)

    def _load_searches(self) -> None:
        """Searches from the last year, centred on towns of every size (so the smallest
        often find nobody: the unmet demand analysts map), each logged with what a search
        for that place, radius and specialization finds on its first page."""
        self.bar.set_description("Seeding search log")
        # Each search walks the GiST index and stops at a page and one more. A bitmap scan
        # would first gather every practitioner in a city's 100 km box; a sequential scan
        # "until 21 are found" reads all of them for a town where nobody practises.
        self.cur.execute("ANALYZE practitioners")
        self.cur.execute("SET LOCAL enable_bitmapscan = off")
        self.cur.execute("SET LOCAL enable_seqscan = off")
        count = self._search_count()
        rng = np.random.default_rng([self.options.seed, 7])
        place = rng.integers(0, len(self.gazetteer), count)
        latitude, longitude = _spread_around(rng, self.gazetteer, place)
        spec = rng.integers(0, len(SPECIALIZATIONS) + 1, count)  # the last: any specialization
        self._staged(
            "search plan (binary COPY)",
            "seed_searches",
            {
                "n": ("int8", np.arange(1, count + 1)),
                "place": ("int4", place + 1),
                "latitude": ("float8", latitude),
                "longitude": ("float8", longitude),
                "radius": ("int4", rng.choice([5, 10, 25, 50, 100], count, p=[0.2, 0.3, 0.3, 0.15, 0.05])),
                "spec": ("int4", spec + 1),
                "searched": ("timestamptz", pg_time(self.now_s - rng.integers(60, 365 * 86400, count))),
            },
        )
        self._sql(
            "search_log",
            """
            INSERT INTO search_log (id, searched_at, centre, place, radius_km, filters, results_found, more_results)
            SELECT pg_temp.seed_uuid(%(seed)s, 'search', s.n), s.searched, c.centre, (%(labels)s::text[])[s.place],
                   s.radius, f.filters, least(found.n, %(page)s + 1), found.n > %(page)s
            FROM seed_searches s
            CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(s.longitude, s.latitude), 4326)::geography) c(centre)
            CROSS JOIN LATERAL (SELECT (%(specs)s::specialization_type[])[s.spec]) w(spec)
            CROSS JOIN LATERAL (
                SELECT CASE WHEN w.spec IS NULL THEN '{"sort": "distance"}'::jsonb
                            ELSE jsonb_build_object('specializations', jsonb_build_array(w.spec), 'sort', 'distance')
                       END) f(filters)
            CROSS JOIN LATERAL (
                SELECT count(*) FROM (
                    SELECT 1 FROM practitioners p
                    WHERE ST_DWithin(p.location, c.centre, s.radius * 1000.0)
                      AND (w.spec IS NULL OR p.specialization = w.spec)
                    LIMIT %(page)s + 1) hit
                ) found(n)
            """,
            {"labels": [pl.label for pl in self.gazetteer], "specs": list(SPECIALIZATIONS), "page": 20},
        )
        self.cur.execute("DROP TABLE seed_searches")

    def _expected_rows(self, people: PeoplePlan, plan: dict[str, np.ndarray]) -> int:
        ranges = np.array([sum(len(r) for r in t.values()) for t in WEEKLY_TEMPLATES])
        weekly = int(np.bincount(people.template, minlength=len(WEEKLY_TEMPLATES)) @ ranges)
        reviewed = plan["review"] > 0
        return int(
            2 * self.options.practitioners
            + 2 * self.options.clients
            + self._search_count()
            + len(DEMO_ACCOUNTS)
            - 2
            + weekly
            + 2 * len(plan["n"])
            + plan["refund"].sum()
            + reviewed.sum()
            + plan["recent"].sum()
            + (plan["cancel_by"] == 3).sum()
            + (reviewed & np.isin(plan["review_status"], [2, 3])).sum()
        )

    def _prepare(self) -> None:
        self.cur.execute("SET LOCAL work_mem = '256MB'")
        self.cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
        self.cur.execute("SET LOCAL synchronous_commit = off")
        _refuse_if_seeded(self.cur)
        # Truncating in this transaction lets a wal_level=minimal server skip the WAL.
        self.cur.execute(f"TRUNCATE {', '.join(SEEDED_TABLES)}")
        # The seeder computes each practitioner's search document itself, in bulk; the
        # per-row trigger would look every user up one at a time.
        self.cur.execute("ALTER TABLE practitioners DISABLE TRIGGER practitioners_search_document")
        # The map points are copied once at the end, in one statement (`_copy_map_points`).
        for trigger in MAP_POINT_TRIGGERS:
            self.cur.execute(f"ALTER TABLE practitioners DISABLE TRIGGER {trigger}")
        self.cur.execute(SEED_UUID_SQL)

    def _copy_map_points(self) -> None:
        """The narrow copy of the practitioners' search columns the map counts from, made in
        one statement once practitioners are final (their triggers were off for the load)."""
        started = time.perf_counter()
        columns = ", ".join(column.name for column in PractitionerMapPoint.__table__.columns)
        copy = f"INSERT INTO practitioner_map_points ({columns}) SELECT {columns} FROM practitioners"  # noqa: S608 - the model's column names
        self.cur.execute(copy)
        for trigger in MAP_POINT_TRIGGERS:
            self.cur.execute(f"ALTER TABLE practitioners ENABLE TRIGGER {trigger}")
        self.report.steps.append(("map points", 0, time.perf_counter() - started))

    # -- people

    def _load_people(self, people: PeoplePlan) -> None:
        o = self.options
        p, c = o.practitioners, o.clients
        self.bar.set_description("Seeding people")
        self._staged(
            "people (binary COPY)",
            "seed_people",
            {
                "n": ("int4", np.arange(p + c)),
                "id": ("uuid", people.user_ids[: p + c]),
                "role": ("int2", (np.arange(p + c) >= p).astype(np.int64)),
                "first": ("int2", people.first_name),
                "last": ("int2", people.last_name),
                "phone": ("int8", people.phone),
                "joined": ("timestamptz", pg_time(people.joined)),
            },
        )
        locked_hash = accounts.hash_password(uuid.uuid4().hex)
        self._sql(
            "users",
            """
            INSERT INTO users (id, email, password_hash, role, first_name, last_name, phone, is_active, is_demo,
                               created_at, updated_at)
            SELECT s.id,
                   lower(replace((%(first)s::text[])[s.first + 1] || '.' || (%(last)s::text[])[s.last + 1]
                                 || '.' || s.n, ' ', '')) || '@example.co.za',
                   %(locked)s,
                   (ARRAY['practitioner', 'client']::user_role[])[s.role + 1],
                   (%(first)s::text[])[s.first + 1], (%(last)s::text[])[s.last + 1],
                   '+27' || s.phone, true, true, s.joined, s.joined
            FROM seed_people s
            """,
            {"first": list(seed_text.FIRST_NAMES), "last": list(seed_text.LAST_NAMES), "locked": locked_hash},
        )
        self._demo_accounts(people)

        self._staged(
            "practitioners (binary COPY)",
            "seed_practitioners",
            {
                "id": ("uuid", people.practitioner_ids),
                "user_id": ("uuid", people.user_ids[:p]),
                "spec": ("int2", people.specialization),
                "place": ("int4", people.place),
                "lat": ("float8", np.round(people.latitude, 6)),
                "lon": ("float8", np.round(people.longitude, 6)),
                "rate_cents": ("int8", people.rate_cents),
                "duration": ("int2", people.duration),
                "offers": ("int2", people.offers),
                "verification": ("int2", people.verification),
                "radius": ("int2", people.radius),
                "template": ("int2", people.template),
                "street": ("int2", people.street),
                "number": ("int2", people.street_number),
                "bio1": ("int2", people.bio[:, 0]),
                "bio2": ("int2", people.bio[:, 1]),
                "bio3": ("int2", people.bio[:, 2]),
                "joined": ("timestamptz", pg_time(people.joined[:p])),
            },
        )
        self._sql(
            "practitioners",
            """
            INSERT INTO practitioners (
                id, user_id, specialization, bio, location, service_address, city, province,
                service_radius_km, rate_per_session, session_duration_minutes, offers_in_person,
                offers_online, verification_status, verified_at, created_at, updated_at, search_document)
            SELECT s.id, s.user_id, t.specialization, t.bio,
                   ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)::geography,
                   s.number || ' ' || (%(streets)s::text[])[s.street + 1] || ' Street, '
                       || (%(places)s::text[])[s.place + 1],
                   (%(places)s::text[])[s.place + 1],
                   (%(provinces)s::text[])[s.place + 1],
                   s.radius, s.rate_cents / 100.0, s.duration, s.offers <> 2, s.offers <> 1,
                   (%(verification)s::verification_status[])[s.verification + 1],
                   CASE WHEN s.verification = 0 THEN s.joined + interval '7 days' END,
                   s.joined, s.joined,
                   practitioner_search_document(u.first_name, u.last_name, t.specialization, t.bio)
            FROM seed_practitioners s
            JOIN users u ON u.id = s.user_id
            CROSS JOIN LATERAL (
                SELECT (%(specs)s::specialization_type[])[s.spec + 1] AS specialization,
                       (%(openings)s::text[])[s.spec * 4 + s.bio1 + 1] || ' ' || (%(middles)s::text[])[s.bio2 + 1]
                           || ' ' || (%(closings)s::text[])[s.bio3 + 1] AS bio
            ) t
            -- Written in spatial order, as CLUSTER on the location index would leave them:
            -- a radius search then reads neighbouring rows from neighbouring pages.
            ORDER BY ST_GeoHash(ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326), 7)
            """,
            {
                "specs": SPECIALIZATIONS,
                "openings": [o for spec in SPECIALIZATIONS for o in seed_text.BIO_OPENINGS[spec]],
                "middles": list(seed_text.BIO_MIDDLES),
                "closings": list(seed_text.BIO_CLOSINGS),
                "streets": list(seed_text.STREETS),
                "places": [pl.name for pl in self.gazetteer],
                "provinces": [pl.province for pl in self.gazetteer],
                "verification": list(VERIFICATION),
            },
        )

        self._staged(
            "clients (binary COPY)",
            "seed_clients",
            {
                "id": ("uuid", people.client_ids),
                "user_id": ("uuid", people.user_ids[p : p + c]),
                "place": ("int4", people.client_place),
                "joined": ("timestamptz", pg_time(people.joined[p:])),
            },
        )
        self._sql(
            "clients",
            """
            INSERT INTO clients (id, user_id, preferred_place, preferred_location, created_at)
            SELECT s.id, s.user_id, (%(labels)s::text[])[s.place + 1],
                   ST_SetSRID(ST_MakePoint((%(lons)s::float8[])[s.place + 1],
                                           (%(lats)s::float8[])[s.place + 1]), 4326)::geography,
                   s.joined
            FROM seed_clients s
            """,
            {
                "labels": [pl.label for pl in self.gazetteer],
                "lons": [pl.longitude for pl in self.gazetteer],
                "lats": [pl.latitude for pl in self.gazetteer],
            },
        )

        self.bar.set_description("Seeding weekly hours")
        template_rows = [
            (t, day, f"{start:02d}:00", f"{end:02d}:00")
            for t, template in enumerate(WEEKLY_TEMPLATES)
            for day, ranges in sorted(template.items())
            for start, end in ranges
        ]
        self._sql(
            "availability_slots",
            """
            INSERT INTO availability_slots (practitioner_id, day_of_week, start_time, end_time, created_at)
            SELECT s.id, t.day, t.start_time, t.end_time, s.joined
            FROM seed_practitioners s
            JOIN unnest(%(template)s::int[], %(day)s::int[], %(start)s::time[], %(end)s::time[])
                 AS t(template, day, start_time, end_time) ON t.template = s.template
            """,
            {
                "template": [r[0] for r in template_rows],
                "day": [r[1] for r in template_rows],
                "start": [r[2] for r in template_rows],
                "end": [r[3] for r in template_rows],
            },
        )

    def _demo_accounts(self, people: PeoplePlan) -> None:
        """Turn practitioner 0 and client 0 into the demo logins and add staff, analyst, admin."""
        o = self.options
        demo_hash = accounts.hash_password(DEMO_PASSWORD)
        joined = datetime.fromtimestamp(self.now_s - 900 * 86400, UTC)
        for k, (role, email, first, last) in enumerate(DEMO_ACCOUNTS):
            if role == Role.PRACTITIONER:
                user_id = as_uuid(people.user_ids[0])
            elif role == Role.CLIENT:
                user_id = as_uuid(people.user_ids[o.practitioners])
            else:
                self.cur.execute(
                    "INSERT INTO users (id, email, password_hash, role, first_name, last_name, is_demo, created_at, "
                    "updated_at) VALUES (%s, %s, %s, %s, %s, %s, true, %s, %s)",
                    (
                        as_uuid(people.user_ids[o.practitioners + o.clients + k]),
                        email,
                        demo_hash,
                        role.value,
                        first,
                        last,
                        joined,
                        joined,
                    ),
                )
                self.report.rows["users"] += 1
                self.bar.update(1)
                continue
            self.cur.execute(
                "UPDATE users SET email = %s, first_name = %s, last_name = %s, password_hash = %s WHERE id = %s",
                (email, first, last, demo_hash, user_id),
            )

    # -- bookings and what follows from them

    def _load_bookings(self, plan: dict[str, np.ndarray]) -> None:
        self.bar.set_description("Seeding bookings")
        self._staged(
            "bookings plan (binary COPY)",
            "seed_bookings",
            {name: (pg_type, plan[name]) for name, pg_type in BOOKING_STAGING_TYPES.items()},
        )
        staff_email = next(email for role, email, _, _ in DEMO_ACCOUNTS if role == Role.STAFF)
        staff_id = _value(self.cur.execute("SELECT id FROM users WHERE email = %s", (staff_email,)))
        params = {
            "staff_id": staff_id,
            "fee_rate": self.fee_rate,
            "statuses": BOOKING_STATUSES,
            "completed": STATUS_CODE[BookingStatus.COMPLETED],
        }
        self._sql(
            "bookings",
            """
            INSERT INTO bookings (
                id, client_id, practitioner_id, created_by_id, session_start, session_end, blocked_until, status,
                meeting_type, notes, currency, service_amount, platform_fee_rate, platform_fee,
                total_amount, payment_status, stripe_payment_intent_id, confirmed_at, completed_at,
                cancelled_at, cancelled_by_id, cancelled_for, cancellation_reason, created_at, updated_at, pays_by,
                hold_expires_at)
            SELECT b.id, b.client_user_id, b.practitioner_id,
                   CASE WHEN b.staff_booked = 1 THEN %(staff_id)s::uuid END,
                   b.session_start, b.session_end, b.session_end,
                   (%(statuses)s::booking_status[])[b.status + 1],
                   (ARRAY['in_person', 'online']::meeting_type[])[b.meeting + 1],
                   coalesce((%(notes)s::text[])[b.note_idx], ''),
                   'ZAR', a.service, %(fee_rate)s, a.fee, a.service + a.fee,
                   (CASE b.pay WHEN 0 THEN 'pending' WHEN 2 THEN 'expired'
                         ELSE CASE WHEN b.refund = 1 THEN 'refunded' ELSE 'completed' END
                    END)::payment_status,
                   CASE WHEN b.method = 0 THEN 'pi_seed' || replace(b.charge_id::text, '-', '') END,
                   CASE WHEN b.pay = 1 THEN b.created + interval '2 minutes' END,
                   CASE WHEN b.status = %(completed)s THEN b.session_end + interval '30 minutes' END,
                   CASE WHEN b.cancel_by > 0 THEN b.cancelled END,
                   CASE b.cancel_by WHEN 1 THEN b.client_user_id WHEN 2 THEN b.practitioner_user_id
                                    WHEN 3 THEN %(staff_id)s::uuid END,
                   CASE b.cancel_by WHEN 1 THEN 'client' WHEN 2 THEN 'practitioner'
                                    WHEN 3 THEN (ARRAY['client', 'practitioner'])[least(b.reason_idx, 2)] END,
                   CASE b.cancel_by WHEN 1 THEN (%(client_reasons)s::text[])[b.reason_idx]
                                    WHEN 2 THEN (%(practitioner_reasons)s::text[])[b.reason_idx]
                                    WHEN 3 THEN (%(staff_reasons)s::text[])[least(b.reason_idx, 2)] END,
                   b.created,
                   CASE WHEN b.cancel_by > 0 THEN b.cancelled
                        WHEN b.status = %(completed)s THEN b.session_end + interval '30 minutes'
                        ELSE b.created END,
                   -- Unpaid bookings wait for an EFT: held a day, until two hours before the session.
                   CASE WHEN b.pay = 0 THEN 'eft' END,
                   CASE WHEN b.pay = 0
                        THEN greatest(least(b.created + interval '24 hours', b.session_start - interval '2 hours'),
                                      b.created + interval '15 minutes') END
            FROM seed_bookings b
            CROSS JOIN LATERAL (SELECT b.rate_cents / 100.0 AS service,
                                       round(b.rate_cents / 100.0 * %(fee_rate)s, 2) AS fee) a
            """,
            {
                **params,
                "notes": list(seed_text.SERVICE_NOTES),
                "client_reasons": list(seed_text.CANCELLATION_REASONS["client"]),
                "practitioner_reasons": list(seed_text.CANCELLATION_REASONS["practitioner"]),
                "staff_reasons": list(seed_text.CANCELLATION_REASONS["staff"]),
            },
        )

        self.bar.set_description("Seeding payments")
        self._sql(
            "payment_transactions",
            """
            INSERT INTO payment_transactions (
                id, booking_id, user_id, kind, provider, method, provider_reference, amount, currency,
                status, idempotency_key, failure_reason, created_by_id, created_at)
            SELECT b.charge_id, b.id, b.client_user_id, 'charge',
                   CASE WHEN b.method = 0 THEN 'stripe' ELSE 'manual' END,
                   (ARRAY['card', 'eft', 'cash'])[b.method + 1],
                   CASE WHEN b.method = 0 THEN 'pi_seed' || replace(b.charge_id::text, '-', '')
                        ELSE (ARRAY['CARD', 'EFT', 'CASH'])[b.method + 1] || '-' || (100000 + b.n) END,
                   b.rate_cents / 100.0 + round(b.rate_cents / 100.0 * %(fee_rate)s, 2),
                   'ZAR',
                   (ARRAY['pending', 'completed', 'expired']::payment_status[])[b.pay + 1],
                   'charge:' || b.id,
                   CASE WHEN b.pay = 2 THEN 'The booking was cancelled before it was paid.' END,
                   CASE WHEN b.method > 0 AND b.pay = 1 THEN %(staff_id)s::uuid END,
                   b.created + CASE WHEN b.pay = 1 THEN interval '2 minutes' ELSE interval '0' END
            FROM seed_bookings b
            """,
            params,
        )
        self._sql(
            "payment_transactions",
            """
            INSERT INTO payment_transactions (
                id, booking_id, user_id, kind, provider, method, provider_reference, amount, currency,
                status, idempotency_key, created_by_id, created_at)
            SELECT pg_temp.seed_uuid(%(seed)s, 'refund', b.n), b.id, b.client_user_id, 'refund',
                   CASE WHEN b.method = 0 THEN 'stripe' ELSE 'manual' END,
                   (ARRAY['card', 'eft', 'cash'])[b.method + 1],
                   CASE WHEN b.method = 0 THEN 're_seed' || replace(b.id::text, '-', '') END,
                   b.rate_cents / 100.0 + round(b.rate_cents / 100.0 * %(fee_rate)s, 2),
                   'ZAR', 'completed', 'refund:' || b.id,
                   CASE WHEN b.cancel_by = 3 OR b.method > 0 THEN %(staff_id)s::uuid END,
                   b.cancelled + interval '5 minutes'
            FROM seed_bookings b
            WHERE b.refund = 1
            """,
            params,
        )

        self.bar.set_description("Seeding reviews")
        self._sql(
            "reviews",
            """
            INSERT INTO reviews (
                id, booking_id, client_id, practitioner_id, rating, comment, status,
                moderation_reason, moderated_by_id, moderated_at, practitioner_reply, replied_at,
                created_at, updated_at)
            SELECT pg_temp.seed_uuid(%(seed)s, 'review', b.n), b.id, b.client_user_id, b.practitioner_id,
                   -- the insult refused for its language was never written with five stars
                   CASE WHEN b.review_status >= 2 AND b.reason_idx = %(insult)s THEN 1 ELSE b.review END,
                   CASE WHEN b.review_status >= 2 THEN (%(refused)s::text[])[b.reason_idx]
                        ELSE (%(comments)s::text[])[b.comment_idx] END,
                   (ARRAY['published', 'pending', 'rejected', 'hidden']::review_status[])[b.review_status + 1],
                   CASE WHEN b.review_status >= 2 THEN (%(reasons)s::text[])[b.reason_idx] END,
                   CASE WHEN b.review_status <> 1 THEN %(staff_id)s::uuid END,
                   CASE WHEN b.review_status <> 1 THEN b.reviewed + interval '2 hours' END,
                   CASE WHEN b.review_status = 0 AND b.reply = 1
                        THEN CASE WHEN b.review >= 4 THEN %(thanks)s ELSE %(sorry)s END END,
                   CASE WHEN b.review_status = 0 AND b.reply = 1 THEN b.reviewed + interval '1 day' END,
                   b.reviewed,
                   b.reviewed + CASE WHEN b.review_status <> 1 THEN interval '2 hours' ELSE interval '0' END
            FROM seed_bookings b
            WHERE b.review > 0
            """,
            {
                **params,
                "comments": [c for r in (1, 2, 3, 4, 5) for c in seed_text.REVIEW_COMMENTS[r]],
                "reasons": list(seed_text.MODERATION_REASONS),
                "refused": list(seed_text.REFUSED_COMMENTS),  # each breaking the rule its reason names
                "insult": seed_text.INSULTING_COMMENT + 1,  # SQL arrays count from 1
                "thanks": "Thank you for the kind words. Go well.",
                "sorry": "Thank you for telling me. I am sorry it fell short; I will do better.",
            },
        )
        # practitioners.rating and review_count follow from the database's rule on reviews.

        self.bar.set_description("Seeding notifications")
        self._sql(
            "notifications",
            """
            INSERT INTO notifications (id, user_id, type, title, message, data, read_at, created_at)
            SELECT pg_temp.seed_uuid(%(seed)s, 'notification', b.n), b.client_user_id, k.type, k.title,
                   k.verb || ' for ' || to_char(b.session_start AT TIME ZONE 'Africa/Johannesburg',
                                                'FMDay DD Mon YYYY "at" HH24:MI') || '.',
                   jsonb_build_object('booking_id', b.id),
                   CASE WHEN b.read = 1 THEN b.created + interval '1 hour' END,
                   CASE WHEN b.cancel_by > 0 THEN b.cancelled ELSE b.created END
            FROM seed_bookings b
            JOIN (VALUES
                    (0, 'booking_received', 'Booking received', 'We are holding your session until payment'),
                    (1, 'booking_confirmed', 'Booking confirmed', 'Your session is confirmed'),
                    (2, 'booking_confirmed', 'Booking confirmed', 'Your session is confirmed'),
                    (3, 'booking_cancelled', 'Booking cancelled', 'Your session was cancelled'),
                    (4, 'booking_confirmed', 'Booking confirmed', 'Your session is confirmed')
                 ) AS k(status, type, title, verb) ON k.status = b.status
            WHERE b.recent = 1
            """,
        )

        self.bar.set_description("Seeding audit log")
        self._sql(
            "audit_log",
            """
            INSERT INTO audit_log (id, actor_id, action, target_type, target_id, before, after, reason, created_at)
            SELECT pg_temp.seed_uuid(%(seed)s, 'audit-cancel', b.n), %(staff_id)s::uuid, 'booking.cancel',
                   'booking', b.id::text,
                   jsonb_build_object('status', CASE WHEN b.pay = 1 THEN 'confirmed' ELSE 'pending' END),
                   jsonb_build_object('status', 'cancelled', 'refund_due', b.refund = 1, 'on_behalf_of',
                                      (ARRAY['client', 'practitioner'])[least(b.reason_idx, 2)]),
                   (%(staff_reasons)s::text[])[least(b.reason_idx, 2)],
                   b.cancelled
            FROM seed_bookings b WHERE b.cancel_by = 3
            UNION ALL
            SELECT pg_temp.seed_uuid(%(seed)s, 'audit-review', b.n), %(staff_id)s::uuid,
                   CASE b.review_status WHEN 2 THEN 'review.reject' ELSE 'review.hide' END,
                   'review', pg_temp.seed_uuid(%(seed)s, 'review', b.n)::text,
                   jsonb_build_object('status', CASE b.review_status WHEN 2 THEN 'pending' ELSE 'published' END),
                   jsonb_build_object('status', CASE b.review_status WHEN 2 THEN 'rejected' ELSE 'hidden' END),
                   (%(reasons)s::text[])[b.reason_idx],
                   b.reviewed + interval '2 hours'
            FROM seed_bookings b WHERE b.review > 0 AND b.review_status IN (2, 3)
            """,
            {
                **params,
                "staff_reasons": list(seed_text.CANCELLATION_REASONS["staff"]),
                "reasons": list(seed_text.MODERATION_REASONS),
            },
        )


def seed(url: str, options: SeedOptions, show_progress: bool = True) -> SeedReport:
    """Fill an empty, migrated database with demo data; all or nothing."""
    validate(options)
    with psycopg.connect(url) as conn:
        _refuse_if_seeded(conn.cursor())
        conn.rollback()
        return _Seeder(conn, options, show_progress, url).run()


def _refuse_if_seeded(cur: psycopg.Cursor) -> None:
    existing = _value(cur.execute("SELECT count(*) FROM users"))
    if existing:
        raise SeedError(
            f"the database already holds {existing:,} users: run `python -m avenrae db reset --yes` "
            "first to seed from scratch"
        )


def is_seeded(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return bool(_value(conn.execute("SELECT EXISTS (SELECT 1 FROM users)")))
