"""Moderation with the database's rating rule, the moderation queue, and document checks.

    .venv/bin/python bench/trust.py [--bookings 200000] [--rounds 15]

1. Publishing a review (`reviews.moderate`: lock, status, audit row, two notifications,
   and the rating rule recomputing the practitioner's mean) for the practitioner with the
   most published reviews, against the same status change with the rule switched off
   (ALTER TABLE ... DISABLE TRIGGER, in a transaction that is rolled back). Each round
   publishes and rolls back, so every round does the same work.
2. The moderation queue (first 100 pending, flagged first, with the total) and the same
   queue narrowed to a name, against the newest 100 pending reviews without joins.
3. Checking a 5 MB PDF and a 4 MB PNG by content (`verification.sniff`) against hashing
   the same bytes with SHA-256.

Runs on the payments benchmark's scratch database `avenrae_bench_payments` (seeded once
and kept; `--reseed` starts again).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ledger_db import median_ms, scratch_engine
from PIL import Image
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from avenrae.models import Review, ReviewStatus, Role
from avenrae.services import flows, reviews, verification
from avenrae.services.bookings import Actor
from tests.factories import make_user, sample_document


def moderation(engine, rounds: int) -> None:
    with Session(engine) as session:
        staff = Actor(make_user(session, role=Role.STAFF).id, Role.STAFF)
        session.commit()
        busiest, published = session.execute(
            text(
                "SELECT practitioner_id, count(*) FROM reviews WHERE status = 'published' "
                "GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
            )
        ).one()
        target = session.scalar(
            select(Review.id).where(Review.practitioner_id == busiest, Review.status == ReviewStatus.HIDDEN).limit(1)
        ) or session.scalar(
            select(Review.id).where(Review.practitioner_id == busiest, Review.status == ReviewStatus.PUBLISHED).limit(1)
        )
        start_status = session.get(Review, target).status
        session.rollback()

    def publish_with_rule():
        with Session(engine) as session:
            if start_status == ReviewStatus.PUBLISHED:
                session.execute(update(Review).where(Review.id == target).values(status=ReviewStatus.HIDDEN))
            flows.moderate_review(session=session, actor=staff, review_id=target, action="publish")
            session.rollback()

    def status_change_without_rule():
        with Session(engine) as session:
            for event in ("insert", "update", "delete"):
                session.execute(text(f"ALTER TABLE reviews DISABLE TRIGGER reviews_refresh_rating_{event}"))
            session.execute(update(Review).where(Review.id == target).values(status=ReviewStatus.PUBLISHED))
            session.rollback()

    base = median_ms(status_change_without_rule, rounds)
    full = median_ms(publish_with_rule, rounds)
    print(f"publishing a review of the practitioner with {published:,} published reviews, median of {rounds}")
    print(f"  status change, rating rule off (baseline)  {base:7.2f} ms")
    print(f"  reviews.moderate publish, rule on          {full:7.2f} ms   ratio {full / base:.1f}x")

    with Session(engine) as session:
        pending = session.scalar(text("SELECT count(*) FROM reviews WHERE status = 'pending'"))

        def baseline():
            session.scalars(
                select(Review).where(Review.status == ReviewStatus.PENDING).order_by(Review.created_at).limit(100)
            ).all()

        base = median_ms(baseline, rounds)
        queue = median_ms(lambda: reviews.queue(session=session, actor=staff, limit=100), rounds)
        named = median_ms(
            lambda: reviews.queue(session=session, actor=staff, filters=reviews.QueueFilter(text="ndlovu"), limit=100),
            rounds,
        )
    print(f"\nmoderation queue, {pending:,} pending reviews, median of {rounds}")
    print(f"  newest 100 pending, no joins (baseline)    {base:7.2f} ms")
    print(f"  queue page: flagged first, names, total    {queue:7.2f} ms   ratio {queue / base:.1f}x")
    print(f"  ... narrowed to a name                     {named:7.2f} ms   ratio {named / base:.1f}x")


def documents(rounds: int) -> None:
    pdf = sample_document("pdf")
    end = pdf.rindex(b"%%EOF")
    big_pdf = pdf[:end] + bytes(5 * 1024 * 1024 - len(pdf)) + pdf[end:]
    buffer = io.BytesIO()
    Image.effect_noise((1400, 1000), 80).convert("RGB").save(buffer, "PNG")
    png = buffer.getvalue()
    print(f"\nchecking uploads by content, median of {rounds}")
    for label, data in [(f"PDF {len(big_pdf) / 2**20:.1f} MB", big_pdf), (f"PNG {len(png) / 2**20:.1f} MB", png)]:
        base = median_ms(lambda d=data: hashlib.sha256(d).hexdigest(), rounds)
        sniffed = median_ms(lambda d=data: verification.sniff(d), rounds)
        print(f"  {label}: sha256 (baseline) {base:6.3f} ms · sniff {sniffed:6.3f} ms   ratio {sniffed / base:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()

    engine = scratch_engine(bookings=args.bookings, reseed=args.reseed)
    moderation(engine, args.rounds)
    documents(args.rounds)
    engine.dispose()


if __name__ == "__main__":
    main()
