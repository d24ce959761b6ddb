"""Paying practitioners what they earned: the bank account they give, what is ready to pay
out, and the payouts staff record.

A practitioner earns their share (`ledger.fee_split`) of the money kept for a session, and
it is ready to pay out once the session ended AVENRAE_PAYOUT_HOLD_DAYS ago (time for a
client to say the practitioner did not come) and nothing is still owed back on the booking.
What is available is that, less everything paid out before; a refund made after a payout
lowers the next one. Staff pay by bank transfer outside the platform and record it here
with the bank's reference, never more than is available, one practitioner at a time. A
change of bank account is told to the practitioner (a changed account is how payouts are
stolen) and audited with the number cut to its last four digits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from avenrae import db
from avenrae.config import get_settings
from avenrae.models import Payout, PayoutAccount, Practitioner, Role
from avenrae.services import audit, ledger, notifications, validation
from avenrae.services.bookings import Actor
from avenrae.services.errors import InvalidInput, NotFound, PermissionDenied, ServiceError
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


@dataclass(frozen=True)
class AccountForm:
    bank_name: str
    account_holder: str
    account_number: str
    branch_code: str


@dataclass(frozen=True)
class Account:
    bank_name: str
    account_holder: str
    account_number: str
    branch_code: str

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
class Summary:
    earned_before: datetime  # sessions that ended before this count
    ready: Decimal  # earned from them, where nothing is owed back
    held: Decimal  # earned from bookings with a refund owed or on its way
    paid_out: Decimal
    account: Account | None
    history: list[PayoutRow]

    @property
    def available(self) -> Decimal:
        """What may be paid out now (below zero: refunds after the last payout, taken from the next)."""
        return self.ready - self.paid_out


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
    row = session.get(PayoutAccount, practitioner_id)
    if row is None:
        return None
    return Account(row.bank_name, row.account_holder, row.account_number, row.branch_code)


def summary(
    *, session: Session, actor: Actor, practitioner_id: uuid.UUID | None = None, now: datetime | None = None
) -> Summary:
    """Where a practitioner's payouts stand: ready, held, paid out, the account, the last payouts."""
    practitioner_id = _practitioner_of(session, actor, practitioner_id)
    before = (now or datetime.now(UTC)) - timedelta(days=get_settings().payout_hold_days)
    earned = ledger.payable(session, practitioner_id, before)
    paid_out = session.execute(
        select(func.coalesce(func.sum(Payout.amount), 0)).where(Payout.practitioner_id == practitioner_id)
    ).scalar_one()
    history = session.execute(
        select(Payout.created_at, Payout.amount, Payout.reference, Payout.bank_name, Payout.account_number_end)
        .where(Payout.practitioner_id == practitioner_id)
        .order_by(Payout.created_at.desc())
        .limit(HISTORY)
    ).all()
    return Summary(
        earned_before=before,
        ready=earned.ready,
        held=earned.held,
        paid_out=Decimal(paid_out),
        account=_account(session, practitioner_id),
        history=[PayoutRow(*row) for row in history],
    )


def _digits(value: str, *, field: str, label: str, low: int, high: int) -> str:
    digits = "".join(value.split())  # as banks print them, in groups
    if not digits:
        raise InvalidInput({field: f"Enter the {label}."})
    if not digits.isdigit() or not low <= len(digits) <= high:
        size = f"{low} digits" if low == high else f"{low} to {high} digits"
        raise InvalidInput({field: f"The {label} has {size}, nothing else."})
    return digits


