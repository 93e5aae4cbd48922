"""``kerf validate FILE [--json]``: read a host description and report on it.

The report (inventory, per-NUMA summary, utilisation, instances, requests, findings)
is the product and goes to stdout; only the closing "invalid: ..." line goes to stderr.
Exit 0 when valid (warnings allowed), 1 when the validator found errors, 3 when the file
cannot be read or parsed (the located error on stderr).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kerf.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def register(app: typer.Typer) -> None:
    """Add the ``validate`` command to the application."""
    app.command("validate")(validate)


def validate(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="Host description: DTS (either header) or DTB.", show_default=False
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")
    ] = False,
) -> None:
    """Check a host description: inventory, topology, instances, requests.

    Exit 0 when it is valid (warnings allowed), 1 when it breaks rules, 3 when the file
    cannot be read or parsed.
    """
    from kerf.binding import load_host
    from kerf.cli.render import emit_json, print_notice
    from kerf.validate import validate_description
    from kerf.validate.summary import summarize

    desc = load_host(file)
    report = validate_description(desc)
    summary = summarize(desc, report)
    if as_json:
        emit_json(summary)
    else:
        from kerf.cli.render import stdout_console

        render(summary, stdout_console())
    if not report.ok:
        if not as_json:
            print_notice(f"invalid: {_count(len(report.errors), 'error')}")
        raise typer.Exit(int(ExitCode.INVALID))


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# kerf.validate brings the binding and the device tree model with it: it is imported when
# the command runs, never when the module is, so that `kerf --help` stays fast.


def _size(n: int) -> str:
    from kerf.validate.findings import size_text

    return size_text(n)


def _ids(values: list[int]) -> str:
    from kerf.validate.findings import ids_text

    return ids_text(values) or "-"


def render(summary: dict[str, Any], console: Console) -> None:
    """The text report: one rich table per section, then the findings and a verdict."""
    from rich.markup import escape

    console.print(f"[bold]Host description[/bold] {escape(summary['source'])}")
    _inventory(summary["inventory"], console)
    _numa(summary["numa"], console)
    _utilisation(summary["utilisation"], console)
    if summary["instances"]:
        _instances(summary["instances"], console)
    if summary["requests"]:
        _requests(summary["requests"], console)
    _findings(summary["findings"], console)
    errors = sum(1 for f in summary["findings"] if f["severity"] == "error")
    warnings = sum(1 for f in summary["findings"] if f["severity"] == "warning")
    if errors:
        console.print(
            f"[bold red]INVALID[/bold red]: {_count(errors, 'error')}, {_count(warnings, 'warning')}"
        )
    else:
        console.print(f"[bold green]VALID[/bold green]: {_count(warnings, 'warning')}")


def _table(title: str, *columns: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False)
    for i, column in enumerate(columns):
        table.add_column(column, overflow="fold", no_wrap=i == 0)
    return table


def _row(table: Any, *cells: str) -> None:
    """Add a row of plain text: names and messages from the file are never read as markup."""
    from rich.text import Text

    table.add_row(*(Text(cell) for cell in cells))


def _inventory(inv: dict[str, Any], console: Console) -> None:
    cpus, mem = inv["cpus"], inv["memory"]
    table = _table("Resource inventory", "Resource", "Total", "Host-reserved", "Pool", "Offline / aside")
    _row(
        table,
        "CPUs",
        str(cpus["total"]),
        f"{len(cpus['host_reserved'])}: {_ids(cpus['host_reserved'])}",
        f"{len(cpus['pool'])}: {_ids(cpus['pool'])}",
        f"{len(cpus['offline'])}: {_ids(cpus['offline'])}" if cpus["offline"] else "-",
    )
    ranges = ", ".join(f"0x{r['base']:x}+{_size(r['size'])}" for r in mem["pool_ranges"]) or "-"
    _row(
        table,
        "Memory",
        _size(mem["total_bytes"]),
        _size(mem["host_reserved_bytes"]),
        f"{_size(mem['pool_bytes'])} ({ranges})",
        "-",
    )
    console.print(table)
    if inv["devices"]:
        devices = _table("Devices", "Device", "Kind", "PCI", "NUMA", "Units for instances")
        for d in inv["devices"]:
            node = "-" if d["numa_node"] is None else str(d["numa_node"])
            _row(devices, d["name"], d["kind"], d["pci_id"] or "-", node, ", ".join(d["units"]) or "-")
        console.print(devices)


def _numa(rows: list[dict[str, Any]], console: Console) -> None:
    table = _table(
        "NUMA nodes", "Node", "Type", "CPUs", "Pool CPUs", "Used CPUs", "Memory", "Pool share", "Used"
    )
    for r in rows:
        _row(
            table,
            str(r["node"]),
            r["memory_type"],
            _ids(r["cpus"]),
            str(r["pool_cpus"]),
            str(r["used_cpus"]),
            _size(r["memory_bytes"]) if r["memory_bytes"] else "-",
            _size(r["pool_bytes"]),
            _size(r["used_bytes"]),
        )
    console.print(table)


def _utilisation(util: dict[str, Any], console: Console) -> None:
    cpus, mem = util["cpus"], util["memory"]
    console.print(
        f"[bold]Utilisation[/bold]: pool CPUs {cpus['used']}/{cpus['pool']} ({cpus['percent']}%), "
        f"pool memory {_size(mem['used_bytes'])}/{_size(mem['pool_bytes'])} ({mem['percent']}%)"
    )


def _instances(rows: list[dict[str, Any]], console: Console) -> None:
    table = _table("Instances", "Name", "Id", "CPUs", "Memory", "NUMA", "Affinity", "Policy", "Devices")
    for r in rows:
        nodes = _ids(r["numa_nodes"])
        if r["memory_nodes"] is not None:
            nodes += f" (memory on {_ids(r['memory_nodes'])})"
        _row(
            table,
            r["name"],
            "-" if r["id"] is None else str(r["id"]),
            _ids(r["cpus"]) if len(set(r["cpus"])) == len(r["cpus"]) else " ".join(map(str, r["cpus"])),
            _size(r["memory_bytes"]),
            nodes,
            r["cpu_affinity"] or "-",
            r["memory_policy"] or "-",
            ", ".join(r["devices"]) or "-",
        )
    console.print(table)


def _requests(rows: list[dict[str, Any]], console: Console) -> None:
    table = _table(
        "Requests (to be placed)", "Name", "CPUs", "Memory", "NUMA", "Affinity", "Policy", "Devices"
    )
    for r in rows:
        _row(
            table,
            r["name"],
            str(r["cpu_count"]) if r["cpu_count"] is not None else _ids(r["cpus"]),
            _size(r["memory_bytes"]),
            _ids(r["numa_nodes"]),
            r["cpu_affinity"],
            r["memory_policy"],
            ", ".join(r["devices"]) or "-",
        )
    console.print(table)


def _findings(rows: list[dict[str, Any]], console: Console) -> None:
    if not rows:
        console.print("[bold]Findings[/bold]: none")
        return
    from rich.markup import escape

    table = _table("Findings", "Severity", "Where", "Finding")
    for r in rows:
        text = escape(r["message"]) + f"\n[dim]{escape(r['code'])} · {escape(r['subject'])}[/dim]"
        if r["hint"]:
            text += f"\n[dim]hint: {escape(r['hint'])}[/dim]"
        style = SEVERITY_STYLE[r["severity"]]
        table.add_row(f"[{style}]{r['severity']}[/{style}]", escape(r["location"] or "-"), text)
    console.print(table)
