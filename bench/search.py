"""Search speed at 1,000,000 practitioners, against the original platform's function.

    .venv/bin/python bench/search.py                 # seeds avenrae_bench_search once (about 2 minutes)
    .venv/bin/python bench/search.py --rounds 300 --browser

Prints p50 and p95 of the search service (one call: checking the input, the query,
the search-log row) for 50 km around Durban (healers, first 50) and for 500 km with
no filter (first 50), and for a dense city (Johannesburg, 50 km). The baseline is the
same question asked the way the original platform's plpgsql function did it: compute
distance_km for every practitioner, then filter and sort. `--browser` also times the
page in headless Chromium: from choosing "Johannesburg, 50 km" to the markers drawn.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from avenrae import seed
from avenrae.config import libpq_url
from avenrae.db import database_url, migrate, sibling_database
from avenrae.services import search

DATABASE = "avenrae_bench_search"
PRACTITIONERS = 1_000_000

# The original platform's function: plpgsql, distance_km for every row, then filter and sort.
ORIGINAL = """
CREATE OR REPLACE FUNCTION pg_temp.original_find_practitioners_near(
    lat double precision, lon double precision, radius_km double precision, spec specialization_type DEFAULT NULL)
RETURNS TABLE (id uuid, name text, specialization specialization_type, rating numeric, distance double precision,
               rate numeric)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT p.id, u.first_name || ' ' || u.last_name, p.specialization, p.rating,
           distance_km(lat, lon, ST_Y(p.location::geometry), ST_X(p.location::geometry)) AS d, p.rate_per_session
    FROM practitioners p JOIN users u ON u.id = p.user_id
    WHERE u.is_active AND u.deleted_at IS NULL
      AND (spec IS NULL OR p.specialization = spec)
      AND distance_km(lat, lon, ST_Y(p.location::geometry), ST_X(p.location::geometry)) <= radius_km
    ORDER BY d;
END
$$
"""


def ensure_database() -> str:
    url = sibling_database(database_url(), DATABASE)
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM practitioners")).scalar()
    engine.dispose()
    if count < PRACTITIONERS:
        url = sibling_database(database_url(), DATABASE, recreate=True)
        migrate(url)
        print(f"Seeding {PRACTITIONERS:,} practitioners into {DATABASE} (once) ...", flush=True)
        seed.seed(
            libpq_url(url),
            seed.SeedOptions(practitioners=PRACTITIONERS, clients=1_000, bookings=0),
            show_progress=False,
        )
    return url


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


def time_service(engine, query: search.SearchQuery, rounds: int, warm_up: int = 20) -> tuple[float, float, int]:
    """Median and 95th percentile of one search, in steady state (pooled, prepared connections)."""
    samples, found = [], 0
    for _ in range(warm_up):
        with Session(engine) as session:
            search.search(session=session, query=query)
            session.rollback()
    for _ in range(rounds):
        with Session(engine) as session:
            started = time.perf_counter()
            page = search.search(session=session, query=query)
            session.commit()
            samples.append(time.perf_counter() - started)
            found = len(page.hits)
    p50, p95 = percentiles(samples)
    return p50, p95, found


def time_original(engine, lat: float, lon: float, radius_km: float, spec: str | None, rounds: int) -> float:
    samples = []
    with engine.connect() as connection:
        connection.execute(text(ORIGINAL))
        for _ in range(rounds):
            started = time.perf_counter()
            connection.execute(
                text(
                    "SELECT * FROM pg_temp.original_find_practitioners_near(:lat, :lon, :r, "
                    "CAST(:spec AS specialization_type)) LIMIT 50"
                ),
                {"lat": lat, "lon": lon, "r": radius_km, "spec": spec},
            ).all()
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def time_map_server_side(engine, rounds: int) -> tuple[float, float]:
    """For 50 km around Johannesburg: the map's data (search + map layer), then its folium HTML."""
    from avenrae.ui import search as finder

    query = search.SearchQuery(place="Johannesburg", radius_km=50, page_size=finder.PAGE_SIZE)
    data, html = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        with Session(engine) as session:
            page = search.search(session=session, query=query)
            layer = search.map_layer(session=session, query=query, max_markers=finder.MAX_MARKERS)
            session.commit()
        built = time.perf_counter()
        finder.build_map(page, layer).get_root().render()
        data.append(built - started)
        html.append(time.perf_counter() - built)
    return statistics.median(data), statistics.median(html)


