"""The offline South African gazetteer: places, their names and postal codes, loaded once with their indexes.

The data file (`data/za-places.tsv`) is built by `scripts/build_gazetteer.py` from GeoNames
cities, SimpleMaps world cities and the GeoNames postal codes; see `data/ATTRIBUTION.md`.
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "data" / "za-places.tsv"

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
# A postal-code place carries no population; ranked as if each of its codes served this many
# people, a township with five codes outranks a same-named village elsewhere.
PEOPLE_PER_POSTAL_CODE = 10_000
# A place with more postal codes than this is a city; its suburbs name a shared code better.
CITY_CODES = 10


@dataclass(frozen=True)
class Place:
    name: str
    province: str
    latitude: float
    longitude: float
    population: int
    alternate_names: tuple[str, ...] = ()
    postal_codes: tuple[str, ...] = ()
    # Codes the postal dump gives this name without placing it there (often the city's point).
    weak_postal_codes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name}, {self.province}"

    @property
    def rank(self) -> int:
        """How likely a person means this place among same-named ones."""
        return max(self.population, PEOPLE_PER_POSTAL_CODE * len(self.all_postal_codes))

    @property
    def all_postal_codes(self) -> tuple[str, ...]:
        return self.postal_codes + self.weak_postal_codes


def normalise(text: str) -> str:
    """Case- and accent-insensitive form: 'Bénoni ' -> 'benoni'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = re.sub(r"['’`]", "", stripped)
    return re.sub(r"[^0-9a-z]+", " ", stripped).strip()


def name_key(text: str) -> str:
    """How names are compared: without case, accents, spaces, hyphens or apostrophes ('Kwa-Mashu' = 'KwaMashu')."""
    return normalise(text).replace(" ", "")


def loose_key(key: str) -> str:
    """A looser key for spellings that differ by an aspirate or a doubled letter ('Tokoza' = 'Thokoza')."""
    return re.sub(r"(.)\1", r"\1", re.sub(r"(?<=[tkp])h", "", key))


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km (a sphere: within 0.5% of the spheroid, enough to compare places)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def _code_order(code: str):
    """A code names the places it was placed at before the others, and a suburb or township
    before the city that lists dozens of codes; then the most likely first."""

    def order(place: Place) -> tuple[bool, bool, int]:
        return code not in place.postal_codes, len(place.all_postal_codes) > CITY_CODES, -place.rank

    return order


class Gazetteer:
    """Every place, with indexes by name key, by postal code and on a coarse grid."""

    GRID_DEGREES = 0.5

    def __init__(self, places: list[Place]):
        self.places = tuple(sorted(places, key=lambda p: (-p.rank, p.name, p.province)))
        self.by_key: dict[str, list[Place]] = {}
        self.by_loose_key: dict[str, list[Place]] = {}
        self.by_code: dict[str, list[Place]] = {}
        self.grid: dict[tuple[int, int], list[Place]] = {}
        for place in self.places:  # most likely first, so every list is ranked
            for key in dict.fromkeys([name_key(place.name), *(name_key(n) for n in place.alternate_names)]):
                if len(key) >= 2:
                    self.by_key.setdefault(key, []).append(place)
                    self.by_loose_key.setdefault(loose_key(key), []).append(place)
            for code in place.all_postal_codes:
                self.by_code.setdefault(code, []).append(place)
            self.grid.setdefault(self._cell(place.latitude, place.longitude), []).append(place)
        for code, coded in self.by_code.items():
            coded.sort(key=_code_order(code))
        self.by_label: dict[str, Place] = {}
        for place in self.places:
            self.by_label.setdefault(name_key(place.label), place)

    def near_code(self, code: str) -> str | None:
        """A postal code we know, or the numerically nearest known code sharing its first three digits."""
        if code in self.by_code:
            return code
        siblings = [known for known in self.by_code if known[:3] == code[:3]]
        return min(siblings, key=lambda known: abs(int(known) - int(code)), default=None)

    def _cell(self, latitude: float, longitude: float) -> tuple[int, int]:
        return math.floor(latitude / self.GRID_DEGREES), math.floor(longitude / self.GRID_DEGREES)

    def largest_within(self, latitude: float, longitude: float, radius_km: float) -> Place | None:
        """The most populous place within `radius_km` of a point (up to about 50 km), if any."""
        row, column = self._cell(latitude, longitude)
        around = (
            place
            for dr in (-1, 0, 1)
            for dc in (-1, 0, 1)
            for place in self.grid.get((row + dr, column + dc), ())
            if place.population and km(latitude, longitude, place.latitude, place.longitude) <= radius_km
        )
        return max(around, key=lambda place: place.population, default=None)

    def nearest(self, latitude: float, longitude: float, *, populated: bool = False) -> tuple[Place, float] | None:
        """The closest place (only those with a known population if `populated`) and its distance in km.

        None when nothing is within a degree or so (about 100 km).
        """
        row, column = self._cell(latitude, longitude)
        best: tuple[Place, float] | None = None
        for dr in (-2, -1, 0, 1, 2):
            for dc in (-2, -1, 0, 1, 2):
                for place in self.grid.get((row + dr, column + dc), ()):
                    if populated and not place.population:
                        continue
                    distance = km(latitude, longitude, place.latitude, place.longitude)
                    if best is None or distance < best[1]:
                        best = (place, distance)
        return best

    @cached_property
    def keys_by_initial(self) -> dict[str, tuple[str, ...]]:
        """Name keys by their first letter: what suggestions compare a misspelling with."""
        grouped: dict[str, list[str]] = {}
        for key in self.by_key:
            grouped.setdefault(key[0], []).append(key)
        return {initial: tuple(keys) for initial, keys in grouped.items()}


def _read(path: Path) -> list[Place]:
    with path.open(encoding="utf-8", newline="") as data:
        return [
            Place(
                name=row["name"],
                province=row["province"],
                latitude=float(row["latitude"]),
                longitude=float(row["longitude"]),
                population=int(row["population"]),
                alternate_names=tuple(n for n in row["alternate_names"].split("|") if n),
                postal_codes=tuple(row["postal_codes"].split()),
                weak_postal_codes=tuple(row["weak_postal_codes"].split()),
                sources=tuple(row["sources"].split()),
            )
            for row in csv.DictReader(data, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The gazetteer, read and indexed once per process (about 50 ms)."""
    return Gazetteer(_read(DATA_FILE))
