"""``kerf load``, ``exec`` (also ``start``), ``kill`` and ``unload``: the lifecycle system calls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kerf.cli.lifecycle_cmds import IdOption, JsonOption, NameArgument, RootOption, open_session, report


def register(app: typer.Typer) -> None:
    """Add ``load``, ``exec``, ``start``, ``kill`` and ``unload``."""
    app.command("load")(load_command)
    app.command("exec")(exec_command)
    app.command("start", help="Same as exec: boot the loaded kernel of an instance.")(exec_command)
    app.command("kill")(kill_command)
    app.command("unload")(unload_command)


def load_command(
    kernel: Annotated[
        Path,
        typer.Option("--kernel", "-k", help="Kernel image (bzImage, vmlinux, Image).", show_default=False),
    ],
    name: NameArgument = None,
    initrd: Annotated[Path | None, typer.Option("--initrd", "-i", help="Initial ramdisk.")] = None,
    cmdline: Annotated[str, typer.Option("--cmdline", "-c", help="Kernel command line.")] = "",
    ident: IdOption = None,
    as_json: JsonOption = False,
    root: RootOption = None,
) -> None:
    """Load a kernel image into a ready instance."""
    from kerf.lifecycle.run import load

    report(load(open_session(root), name, ident, kernel, initrd=initrd, cmdline=cmdline), as_json)


def exec_command(
    name: NameArgument = None,
    ident: IdOption = None,
    as_json: JsonOption = False,
    root: RootOption = None,
) -> None:
    """Start an instance: boot its loaded kernel on its CPUs."""
    from kerf.lifecycle.run import start

    report(start(open_session(root), name, ident), as_json)


def kill_command(
    name: NameArgument = None,
    ident: IdOption = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Forced stop (NMI); also rescues a loaded instance.")
    ] = False,
    as_json: JsonOption = False,
    root: RootOption = None,
) -> None:
    """Stop a running instance; its kernel stays loaded."""
    from kerf.lifecycle.run import halt

    report(halt(open_session(root), name, ident, force=force), as_json)


def unload_command(
    name: NameArgument = None,
    ident: IdOption = None,
    as_json: JsonOption = False,
    root: RootOption = None,
) -> None:
    """Drop the loaded kernel of a stopped instance."""
    from kerf.lifecycle.run import unload

    report(unload(open_session(root), name, ident), as_json)
