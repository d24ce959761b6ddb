"""find_practitioners_near and distance_km, called as the architecture note calls them."""

import pytest
from sqlalchemy import text

from avenrae.models import Specialization, VerificationStatus
from tests.factories import make_practitioner
from tests.plans import explain, indexes_used, sequential_scans

NOTE_SEARCH = """
SELECT * FROM find_practitioners_near(
  lat := -29.8683,
  lon := 31.0292,
  radius_km := 50,
  spec := 'healer'::specialization_type
);
"""


def test_distance_km_matches_the_design_note(db):
    assert db.execute(text("SELECT distance_km(-29.8683, 31.0292, -29.8700, 31.0300)")).scalar() == pytest.approx(
        0.204, abs=0.001
    )


def test_distance_km_over_a_long_way(db):
    # Durban to Johannesburg: about 500 km as the crow flies.
    km = db.execute(text("SELECT distance_km(-29.8579, 31.0292, -26.2023, 28.0436)")).scalar()
    assert 490 < km < 510


def test_note_search_returns_verified_healers_nearest_first_within_50_km(db):
    near = make_practitioner(db, location=(-29.8690, 31.0300), first_name="Near")
    far = make_practitioner(db, location=(-29.6168, 30.3928), first_name="Pietermaritzburg")  # ~65 km
    middle = make_practitioner(db, location=(-29.7500, 31.0500), first_name="Middle")
    make_practitioner(db, location=(-29.8690, 31.0300), verification_status=VerificationStatus.PENDING)
    make_practitioner(db, location=(-29.8690, 31.0300), specialization=Specialization.MEDIUM)
    make_practitioner(db, location=(-29.8690, 31.0300), is_active=False)
    rows = db.execute(text(NOTE_SEARCH)).mappings().all()
    assert [r["id"] for r in rows] == [near.id, middle.id]
    assert list(rows[0].keys()) == ["id", "name", "specialization", "rating", "distance", "rate"]
    assert rows[0]["name"] == "Near " + near.user.last_name
    assert rows[0]["distance"] < rows[1]["distance"] <= 50
    assert far.id not in {r["id"] for r in rows}


def test_without_spec_every_specialization_comes_back(db):
    healer = make_practitioner(db, specialization=Specialization.HEALER)
    medium = make_practitioner(db, specialization=Specialization.MEDIUM)
    ids = db.execute(text("SELECT id FROM find_practitioners_near(lat := -29.8579, lon := 31.0292, radius_km := 5)"))
    assert {healer.id, medium.id} <= set(ids.scalars())


def test_search_function_walks_the_gist_index_on_50000_practitioners(db):
    db.execute(
        text("""
        WITH people AS (
            INSERT INTO users (email, password_hash, role, first_name, last_name)
            SELECT 'bulk' || g || '@example.co.za', 'x', 'practitioner', 'Bulk', g::text
            FROM generate_series(1, 50000) g
            RETURNING id, last_name::int AS g
        )
        INSERT INTO practitioners (user_id, specialization, location, service_address, rate_per_session,
                                   verification_status)
        SELECT id, (ARRAY['healer','prophet','medium','counselor']::specialization_type[])[1 + g % 4],
               ST_SetSRID(ST_MakePoint(17 + (g % 500) * 0.03, -34 + (g / 500) * 0.12), 4326)::geography,
               'Somewhere', 300, 'verified'
        FROM people
    """)
    )
    db.execute(text("ANALYZE users, practitioners"))
    plan = explain(db, NOTE_SEARCH)
    assert "ix_practitioners_location" in indexes_used(plan)
    assert "practitioners" not in sequential_scans(plan)
    found = db.execute(text(NOTE_SEARCH)).all()
    assert found, "the bulk grid covers Durban, so healers must be found"
    assert all(row.distance <= 50 for row in found)
    assert [row.distance for row in found] == sorted(row.distance for row in found)
