"""kerf's error hierarchy.

Every error that bad input can cause is a :class:`KerfError` (or a planner error) and is
turned into a message and an exit code in exactly one place, ``kerf.cli.app``. Library
code raises; it never prints or exits. The exit codes live here so that the CLI, the
docs and the tests agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the ``kerf`` command."""

    OK = 0
    INVALID = 1  # the input was read but breaks rules (validation errors)
    USAGE = 2  # bad flags or arguments
    INPUT = 3  # a file cannot be read or parsed
    UNPLACED = 4  # the planner could not place every request
    KERNEL = 5  # the kernel (or simulated host) refused an operation
    STATE = 6  # the instance is in the wrong lifecycle state
    BUSY = 7  # another kerf holds the lock
    PERMISSION = 8  # not allowed (not root, read-only filesystem)
    INTERNAL = 70  # a bug in kerf caught by a self-check (e.g. an invalid plan)
    INTERRUPTED = 130  # Ctrl-C


@dataclass(frozen=True)
class SourceLocation:
    """Where something was written: ``file:line:col`` (1-based)."""

    filename: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.col}"


class KerfError(Exception):
    """Base of kerf's user-facing errors: message, optional hint and location, exit code."""

    exit_code: ExitCode = ExitCode.INVALID

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.location = location

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message}"


class UsageError(KerfError):
    """Bad command-line usage (a flag value, a missing argument)."""

    exit_code = ExitCode.USAGE


class InputError(KerfError):
    """A file cannot be read, decoded or parsed."""

    exit_code = ExitCode.INPUT


class DtsError(InputError):
    """A DTS syntax or semantic error; always carries a location."""


class DtbError(InputError):
    """A DTB/DTBO blob that cannot be decoded or encoded."""


class BindingError(InputError):
    """A device tree that does not follow the multikernel-v1 host binding."""


class ValidationError(KerfError):
    """A description or plan that breaks the rules (carries the validator's findings)."""

    exit_code = ExitCode.INVALID


class UnplacedError(KerfError):
    """Something could not be placed."""

    exit_code = ExitCode.UNPLACED


class KernelError(KerfError):
    """The kernel (or the simulated host) refused an operation."""

    exit_code = ExitCode.KERNEL


class StateError(KerfError):
    """An instance is in the wrong lifecycle state for the operation."""

    exit_code = ExitCode.STATE


class BusyError(KerfError):
    """Another kerf process holds the lock."""

    exit_code = ExitCode.BUSY


class PermissionDeniedError(KerfError):
    """The operation needs privileges kerf does not have."""

    exit_code = ExitCode.PERMISSION


class InternalError(KerfError):
    """A self-check failed: a bug in kerf, reported loudly instead of acting on it."""

    exit_code = ExitCode.INTERNAL
