"""Practitioner search, checked against a brute-force query that uses no index and no cleverness."""

import math
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from avenrae.models import MeetingType, SearchLog, Specialization
from avenrae.services import search
from avenrae.services.errors import InvalidInput
from tests.factories import make_practitioner
from tests.plans import explain, indexes_used, nodes

DURBAN = (-29.8579, 31.0292)


@pytest.fixture
def crowd(db):
    """600 practitioners scattered up to 120 km around Durban with every kind of attribute."""
    db.execute(text("SELECT setseed(0.42)"))
    db.execute(text("""
        WITH people AS (
            INSERT INTO users (email, password_hash, role, first_name, last_name, is_active)
            SELECT 'crowd' || g || '@example.co.za', 'x', 'practitioner', 'Crowd', 'Member ' || g, g % 37 <> 0
            FROM generate_series(1, 600) g
            RETURNING id, substring(last_name from 8)::int AS g
        )
        INSERT INTO practitioners (user_id, specialization, location, service_address, rate_per_session,
                                   verification_status, rating, review_count, offers_in_person, offers_online,
                                   service_radius_km, bio)
        SELECT id,
               (ARRAY['healer','prophet','medium','counselor']::specialization_type[])[1 + g % 4],
               ST_Project(ST_SetSRID(ST_MakePoint(31.0292, -29.8579), 4326)::geography,
                          sqrt(random()) * 120000, radians(random() * 360)),
               'Somewhere', round((100 + random() * 1400)::numeric, -1),
               (ARRAY['verified','pending','unverified','rejected']::verification_status[])[1 + (g / 5) % 4],
               CASE WHEN g % 5 = 0 THEN NULL ELSE round((1 + random() * 4)::numeric, 2) END,
               g % 40,
               g % 3 <> 1, g % 3 <> 2,
               (ARRAY[10, 25, 50, 100, 500])[1 + g % 5],
               CASE WHEN g % 9 = 0 THEN 'Herbs and prayer for grief' WHEN g % 9 = 1 THEN 'Herbs only' ELSE 'Kind.' END
        FROM people
    """))


def brute_force(db, *, radius_km, extra="", params=None):
    """The expected answer: every row measured, nothing indexed, plainly ordered."""
    rows = db.execute(text(f"""
        SELECT p.id, ST_Distance(p.location, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) AS d
        FROM practitioners p JOIN users u ON u.id = p.user_id
        WHERE u.is_active AND u.deleted_at IS NULL
          AND ST_Distance(p.location, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)
              <= least(:radius, p.service_radius_km) * 1000
          {extra}
        ORDER BY d, p.id
    """), {"lat": DURBAN[0], "lon": DURBAN[1], "radius": radius_km, **(params or {})}).all()
    return [row.id for row in rows]


def every_page(db, query: search.SearchQuery) -> list[search.Hit]:
    hits, page = [], 1
    while True:
        found = search.search(session=db, query=search.SearchQuery(**{**query.__dict__, "page": page}), log=False)
        hits += found.hits
        if not found.has_more:
            return hits
        page += 1


@pytest.mark.parametrize("radius_km", [5, 30, 75, 500])
def test_every_page_together_is_exactly_the_brute_force_answer(db, crowd, radius_km):
    query = search.SearchQuery(latitude=DURBAN[0], longitude=DURBAN[1], radius_km=radius_km, page_size=7)
    hits = every_page(db, query)
    assert [h.practitioner_id for h in hits] == brute_force(db, radius_km=radius_km)
    distances = [h.distance_km for h in hits]
    assert distances == sorted(distances), "reported distances follow the order"
    assert all(d <= radius_km for d in distances)


def test_distances_are_geodesic(db, crowd):
    hits = search.search(session=db, query=search.SearchQuery(place="Durban", radius_km=200, page_size=40)).hits
    for hit in hits:
        # Haversine on a sphere agrees with the spheroid to within half a percent.
        lat1, lon1, lat2, lon2 = map(math.radians, (*DURBAN, hit.latitude, hit.longitude))
        a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
        assert hit.distance_km == pytest.approx(2 * 6371.0088 * math.asin(math.sqrt(a)), rel=0.005, abs=0.001)


