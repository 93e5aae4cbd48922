"""``kerf compile`` (DTS -> DTB) and ``kerf decompile`` (DTB -> DTS).

Warnings go to stderr. Files are written atomically (a temporary file in the same
directory, then a rename), so a failed run leaves no partial output behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kerf.errors import InputError, PermissionDeniedError

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
    write_atomic(output, to_dtb(tree))


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
        sys.stdout.write(text)
    else:
        write_atomic(output, text.encode("utf-8"))


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    directory = path.parent
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise _write_error(path, err) from err
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise _write_error(path, err) from err


def _write_error(path: Path, err: OSError) -> InputError | PermissionDeniedError:
    reason = err.strerror or str(err)
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDeniedError(f"cannot write {path}: {reason}")
    return InputError(f"cannot write {path}: {reason}", hint="check that the directory exists")
