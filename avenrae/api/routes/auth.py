"""Sign-up, login, token check, refresh and logout: the original contract's /api/auth."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import Field

from avenrae.config import get_settings
from avenrae.db import session_scope
from avenrae.models import MeetingType, Role, Specialization
from avenrae.services import accounts, password_resets, tokens
from avenrae.services.errors import InvalidInput

from .. import problems
from ..deps import Anyone, _admit, bearer, client_ip
from ..problems import Problem
from ..schemas import Message, Model, UserOut
from ..threads import waits_on_others

router = APIRouter(prefix="/auth", tags=["auth"])

SIGNUP_FIELDS = {"place": "serviceAddress", "street_address": "serviceAddress", "pin": "latitude"}


class SignupIn(Model):
    firstName: str = ""
    lastName: str = ""
    email: str = ""
    password: str = ""
    phone: str | None = None
    role: str = Field("client", description='"client" or "practitioner"')
    # Practitioners only:
    specialization: str | None = Field(None, description="healer, prophet, medium or counselor")
    bio: str = ""
    serviceAddress: str = Field("", description="Street, suburb, town or postal code; geocoded without coordinates")
    latitude: float | None = None
    longitude: float | None = None
    rate: Decimal | None = Field(None, description="Rate per session in rand (default 400.00, as on the web form)")
    duration: int | None = Field(None, description="Session length in minutes (default 60)")
    meetingTypes: list[str] | None = Field(None, description='"in_person" and/or "online" (default both)')


class AuthOut(Model):
    success: bool = True
    token: str
    refreshToken: str
    user: UserOut


class LoginIn(Model):
    email: str
    password: str


class RefreshIn(Model):
    refreshToken: str


class LogoutIn(Model):
    refreshToken: str = Field("", description="The session's refresh token; without one there is nothing to end")


class ForgotPasswordIn(Model):
    email: str = ""


class ResetPasswordIn(Model):
    token: str = Field("", description="The `token` of the link e-mailed by /api/auth/forgot-password")
    password: str = Field("", description="The new password (the sign-up rules apply)")


class RefreshOut(Model):
    token: str
    refreshToken: str
    user: UserOut


class VerifyOut(Model):
    valid: bool
    user: UserOut | None = None


def _user_out(user) -> UserOut:
    return UserOut(
        id=user.id, email=user.email, role=user.role.value, firstName=user.first_name, lastName=user.last_name
    )


def _role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise Problem(
            422, "Role must be client or practitioner.", errors={"role": "Choose client or practitioner."}
        ) from None


def _specialization(value: str | None) -> Specialization | None:
    if value is None or not value.strip():
        return None
    try:
        return Specialization(value.strip().lower())
    except ValueError:
        message = "Choose a specialization: healer, prophet, medium or counselor."
        raise Problem(422, message, errors={"specialization": message}) from None


def _meeting_types(values: list[str] | None) -> list[MeetingType]:
    if values is None:
        return [MeetingType.IN_PERSON, MeetingType.ONLINE]
    try:
        return [MeetingType(value.strip().lower().replace("-", "_").replace(" ", "_")) for value in values]
    except ValueError:
        message = "Meeting types are in_person and online."
        raise Problem(422, message, errors={"meetingTypes": message}) from None


def _pin(body: SignupIn) -> tuple[float, float] | None:
    if body.latitude is None and body.longitude is None:
        return None
    if body.latitude is None or body.longitude is None:
        message = "Send both latitude and longitude, or neither (the service address is then geocoded)."
        raise Problem(422, message, errors={"latitude" if body.latitude is None else "longitude": message})
    return (body.latitude, body.longitude)


@router.post("/signup", status_code=201, response_model=AuthOut, dependencies=[Anyone])
@waits_on_others
def signup(body: SignupIn, request: Request) -> AuthOut:
    """Create a client or practitioner account and log it in. Practitioners are placed at
    `latitude`/`longitude` when given, else where `serviceAddress` geocodes to."""
    role = _role(body.role)
    form = accounts.SignUp(
        role=role,
        email=body.email,
        password=body.password,
        first_name=body.firstName,
        last_name=body.lastName,
        phone=body.phone,
    )
    if role == Role.PRACTITIONER:
        form.specialization = _specialization(body.specialization)
        form.place = body.serviceAddress
        form.street_address = body.serviceAddress  # where clients go, as typed (the place is found in it)
        form.bio = body.bio
        form.rate_per_session = Decimal("400.00") if body.rate is None else body.rate
        form.session_duration_minutes = 60 if body.duration is None else body.duration
        form.meeting_types = _meeting_types(body.meetingTypes)
        form.pin = _pin(body)
    try:
        with session_scope() as session:
            user = accounts.sign_up(session=session, form=form, ip_address=client_ip(request))
            pair = tokens.issue(session=session, user=user)
            out = _user_out(user)
    except InvalidInput as error:
        raise problems.invalid(error, SIGNUP_FIELDS) from None
    return AuthOut(token=pair.access_token, refreshToken=pair.refresh_token, user=out)


@router.post("/login", response_model=AuthOut, dependencies=[Anyone])
@waits_on_others
def login(body: LoginIn, request: Request) -> AuthOut:
    """Log in. Five failures for one email within 15 minutes lock it for 15 minutes (429,
    as on the web); each address has its own limit on attempts too."""
    with session_scope() as session:
        result = accounts.login(
            session=session, email=body.email, password=body.password, ip_address=client_ip(request)
        )
    user = result.user
    return AuthOut(
        token=result.tokens.access_token,
        refreshToken=result.tokens.refresh_token,
        user=_user_out(user),
    )


@router.get(
    "/verify",
    response_model=VerifyOut,
    responses={401: {"model": VerifyOut, "description": "The token is missing, invalid or expired: `{valid: false}`"}},
)
def verify(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> VerifyOut | JSONResponse:
    """Whether an access token is valid, and whose it is."""
    invalid = JSONResponse({"valid": False}, status_code=401, headers=problems.BEARER)
    if credentials is None or not credentials.credentials:
        _admit(request, None)
        return invalid
    try:
        caller = _admit(request, credentials)
    except Problem as refused:
        if refused.status == 401:
            return invalid
        raise
    assert caller is not None
    user = caller.user
    return VerifyOut(
        valid=True,
        user=_user_out(user),
    )


@router.post("/refresh", response_model=RefreshOut, dependencies=[Anyone])
def refresh(body: RefreshIn) -> RefreshOut:
    """Spend a refresh token for a new pair. A refresh token used twice (after a few seconds'
    grace) ends that session everywhere: 401, log in again."""
    if not body.refreshToken:
        raise Problem(422, "refreshToken is required.", errors={"refreshToken": "refreshToken is required."})
    refused: tokens.TokenError | None = None
    with session_scope() as session:
        try:
            user, pair = tokens.rotate(session=session, refresh_token=body.refreshToken)
        except tokens.TokenError as error:
            refused = error  # commit the revocation a reuse makes
        else:
            out = _user_out(user)
    if refused is not None:
        raise refused
    return RefreshOut(token=pair.access_token, refreshToken=pair.refresh_token, user=out)


@router.post("/logout", response_model=Message, dependencies=[Anyone])
def logout(body: LogoutIn) -> Message:
    """End the session a refresh token belongs to: its refresh tokens and the access tokens
    issued with them stop working at once (401)."""
    with session_scope() as session:
        tokens.revoke_by_token(session=session, refresh_token=body.refreshToken)
    return Message(message="You have logged out.")


@router.post("/forgot-password", status_code=202, response_model=Message, dependencies=[Anyone])
def forgot_password(body: ForgotPasswordIn, request: Request) -> Message:
    """E-mail a link to choose a new password (the web page `/reset_password?token=...`) to the
    account that uses `email`. The answer is the same whether or not one does; the link works
    once, for AVENRAE_PASSWORD_RESET_MINUTES. Each address may ask AVENRAE_PASSWORD_RESETS_PER_IP
    times an hour (429); an account gets at most three links an hour."""
    ip_address = client_ip(request)
    with session_scope() as session:
        address = password_resets.ask(session=session, email=body.email, ip_address=ip_address)
    password_resets.send_soon(address, ip_address)
    minutes = get_settings().password_reset_minutes
    return Message(message=password_resets.ASKED.format(email=address, minutes=minutes))


@router.post("/reset-password", response_model=Message, dependencies=[Anyone])
@waits_on_others
def reset_password(body: ResetPasswordIn, request: Request) -> Message:
    """Choose a new password with the token of an e-mailed link: every session of the account
    ends (its refresh tokens stop working), and a lockout ends. A link that was used, ran out
    or was replaced by a newer one: 400."""
    with session_scope() as session:
        password_resets.choose_password(
            session=session, token=body.token, password=body.password, ip_address=client_ip(request)
        )
    return Message(message=password_resets.CHOSEN)
