"""``kerf discover``: describe this machine (or one from its hwloc XML) as a host description."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kerf.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add the ``discover`` command to the application."""
    app.command("discover")(discover)


def discover(
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", metavar="HOST.dts", help="Write the description here (default: stdout)."
        ),
    ] = None,
    reserve_cpus: Annotated[
        str | None,
        typer.Option(
            "--reserve-cpus",
            metavar="LIST",
            help="CPU ids the host keeps, e.g. 0,1 or 0-3 (default: the boot CPU and its SMT siblings).",
        ),
    ] = None,
    pool_memory: Annotated[
        str | None,
        typer.Option(
            "--pool-memory",
            metavar="SIZE",
            help="Memory for the pool, e.g. 48G (default: all but the host's share, see docs/discover.md).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the discovered host as JSON on stdout.")
    ] = False,
    from_hwloc: Annotated[
        Path | None,
        typer.Option(
            "--from-hwloc", metavar="FILE.xml", help="Read an hwloc v2 XML export instead of this machine."
        ),
    ] = None,
    sysfs_root: Annotated[
        Path | None, typer.Option("--sysfs-root", metavar="DIR", help="Read sysfs here instead of /sys.")
    ] = None,
    procfs_root: Annotated[
        Path | None, typer.Option("--procfs-root", metavar="DIR", help="Read procfs here instead of /proc.")
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(
            "--root", metavar="DIR", help="Read DIR/sys and DIR/proc (a copy of another machine's)."
        ),
    ] = None,
) -> None:
    """Describe this machine's CPUs, memory, NUMA topology and devices as a host description."""
    from kerf.cli.render import emit_json, print_notice, print_warning
    from kerf.discover import Severity, discover_host, discovery_to_json, host_from_hwloc_xml, render_dts
    from kerf.discover.text import format_bytes

    reserve = _cpu_list(reserve_cpus)
    pool_bytes = _size(pool_memory)
    if from_hwloc is not None:
        if root is not None or sysfs_root is not None or procfs_root is not None:
            raise UsageError(
                "--from-hwloc reads an XML file; --root, --sysfs-root and --procfs-root read a live tree",
                hint="give one source or the other",
            )
        discovery = host_from_hwloc_xml(from_hwloc, reserve_cpus=reserve, pool_bytes=pool_bytes)
    else:
        base = root if root is not None else Path("/")
        discovery = discover_host(
            sysfs_root if sysfs_root is not None else base / "sys",
            procfs_root if procfs_root is not None else base / "proc",
            reserve_cpus=reserve,
            pool_bytes=pool_bytes,
        )

    for note in discovery.notes:
        if note.severity is Severity.WARNING:
            print_warning(note.message)
        else:
            print_notice(f"note: {note.message}")

    text = render_dts(discovery)
    if output is not None:
        from kerf.cli.render import output_hint
        from kerf.fsutil import atomic_write_text

        atomic_write_text(output, text, hint=output_hint())
        host = discovery.host
        print_notice(
            f"wrote {output}: {_count(len(host.cpus), 'CPU')} ({len(host.available)} in the pool), "
            f"{format_bytes(host.memory.total_bytes)} ({format_bytes(host.memory.pool_bytes)} in the pool), "
            f"{_count(len(host.devices), 'device')}"
        )
    if as_json:
        emit_json(discovery_to_json(discovery))
    elif output is None:
        typer.echo(text, nl=False)


def _count(n: int, word: str) -> str:
    """``1 CPU``, ``2 CPUs``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _cpu_list(text: str | None) -> list[int] | None:
    from kerf.discover.text import parse_cpulist

    if text is None:
        return None
    try:
        return parse_cpulist(text)
    except ValueError:
        raise UsageError(
            f"--reserve-cpus expects a CPU list, got {text!r}",
            hint="for example --reserve-cpus 0,1 or 0-3,56-59",
        ) from None


def _size(text: str | None) -> int | None:
    from kerf.discover.text import parse_size

    if text is None:
        return None
    try:
        return parse_size(text)
    except ValueError:
        raise UsageError(
            f"--pool-memory expects a size, got {text!r}", hint="for example --pool-memory 48G or 512M"
        ) from None
