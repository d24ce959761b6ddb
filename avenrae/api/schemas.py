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