def test_the_radius_boundary_is_exact_to_a_metre(db):
    inside, outside = [
        make_practitioner(db, location=(0, 0), first_name=name)
        for name in ("Inside", "Outside")
    ]
    for practitioner, metres in ((inside, 9_999), (outside, 10_001)):
        db.execute(text("""
            UPDATE practitioners SET location = ST_Project(
                ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :metres, radians(47))
            WHERE id = :id"""), {"lat": DURBAN[0], "lon": DURBAN[1], "metres": metres, "id": practitioner.id})
    found = search.search(session=db, query=search.SearchQuery(place="Durban", radius_km=10), log=False)
    assert [h.practitioner_id for h in found.hits] == [inside.id]
    assert found.hits[0].distance_km == pytest.approx(9.999, abs=0.0005)


def test_practitioners_only_show_where_they_travel(db):
    stays_home = make_practitioner(db, location=(-29.75, 31.03), service_radius_km=10)  # about 12 km north
    travels = make_practitioner(db, location=(-29.75, 31.03), service_radius_km=50)
    ids = [h.practitioner_id for h in search.search(session=db, query=search.SearchQuery(place="Durban",
                                                                                             radius_km=50)).hits]
    assert travels.id in ids and stays_home.id not in ids


def test_filters_match_the_brute_force_answer(db, crowd):
    query = search.SearchQuery(
        latitude=DURBAN[0], longitude=DURBAN[1], radius_km=100, specializations=("healer", "medium"),
        min_rating="3.5", verified_only=True, meeting_type="online", min_price=300, max_price="900", page_size=9,
    )
    expected = brute_force(db, radius_km=100, extra="""
        AND p.specialization IN ('healer', 'medium') AND p.rating >= 3.5 AND p.verification_status = 'verified'
        AND p.offers_online AND p.rate_per_session + round(p.rate_per_session * 0.15, 2) BETWEEN 300 AND 900""")
    assert expected, "the crowd must hold some matches for this to mean anything"
    assert [h.practitioner_id for h in every_page(db, query)] == expected


def test_price_filters_are_on_what_the_client_pays(db):
    """The results show the price with the 15% fee ("You pay R310.50"); the filter means it."""
    at = {rate: make_practitioner(db, location=DURBAN, rate=rate) for rate in ("260.00", "260.87", "270.00")}
    # 260.00 -> 299.00; 260.87 -> 300.00; 270.00 -> 310.50
    up_to_300 = search.search(session=db, query=search.SearchQuery(place="Durban", max_price=300), log=False)
    assert {h.practitioner_id for h in up_to_300.hits} == {at["260.00"].id, at["260.87"].id}
    from_300 = search.search(session=db, query=search.SearchQuery(place="Durban", min_price=300), log=False)
    assert {h.practitioner_id for h in from_300.hits} == {at["260.87"].id, at["270.00"].id}


def test_sorting_by_rating_and_price_pages_stably(db, crowd):
    for sort, key in (("rating", lambda h: (-(h.rating or 0), h.rating is None)), ("price", lambda h: h.rate)):
        query = search.SearchQuery(place="Durban", radius_km=120, sort=sort, page_size=11)
        hits = every_page(db, query)
        assert len({h.practitioner_id for h in hits}) == len(hits) == len(brute_force(db, radius_km=120))
        values = [key(h) for h in hits]
        assert values == sorted(values)


def test_text_search_ranks_the_bio_that_says_more_of_the_words_first(db, crowd):
    hits = search.search(session=db, query=search.SearchQuery(place="Durban", radius_km=500, text="grief HERBS",
                                                              page_size=300), log=False).hits
    bios = [h.bio for h in hits]
    assert set(bios) == {"Herbs and prayer for grief", "Herbs only"}
    first_single = bios.index("Herbs only")
    assert all(bio == "Herbs and prayer for grief" for bio in bios[:first_single])
    assert "Herbs and prayer for grief" not in bios[first_single:]


