"""Errors services raise: typed, and worded for the person who will read them."""

from __future__ import annotations


class ServiceError(Exception):
    """Something the user can act on; `str(error)` is the message to show."""


class InvalidInput(ServiceError):
    """One or more fields are wrong; `problems` maps field name -> what is wrong."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__(" ".join(problems.values()))


class NotFound(ServiceError):
    pass


class PermissionDenied(ServiceError):
    pass


class Conflict(ServiceError):
    """The change clashes with the current state (taken email, taken slot, ...)."""
