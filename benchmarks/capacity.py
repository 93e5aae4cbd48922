"""Capacity for reference flavours: how many more instances of a fixed shape still fit.

This is the fragmentation figure 5 of placement-anchors §8.3, computed in closed form
rather than with a solver, so that it can be sampled after every event of every run:

``core4``  4 vCPUs on whole free cores of one NUMA node: per node, the threads of its
           completely free cores divided by 4;
``numa``   one whole NUMA node: nodes whose pool CPUs are all usable;
``numa2``  an instance over two nodes with half a node on each: each node offers
           b = usable CPUs // half-node slots, and the count of 2-node instances is
           :func:`multi_node_capacity` (the VMCAP formula of Gudkov et al. for fully
           connected nodes, taken from a summary; placement-anchors §5.1 marks it
           unverified, so treat it as an estimate).

"Usable" CPUs are free pool CPUs not on a core held by an exclusive instance.
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.hardware import Host, Instance
from planner.occupancy import Occupancy

FLAVOURS = ("core4", "numa", "numa2")


def multi_node_capacity(slots: Sequence[int], k: int) -> int:
    """How many instances that each take one slot on ``k`` distinct nodes fit, given
    each node's free ``slots``: the minimum over r < k of
    floor((total - the r largest) / (k - r))."""
    if k <= 0:
        return 0
    ordered = sorted((max(0, s) for s in slots), reverse=True)
    if len(ordered) < k:
        return 0
    total = sum(ordered)
    return min((total - sum(ordered[:r])) // (k - r) for r in range(k))


def usable_by_node(host: Host, instances: Sequence[Instance]) -> dict[int, int]:
    """NUMA node -> free pool CPUs a new shared request could take."""
    occ = Occupancy.of(host, instances)
    exclusive = {i.name for i in instances if i.exclusive_cores}
    blocked = {c for core in host.cores if occ.core_owners(core) & exclusive for c in core.cpus}
    return {node: sum(1 for c in cpus if c not in blocked) for node, cpus in occ.free_cpus_by_node.items()}


def flavour_capacity(host: Host, instances: Sequence[Instance]) -> dict[str, int]:
    """Extra instances of each reference flavour the host could still take."""
    occ = Occupancy.of(host, instances)
    whole_threads: dict[int, int] = {}
    for core in host.cores:
        if core.numa_node is not None and occ.is_core_free(core):
            whole_threads[core.numa_node] = whole_threads.get(core.numa_node, 0) + len(core.cpus)
    usable = usable_by_node(host, instances)
    pool = {n: len(host.pool_cpus_of_node(n)) for n in usable}
    with_cpus = [n for n in usable if pool[n]]
    half = {n: max(1, -(-pool[n] // 2)) for n in with_cpus}
    return {
        "core4": sum(t // 4 for t in whole_threads.values()),
        "numa": sum(1 for n in with_cpus if usable[n] >= pool[n]),
        "numa2": multi_node_capacity([usable[n] // half[n] for n in with_cpus], 2),
    }
