"""Nominatim, when the deployer enables it (AVENRAE_GEOCODER=nominatim), behind the offline gazetteer.

Asked only when the offline lookup refuses a query or only finds its town; South Africa only;
through geopy's Nominatim client with the configured URL and an identifying user agent, at
most one request per AVENRAE_NOMINATIM_MIN_DELAY_SECONDS from all the servers together (the
turn is a lock in the database, see `_turn`). Every answer,
refusals included, is kept in `geocode_cache`, so a query is asked once. Any error or
timeout leaves the offline answer (or refusal) as it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from avenrae.config import get_settings
from avenrae.db import independent_transaction, lock_until_commit
from avenrae.geo.gazetteer import Place, km, normalise
from avenrae.geo.lookup import NEAR_KM, PROVINCE_BY_NAME, Located, PlaceNotFound, Precision, locate
from avenrae.models import GeocodeCache

log = logging.getLogger(__name__)
PROVIDER = "nominatim"
ATTRIBUTION = "Data © OpenStreetMap contributors, ODbL 1.0 (found through Nominatim)"
ISO_PROVINCES = {
    "ZA-EC": "Eastern Cape",
    "ZA-FS": "Free State",
    "ZA-GP": "Gauteng",
    "ZA-GT": "Gauteng",
    "ZA-KZN": "KwaZulu-Natal",
    "ZA-NL": "KwaZulu-Natal",
    "ZA-LP": "Limpopo",
    "ZA-MP": "Mpumalanga",
    "ZA-NC": "Northern Cape",
    "ZA-NW": "North West",
    "ZA-WC": "Western Cape",
}
PLACE_KEYS = ("suburb", "neighbourhood", "quarter", "village", "town", "city_district", "city", "municipality")


def enabled() -> bool:
    return get_settings().geocoder == "nominatim"


@lru_cache(maxsize=4)
def _client(url: str, user_agent: str, timeout: float):
    from geopy.geocoders import Nominatim

    parts = urlsplit(url)
    return Nominatim(
        domain=parts.netloc + parts.path.rstrip("/"), scheme=parts.scheme, user_agent=user_agent, timeout=timeout
    )


class NoTurn(Exception):
    """Nominatim's turn would not come within the request's timeout."""


# Each request to Nominatim, when it ends, sets the start of the rate-limit counter row
# 'nominatim' to that moment; the next request waits until the last one ended a whole delay
# ago, on the database's clock, which every server shares.
_WAIT_FOR_TURN = text("""
    SELECT greatest(0, extract(epoch FROM max(window_start) + make_interval(secs => :delay) - clock_timestamp()))
    FROM rate_limits WHERE key = 'nominatim'
""")
_TURN_TAKEN = text("""
    INSERT INTO rate_limits AS c (key, window_start, window_end, hits, previous_hits)
    VALUES ('nominatim', clock_timestamp(), clock_timestamp(), 1, 0)
    ON CONFLICT (key) DO UPDATE SET window_start = excluded.window_start, window_end = excluded.window_end,
                                    hits = c.hits + 1
""")


@contextmanager
def _turn(session: Session) -> Iterator[None]:
    """One request at a time, across every server process, each sent a whole
    AVENRAE_NOMINATIM_MIN_DELAY_SECONDS after the last one ended, so requests reach Nominatim
    at least that far apart however long each took. The turn is a transaction-level lock in
    the database (it works behind PgBouncer), in a transaction of its own. A turn that would
    not come within the request's timeout is given up (LockNotAvailable, NoTurn): the answer
    stays offline."""
    settings = get_settings()
    patience = settings.nominatim_timeout_seconds
    with independent_transaction(session) as connection:
        lock_wait = {"wait": f"{round(patience * 1000)}ms"}
        connection.execute(text("SELECT set_config('lock_timeout', :wait, true)"), lock_wait)
        lock_until_commit(connection, "nominatim")
        wait = float(connection.execute(_WAIT_FOR_TURN, {"delay": settings.nominatim_min_delay_seconds}).scalar() or 0)
        if wait > patience:
            raise NoTurn(f"Nominatim's turn is {wait:.1f} s away")
        time.sleep(wait)
        try:
            yield
        finally:  # a failed request was a request too
            connection.execute(_TURN_TAKEN)


def _ask(query: str, session: Session) -> tuple[Place, str] | None:
    """Nominatim's best South African answer and its display name, None when it has none; raises on errors."""
    settings = get_settings()
    nominatim = _client(settings.nominatim_url, settings.nominatim_user_agent, settings.nominatim_timeout_seconds)
    with _turn(session):
        location = nominatim.geocode(query, exactly_one=True, country_codes="za", addressdetails=True, language="en")
    if location is None:
        return None
    address = location.raw.get("address", {})
    province = ISO_PROVINCES.get(address.get("ISO3166-2-lvl4", "")) or PROVINCE_BY_NAME.get(
        normalise(address.get("state", ""))
    )
    if province is None or address.get("country_code", "za") != "za":
        return None
    name = location.raw.get("name") or next((address[k] for k in PLACE_KEYS if address.get(k)), None)
    place = Place(
        name=(name or location.address.split(",")[0])[:200],
        province=province,
        latitude=float(location.latitude),
        longitude=float(location.longitude),
        population=0,
        sources=(PROVIDER,),
    )
    return place, location.address


def _cache_key(query: str) -> str:
    return normalise(query)[:300]


def lookup(query: str, *, session: Session) -> tuple[Place, str] | None:
    """The place and Nominatim's display name for `query`, from the cache or asked once; None if unknown.

    None too when Nominatim cannot be reached (then nothing is cached, so it is asked again later).
    """
    key = _cache_key(query)
    cached = session.get(GeocodeCache, (PROVIDER, key))
    if cached is not None:
        if not cached.found:
            return None
        place = Place(cached.name or "", cached.province or "", cached.latitude or 0, cached.longitude or 0, 0)
        return place, cached.display_name or place.label
    try:
        answer = _ask(query, session)
    except Exception as exc:  # geopy, socket and HTTP errors, no turn in time: stay offline
        log.warning("Nominatim lookup failed, staying offline: %s", exc)
        return None
    row = {"provider": PROVIDER, "query_key": key, "found": answer is not None}
    if answer is not None:
        place, display_name = answer
        row |= {
            "latitude": place.latitude,
            "longitude": place.longitude,
            "name": place.name,
            "province": place.province,
            "display_name": display_name,
        }
    with session.begin_nested():
        session.execute(insert(GeocodeCache).values(**row).on_conflict_do_nothing())
    return answer


def resolve(query: str, *, session: Session | None = None) -> Located:
    """`locate(query)` offline, then Nominatim (when enabled) if that refused or only found the town."""
    try:
        offline = locate(query)
    except PlaceNotFound:
        if session is None or not enabled():
            raise
        online = lookup(query, session=session)
        if online is None:
            raise
        return _online(query, *online)
    if not offline.is_approximate or session is None or not enabled():
        return offline
    online = lookup(query, session=session)
    if online is None:
        return offline
    place, _ = online
    # An answer far from the town the offline lookup found is a same-named place elsewhere.
    if km(place.latitude, place.longitude, offline.latitude, offline.longitude) > NEAR_KM:
        return offline
    return _online(query, *online)


def _online(query: str, place: Place, display_name: str) -> Located:
    return Located(query, place, Precision.ONLINE, place.latitude, place.longitude, display_name=display_name)