def test_text_matches_names_and_specializations_too(db):
    named = make_practitioner(db, first_name="Gogo", last_name="Zanele", specialization=Specialization.MEDIUM)
    make_practitioner(db, first_name="Baba", specialization=Specialization.MEDIUM)
    counselor = make_practitioner(db, specialization=Specialization.COUNSELOR)
    assert [h.practitioner_id for h in search.search(
        session=db, query=search.SearchQuery(place="Durban", text="zanele")).hits] == [named.id]
    assert counselor.id in {h.practitioner_id for h in search.search(
        session=db, query=search.SearchQuery(place="Durban", text="counselors")).hits}


@pytest.mark.parametrize("typed", ["'; DROP TABLE users; --", "<script>alert(1)</script>", "100% \\ _ & | ! :*"])
def test_metacharacters_and_html_are_only_words(db, typed):
    make_practitioner(db, bio="Plain bio.")
    found = search.search(session=db, query=search.SearchQuery(place="Durban", text=typed))
    assert found.hits == []
    assert db.scalar(select(func.count()).select_from(text("users"))) >= 1


def test_only_stop_words_search_as_if_there_were_no_words(db):
    practitioner = make_practitioner(db)
    found = search.search(session=db, query=search.SearchQuery(place="Durban", text="the and of"))
    assert [h.practitioner_id for h in found.hits] == [practitioner.id]


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        (search.SearchQuery(place="Durbn"), "place", "Did you mean Durban"),
        (search.SearchQuery(), "place", "Choose a place"),
        (search.SearchQuery(place="Durban", radius_km=0), "radius_km", "between 1 and 500"),
        (search.SearchQuery(place="Durban", radius_km=10_000), "radius_km", "between 1 and 500"),
        (search.SearchQuery(place="Durban", radius_km="far"), "radius_km", "number"),
        (search.SearchQuery(latitude=95, longitude=31), "latitude", "between -90 and 90"),
        (search.SearchQuery(latitude=-29, longitude="nan"), "longitude", "between"),
        (search.SearchQuery(place="Durban", min_rating=6), "min_rating", "between 0 and 5"),
        (search.SearchQuery(place="Durban", min_price=500, max_price=200), "max_price", "not be below"),
        (search.SearchQuery(place="Durban", specializations=("wizard",)), "specializations", "not a specialization"),
        (search.SearchQuery(place="Durban", text="x" * 201), "text", "under 200"),
        (search.SearchQuery(place="Durban", page=0), "page", "start at 1"),
        (search.SearchQuery(place="Durban", sort="alphabet"), "sort", "Sort by"),
    ],
)
def test_bad_input_is_refused_before_any_query(db, query, field, says):
    with pytest.raises(InvalidInput) as refused:
        search.search(session=db, query=query)
    assert says in refused.value.problems[field]
    assert db.scalar(select(func.count()).select_from(SearchLog)) == 0


def test_the_first_page_of_each_search_is_logged_without_the_searcher(db):
    make_practitioner(db)
    search.search(session=db, query=search.SearchQuery(place="Kimberley", radius_km=10, specializations=("healer",)))
    search.search(session=db, query=search.SearchQuery(place="Durban", radius_km=10, text="kind herbs"))
    search.search(session=db, query=search.SearchQuery(place="Durban", radius_km=10, page=2))
    rows = db.scalars(select(SearchLog).order_by(SearchLog.place.desc())).all()
    assert [(r.place, r.results_found, r.more_results) for r in rows] == [
        ("Kimberley, Northern Cape", 0, False), ("Durban, KwaZulu-Natal", 1, False)]  # "kind" is in the bio
    assert rows[0].filters == {"specializations": ["healer"], "sort": "distance"}
    assert rows[1].filters["text"] == "kind herbs"
    assert not hasattr(SearchLog, "user_id")


