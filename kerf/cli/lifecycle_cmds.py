"""``kerf init``, ``create``, ``update`` and ``delete``: thin commands over kerf.lifecycle.

Every lifecycle command takes ``--root DIR`` (or ``KERF_ROOT``) to work on a simulated
host kept in DIR, and ``--json``. Results go to stdout (one line, or one JSON document);
notices and the one-line announcement of an automatically chosen simulated host go to
stderr. Errors are raised and turned into messages and exit codes by kerf.cli.app.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kerf.errors import UsageError
from planner.policy import CoreSharing, CpuAffinity, MemoryPolicy

if TYPE_CHECKING:
    from kerf.lifecycle import Outcome, Session

# A string, not a Path: Path("") is ".", and an empty --root or KERF_ROOT must be refused,
# not taken for the current directory.
RootOption = Annotated[
    str | None,
    typer.Option(
        "--root",
        envvar="KERF_ROOT",
        help="Work on the simulated host kept in this directory (default: the real kernel "
        "when it has multikernel support, else ~/.local/state/kerf).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Check and show what would happen; change nothing.")
]
CORE_SHARING_HELP = (
    "avoid: keep off other instances' cores (isolation); "
    "pack: fill their free threads first, keeping whole cores free (capacity)."
)
CoreSharingOption = Annotated[
    CoreSharing | None,
    typer.Option(
        "--core-sharing",
        help=f"{CORE_SHARING_HELP} Default: KERF_CORE_SHARING, else the host's setting (kerf config), "
        "else avoid.",
        case_sensitive=False,
        envvar="KERF_CORE_SHARING",
        show_default=False,
    ),
]
IdOption = Annotated[int | None, typer.Option("--id", help="Address the instance by its id.")]
NameArgument = Annotated[str | None, typer.Argument(help="Instance name (or give --id).", show_default=False)]


def register(app: typer.Typer) -> None:
    """Add ``init``, ``create``, ``update`` and ``delete``."""
    app.command("init")(init_command)
    app.command("create")(create_command)
    app.command("update")(update_command)
    app.command("delete")(delete_command)


# --- shared by every lifecycle command -------------------------------------------------------


def open_session(root: str | None) -> Session:
    """The session for ``--root``; announces (stderr) a simulated host chosen by default."""
    from kerf.cli.render import print_notice
    from kerf.errors import UsageError
    from kerf.lifecycle import Session, locate

    if root is not None and not root.strip():
        raise UsageError(
            "--root (or KERF_ROOT) is empty",
            hint="give a directory, e.g. --root /tmp/mk, or unset KERF_ROOT",
        )
    location = locate(None if root is None else Path(root))
    if location.announcement:
        print_notice(location.announcement)
    return Session(location)


def report(outcome: Outcome, as_json: bool) -> None:
    """Notices on stderr; the message or the JSON document on stdout."""
    from kerf.cli.render import emit_json, print_notice

    for notice in outcome.notices:
        print_notice(f"note: {notice}")
    if as_json:
        emit_json(outcome.data)
    else:
        typer.echo(outcome.message)


def parse_list(text: str | None, what: str) -> tuple[int, ...] | None:
    """A ``0-3,8`` list, or None when the option was not given."""
    if text is None:
        return None
    from kerf.units import parse_cpu_list

    return parse_cpu_list(text, what=what)


def parse_memory(text: str | None) -> int | None:
    """A memory size in whole pages, or None when not given."""
    if text is None:
        return None
    from kerf.units import parse_size

    size = parse_size(text, what="--memory")
    if size % 4096:
        raise UsageError(
            f"--memory {text} is {size} bytes, not a whole number of 4 KiB pages",
            hint="the kernel hands out memory in pages: e.g. 4GiB, 512M or 1536K",
        )
    return size


def parse_devices(text: str | None) -> tuple[str, ...] | None:
    """Comma-separated device units (``eth0_vf1,gpu0``, ``eth0_vf*``); ``""`` means none."""
    if text is None:
        return None
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    if len(set(items)) != len(items):
        raise UsageError(f"--devices {text!r} names a device more than once")
    return items


# --- commands --------------------------------------------------------------------------------


def init_command(
    input_file: Annotated[
        Path,
        typer.Option("--input", "-i", help="Host description (DTS or DTB).", show_default=False),
    ],
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    root: RootOption = None,
) -> None:
    """Set up the pool from a host description (on a simulated host, create it first)."""
    from kerf.lifecycle.init import init

    report(init(open_session(root), input_file, dry_run=dry_run), as_json)


def create_command(
    name: Annotated[str, typer.Argument(help="Name of the new instance.", show_default=False)],
    memory: Annotated[str, typer.Option("--memory", "-m", help="Memory, e.g. 4GiB.", show_default=False)],
    cpus: Annotated[
        str | None, typer.Option("--cpus", "-c", help="Explicit CPUs, e.g. 4-7 (the first boots).")
    ] = None,
    cpu_count: Annotated[
        int | None, typer.Option("--cpu-count", help="Let the planner choose N CPUs.")
    ] = None,
    numa_nodes: Annotated[
        str | None, typer.Option("--numa-nodes", help="Preferred NUMA nodes, e.g. 0,1.")
    ] = None,
    cpu_affinity: Annotated[
        CpuAffinity, typer.Option("--cpu-affinity", help="How CPUs are chosen.", case_sensitive=False)
    ] = CpuAffinity.COMPACT,
    memory_policy: Annotated[
        MemoryPolicy, typer.Option("--memory-policy", help="Where memory comes from.", case_sensitive=False)
    ] = MemoryPolicy.LOCAL,
    devices: Annotated[
        str | None, typer.Option("--devices", "-d", help="Device units, e.g. eth0_vf1,gpu0 or eth0_vf*.")
    ] = None,
    exclusive_cores: Annotated[
        bool, typer.Option("--exclusive-cores", help="Share no physical core with another instance.")
    ] = False,
    ident: IdOption = None,
    core_sharing: CoreSharingOption = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    root: RootOption = None,
) -> None:
    """Create an instance: the planner places it, the validator checks it, the kernel gets it."""
    from kerf.lifecycle.create import CreateSpec, create
    from kerf.state import RequestRecord

    explicit = parse_list(cpus, "--cpus")
    if (explicit is None) == (cpu_count is None):
        raise UsageError(
            "give exactly one of --cpus LIST and --cpu-count N",
            hint="--cpu-count 4 lets the planner choose; --cpus 4-7 pins the CPUs",
        )
    if cpu_count is not None and cpu_count < 1:
        raise UsageError(f"--cpu-count must be at least 1, got {cpu_count}")
    size = parse_memory(memory)
    assert size is not None
    request = RequestRecord(
        memory_bytes=size,
        cpu_count=cpu_count,
        cpus=explicit,
        numa_nodes=parse_list(numa_nodes, "--numa-nodes") or (),
        cpu_affinity=cpu_affinity,
        memory_policy=memory_policy,
        devices=parse_devices(devices) or (),
        exclusive_cores=exclusive_cores,
    )
    spec = CreateSpec(name, request, ident, core_sharing)
    report(create(open_session(root), spec, dry_run=dry_run), as_json)


def update_command(
    name: NameArgument = None,
    ident: IdOption = None,
    cpus: Annotated[str | None, typer.Option("--cpus", "-c", help="New explicit CPU list.")] = None,
    cpu_count: Annotated[
        int | None, typer.Option("--cpu-count", help="New CPU count (current CPUs kept where possible).")
    ] = None,
    memory: Annotated[str | None, typer.Option("--memory", "-m", help="New memory size.")] = None,
    numa_nodes: Annotated[str | None, typer.Option("--numa-nodes", help="New preferred NUMA nodes.")] = None,
    cpu_affinity: Annotated[
        CpuAffinity | None, typer.Option("--cpu-affinity", help="New CPU affinity.", case_sensitive=False)
    ] = None,
    memory_policy: Annotated[
        MemoryPolicy | None, typer.Option("--memory-policy", help="New memory policy.", case_sensitive=False)
    ] = None,
    devices: Annotated[
        str | None, typer.Option("--devices", "-d", help='New device units ("" for none).')
    ] = None,
    exclusive_cores: Annotated[
        bool | None,
        typer.Option(
            "--exclusive-cores/--shared-cores", help="Whether cores may be shared.", show_default=False
        ),
    ] = None,
    core_sharing: CoreSharingOption = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    root: RootOption = None,
) -> None:
    """Change an instance; only the difference is sent to the kernel."""
    from kerf.lifecycle.placement import Change
    from kerf.lifecycle.update import update

    if cpus is not None and cpu_count is not None:
        raise UsageError("give at most one of --cpus and --cpu-count")
    if cpu_count is not None and cpu_count < 1:
        raise UsageError(f"--cpu-count must be at least 1, got {cpu_count}")
    change = Change(
        cpus=parse_list(cpus, "--cpus"),
        cpu_count=cpu_count,
        memory_bytes=parse_memory(memory),
        numa_nodes=parse_list(numa_nodes, "--numa-nodes"),
        cpu_affinity=cpu_affinity,
        memory_policy=memory_policy,
        devices=parse_devices(devices),
        exclusive_cores=exclusive_cores,
    )
    if change == Change():
        raise UsageError(
            "nothing to change", hint="give --cpus, --cpu-count, --memory, --devices or a policy option"
        )
    outcome = update(open_session(root), name, ident, change, dry_run=dry_run, core_sharing=core_sharing)
    report(outcome, as_json)


def delete_command(
    name: NameArgument = None,
    ident: IdOption = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    root: RootOption = None,
) -> None:
    """Remove a stopped instance; its CPUs, memory and devices go back to the pool."""
    from kerf.lifecycle.delete import delete

    report(delete(open_session(root), name, ident, dry_run=dry_run), as_json)
