"""Paying practitioners what they earned: the bank account they give, what is ready to pay
out, and the payouts staff make.

A practitioner earns their share (`ledger.fee_split`) of the money kept for a session, and
it is ready to pay out once the session ended AVENRAE_PAYOUT_HOLD_DAYS ago (time for a
client to say the practitioner did not come) and nothing is still owed back on the booking.
What is available is that, less everything paid out or being paid out; a refund made after
a payout lowers the next one.

Staff pay by bank transfer outside the platform, in two steps, so that two staff never pay
the same earnings: they *prepare* a payout (the amount is set aside, one payout at a time
per practitioner, and nobody else can pay it), make the transfer to the account shown, then
record it *paid* with the bank's reference (one payout per reference), or *cancel* it.

The bank account is the practitioner's to give, with their current password (a changed
account is how payouts are stolen); the change is told to them in the app and by e-mail,
shown to staff beside the payout for a week, and audited with only the last four digits. A
payout prepared before the account changed warns staff not to pay it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from avenrae import db
from avenrae.config import get_settings
from avenrae.models import Payout, PayoutAccount, Practitioner, Role, User
from avenrae.services import accounts, audit, ledger, notifications, validation
from avenrae.services.bookings import Actor
from avenrae.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ServiceError
from avenrae.services.validation import FieldError

# South African banks and their universal branch codes (any branch of the bank takes it).
BANKS = {
    "ABSA": "632005",
    "African Bank": "430000",
    "Bidvest Bank": "462005",
    "Capitec": "470010",
    "Discovery Bank": "679000",
    "FNB": "250655",
    "Investec": "580105",
    "Nedbank": "198765",
    "Standard Bank": "051001",
    "TymeBank": "678910",
}
HISTORY = 24  # payouts listed, newest first
RECENT_CHANGE = timedelta(days=7)  # an account changed this recently is pointed out to staff


@dataclass(frozen=True)
class AccountForm:
    bank_name: str
    account_holder: str
    account_number: str
    branch_code: str
    password: str = ""  # the practitioner's current password: only they change where their money goes


@dataclass(frozen=True)
class Account:
    bank_name: str
    account_holder: str
    account_number: str
    branch_code: str
    changed_at: datetime

    @property
    def ending(self) -> str:
        return self.account_number[-4:]


@dataclass(frozen=True)
class PayoutRow:
    paid_at: datetime
    amount: Decimal
    reference: str
    bank_name: str
    account_number_end: str


@dataclass(frozen=True)
class Prepared:
    """A payout set aside for a transfer, not recorded paid yet."""

    id: uuid.UUID
    amount: Decimal
    bank_name: str
    account_number_end: str
    prepared_at: datetime
    prepared_by: str


@dataclass(frozen=True)
class Summary:
    earned_before: datetime  # sessions that ended before this count
    ready: Decimal  # earned from them, where nothing is owed back
    held: Decimal  # earned from bookings with a refund owed or on its way, before that refund
    paid_out: Decimal
    prepared: Prepared | None
    account: Account | None
    history: list[PayoutRow]
    phone: str | None = None  # the practitioner's mobile: staff confirm a new account by calling it

    @property
    def available(self) -> Decimal:
        """What may be paid out now (below zero: paid out before on money refunded or owed back since)."""
        return self.ready - self.paid_out - (self.prepared.amount if self.prepared else Decimal("0.00"))

    @property
    def account_changed_since_prepared(self) -> bool:
        return self.prepared is not None and (
            self.account is None
            or self.account.changed_at > self.prepared.prepared_at
            or self.account.ending != self.prepared.account_number_end
        )


def _practitioner_of(session: Session, actor: Actor, practitioner_id: uuid.UUID | None) -> uuid.UUID:
    """Whose payouts the actor may read: a practitioner their own, staff anyone's."""
    if actor.role == Role.PRACTITIONER:
        own = session.scalar(select(Practitioner.id).where(Practitioner.user_id == actor.id))
        if own is None or practitioner_id not in (None, own):
            raise PermissionDenied("You can only see your own payouts.")
        return own
    if not actor.is_operator:
        raise PermissionDenied("Payouts are for practitioners and staff.")
    if practitioner_id is None or session.get(Practitioner, practitioner_id) is None:
        raise NotFound("No such practitioner.")
    return practitioner_id


def _account(session: Session, practitioner_id: uuid.UUID) -> Account | None:
    row = session.get(PayoutAccount, practitioner_id, populate_existing=True)
    if row is None:
        return None
    return Account(row.bank_name, row.account_holder, row.account_number, row.branch_code, row.updated_at)


