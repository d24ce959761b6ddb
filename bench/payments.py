"""Webhook throughput and the staff ledger on a seeded database.

    .venv/bin/python bench/payments.py [--events 500] [--bookings 200000]

1. Stripe webhooks: `payments.handle_webhook` for `payment_intent.succeeded` events of
   distinct pending bookings (verify the signature, record the event, settle the charge,
   confirm the booking, notify both sides, commit), then the same events delivered
   again (duplicates). Baseline: verifying the signature alone
   (`stripe.Webhook.construct_event`), in the same process.
2. The staff Payments page's query (the newest 50 ledger rows of the last 30 days with
   names, plus totals over the period) and a practitioner's 12 months of earnings, on a
   seeded ledger. Baseline: the newest 50 ledger rows alone, without joins or totals.

Runs on a scratch database `avenrae_bench_payments` on the app's server (seeded once
and kept; `--reseed` starts again).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import stripe
from ledger_db import median_ms, scratch_engine
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from avenrae.models import Booking, BookingStatus, MeetingType, PaymentTransaction, Practitioner, Role
from avenrae.services import availability, bookings, flows, ledger, payments, pricing
from tests import stripe_objects
from tests.factories import make_client, make_practitioner, make_user, make_weekly_hours
from tests.stripe_fake import WEBHOOK_SECRET, FakeStripe, client_for, signed_event

ALL_DAY = {day: [("06:00", "22:00")] for day in range(7)}


def pending_bookings(engine, count: int) -> list[tuple]:
    """`count` pending bookings made through the service, as clients would make them."""
    made = []
    gateway = payments.StripeGateway(client_for(FakeStripe()))
    with Session(engine) as session:
        practitioners = []
        for _ in range(max(1, count // 50)):
            practitioner = make_practitioner(session, session_duration_minutes=60)
            make_weekly_hours(session, practitioner, ALL_DAY)
            practitioners.append(practitioner.id)
        clients = [make_client(session).id for _ in range(count)]
        session.commit()
        now = datetime.now(UTC)
        for index, client_id in enumerate(clients):
            practitioner_id = practitioners[index % len(practitioners)]
            slots = availability.bookable_slots(
                session=session,
                practitioner_id=practitioner_id,
                start=now + timedelta(days=3),
                end=now + timedelta(days=30),
            )
            start = slots[index // len(practitioners)]
            booking_id = flows.book(
                session=session,
                request=bookings.BookingRequest(client_id, practitioner_id, start, MeetingType.ONLINE),
                actor=bookings.Actor(client_id, Role.CLIENT),
            ).id
            # Paid in an app's card form: the PaymentIntent is the platform's own, made through
            # the real stripe library (answered from memory), as the webhook now requires.
            intent = flows.pay_in_app(
                session=session, booking_id=booking_id, actor=bookings.Actor(client_id, Role.CLIENT), gateway=gateway
            )
            made.append((booking_id, intent.reference, pricing.to_cents(intent.amount)))
            session.commit()
    return made


def webhooks(engine, count: int) -> None:
    made = pending_bookings(engine, count)
    events = [
        signed_event(
            "payment_intent.succeeded",
            stripe_objects.payment_intent(id=intent, amount=cents, booking_id=str(booking_id)),
        )
        for booking_id, intent, cents in made
    ]

    def deliver(payload, signature) -> str:
        with Session(engine) as session:
            outcome = flows.handle_webhook(session=session, payload=payload, signature=signature, secret=WEBHOOK_SECRET)
            session.commit()
            return outcome

    started = time.perf_counter()
    for payload, signature in events:
        stripe.Webhook.construct_event(payload, signature, WEBHOOK_SECRET)
    verify_s = time.perf_counter() - started
    started = time.perf_counter()
    first = [deliver(*event) for event in events]
    apply_s = time.perf_counter() - started
    started = time.perf_counter()
    again = [deliver(*event) for event in events]
    duplicate_s = time.perf_counter() - started
    assert set(first) == {"confirmed"} and set(again) == {"duplicate"}, (set(first), set(again))
    with Session(engine) as session:
        confirmed = session.scalar(
            select(text("count(*)"))
            .select_from(Booking)
            .where(Booking.id.in_([b for b, _, _ in made]), Booking.status == BookingStatus.CONFIRMED)
        )
    per = 1000 / len(events)
    print(f"webhooks: {len(events)} payment_intent.succeeded events, one transaction each")
    print(f"  verify signature only (baseline) {verify_s * per:7.3f} ms/event")
    print(
        f"  verify + apply + commit          {apply_s * per:7.3f} ms/event  {len(events) / apply_s:7.1f} events/s"
        f"   ratio {apply_s / verify_s:.1f}x"
    )
    print(
        f"  the same events again (duplicate) {duplicate_s * per:6.3f} ms/event  {len(events) / duplicate_s:7.1f}"
        f" events/s"
    )
    print(f"  bookings confirmed: {confirmed} of {len(events)}")


def ledger_queries(engine, rounds: int) -> None:
    with Session(engine) as session:
        staff = bookings.Actor(make_user(session, role=Role.STAFF).id, Role.STAFF)
        session.commit()
        busiest = session.execute(
            text("SELECT practitioner_id FROM bookings GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        ).scalar()
        owner = bookings.Actor(session.get(Practitioner, busiest).user_id, Role.PRACTITIONER)
        rows = session.execute(text("SELECT count(*) FROM payment_transactions")).scalar()
        now = datetime.now(UTC)
        period = ledger.LedgerFilter(start=now - timedelta(days=30), end=now + timedelta(days=1))

        def baseline():
            session.scalars(select(PaymentTransaction).order_by(PaymentTransaction.created_at.desc()).limit(50)).all()

        base = median_ms(baseline, rounds)
        page = median_ms(lambda: ledger.staff_list(session=session, role=staff.role, filters=period), rounds)
        searched = median_ms(
            lambda: ledger.staff_list(
                session=session,
                role=staff.role,
                filters=ledger.LedgerFilter(start=period.start, end=period.end, text="ndlovu"),
            ),
            rounds,
        )
        earned = median_ms(lambda: ledger.earnings(session=session, role=owner.role, user_id=owner.id), rounds)
    print(f"\nledger of {rows:,} rows, median of {rounds}")
    print(f"  newest 50 rows, no joins (baseline)      {base:8.2f} ms")
    for label, value in [
        ("Payments page, last 30 days + totals", page),
        ("  ... searching a name", searched),
        ("Earnings, 12 months, busiest practitioner", earned),
    ]:
        print(f"  {label:<41}{value:8.2f} ms   ratio {value / base:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--bookings", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()

    engine = scratch_engine(bookings=args.bookings, reseed=args.reseed)
    webhooks(engine, args.events)
    ledger_queries(engine, args.rounds)
    engine.dispose()


if __name__ == "__main__":
    main()
