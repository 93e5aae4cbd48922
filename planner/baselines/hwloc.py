"""hwloc_distrib over the free PUs: the spread reference.

hwloc's ``hwloc_distrib`` hands ``n`` items to a list of roots in proportion to how many
PUs each holds (cumulative rounding: earlier roots get the rounded-up shares), and
recurses into children until a share is one item, the object has no children, or the
depth limit is reached. A root that gets nothing is merged into the previous item's set.
Each item is then reduced to its lowest PU (``hwloc-distrib --single``).

Here the topology is restricted to the PUs the request may use, as if the host were
restricted to its free CPUs, so the result is "spread as evenly as possible over what
is free". It is occupancy-blind otherwise (no best fit), and it spreads every request,
compact ones included: it is the spread end of the scale. Exclusive requests get whole
cores, distributed at core depth. Local requests are distributed inside the
lowest-numbered node that can hold them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from planner.baselines.base import GreedyAllocator
from planner.baselines.workspace import Workspace
from planner.hardware import Cpu, Host


@dataclass
class TopoObject:
    """One object of the restricted topology: its PUs (ascending) and children."""

    kind: str
    depth: int
    cpus: tuple[int, ...]
    children: list[TopoObject] = field(default_factory=list)


def _levels(host: Host) -> list[tuple[str, Callable[[Cpu], int]]]:
    """Socket, NUMA and L3 levels, coarsest first (equal counts keep this order), then core."""

    def by_socket(cpu: Cpu) -> int:
        return cpu.socket

    def by_node(cpu: Cpu) -> int:
        return -1 if cpu.numa_node is None else cpu.numa_node

    def by_l3(cpu: Cpu) -> int:
        return -1 if cpu.l3 is None else cpu.l3

    candidates: list[tuple[str, Callable[[Cpu], int]]] = [("package", by_socket), ("numa", by_node)]
    if any(c.l3 is not None for c in host.cpus):
        candidates.append(("l3", by_l3))
    ranked = sorted(candidates, key=lambda level: len({level[1](c) for c in host.cpus}))
    return [*ranked, ("core", lambda cpu: cpu.core)]


def build_topology(host: Host, pus: Sequence[int]) -> TopoObject:
    """The machine object over ``pus`` only; children ordered by their lowest PU."""
    levels = _levels(host)

    def build(kind: str, depth: int, cpus: list[int]) -> TopoObject:
        obj = TopoObject(kind, depth, tuple(cpus))
        if depth == len(levels):
            obj.children = [TopoObject("pu", depth + 1, (c,)) for c in cpus]
            return obj
        child_kind, key = levels[depth]
        groups: dict[int, list[int]] = {}
        for cpu in cpus:
            groups.setdefault(key(host.cpu_by_id[cpu]), []).append(cpu)
        children = sorted(groups.values(), key=min)
        obj.children = [build(child_kind, depth + 1, members) for members in children]
        return obj

    return build("machine", 0, sorted(pus))


def core_depth(host: Host) -> int:
    """Depth of core objects in :func:`build_topology` trees."""
    return len(_levels(host))


def distrib(roots: Sequence[TopoObject], n: int, until: int) -> list[list[int]]:
    """``hwloc_distrib``: ``n`` PU sets over ``roots`` (``n`` at most their PU count)."""
    total = sum(len(r.cpus) for r in roots)
    sets: list[list[int]] = []
    given = 0
    for root in roots:
        weight = len(root.cpus)
        if not weight:
            continue
        chunk = -(-(given + weight) * n // total) - -(-given * n // total)
        if not root.children or chunk <= 1 or root.depth >= until:
            if chunk:
                sets += [list(root.cpus) for _ in range(chunk)]
            else:
                # The first root always gets an item, so there is a previous set.
                sets[-1] = sets[-1] + list(root.cpus)
        else:
            sets += distrib(root.children, chunk, until)
        given += weight
    return sets


class HwlocSpread(GreedyAllocator):
    """Spread over the free PUs the way ``hwloc-distrib --single`` does."""

    prefer_local_devices = False

    def __init__(self, name: str = "hwloc-spread") -> None:
        super().__init__(name)

    def choose_in(self, ws: Workspace, nodes: tuple[int, ...], n: int) -> Sequence[int] | None:
        """Distribute ``n`` items over the usable PUs of ``nodes`` (one node if local)."""
        if ws.is_local:
            fitting = [node for node in sorted(nodes) if ws.node_can_hold(node, n)]
            if not fitting:
                return None
            nodes = (fitting[0],)
        pus = ws.usable_in(nodes)
        if ws.request.exclusive_cores:
            return self.whole_cores(ws, pus, n)
        sets = distrib([build_topology(ws.host, pus)], n, until=1 << 30)
        return [min(s) for s in sets]

    def whole_cores(self, ws: Workspace, pus: Sequence[int], n: int) -> Sequence[int] | None:
        """Distribute whole cores until they cover ``n`` threads. Each core is weighed as
        one item (its lowest thread stands for it), so no core is handed out twice."""
        host = ws.host
        cores = ws.whole_cores(pus)
        stand_ins = [core.cpus[0] for core in cores]
        width = max((len(core.cpus) for core in cores), default=1)
        items = min(-(-n // width), len(cores))
        while items <= len(cores):
            sets = distrib([build_topology(host, stand_ins)], items, until=core_depth(host))
            chosen = [host.core_by_id[host.cpu_by_id[min(s)].core] for s in sets]
            cpus = [c for core in chosen for c in core.cpus]
            if len(cpus) >= n:
                return cpus[:n]
            items += 1
        return None
