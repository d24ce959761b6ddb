"""The platform's share of money is worked out one way: Home, Payments, Earnings (summed
over practitioners) and Revenue & fees give the same platform fees and earnings to the
cent, for a month with partial refunds at awkward amounts."""

from datetime import UTC, date, datetime
from decimal import Decimal

from avenrae import months
from avenrae.models import BookingStatus, PaymentStatus, Role, TransactionKind
from avenrae.services import analytics, ledger, overview
from tests.factories import make_booking, make_practitioner, make_transaction

ZONE = "Africa/Johannesburg"
DAY = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)


def test_every_page_gives_the_same_fees_and_earnings_for_a_month(db):
    # Rates whose 15% fee and whose refund shares round awkwardly.
    partial_refunds = {"333.30": "123.45", "450.00": "99.99", "199.99": "0.01", "1234.56": None}
    practitioners = []
    for rate, refund in partial_refunds.items():
        practitioner = make_practitioner(db, rate=rate, time_zone=ZONE)
        practitioners.append(practitioner)
        for _ in range(2):
            booking = make_booking(db, practitioner=practitioner, start=DAY, status=BookingStatus.COMPLETED)
            make_transaction(db, booking, created_at=DAY)
            if refund:
                make_transaction(db, booking, kind=TransactionKind.REFUND, amount=Decimal(refund), created_at=DAY)
    db.flush()

    start, end = months.month_bounds(DAY.date(), ZONE)
    home = overview.month_figures(db, DAY.date(), ZONE)
    payments_page = ledger.staff_list(
        session=db,
        role=Role.STAFF,
        filters=ledger.LedgerFilter(start=start, end=end, statuses=(PaymentStatus.COMPLETED,)),
    ).totals.totals
    earned = sum(
        (
            month.net
            for practitioner in practitioners
            for month in ledger.earnings(
                session=db, role=Role.STAFF, user_id=practitioner.user_id, practitioner_id=practitioner.id
            )
            if month.month == "2026-11"
        ),
        Decimal(0),
    )
    analytics.refresh(db.connection(), full=True)
    revenue = analytics.summary(db.connection(), analytics.Filters(date(2026, 11, 1), date(2026, 11, 30)))

    assert home.platform_fees == payments_page.platform_fees == revenue.platform_fees
    assert earned == payments_page.earnings == revenue.earnings
    assert payments_page.charged - payments_page.refunded == payments_page.platform_fees + payments_page.earnings
    # One rule, stated: R123.45 refunded of R383.30 takes round(123.45 x 333.30 / 383.30) from the practitioner.
    split = ledger.fee_split(Decimal("123.45"), service_amount=Decimal("333.30"), total_amount=Decimal("383.30"))
    assert (split.practitioner, split.platform) == (Decimal("107.35"), Decimal("16.10"))
