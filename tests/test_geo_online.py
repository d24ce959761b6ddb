"""Nominatim behind the offline geocoder, against a fake Nominatim on localhost (never the internet)."""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from avenrae import geo
from avenrae.config import get_settings
from avenrae.db import lock_until_commit
from avenrae.models import GeocodeCache, Practitioner, Role
from avenrae.services import accounts
from avenrae.services.errors import InvalidInput

USER_AGENT = "Avenrae tests (ops@avenrae.test)"
SEA_POINT = {
    "lat": "-33.9166",
    "lon": "18.3876",
    "name": "Sea Point",
    "display_name": "Sea Point, Cape Town, City of Cape Town, Western Cape, 8005, South Africa",
    "address": {
        "suburb": "Sea Point",
        "city": "Cape Town",
        "state": "Western Cape",
        "ISO3166-2-lvl4": "ZA-WC",
        "country": "South Africa",
        "country_code": "za",
    },
}
MORNINGSIDE_DURBAN = {
    "lat": "-29.8300",
    "lon": "31.0130",
    "name": "Florida Road",
    "display_name": "12, Florida Road, Morningside, Durban, eThekwini, KwaZulu-Natal, 4001, South Africa",
    "address": {"road": "Florida Road", "suburb": "Morningside", "city": "Durban", "state": "KwaZulu-Natal"},
}
MORNINGSIDE_SANDTON = {
    "lat": "-26.0800",
    "lon": "28.0600",
    "name": "Morningside",
    "display_name": "Morningside, Sandton, Johannesburg, Gauteng, South Africa",
    "address": {"suburb": "Morningside", "state": "Gauteng", "ISO3166-2-lvl4": "ZA-GP"},
}


class FakeNominatim:
    """Answers /nominatim/search from a dict of query -> results; remembers every request."""

    def __init__(self) -> None:
        self.answers: dict[str, list[dict]] = {}
        self.requests: list[dict] = []
        self.status = 200
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append(
                    {"path": url.path, "params": params, "agent": self.headers["User-Agent"], "at": time.monotonic()}
                )
                time.sleep(fake.delay)
                body = json.dumps(fake.answers.get(params.get("q", ""), [])).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/nominatim"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def nominatim(monkeypatch) -> Iterator[FakeNominatim]:
    fake = FakeNominatim()
    settings = get_settings()
    monkeypatch.setattr(settings, "geocoder", "nominatim")
    monkeypatch.setattr(settings, "nominatim_url", fake.url)
    monkeypatch.setattr(settings, "nominatim_user_agent", USER_AGENT)
    monkeypatch.setattr(settings, "nominatim_timeout_seconds", 2.0)
    yield fake
    fake.close()


def cached(db) -> list[GeocodeCache]:
    return list(db.scalars(select(GeocodeCache).order_by(GeocodeCache.query_key)))


def test_a_place_the_gazetteer_lacks_is_asked_once_then_read_from_the_cache(db, nominatim):
    nominatim.answers["Sea Point"] = [SEA_POINT]
    located = geo.resolve("Sea Point", session=db)
    assert located.precision == geo.Precision.ONLINE
    assert located.place.label == "Sea Point, Western Cape"
    assert located.sentence == "Placed at Sea Point, Western Cape (found online: OpenStreetMap data via Nominatim)"
    assert (located.latitude, located.longitude) == (-33.9166, 18.3876)
    [request] = nominatim.requests
    assert request["path"] == "/nominatim/search"
    assert request["params"]["countrycodes"] == "za"
    assert request["params"]["addressdetails"] == "1"
    assert request["agent"] == USER_AGENT
    [row] = cached(db)
    assert (row.provider, row.query_key, row.found, row.province) == ("nominatim", "sea point", True, "Western Cape")

    again = geo.resolve("  sea POINT ", session=db)
    assert again.place.label == "Sea Point, Western Cape"
    assert len(nominatim.requests) == 1


def test_nominatim_is_not_asked_when_the_gazetteer_places_the_query(db, nominatim):
    assert geo.resolve("Umlazi", session=db).precision == geo.Precision.PLACE
    assert geo.resolve("4066", session=db).precision == geo.Precision.POSTAL
    assert nominatim.requests == []


def test_a_town_level_answer_is_made_precise_online(db, nominatim):
    query = "12 Florida Road, Morningside, Durban"
    nominatim.answers[query] = [MORNINGSIDE_DURBAN]
    located = geo.resolve(query, session=db)
    assert located.precision == geo.Precision.ONLINE
    assert located.place.label == "Florida Road, KwaZulu-Natal"
    assert located.display_name.startswith("12, Florida Road, Morningside, Durban")


def test_an_online_answer_far_from_the_town_is_not_taken(db, nominatim):
    nominatim.answers["Morningside, Durban"] = [MORNINGSIDE_SANDTON]
    located = geo.resolve("Morningside, Durban", session=db)
    assert located.precision == geo.Precision.CITY
    assert located.place.name == "Durban"


def test_nothing_found_online_is_cached_as_a_refusal(db, nominatim):
    with pytest.raises(geo.PlaceNotFound):
        geo.resolve("Xyzzyville", session=db)
    with pytest.raises(geo.PlaceNotFound):
        geo.resolve("Xyzzyville", session=db)
    assert len(nominatim.requests) == 1
    [row] = cached(db)
    assert (row.query_key, row.found, row.latitude) == ("xyzzyville", False, None)


