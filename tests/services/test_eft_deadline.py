"""When a bank transfer's deadline is too soon for an ordinary transfer to clear, the client
is told to pay by instant EFT: a session soon, or a hold over a weekend (found by a trial:
booked on a Saturday, due on the Sunday, and told nothing)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from avenrae.services.bookings import too_soon_for_a_transfer

SAST = ZoneInfo("Africa/Johannesburg")
DAY = timedelta(hours=24)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=SAST)  # 7 Dec 2026 is a Monday


@pytest.mark.parametrize(
    "since, deadline, too_soon",
    [
        (at(7, 10), at(7, 10) + DAY, False),  # Monday to Tuesday: a working day
        (at(10, 9), at(10, 9) + DAY, False),  # Thursday to Friday
        (at(11, 18), at(11, 18) + DAY, True),  # Friday evening to Saturday evening: six working hours
        (at(12, 3), at(12, 3) + DAY, True),  # Saturday to Sunday: none
        (at(13, 9), at(13, 9) + DAY, True),  # Sunday to Monday morning: nine
        (at(7, 10), at(7, 16), True),  # a session soon: the hold stops short of a day
    ],
)
def test_a_transfer_needs_a_working_day_before_its_deadline(since, deadline, too_soon):
    assert too_soon_for_a_transfer(since, deadline) is too_soon