def test_the_sql_function_and_the_service_agree(db, crowd):
    for spec in ("healer", "counselor"):
        expected = db.execute(text(
            "SELECT id FROM find_practitioners_near(lat := :lat, lon := :lon, radius_km := 80, "
            "spec := CAST(:spec AS specialization_type))"), {"lat": DURBAN[0], "lon": DURBAN[1], "spec": spec}
        ).scalars().all()
        query = search.SearchQuery(latitude=DURBAN[0], longitude=DURBAN[1], radius_km=80, specializations=(spec,),
                                   verified_only=True, page_size=300)
        assert [h.practitioner_id for h in search.search(session=db, query=query).hits] == expected
        assert expected


def test_map_layer_sends_at_most_the_marker_limit_and_counts_the_rest(db, crowd):
    query = search.SearchQuery(place="Durban", radius_km=500)
    layer = search.map_layer(session=db, query=query, max_markers=50)
    everyone = brute_force(db, radius_km=500)
    assert [m.practitioner_id for m in layer.markers] == everyone[:50]
    assert layer.aggregated == len(everyone) - 50
    assert 0 < len(layer.cells) < len(everyone) - 50
    small = search.map_layer(session=db, query=search.SearchQuery(place="Durban", radius_km=5), max_markers=50)
    assert small.cells == [] and len(small.markers) == len(brute_force(db, radius_km=5))


def test_the_map_counts_follow_every_change_to_practitioners(db, crowd):
    """The map's counts read a narrow copy of the filtered columns, kept by triggers: after
    updates (price, verification, place, radius) and a deletion, they still agree with
    every row of practitioners measured."""
    db.execute(text("UPDATE practitioners SET rate_per_session = 150, verification_status = 'verified' "
                    "WHERE id IN (SELECT id FROM practitioners ORDER BY id LIMIT 200)"))
    db.execute(text("UPDATE practitioners SET location = ST_SetSRID(ST_MakePoint(24.76, -28.73), 4326)::geography "
                    "WHERE id IN (SELECT id FROM practitioners ORDER BY id DESC LIMIT 40)"))
    db.execute(text("UPDATE practitioners SET service_radius_km = 500 "
                    "WHERE id IN (SELECT id FROM practitioners ORDER BY id DESC OFFSET 40 LIMIT 30)"))
    gone = db.execute(text("SELECT id FROM practitioners ORDER BY id DESC OFFSET 100 LIMIT 1")).scalar_one()
    db.execute(text("DELETE FROM practitioners WHERE id = :id"), {"id": gone})
    copied = db.execute(text(
        "SELECT count(*) FROM practitioners p JOIN practitioner_map_points m USING (id) WHERE "
        "(m.user_id, m.location::text, m.service_radius_km, m.specialization, m.verification_status, m.rating, "
        "m.rate_per_session, m.offers_in_person, m.offers_online) IS NOT DISTINCT FROM (p.user_id, p.location::text, "
        "p.service_radius_km, p.specialization, p.verification_status, p.rating, p.rate_per_session, "
        "p.offers_in_person, p.offers_online)")).scalar_one()
    assert copied == db.execute(text("SELECT count(*) FROM practitioners")).scalar_one()
    assert db.execute(text("SELECT count(*) FROM practitioner_map_points")).scalar_one() == copied
    query = search.SearchQuery(place="Durban", radius_km=500, verified_only=True, max_price="200")
    layer = search.map_layer(session=db, query=query, max_markers=20)
    everyone = brute_force(db, radius_km=500, extra="AND p.verification_status = 'verified' "
                           "AND p.rate_per_session + round(p.rate_per_session * 0.15, 2) <= 200")
    assert len(everyone) > 40 and layer.aggregated == len(everyone) - 20