def save_account(*, session: Session, actor: Actor, form: AccountForm) -> Account:
    """A practitioner sets the account their payouts go to; they are told of the change, in
    the app and by e-mail (if it was not them, someone has their password)."""
    if actor.role != Role.PRACTITIONER:
        raise PermissionDenied("Practitioners give their own bank account.")
    practitioner_id = _practitioner_of(session, actor, None)
    problems: dict[str, str] = {}

    def check(field: str, make):
        try:
            return make()
        except FieldError as problem:
            problems[field] = str(problem)
        except InvalidInput as problem:
            problems.update(problem.problems)
        return ""

    bank = check("bank_name", lambda: validation.text(form.bank_name, label="Bank", max_length=60, one_line=True))
    holder = check(
        "account_holder", lambda: validation.person_name(form.account_holder, label="Account holder", max_length=100)
    )
    number = check(
        "account_number",
        lambda: _digits(form.account_number, field="account_number", label="account number", low=6, high=16),
    )
    branch = check(
        "branch_code", lambda: _digits(form.branch_code, field="branch_code", label="branch code", low=6, high=6)
    )
    if problems:
        raise InvalidInput(problems)
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
    return Account(bank, holder, number, branch)


@dataclass(frozen=True)
class Checked:
    amount: Decimal
    reference: str
    account: Account
    earned_before: datetime


def check(
    *,
    session: Session,
    actor: Actor,
    practitioner_id: uuid.UUID,
    amount: Decimal | str | float,
    reference: str,
    now: datetime | None = None,
) -> Checked:
    """What `record` would refuse, refused now and nothing written (staff confirm only a
    payout that will be recorded); otherwise the payout as it will be recorded."""
    if not actor.is_operator:
        raise PermissionDenied("Only staff record payouts.")
    amount = validation.amount_field(amount)
    try:
        reference = validation.reference(reference)
    except FieldError as problem:
        raise InvalidInput({"reference": str(problem)}) from None
    if not reference:
        raise InvalidInput({"reference": "Enter the reference of the transfer, as on the bank statement."})
    found = summary(session=session, actor=actor, practitioner_id=practitioner_id, now=now)
    if found.account is None:
        raise ServiceError("This practitioner has not given a bank account yet: they add it under Earnings.")
    if amount <= 0:
        raise InvalidInput({"amount": "A payout is more than R0.00."})
    if amount > found.available:
        ready = f"R{max(found.available, Decimal('0.00')):,.2f}"
        raise InvalidInput({"amount": f"Only {ready} is ready to pay out; nothing was recorded."})
    return Checked(amount, reference, found.account, found.earned_before)


def record(
    *,
    session: Session,
    actor: Actor,
    practitioner_id: uuid.UUID,
    amount: Decimal | str | float,
    reference: str,
    now: datetime | None = None,
) -> Payout:
    """Staff record a payout made by bank transfer: at most what is available, to the account
    on file, with the bank's reference. The practitioner is told."""
    if not actor.is_operator:
        raise PermissionDenied("Only staff record payouts.")
    # One payout per practitioner at a time: two staff paying the same earnings pay once.
    db.lock_until_commit(session, f"avenrae.payouts:{practitioner_id}")
    checked = check(
        session=session, actor=actor, practitioner_id=practitioner_id, amount=amount, reference=reference, now=now
    )
    amount, reference, account = checked.amount, checked.reference, checked.account
    payout = Payout(
        practitioner_id=practitioner_id,
        amount=amount,
        reference=reference,
        bank_name=account.bank_name,
        account_number_end=account.ending,
        earned_before=checked.earned_before,
        recorded_by_id=actor.id,
    )
    session.add(payout)
    session.flush()
    audit.record(
        session=session,
        actor_id=actor.id,
        action="payout.record",
        target_type="practitioner",
        target_id=practitioner_id,
        after={
            "amount": str(amount),
            "reference": reference,
            "account": f"{account.bank_name} …{account.ending}",
        },
    )
    user_id = session.scalar(select(Practitioner.user_id).where(Practitioner.id == practitioner_id))
    assert user_id is not None
    notifications.notify(
        session=session,
        item=notifications.Item(
            user_id,
            "payout",
            "Payout sent",
            f"R{amount:,.2f} was paid into your {account.bank_name} account ending {account.ending} "
            f"(reference {reference}).",
        ),
    )
    return payout