def summary(
    *, session: Session, actor: Actor, practitioner_id: uuid.UUID | None = None, now: datetime | None = None
) -> Summary:
    """Where a practitioner's payouts stand: ready, held, paid out, being prepared, the
    account, the last payouts."""
    practitioner_id = _practitioner_of(session, actor, practitioner_id)
    before = (now or datetime.now(UTC)) - timedelta(days=get_settings().payout_hold_days)
    earned = ledger.payable(session, practitioner_id, before)
    paid_out = session.execute(
        select(func.coalesce(func.sum(Payout.amount), 0)).where(
            Payout.practitioner_id == practitioner_id, Payout.status == "paid"
        )
    ).scalar_one()
    prepared = session.execute(
        select(
            Payout.id,
            Payout.amount,
            Payout.bank_name,
            Payout.account_number_end,
            Payout.created_at,
            User.first_name + " " + User.last_name,
        )
        .join(User, User.id == Payout.prepared_by_id)
        .where(Payout.practitioner_id == practitioner_id, Payout.status == "prepared")
    ).first()
    history = session.execute(
        select(Payout.paid_at, Payout.amount, Payout.reference, Payout.bank_name, Payout.account_number_end)
        .where(Payout.practitioner_id == practitioner_id, Payout.status == "paid")
        .order_by(Payout.paid_at.desc())
        .limit(HISTORY)
    ).all()
    return Summary(
        earned_before=before,
        ready=earned.ready,
        held=earned.held,
        paid_out=Decimal(paid_out),
        prepared=Prepared(*prepared) if prepared else None,
        account=_account(session, practitioner_id),
        phone=session.scalar(
            select(User.phone)
            .join(Practitioner, Practitioner.user_id == User.id)
            .where(Practitioner.id == practitioner_id)
        ),
        history=[
            PayoutRow(paid_at, amount, reference or "", bank, ending)
            for paid_at, amount, reference, bank, ending in history
            if paid_at is not None  # always, for a paid one (a check constraint)
        ],
    )


def _digits(value: str, *, label: str, low: int, high: int) -> str:
    digits = "".join(value.split())  # as banks print them, in groups
    if not digits:
        raise FieldError(f"Enter the {label}.")
    if not re.fullmatch(f"[0-9]{{{low},{high}}}", digits):  # ASCII digits: not "١٢٣" or "１２３"
        size = f"{low} digits" if low == high else f"{low} to {high} digits"
        raise FieldError(f"The {label} has {size}, nothing else.")
    return digits


def save_account(*, session: Session, actor: Actor, form: AccountForm) -> Account:
    """A practitioner sets the account their payouts go to, with their current password; they
    are told of the change, in the app and by e-mail (if it was not them, someone has their
    password)."""
    if actor.role != Role.PRACTITIONER:
        raise PermissionDenied("Practitioners give their own bank account.")
    practitioner_id = _practitioner_of(session, actor, None)
    problems: dict[str, str] = {}
    check = validation.collect
    bank = check(
        problems, "bank_name", lambda: validation.text(form.bank_name, label="Bank", max_length=60, one_line=True)
    )
    holder = check(
        problems,
        "account_holder",
        lambda: validation.person_name(form.account_holder, label="Account holder", max_length=100),
    )
    number = check(
        problems, "account_number", lambda: _digits(form.account_number, label="account number", low=6, high=16)
    )
    branch = check(problems, "branch_code", lambda: _digits(form.branch_code, label="branch code", low=6, high=6))
    if problems:
        raise InvalidInput(problems)
    assert bank and holder and number and branch
    user = session.get(User, actor.id)
    assert user is not None
    accounts.confirm_password(
        session=session, user=user, password=form.password, field="password", doing="changing the bank account"
    )
    row = session.get(PayoutAccount, practitioner_id, with_for_update=True)
    before = None if row is None else {"bank": row.bank_name, "account": f"…{row.account_number[-4:]}"}
    if row is None:
        row = PayoutAccount(practitioner_id=practitioner_id)
        session.add(row)
    row.bank_name, row.account_holder, row.account_number, row.branch_code = bank, holder, number, branch
    session.flush()
    audit.record(
        session=session,
        actor_id=actor.id,
        action="payout_account.update",
        target_type="practitioner",
        target_id=practitioner_id,
        before=before,
        after={"bank": bank, "account": f"…{number[-4:]}"},
    )
    notifications.notify(
        session=session,
        item=notifications.Item(
            actor.id,
            "payout_account",
            "Payout account changed",
            f"Your payouts now go to {bank} account ending {number[-4:]}. If you did not change it, "
            "change your password and tell Avenrae at once.",
        ),
    )
    saved = _account(session, practitioner_id)
    assert saved is not None
    return saved


def _staff_only(actor: Actor) -> None:
    if not actor.is_operator:
        raise PermissionDenied("Only staff pay out.")


@dataclass(frozen=True)
class Checked:
    amount: Decimal
    account: Account
    earned_before: datetime


