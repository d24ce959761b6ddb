"""The platform's share of money is worked out one way: Home, Payments, Earnings (summed
over practitioners) and Revenue & fees give the same platform fees and earnings to the
cent, for a month with partial refunds at awkward amounts."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from avenrae import months
from avenrae.models import BookingStatus, PaymentStatus, Role, TransactionKind
from avenrae.services import analytics, ledger, overview
from avenrae.services.pricing import quote
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


def test_a_booking_refunded_in_full_in_several_parts_leaves_nothing_to_anyone(db):
    """R299 (R260 for the session, R39 fee) paid, then given back as R100, R100 and R99:
    each part split on its own would take R86.96 + R86.96 + R86.09 = R260.01 from the
    practitioner. Each refund's share is the share of the refunds so far, less what the
    ones before it took, so a full refund takes back exactly the R260 and the R39."""
    practitioner = make_practitioner(db, rate="260.00", time_zone=ZONE)
    booking = make_booking(db, practitioner=practitioner, start=DAY, status=BookingStatus.CANCELLED)
    assert (booking.service_amount, booking.platform_fee, booking.total_amount) == (
        Decimal("260.00"), Decimal("39.00"), Decimal("299.00")
    )  # fmt: skip
    make_transaction(db, booking, created_at=DAY)
    for hours, part in ((1, "100.00"), (2, "100.00"), (3, "99.00")):
        make_transaction(
            db, booking, kind=TransactionKind.REFUND, amount=Decimal(part), created_at=DAY + timedelta(hours=hours)
        )
    db.flush()

    start, end = months.month_bounds(DAY.date(), ZONE)
    payments_page = ledger.staff_list(
        session=db,
        role=Role.STAFF,
        filters=ledger.LedgerFilter(start=start, end=end, statuses=(PaymentStatus.COMPLETED,)),
    ).totals.totals
    [november] = ledger.earnings(
        session=db, role=Role.STAFF, user_id=practitioner.user_id, practitioner_id=practitioner.id
    )
    analytics.refresh(db.connection(), full=True)
    revenue = analytics.summary(db.connection(), analytics.Filters(date(2026, 11, 1), date(2026, 11, 30)))
    home = overview.month_figures(db, DAY.date(), ZONE)

    assert (payments_page.charged, payments_page.refunded) == (Decimal("299.00"), Decimal("299.00"))
    assert payments_page.earnings == payments_page.platform_fees == Decimal("0.00")
    assert (november.earned, november.refunds, november.net) == (Decimal("260.00"), Decimal("260.00"), Decimal("0.00"))
    assert revenue.earnings == revenue.platform_fees == home.platform_fees == Decimal("0.00")
    # The rule, stated: the last R99 takes the share of R299 less the share of the R200
    # before it, R260.00 - R173.91 (the parts take R86.96, R86.95 and R86.09).
    last = ledger.fee_split(
        Decimal("99.00"), service_amount=Decimal("260.00"), total_amount=Decimal("299.00"),
        refunded_before=Decimal("200.00"),
    )  # fmt: skip
    assert (last.practitioner, last.platform) == (Decimal("86.09"), Decimal("12.91"))


@given(
    rate_cents=st.integers(min_value=1, max_value=5_000_000),
    cuts=st.lists(st.floats(min_value=0, max_value=1), max_size=6),
)
def test_refunds_in_any_parts_take_back_the_share_of_their_sum(rate_cents, cuts):
    """Split a booking's total into up to seven refunds at random points: the parts' shares
    add up to the share of the whole, so the practitioner gives back their service amount
    and the platform its fee, to the cent."""
    price = quote(Decimal(rate_cents) / 100)
    total_cents = int(price.total_amount * 100)
    points = sorted({0, total_cents, *(round(cut * total_cents) for cut in cuts)})
    parts = [Decimal(b - a) / 100 for a, b in pairwise(points) if b > a]
    given_back, practitioner, platform = Decimal(0), Decimal(0), Decimal(0)
    for part in parts:
        split = ledger.fee_split(
            part, service_amount=price.service_amount, total_amount=price.total_amount, refunded_before=given_back
        )
        assert split.practitioner + split.platform == part
        given_back += part
        practitioner += split.practitioner
        platform += split.platform
    assert (practitioner, platform) == (price.service_amount, price.platform_fee)
