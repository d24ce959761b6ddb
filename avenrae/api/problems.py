"""Errors as RFC 9457 problem details (application/problem+json), worded as the pages word them.

Every refusal a service raises maps to one status: InvalidInput 422 (with `errors`, field
by field, in the API's own field names), NotFound 404, PermissionDenied 403, Conflict and
an impossible state change 409, a token that cannot be used 401, too many attempts 429
(with Retry-After). Anything unexpected is a 500 that says nothing about the server.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from avenrae.services import accounts, availability, bookings, flows, payments, ratelimit, tokens
from avenrae.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ServiceError

from .schemas import InTheWayOut

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Server error",
    503: "Service unavailable",
}
# What services call a field, as the API calls it (services speak for the pages' forms).
FIELD_NAMES = {
    "first_name": "firstName",
    "last_name": "lastName",
    "street_address": "serviceAddress",
    "rate_per_session": "rate",
    "session_duration_minutes": "duration",
    "meeting_types": "meetingTypes",
    "meeting_type": "meetingType",
    "specializations": "specialization",
    "start": "sessionSlotId",
    "radius_km": "radius",
    "min_rating": "minRating",
    "min_price": "minPrice",
    "max_price": "maxPrice",
    "page": "offset",
    "page_size": "limit",
    "old_password": "currentPassword",
    "new_password": "newPassword",
    "on_behalf_of": "onBehalfOf",
    "start_to": "to",
    "client": "clientId",
    "hours": "ranges",
}


class Problem(Exception):
    """Raised by the API layer itself: a status, a one-line reason and optional field errors."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})  # RFC 9457 extension members, beside detail


def response(
    status: int,
    detail: str,
    *,
    errors: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status}
    body["detail"] = detail
    if errors:
        body["errors"] = dict(errors)
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=dict(headers or {}))


_CAMEL = re.compile(r"_([a-z])")


def camel(name: str) -> str:
    """snake_case as the API writes names: booking_id -> bookingId."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def api_field(name: str, renames: Mapping[str, str] | None = None) -> str:
    if renames and name in renames:
        return renames[name]
    return FIELD_NAMES.get(name) or camel(name)


def invalid(error: InvalidInput, renames: Mapping[str, str] | None = None) -> Problem:
    """A service's InvalidInput as a 422, its fields named as the API names them."""
    errors = {api_field(name, renames): message for name, message in error.problems.items()}
    return Problem(422, str(error) or "Some fields are not right.", errors=errors)


BEARER = {"WWW-Authenticate": "Bearer"}


def for_service_error(error: ServiceError) -> Problem:
    message = str(error)
    if isinstance(error, InvalidInput):
        return invalid(error)
    if isinstance(error, accounts.TooManyAttempts):
        return Problem(429, message, headers={"Retry-After": str(error.retry_after)})
    if isinstance(error, ratelimit.RateLimited):
        return Problem(429, message, headers={"Retry-After": str(error.retry_after)})
    if isinstance(error, accounts.AccountLocked):
        seconds = max(1, math.ceil((error.until - datetime.now(UTC)).total_seconds()))
        return Problem(429, message, headers={"Retry-After": str(seconds)})
    if isinstance(error, accounts.AccountDisabled):
        return Problem(403, message)
    if isinstance(error, accounts.LoginRefused | tokens.TokenError):
        return Problem(401, message, headers=BEARER)
    if isinstance(error, NotFound):
        return Problem(404, message)
    if isinstance(error, PermissionDenied):
        return Problem(403, message)
    if isinstance(error, flows.BookingsInTheWay):
        return Problem(409, message, extra={"bookingsInTheWay": [_in_the_way(b) for b in error.affected]})
    if isinstance(error, Conflict | bookings.IllegalTransition):
        return Problem(409, message)
    if isinstance(error, payments.PaymentError):
        return Problem(503 if error.transient else 409, message)
    return Problem(400, message)


def _in_the_way(booking: availability.Affected) -> dict[str, object]:
    """A booked session a change of hours would leave outside them, as the app shows it before asking."""
    return InTheWayOut(
        id=booking.id,
        start=booking.session_start,
        end=booking.session_end,
        client=booking.client_name,
        status=booking.status,
    ).model_dump(mode="json")


