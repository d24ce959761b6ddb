"""Shapes shared by several areas of the API; field names are the contract's (camelCase)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, time
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from avenrae.services import availability


def money(amount: Decimal | None) -> float | None:
    """Rand as a JSON number with cents (517.5 for R517.50)."""
    return None if amount is None else float(amount)


_CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?|24:00(?::00)?"


def _clock_time(value: object) -> time:
    """09:00 or 9:00:00; 24:00 is midnight at the end of the day (as the pages say it)."""
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(_CLOCK, value):
        return availability.END_OF_DAY if value.startswith("24") else time.fromisoformat(value)
    raise PydanticCustomError("clock_time", "not a time of day")


# A time of day as HH:MM, read and written the same way; hours that run until midnight end at
# "24:00" (a `time` cannot hold it, so Python's would read "23:59:59.999999").
ClockTime = Annotated[
    time,
    PlainValidator(_clock_time, json_schema_input_type=str),
    PlainSerializer(availability.clock, return_type=str),
    WithJsonSchema({"type": "string", "pattern": f"^(?:{_CLOCK})$", "examples": ["09:00", "24:00"]}),
]


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


def _inline(schema: dict) -> dict:
    """A model's JSON schema with its nested models written in place: a response schema
    given by hand cannot point at pydantic's own $defs."""
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


class InTheWayOut(BaseModel):
    """A booked session a change of hours would leave outside them."""

    id: uuid.UUID
    start: datetime
    end: datetime
    client: str = Field(description="The client's name")
    status: str


class BookingsInTheWayOut(ProblemOut):
    bookingsInTheWay: list[InTheWayOut]


IN_THE_WAY: dict[int | str, dict] = {
    409: {
        "description": "Booked sessions fall outside the new hours (listed in `bookingsInTheWay`): "
        "send again with `bookingsInTheWay` set to keep or cancel",
        "content": {"application/problem+json": {"schema": _inline(BookingsInTheWayOut.model_json_schema())}},
    }
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
