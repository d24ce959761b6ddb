"""Bookable slots: weekly hours and overrides, less time off, bookings with buffers, notice and horizon."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from avenrae.models import BookingStatus, Role
from avenrae.services import availability
from avenrae.services.errors import InvalidInput, PermissionDenied
from avenrae.services.validation import FieldError
from tests.factories import make_booking, make_practitioner, make_user, make_weekly_hours

SAST = ZoneInfo("Africa/Johannesburg")
MONDAY = date(2030, 1, 7)
NOW = datetime(2030, 1, 7, 7, 0, tzinfo=SAST)  # Monday 07:00 in Johannesburg


def local(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), SAST)


def times(slots: list[datetime]) -> list[str]:
    return [s.astimezone(SAST).strftime("%a %H:%M") for s in slots]


def slots(db, practitioner, *, days=1, start=None, now=NOW, **kwargs):
    start = start or local(MONDAY, "00:00")
    return availability.bookable_slots(
        session=db, practitioner_id=practitioner.id, start=start, end=start + timedelta(days=days), now=now, **kwargs
    )


@pytest.fixture
def practitioner(db):
    found = make_practitioner(db, session_duration_minutes=60, min_notice_minutes=120, booking_horizon_days=60)
    make_weekly_hours(db, found, {0: [("09:00", "12:00"), ("14:00", "16:00")], 1: [("09:00", "11:00")]})
    return found


def test_weekly_hours_cut_into_session_length_pieces(db, practitioner):
    assert times(slots(db, practitioner, days=2)) == [
        "Mon 09:00",
        "Mon 10:00",
        "Mon 11:00",
        "Mon 14:00",
        "Mon 15:00",
        "Tue 09:00",
        "Tue 10:00",
    ]
    assert all(s.tzinfo == UTC for s in slots(db, practitioner))


def test_notice_boundary_to_the_minute(db, practitioner):
    assert times(slots(db, practitioner, now=local(MONDAY, "07:00")))[0] == "Mon 09:00"  # exactly 2 hours
    assert times(slots(db, practitioner, now=local(MONDAY, "07:01")))[0] == "Mon 10:00"


def test_horizon_boundary_to_the_minute(db, practitioner):
    practitioner.booking_horizon_days = 1
    db.flush()
    # From Monday 07:00 the horizon ends Tuesday 07:00: Tuesday 09:00 is beyond it.
    assert times(slots(db, practitioner, days=2)) == ["Mon 09:00", "Mon 10:00", "Mon 11:00", "Mon 14:00", "Mon 15:00"]
    # From Monday 09:00 it ends Tuesday 09:00 exactly, so that slot is still out; a minute later it is in.
    assert "Tue 09:00" not in times(slots(db, practitioner, days=2, now=local(MONDAY, "09:00")))
    assert "Tue 09:00" in times(slots(db, practitioner, days=2, now=local(MONDAY, "09:01")))


def test_the_past_is_never_bookable(db, practitioner):
    assert slots(db, practitioner, now=local(MONDAY, "23:00")) == []


def test_time_off_spanning_days(db, practitioner):
    staff = make_user(db, role=Role.STAFF)
    availability.add_time_off(
        session=db,
        practitioner_id=practitioner.id,
        actor_id=staff.id,
        first_day=MONDAY,
        last_day=MONDAY + timedelta(days=1),
        reason="Funeral",
        now=NOW,
    )
    assert slots(db, practitioner, days=8) and times(slots(db, practitioner, days=2)) == []
    assert times(slots(db, practitioner, days=8))[0] == "Mon 09:00"  # the next Monday


def test_time_off_over_time_off_is_refused_by_naming_the_first(db, practitioner):
    def add(first, last, **times_of_day):
        return availability.add_time_off(
            session=db,
            practitioner_id=practitioner.id,
            actor_id=practitioner.user_id,
            first_day=first,
            last_day=last,
            now=NOW,
            **times_of_day,
        )

    held = add(MONDAY, MONDAY + timedelta(days=2))
    assert availability.time_off_words(held.starts_at, held.ends_at, zone=SAST) == (
        f"{MONDAY:%a %d %b} – {MONDAY + timedelta(days=2):%a %d %b %Y}"
    )
    for first, last, times_of_day in (
        (MONDAY + timedelta(days=1), MONDAY + timedelta(days=1), {}),
        (MONDAY + timedelta(days=2), MONDAY + timedelta(days=4), {}),
        (MONDAY, MONDAY, {"start_time": time(10), "end_time": time(11)}),
    ):
        with pytest.raises(
            InvalidInput,
            match=re.escape(
                f"That overlaps your time off {MONDAY:%a %d %b} – {MONDAY + timedelta(days=2):%a %d %b %Y}; "
            ),
        ):
            add(first, last, **times_of_day)
    after = add(MONDAY + timedelta(days=3), MONDAY + timedelta(days=3))  # from the midnight the other ends at
    thursday = MONDAY + timedelta(days=3)
    assert availability.time_off_words(after.starts_at, after.ends_at, zone=SAST) == f"{thursday:%a %d %b %Y}"
    part = add(MONDAY + timedelta(days=4), MONDAY + timedelta(days=4), start_time=time(9), end_time=time(12))
    assert availability.time_off_words(part.starts_at, part.ends_at, zone=SAST) == (
        f"{MONDAY + timedelta(days=4):%a %d %b %Y}, 09:00–12:00"
    )


def test_time_off_for_part_of_a_day(db, practitioner):
    availability.add_time_off(
        session=db,
        practitioner_id=practitioner.id,
        actor_id=practitioner.user_id,
        first_day=MONDAY,
        last_day=MONDAY,
        start_time=time(10, 30),
        end_time=time(11, 0),
        now=NOW,
    )
    assert times(slots(db, practitioner)) == ["Mon 09:00", "Mon 11:00", "Mon 14:00", "Mon 15:00"]


def test_a_booking_removes_its_slot_and_a_cancelled_one_gives_it_back(db, practitioner):
    booking = make_booking(db, practitioner=practitioner, start=local(MONDAY, "10:00"))
    assert "Mon 10:00" not in times(slots(db, practitioner))
    booking.status = BookingStatus.CANCELLED
    db.flush()
    assert "Mon 10:00" in times(slots(db, practitioner))


def test_an_expired_hold_gives_the_slot_back(db, practitioner):
    make_booking(
        db,
        practitioner=practitioner,
        start=local(MONDAY, "10:00"),
        status=BookingStatus.PENDING,
        hold_expires_at=NOW - timedelta(minutes=1),
    )
    assert "Mon 10:00" in times(slots(db, practitioner))
    make_booking(
        db,
        practitioner=practitioner,
        start=local(MONDAY, "11:00"),
        status=BookingStatus.PENDING,
        hold_expires_at=NOW + timedelta(minutes=10),
    )
    assert "Mon 11:00" not in times(slots(db, practitioner))


def test_buffers_keep_time_free_on_both_sides(db, practitioner):
    practitioner.buffer_minutes = 15
    db.flush()
    make_booking(db, practitioner=practitioner, start=local(MONDAY, "10:00"))
    # 09:00 would end at 10:00 plus 15 minutes of buffer; 11:00 starts inside the booking's buffer.
    assert times(slots(db, practitioner)) == ["Mon 14:00", "Mon 15:00"]


def test_moving_a_booking_ignores_its_own_slot(db, practitioner):
    booking = make_booking(db, practitioner=practitioner, start=local(MONDAY, "10:00"))
    assert "Mon 10:00" in times(slots(db, practitioner, ignore_booking_id=booking.id))


def test_a_date_override_replaces_the_weekly_hours(db, practitioner):
    availability.set_date_hours(
        session=db,
        practitioner_id=practitioner.id,
        actor_id=practitioner.user_id,
        on_date=MONDAY,
        ranges=[(time(17, 0), time(19, 0))],
        now=NOW,
    )
    assert times(slots(db, practitioner)) == ["Mon 17:00", "Mon 18:00"]
    availability.set_date_hours(
        session=db, practitioner_id=practitioner.id, actor_id=practitioner.user_id, on_date=MONDAY, ranges=[], now=NOW
    )
    assert times(slots(db, practitioner))[0] == "Mon 09:00"


def test_hours_are_wall_clock_time_in_the_practitioners_zone(db):
    london = make_practitioner(db, time_zone="Europe/London", min_notice_minutes=0)
    make_weekly_hours(db, london, {6: [("09:00", "10:00")]})  # Sundays
    summer = datetime(2030, 6, 30, 0, 0, tzinfo=UTC)
    winter = datetime(2030, 12, 29, 0, 0, tzinfo=UTC)
    now = datetime(2030, 6, 1, tzinfo=UTC)
    found = [
        s
        for start in (summer, winter)
        for s in availability.bookable_slots(
            session=db, practitioner_id=london.id, start=start, end=start + timedelta(days=1), now=now
        )
    ]
    # 09:00 in London is 08:00 UTC in summer time and 09:00 UTC in winter; the winter date is beyond
    # the default 60-day horizon, so only summer is open.
    assert [s.strftime("%Y-%m-%d %H:%M") for s in found] == ["2030-06-30 08:00"]


def test_weekly_hours_are_checked_and_replaced_whole(db, practitioner):
    with pytest.raises(InvalidInput, match="overlap"):
        availability.set_weekly_hours(
            session=db,
            practitioner_id=practitioner.id,
            actor_id=practitioner.user_id,
            ranges=[availability.HoursRange(0, time(9), time(12)), availability.HoursRange(0, time(11), time(13))],
        )
    with pytest.raises(InvalidInput, match="ends before it starts"):
        availability.set_weekly_hours(
            session=db,
            practitioner_id=practitioner.id,
            actor_id=practitioner.user_id,
            ranges=[availability.HoursRange(2, time(12), time(9))],
        )
    too_short = re.escape("Wednesday: 09:00–09:30 is shorter than one session (60 minutes)")
    with pytest.raises(InvalidInput, match=too_short):
        availability.set_weekly_hours(
            session=db,
            practitioner_id=practitioner.id,
            actor_id=practitioner.user_id,
            ranges=[availability.HoursRange(2, time(9), time(9, 30))],
        )
    with pytest.raises(InvalidInput, match="Monday to Sunday"):
        availability.set_weekly_hours(
            session=db,
            practitioner_id=practitioner.id,
            actor_id=practitioner.user_id,
            ranges=[availability.HoursRange(7, time(9), time(12))],
        )
    assert times(slots(db, practitioner))[0] == "Mon 09:00"  # unchanged after the refusals
    availability.set_weekly_hours(
        session=db,
        practitioner_id=practitioner.id,
        actor_id=practitioner.user_id,
        ranges=[availability.HoursRange(0, time(8), time(9)), availability.HoursRange(0, time(9), time(10))],
    )
    assert times(slots(db, practitioner)) == ["Mon 09:00"]  # 08:00 falls inside the 2 hours' notice from 07:00
    assert times(slots(db, practitioner, now=local(MONDAY, "05:00"))) == ["Mon 08:00", "Mon 09:00"]


def test_only_the_practitioner_or_staff_change_availability(db, practitioner):
    other = make_practitioner(db)
    with pytest.raises(PermissionDenied):
        availability.set_weekly_hours(session=db, practitioner_id=practitioner.id, actor_id=other.user_id, ranges=[])
    client = make_user(db, role=Role.CLIENT)
    with pytest.raises(PermissionDenied):
        availability.add_time_off(
            session=db, practitioner_id=practitioner.id, actor_id=client.id, first_day=MONDAY, last_day=MONDAY, now=NOW
        )
    staff = make_user(db, role=Role.STAFF)
    availability.set_weekly_hours(session=db, practitioner_id=practitioner.id, actor_id=staff.id, ranges=[])
    assert slots(db, practitioner) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"first_day": MONDAY, "last_day": MONDAY - timedelta(days=1)}, "last_day"),
        ({"first_day": MONDAY, "last_day": MONDAY + timedelta(days=400)}, "last_day"),
        ({"first_day": MONDAY, "last_day": MONDAY, "start_time": time(10)}, "start_time"),
        ({"first_day": MONDAY, "last_day": MONDAY, "start_time": time(11), "end_time": time(10)}, "end_time"),
        (
            {"first_day": MONDAY, "last_day": MONDAY + timedelta(days=1), "start_time": time(10), "end_time": time(11)},
            "start_time",
        ),
        ({"first_day": MONDAY, "last_day": MONDAY, "reason": "x" * 201}, "reason"),
        ({"first_day": MONDAY - timedelta(days=3), "last_day": MONDAY - timedelta(days=2)}, "last_day"),
    ],
)
def test_bad_time_off_is_refused(db, practitioner, kwargs, field):
    with pytest.raises(InvalidInput) as refused:
        availability.add_time_off(
            session=db, practitioner_id=practitioner.id, actor_id=practitioner.user_id, now=NOW, **kwargs
        )
    assert field in refused.value.problems
    assert availability.schedule(session=db, practitioner_id=practitioner.id, now=NOW).time_off == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"buffer_minutes": -5}, "buffer_minutes"),
        ({"min_notice_minutes": 99999}, "min_notice_minutes"),
        ({"booking_horizon_days": 0}, "booking_horizon_days"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_bad_rules_are_refused(db, practitioner, change, field):
    values = {
        "buffer_minutes": 10,
        "min_notice_minutes": 60,
        "booking_horizon_days": 30,
        "time_zone": "Africa/Johannesburg",
        **change,
    }
    with pytest.raises(InvalidInput) as refused:
        availability.update_rules(session=db, practitioner_id=practitioner.id, actor_id=practitioner.user_id, **values)
    assert field in refused.value.problems
    assert practitioner.buffer_minutes == 0


def test_schedule_lists_what_the_page_shows(db, practitioner):
    availability.add_time_off(
        session=db,
        practitioner_id=practitioner.id,
        actor_id=practitioner.user_id,
        first_day=MONDAY + timedelta(days=7),
        last_day=MONDAY + timedelta(days=8),
        reason="Leave",
        now=NOW,
    )
    found = availability.schedule(session=db, practitioner_id=practitioner.id, now=NOW)
    assert len(found.weekly) == 3 and found.rules.session_minutes == 60
    assert [t.reason for t in found.time_off] == ["Leave"]
    assert found.time_off[0].starts_at == local(MONDAY + timedelta(days=7), "00:00")


@pytest.mark.parametrize("typed", ["09:00-25:00", "9-24:30", "09:00-12:60"])
def test_hours_past_midnight_or_beyond_the_clock_are_not_read_as_something_else(typed):
    with pytest.raises(FieldError, match=f"Saturday: “{typed}” is not a time range"):
        availability.parse_day_hours(typed, day_name="Saturday")


def test_a_day_may_run_to_midnight():
    assert availability.parse_day_hours("18:00-24:00, 8h30 to 13h", day_name="Saturday") == [
        (time(18), time.max),
        (time(8, 30), time(13)),
    ]


@pytest.mark.parametrize(
    "typed, hours",
    [
        ("9am-5pm", (time(9), time(17))),
        ("9-5pm", (time(9), time(17))),  # the morning, as people mean it
        ("1-5pm", (time(13), time(17))),
        ("8.30am to 1pm", (time(8, 30), time(13))),
        ("9 AM - 12 PM", (time(9), time(12))),
        ("7pm-12am", (time(19), time.max)),  # until midnight
        ("12pm-2pm", (time(12), time(14))),
    ],
)
def test_hours_with_am_and_pm_are_read_as_people_write_them(typed, hours):
    # Found by a trial: "9am-5pm" was refused, though the page reads hours as people type them.
    assert availability.parse_day_hours(typed, day_name="Thursday") == [hours]


@pytest.mark.parametrize("typed", ["13pm-5pm", "0am-5am", "9xm-5pm", "9m-5", "9-12am", "9am-12am"])
def test_am_and_pm_only_after_a_twelve_hour_time(typed):
    with pytest.raises(FieldError, match="is not a time range"):
        availability.parse_day_hours(typed, day_name="Thursday")


def test_a_morning_until_12am_is_asked_about_not_read_as_until_midnight():
    # Found by a review: "9-12am" was saved as 09:00-24:00.
    with pytest.raises(FieldError, match="12am is midnight; for noon write 12pm"):
        availability.parse_day_hours("9-12am", day_name="Thursday")


def test_staff_changes_to_availability_are_audited_the_practitioners_own_are_not(db, practitioner):
    from sqlalchemy import select

    from avenrae.models import AuditLog

    staff = make_user(db, role=Role.STAFF)
    for actor in (practitioner.user, staff):
        availability.set_date_hours(
            session=db,
            practitioner_id=practitioner.id,
            actor_id=actor.id,
            on_date=MONDAY + timedelta(days=1),
            ranges=[(time(19, 0), time(21, 0))],
            now=NOW,
        )
        entry = availability.add_time_off(
            session=db,
            practitioner_id=practitioner.id,
            actor_id=actor.id,
            first_day=MONDAY + timedelta(days=20),
            last_day=MONDAY + timedelta(days=21),
            now=NOW,
        )
        availability.remove_time_off(
            session=db, practitioner_id=practitioner.id, actor_id=actor.id, time_off_id=entry.id
        )
        availability.update_rules(
            session=db,
            practitioner_id=practitioner.id,
            actor_id=actor.id,
            buffer_minutes=10,
            min_notice_minutes=60,
            booking_horizon_days=30,
            time_zone="Africa/Johannesburg",
        )
        availability.set_weekly_hours(
            session=db,
            practitioner_id=practitioner.id,
            actor_id=actor.id,
            ranges=[availability.HoursRange(0, time(9), time(12))],
        )
    rows = db.execute(
        select(AuditLog.actor_id, AuditLog.action, AuditLog.target_id, AuditLog.after)
        .where(AuditLog.action.like("availability.%"))
        .order_by(AuditLog.created_at, AuditLog.id)
    ).all()
    assert {row.actor_id for row in rows} == {staff.id}
    assert {str(row.target_id) for row in rows} == {str(practitioner.id)}
    after = {row.action: row.after for row in rows}
    assert set(after) == {
        "availability.date_hours",
        "availability.time_off_add",
        "availability.time_off_remove",
        "availability.rules",
        "availability.weekly_hours",
    }
    assert after["availability.date_hours"] == {"date": "2030-01-08", "hours": "19:00–21:00"}
    assert after["availability.time_off_add"] == {"time_off": "Sun 27 Jan – Mon 28 Jan 2030"}
    assert after["availability.weekly_hours"] == {"hours": "Mon 09:00–12:00"}


def test_nine_to_five_written_as_9_5_is_refused_with_what_was_meant():
    problems = availability.weekly_hours_problems(
        [availability.HoursRange(0, time(9, 0), time(5, 0))], session_length=timedelta(minutes=60)
    )
    assert problems == [(0, "Monday: 09:00–05:00 ends before it starts. Did you mean 09:00–17:00?")]


def test_hours_typed_the_other_way_round_are_refused_with_them_swapped():
    problems = availability.weekly_hours_problems(
        [availability.HoursRange(4, time(18, 0), time(8, 0))], session_length=timedelta(minutes=60)
    )
    assert problems == [(4, "Friday: 18:00–08:00 ends before it starts. Did you mean 08:00–18:00?")]


def test_new_hours_are_checked_against_the_whole_of_each_booking(db):
    """A session longer than today's session length (booked before it changed) is outside new
    hours that end before it does, and one into the last hour of the day outside hours that end
    earlier."""
    practitioner = make_practitioner(db, session_duration_minutes=60, min_notice_minutes=120)
    make_weekly_hours(db, practitioner, {0: [("09:00", "23:59:59.999999")]})  # typed as 09:00-24:00
    late = make_booking(db, practitioner=practitioner, start=local(MONDAY, "23:00"), minutes=60)
    long = make_booking(db, practitioner=practitioner, start=local(MONDAY, "16:00"), minutes=90)
    inside = make_booking(db, practitioner=practitioner, start=local(MONDAY, "09:00"), minutes=60)
    monday = [availability.HoursRange(0, time(9), time(17))]

    outside = availability.bookings_outside_hours(session=db, practitioner_id=practitioner.id, ranges=monday, now=NOW)
    assert {b.id for b in outside} == {late.id, long.id}
    on_the_date = availability.bookings_outside_date_hours(
        session=db, practitioner_id=practitioner.id, on_date=MONDAY, ranges=[(time(9), time(17))], now=NOW
    )
    assert {b.id for b in on_the_date} == {late.id, long.id}
    assert inside.id not in {b.id for b in on_the_date}
    evening = [availability.HoursRange(0, time(9), time.max)]  # to midnight covers a session ending at it
    assert (
        availability.bookings_outside_hours(session=db, practitioner_id=practitioner.id, ranges=evening, now=NOW) == []
    )


def test_a_booking_kept_outside_the_hours_is_not_asked_about_again(db, practitioner):
    """Monday 09:00-12:00 and 14:00-16:00: a session at 18:00 was kept when its hours went; a
    later change to other hours does not ask about it again, one that closes 09:00 does."""
    kept = make_booking(db, practitioner=practitioner, start=local(MONDAY, "18:00"))
    morning = make_booking(db, practitioner=practitioner, start=local(MONDAY, "09:00"))
    other_change = [
        availability.HoursRange(0, time(9), time(12)),
        availability.HoursRange(0, time(14), time(16)),
        availability.HoursRange(1, time(8), time(11)),
    ]
    assert (
        availability.bookings_outside_hours(session=db, practitioner_id=practitioner.id, ranges=other_change, now=NOW)
        == []
    )
    closing_nine = [availability.HoursRange(0, time(10), time(12))]
    asked = availability.bookings_outside_hours(
        session=db, practitioner_id=practitioner.id, ranges=closing_nine, now=NOW
    )
    assert [b.id for b in asked] == [morning.id]
    on_the_date = availability.bookings_outside_date_hours(
        session=db, practitioner_id=practitioner.id, on_date=MONDAY, ranges=[(time(10), time(11))], now=NOW
    )
    assert [b.id for b in on_the_date] == [morning.id]
    assert kept.id not in {b.id for b in asked + on_the_date}


def test_clearing_a_dates_own_hours_asks_about_bookings_only_those_hours_covered(db, practitioner):
    evening = make_booking(db, practitioner=practitioner, start=local(MONDAY, "18:00"))
    availability.set_date_hours(
        session=db,
        practitioner_id=practitioner.id,
        actor_id=practitioner.user_id,
        on_date=MONDAY,
        ranges=[(time(17), time(20))],
        now=NOW,
    )
    back_to_usual = availability.bookings_outside_date_hours(
        session=db, practitioner_id=practitioner.id, on_date=MONDAY, ranges=[], now=NOW
    )
    assert [b.id for b in back_to_usual] == [evening.id]


@pytest.mark.parametrize("typed", ["20:00-24:00", "20:00-00:00", "20-0", "20h to 24h"])
def test_hours_to_midnight_offer_the_last_session_of_the_day(db, typed):
    """Saturday evening until midnight: the 23:00 session is open, shown and bookable."""
    practitioner = make_practitioner(db, session_duration_minutes=60, min_notice_minutes=0, booking_horizon_days=60)
    saturday = MONDAY + timedelta(days=5)
    [(start, end)] = availability.parse_day_hours(typed, day_name="Saturday")
    assert (start, end) == (time(20), availability.END_OF_DAY)
    availability.set_weekly_hours(
        session=db,
        practitioner_id=practitioner.id,
        actor_id=practitioner.user_id,
        ranges=[availability.HoursRange(5, start, end)],
    )
    assert times(slots(db, practitioner, start=local(saturday, "00:00"))) == [
        "Sat 20:00",
        "Sat 21:00",
        "Sat 22:00",
        "Sat 23:00",
    ]
    last = local(saturday, "23:00")
    assert availability.slot_state(session=db, practitioner_id=practitioner.id, start=last, now=NOW) == "free"
    from avenrae.ui import schedule

    assert schedule.hours_text([(start, end)]) == "20:00-24:00"


def test_special_hours_to_midnight_are_read_from_a_clock_that_stops_at_00_00(db):
    """A time picker cannot say 24:00: 20:00 to 00:00 on one date means until midnight."""
    practitioner = make_practitioner(db, session_duration_minutes=60, min_notice_minutes=0, booking_horizon_days=60)
    availability.set_date_hours(
        session=db,
        practitioner_id=practitioner.id,
        actor_id=practitioner.user_id,
        on_date=MONDAY,
        ranges=[(time(20), time(0))],
        now=NOW,
    )
    assert times(slots(db, practitioner))[-1] == "Mon 23:00"
    [override] = availability.schedule(session=db, practitioner_id=practitioner.id, now=NOW).overrides
    assert override.end == availability.END_OF_DAY


def test_hours_past_midnight_say_how_to_write_them():
    problems = availability.weekly_hours_problems(
        [availability.HoursRange(5, time(22), time(1))], session_length=timedelta(hours=1)
    )
    assert problems == [
        (5, "Saturday: 22:00–01:00 runs past midnight: end it at 24:00, and put the rest on the next day from 00:00.")
    ]


def test_time_off_for_an_evening_runs_to_midnight(db, practitioner):
    off = availability.add_time_off(
        session=db,
        practitioner_id=practitioner.id,
        actor_id=practitioner.user_id,
        first_day=MONDAY,
        last_day=MONDAY,
        start_time=time(18),
        end_time=time(0),  # what a time picker says for midnight
        now=NOW,
    )
    assert (off.starts_at, off.ends_at) == (local(MONDAY, "18:00"), local(MONDAY + timedelta(days=1), "00:00"))
    assert availability.time_off_words(off.starts_at, off.ends_at, zone=SAST) == "Mon 07 Jan 2030, 18:00–24:00"


def test_time_off_meets_each_booking_to_its_own_end_whatever_sessions_last_now(db):
    """A two-hour session (10:00-12:00) booked before the practitioner shortened their sessions
    to one hour: time off from 11:00 falls on it, and time off from 12:00 does not (found by
    review: each booking was judged by the practitioner's current length)."""
    healer = make_practitioner(db, session_duration_minutes=120)
    make_weekly_hours(db, healer, {day: [("08:00", "17:00")] for day in range(7)})
    day = datetime.now(SAST).date() + timedelta(days=5)
    booked = make_booking(db, practitioner=healer, start=local(day, "10:00"))
    assert booked.session_end - booked.session_start == timedelta(hours=2)
    healer.session_duration_minutes = 60
    db.flush()

    def during(start: str, end: str) -> list:
        found = availability.bookings_during(
            session=db, practitioner_id=healer.id, starts_at=local(day, start), ends_at=local(day, end)
        )
        return [b.id for b in found]

    assert during("11:00", "13:00") == [booked.id]
    assert during("12:00", "13:00") == []
    healer.session_duration_minutes = 240  # longer sessions now: the booking still ends at 12:00
    db.flush()
    assert during("12:00", "13:00") == []