def test_server_errors_and_timeouts_leave_the_offline_answer_and_cache_nothing(db, nominatim, monkeypatch):
    nominatim.answers["Sea Point"] = [SEA_POINT]
    nominatim.status = 500
    with pytest.raises(geo.PlaceNotFound):
        geo.resolve("Sea Point", session=db)
    assert geo.resolve("Morningside, Durban", session=db).precision == geo.Precision.CITY

    nominatim.status, nominatim.delay = 200, 1.5
    monkeypatch.setattr(get_settings(), "nominatim_timeout_seconds", 0.3)
    time.sleep(1.0)  # the next turn has come
    started = time.monotonic()
    with pytest.raises(geo.PlaceNotFound):
        geo.resolve("Sea Point", session=db)
    assert time.monotonic() - started < 1.4  # gave up at the timeout, did not wait for the answer
    assert cached(db) == []


def test_an_unreachable_server_leaves_the_offline_answer(db, nominatim, monkeypatch):
    monkeypatch.setattr(get_settings(), "nominatim_url", "http://127.0.0.1:9/nominatim")  # discard port: refused
    assert geo.resolve("Morningside, Durban", session=db).place.name == "Durban"
    assert cached(db) == []


def test_at_most_one_request_a_second(db, nominatim):
    nominatim.answers["Sea Point"] = [SEA_POINT]
    for query in ("Sea Point", "Hillbrow", "Menlyn"):
        with contextlib.suppress(geo.PlaceNotFound):
            geo.resolve(query, session=db)
    times = [r["at"] for r in nominatim.requests]
    assert len(times) == 3
    assert all(later - earlier >= 0.99 for earlier, later in itertools.pairwise(times))


def _resolve_in_a_server_process(url: str, query: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with Session(engine) as session, contextlib.suppress(geo.PlaceNotFound):
        geo.resolve(query, session=session)
    engine.dispose()


def test_at_most_one_request_a_second_across_server_processes(db, nominatim, test_database_url, monkeypatch):
    """Several app servers ask at the same moment: the turn is the database's, not a process's."""
    monkeypatch.setattr(get_settings(), "nominatim_timeout_seconds", 10.0)  # the third waits two turns
    context = multiprocessing.get_context("fork")
    servers = [
        context.Process(target=_resolve_in_a_server_process, args=(test_database_url, query))
        for query in ("Hillbrow", "Menlyn", "Sea Point")
    ]
    for server in servers:
        server.start()
    for server in servers:
        server.join(timeout=30)
    assert [server.exitcode for server in servers] == [0, 0, 0]
    times = sorted(r["at"] for r in nominatim.requests)
    assert len(times) == 3
    assert all(later - earlier >= 0.99 for earlier, later in itertools.pairwise(times))


def test_no_turn_in_time_leaves_the_offline_answer(db, nominatim, test_database_url, monkeypatch):
    """While another server holds the turn longer than the timeout, the query stays offline."""
    monkeypatch.setattr(get_settings(), "nominatim_timeout_seconds", 0.3)
    engine = create_engine(test_database_url, poolclass=NullPool)
    with engine.begin() as holder:
        lock_until_commit(holder, "nominatim")
        with pytest.raises(geo.PlaceNotFound):
            geo.resolve("Hillbrow", session=db)
    engine.dispose()
    assert nominatim.requests == []
    assert cached(db) == []


def test_offline_by_default_nothing_is_asked(db, nominatim, monkeypatch):
    monkeypatch.setattr(get_settings(), "geocoder", "offline")
    nominatim.answers["Sea Point"] = [SEA_POINT]
    with pytest.raises(geo.PlaceNotFound):
        geo.resolve("Sea Point", session=db)
    assert nominatim.requests == []


def test_a_practitioner_placed_online_is_told_so_and_a_refusal_writes_nothing(db, nominatim):
    nominatim.answers["Sea Point, Cape Town"] = [SEA_POINT]
    form = accounts.SignUp(
        role=Role.PRACTITIONER,
        email="sipho.online@example.co.za",
        password="Sunrise over Durban 7",
        first_name="Sipho",
        last_name="Ndlovu",
        phone="082 555 0101",
        specialization="counselor",
        place="Sea Point, Cape Town",
        rate_per_session="500",
    )
    user = accounts.sign_up(session=db, form=form)
    practitioner = db.scalar(select(Practitioner).where(Practitioner.user_id == user.id))
    assert practitioner.location_precision == "online"
    assert practitioner.city == "Sea Point" and practitioner.province == "Western Cape"
    assert "OpenStreetMap" in practitioner.location_note

    before = db.scalar(select(func.count()).select_from(Practitioner))
    with pytest.raises(InvalidInput) as refused:
        unknown = accounts.SignUp(**{**form.__dict__, "email": "x@example.co.za", "place": "Xyzzyville"})
        accounts.sign_up(session=db, form=unknown)
    assert "Xyzzyville" in refused.value.problems["place"]
    assert db.scalar(select(func.count()).select_from(Practitioner)) == before


def test_the_geocoder_settings_are_checked():
    from pydantic import ValidationError

    from avenrae.config import Settings

    assert Settings(geocoder="nominatim", nominatim_url="https://nominatim.example.co.za/").nominatim_url == (
        "https://nominatim.example.co.za"
    )
    with pytest.raises(ValidationError, match="http:// or https://"):
        Settings(nominatim_url="nominatim.example.co.za")
    with pytest.raises(ValidationError):
        Settings(geocoder="google")
    with pytest.raises(ValidationError):  # the public server allows one request a second
        Settings(nominatim_min_delay_seconds=0.2)
