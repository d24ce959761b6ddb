"""Accounts: sign-up, login with lockout, passwords, profiles and user administration.

Refusals that must leave a trace (a failed login, a reused refresh token) are written
in a transaction of their own, so they are kept whatever the caller's transaction does.
Logins for one email are taken one at a time (a transaction-level advisory lock), so
parallel guesses cannot outrun the lockout.
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NoReturn

import bcrypt
from sqlalchemy import ColumnElement, Select, bindparam, func, insert, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn  # type: ignore[import-untyped]

from avenrae import db, geo
from avenrae.config import get_settings
from avenrae.db import independent_transaction
from avenrae.models import (
    EMPLOYEES,
    MEMBERS,
    Client,
    LoginAttempt,
    MeetingType,
    Practitioner,
    Role,
    Specialization,
    User,
    VerificationStatus,
)
from avenrae.services import audit, counting, ratelimit, screening, tokens, validation
from avenrae.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ServiceError
from avenrae.services.validation import FieldError, south_african_phone, text, whole_number
from avenrae.services.validation import email as valid_email

BCRYPT_ROUNDS = 12
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 1024
RULES_FOR_PASSWORDS = (
    f"At least {PASSWORD_MIN_LENGTH} characters, mixing two of: lower-case, upper-case, digits, symbols; "
    "not a common password."
)
PASSWORD_GUESS_CHECKED = 72  # characters judged for guessability (the most zxcvbn takes)
# The groups from models, in the order the sign-up and Users forms offer them.
SELF_SERVICE_ROLES = tuple(role for role in Role if role in MEMBERS)
STAFF_ROLES = tuple(role for role in Role if role in EMPLOYEES)
MAX_RATE = Decimal("100000.00")
# The least a session can cost: a booking is paid, and its 15% fee must be worth a cent.
MIN_RATE = Decimal("50.00")
DEACTIVATION_REASON_MAX_LENGTH = 500


# --- passwords ---------------------------------------------------------------------


def _prehash(password: str) -> bytes:
    # bcrypt reads only the first 72 bytes of its input. Hashing first makes every
    # character of a long passphrase count instead of silently dropping the rest.
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode())
    except ValueError:  # not a bcrypt hash
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A real cost-12 hash to check against when the email is unknown, so timing says nothing."""
    return hash_password(uuid.uuid4().hex)


