"""``kerf pool``: a thin command over :func:`kerf.lifecycle.pool.pool`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kerf.cli.lifecycle_cmds import DryRunOption, JsonOption, RootOption, open_session, report


def register(app: typer.Typer) -> None:
    """Add ``pool``."""
    app.command("pool")(pool_command)


def pool_command(
    input_file: Annotated[
        Path,
        typer.Option("--input", "-i", help="The edited host description (DTS or DTB).", show_default=False),
    ],
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    root: RootOption = None,
) -> None:
    """Grow or shrink the pool to match an edited host description; only the difference goes to the kernel."""
    from kerf.lifecycle.pool import pool

    report(pool(open_session(root), input_file, dry_run=dry_run), as_json)
