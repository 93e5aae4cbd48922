"""Errors of the kernel side: what the kernel (or the simulated host) refused, and why.

Every refusal carries the errno the kernel returned and the call that returned it, so
that the CLI can show both the explanation and the raw code. The classes also derive
from the generic :mod:`kerf.errors` classes (``StateError``, ``PermissionDeniedError``)
so that callers may catch either the kernel-specific or the generic kind; the exit code
is set explicitly on each class because multiple inheritance would otherwise pick the
first base's code.
"""

from __future__ import annotations

import errno as errno_codes
import os

from kerf.errors import ExitCode, KernelError, PermissionDeniedError, StateError, UsageError


class KernelCallError(KernelError):
    """A system call or kernel file operation failed with ``errno``."""

    exit_code = ExitCode.KERNEL

    def __init__(self, message: str, *, errno: int, call: str, hint: str | None = None) -> None:
        super().__init__(f"{message} ({call}: {errno_name(errno)})", hint=hint)
        self.errno = errno
        self.call = call


class KernelPermissionError(KernelCallError, PermissionDeniedError):
    """The kernel refused for lack of privilege (EPERM / EACCES)."""

    exit_code = ExitCode.PERMISSION


class KernelStateError(KernelCallError, StateError):
    """The instance (or the pool) is in the wrong state for the operation."""

    exit_code = ExitCode.STATE


class NoSuchInstanceError(KernelCallError):
    """No instance (or no loaded image) with that id exists."""

    exit_code = ExitCode.KERNEL


class NoMultikernelError(KernelCallError):
    """The running kernel has no multikernel support (ENODEV / ENOSYS)."""

    exit_code = ExitCode.KERNEL


class UnsupportedArchitectureError(KernelError):
    """kerf does not know the system call numbers of this machine's architecture."""

    exit_code = ExitCode.KERNEL


class InvalidInstanceIdError(UsageError):
    """An instance id that the kexec flags cannot carry (only 1..2047 fit in bits 5-15)."""


class ImageError(KernelError):
    """A kernel image that cannot be loaded: missing, unreadable, truncated or the wrong kind."""

    exit_code = ExitCode.INPUT


def errno_name(code: int) -> str:
    """``EBUSY`` for 16, or ``errno 4242`` for codes Python does not know."""
    return errno_codes.errorcode.get(code, f"errno {code}")


def strerror(code: int) -> str:
    """The C library's text for an errno (``Device or resource busy``)."""
    return os.strerror(code)
