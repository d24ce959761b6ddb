"""A practitioner's own practice: weekly hours, time off, booking rules, verification, payouts (Bearer token)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from avenrae.db import session_scope
from avenrae.services import availability, flows, payments, payouts, verification

from ..deps import Caller, LoggedIn
from ..problems import Problem
from ..schemas import IN_THE_WAY, ClockTime, Message, Model
from ..threads import waits_on_others

router = APIRouter(prefix="/practice", tags=["practice"])


def _practitioner_id(caller: Caller) -> uuid.UUID:
    if caller.user.practitioner_id is None:
        raise Problem(403, "Only practitioners have a practice to manage.")
    return caller.user.practitioner_id


class HoursRangeModel(Model):
    dayOfWeek: int = Field(ge=0, le=6, description="0 = Monday")
    start: ClockTime
    end: ClockTime = Field(description="24:00 for hours that run until midnight")


class TimeOffOut(Model):
    id: uuid.UUID
    startsAt: datetime
    endsAt: datetime
    reason: str


class RulesModel(Model):
    timeZone: str
    sessionMinutes: int | None = Field(None, description="Read only here; change it on the profile")
    bufferMinutes: int
    minNoticeMinutes: int
    bookingHorizonDays: int


class DateHoursOut(Model):
    date: date
    start: ClockTime
    end: ClockTime = Field(description="24:00 for hours that run until midnight")


class ScheduleOut(Model):
    weeklyHours: list[HoursRangeModel]
    specialDates: list[DateHoursOut] = Field(
        description="Upcoming dates with hours of their own, which replace that weekday's hours"
    )
    timeOff: list[TimeOffOut]
    rules: RulesModel


@router.get("/schedule", response_model=ScheduleOut)
def schedule(caller: LoggedIn) -> ScheduleOut:
    """Weekly hours, upcoming dates with hours of their own, upcoming time off and booking rules."""
    practitioner_id = _practitioner_id(caller)
    with session_scope() as session:
        found = availability.schedule(session=session, practitioner_id=practitioner_id)
    rules = found.rules
    return ScheduleOut(
        weeklyHours=[HoursRangeModel(dayOfWeek=r.day_of_week, start=r.start, end=r.end) for r in found.weekly],
        specialDates=[DateHoursOut(date=r.on_date, start=r.start, end=r.end) for r in found.overrides],
        timeOff=[TimeOffOut(id=t.id, startsAt=t.starts_at, endsAt=t.ends_at, reason=t.reason) for t in found.time_off],
        rules=RulesModel(
            timeZone=rules.time_zone,
            sessionMinutes=rules.session_minutes,
            bufferMinutes=rules.buffer_minutes,
            minNoticeMinutes=rules.min_notice_minutes,
            bookingHorizonDays=rules.booking_horizon_days,
        ),
    )


InTheWay = Literal["keep", "cancel"] | None


class WeeklyHoursIn(Model):
    ranges: list[HoursRangeModel] = Field(max_length=100)
    bookingsInTheWay: InTheWay = Field(
        None, description="Booked sessions outside the new hours: keep them, or cancel them with a full refund"
    )


@router.put("/weekly-hours", response_model=Message, responses=IN_THE_WAY)
@waits_on_others
def set_weekly_hours(body: WeeklyHoursIn, caller: LoggedIn) -> Message:
    """Replace the weekly hours. When booked sessions would fall outside them, 409 until
    `bookingsInTheWay` says to keep or cancel them."""
    practitioner_id = _practitioner_id(caller)
    ranges = [availability.HoursRange(r.dayOfWeek, r.start, r.end) for r in body.ranges]
    with session_scope() as session:
        to_send = flows.set_weekly_hours(
            session=session,
            practitioner_id=practitioner_id,
            actor=caller.actor,
            ranges=ranges,
            bookings_in_the_way=body.bookingsInTheWay,
        )
    if to_send:
        payments.send_queued_refunds(ids=to_send)
    return Message(message="Weekly hours saved.")


class ClockRange(Model):
    start: ClockTime
    end: ClockTime = Field(description="24:00 for hours that run until midnight")


class DateHoursIn(Model):
    ranges: list[ClockRange] = Field(
        max_length=20, description="The date's hours; none: its weekday's usual hours again (for none at all: time off)"
    )
    bookingsInTheWay: InTheWay = Field(
        None, description="Booked sessions outside the new hours: keep them, or cancel them with a full refund"
    )


@router.put("/special-dates/{on_date}", response_model=Message, responses=IN_THE_WAY)
@waits_on_others
def set_date_hours(on_date: date, body: DateHoursIn, caller: LoggedIn) -> Message:
    """Hours of its own for one date (replacing that weekday's hours), or its usual hours again
    (no ranges). When booked sessions would fall outside them, 409 until `bookingsInTheWay` says."""
    practitioner_id = _practitioner_id(caller)
    with session_scope() as session:
        to_send = flows.set_date_hours(
            session=session,
            practitioner_id=practitioner_id,
            actor=caller.actor,
            on_date=on_date,
            ranges=[(r.start, r.end) for r in body.ranges],
            bookings_in_the_way=body.bookingsInTheWay,
        )
    if to_send:
        payments.send_queued_refunds(ids=to_send)
    return Message(message=f"Hours for {on_date:%a %d %b %Y} saved." if body.ranges else "Usual hours again.")


class TimeOffIn(Model):
    firstDay: date
    lastDay: date
    startTime: ClockTime | None = None
    endTime: ClockTime | None = Field(None, description="24:00 for time off until midnight")
    reason: str = ""
    bookingsInTheWay: InTheWay = None


class TimeOffCreated(TimeOffOut):
    message: str


@router.post("/time-off", status_code=201, response_model=TimeOffCreated, responses=IN_THE_WAY)
@waits_on_others
def add_time_off(body: TimeOffIn, caller: LoggedIn) -> TimeOffCreated:
    """Time off (whole days, or between two times of one day); booked sessions it covers: as for weekly hours."""
    practitioner_id = _practitioner_id(caller)
    with session_scope() as session:
        added = flows.add_time_off(
            session=session,
            practitioner_id=practitioner_id,
            actor=caller.actor,
            first_day=body.firstDay,
            last_day=body.lastDay,
            reason=body.reason,
            start_time=body.startTime,
            end_time=body.endTime,
            bookings_in_the_way=body.bookingsInTheWay,
        )
        entry = added.time_off
        created = TimeOffCreated(  # in UTC, as the schedule lists it
            id=entry.id,
            startsAt=entry.starts_at.astimezone(UTC),
            endsAt=entry.ends_at.astimezone(UTC),
            reason=entry.reason,
            message="Time off added.",
        )
    if added.to_send:
        payments.send_queued_refunds(ids=added.to_send)
    return created


@router.delete("/time-off/{time_off_id}", response_model=Message)
def remove_time_off(time_off_id: uuid.UUID, caller: LoggedIn) -> Message:
    practitioner_id = _practitioner_id(caller)
    with session_scope() as session:
        availability.remove_time_off(
            session=session, practitioner_id=practitioner_id, actor_id=caller.id, time_off_id=time_off_id
        )
    return Message(message="Time off removed.")


@router.put("/rules", response_model=Message)
def update_rules(body: RulesModel, caller: LoggedIn) -> Message:
    """Buffer between sessions, minimum notice, how far ahead clients may book, time zone."""
    practitioner_id = _practitioner_id(caller)
    with session_scope() as session:
        availability.update_rules(
            session=session,
            practitioner_id=practitioner_id,
            actor_id=caller.id,
            buffer_minutes=body.bufferMinutes,
            min_notice_minutes=body.minNoticeMinutes,
            booking_horizon_days=body.bookingHorizonDays,
            time_zone=body.timeZone,
        )
    return Message(message="Booking rules saved.")


class VerificationOut(Model):
    status: str = Field(description="unverified, pending, verified or rejected")
    healthRegistration: str | None
    applications: int


@router.get("/verification", response_model=VerificationOut)
def verification_status(caller: LoggedIn) -> VerificationOut:
    """Where the practitioner's verification stands (apply with documents on the web)."""
    with session_scope() as session:
        mine = verification.mine(session=session, actor=caller.actor)
    return VerificationOut(
        status=mine.status.value, healthRegistration=mine.health_registration, applications=len(mine.applications)
    )


class PayoutAccountIn(Model):
    bankName: str = Field("", description="e.g. FNB, Capitec, Standard Bank")
    accountHolder: str = ""
    accountNumber: str = Field("", description="6 to 16 digits (spaces allowed, as printed)")
    branchCode: str = Field("", description="6 digits: the bank's universal branch code")
    password: str = Field("", description="The practitioner's current password: only they change where money goes")


class PayoutAccountOut(Model):
    bankName: str
    accountHolder: str
    accountNumberEnd: str = Field(description="The last four digits")
    branchCode: str


class PayoutOut(Model):
    paidAt: datetime
    amount: float
    reference: str
    bankName: str
    accountNumberEnd: str


class PayoutsOut(Model):
    readyToPayOut: float = Field(
        description="Earned from sessions that ended before earnedBefore, nothing owed back, less what was paid out "
        "(below zero: refunds after the last payout, taken from the next)"
    )
    waitingOnRefund: float = Field(description="Earned from bookings with a refund still owed or on its way")
    paidOut: float
    earnedBefore: datetime
    account: PayoutAccountOut | None
    payouts: list[PayoutOut] = Field(description="The latest payouts, newest first")


@router.get("/payouts", response_model=PayoutsOut)
def my_payouts(caller: LoggedIn) -> PayoutsOut:
    """What is ready to be paid out to the practitioner, what was paid out, and where to."""
    _practitioner_id(caller)
    with session_scope() as session:
        found = payouts.summary(session=session, actor=caller.actor)
    account = found.account
    return PayoutsOut(
        readyToPayOut=float(found.available),
        waitingOnRefund=float(found.held),
        paidOut=float(found.paid_out),
        earnedBefore=found.earned_before,
        account=None
        if account is None
        else PayoutAccountOut(
            bankName=account.bank_name,
            accountHolder=account.account_holder,
            accountNumberEnd=account.ending,
            branchCode=account.branch_code,
        ),
        payouts=[
            PayoutOut(
                paidAt=row.paid_at,
                amount=float(row.amount),
                reference=row.reference,
                bankName=row.bank_name,
                accountNumberEnd=row.account_number_end,
            )
            for row in found.history
        ],
    )


@router.put("/payout-account", response_model=Message)
def set_payout_account(body: PayoutAccountIn, caller: LoggedIn) -> Message:
    """The bank account payouts go to, with the practitioner's current password (a wrong one counts as a
    failed login); they are told of the change in the app and by e-mail."""
    _practitioner_id(caller)
    form = payouts.AccountForm(
        body.bankName, body.accountHolder, body.accountNumber, body.branchCode, password=body.password
    )
    with session_scope() as session:
        saved = payouts.save_account(session=session, actor=caller.actor, form=form)
    return Message(message=f"Bank account saved: payouts go to {saved.bank_name} account ending {saved.ending}.")