def check(
    *,
    session: Session,
    actor: Actor,
    practitioner_id: uuid.UUID,
    amount: Decimal | str | float,
    now: datetime | None = None,
) -> Checked:
    """What `prepare` would refuse, refused now and nothing written (staff confirm only a
    payout that will be prepared); otherwise the payout as it will be prepared."""
    _staff_only(actor)
    amount = validation.amount_field(amount)
    found = summary(session=session, actor=actor, practitioner_id=practitioner_id, now=now)
    if found.prepared is not None:
        raise Conflict(
            f"A payout of R{found.prepared.amount:,.2f} is already being prepared (by {found.prepared.prepared_by}): "
            "record it paid or cancel it first."
        )
    if found.account is None:
        raise ServiceError("This practitioner has not given a bank account yet: they add it under Earnings.")
    if amount <= 0:
        raise InvalidInput({"amount": "A payout is more than R0.00."})
    if amount > found.available:
        ready = f"R{max(found.available, Decimal('0.00')):,.2f}"
        raise InvalidInput({"amount": f"Only {ready} is ready to pay out; nothing was set aside."})
    return Checked(amount, found.account, found.earned_before)


def prepare(
    *,
    session: Session,
    actor: Actor,
    practitioner_id: uuid.UUID,
    amount: Decimal | str | float,
    account_ending: str,
    now: datetime | None = None,
) -> Payout:
    """Set a payout aside before the transfer is made: at most what is available, to the
    account staff were shown (`account_ending`; refused if it changed since), and the only one
    in preparation for this practitioner, so no one else pays the same earnings."""
    _staff_only(actor)
    db.lock_until_commit(session, f"avenrae.payouts:{practitioner_id}")
    checked = check(session=session, actor=actor, practitioner_id=practitioner_id, amount=amount, now=now)
    if checked.account.ending != account_ending:
        raise Conflict(
            f"The bank account changed while you were looking (it now ends {checked.account.ending}): "
            "check it with the practitioner, then prepare the payout again."
        )
    payout = Payout(
        practitioner_id=practitioner_id,
        amount=checked.amount,
        status="prepared",
        bank_name=checked.account.bank_name,
        account_number_end=checked.account.ending,
        earned_before=checked.earned_before,
        prepared_by_id=actor.id,
    )
    session.add(payout)
    session.flush()
    audit.record(
        session=session,
        actor_id=actor.id,
        action="payout.prepare",
        target_type="practitioner",
        target_id=practitioner_id,
        after={
            "payout": str(payout.id),
            "amount": str(checked.amount),
            "account": f"{checked.account.bank_name} …{checked.account.ending}",
        },
    )
    return payout


def _prepared(session: Session, payout_id: uuid.UUID) -> Payout:
    payout = session.get(Payout, payout_id, with_for_update=True, populate_existing=True)
    if payout is None:
        raise NotFound("No such payout.")
    if payout.status != "prepared":
        raise Conflict(f"This payout was already {payout.status}; nothing was changed.")
    return payout


def mark_paid(
    *, session: Session, actor: Actor, payout_id: uuid.UUID, reference: str, now: datetime | None = None
) -> Payout:
    """The transfer of a prepared payout was made: record it with the bank's reference (one
    payout per reference), and tell the practitioner."""
    _staff_only(actor)
    try:
        reference = validation.reference(reference)
    except FieldError as problem:
        raise InvalidInput({"reference": str(problem)}) from None
    if not reference:
        raise InvalidInput({"reference": "Enter the reference of the transfer, as on the bank statement."})
    payout = _prepared(session, payout_id)
    taken = session.scalar(
        select(Payout.paid_at).where(
            Payout.practitioner_id == payout.practitioner_id,
            Payout.status == "paid",
            func.lower(Payout.reference) == reference.lower(),
        )
    )
    if taken is not None:
        raise InvalidInput({"reference": "A payout with this reference is already recorded: is it the same transfer?"})
    payout.status, payout.reference, payout.paid_by_id = "paid", reference, actor.id
    payout.paid_at = now or datetime.now(UTC)
    session.flush()
    audit.record(
        session=session,
        actor_id=actor.id,
        action="payout.paid",
        target_type="practitioner",
        target_id=payout.practitioner_id,
        after={"payout": str(payout.id), "amount": str(payout.amount), "reference": reference},
    )
    user_id = session.scalar(select(Practitioner.user_id).where(Practitioner.id == payout.practitioner_id))
    assert user_id is not None
    notifications.notify(
        session=session,
        item=notifications.Item(
            user_id,
            "payout",
            "Payout sent",
            f"R{payout.amount:,.2f} was paid into your {payout.bank_name} account ending {payout.account_number_end} "
            f"(reference {reference}).",
        ),
    )
    return payout


def cancel(*, session: Session, actor: Actor, payout_id: uuid.UUID, now: datetime | None = None) -> Payout:
    """A prepared payout will not be made (nothing was transferred): its amount is available again."""
    _staff_only(actor)
    payout = _prepared(session, payout_id)
    payout.status, payout.cancelled_at = "cancelled", now or datetime.now(UTC)
    session.flush()
    audit.record(
        session=session,
        actor_id=actor.id,
        action="payout.cancel",
        target_type="practitioner",
        target_id=payout.practitioner_id,
        after={"payout": str(payout.id), "amount": str(payout.amount)},
    )
    return payout
