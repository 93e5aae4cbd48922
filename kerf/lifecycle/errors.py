"""Errors of the lifecycle commands. Each says the state found and the next legal step."""

from __future__ import annotations

from kerf.errors import StateError, UsageError


class NotInitialisedError(StateError):
    """There is no host yet: nothing has been initialised with ``kerf init``."""


class AlreadyInitialisedError(StateError):
    """``kerf init`` on a host whose pool already has a baseline."""


class InstanceExistsError(StateError):
    """An instance of that name (or id) already exists."""


class NoInstanceError(UsageError):
    """No instance of that name (or id): the command addressed something that does not exist."""


class WrongStateError(StateError):
    """The instance's lifecycle state does not allow the step."""
