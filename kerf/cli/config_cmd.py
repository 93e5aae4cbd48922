"""``kerf config``: a thin command over :func:`kerf.lifecycle.config.config`."""

from __future__ import annotations

from typing import Annotated

import typer

from kerf.cli.lifecycle_cmds import (
    CORE_SHARING_HELP,
    DryRunOption,
    JsonOption,
    RootOption,
    open_session,
    report,
)
from planner.policy import CoreSharing


def register(app: typer.Typer) -> None:
    """Add ``config``."""
    app.command("config")(config_command)


def config_command(
    core_sharing: Annotated[
        CoreSharing | None,
        typer.Option(
            "--core-sharing",
            # no envvar: KERF_CORE_SHARING overrides the stored setting per command, it must
            # not silently become the stored setting
            help=f"Store the host's default core sharing. {CORE_SHARING_HELP}",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    root: RootOption = None,
) -> None:
    """Show or change the host's settings (defaults for kerf create and kerf update)."""
    from kerf.lifecycle.config import config

    report(config(open_session(root), core_sharing=core_sharing, dry_run=dry_run), as_json)
