"""First fit by CPU id: the strategy kerf used before it had a planner.

* compact: the first run of ``n`` consecutive ids among the usable CPUs, or the ``n``
  lowest ids when no such run exists;
* spread: round-robin over the NUMA nodes in ascending order, lowest id first on each;
* local: the lowest-numbered node that can hold the request, lowest ids on it.

It never looks at cores, sockets, caches or distances: the naive floor every other
allocator should beat. Exclusive requests take threads of whole free cores, still by id.
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.baselines.base import GreedyAllocator
from planner.baselines.workspace import Workspace


def first_run(cpus: Sequence[int], n: int) -> list[int]:
    """The first ``n`` consecutive ids in ascending ``cpus``, else the ``n`` lowest."""
    for start in range(len(cpus) - n + 1):
        if cpus[start + n - 1] - cpus[start] == n - 1:
            return list(cpus[start : start + n])
    return list(cpus[:n])


def round_robin(by_node: Sequence[Sequence[int]], n: int) -> list[int]:
    """Take the lowest remaining id of each node in turn until ``n`` are taken."""
    queues = [list(cpus) for cpus in by_node if cpus]
    taken: list[int] = []
    while len(taken) < n and queues:
        for queue in queues:
            if len(taken) == n:
                break
            if queue:
                taken.append(queue.pop(0))
        queues = [q for q in queues if q]
    return taken


class FirstFit(GreedyAllocator):
    """Lowest free CPU ids (see the module docstring)."""

    prefer_local_devices = False

    def __init__(self, name: str = "first-fit") -> None:
        super().__init__(name)

    def choose_in(self, ws: Workspace, nodes: tuple[int, ...], n: int) -> Sequence[int] | None:
        """CPUs for ``n`` inside ``nodes``."""
        if ws.is_local:
            for node in sorted(nodes):
                if ws.node_can_hold(node, n):
                    return ws.usable_by_node[node][:n]
            return None
        if ws.is_spread:
            return round_robin([ws.usable_by_node[node] for node in sorted(nodes)], n)
        return first_run(ws.usable_in(nodes), n)
