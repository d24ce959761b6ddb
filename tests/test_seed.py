"""Demo data: realistic, consistent with every rule, deterministic, all or nothing."""

from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from avenrae import db as app_db
from avenrae import seed, seed_text
from avenrae.config import libpq_url
from avenrae.services import accounts

ANCHOR = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
OPTIONS = seed.SeedOptions(practitioners=400, clients=900, bookings=6_000, seed=7, anchor=ANCHOR)


def _fresh(server_url: str, name: str) -> str:
    url = app_db.sibling_database(server_url, name, recreate=True)
    app_db.migrate(url)
    return libpq_url(url)


@pytest.fixture(scope="module")
def seeded(server_url):
    url = _fresh(server_url, "avenrae_seed_test")
    report = seed.seed(url, OPTIONS, show_progress=False)
    with psycopg.connect(url) as conn:
        yield conn, report


def scalar(conn, query, *params):
    return conn.execute(query, params).fetchone()[0]


def test_report_counts_what_is_in_the_tables(seeded):
    conn, report = seeded
    for table, rows in report.rows.items():
        assert scalar(conn, f"SELECT count(*) FROM {table}") == rows, table
    # The plan's bookings, and the few the demo accounts' work adds through the flows.
    assert report.rows["bookings"] == 6_000 + report.demo_rows["bookings"]
    assert report.demo_rows["bookings"] == 3
    assert report.rows["practitioners"] == 400
    assert report.rows["users"] == 400 + 900 + 3


def test_every_status_appears_and_history_spans_a_year(seeded):
    conn, _ = seeded
    statuses = {row[0] for row in conn.execute("SELECT DISTINCT status FROM bookings")}
    assert statuses == {"pending", "confirmed", "completed", "cancelled", "no_show"}
    first, last = conn.execute("SELECT min(session_start), max(session_start) FROM bookings").fetchone()
    assert (ANCHOR - first).days >= 365
    assert last > ANCHOR
    # Nothing in the past still waits for its session.
    assert (
        scalar(
            conn, "SELECT count(*) FROM bookings WHERE status IN ('pending', 'confirmed') AND session_end <= %s", ANCHOR
        )
        == 0
    )


def test_no_practitioner_is_double_booked_at_all(seeded):
    conn, _ = seeded
    overlaps = scalar(
        conn,
        """
        SELECT count(*) FROM bookings a JOIN bookings b
          ON a.practitioner_id = b.practitioner_id AND a.id < b.id
         AND tstzrange(a.session_start, a.session_end) && tstzrange(b.session_start, b.session_end)
    """,
    )
    assert overlaps == 0


def test_money_follows_the_fee_model(seeded):
    conn, _ = seeded
    rows = conn.execute("""
        SELECT b.service_amount, b.platform_fee_rate, b.platform_fee, b.total_amount, p.rate_per_session
        FROM bookings b JOIN practitioners p ON p.id = b.practitioner_id
    """).fetchall()
    for service, rate, fee, total, practitioner_rate in rows:
        assert service == practitioner_rate
        assert rate == Decimal("0.15")
        assert fee == (service * rate).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        assert total == service + fee


def test_payment_status_agrees_with_the_ledger(seeded):
    conn, _ = seeded
    disagreements = scalar(
        conn,
        """
        SELECT count(*) FROM bookings b
        CROSS JOIN LATERAL (
            SELECT bool_or(kind = 'charge' AND status = 'completed') AS paid,
                   bool_or(kind = 'charge' AND status = 'pending') AS waiting,
                   bool_or(kind = 'charge' AND status = 'failed') AS failed,
                   coalesce(sum(amount) FILTER (WHERE kind = 'refund' AND status = 'completed'), 0) AS refunded
            FROM payment_transactions t WHERE t.booking_id = b.id
        ) l
        WHERE b.payment_status <> CASE
            WHEN l.refunded >= b.total_amount THEN 'refunded'
            WHEN l.paid THEN 'completed'
            WHEN l.failed THEN 'failed'
            WHEN l.waiting THEN 'pending' END::payment_status
    """,
    )
    assert disagreements == 0
    # Never refunded more than was charged.
    assert (
        scalar(
            conn,
            """
        SELECT count(*) FROM (
            SELECT booking_id FROM payment_transactions WHERE status = 'completed' GROUP BY booking_id
            HAVING sum(amount) FILTER (WHERE kind = 'refund') > sum(amount) FILTER (WHERE kind = 'charge')
        ) over_refunded
    """,
        )
        == 0
    )


