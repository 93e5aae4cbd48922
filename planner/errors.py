"""Errors the planner raises for bad input. Bugs are not errors: they crash loudly."""

from __future__ import annotations


class PlannerError(Exception):
    """Base of every planner error: a message for the user and an optional hint."""

    def __init__(self, message: str, *, hint: str | None = None, request: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # the name of the request at fault, when there is one: a caller that read the
        # requests from a file can point at it there
        self.request = request

    def __str__(self) -> str:
        return self.message


class RequestError(PlannerError):
    """A request that cannot be understood or can never be met on the given host."""


class PlanInvalidError(PlannerError):
    """The solver produced a plan that breaks a hard rule: a bug in kerf, never user error."""
