"""Slurm's cons_tres core selection on one node: block (best-fit socket) and cyclic.

Slurm allocates whole cores (``CR_Core``): only completely free cores count, and an
instance's CPUs are the threads of its cores in order, so an odd count leaves a thread
that nobody else is given by Slurm (other allocators may still use it). With more NUMA
nodes than sockets (SNC, NPS) the nodes play the part of sockets, as with Slurm's
``numa_node_as_socket``.

* block (compact): repeatedly the best-fit "socket": the one with the fewest free
  threads that still covers the need or, if none does, the one with the most; cores in
  ascending order inside it;
* cyclic (spread): one core from each socket in turn;
* local: block inside the best-fit NUMA node (fewest free threads that cover the need).
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.baselines.base import GreedyAllocator
from planner.baselines.workspace import Workspace
from planner.hardware import Core


class SlurmBlock(GreedyAllocator):
    """cons_tres block distribution with best-fit sockets (cyclic for spread)."""

    def __init__(self, name: str = "slurm-block") -> None:
        super().__init__(name)

    def free_cores_by_group(
        self, ws: Workspace, nodes: tuple[int, ...], by_node: bool
    ) -> dict[int, list[Core]]:
        """Completely free cores on ``nodes``, grouped by socket (or NUMA node)."""
        groups: dict[int, list[Core]] = {}
        for core in ws.whole_cores(ws.usable_in(nodes)):
            if ws.occupancy.is_core_free(core) and all(c in ws.usable for c in core.cpus):
                key = ws.node_of(core.cpus[0]) if by_node else core.socket
                groups.setdefault(key, []).append(core)
        return dict(sorted(groups.items()))

    def choose_in(self, ws: Workspace, nodes: tuple[int, ...], n: int) -> Sequence[int] | None:
        """Whole cores covering ``n`` threads inside ``nodes``; the first ``n`` threads."""
        host = ws.host
        by_node = ws.is_local or len({n.id for n in host.numa_nodes if n.cpus}) > len(host.sockets)
        groups = self.free_cores_by_group(ws, nodes, by_node)
        if ws.is_local:
            fitting = [
                g
                for g, cores in groups.items()
                if sum(len(c.cpus) for c in cores) >= n and ws.memory_fits(g, ws.request.memory_bytes)
            ]
            if not fitting:
                return None
            best = min(fitting, key=lambda g: (sum(len(c.cpus) for c in groups[g]), g))
            groups = {best: groups[best]}
        taken = self.cyclic(groups, n) if ws.is_spread else self.block(groups, n)
        cpus = [c for core in taken for c in core.cpus]
        return cpus[:n] if len(cpus) >= n else None

    @staticmethod
    def block(groups: dict[int, list[Core]], n: int) -> list[Core]:
        """Best-fit group after best-fit group until the cores cover ``n`` threads."""
        free = {g: list(cores) for g, cores in groups.items() if cores}
        taken: list[Core] = []
        need = n
        while need > 0 and free:
            size = {g: sum(len(c.cpus) for c in cores) for g, cores in free.items()}
            enough = [g for g in free if size[g] >= need]
            group = (
                min(enough, key=lambda g: (size[g], g)) if enough else max(free, key=lambda g: (size[g], -g))
            )
            while need > 0 and free[group]:
                core = free[group].pop(0)
                taken.append(core)
                need -= len(core.cpus)
            if not free[group]:
                del free[group]
        return taken

    @staticmethod
    def cyclic(groups: dict[int, list[Core]], n: int) -> list[Core]:
        """One core from each group in turn until the cores cover ``n`` threads."""
        queues = [list(cores) for _, cores in sorted(groups.items()) if cores]
        taken: list[Core] = []
        need = n
        while need > 0 and any(queues):
            for queue in queues:
                if need <= 0:
                    break
                if queue:
                    core = queue.pop(0)
                    taken.append(core)
                    need -= len(core.cpus)
        return taken