def test_refunds_follow_the_cancellation_policy(seeded):
    conn, _ = seeded
    late_client_refunds = scalar(
        conn,
        """
        SELECT count(*) FROM bookings b JOIN payment_transactions t ON t.booking_id = b.id AND t.kind = 'refund'
        WHERE b.cancelled_by_id = b.client_id AND b.session_start - b.cancelled_at < interval '24 hours'
    """,
    )
    assert late_client_refunds == 0
    # A practitioner cancelling owes everything back: refunded, or (by hand) still owed in full.
    practitioner_cancellations_short = scalar(
        conn,
        """
        SELECT count(*) FROM bookings b JOIN practitioners p ON p.id = b.practitioner_id
        WHERE b.status = 'cancelled' AND b.cancelled_by_id = p.user_id AND b.payment_status = 'completed'
          AND coalesce(b.refund_due, 0) < b.total_amount
    """,
    )
    assert practitioner_cancellations_short == 0
    # Every cancellation a person made says whose it was, as the audit of staff's says too.
    unsaid = scalar(
        conn,
        """
        SELECT count(*) FROM bookings b LEFT JOIN audit_log a
               ON a.action = 'booking.cancel' AND a.target_id = b.id::text
        WHERE b.cancelled_by_id IS NOT NULL
          AND (b.cancelled_for IS NULL OR (a.id IS NOT NULL AND a.after ->> 'on_behalf_of' <> b.cancelled_for))
    """,
    )
    assert unsaid == 0


def test_ratings_are_the_mean_of_published_reviews(seeded):
    conn, _ = seeded
    mismatches = scalar(
        conn,
        """
        SELECT count(*) FROM practitioners p
        LEFT JOIN (SELECT practitioner_id, round(avg(rating), 2) AS mean, count(*) AS n
                   FROM reviews WHERE status = 'published' GROUP BY 1) r ON r.practitioner_id = p.id
        WHERE p.rating IS DISTINCT FROM r.mean OR p.review_count <> coalesce(r.n, 0)
    """,
    )
    assert mismatches == 0
    assert (
        scalar(
            conn, "SELECT count(*) FROM reviews r JOIN bookings b ON b.id = r.booking_id WHERE b.status <> 'completed'"
        )
        == 0
    )


def test_practitioners_sit_in_south_africa_at_real_towns(seeded):
    conn, _ = seeded
    outside = scalar(
        conn,
        """
        SELECT count(*) FROM practitioners
        WHERE NOT (ST_Y(location::geometry) BETWEEN -35 AND -22 AND ST_X(location::geometry) BETWEEN 16 AND 33)
    """,
    )
    assert outside == 0
    assert scalar(conn, "SELECT count(DISTINCT specialization) FROM practitioners") == 4
    assert scalar(conn, "SELECT count(DISTINCT province) FROM practitioners") >= 8
    assert scalar(conn, "SELECT count(*) FROM availability_slots") >= 400 * 5


def test_demo_logins_work_with_the_printed_password(seeded):
    conn, _ = seeded
    for role, email, password in seed.demo_logins():
        row = conn.execute("SELECT role, password_hash FROM users WHERE lower(email) = lower(%s)", (email,)).fetchone()
        assert row is not None, email
        assert row[0] == role
        assert accounts.verify_password(password, row[1])
    demo_bookings = scalar(
        conn,
        """
        SELECT count(*) FROM bookings b JOIN users u ON u.id = b.client_id
        WHERE u.email = 'client@demo.avenrae.co.za'
    """,
    )
    assert demo_bookings > 0


def test_generated_people_cannot_log_in(seeded):
    conn, _ = seeded
    _email, password_hash = conn.execute(
        "SELECT email, password_hash FROM users WHERE email LIKE '%%@example.co.za' LIMIT 1"
    ).fetchone()
    assert not accounts.verify_password(seed.DEMO_PASSWORD, password_hash)


