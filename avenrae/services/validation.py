"""Field checks shared by the forms of every capability. Each returns the clean value or raises."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from email_validator import EmailNotValidError, validate_email

from avenrae.services.errors import InvalidInput

T = TypeVar("T")


class FieldError(ValueError):
    """A single field is wrong; the message is for the user."""


# What breaks a line: a name or a reference shown inside a sentence must not start a paragraph.
LINE_BREAKS = "\n\t\u2028\u2029"


def collect(
    problems: dict[str, str], name: str, check: Callable[[], T], also: tuple[type[Exception], ...] = ()
) -> T | None:
    """`check()`, or None with its FieldError (or an error of the kinds in `also`) kept under
    `name` in `problems`: a form's fields are all checked, and every problem said at once."""
    kinds: tuple[type[Exception], ...] = (FieldError, *also)
    try:
        return check()
    except kinds as problem:
        problems[name] = str(problem)
    return None


def text(value: str | None, *, label: str, max_length: int, required: bool = True, one_line: bool = False) -> str:
    """Trimmed text without control characters (nor line breaks or tabs when `one_line`).
    Stored as typed: escaping is the display's job."""
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            raise FieldError(f"{label} is required.")
        return ""
    if len(cleaned) > max_length:
        raise FieldError(
            f"{label} is {len(cleaned):,} characters; the most is {max_length:,}, so cut {len(cleaned) - max_length:,}."
        )
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t" for ch in cleaned):  # Cs: half an emoji
        raise FieldError(f"{label} contains characters that cannot be shown.")
    if one_line and any(ch in LINE_BREAKS for ch in cleaned):
        raise FieldError(f"{label} must be on one line.")
    return cleaned


# What bank statements and receipts use besides letters and digits.
REFERENCE_MARKS = " -/.#:()&',+"


def reference(value: str | None, *, label: str = "The reference", max_length: int = 100) -> str:
    """A payment's or payout's reference as typed from a bank statement or receipt, trimmed."""
    cleaned = (value or "").strip()
    if len(cleaned) > max_length:
        raise FieldError(f"Keep {label.lower()} to {max_length} characters (cut {len(cleaned) - max_length:,}).")
    if any(not (ch.isalnum() or ch in REFERENCE_MARKS) for ch in cleaned):
        marks = " ".join(REFERENCE_MARKS.strip())
        raise FieldError(
            f"{label} may hold letters, digits, spaces and {marks} only, as on a bank statement or receipt."
        )
    return cleaned


def person_name(value: str | None, *, label: str, max_length: int = 100) -> str:
    """A name as people write it, in any script, with at least one letter (not only emoji or symbols)."""
    cleaned = text(value, label=label, max_length=max_length, one_line=True)
    if not any(unicodedata.category(ch).startswith("L") for ch in cleaned):
        raise FieldError(f"{label} needs at least one letter.")
    if "<" in cleaned or ">" in cleaned:
        raise FieldError(f"{label} cannot contain < or >.")
    return cleaned


def email(value: str | None) -> str:
    """A syntactically valid address; the domain is lower-cased, the rest kept as typed but
    for look-alike forms of letters and digits (a full-width ｌ is an l: NFKC), so an address
    that reads as a taken one is that one."""
    raw = unicodedata.normalize("NFKC", value or "").strip()
    if not raw:
        raise FieldError("Email is required.")
    if any(character.isspace() for character in raw):
        raise FieldError("An email address cannot contain spaces.")
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise FieldError(f"That email address does not look right: {exc}") from None


def local_phone(number: str) -> str:
    """A South African number as stored ("+27821234567") as South Africans write it:
    "082 123 4567". Anything else is shown as it is."""
    digits = re.sub(r"\D", "", number)
    if number.startswith("+27") and len(digits) == 11:
        national = "0" + digits[2:]
    elif len(digits) == 10 and digits.startswith("0") and not number.startswith("+"):
        national = digits
    else:
        return number
    return f"{national[:3]} {national[3:6]} {national[6:]}"


# South African mobile numbers after the leading 0: 06x, 07x and 081-084 (01x-05x are landlines,
# 080 toll-free, 086 share-call, 087 internet telephony: nobody answers them on the way to a session).
MOBILE_STARTS = ("6", "7", "81", "82", "83", "84")


def south_african_phone(value: str | None, *, required: bool = False) -> str | None:
    """'082 123 4567', '(082) 123-4567', '27821234567' or '+27 (0)82 123 4567' -> '+27821234567'."""
    raw = (value or "").strip()
    if not raw:
        if required:
            raise FieldError("Mobile number is required.")
        return None
    if re.search(r"[^\d\s()+\-.]", raw):
        raise FieldError("A phone number may only hold digits, spaces, brackets, dashes and a leading +.")
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+") and not digits.startswith("27"):
        raise FieldError("Only South African numbers (+27) are accepted.")
    if digits.startswith("27"):
        national = digits[2:]
        national = national[1:] if national.startswith("0") else national  # +27 (0)82 ...
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        raise FieldError("Enter the number as 082 123 4567 or +27 82 123 4567.")
    if len(national) != 9 or national[0] not in "12345678":
        raise FieldError("A South African number has 10 digits, for example 082 123 4567.")
    if not national.startswith(MOBILE_STARTS):
        raise FieldError(
            f"0{national[:2]} is a landline or service number: enter a mobile number, for example 082 123 4567."
        )
    return "+27" + national


def whole_number(value: object, *, label: str, minimum: int, maximum: int) -> int:
    if value is None or not str(value).strip():
        raise FieldError(f"{label} is required.")
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise FieldError(f"{label} must be a whole number.") from None
    if not minimum <= number <= maximum:
        raise FieldError(f"{label} must be between {minimum:,} and {maximum:,}.")
    return number


# Far above any payment here, and well inside what Decimal keeps exact to the cent.
MONEY_CEILING = Decimal("1000000000000")


def rand(value: Decimal | float | str, *, label: str = "the amount") -> Decimal:
    """An amount of money to the cent. Refused in words when it is no amount at all: text,
    infinite, or beyond any payment (1e30 typed in a number field)."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise FieldError(f"Enter {label} in rand, for example 450.00.") from None
    if not amount.is_finite() or abs(amount) >= MONEY_CEILING:
        raise FieldError(f"Enter {label} in rand, below R{MONEY_CEILING:,.0f}.")
    return amount.quantize(Decimal("0.01"))


def amount_field(value: Decimal | float | str) -> Decimal:
    """`rand` for a form's or a call's one amount: InvalidInput naming the field `amount`."""
    try:
        return rand(value)
    except FieldError as error:
        raise InvalidInput({"amount": str(error)}) from None


def like_escaped(word: str) -> str:
    """`word` with LIKE's wildcards made literal (PostgreSQL's default escape is backslash)."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains(word: str) -> str:
    """A LIKE pattern matching text that contains `word` as typed."""
    return f"%{like_escaped(word)}%"