def test_the_map_counts_read_the_narrow_copy_unless_words_are_asked_for(db, crowd):
    db.execute(text("ANALYZE practitioners, practitioner_map_points"))
    for words, table in (("", "practitioner_map_points"), ("herbs", "practitioners")):
        resolved = search.resolve(search.SearchQuery(place="Durban", radius_km=100, text=words))
        statement = search._cells_statement(search._shape(resolved), 0.08)
        compiled = statement.compile(dialect=db.bind.dialect)
        expanded = compiled.construct_expanded_state({**search._params(resolved), "markers": [uuid.uuid4()]})
        sql = "EXPLAIN (FORMAT JSON) " + expanded.statement
        plan = db.connection().exec_driver_sql(sql, expanded.parameters).scalar()
        read = {n.get("Relation Name") for n in nodes(plan[0]["Plan"])} - {None, "users"}
        assert read == {table}


def test_search_walks_the_gist_index_nearest_first_in_a_dense_city(db):
    # 50,000 practitioners within 60 km of Durban: as dense as Johannesburg at scale.
    db.execute(text("""
        WITH people AS (
            INSERT INTO users (email, password_hash, role, first_name, last_name)
            SELECT 'bulk' || g || '@example.co.za', 'x', 'practitioner', 'Bulk', g::text
            FROM generate_series(1, 50000) g RETURNING id, last_name::int AS g
        )
        INSERT INTO practitioners (user_id, specialization, location, service_address, rate_per_session,
                                   verification_status)
        SELECT id, (ARRAY['healer','prophet','medium','counselor']::specialization_type[])[1 + g % 4],
               ST_Project(ST_SetSRID(ST_MakePoint(31.0292, -29.8579), 4326)::geography,
                          (g % 997) * 60.0, radians((g * 7919) % 360)),
               'Somewhere', 300, 'verified'
        FROM people
    """))
    db.execute(text("ANALYZE users, practitioners"))
    resolved = search.resolve(search.SearchQuery(place="Durban", radius_km=50, specializations=("healer",),
                                                 page_size=50))
    statement = search._page_statement(search._shape(resolved)).params(search._params(resolved, offset=0, limit=51))
    compiled = statement.compile(
        dialect=db.bind.dialect, compile_kwargs={"literal_binds": True, "render_postcompile": True}
    )
    plan = explain(db, str(compiled))
    assert "ix_practitioners_location" in indexes_used(plan)
    knn = [n for n in nodes(plan) if n.get("Index Name") == "ix_practitioners_location" and "Order By" in n]
    assert knn, "nearest-first walks the GiST index in distance order"
    assert not [n for n in nodes(plan) if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "practitioners"]


def test_results_carry_what_the_page_shows(db):
    practitioner = make_practitioner(db, first_name="Thandi", rate="450.00", rating=Decimal("4.50"),
                                     review_count=12, offers_online=False)
    [hit] = search.search(session=db, query=search.SearchQuery(place="Durban", meeting_type=MeetingType.IN_PERSON)).hits
    assert (hit.practitioner_id, hit.name.split()[0], hit.rate, hit.rating, hit.review_count) == (
        practitioner.id, "Thandi", Decimal("450.00"), Decimal("4.50"), 12)
    assert hit.verified and hit.offers_in_person and not hit.offers_online
    assert hit.latitude == pytest.approx(DURBAN[0]) and hit.longitude == pytest.approx(DURBAN[1])
    assert isinstance(hit.practitioner_id, uuid.UUID)


def test_a_renamed_practitioner_is_found_by_the_new_name(db):
    from avenrae.services import accounts

    practitioner = make_practitioner(db, first_name="Old", phone="082 123 4567")
    accounts.update_profile(session=db, user_id=practitioner.user_id,
                            form=accounts.ProfileUpdate(first_name="Mamokgethi", last_name="Phakeng",
                                                        phone="082 123 4567"))
    found = search.search(session=db, query=search.SearchQuery(place="Durban", text="mamokgethi"), log=False)
    assert [h.practitioner_id for h in found.hits] == [practitioner.id]
