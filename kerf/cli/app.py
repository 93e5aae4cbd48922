"""The ``kerf`` Typer application and the one place where errors become exit codes.

Each command lives in its own module under ``kerf.cli`` and exposes
``register(app: typer.Typer) -> None``. Command modules import heavy libraries (ortools,
networkx, rich) inside their functions, so ``kerf --help`` starts fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, NoReturn

import typer
import typer.core

from kerf import __version__
from kerf.errors import ExitCode, KerfError
from planner.errors import PlanInvalidError, PlannerError

# Modules that define commands, in the order they appear in ``kerf --help``.
COMMAND_MODULES: tuple[str, ...] = (
    "kerf.cli.validate_cmd",
    "kerf.cli.discover_cmd",
    "kerf.cli.convert_cmd",
    "kerf.cli.lifecycle_cmds",
    "kerf.cli.pool_cmd",
    "kerf.cli.config_cmd",
    "kerf.cli.run_cmds",
    "kerf.cli.show_cmd",
    "kerf.cli.plan_cmd",
    "kerf.cli.capacity_cmd",
)


def _report(message: str, hint: str | None, code: ExitCode) -> None:
    """Print an error (and its hint) on stderr."""
    from kerf.cli.render import print_error

    print_error(message, hint)
    raise typer.Exit(int(code))


class KerfGroup(typer.core.TyperGroup):
    """Click group that turns kerf's and the planner's errors into messages + exit codes."""

    def invoke(self, ctx: Any) -> Any:  # ctx: typer's (vendored) click Context
        try:
            return super().invoke(ctx)
        except KerfError as err:
            _report(str(err), err.hint, err.exit_code)
        except PlanInvalidError as err:
            _report(f"internal error: {err}", "this is a bug in kerf; please report it", ExitCode.INTERNAL)
        except PlannerError as err:
            _report(str(err), err.hint, ExitCode.USAGE)
        except KeyboardInterrupt:
            _report("interrupted", None, ExitCode.INTERRUPTED)
        return None


app = typer.Typer(
    name="kerf",
    cls=KerfGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Partition one Linux host among several kernel instances (multikernel).",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kerf {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """kerf: topology-aware placement, capacity planning and lifecycle for multikernel hosts."""


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the ``kerf`` console script (and ``python -m kerf``): run the
    command and end the process with its exit code."""
    try:
        app(args=argv if argv is not None else sys.argv[1:], prog_name="kerf")
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    leave(code)


def leave(code: object) -> NoReturn:
    """End the process now, with ``code`` as ``sys.exit`` would read it.

    Why not ``sys.exit``: tearing down the interpreter after ortools (with numpy and
    pandas) and networkx were imported takes about 0.2 s on a 2-core machine, a sixth
    of a whole ``kerf plan``. Nothing is lost by skipping it: every file kerf writes
    is complete and synced before its command returns, locks are released by their
    ``with`` blocks, and kerf registers no exit handlers. Only the standard streams
    are still buffered, so they are flushed here first.
    """
    status = 0
    if isinstance(code, int):
        status = code
    elif code is not None:
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (kerf show | head) or stream
            status = status or 1
    os._exit(status)
