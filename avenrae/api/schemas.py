"""Shapes shared by several areas of the API; field names are the contract's (camelCase)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


def money(amount: Decimal | None) -> float | None:
    """Rand as a JSON number with cents (517.5 for R517.50)."""
    return None if amount is None else float(amount)


class Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class UserOut(Model):
    id: uuid.UUID
    email: str
    role: str
    firstName: str | None = None
    lastName: str | None = None


class Message(Model):
    message: str


class ProblemOut(BaseModel):
    """RFC 9457 problem details: `detail` is one line to show the person."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: dict[str, str] | None = None


def _problem(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": ProblemOut.model_json_schema()}},
    }


PROBLEMS: dict[int | str, dict] = {
    400: _problem("Malformed request (for example a body that is not JSON)"),
    401: _problem("Not logged in, or the token or credentials are not valid"),
    403: _problem("Not allowed for this user"),
    404: _problem("No such thing (or not visible to this user)"),
    409: _problem("Clashes with the current state (a taken time, a taken email, a finished booking)"),
    413: _problem("Request body too large"),
    422: _problem("Invalid input; `errors` names each field"),
    429: _problem("Too many requests; wait Retry-After seconds"),
    503: _problem("A payment provider cannot be reached"),
}


MAX_OFFSET = 1_000_000  # how far into any list a page may start
