"""``kerf capacity HOST --cpu-count N --memory SIZE``: how many more of a shape fit.

The count is the exact maximum under the planner's rules (proven by the solver), with
the resource that runs out first and the headroom of every NUMA node. The packing behind
the count goes through kerf.validate like every plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.policy import CpuAffinity, MemoryPolicy

if TYPE_CHECKING:
    from rich.console import Console

    from planner.capacity import Capacity

SHAPE_NAME = "what-if"


def register(app: typer.Typer) -> None:
    """Add the ``capacity`` command to the application."""
    app.command("capacity")(capacity_command)


def capacity_command(
    host_file: Annotated[
        Path, typer.Argument(metavar="HOST", help="Host description (DTS or DTB).", show_default=False)
    ],
    cpu_count: Annotated[
        int, typer.Option("--cpu-count", metavar="N", min=1, help="CPUs of one instance.", show_default=False)
    ],
    memory: Annotated[
        str,
        typer.Option(
            "--memory", metavar="SIZE", help="Memory of one instance, e.g. 8GB.", show_default=False
        ),
    ],
    cpu_affinity: Annotated[
        CpuAffinity, typer.Option("--cpu-affinity", help="compact, spread or local.")
    ] = CpuAffinity.COMPACT,
    memory_policy: Annotated[
        MemoryPolicy, typer.Option("--memory-policy", help="local, interleave or bind.")
    ] = MemoryPolicy.LOCAL,
    numa_nodes: Annotated[
        str | None, typer.Option("--numa-nodes", metavar="LIST", help="Preferred (or bound) nodes, e.g. 0,1.")
    ] = None,
    exclusive_cores: Annotated[
        bool, typer.Option("--exclusive-cores", help="No other instance on the same physical cores.")
    ] = False,
    devices: Annotated[
        str | None,
        typer.Option("--devices", metavar="LIST", help="Device units each instance needs, e.g. eth0_vf*."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    time_limit: Annotated[
        float, typer.Option("--time-limit", metavar="SECONDS", help="Solver time limit.", min=0.01)
    ] = 10.0,
) -> None:
    """How many more instances of one shape fit on HOST, and what runs out first."""
    from kerf.binding import load_host
    from kerf.units import parse_cpu_list, parse_size
    from planner.capacity import capacity
    from planner.request import DeviceWant, InstanceRequest
    from planner.solve import PlanOptions

    size = parse_size(memory, what="--memory")
    nodes = parse_cpu_list(numa_nodes, what="--numa-nodes") if numa_nodes is not None else ()
    wants = tuple(DeviceWant.parse(d) for d in devices.split(",")) if devices else ()
    shape = InstanceRequest(
        SHAPE_NAME,
        size,
        cpu_count=cpu_count,
        numa_nodes=nodes,
        cpu_affinity=cpu_affinity,
        memory_policy=memory_policy,
        devices=wants,
        exclusive_cores=exclusive_cores,
    )
    from kerf.cli.plan_cmd import refuse_broken_host

    desc = load_host(host_file)
    refuse_broken_host(desc, host_file)
    result = capacity(desc.host, desc.instances, shape, PlanOptions(time_limit=time_limit))
    _check(desc.host, desc.instances, result)
    if as_json:
        from kerf.cli.render import emit_json

        emit_json(capacity_json(result))
    else:
        from kerf.cli.render import stdout_console

        render(result, stdout_console())


def _check(host: Any, existing: Any, result: Capacity) -> None:
    """The packing behind the count is a plan like any other: it must validate."""
    from dataclasses import replace

    from kerf.cli.plan_cmd import check_plan
    from planner.request import Plan, PlanStatus

    requests = [replace(result.shape, name=p.name) for p in result.placements]
    packing = Plan(PlanStatus.OPTIMAL, result.placements, existing=tuple(existing))
    check_plan(host, existing, packing, requests)


def _shape_json(result: Capacity) -> dict[str, Any]:
    shape = result.shape
    return {
        "cpu_count": shape.cpu_count,
        "memory_bytes": shape.memory_bytes,
        "cpu_affinity": str(shape.cpu_affinity),
        "memory_policy": str(shape.memory_policy),
        "numa_nodes": list(shape.numa_nodes),
        "exclusive_cores": shape.exclusive_cores,
        "devices": [d.text for d in shape.devices],
    }


def capacity_json(result: Capacity) -> dict[str, Any]:
    """The ``kerf capacity --json`` document."""
    return {
        "shape": _shape_json(result),
        "count": result.count,
        "proven": result.proven,
        "limit": result.limit,
        "why_not_more": result.why_not_more,
        "bounds": dict(result.bounds),
        "per_node": [
            {
                "numa_node": n.node,
                "free_cpus": n.free_cpus,
                "free_memory": n.free_memory,
                "instances": n.instances,
                "cpus_left": n.cpus_left,
                "memory_left": n.memory_left,
            }
            for n in result.per_node
        ],
        "solve_seconds": result.solve_seconds,
    }


LIMIT_TEXT = {
    "cpus": "CPUs run out first",
    "memory": "memory runs out first",
    "devices": "device units run out first",
    "policies": "the shape's rules strand the rest",
}


def render(result: Capacity, console: Console) -> None:
    """A sentence with the count and the limit, the bounds, and a table per NUMA node."""
    from rich.table import Table
    from rich.text import Text

    from kerf.validate.findings import size_text

    shape = result.shape
    policies = f"{shape.cpu_affinity}, {shape.memory_policy}"
    what = f"{shape.cpu_count} CPUs, {size_text(shape.memory_bytes)} ({policies})"
    proven = "" if result.proven else " (not proven: the time limit ran out)"
    console.print(Text(f"{result.count} more instance(s) of {what} fit{proven}; {LIMIT_TEXT[result.limit]}."))
    if result.why_not_more is not None:
        console.print(Text(f"one more does not fit: {result.why_not_more}"))
    bounds = ", ".join(f"{name} {value}" for name, value in result.bounds.items() if value is not None)
    console.print(Text(f"each resource alone would allow: {bounds}"))
    table = Table(title="Headroom per NUMA node", title_justify="left")
    for column in ("node", "free CPUs", "free memory", "instances using it", "CPUs left", "memory left"):
        table.add_column(column, justify="right")
    for n in result.per_node:
        table.add_row(
            str(n.node),
            str(n.free_cpus),
            size_text(n.free_memory),
            str(n.instances),
            str(n.cpus_left),
            size_text(n.memory_left),
        )
    console.print(table)
