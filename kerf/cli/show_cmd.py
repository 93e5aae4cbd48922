"""``kerf show [NAME]`` and ``kerf show --topology``.

The text view is two tables (the pool per NUMA node, the instances); ``--topology`` draws
sockets, NUMA nodes, cores and threads with the owner of every CPU. Each instance has a
colour *and* a letter, so the picture reads the same without colour (NO_COLOR, pipes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from kerf.cli.lifecycle_cmds import IdOption, JsonOption, NameArgument, RootOption, open_session, report

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

# Owner colours, one per instance in order; the letters a, b, c... go with them.
PALETTE = ("green", "magenta", "cyan", "yellow", "blue", "red", "bright_green", "bright_magenta")
SPECIAL = {
    "free": (".", "dim"),
    "host": ("h", "bold white"),
    "pool": ("p", "white"),
    "offline": ("x", "dim red"),
}


def register(app: typer.Typer) -> None:
    """Add ``show``."""
    app.command("show")(show_command)


def show_command(
    name: NameArgument = None,
    ident: IdOption = None,
    topology: Annotated[
        bool,
        typer.Option("--topology", help="Draw sockets, NUMA nodes, cores and threads with their owners."),
    ] = False,
    as_json: JsonOption = False,
    root: RootOption = None,
) -> None:
    """Show the pool per NUMA node and the instances (status, CPUs, memory, devices, image)."""
    from kerf.cli.render import emit_json, print_notice, stdout_console
    from kerf.lifecycle import show as lifecycle_show

    session = open_session(root)
    if topology:
        picture = lifecycle_show.topology(session)
        for notice in picture.pop("notices"):
            print_notice(f"note: {notice}")
        if as_json:
            emit_json(picture)
        else:
            render_topology(picture, stdout_console())
        return
    outcome = lifecycle_show.show(session, name, ident)
    if as_json:
        report(outcome, as_json=True)
        return
    for notice in outcome.notices:
        print_notice(f"note: {notice}")
    render(outcome.data, stdout_console(), single=name is not None or ident is not None)


# --- text ------------------------------------------------------------------------------------


def _size(n: int | None) -> str:
    from kerf.validate.findings import size_text

    return "-" if n is None else size_text(n)


def _ids(values: list[int]) -> str:
    from kerf.validate.findings import ids_text

    return ids_text(values) or "-"


def render(data: dict[str, Any], console: Console, *, single: bool = False) -> None:
    """The pool table (unless one instance was asked for) and the instance table."""
    from rich.table import Table

    host = data["host"]
    if not single:
        model = f": {host['model']}" if host["model"] else ""
        title = f"Pool ({host['backend']}{model}; core sharing {host['core_sharing']})"
        pool = Table(title=title, title_justify="left")
        for column in ("NUMA node", "pool CPUs", "free CPUs", "pool memory", "used", "free"):
            pool.add_column(column)
        for node in host["numa_nodes"]:
            pool.add_row(
                str(node["id"]),
                _ids(node["pool_cpus"]),
                _ids(node["free_cpus"]),
                _size(node["pool_bytes"]),
                _size(node["used_bytes"]),
                _size(node["pool_bytes"] - node["used_bytes"]),
            )
        memory = host["memory"]
        pool.add_row(
            "all",
            str(len(host["cpus"]["pool"])),
            str(len(host["cpus"]["free"])),
            _size(memory["pool_bytes"]),
            _size(memory["used_bytes"]),
            _size(memory["pool_bytes"] - memory["used_bytes"]),
        )
        console.print(pool)
    if not data["instances"]:
        console.print("No instances. Create one with: kerf create NAME --cpu-count N --memory SIZE")
        return
    table = Table(title="Instances", title_justify="left")
    for column in ("name", "id", "status", "CPUs", "NUMA", "memory", "devices", "image"):
        table.add_column(column)
    for inst in data["instances"]:
        table.add_row(
            inst["name"],
            str(inst["id"]),
            inst["status"],
            ", ".join(map(str, inst["cpus"])) or "-",
            _ids(inst["numa_nodes"]),
            _memory(inst["memory"]),
            ", ".join(inst["devices"]) or "-",
            _image(inst["image"]),
        )
    console.print(table)


def _memory(regions: list[dict[str, Any]]) -> str:
    parts = []
    for region in regions:
        where = f" @0x{region['base']:x}" if region["base"] is not None else ""
        node = f" node {region['numa_node']}" if region["numa_node"] is not None else ""
        parts.append(f"{_size(region['bytes'])}{node}{where}")
    return "\n".join(parts) or "-"


def _image(image: dict[str, Any] | None) -> str:
    if image is None:
        return "-"
    text = f"{shown(image['path'])} ({image['format']})"
    if image["initrd"]:
        text += f"\ninitrd {shown(image['initrd']['path'])}"
    if image["cmdline"]:
        text += f"\n{shown(image['cmdline'])}"
    return text


def shown(text: str) -> str:
    """Text from outside kerf (paths, a kernel command line) made safe for the terminal:
    control characters as escapes (an ESC sequence could retitle or clear the terminal),
    and square brackets kept from being read as table markup."""
    from rich.markup import escape

    safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return escape(safe)


# --- the topology picture ----------------------------------------------------------------------


def owner_styles(instances: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Owner -> (letter, style): instances a, b, c... in order, then the special owners."""
    styles = {
        inst["name"]: (chr(ord("a") + i % 26), PALETTE[i % len(PALETTE)]) for i, inst in enumerate(instances)
    }
    styles.update(SPECIAL)
    return styles


