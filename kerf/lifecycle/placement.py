"""Asking the planner where an instance goes, and re-checking every answer.

Create: the request goes to :func:`planner.solve.plan` next to the instances that exist
(as the kernel shows them: their CPUs, their memory charged to its NUMA nodes). Explicit
CPU lists are pinned requests: the planner checks them and completes the rest (memory
nodes, device units).

Update: :func:`planner.solve.replan` re-plans one instance with its new shape, moving as
little as possible (boot CPU, then CPUs, pages and device units) before it optimises
quality; see ``kerf.lifecycle.update``.

Every result passes :func:`kerf.validate.validate_plan` before anything is written; a
placement that adds an error is a bug (InternalError).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kerf.errors import InternalError, UnplacedError
from kerf.lifecycle.kernel_view import InstanceView, KernelView
from kerf.state import InstanceRecord, RequestRecord
from planner.hardware import Host, Instance, MemoryRegion
from planner.policy import CoreSharing, CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest, Plan

PLAN_TIME_LIMIT = 10.0
PLAN_SEED = 7


@dataclass(frozen=True)
class Desired:
    """Where an instance should be: CPUs (boot CPU first), bytes per node (the first entry
    is the node instance-create asks for), device unit labels, its NUMA nodes."""

    cpus: tuple[int, ...]
    memory: tuple[tuple[int | None, int], ...]
    devices: tuple[str, ...]
    numa_nodes: tuple[int, ...]
    notes: tuple[str, ...] = ()

    @property
    def memory_bytes(self) -> int:
        """Total bytes."""
        return sum(size for _, size in self.memory)


def request_of(name: str, record: RequestRecord, *, ident: int | None = None) -> InstanceRequest:
    """The planner request behind a stored request."""
    return InstanceRequest(
        name=name,
        memory_bytes=record.memory_bytes,
        cpu_count=record.cpu_count,
        cpus=record.cpus,
        numa_nodes=record.numa_nodes,
        cpu_affinity=record.cpu_affinity,
        memory_policy=record.memory_policy,
        devices=tuple(DeviceWant.parse(d) for d in record.devices),
        exclusive_cores=record.exclusive_cores,
        id=ident,
    )


def existing_instances(
    host: Host, view: KernelView, records: Mapping[str, InstanceRecord], *, exclude: str | None = None
) -> list[Instance]:
    """The instances in the kernel as planner instances: actual CPUs, memory charged to the
    nodes it is on (addresses are the kernel's, not the description's), recorded units and
    policies."""
    out = []
    for name, inst in sorted(view.instances.items()):
        if name == exclude:
            continue
        out.append(as_instance(host, inst, records.get(name)))
    return out


def as_instance(host: Host, inst: InstanceView, record: InstanceRecord | None) -> Instance:
    """One kernel instance as a planner instance."""
    if record is not None:
        memory = tuple(
            MemoryRegion(size, None, node if node >= 0 else None) for node, size in record.placement.memory
        )
        devices = record.placement.devices
    else:
        memory = tuple(
            MemoryRegion(size, None, node) for node, size in sorted(inst.bytes_by_node().items(), key=str)
        )
        devices = ()
    request = record.request if record is not None else None
    nodes = record.placement.numa_nodes if record is not None else ()
    return Instance(
        name=inst.name,
        cpus=inst.cpus,
        memory=memory,
        devices=tuple(d for d in devices if d in host.unit_by_label),
        id=inst.id,
        numa_nodes=(request.numa_nodes or nodes) if request is not None else nodes,
        cpu_affinity=request.cpu_affinity if request is not None else None,
        memory_policy=request.memory_policy if request is not None else None,
        exclusive_cores=request.exclusive_cores if request is not None else False,
    )


def _plan(
    host: Host, existing: Sequence[Instance], request: InstanceRequest, core_sharing: CoreSharing
) -> Plan:
    from planner.solve import PlanOptions, plan

    options = PlanOptions(time_limit=PLAN_TIME_LIMIT, workers=1, seed=PLAN_SEED, core_sharing=core_sharing)
    result = plan(host, existing, [request], options)
    if result.unplaced or not result.placements:
        reasons = [u.reason for u in result.unplaced] or ["the planner found no placement"]
        details = "; ".join(dict.fromkeys(reasons + list(result.explanation)))
        raise UnplacedError(
            f"cannot place instance {request.name}: {details}",
            hint="kerf show lists what is free; ask for fewer CPUs or less memory, or other NUMA nodes",
        )
    return result


def check_placement(
    host: Host, existing: Sequence[Instance], placed: Instance, request: InstanceRequest
) -> None:
    """InternalError when ``placed`` adds a validator error to the existing instances."""
    from kerf.validate import validate_plan

    before = {(f.code, f.message) for f in validate_plan(host, existing, [], []).errors}
    report = validate_plan(host, existing, [placed], [request])
    new = [f for f in report.errors if (f.code, f.message) not in before]
    if new:
        listed = "; ".join(f"[{f.code}] {f.message}" for f in new)
        raise InternalError(
            f"the placement of {placed.name} fails the validator: {listed}",
            hint="this is a bug in kerf's planner; nothing was written. Please report it",
        )


def _memory_by_node(host: Host, inst: Instance) -> dict[int | None, int]:
    out: dict[int | None, int] = {}
    for region in inst.memory:
        node = region.numa_node
        if node is None and region.base is not None:
            node = host.node_of_address(region.base)
        out[node] = out.get(node, 0) + region.size
    return out


def _ordered_memory(
    host: Host, cpus: Sequence[int], by_node: Mapping[int | None, int]
) -> tuple[tuple[int | None, int], ...]:
    """The boot CPU's node first (instance-create's node: the kernel boots from it), then
    ascending; nodes without bytes left out."""
    boot_node = host.cpu_by_id[cpus[0]].numa_node if cpus and cpus[0] in host.cpu_by_id else None
    items = [(n, b) for n, b in by_node.items() if b > 0]
    items.sort(key=lambda nb: (nb[0] != boot_node, -1 if nb[0] is None else nb[0]))
    return tuple(items)


def desired_of(host: Host, inst: Instance, notes: Sequence[str] = ()) -> Desired:
    """The placement as kerf hands it on: CPUs (boot first), bytes per node (boot CPU's
    node first, as instance-create carries it), units, and notes (including the units only
    kerf's records hold)."""
    from kerf.lifecycle.baseline import kerf_only_reason

    kept_by_kerf = [
        f"{label} is assigned in kerf's records but not handed to the kernel: {why}"
        for label in inst.devices
        if (why := kerf_only_reason(host, label)) is not None
    ]
    return Desired(
        cpus=inst.cpus,
        memory=_ordered_memory(host, inst.cpus, _memory_by_node(host, inst)),
        devices=inst.devices,
        numa_nodes=inst.numa_nodes,
        notes=(*notes, *kept_by_kerf),
    )


# --- create ----------------------------------------------------------------------------------


def plan_create(
    host: Host,
    existing: Sequence[Instance],
    request: InstanceRequest,
    core_sharing: CoreSharing = CoreSharing.AVOID,
) -> Desired:
    """Place a new instance; UnplacedError when it does not fit. ``core_sharing``:
    isolation first (avoid) or whole cores kept free (pack), as kerf plan."""
    result = _plan(host, existing, request, core_sharing)
    placed = result.placements[0]
    check_placement(host, existing, placed, request)
    return desired_of(host, placed)


# --- update ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What `kerf update` was asked to change (None: keep)."""

    cpus: tuple[int, ...] | None = None
    cpu_count: int | None = None
    memory_bytes: int | None = None
    numa_nodes: tuple[int, ...] | None = None
    cpu_affinity: CpuAffinity | None = None
    memory_policy: MemoryPolicy | None = None
    devices: tuple[str, ...] | None = None
    exclusive_cores: bool | None = None


def updated_request(current: RequestRecord, change: Change, current_cpus: int) -> RequestRecord:
    """The stored request after ``change``."""
    cpus, count = current.cpus, current.cpu_count
    if change.cpus is not None:
        cpus, count = change.cpus, None
    elif change.cpu_count is not None:
        cpus, count = None, change.cpu_count
    elif cpus is None and count is None:
        count = current_cpus
    return RequestRecord(
        memory_bytes=change.memory_bytes if change.memory_bytes is not None else current.memory_bytes,
        cpu_count=count,
        cpus=cpus,
        numa_nodes=change.numa_nodes if change.numa_nodes is not None else current.numa_nodes,
        cpu_affinity=change.cpu_affinity or current.cpu_affinity,
        memory_policy=change.memory_policy or current.memory_policy,
        devices=change.devices if change.devices is not None else current.devices,
        exclusive_cores=change.exclusive_cores
        if change.exclusive_cores is not None
        else current.exclusive_cores,
    )