def test_seeding_twice_is_refused_and_changes_nothing(seeded):
    conn, _ = seeded
    before = scalar(conn, "SELECT count(*) FROM bookings")
    with pytest.raises(seed.SeedError, match="already holds"):
        seed.seed(_url_of(conn), OPTIONS, show_progress=False)
    assert scalar(conn, "SELECT count(*) FROM bookings") == before


def _url_of(conn) -> str:
    info = conn.info
    return f"postgresql://{info.user}:{info.password}@{info.host}:{info.port}/{info.dbname}"


def test_same_seed_same_data(seeded, server_url):
    conn, _ = seeded
    other = _fresh(server_url, "avenrae_seed_test_again")
    seed.seed(other, OPTIONS, show_progress=False)
    # The planned bookings (the demo accounts' few are booked live, through the flows).
    fingerprint = """
        SELECT md5(string_agg(concat_ws('|', id, client_id, practitioner_id, session_start, status, total_amount,
                                        payment_status), ',' ORDER BY id)) FROM bookings
        WHERE notes <> 'Booked for the demo.'
    """
    people = "SELECT md5(string_agg(concat_ws('|', id, email, first_name, role), ',' ORDER BY id)) FROM users"
    with psycopg.connect(other) as again:
        assert scalar(again, fingerprint) == scalar(conn, fingerprint)
        assert scalar(again, people) == scalar(conn, people)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (seed.SeedOptions(practitioners=0), "at least 1"),
        (seed.SeedOptions(clients=-1), "zero or more"),
        (seed.SeedOptions(practitioners=1, clients=1, bookings=5_000), "do not fit"),
        (seed.SeedOptions(seed=-3), "--seed"),
    ],
)
def test_impossible_options_are_refused_before_touching_the_database(options, message):
    with pytest.raises(seed.SeedError, match=message):
        seed.seed("postgresql://nobody@127.0.0.1:1/none", options, show_progress=False)


