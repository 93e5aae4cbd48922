"""OpenStack Nova's NUMA fit: host cells by pack/spread order, then per-cell core packing.

``numa_fit_instance_to_host``: the guest is one NUMA cell unless it cannot fit one host
cell, then the fewest cells that fit, vCPUs split evenly (larger shares first). Host
cells are ordered by a chain of stable sorts (free memory, then free pinned CPUs, then
devices: cells with the wanted devices first when the guest asks for devices, cells
with any free device last otherwise); pack puts the most used cells first, spread the
least used. Guest cells go to host cells by first fit over the permutations of that
order.

``_pack_instance_onto_cores`` inside a cell groups free threads per core and, for k
from the most free threads on a core down to 1, uses k threads on each core that has k
free, in core order, as soon as that covers the cell's share:

* ``prefer`` (shared requests): whole free cores first, then one thread per core; last,
  any free threads;
* ``require`` (exclusive requests): only k >= 2 on completely free cores (k = 1 only on
  hosts without SMT), so an odd share leaves the last core's sibling idle;
* ``isolate`` (option for exclusive requests): one thread per completely free core.

Mapping of affinities: local is one cell only; spread asks for as many cells as the
host has (``hw:numa_nodes``), fewer when that does not fit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from planner.baselines.base import GreedyAllocator
from planner.baselines.workspace import Workspace

# Nova's permutation search grows factorially; give up after this many steps.
SEARCH_BUDGET = 200_000


def even_split(n: int, k: int) -> list[int]:
    """``n`` split into ``k`` shares that differ by at most one, larger shares first."""
    base, extra = divmod(n, k)
    return [base + 1 if i < extra else base for i in range(k)]


def pack_onto_cores(threads_by_core: Sequence[Sequence[int]], n: int, policy: str) -> list[int] | None:
    """``_pack_instance_onto_cores``: ``n`` threads from per-core free threads (cores in
    order, threads ascending), or None."""
    widest = max((len(t) for t in threads_by_core), default=0)
    lowest = 1 if policy == "prefer" or widest <= 1 else 2
    if policy == "isolate":
        cores = [t for t in threads_by_core if t]
        return [t[0] for t in cores[:n]] if len(cores) >= n else None
    for k in range(widest, lowest - 1, -1):
        cores = [t for t in threads_by_core if len(t) >= k]
        if k * len(cores) >= n:
            return [c for t in cores for c in sorted(t)[:k]][:n]
    if policy == "prefer":
        every = sorted(c for t in threads_by_core for c in t)
        return every[:n] if len(every) >= n else None
    return None


class Nova(GreedyAllocator):
    """Nova cell fit with pack (``packing_host_numa_cells_allocation_strategy=True``) or
    spread ordering of host cells."""

    def __init__(self, name: str, *, pack: bool, exclusive_policy: str = "require") -> None:
        super().__init__(name)
        if exclusive_policy not in ("require", "isolate"):
            raise ValueError(f"exclusive_policy must be require or isolate, got {exclusive_policy!r}")
        self.pack = pack
        self.exclusive_policy = exclusive_policy

    def candidates(self, ws: Workspace, n: int) -> Iterator[Sequence[int]]:
        """One set per scope (listed nodes, then all): the first guest layout that fits."""
        for scope in ws.scopes():
            cpus = self.fit(ws, scope, n)
            if cpus is not None:
                yield cpus

    def fit(self, ws: Workspace, cells: tuple[int, ...], n: int) -> list[int] | None:
        """Fit the guest on ``cells``: one cell, else the fewest (spread: the most)."""
        most = min(n, len(cells))
        if ws.is_local:
            counts = [1]
        elif ws.is_spread:
            counts = list(range(most, 0, -1))
        else:
            counts = list(range(1, most + 1))
        order = self.sorted_cells(ws, cells)
        for k in counts:
            cpus = self.fit_guest(ws, order, even_split(n, k))
            if cpus is not None:
                return cpus
        return None

    def sorted_cells(self, ws: Workspace, cells: Sequence[int]) -> list[int]:
        """Host cells in Nova's order: three stable sorts, the last one dominant."""
        order = sorted(cells)
        order.sort(key=lambda c: ws.free_memory.get(c, 0), reverse=not self.pack)
        order.sort(key=lambda c: len(ws.usable_by_node.get(c, ())), reverse=not self.pack)
        free_units = ws.occupancy.free_units
        if ws.request.devices:
            wanted = {u.numa_node for w in ws.request.devices for u in ws.candidate_units(w)}
            order.sort(key=lambda c: c not in wanted)
        else:
            with_devices = {u.numa_node for u in free_units}
            order.sort(key=lambda c: c in with_devices)
        return order

    def cell_pinning(self, ws: Workspace, cell: int, share: int) -> list[int] | None:
        """Threads for ``share`` vCPUs on one host cell, if its CPUs and memory fit."""
        if not ws.memory_fits(cell, ws.memory_share(share)):
            return None
        usable = set(ws.usable_by_node.get(cell, ()))
        if len(usable) < share:
            return None
        cores = ws.whole_cores(usable)
        threads = [tuple(c for c in core.cpus if c in usable) for core in cores]
        policy = self.exclusive_policy if ws.request.exclusive_cores else "prefer"
        return pack_onto_cores(threads, share, policy)

    def fit_guest(self, ws: Workspace, order: list[int], shares: list[int]) -> list[int] | None:
        """First fit over permutations of ``order``: guest cell i on the earliest unused
        host cell that fits it, backtracking when a later guest cell finds none."""
        pinnings = {
            (cell, share): self.cell_pinning(ws, cell, share) for cell in order for share in set(shares)
        }
        fitting = {share: [c for c in order if pinnings[(c, share)] is not None] for share in set(shares)}
        # A cell that fits a share fits every smaller one, so enough cells for the
        # smallest share and for the largest shares decide feasibility up front.
        if len(fitting[min(shares)]) < len(shares) or len(fitting[max(shares)]) < shares.count(max(shares)):
            return None
        steps = [SEARCH_BUDGET]

        def search(i: int, used: list[int]) -> list[int] | None:
            if i == len(shares):
                return used
            for cell in fitting[shares[i]]:
                steps[0] -= 1
                if steps[0] <= 0:
                    return None
                if cell in used:
                    continue
                found = search(i + 1, [*used, cell])
                if found is not None:
                    return found
            return None

        cells = search(0, [])
        if cells is None:
            return None
        return [
            cpu for cell, share in zip(cells, shares, strict=True) for cpu in pinnings[(cell, share)] or ()
        ]
