"""``kerf compile`` (DTS -> DTB) and ``kerf decompile`` (DTB -> DTS).

Warnings go to stderr. Files are written atomically (a temporary file in the same
directory, then a rename), so a failed run leaves no partial output behind.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kerf.cli.render import output_hint
from kerf.fsutil import atomic_write

if TYPE_CHECKING:
    from kerf.dts import Tree


def register(app: typer.Typer) -> None:
    """Add the ``compile`` and ``decompile`` commands to the application."""
    app.command("compile")(compile_command)
    app.command("decompile")(decompile_command)


def compile_command(
    file: Annotated[Path, typer.Argument(help="Device tree source (DTS, either header) or DTB.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the DTB.")],
) -> None:
    """Compile a device tree source to a DTB (the bytes dtc writes for standard sources)."""
    from kerf.dts import load, to_dtb

    tree = load(file)
    _report_warnings(tree)
    blob = to_dtb(tree)
    atomic_write(output, blob, hint=output_hint())
    _report_readback(tree, blob, output)


def _report_readback(tree: Tree, blob: bytes, output: Path) -> None:
    """Warn when a host description's DTB reads back as a different host.

    The DTB stays exactly what dtc writes; a DTB simply cannot keep labels, cell widths
    or derived references, so the user is told what changes and how to avoid it.
    """
    from kerf.binding.readback import dtb_readback_problems
    from kerf.cli.render import print_notice, print_warning

    for problem in dtb_readback_problems(tree, blob):
        print_warning(f"{output}: {problem.message}")
        print_notice(f"  hint: {problem.hint}")


def decompile_command(
    file: Annotated[Path, typer.Argument(help="Device tree blob (DTB), or DTS to normalise.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Where to write the DTS (default: stdout).")
    ] = None,
) -> None:
    """Print a DTB as device tree source (DTS)."""
    from kerf.dts import format_dts, load

    tree = load(file)
    _report_warnings(tree)
    text = format_dts(tree)
    if output is None:
        _write_stdout(text)
    else:
        atomic_write(output, text.encode("utf-8"), hint=output_hint())


def _write_stdout(text: str) -> None:
    """Write (and flush) the DTS to stdout; a full disk or a closed pipe is an error, not a crash."""
    from kerf.errors import InputError

    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as err:
        raise InputError(
            f"cannot write the DTS to standard output: {err.strerror or err}",
            hint="write it to a file with -o FILE",
        ) from None


def _report_warnings(tree: Tree) -> None:
    from kerf.cli.render import print_notice, print_warning

    for warning in tree.warnings:
        where = f"{warning.location}: " if warning.location else ""
        print_warning(f"{where}{warning.message}")
        if warning.hint:
            print_notice(f"  hint: {warning.hint}")
    for ref in tree.unresolved_refs:
        where = f"{ref.location}: " if ref.location else ""
        print_warning(
            f"{where}no node has the label '{ref.label}' ({ref.node_path}:{ref.prop_name}); "
            "the cell holds 0xffffffff"
        )
        print_notice(
            "  hint: kerf resolves such derived labels from the DTS only; in a DTB the reference "
            f'is lost: name the unit with a string (devices = "{ref.label}";) to keep it'
        )
