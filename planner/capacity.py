"""What-if capacity: how many more instances of one shape fit, and what runs out first.

The answer is exact: the shape is copied as many times as the simplest resource
bound allows, and the placement model (the same rules as ``plan``) maximises how many
copies it admits; the count is proven optimal by the solver unless the time limit
runs out (``Capacity.proven``).

Per-resource bounds say what each resource alone would allow:

``cpus``     free CPUs the shape may use (per node for local affinity, unshared cores
             for exclusive-cores) divided by its CPU count;
``memory``   free pool memory where its policy may put memory, divided by its size
             (per node for local affinity, the smallest share for interleave);
``devices``  free units of each wanted device divided by how many it wants (None
             when the shape wants no device).

The resource with the smallest bound runs out first. When the exact count is below
every bound, the shape's rules (one node, whole cores, memory beside the CPUs) are what
strand the rest, and ``limit`` says ``"policies"``.

``why_not_more`` says in words, with numbers per NUMA node, why one more copy does not
fit once the counted copies are placed: the explanation kerf plan gives a request that
does not fit alone (planner.explain), asked of copy number count + 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from planner.errors import RequestError
from planner.hardware import PAGE_SIZE, Host, Instance
from planner.objective import instance_pages_per_node
from planner.occupancy import Occupancy
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import InstanceRequest
from planner.solve import PlanOptions, settings_of, solve_requests

RESOURCE_ORDER = ("cpus", "memory", "devices")


@dataclass(frozen=True)
class NodeHeadroom:
    """One NUMA node before and after the maximum number of copies is placed."""

    node: int
    free_cpus: int
    free_memory: int
    instances: int
    cpus_left: int
    memory_left: int


@dataclass(frozen=True)
class Capacity:
    """How many more instances of ``shape`` fit, and why not more."""

    shape: InstanceRequest
    count: int
    proven: bool
    limit: str
    bounds: Mapping[str, int | None]
    per_node: tuple[NodeHeadroom, ...]
    placements: tuple[Instance, ...]
    solve_seconds: float
    why_not_more: str | None = None


def capacity(
    host: Host, existing: Iterable[Instance], shape: InstanceRequest, options: PlanOptions | None = None
) -> Capacity:
    """The exact number of extra ``shape`` instances that fit next to ``existing``."""
    from planner.cpsat.model import allowed_classes
    from planner.cpsat.spec import build_spec
    from planner.topology import Topology

    options = options or PlanOptions()
    existing = list(existing)
    if shape.cpus is not None:
        raise RequestError(
            "capacity needs a CPU count, not pinned CPUs",
            hint="pinned CPUs fit once or not at all; use kerf plan to check them",
        )
    layout = Topology.of(host).layout()
    spec = build_spec(host, layout, existing, [shape])
    (demand,) = spec.demands
    free_cpus = dict.fromkeys(layout.cpu_nodes, 0)
    # the bounds count what each resource alone allows, also when one copy is blocked
    for k in allowed_classes(spec, replace(demand, blocked=None)):
        free_cpus[k.node] += k.count * _per_core(k.free, shape.size, shape.exclusive_cores)
    memory_nodes = demand.intent.memory_nodes
    bounds: dict[str, int | None] = {
        "cpus": _cpu_bound(shape, free_cpus),
        "memory": _memory_bound(spec.memory_free, demand.pages, shape, layout.cpu_nodes, memory_nodes),
        "devices": _device_bound(spec.device_free, [d.device for d in demand.devices]),
    }
    taken = {inst.name for inst in existing}
    stem = shape.name
    while any(name.startswith(f"{stem}-") for name in taken):
        stem += "_"  # copy names must not collide with instances that exist
    if demand.blocked is not None:
        limit = _blocked_resource(demand.blocked)
        if bounds[limit] is not None:
            bounds[limit] = 0  # what blocked it: a held unit or pinned CPU counts as none free
        headroom = _headroom(host, existing, ())
        # named like the copy that would come first, as when copies fit
        reason = f"{stem}-1: {demand.blocked}"
        return Capacity(shape, 0, True, limit, bounds, headroom, (), 0.0, reason)
    most = min(b for b in bounds.values() if b is not None)
    copies = [replace(shape, name=f"{stem}-{i + 1}", id=None) for i in range(most)]
    solved = solve_requests(host, existing, copies, settings=settings_of(options), admission_only=True)
    placed = tuple(solved.placed[i] for i in sorted(solved.placed))
    count = len(placed)
    limit = next((r for r in RESOURCE_ORDER if bounds[r] == count), "policies")
    proven = solved.outcome.proven
    one_more = replace(shape, name=f"{stem}-{count + 1}", id=None)
    return Capacity(
        shape=shape,
        count=count,
        proven=proven,
        limit=limit,
        bounds=bounds,
        per_node=_headroom(host, existing, placed),
        placements=placed,
        solve_seconds=solved.outcome.seconds,
        # only a proven count says that one more cannot fit
        why_not_more=_why_not(host, [*existing, *placed], one_more, options) if proven else None,
    )


def _why_not(host: Host, existing: list[Instance], request: InstanceRequest, options: PlanOptions) -> str:
    """Why ``request`` does not fit next to ``existing`` on its own, in numbers."""
    from planner.cpsat.spec import build_spec
    from planner.explain import resource_reason
    from planner.topology import Topology

    spec = build_spec(host, Topology.of(host).layout(), existing, [request])
    (demand,) = spec.demands
    if demand.blocked is not None:
        return f"{demand.name}: {demand.blocked}"
    return resource_reason(spec, demand, settings_of(options))


def _blocked_resource(reason: str) -> str:
    if "memory" in reason:
        return "memory"
    if "CPU" in reason:
        return "cpus"
    return "devices"


def _per_core(free: int, size: int, exclusive: bool) -> int:
    """The most threads of one core that copies of a shape can hold: one copy alone, or
    two copies with at most half a core each (the model's sharing rule)."""
    alone = min(size, free)
    if exclusive:
        return alone
    return max(alone, 2 * min(size, free // 2))


def _cpu_bound(shape: InstanceRequest, free: Mapping[int, int]) -> int:
    size = shape.size
    if shape.cpu_affinity is CpuAffinity.LOCAL:
        return sum(n // size for n in free.values())
    return sum(free.values()) // size


def _memory_bound(
    free_pages: Mapping[int, int],
    need: int,
    shape: InstanceRequest,
    cpu_nodes: Iterable[int],
    memory_nodes: frozenset[int] | None,
) -> int:
    nodes = sorted(memory_nodes) if memory_nodes is not None else sorted(cpu_nodes)
    if shape.memory_policy is MemoryPolicy.INTERLEAVE and memory_nodes is not None:
        share = -(-need // len(nodes))
        return min(free_pages.get(n, 0) // share for n in nodes)
    if shape.cpu_affinity is CpuAffinity.LOCAL:
        return sum(free_pages.get(n, 0) // need for n in nodes)
    return sum(free_pages.get(n, 0) for n in nodes) // need


def _device_bound(free_units: Mapping[str, tuple[str, ...]], wanted: list[str]) -> int | None:
    if not wanted:
        return None
    counts = {d: wanted.count(d) for d in set(wanted)}
    return min(len(free_units.get(d, ())) // n for d, n in counts.items())


def _headroom(host: Host, existing: list[Instance], placed: tuple[Instance, ...]) -> tuple[NodeHeadroom, ...]:
    from planner.memory import free_bytes

    before, after = Occupancy.of(host, existing), Occupancy.of(host, [*existing, *placed])
    memory_before = free_bytes(host, existing)
    used: dict[int, int] = {}
    for inst in placed:
        for node, pages in instance_pages_per_node(host, inst).items():
            used[node] = used.get(node, 0) + pages * PAGE_SIZE
    rows = []
    for node in host.node_ids:
        on_node = sum(1 for inst in placed if any(host.cpu_by_id[c].numa_node == node for c in inst.cpus))
        rows.append(
            NodeHeadroom(
                node=node,
                free_cpus=len(before.free_cpus_by_node.get(node, ())),
                free_memory=memory_before.get(node, 0),
                instances=on_node,
                cpus_left=len(after.free_cpus_by_node.get(node, ())),
                memory_left=memory_before.get(node, 0) - used.get(node, 0),
            )
        )
    return tuple(rows)


def count_more(host: Host, existing: Sequence[Instance], shape: InstanceRequest) -> int:
    """Just the count (the ``CapacityFn`` shape planner.metrics takes)."""
    return capacity(host, existing, shape).count
