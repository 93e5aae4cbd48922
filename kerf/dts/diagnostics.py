"""The one place where DTS parse errors are made, so they all read the same way.

Every error says where (``file:line:col`` of the offending token), what was expected
and what was found, and, where it helps, a hint.
"""

from __future__ import annotations

from kerf.errors import DtsError, SourceLocation


def dts_error(location: SourceLocation | None, message: str, hint: str | None = None) -> DtsError:
    """A :class:`DtsError` at ``location``; every parse and check error goes through here."""
    return DtsError(message, hint=hint, location=location)


def expected(location: SourceLocation, what: str, found: str, hint: str | None = None) -> DtsError:
    """``expected <what>, found <found>``."""
    return dts_error(location, f"expected {what}, found {found}", hint)