def render_topology(picture: dict[str, Any], console: Console) -> None:
    """Sockets as panels, NUMA nodes inside them, one ``[cpu letter ...]`` cell per core."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    styles = owner_styles(picture["instances"])
    panels: list[RenderableType] = []
    for socket in picture["sockets"]:
        nodes: list[RenderableType] = []
        for node in socket["numa_nodes"]:
            # The panel is as wide as its cores; on a narrow terminal cores wrap whole.
            cores = _wrap_cells([_core_cell(core, styles) for core in node["cores"]], console.width - 8)
            title = f"NUMA node {node['id']}" if node["id"] is not None else "no NUMA node"
            nodes.append(Panel(cores, title=title, title_align="left", expand=False))
        panels.append(Panel(Group(*nodes), title=f"socket {socket['id']}", title_align="left", expand=False))
    for panel in panels:
        console.print(panel)
    legend = Text("legend: ")
    for inst in picture["instances"]:
        letter, style = styles[inst["name"]]
        legend.append(f"{letter} = {inst['name']} ({inst['status']})", style=style)
        legend.append("  ")
    for owner, meaning in (
        ("free", "free in the pool"),
        ("host", "host kernel"),
        ("offline", "not in the pool"),
    ):
        letter, style = styles[owner]
        legend.append(f"{letter} = {meaning}", style=style)
        legend.append("  ")
    console.print(legend)


def _wrap_cells(cells: list[Any], width: int) -> Any:
    """Cells joined by spaces, a new line wherever the next cell would pass ``width``
    (a cell is never split: ``[2a 18a]`` stays one piece)."""
    from rich.text import Text

    out = Text()
    used = 0
    for cell in cells:
        if used and used + 1 + cell.cell_len > width:
            out.append("\n")
            used = 0
        elif used:
            out.append(" ")
            used += 1
        out.append_text(cell)
        used += cell.cell_len
    return out


def _core_cell(core: dict[str, Any], styles: dict[str, tuple[str, str]]) -> Any:
    from rich.text import Text

    cell = Text("[")
    for i, cpu in enumerate(core["cpus"]):
        letter, style = styles.get(cpu["owner"], ("?", ""))
        if i:
            cell.append(" ")
        cell.append(f"{cpu['id']}{letter}", style=style)
    cell.append("]")
    return cell
