"""Instance names and ids: what the kernel and kerf's files accept.

A name becomes a directory under ``/sys/fs/multikernel/instances/`` and a file name in
kerf's state directory, so it is 1-63 characters of ``[A-Za-z0-9._-]`` and does not start
with ``.`` or ``-`` (no ``/``, no ``..``, no option look-alikes). Ids are 1-2047: the kexec
flags carry an instance id in 11 bits, and id 0 is the host kernel.

Those rules are for creating an instance. Another client, or the kernel's automatic id
(up to INT_MAX), can make instances outside them, and kerf must still be able to show,
update and delete those; so lookups only refuse what can never name an instance
(:func:`check_lookup_name`, :func:`check_lookup_id`).
"""

from __future__ import annotations

import re

from kerf.errors import UsageError

MAX_NAME = 63
MIN_ID = 1
MAX_ID = 2047
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


def check_name(name: str) -> str:
    """``name`` when it is a valid instance name, else UsageError saying what is wrong."""
    problem = _name_problem(name)
    if problem is not None:
        raise UsageError(
            f"invalid instance name {name!r}: {problem}",
            hint=f"use 1-{MAX_NAME} characters of letters, digits, '.', '_' and '-', "
            "not starting with '.' or '-' (e.g. web-1)",
        )
    return name


def _name_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME:
        return f"it is {len(name)} characters long (at most {MAX_NAME})"
    if "/" in name:
        return "it contains '/'"
    if name.startswith("."):
        return "it starts with '.'"
    if name.startswith("-"):
        return "it starts with '-'"
    if _NAME.match(name) is None:
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "._-"))})
        return f"it contains {', '.join(repr(c) for c in bad)}"
    return None


def check_id(ident: int) -> int:
    """``ident`` when it is a loadable instance id (1-2047), else UsageError."""
    if not MIN_ID <= ident <= MAX_ID:
        raise UsageError(
            f"invalid instance id {ident}: ids are {MIN_ID}-{MAX_ID}",
            hint="id 0 is the host kernel, and kexec carries instance ids in 11 bits",
        )
    return ident


def check_lookup_name(name: str) -> str:
    """``name`` unless no instance can carry it (empty, with '/' or NUL), else UsageError.

    Deliberately looser than :func:`check_name`: an instance the kernel holds under a name
    kerf would not give (``-x``, ``a b``) must stay addressable.
    """
    problem = "it is empty" if not name else "it contains '/'" if "/" in name else None
    if problem is None and "\0" in name:
        problem = "it contains a NUL character"
    if problem is not None:
        raise UsageError(f"invalid instance name {name!r}: {problem}", hint="kerf show lists the instances")
    return name


def check_lookup_id(ident: int) -> int:
    """``ident`` unless no instance can have it (0 is the host kernel, ids are positive)."""
    if ident < MIN_ID:
        raise UsageError(
            f"invalid instance id {ident}: instance ids start at {MIN_ID}",
            hint="id 0 is the host kernel; kerf show lists the instances",
        )
    return ident
