"""Places and points: the offline South African geocoder, optional Nominatim, and PostGIS expressions.

`locate(query)` answers offline in well under a millisecond (see `lookup`); `resolve(query,
session=...)` adds Nominatim when the deployer enables it (see `online`). The PostGIS
helpers (`point`, `within`, ...) live in `postgis`.
"""

from avenrae.geo.gazetteer import PROVINCES, Place, gazetteer, km, name_key, normalise
from avenrae.geo.lookup import (
    PIN_MAX_KM_FROM_A_PLACE,
    Located,
    PinOutside,
    PlaceNotFound,
    Precision,
    candidates,
    choices,
    geocode,
    locate,
    parse,
    pin,
    suggest_names,
)
from avenrae.geo.online import ATTRIBUTION as ONLINE_ATTRIBUTION
from avenrae.geo.online import resolve
from avenrae.geo.postgis import (
    GEOGRAPHY_POINT,
    GEOMETRY_POINT,
    SPHERE_MARGIN,
    as_geometry,
    closer_than,
    point,
    point_wkt,
    within,
)

__all__ = [
    "GEOGRAPHY_POINT",
    "GEOMETRY_POINT",
    "ONLINE_ATTRIBUTION",
    "PIN_MAX_KM_FROM_A_PLACE",
    "PROVINCES",
    "SPHERE_MARGIN",
    "Located",
    "PinOutside",
    "Place",
    "PlaceNotFound",
    "Precision",
    "as_geometry",
    "candidates",
    "choices",
    "closer_than",
    "gazetteer",
    "geocode",
    "km",
    "locate",
    "name_key",
    "normalise",
    "parse",
    "pin",
    "place_near",
    "places",
    "point",
    "point_wkt",
    "resolve",
    "search_places",
    "suggest_names",
    "within",
]


def places() -> tuple[Place, ...]:
    """Every South African place in the gazetteer, most likely first, one per label."""
    return tuple(gazetteer().by_label.values())


def search_places(prefix: str, limit: int = 10) -> list[Place]:
    """Places whose name (or an alternate name) starts with `prefix`, most likely first."""
    key = name_key(prefix)
    if not key:
        return list(places()[:limit])
    found: dict[str, Place] = {}
    for place in places():
        if any(name_key(n).startswith(key) for n in (place.name, *place.alternate_names)):
            found.setdefault(place.label, place)
            if len(found) >= limit:
                break
    return list(found.values())


def area_name(latitude: float, longitude: float, radius_km: float = 25) -> str | None:
    """What people call the area around a point: its largest town or city within `radius_km`
    ("Durban, KwaZulu-Natal"), else the nearest place; None far from any."""
    found = gazetteer().largest_within(latitude, longitude, radius_km) or place_near(latitude, longitude)
    return f"{found.name}, {found.province}" if found else None


def place_near(latitude: float, longitude: float) -> Place | None:
    """The nearest populated place to a point (for a map pin), if one is within ~100 km."""
    nearest = gazetteer().nearest(latitude, longitude)
    return nearest[0] if nearest else None
