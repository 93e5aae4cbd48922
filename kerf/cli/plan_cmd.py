"""``kerf plan HOST --requests FILE``: place instances on a described host, optimally.

The requests come from ``--requests`` (DTS, DTB or JSON; see kerf.requests_file) and
from ``cpu-count`` blocks in HOST itself. The plan goes through kerf.validate before it
is shown: a plan that breaks a rule is a bug and stops with exit 70. Exit 0 when every
request is placed, 4 when something is not (the reasons are part of the output).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kerf.cli.lifecycle_cmds import CORE_SHARING_HELP
from kerf.errors import ExitCode
from planner.policy import CoreSharing

if TYPE_CHECKING:
    from rich.console import Console

    from kerf.binding import HostDescription
    from planner.hardware import Host, Instance
    from planner.request import InstanceRequest, Plan


def register(app: typer.Typer) -> None:
    """Add the ``plan`` command to the application."""
    app.command("plan")(plan_command)


def plan_command(
    host_file: Annotated[
        Path,
        typer.Argument(
            metavar="HOST",
            help="Host description (DTS or DTB); its instances stay where they are.",
            show_default=False,
        ),
    ],
    requests_file: Annotated[
        Path | None,
        typer.Option(
            "--requests",
            metavar="FILE",
            help="What to place: an instances { } block (DTS/DTB) or JSON.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also show why requests collide (smallest conflicting sets).")
    ] = False,
    rebalance: Annotated[
        bool, typer.Option("--rebalance", help="Let existing instances move, as little as possible.")
    ] = False,
    dump_model: Annotated[
        Path | None,
        typer.Option(
            "--dump-model", metavar="PATH", help="Write the CP-SAT model (text) to PATH.", show_default=False
        ),
    ] = None,
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            metavar="SECONDS",
            help="Solver time limit; explaining unplaced requests may take up to 5 s more.",
            min=0.01,
        ),
    ] = 10.0,
    core_sharing: Annotated[
        CoreSharing,
        typer.Option(
            "--core-sharing",
            help=f"{CORE_SHARING_HELP} Default: KERF_CORE_SHARING, else avoid.",
            case_sensitive=False,
            envvar="KERF_CORE_SHARING",
        ),
    ] = CoreSharing.AVOID,
) -> None:
    """Place instances on HOST: proven-optimal CPUs, memory and devices.

    Exit 0 when everything is placed, 4 when something is not, 1 when HOST breaks a
    rule of the host description, 2 for bad options, 3 for unreadable files and bad
    requests (named at their file:line:col), 70 when a plan fails the validator (a bug).
    """
    from kerf.binding import load_host
    from kerf.errors import InputError, UsageError
    from kerf.requests_file import read_request_file
    from planner.errors import RequestError
    from planner.solve import PlanOptions, plan

    desc = load_host(host_file)
    refuse_broken_host(desc, host_file)
    wanted = list(desc.requests)
    # where each request is written, for the planner's complaints about one of them
    written = {
        r.name: desc.locations[f"/instances/{r.name}"]
        for r in wanted
        if f"/instances/{r.name}" in desc.locations
    }
    if requests_file is not None:
        read = read_request_file(requests_file, desc.host)
        wanted += read.requests
        written.update(read.locations)
    if not wanted:
        raise UsageError(
            f"nothing to place: {host_file} has no requests and no --requests file was given",
            hint="kerf plan HOST --requests FILE (see examples/requests/)",
        )
    options = PlanOptions(
        time_limit=time_limit,
        rebalance=rebalance,
        dump_model=dump_model is not None,
        core_sharing=core_sharing,
    )
    try:
        result = plan(desc.host, desc.instances, wanted, options)
    except RequestError as err:
        if err.request not in written:
            raise
        raise InputError(err.message, hint=err.hint, location=written[err.request]) from None
    check_plan(desc.host, desc.instances, result, wanted)
    if dump_model is not None:
        from kerf.cli.render import output_hint
        from kerf.fsutil import atomic_write_text

        atomic_write_text(dump_model, result.model_text or "", hint=output_hint("--dump-model"))
    if as_json:
        from kerf.cli.render import emit_json

        emit_json(plan_json(desc.host, result, explain))
    else:
        from kerf.cli.render import stdout_console

        render(desc.host, result, explain, stdout_console())
    if result.unplaced:
        from kerf.cli.render import print_error

        left_out = [u.name for u in result.unplaced]
        names = ", ".join(left_out[:10]) + (f" and {len(left_out) - 10} more" if len(left_out) > 10 else "")
        print_error(
            f"{len(result.unplaced)} of {len(wanted)} request(s) not placed: {names}",
            hint=None
            if explain
            else "--explain names the smallest sets of requests that cannot fit together",
        )
        raise typer.Exit(int(ExitCode.UNPLACED))


def refuse_broken_host(desc: HostDescription, host_file: Path) -> None:
    """ValidationError when HOST's own inventory breaks a rule (CPUs, cores, NUMA nodes,
    memory, devices that contradict each other): a plan on it would rest on guesses.
    Problems of the instances it holds only warn (see check_plan)."""
    from kerf.errors import ValidationError
    from kerf.validate import validate_inventory

    errors = validate_inventory(desc).errors
    if not errors:
        return
    shown = "; ".join(f"[{f.code}] {f.message}" for f in errors[:3])
    more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
    raise ValidationError(
        f"{host_file} breaks {len(errors)} rule(s) of the host description, so nothing can be "
        f"placed on it: {shown}{more}",
        hint=f"kerf validate {host_file} shows each with its line",
    )


def check_plan(
    host: Host, existing: Sequence[Instance], result: Plan, requests: Sequence[InstanceRequest]
) -> None:
    """InternalError when the plan adds a validator error to what the host already had."""
    from kerf.errors import InternalError
    from kerf.validate import validate_plan

    before = {(f.code, f.message) for f in validate_plan(host, existing, [], []).errors}
    if before:
        from kerf.cli.render import print_warning

        print_warning(
            f"the host description already breaks {len(before)} rule(s) (kerf validate lists them); "
            "planning anyway, refusing only what the plan would add"
        )
    report = validate_plan(host, result.existing, result.placements, requests)
    new = [f for f in report.errors if (f.code, f.message) not in before]
    if new:
        listed = "; ".join(f"[{f.code}] {f.message}" for f in new)
        raise InternalError(
            f"the plan fails the validator: {listed}",
            hint="this is a bug in kerf's planner; nothing was written. Please report it with --dump-model",
        )


# --- JSON ---------------------------------------------------------------------------------


def instance_json(host: Host, inst: Instance) -> dict[str, Any]:
    """One placed instance with addresses and sizes as integers."""
    memory = []
    for region in inst.memory:
        node = region.numa_node
        if node is None and region.base is not None:
            node = host.node_of_address(region.base)
        memory.append({"numa_node": node, "base": region.base, "bytes": region.size})
    return {
        "name": inst.name,
        "id": inst.id,
        "cpus": list(inst.cpus),
        "numa_nodes": list(inst.numa_nodes),
        "memory": memory,
        "devices": list(inst.devices),
        "cpu_affinity": None if inst.cpu_affinity is None else str(inst.cpu_affinity),
        "memory_policy": None if inst.memory_policy is None else str(inst.memory_policy),
    }


def plan_json(host: Host, result: Plan, explain: bool) -> dict[str, Any]:
    """The documented ``kerf plan --json`` document."""
    metrics = dict(result.metrics)
    if explain:
        metrics["explanation"] = list(result.explanation)
    return {
        "status": str(result.status),
        "objective": result.objective,
        "bound": result.bound,
        "solve_seconds": result.solve_seconds,
        "placements": [instance_json(host, p) for p in result.placements],
        "unplaced": [{"name": u.name, "reason": u.reason} for u in result.unplaced],
        "existing": [instance_json(host, e) for e in result.existing],
        "metrics": metrics,
    }


# --- text -----------------------------------------------------------------------------------


def id_ranges(ids: Sequence[int]) -> str:
    """``0-3,8`` for 0, 1, 2, 3, 8 (in the order given: the first CPU boots)."""
    parts: list[str] = []
    start = prev = None
    for value in ids:
        if prev is not None and value == prev + 1:
            prev = value
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = value
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def render(host: Host, result: Plan, explain: bool, console: Console) -> None:
    """Placements as a table, then the unplaced requests and (with --explain) why."""
    from rich.table import Table
    from rich.text import Text

    from kerf.validate.findings import size_text

    table = Table(title="Placements", title_justify="left")
    # "CPU nodes": where the CPUs landed (the instance's numa-nodes, a preference, is in JSON)
    for column in ("instance", "id", "CPUs", "CPU nodes", "memory", "devices", "policies"):
        table.add_column(column, overflow="fold")
    for inst in result.placements:
        data = instance_json(host, inst)
        memory = ", ".join(f"{size_text(m['bytes'])} on node {m['numa_node']}" for m in data["memory"])
        policies = f"{data['cpu_affinity']}/{data['memory_policy']}"
        cells = (
            inst.name,
            "-" if inst.id is None else str(inst.id),
            id_ranges(inst.cpus),
            ",".join(
                map(str, sorted({n for c in inst.cpus if (n := host.cpu_by_id[c].numa_node) is not None}))
            ),
            memory,
            ", ".join(inst.devices) or "-",
            policies + (" exclusive-cores" if inst.exclusive_cores else ""),
        )
        table.add_row(*(Text(c) for c in cells))
    if result.placements:
        console.print(table)
    for unplaced in result.unplaced:
        console.print(Text(f"not placed: {unplaced.reason}"))
    if explain:
        for line in result.explanation:
            if all(line != u.reason for u in result.unplaced):
                console.print(Text(f"why: {line}"))
    moved = result.metrics.get("moved")
    if isinstance(moved, list) and moved:
        console.print(Text(f"moved: {', '.join(moved)}"))
    status = str(result.status)
    if result.status.value == "feasible" and result.gap is not None:
        status += f" (not proven optimal; gap {result.gap:.2%})"
    elif result.status.value == "infeasible" and result.placements:
        # The solver proved that no plan admits more; "infeasible" alone reads as "nothing fits".
        status += " (not everything fits; no plan places more)"
    console.print(
        Text(
            f"{status}: {len(result.placements)} placed, {len(result.unplaced)} not placed, "
            f"solved in {result.solve_seconds:.2f} s"
        )
    )