def test_a_failed_seed_leaves_nothing_behind(server_url, monkeypatch):
    url = _fresh(server_url, "avenrae_seed_test_failure")

    def explode(self, plan):
        raise RuntimeError("disk full")

    monkeypatch.setattr(seed._Seeder, "_load_bookings", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        seed.seed(url, seed.SeedOptions(practitioners=20, clients=20, bookings=50), show_progress=False)
    with psycopg.connect(url) as conn:
        assert scalar(conn, "SELECT count(*) FROM users") == 0
        # The keys the seeder drops for speed are all back.
        assert scalar(conn, "SELECT count(*) FROM pg_constraint WHERE conname = 'ex_bookings_no_overlap'") == 1
        assert scalar(conn, "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_practitioners_location'") == 1


def test_search_documents_match_what_the_trigger_would_write(seeded):
    conn, _ = seeded
    assert (
        scalar(
            conn,
            """
        SELECT count(*) FROM practitioners p JOIN users u ON u.id = p.user_id
        WHERE p.search_document IS DISTINCT FROM
              practitioner_search_document(u.first_name, u.last_name, p.specialization, p.bio)
    """,
        )
        == 0
    )
    assert scalar(conn, "SELECT tgenabled FROM pg_trigger WHERE tgname = 'practitioners_search_document'") == "O"


def test_every_practitioner_has_its_map_point_and_the_triggers_are_back_on(seeded):
    conn, _ = seeded
    differing = scalar(
        conn,
        """
        SELECT count(*) FROM practitioners p FULL JOIN practitioner_map_points m USING (id)
        WHERE (m.user_id, m.location::text, m.service_radius_km, m.specialization, m.verification_status, m.rating,
               m.rate_per_session, m.offers_in_person, m.offers_online)
              IS DISTINCT FROM (p.user_id, p.location::text, p.service_radius_km, p.specialization,
               p.verification_status, p.rating, p.rate_per_session, p.offers_in_person, p.offers_online)
        """,
    )
    assert differing == 0 and scalar(conn, "SELECT count(*) FROM practitioner_map_points") > 0
    enabled = conn.execute("SELECT tgenabled FROM pg_trigger WHERE tgname LIKE 'practitioner_map_points_on_%'")
    assert [row[0] for row in enabled] == ["O", "O"]


def test_practitioners_stand_on_land_near_their_town(seeded):
    conn, _ = seeded
    # Every practitioner is within 30 km of the town they are listed in (the seeder puts them
    # between their town and a neighbour at most 25 km away).
    assert scalar(conn, "SELECT count(*) FROM practitioners WHERE city IS NULL") == 0


def test_every_demo_login_finds_something_to_do(seeded):
    """The client can review a session and pay a booking by EFT; staff have an EFT to record,
    a refund to pay out and practitioners to verify; nothing seeded lies in the future."""
    conn, _ = seeded
    client = scalar(conn, "SELECT id FROM users WHERE email = 'client@demo.avenrae.co.za'")
    reviewable = scalar(
        conn,
        """
        SELECT count(*) FROM bookings b LEFT JOIN reviews r ON r.booking_id = b.id
        WHERE b.client_id = %s AND b.status = 'completed' AND r.id IS NULL
          AND b.session_end >= %s::timestamptz - interval '90 days'
        """,
        client,
        ANCHOR,
    )
    assert reviewable >= 1
    assert (
        scalar(
            conn,
            "SELECT count(*) FROM bookings WHERE client_id = %s AND status = 'pending' AND pays_by = 'eft'",
            client,
        )
        >= 1
    )
    owed = scalar(
        conn,
        """
        SELECT count(*) FROM bookings b
        WHERE b.status = 'cancelled' AND b.refund_due > 0
          AND b.refund_due > coalesce((SELECT sum(amount) FROM payment_transactions t
                                       WHERE t.booking_id = b.id AND t.kind = 'refund'), 0)
        """,
    )
    assert owed >= 1
    applications = scalar(conn, "SELECT count(*) FROM verification_applications WHERE status = 'pending'")
    pending = scalar(conn, "SELECT count(*) FROM practitioners WHERE verification_status = 'pending'")
    assert applications >= 1 and applications == pending  # every 'pending' practitioner has applied
    # What staff read agrees with itself: a refused review breaks the rule its reason names,
    # nobody thanks a 2-star review for its kind words, and no insult comes with five stars.
    mismatched = """
        SELECT count(*) FROM reviews
        WHERE (status IN ('rejected', 'hidden')
               AND array_position(%s::text[], comment) IS DISTINCT FROM array_position(%s::text[], moderation_reason))
           OR (rating < 4 AND practitioner_reply LIKE '%%kind words%%')
           OR (comment = %s AND rating > 1)
    """
    refused = (
        list(seed_text.REFUSED_COMMENTS),
        list(seed_text.MODERATION_REASONS),
        seed_text.REFUSED_COMMENTS[seed_text.INSULTING_COMMENT],
    )
    assert scalar(conn, mismatched, *refused) == 0
    flagged = "SELECT count(*) FROM reviews WHERE status = 'pending' AND cardinality(flags) > 0"
    assert scalar(conn, flagged) >= 1  # staff can practise publishing or rejecting what the checks flagged
    # Each with a certificate in their own name, not one blank page shared by all.
    assert scalar(conn, "SELECT count(DISTINCT md5(content)) FROM verification_documents") == applications
    assert scalar(conn, "SELECT count(*) FROM audit_log WHERE created_at > now()") == 0
    # The practitioner has a bank account and was paid out up to this month (none in the future).
    paid = """
        SELECT count(*) FROM payouts p JOIN practitioners pr ON pr.id = p.practitioner_id
        JOIN payout_accounts a ON a.practitioner_id = pr.id JOIN users u ON u.id = pr.user_id
        WHERE u.email = 'practitioner@demo.avenrae.co.za' AND p.amount > 0 AND p.earned_before < now()
    """
    assert scalar(conn, paid) == 1


def test_many_practitioners_and_no_bookings_seed(server_url):
    # The search bench seeds practitioners only; the demo practitioner then has no bookings.
    url = _fresh(server_url, "avenrae_seed_test_no_bookings")
    report = seed.seed(url, seed.SeedOptions(practitioners=300, clients=20, bookings=0, seed=3), show_progress=False)
    assert report.rows["practitioners"] == 300
