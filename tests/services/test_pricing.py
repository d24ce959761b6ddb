"""What a session costs, and the rates a price filter means."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from avenrae.services import pricing

CENT = Decimal("0.01")
totals = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False)


def test_a_rate_of_r450_costs_r517_50():
    assert pricing.quote(Decimal("450.00")).total_amount == Decimal("517.50")


@given(totals)
def test_the_highest_rate_costing_at_most_a_price_is_the_last_that_fits(total):
    rate = pricing.highest_rate_costing(total)
    assert pricing.quote(rate).total_amount <= total
    assert pricing.quote(rate + CENT).total_amount > total


@given(totals)
def test_the_lowest_rate_costing_at_least_a_price_is_the_first_that_reaches_it(total):
    rate = pricing.lowest_rate_costing(total)
    assert pricing.quote(rate).total_amount >= total
    assert rate == 0 or pricing.quote(rate - CENT).total_amount < total