def time_map_in_browser(url: str) -> float:
    """Log in as the demo client, choose Johannesburg and 50 km, wait for markers to draw."""
    import os
    import socket
    import subprocess
    import urllib.request

    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, DATABASE_URL=url)
    server = subprocess.Popen(
        [sys.executable, "-m", "avenrae", "serve", "--port", str(port), "--address", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    "--disable-sync",
                ],
            )
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort())
            page.goto(base)
            page.get_by_role("textbox", name="Email", exact=True).fill("client@demo.avenrae.co.za")
            page.get_by_role("textbox", name="Password", exact=True).fill(seed.DEMO_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("heading", name="Find practitioners").wait_for(timeout=60_000)
            page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
            page.get_by_role("combobox", name="Place").click()
            page.keyboard.type("Johannesburg, Gauteng")
            started = time.perf_counter()
            page.get_by_role("option", name="Johannesburg, Gauteng").first.click()
            page.get_by_text("within 25 km of Johannesburg").wait_for(timeout=60_000)
            slider = page.get_by_role("slider")
            slider.focus()
            started = time.perf_counter()
            page.keyboard.press("ArrowRight")  # 25 km -> 50 km
            page.get_by_text("within 50 km of Johannesburg").wait_for(timeout=60_000)
            frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
            frame.locator(".marker-cluster, .awesome-marker-icon-green").first.wait_for(timeout=60_000)
            page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
            elapsed = time.perf_counter() - started
            browser.close()
            return elapsed
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--baseline-rounds", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    args = parser.parse_args()

    url = ensure_database()
    engine = create_engine(url, pool_size=2)
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM practitioners")).scalar()
    print(f"{count:,} practitioners in {DATABASE}\n")
    durban, joburg = (-29.8579, 31.0292), (-26.20227, 28.04363)
    cases = [
        (
            "50 km around Durban, healers, first 50",
            durban,
            search.SearchQuery(place="Durban", radius_km=50, specializations=("healer",), page_size=50),
            50,
            "healer",
        ),
        (
            "500 km around Durban, no filter, first 50",
            durban,
            search.SearchQuery(place="Durban", radius_km=500, page_size=50),
            500,
            None,
        ),
        (
            "50 km around Johannesburg (densest), first 50",
            joburg,
            search.SearchQuery(place="Johannesburg", radius_km=50, page_size=50),
            50,
            None,
        ),
    ]
    for label, (lat, lon), query, radius, spec in cases:
        p50, p95, found = time_service(engine, query, args.rounds)
        baseline = time_original(engine, lat, lon, radius, spec, args.baseline_rounds)
        print(f"{label}")
        print(f"  service   p50 {p50 * 1000:8.2f} ms   p95 {p95 * 1000:8.2f} ms   ({found} results)")
        print(
            f"  original  p50 {baseline * 1000:8.1f} ms   ratio {baseline / p50:,.0f}x (p50 to p50), "
            f"{baseline / p95:,.0f}x (against the service p95)\n"
        )
    data, html = time_map_server_side(engine, rounds=10)
    print(
        f"Map of 50 km around Johannesburg: data {data * 1000:.0f} ms + folium HTML {html * 1000:.0f} ms "
        "(median of 10; the results table shows before the map)"
    )
    if args.browser:
        print(
            f"Page in Chromium, 25 -> 50 km around Johannesburg until the markers draw: "
            f"{time_map_in_browser(url):.2f} s"
        )
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM search_log"))
    engine.dispose()


if __name__ == "__main__":
    main()