def check_password(password: str, *, email: str, names: Sequence[str] = ()) -> str:
    """The password when it meets the rules; FieldError saying which rule otherwise. `names`
    (the person's first and last name) count as guessable, as the email does."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise FieldError(f"Password must be at least {PASSWORD_MIN_LENGTH} characters.")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise FieldError(f"Password must be at most {PASSWORD_MAX_LENGTH} characters.")
    lowered = password.strip().casefold()
    address = email.strip().casefold()
    if lowered in {address, address.split("@")[0]}:
        raise FieldError("Password must not be your email address.")
    classes = [
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    if sum(classes) < 2:
        raise FieldError("Password must mix at least two of: lower-case, upper-case, digits, symbols.")
    # Symbols added at either end are the first thing a guesser tries ("Lindiwe2026!!"), so
    # the password is judged without them too; so are the person's names, alone and together.
    checked = password[:PASSWORD_GUESS_CHECKED]
    own_names = [part for name in names for part in re.split(r"[\s'-]+", name.casefold()) if part]
    inputs = [address, *re.split(r"[@.]", address), *own_names, "".join(own_names)]
    bare = re.sub(f"^[{re.escape(string.punctuation)}]{{1,2}}|[{re.escape(string.punctuation)}]{{1,2}}$", "", checked)
    guessed = min(
        (zxcvbn(candidate, user_inputs=inputs) for candidate in {checked, bare}), key=lambda found: found["score"]
    )
    if guessed["score"] <= 1:  # guessed within about a million tries: a common password, or close to one
        hint = guessed["feedback"]["warning"] or "It is easy to guess."
        raise FieldError(f"Choose a password that is harder to guess. {hint} A few unrelated words work well.")
    return password


# --- reading users -----------------------------------------------------------------


@dataclass(frozen=True)
class CurrentUser:
    """Who is logged in, as pages need it."""

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    role: Role
    must_change_password: bool
    phone: str | None = None
    practitioner_id: uuid.UUID | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def email_key(address: str) -> str:
    """The case-insensitive form emails are compared by (matches uq_users_email_lower)."""
    return address.strip().lower()


def find_by_email(session: Session, address: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email_key(address)))


def get_current(*, session: Session, user_id: uuid.UUID, family_id: uuid.UUID | None = None) -> CurrentUser | None:
    """The user behind a session, or None when they may no longer use the platform, or when
    the session (its token family) was ended: logged out, a password change, a deactivation."""
    found = (
        session.connection()
        .execute(
            _current_query(with_session=family_id is not None),
            {"user_id": user_id, "family_id": family_id, "now": datetime.now(UTC)},
        )
        .first()
    )
    if found is None or not tokens.may_log_in(found) or not found.session_stands:
        return None
    return CurrentUser(
        id=found.id,
        email=found.email,
        first_name=found.first_name,
        last_name=found.last_name,
        role=found.role,
        must_change_password=found.must_change_password,
        phone=found.phone,
        practitioner_id=found.practitioner_id,
    )


@lru_cache(maxsize=2)
def _current_query(*, with_session: bool) -> Select:
    """The one statement of plain columns behind `get_current`, built once: every API request
    asks it, and building it anew cost more than running it."""
    live = tokens.family_live(bindparam("family_id"), bindparam("now")) if with_session else true()
    return (
        select(*_CURRENT_COLUMNS, Practitioner.id.label("practitioner_id"), live.label("session_stands"))
        .outerjoin(Practitioner, Practitioner.user_id == User.id)
        .where(User.id == bindparam("user_id"))
    )


_CURRENT_COLUMNS = (
    User.id,
    User.email,
    User.first_name,
    User.last_name,
    User.role,
    User.must_change_password,
    User.phone,
    User.is_active,
    User.deleted_at,
    User.is_demo,
)


def preferred_place(*, session: Session, user_id: uuid.UUID) -> str | None:
    """Where a user usually searches from: a client's preferred place, a practitioner's town."""
    client_place = session.scalar(select(Client.preferred_place).where(Client.user_id == user_id))
    if client_place:
        return client_place
    row = session.execute(
        select(Practitioner.city, Practitioner.province).where(Practitioner.user_id == user_id)
    ).first()
    return f"{row.city}, {row.province}" if row and row.city else None


@dataclass(frozen=True)
class HomePlace:
    label: str  # as the place list names it ("Umlazi, KwaZulu-Natal"): where search opens
    said: str  # how it was found, to tell the client ("Durban, KwaZulu-Natal (approximate: ...)")


def set_home_place(*, session: Session, user_id: uuid.UUID, place: str | None) -> HomePlace | None:
    """Where a client usually searches from, as typed ("Jozi", "Umlazi", "4066", "Soweto,
    Johannesburg"), or None to forget it: Find practitioners opens there."""
    client = session.scalar(select(Client).where(Client.user_id == user_id))
    if client is None:
        raise PermissionDenied("Only clients keep a home place.")
    if place is None or not place.strip():
        client.preferred_place, client.preferred_location = None, None
        session.flush()
        return None
    try:
        found = geo.resolve(text(place, label="Your place", max_length=120), session=session)
    except (FieldError, geo.PlaceNotFound) as exc:
        raise InvalidInput({"place": str(exc)}) from None
    # Search opens on a place of the place list; an online answer names one of its own.
    listed = {place.label for place in geo.places()}
    place_found = found.place if found.place.label in listed else geo.place_near(found.latitude, found.longitude)
    if place_found is None:
        raise InvalidInput({"place": "Type the town, suburb or township nearest to you."})
    client.preferred_place = place_found.label
    client.preferred_location = geo.point(place_found.latitude, place_found.longitude)
    session.flush()
    return HomePlace(place_found.label, found.description if place_found is found.place else place_found.label)


@dataclass(frozen=True)
class Person:
    """Someone to choose in a picker: a client to book for, a practitioner to manage."""

    user_id: uuid.UUID
    name: str
    email: str
    practitioner_id: uuid.UUID | None
    place: str | None
    specialization: Specialization | None

    @property
    def label(self) -> str:
        """For staff: enough to tell two people with one name apart."""
        where = f", {self.place}" if self.place else ""
        return f"{self.name} <{self.email}>{where}"

    @property
    def public_label(self) -> str:
        """For clients choosing a practitioner: no e-mail address."""
        kind = f" · {self.specialization.value.capitalize()}" if self.specialization else ""
        return f"{self.name}{kind}" + (f" · {self.place}" if self.place else "")


def find_people(
    *,
    session: Session,
    role: Role,
    query: str = "",
    limit: int = 20,
    bookable_only: bool = False,
    match_email: bool = True,
) -> list[Person]:
    """Active clients or practitioners whose name or email holds every word of `query`
    (`bookable_only`: practitioners clients can book now). With `match_email=False` (a
    client choosing a practitioner, who is never shown e-mail addresses) only names are
    searched, so the picker cannot tell anyone whose address belongs to a practitioner."""
    if role not in SELF_SERVICE_ROLES:
        raise InvalidInput({"role": "Pick clients or practitioners."})
    conditions = [User.role == role, User.is_active.is_(True), User.deleted_at.is_(None)]
    if bookable_only and not get_settings().allow_unverified_bookings:
        conditions.append(Practitioner.verification_status == VerificationStatus.VERIFIED)
    for word in query.strip().lower().split()[:5]:
        pattern = validation.contains(word)
        if match_email:
            conditions.append(User.search_text.like(pattern))
        else:
            conditions.append(func.lower(User.first_name + " " + User.last_name).like(pattern))
    rows = session.execute(
        select(
            User.id.label("user_id"),
            (User.first_name + " " + User.last_name).label("name"),
            User.email,
            Practitioner.id.label("practitioner_id"),
            func.coalesce(Practitioner.city, Client.preferred_place).label("place"),
            Practitioner.specialization,
        )
        .outerjoin(Practitioner, Practitioner.user_id == User.id)
        .outerjoin(Client, Client.user_id == User.id)
        .where(*conditions)
        .order_by(User.first_name, User.last_name, User.id)
        .limit(limit)
    ).all()
    return [Person(**row._mapping) for row in rows]


def _get_or_raise(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound("That user does not exist.")
    return user


# --- sign-up -----------------------------------------------------------------------


@dataclass
class SignUp:
    role: Role
    email: str
    password: str
    first_name: str
    last_name: str
    phone: str | None = None
    # Practitioners only:
    specialization: Specialization | None = None
    street_address: str = ""
    place: str = ""
    bio: str = ""
    rate_per_session: Decimal | str | None = None
    session_duration_minutes: int | str = 60
    meeting_types: list[MeetingType] = field(default_factory=lambda: [MeetingType.IN_PERSON, MeetingType.ONLINE])
    # A point clicked on the map (latitude, longitude): the exact place of practice.
    pin: tuple[float, float] | None = None


@dataclass(frozen=True)
class PractitionerDetails:
    specialization: Specialization
    street_address: str
    located: geo.Located
    bio: str
    rate: Decimal
    duration: int
    meeting_types: tuple[MeetingType, ...]

    @property
    def place(self) -> geo.Place:
        return self.located.place

    @property
    def service_address(self) -> str:
        """The street with its town, said once ("12 Florida Road, Morningside, Durban" as typed,
        "37 Main Street, Durban" from a street and a town)."""
        if not self.street_address:
            return self.place.name
        parts = {part.strip().casefold() for part in self.street_address.split(",")}
        if self.place.name.casefold() in parts:
            return self.street_address
        return f"{self.street_address}, {self.place.name}"


def _collect(problems: dict[str, str], name: str, check):
    return validation.collect(problems, name, check, also=(geo.PlaceNotFound, geo.PinOutside))


def _public_bio(value: str | None) -> str:
    """What clients read under the practitioner's name: no contact details (clients book and
    pay through Avenrae), profanity or promised cures, as for a public reply to a review."""
    bio = text(value, label="About you", max_length=4000, required=False)
    refused = screening.refused_in_public(bio, field="bio", label="About you")
    if refused:
        raise FieldError(refused)
    return bio


def _money(value: Decimal | str | None, label: str) -> Decimal:
    try:
        amount = Decimal(str(value).replace("R", "").replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise FieldError(f"{label} must be an amount in rand, for example 450 or 450.00.") from None
    if not amount.is_finite() or amount < MIN_RATE or amount > MAX_RATE:
        raise FieldError(f"{label} must be between R{MIN_RATE:,.0f} and R{MAX_RATE:,.0f}.")
    if amount != amount.quantize(Decimal("0.01")):
        raise FieldError(f"{label} can have at most two decimals (cents).")
    return amount.quantize(Decimal("0.01"))


def _locate(session: Session, place_text: str, pin: tuple[float, float] | None, street: str = "") -> geo.Located:
    """Where a practitioner works: their map pin if they set one, else the place they typed,
    made finer by their street address when that names a place near it ("12 Mangosuthu
    Highway, Umlazi" with the town "Durban" is Umlazi, not the centre of Durban). A pin far
    from the town they typed is refused: one of the two is a mistake, and only they know which."""
    if pin is None:
        found = geo.resolve(text(place_text, label="Town or city", max_length=120), session=session)
        return _finer(session, found, f"{street}, {place_text}") if street else found
    pinned = geo.pin(*pin)
    typed = place_text.strip()
    if typed:  # their own name for the place, when it is where the pin is
        try:
            town = geo.locate(typed).place
        except geo.PlaceNotFound:
            town = None
        if town is None:
            return pinned
        away = geo.km(town.latitude, town.longitude, *pin)
        if away > geo.PIN_MAX_KM_FROM_A_PLACE:  # a stray tap on a map opened on the whole country
            raise FieldError(
                f"Your map pin is {away:,.0f} km from {town.label}. Move the pin to where you see clients,"
                " or remove it to be placed by the town you typed."
            )
        return replace(pinned, place=town)
    return pinned


def _finer(session: Session, town: geo.Located, address: str) -> geo.Located:
    try:
        found = geo.resolve(address, session=session)
    except geo.PlaceNotFound:
        return town
    near = geo.km(found.latitude, found.longitude, town.latitude, town.longitude) <= geo.PIN_MAX_KM_FROM_A_PLACE
    return found if near and not found.is_approximate and found.place != town.place else town


def _practitioner_details(session: Session, form, problems: dict[str, str]) -> PractitionerDetails | None:
    if form.specialization is None:
        problems["specialization"] = "Choose a specialization."
    street = _collect(
        problems,
        "street_address",
        lambda: text(form.street_address, label="Street address", max_length=200, required=False, one_line=True),
    )
    located = _collect(problems, "place", lambda: _locate(session, form.place, form.pin, street or ""))
    bio = _collect(problems, "bio", lambda: _public_bio(form.bio))
    rate = _collect(problems, "rate_per_session", lambda: _money(form.rate_per_session, "Rate per session"))
    duration = _collect(
        problems,
        "session_duration_minutes",
        lambda: whole_number(form.session_duration_minutes, label="Session length (minutes)", minimum=15, maximum=480),
    )
    meeting_types = tuple(dict.fromkeys(MeetingType(m) for m in form.meeting_types))
    if not meeting_types:
        problems["meeting_types"] = "Offer at least one way to meet: in person or online."
    if problems:
        return None
    return PractitionerDetails(form.specialization, street, located, bio, rate, duration, meeting_types)


EMAIL_IN_USE = "An account with that email already exists. Log in instead, or use another email."


def _sign_up_checked(session: Session, form: SignUp) -> tuple[dict[str, str], tuple[Any, ...]]:
    """Every problem with a sign-up, in the order the form asks (so the list reads down the
    form), and the checked values."""
    problems: dict[str, str] = {}
    first = _collect(problems, "first_name", lambda: validation.person_name(form.first_name, label="First name"))
    last = _collect(problems, "last_name", lambda: validation.person_name(form.last_name, label="Last name"))
    address = _collect(problems, "email", lambda: valid_email(form.email))
    if address and find_by_email(session, address) is not None:
        problems["email"] = EMAIL_IN_USE
    phone = _collect(
        problems, "phone", lambda: south_african_phone(form.phone, required=form.role == Role.PRACTITIONER)
    )
    _collect(
        problems,
        "password",
        lambda: check_password(
            form.password, email=address or form.email or "", names=(form.first_name or "", form.last_name or "")
        ),
    )
    details = _practitioner_details(session, form, problems) if form.role == Role.PRACTITIONER else None
    return problems, (first, last, address, phone, details)


def sign_up_problems(*, session: Session, form: SignUp, ip_address: str | None = None) -> dict[str, str]:
    """What a sign-up would be refused for, the email already in use too, with nothing
    written (for a form that must first ask something else). Counted against the address
    as a sign-up is, so it cannot be used to test emails faster than signing up."""
    if ip_address:
        ratelimit.hit(session, signup_limit(), ip_address)
    return _sign_up_checked(session, form)[0]


def sign_up(*, session: Session, form: SignUp, ip_address: str | None = None) -> User:
    """Create a client or practitioner with their profile; InvalidInput or Conflict otherwise
    (RateLimited when one address signs up too often)."""
    if form.role not in SELF_SERVICE_ROLES:
        raise PermissionDenied("Only clients and practitioners can sign up themselves.")
    if ip_address:
        ratelimit.hit(session, signup_limit(), ip_address)
    problems, (first, last, address, phone, details) = _sign_up_checked(session, form)
    if problems == {"email": EMAIL_IN_USE}:  # the only problem: a clash, not a mistake
        raise Conflict(EMAIL_IN_USE)
    if problems:
        raise InvalidInput(problems)

    user = User(
        email=address,
        password_hash=hash_password(form.password),
        role=form.role,
        first_name=first,
        last_name=last,
        phone=phone,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # someone signed up with the same email a moment ago
        raise Conflict(EMAIL_IN_USE) from exc
    if details is None:
        session.add(Client(user_id=user.id))
    else:
        session.add(_new_practitioner(user, details))
    session.flush()
    return user


def _new_practitioner(user: User, details: PractitionerDetails) -> Practitioner:
    return Practitioner(
        user=user,
        specialization=details.specialization,
        bio=details.bio,
        location=geo.point_wkt(details.located.latitude, details.located.longitude),
        location_precision=details.located.precision.value,
        location_note=details.located.description,
        service_address=details.service_address,
        city=details.place.name,
        province=details.place.province,
        rate_per_session=details.rate,
        session_duration_minutes=details.duration,
        offers_in_person=MeetingType.IN_PERSON in details.meeting_types,
        offers_online=MeetingType.ONLINE in details.meeting_types,
    )


# --- login -------------------------------------------------------------------------


class LoginRefused(ServiceError):
    """The login did not succeed. The attempt is recorded: commit the session anyway."""


class InvalidCredentials(LoginRefused):
    pass


class AccountLocked(LoginRefused):
    def __init__(self, until: datetime, *, doing: str = "logging in with this email"):
        self.until = until
        minutes = max(1, round((until - datetime.now(UTC)).total_seconds() / 60))
        super().__init__(
            f"Too many failed attempts: {doing} is locked for about {minutes} more "
            f"minute{'s' if minutes != 1 else ''}. Try again later or ask an administrator for help."
        )


class AccountDisabled(LoginRefused):
    pass


class TooManyAttempts(LoginRefused):
    def __init__(self, limited: ratelimit.RateLimited):
        super().__init__(str(limited))
        self.retry_after = limited.retry_after


def login_limit() -> ratelimit.Limit:
    return ratelimit.Limit(
        "login-ip",
        get_settings().login_attempts_per_ip,
        timedelta(minutes=15),
        "Too many login attempts from your network.",
    )


def signup_limit() -> ratelimit.Limit:
    return ratelimit.Limit(
        "signup-ip", get_settings().signups_per_ip, timedelta(hours=1), "Too many sign-ups from your network."
    )


WRONG_CREDENTIALS = "That email and password do not match. Check them and try again."
FAILURE_REASONS = ("unknown_email", "bad_password")


@dataclass(frozen=True)
class LoginResult:
    user: CurrentUser
    tokens: tokens.TokenPair


def locked_until(session: Session, address: str, now: datetime) -> datetime | None:
    """When the lock on this email ends, if it is locked now.

    A lock starts at the failure that makes five within fifteen minutes (since the last
    successful login) and lasts fifteen minutes from then.
    """
    settings = get_settings()
    window = timedelta(minutes=settings.lockout_minutes)
    key = email_key(address)
    last_success = session.scalar(
        select(func.max(LoginAttempt.attempted_at)).where(LoginAttempt.email == key, LoginAttempt.succeeded)
    )
    since = now - 2 * window
    if last_success is not None and last_success > since:
        since = last_success
    failures = session.scalars(
        select(LoginAttempt.attempted_at)
        .where(
            LoginAttempt.email == key,
            LoginAttempt.reason.in_(FAILURE_REASONS),
            LoginAttempt.attempted_at > since,
            LoginAttempt.attempted_at <= now,
        )
        .order_by(LoginAttempt.attempted_at)
    ).all()
    needed = settings.lockout_failures
    until = None
    for i in range(needed - 1, len(failures)):
        if failures[i] - failures[i - needed + 1] <= window:
            until = failures[i] + window
    return until if until is not None and until > now else None


def _refused(session: Session, address: str, reason: str, ip: str | None, now: datetime) -> None:
    """Record a refused attempt in a transaction of its own: kept whatever the caller does.
    (No user id: the user row may not be visible outside the caller's transaction.)"""
    with independent_transaction(session) as connection:
        connection.execute(
            insert(LoginAttempt).values(
                email=email_key(address)[:254], succeeded=False, reason=reason, ip_address=ip, attempted_at=now
            )
        )


def login(
    *, session: Session, email: str, password: str, ip_address: str | None = None, now: datetime | None = None
) -> LoginResult:
    """Check the credentials and issue tokens, or raise a LoginRefused (see module doc)."""
    if not email.strip() or not password:
        raise InvalidCredentials("Enter your email and password.")
    if ip_address:
        try:
            ratelimit.hit(session, login_limit(), ip_address, now=now)
        except ratelimit.RateLimited as limited:
            raise TooManyAttempts(limited) from None
    # One login per email at a time, until the caller's transaction ends: the lockout check
    # below always sees the failures recorded before it (the clock is read after waiting).
    db.lock_until_commit(session, f"avenrae.login:{email_key(email)}")
    now = now or datetime.now(UTC)
    lock = locked_until(session, email, now)
    if lock is not None:
        _refused(session, email, "locked", ip_address, now)
        raise AccountLocked(lock)
    user = find_by_email(session, email)
    if user is None:
        verify_password(password, _dummy_hash())  # same cost as a real check
        _refused(session, email, "unknown_email", ip_address, now)
        _raise_after_failure(session, email, now)
    assert user is not None
    if not verify_password(password, user.password_hash):
        _refused(session, email, "bad_password", ip_address, now)
        _raise_after_failure(session, email, now)
    if not tokens.may_log_in(user):
        _refused(session, email, "inactive", ip_address, now)
        if user.is_active and user.deleted_at is None:
            raise AccountDisabled("Demo accounts cannot log in on a production server.")
        raise AccountDisabled("This account is deactivated. Please contact Avenrae support.")
    session.add(
        LoginAttempt(
            email=email_key(email)[:254],
            user_id=user.id,
            succeeded=True,
            reason="ok",
            ip_address=ip_address,
            attempted_at=now,
        )
    )
    user.last_login_at = now
    pair = tokens.issue(session=session, user=user, now=now)
    current = get_current(session=session, user_id=user.id)
    assert current is not None
    return LoginResult(user=current, tokens=pair)


def _raise_after_failure(session: Session, address: str, now: datetime) -> NoReturn:
    lock = locked_until(session, address, now)
    if lock is not None:
        raise AccountLocked(lock)
    raise InvalidCredentials(WRONG_CREDENTIALS)


# --- own account -------------------------------------------------------------------


def confirm_password(*, session: Session, user: User, password: str, field: str, doing: str) -> None:
    """The user proves it is them with their current password before a change that matters
    (the password, where their money goes): InvalidInput on `field` when it is not right.
    A wrong one is a failed login for the account's email: guessing it here (at a browser
    left open, or with a stolen token) locks as guessing at the login does."""
    if not password:
        raise InvalidInput({field: "Enter your current password."})
    db.lock_until_commit(session, f"avenrae.login:{email_key(user.email)}")
    # Read again now that logins, resets and changes of this account wait: one that committed
    # while this waited (a reset from an e-mailed link) must not be undone with the old password.
    session.refresh(user, with_for_update=True)
    now = datetime.now(UTC)
    doing = f"{doing} of this account"
    if (lock := locked_until(session, user.email, now)) is not None:
        raise AccountLocked(lock, doing=doing)
    if not verify_password(password, user.password_hash):
        _refused(session, user.email, "bad_password", None, now)
        if (lock := locked_until(session, user.email, now)) is not None:
            raise AccountLocked(lock, doing=doing)
        raise InvalidInput({field: "Your current password is not right."})


def change_password(*, session: Session, user_id: uuid.UUID, old_password: str, new_password: str) -> None:
    """Change one's own password; signs every other browser out."""
    user = _get_or_raise(session, user_id)
    missing = {
        field: words
        for field, given, words in (
            ("old_password", old_password, "Enter your current password."),
            ("new_password", new_password, "Enter the new password."),
        )
        if not given
    }
    if missing:
        raise InvalidInput(missing)
    confirm_password(
        session=session, user=user, password=old_password, field="old_password", doing="changing the password"
    )
    try:
        check_password(new_password, email=user.email, names=(user.first_name, user.last_name))
    except FieldError as exc:
        raise InvalidInput({"new_password": str(exc)}) from None
    if verify_password(new_password, user.password_hash):
        raise InvalidInput({"new_password": "Choose a password different from the current one."})
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    tokens.revoke_all(session=session, user_id=user.id)
    session.flush()


@dataclass
class ProfileUpdate:
    first_name: str
    last_name: str
    phone: str | None = None


def update_profile(*, session: Session, user_id: uuid.UUID, form: ProfileUpdate) -> User:
    user = _get_or_raise(session, user_id)
    problems: dict[str, str] = {}
    first = _collect(problems, "first_name", lambda: validation.person_name(form.first_name, label="First name"))
    last = _collect(problems, "last_name", lambda: validation.person_name(form.last_name, label="Last name"))
    phone = _collect(
        problems, "phone", lambda: south_african_phone(form.phone, required=user.role == Role.PRACTITIONER)
    )
    if problems:
        raise InvalidInput(problems)
    user.first_name, user.last_name, user.phone = first, last, phone
    session.flush()
    return user


@dataclass
class PractitionerProfileUpdate:
    specialization: Specialization | None
    street_address: str
    place: str
    bio: str
    rate_per_session: Decimal | str | None
    session_duration_minutes: int | str
    meeting_types: list[MeetingType]
    pin: tuple[float, float] | None = None


@dataclass(frozen=True)
class PractitionerProfile:
    specialization: Specialization
    service_address: str
    city: str | None
    province: str | None
    bio: str
    rate_per_session: Decimal
    session_duration_minutes: int
    meeting_types: tuple[MeetingType, ...]
    location_note: str | None = None
    location: tuple[float, float] | None = None
    pin: tuple[float, float] | None = None  # the location, when it is a map pin

    @property
    def street_address(self) -> str:
        """The address without the town the sign-up appended."""
        suffix = f", {self.city}" if self.city else ""
        if suffix and self.service_address.endswith(suffix):
            return self.service_address[: -len(suffix)]
        return "" if self.service_address == self.city else self.service_address


def get_practitioner_profile(*, session: Session, user_id: uuid.UUID) -> PractitionerProfile:
    practitioner = session.scalar(select(Practitioner).where(Practitioner.user_id == user_id))
    if practitioner is None:
        raise NotFound("You do not have a practitioner profile.")
    point = geo.as_geometry(Practitioner.location)
    latitude, longitude = session.execute(
        select(func.ST_Y(point), func.ST_X(point)).where(Practitioner.id == practitioner.id)
    ).one()
    location = (float(latitude), float(longitude))
    return PractitionerProfile(
        specialization=practitioner.specialization,
        service_address=practitioner.service_address,
        city=practitioner.city,
        province=practitioner.province,
        bio=practitioner.bio,
        rate_per_session=practitioner.rate_per_session,
        session_duration_minutes=practitioner.session_duration_minutes,
        meeting_types=tuple(practitioner.meeting_types),
        location_note=practitioner.location_note or _town_label(practitioner),
        location=location,
        pin=location if practitioner.location_precision == geo.Precision.PIN else None,
    )


def _town_label(practitioner: Practitioner) -> str | None:
    return f"{practitioner.city}, {practitioner.province}" if practitioner.city else None


def update_practitioner_profile(
    *, session: Session, user_id: uuid.UUID, form: PractitionerProfileUpdate
) -> Practitioner:
    """Edit what clients see; a changed town is geocoded again, a map pin is taken as it is."""
    practitioner = session.scalar(select(Practitioner).where(Practitioner.user_id == user_id))
    if practitioner is None:
        raise NotFound("You do not have a practitioner profile.")
    problems: dict[str, str] = {}
    details = _practitioner_details(session, form, problems)
    if details is None:
        raise InvalidInput(problems)
    practitioner.specialization = details.specialization
    practitioner.bio = details.bio
    practitioner.rate_per_session = details.rate
    practitioner.session_duration_minutes = details.duration
    practitioner.offers_in_person = MeetingType.IN_PERSON in details.meeting_types
    practitioner.offers_online = MeetingType.ONLINE in details.meeting_types
    practitioner.service_address = details.service_address
    located = details.located
    pinned = geo.Precision.PIN in (located.precision, practitioner.location_precision)
    if pinned or (practitioner.city, practitioner.province) != (located.place.name, located.place.province):
        practitioner.location = geo.point(located.latitude, located.longitude)
        practitioner.city, practitioner.province = located.place.name, located.place.province
    practitioner.location_precision, practitioner.location_note = located.precision.value, located.description
    session.flush()
    return practitioner


# --- administration ----------------------------------------------------------------


def _require_admin(session: Session, actor_id: uuid.UUID) -> User:
    actor = session.get(User, actor_id)
    if actor is None or actor.role != Role.ADMIN or not actor.is_active or actor.deleted_at is not None:
        raise PermissionDenied("Only administrators can manage users.")
    return actor


def _snapshot(user: User) -> dict[str, object]:
    return {
        "email": user.email,
        "role": user.role.value,
        "is_active": user.is_active,
        "must_change_password": user.must_change_password,
    }


@dataclass
class StaffUserCreate:
    role: Role
    email: str
    first_name: str
    last_name: str
    temporary_password: str


def create_staff_user(*, session: Session, actor_id: uuid.UUID | None, form: StaffUserCreate) -> User:
    """An admin (or the command line, with no actor) creates a staff, analyst or admin user.

    The password is temporary: it must be changed at the first login.
    """
    if actor_id is not None:
        _require_admin(session, actor_id)
    problems: dict[str, str] = {}  # in the form's order, so the list reads down the form
    first = _collect(problems, "first_name", lambda: validation.person_name(form.first_name, label="First name"))
    last = _collect(problems, "last_name", lambda: validation.person_name(form.last_name, label="Last name"))
    address = _collect(problems, "email", lambda: valid_email(form.email))
    if form.role not in STAFF_ROLES:
        problems["role"] = "Staff accounts are staff, analyst or admin; clients and practitioners sign up themselves."
    _collect(
        problems,
        "temporary_password",
        lambda: check_password(form.temporary_password, email=address or form.email or ""),
    )
    if problems:
        raise InvalidInput(problems)
    if find_by_email(session, address) is not None:
        raise Conflict("An account with that email already exists.")
    user = User(
        email=address,
        password_hash=hash_password(form.temporary_password),
        role=form.role,
        first_name=first,
        last_name=last,
        must_change_password=True,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("An account with that email already exists.") from exc
    audit.record(
        session=session,
        actor_id=actor_id,
        action="user.create",
        target_type="user",
        target_id=user.id,
        after=_snapshot(user),
        reason=None if actor_id else "created from the command line",
    )
    return user


def change_role(*, session: Session, actor_id: uuid.UUID, user_id: uuid.UUID, role: Role, reason: str = "") -> User:
    actor = _require_admin(session, actor_id)
    user = _get_or_raise(session, user_id)
    if user.role == role:
        return user
    if user.id == actor.id:
        raise PermissionDenied("You cannot change your own role; ask another administrator.")
    if user.role not in STAFF_ROLES or role not in STAFF_ROLES:  # clients/practitioners have profiles
        raise InvalidInput(
            {
                "role": "Only staff, analyst and admin roles can be changed; clients and practitioners "
                "keep theirs. Create a separate staff account instead."
            }
        )
    before = _snapshot(user)
    user.role = role
    tokens.revoke_all(session=session, user_id=user.id)  # the new role applies from the next login
    session.flush()
    audit.record(
        session=session,
        actor_id=actor.id,
        action="user.change_role",
        target_type="user",
        target_id=user.id,
        before=before,
        after=_snapshot(user),
        reason=reason or None,
    )
    return user


def deactivation_reason(reason: str | None) -> str:
    """The reason for a deactivation, trimmed; InvalidInput (field `reason`) when it is empty.
    `set_active` applies it, and the Users page asks it before its confirmation."""
    if not (reason or "").strip():
        raise InvalidInput({"reason": "Say why you are deactivating this account; the audit log keeps the reason."})
    try:
        return text(reason, label="The reason", max_length=DEACTIVATION_REASON_MAX_LENGTH)
    except FieldError as exc:
        raise InvalidInput({"reason": str(exc)}) from None


NOT_YOURSELF = "You cannot deactivate your own account; ask another administrator."


def set_active(*, session: Session, actor_id: uuid.UUID, user_id: uuid.UUID, active: bool, reason: str = "") -> User:
    """Deactivate (signs them out everywhere; needs a reason) or reactivate a user."""
    actor = _require_admin(session, actor_id)
    user = _get_or_raise(session, user_id)
    if not active and user.id == actor.id:
        raise PermissionDenied(NOT_YOURSELF)
    if not active:
        reason = deactivation_reason(reason)
    if user.is_active == active:
        return user
    before = _snapshot(user)
    user.is_active = active
    if not active:
        tokens.revoke_all(session=session, user_id=user.id)
    session.flush()
    audit.record(
        session=session,
        actor_id=actor.id,
        action="user.activate" if active else "user.deactivate",
        target_type="user",
        target_id=user.id,
        before=before,
        after=_snapshot(user),
        reason=reason or None,
    )
    return user


def temporary_password_allowed(password: str, *, email: str) -> None:
    """InvalidInput (field `temporary_password`) when the rules refuse it. `set_temporary_password`
    applies it, and the Users page asks it before its confirmation."""
    try:
        check_password(password, email=email)
    except FieldError as exc:
        raise InvalidInput({"temporary_password": str(exc)}) from None


def set_temporary_password(
    *, session: Session, actor_id: uuid.UUID, user_id: uuid.UUID, password: str, reason: str = ""
) -> User:
    """Reset someone's password to one they must change when they next log in."""
    actor = _require_admin(session, actor_id)
    user = _get_or_raise(session, user_id)
    temporary_password_allowed(password, email=user.email)
    before = _snapshot(user)
    user.password_hash = hash_password(password)
    user.must_change_password = True
    tokens.revoke_all(session=session, user_id=user.id)
    session.flush()
    audit.record(
        session=session,
        actor_id=actor.id,
        action="user.temporary_password",
        target_type="user",
        target_id=user.id,
        before=before,
        after=_snapshot(user),
        reason=reason or None,
    )
    return user


@dataclass(frozen=True)
class UserRow:
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    role: Role
    is_active: bool
    must_change_password: bool
    last_login_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class UserPage:
    rows: list[UserRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return counting.pages(self.total, self.page_size)


def search_users(
    *, session: Session, query: str = "", role: Role | None = None, page: int = 1, page_size: int = 25
) -> UserPage:
    """Users whose name or email contains `query`, newest first, one page at a time."""
    if page < 1 or not 1 <= page_size <= 200:
        raise InvalidInput({"page": "Page numbers start at 1 and pages hold 1 to 200 users."})
    conditions: list[ColumnElement[bool]] = [User.deleted_at.is_(None)]
    for word in query.strip().lower().split()[:5]:
        pattern = validation.contains(word)
        conditions.append(User.search_text.like(pattern))
    if role is not None:
        conditions.append(User.role == role)
    # Estimated (Count.exact False) when counting exactly would read millions of users.
    total = counting.count(session, select(User.id).where(*conditions))
    rows = session.execute(
        select(
            User.id,
            User.email,
            User.first_name,
            User.last_name,
            User.role,
            User.is_active,
            User.must_change_password,
            User.last_login_at,
            User.created_at,
        )
        .where(*conditions)
        .order_by(User.created_at.desc(), User.id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return UserPage(rows=[UserRow(**row._mapping) for row in rows], total=total, page=page, page_size=page_size)
