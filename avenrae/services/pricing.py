"""What a session costs: the practitioner's rate plus the platform fee on top.

service_amount = the practitioner's rate; platform_fee = fee rate x service amount,
rounded half-up to the cent; total_amount = service + fee is what the client pays;
the practitioner earns the service amount. The database checks the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from avenrae.config import get_settings

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Price:
    service_amount: Decimal
    platform_fee_rate: Decimal
    platform_fee: Decimal

    @property
    def total_amount(self) -> Decimal:
        return self.service_amount + self.platform_fee


def quote(service_amount: Decimal, fee_rate: Decimal | None = None) -> Price:
    """The price of one session at `service_amount`, with the configured fee unless given."""
    rate = get_settings().platform_fee_rate if fee_rate is None else fee_rate
    service = Decimal(service_amount).quantize(CENT, rounding=ROUND_HALF_UP)
    if service < 0:
        raise ValueError("a session cannot cost less than nothing")
    fee = (service * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    return Price(service_amount=service, platform_fee_rate=rate, platform_fee=fee)


def highest_rate_costing(total: Decimal) -> Decimal:
    """The highest rate whose price with the fee is at most `total` (negative: none can be)."""
    fee_rate = get_settings().platform_fee_rate
    rate = (Decimal(total) / (1 + fee_rate)).quantize(CENT, rounding=ROUND_DOWN)
    if rate < 0:
        return Decimal("-0.01")
    while quote(rate + CENT).total_amount <= total:  # the fee's rounding: a cent either way
        rate += CENT
    while rate >= 0 and quote(rate).total_amount > total:
        rate -= CENT
    return rate


def lowest_rate_costing(total: Decimal) -> Decimal:
    """The lowest rate whose price with the fee is at least `total`."""
    return max(highest_rate_costing(Decimal(total) - CENT) + CENT, Decimal(0))


def to_cents(amount: Decimal) -> int:
    """Integer cents, for Stripe and other gateways."""
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
