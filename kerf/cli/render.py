"""Output helpers shared by every command: JSON on stdout, errors on stderr, rich tables.

``--json`` output goes to stdout only and is the only thing on stdout; everything meant
for a human reading a terminal (warnings, notices, errors) goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


#: Width of tables when stdout is not a terminal and ``COLUMNS`` is unset.
PIPED_WIDTH = 160


def output_hint(flag: str = "-o") -> str:
    """What a permission error on an output file the user chose suggests."""
    return f"choose a writable place with {flag}"


def emit_json(data: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def print_error(message: str, hint: str | None = None) -> None:
    """Write ``error: message`` (and ``hint: ...``) to stderr."""
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")


def print_warning(message: str) -> None:
    """Write ``warning: message`` to stderr."""
    sys.stderr.write(f"warning: {message}\n")


def print_notice(message: str) -> None:
    """Write an informational line to stderr (never pollutes --json stdout)."""
    sys.stderr.write(f"{message}\n")


def stdout_console() -> Console:
    """A rich console on the current stdout (created per call so test runners capture it).

    Piped or redirected output is not cut to rich's default 80 columns: tables of CPU
    lists and instance names would wrap mid-word in logs and files. ``COLUMNS`` still
    decides when it is set."""
    from rich.console import Console

    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, width=width)