async def handle_problem(_request: Request, problem: Exception) -> JSONResponse:
    assert isinstance(problem, Problem)
    return response(problem.status, problem.detail, errors=problem.errors, headers=problem.headers, extra=problem.extra)


async def handle_service_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    return await handle_problem(request, for_service_error(error))


def _location(loc: tuple) -> str:
    """Where a problem is, in the API's names ("ranges.0.end"; a path's practitioner_id is
    "practitionerId", as the API's own fields are written)."""
    parts = [camel(str(part)) for part in loc[1:]]
    return ".".join(parts) or "body"


# Pydantic's checks, said as the pages would say them (its own words name its internals:
# "invalid character: found `n` at 0").
_KINDS = {
    ("uuid_parsing", "uuid_type", "uuid_version"): "{field} is not a valid id.",
    ("date_parsing", "date_type", "date_from_datetime_parsing", "date_from_datetime_inexact"): (
        "{field} must be a date as YYYY-MM-DD."
    ),
    ("datetime_parsing", "datetime_type", "datetime_from_date_parsing", "timezone_aware"): (
        "{field} must be a date and time with its zone, as 2026-12-05T10:00:00+02:00."
    ),
    ("time_parsing", "time_type"): "{field} must be a time as HH:MM.",
    ("clock_time",): "{field} must be a time of day as HH:MM, 00:00 to 24:00.",
    ("int_parsing", "int_type", "int_from_float"): "{field} must be a whole number.",
    ("float_parsing", "float_type", "decimal_parsing", "decimal_type", "finite_number"): "{field} must be a number.",
    ("bool_parsing", "bool_type"): "{field} must be true or false.",
    ("string_type",): "{field} must be text.",
    ("list_type",): "{field} must be a list.",
    ("missing",): "{field} is required.",
    ("extra_forbidden",): "{field} is not a field of this request.",
}
_BOUNDS = {
    "greater_than_equal": "{field} must be at least {ge}.",
    "greater_than": "{field} must be more than {gt}.",
    "less_than_equal": "{field} must be at most {le}.",
    "less_than": "{field} must be less than {lt}.",
    "string_too_long": "{field} is too long: at most {max_length} characters.",
    "string_too_short": "{field} is too short: at least {min_length} characters.",
    "too_long": "{field} has too many items: at most {max_length}.",
    "enum": "{field} must be one of: {expected}.",
    "literal_error": "{field} must be one of: {expected}.",
}


def _in_words(field: str, kind: str, context: dict) -> str | None:
    for kinds, words in _KINDS.items():
        if kind in kinds:
            return words.format(field=field)
    if kind in _BOUNDS:
        try:
            return _BOUNDS[kind].format(field=field, **{name: str(value) for name, value in context.items()})
        except KeyError:
            return None
    return None


async def handle_validation(_request: Request, error: Exception) -> JSONResponse:
    """FastAPI's own checks (types, required fields, malformed JSON) as plain one-liners."""
    assert isinstance(error, RequestValidationError)
    errors: dict[str, str] = {}
    for item in error.errors():
        loc = tuple(item.get("loc", ()))
        kind = item.get("type", "")
        if kind == "json_invalid":
            return response(400, "The request body is not valid JSON.")
        field = _location(loc)
        if kind == "model_attributes_type" or kind == "dict_type":
            message = "Send a JSON object."
        else:
            message = _in_words(field, kind, item.get("ctx") or {}) or f"{field}: {item.get('msg', 'is not valid')}."
        errors.setdefault(field, message)
    if list(errors) == ["body"]:
        return response(422, errors["body"])
    return response(422, " ".join(errors.values()), errors=errors)


async def handle_http(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail if isinstance(error.detail, str) else TITLES.get(error.status_code, "Error")
    if error.status_code == 404 and detail == "Not Found":
        detail = "There is no such API endpoint."
    elif error.status_code == 405:
        detail = "That method is not allowed on this endpoint."
    return response(error.status_code, detail, headers=getattr(error, "headers", None))


async def handle_unexpected(_request: Request, error: Exception) -> JSONResponse:
    log.exception("API request failed", exc_info=error)
    return response(500, "Something went wrong on our side; please try again.")
