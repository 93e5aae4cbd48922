"""The kubelet CPU manager's allocators, ported from their published description.

``take_packed`` is ``takeByTopologyNUMAPacked`` (best-fit at every level: whole NUMA
nodes or sockets, optionally whole uncore caches, whole cores, then single threads of
the fullest cores) and ``take_distributed`` is ``takeByTopologyNUMADistributed``
(balance the request over the fewest NUMA nodes that keep free CPUs most even).

Both work on a :class:`CpuTopology` (each CPU's core, socket, NUMA node and uncore cache)
and a set of available CPUs, and return CPU ids in the order they were taken, or None
where kubelet fails with "not enough cpus available" / "failed to allocate cpus".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from planner.hardware import Host

Members = Mapping[int, tuple[int, ...]]


def _group(pairs: Iterable[tuple[int, int]]) -> dict[int, tuple[int, ...]]:
    groups: dict[int, list[int]] = {}
    for key, value in pairs:
        groups.setdefault(key, []).append(value)
    return {k: tuple(sorted(set(v))) for k, v in sorted(groups.items())}


@dataclass(frozen=True)
class CpuTopology:
    """kubelet's picture of the machine: four ids per CPU and the members of each id.

    ``numa_first`` is kubelet's choice of the "higher" level: NUMA nodes when there are
    at least as many sockets as nodes, sockets otherwise (SNC, NPS2/4)."""

    core_cpus: Members
    socket_cpus: Members
    node_cpus: Members
    uncore_cpus: Members
    socket_cores: Members
    node_cores: Members
    node_sockets: Members
    socket_nodes: Members
    node_uncores: Members
    uncore_cores: Members
    numa_first: bool
    cpus_per_core: int
    cpus_per_uncore: int

    @classmethod
    def of(cls, host: Host) -> CpuTopology:
        """The view of every CPU that has a NUMA node (the others cannot be placed)."""
        cpus = [c for c in host.cpus if c.numa_node is not None]
        node = {c.id: c.numa_node or 0 for c in cpus}
        # kubelet falls back to the socket id when a core lists no L3.
        uncore = {c.id: (c.l3 if c.l3 is not None else c.socket) for c in cpus}
        core_cpus = _group((c.core, c.id) for c in cpus)
        uncore_cpus = _group((uncore[c.id], c.id) for c in cpus)
        return cls(
            core_cpus=core_cpus,
            socket_cpus=_group((c.socket, c.id) for c in cpus),
            node_cpus=_group((node[c.id], c.id) for c in cpus),
            uncore_cpus=uncore_cpus,
            socket_cores=_group((c.socket, c.core) for c in cpus),
            node_cores=_group((node[c.id], c.core) for c in cpus),
            node_sockets=_group((node[c.id], c.socket) for c in cpus),
            socket_nodes=_group((c.socket, node[c.id]) for c in cpus),
            node_uncores=_group((node[c.id], uncore[c.id]) for c in cpus),
            uncore_cores=_group((uncore[c.id], c.core) for c in cpus),
            numa_first=len({c.socket for c in cpus}) >= len(set(node.values())),
            cpus_per_core=max(1, len(cpus) // max(1, len(core_cpus))),
            cpus_per_uncore=max(1, len(cpus) // max(1, len(uncore_cpus))),
        )


class _Accumulator:
    """The mutable state of one allocation: what is still available, what was taken."""

    def __init__(self, topo: CpuTopology, available: Iterable[int], need: int, spread: bool) -> None:
        self.topo = topo
        self.available = set(available)
        self.need = need
        self.spread = spread
        self.taken: list[int] = []

    def take(self, cpus: Iterable[int]) -> None:
        chunk = sorted(cpus)
        self.available.difference_update(chunk)
        self.taken += chunk
        self.need -= len(chunk)

    def is_satisfied(self) -> bool:
        return self.need < 1

    def is_failed(self) -> bool:
        return self.need > len(self.available)

    def needs_at_least(self, count: int) -> bool:
        return self.need >= count

    def free_in(self, cpus: Iterable[int]) -> int:
        return sum(1 for c in cpus if c in self.available)

    def is_unit_free(self, cpus: Sequence[int]) -> bool:
        return all(c in self.available for c in cpus)

    # -- best-fit orderings: fewest available CPUs first, ties by ascending id ---------

    def _sort(self, ids: Iterable[int], cpus_of: Callable[[int], Iterable[int]]) -> list[int]:
        present = [i for i in dict.fromkeys(ids) if self.free_in(cpus_of(i)) > 0]
        return sorted(present, key=lambda i: (self.free_in(cpus_of(i)), i))

    def _nested(self, outer: list[int], inner: Members, cpus: Members) -> list[int]:
        result: list[int] = []
        for key in outer:
            result += self._sort(inner.get(key, ()), lambda i: cpus[i])
        return list(dict.fromkeys(result))

    def sorted_nodes(self) -> list[int]:
        t = self.topo
        if t.numa_first:
            return self._sort(t.node_cpus, lambda i: t.node_cpus[i])
        return self._nested(self.sorted_sockets(), t.socket_nodes, t.node_cpus)

    def sorted_sockets(self) -> list[int]:
        t = self.topo
        if t.numa_first:
            return self._nested(self.sorted_nodes(), t.node_sockets, t.socket_cpus)
        return self._sort(t.socket_cpus, lambda i: t.socket_cpus[i])

    def sorted_cores(self) -> list[int]:
        t = self.topo
        if t.numa_first:
            return self._nested(self.sorted_sockets(), t.socket_cores, t.core_cpus)
        return self._nested(self.sorted_nodes(), t.node_cores, t.core_cpus)

    def sorted_uncores(self) -> list[int]:
        return self._nested(self.sorted_nodes(), self.topo.node_uncores, self.topo.uncore_cpus)

    # -- the steps ------------------------------------------------------------------------

    def take_free_units(self, order: list[int], cpus: Members) -> None:
        """Take each completely free unit (walked in ``order``, computed once) whose size
        the remaining need still covers."""
        free = [u for u in order if self.is_unit_free(cpus[u])]
        for unit in free:
            if self.needs_at_least(len(cpus[unit])):
                self.take(cpus[unit])

    def take_uncore_caches(self) -> None:
        """KEP-4800: whole free caches while the need covers one, else the free cores of
        one cache that cover the need exactly."""
        t = self.topo
        for uncore in self.sorted_uncores():
            if self.needs_at_least(t.cpus_per_uncore):
                self.take_free_units(self.sorted_uncores(), t.uncore_cpus)
            if self.is_satisfied():
                return
            self.take_partial_uncore(uncore)
            if self.is_satisfied():
                return

    def take_partial_uncore(self, uncore: int) -> None:
        t = self.topo
        cores_needed = -(-self.need // t.cpus_per_core)
        free_cores = [c for c in t.uncore_cores[uncore] if self.is_unit_free(t.core_cpus[c])]
        cpus = sorted(c for core in free_cores[:cores_needed] for c in t.core_cpus[core])
        if t.cpus_per_core > 1 and self.need % 2 == 1 and cpus:
            cpus = cpus[:-1]
        if len(cpus) == self.need:
            self.take(cpus)

    def take_remaining_cpus(self) -> None:
        """Single threads: partly used cores first (packed) or by socket and id (spread)."""
        t = self.topo
        if self.spread:
            order = [c for s in self.sorted_sockets() for c in t.socket_cpus[s] if c in self.available]
        else:
            order = [c for core in self.sorted_cores() for c in t.core_cpus[core] if c in self.available]
        for cpu in order:
            self.take([cpu])
            if self.is_satisfied():
                return


def take_packed(
    topo: CpuTopology,
    available: Iterable[int],
    n: int,
    *,
    spread: bool = False,
    align_uncore: bool = False,
) -> list[int] | None:
    """``takeByTopologyNUMAPacked``: ``n`` CPUs of ``available`` in take order, or None.

    ``spread`` is the ``distribute-cpus-across-cores`` sorting (no whole-core step, single
    threads by socket and ascending id); ``align_uncore`` is
    ``prefer-align-cpus-by-uncorecache``."""
    acc = _Accumulator(topo, available, n, spread)
    if acc.is_satisfied():
        return []
    if acc.is_failed():
        return None
    if topo.numa_first:
        levels = [(acc.sorted_nodes, topo.node_cpus), (acc.sorted_sockets, topo.socket_cpus)]
    else:
        levels = [(acc.sorted_sockets, topo.socket_cpus), (acc.sorted_nodes, topo.node_cpus)]
    for order, members in levels:
        acc.take_free_units(order(), members)
        if acc.is_satisfied():
            return acc.taken
    if align_uncore:
        acc.take_uncore_caches()
        if acc.is_satisfied():
            return acc.taken
    if not spread:
        acc.take_free_units(acc.sorted_cores(), topo.core_cpus)
        if acc.is_satisfied():
            return acc.taken
    acc.take_remaining_cpus()
    return acc.taken if acc.is_satisfied() else None


def _round3(value: float) -> float:
    """Round half away from zero to 3 decimals, as Go's math.Round(x*1000)/1000."""
    return math.floor(value * 1000 + 0.5) / 1000


def balance_score(free_after: Iterable[int]) -> float:
    """kubelet's balance score: population standard deviation, mean and result rounded."""
    values = list(free_after)
    mean = _round3(sum(values) / len(values))
    return _round3(math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)))


def _remainder_fits(after: dict[int, int], subset: Sequence[int], remainder: int, group: int) -> bool:
    """Hand out ``remainder`` CPUs in groups round-robin over ``subset`` (mutating
    ``after``); False when the subset runs dry first. kubelet loops forever there."""
    while remainder > 0:
        progressed = False
        for node in subset:
            if remainder == 0:
                break
            if after[node] < group:
                continue
            after[node] -= group
            remainder -= group
            progressed = True
        if not progressed:
            return False
    return True


def _best_remainder(
    after: dict[int, int], combo: Sequence[int], remainder: int, group: int
) -> tuple[float, tuple[int, ...]] | None:
    """The subset of ``combo`` that takes the remainder groups with the best balance."""
    if remainder == 0:
        return balance_score(after.values()), ()
    candidates = [n for n in combo if after[n] >= group]
    best: tuple[float, tuple[int, ...]] | None = None
    for k in range(len(candidates), 0, -1):
        for subset in itertools.combinations(candidates, k):
            if sum(after[n] for n in subset) < remainder:
                continue
            trial = dict(after)
            if not _remainder_fits(trial, subset, remainder, group):
                continue
            score = balance_score(trial.values())
            if best is None or score < best[0]:
                best = (score, subset)
    return best


def take_distributed(
    topo: CpuTopology, available: Iterable[int], n: int, group: int = 1, *, spread: bool = False
) -> list[int] | None:
    """``takeByTopologyNUMADistributed``: spread ``n`` CPUs in groups of ``group`` over the
    fewest NUMA nodes, choosing nodes (and where remainder groups go) to keep free CPUs
    per node as even as possible. Falls back to :func:`take_packed` when ``n`` is not a
    multiple of ``group`` or no combination of nodes qualifies."""
    available = set(available)
    if n % group != 0:
        return take_packed(topo, available, n, spread=spread)
    acc = _Accumulator(topo, available, n, spread)
    if acc.is_satisfied():
        return []
    if acc.is_failed():
        return None
    nodes = acc.sorted_nodes()
    free = {node: acc.free_in(topo.node_cpus[node]) for node in nodes}
    total_cpus = sum(len(cpus) for cpus in topo.core_cpus.values())
    groups_total = (total_cpus - 1) // group + 1
    groups_per_node = (groups_total - 1) // max(1, len(topo.node_cpus)) + 1
    groups_needed = (n - 1) // group + 1
    k_min = (groups_needed - 1) // groups_per_node + 1
    k_max = min(groups_needed, len(nodes))
    for k in range(k_min, k_max + 1):
        best: tuple[float, tuple[int, ...], tuple[int, ...]] | None = None
        for combo in itertools.combinations(nodes, k):
            if best is not None and best[0] == 0:
                break
            if sum(free[c] for c in combo) < n or sum(free[c] // group for c in combo) * group < n:
                continue
            share = n // k // group * group
            if any(free[c] < share for c in combo):
                continue
            after = dict(free)
            for c in combo:
                after[c] -= share
            local = _best_remainder(after, combo, n - share * k, group)
            if local is not None and (best is None or local[0] < best[0]):
                best = (local[0], combo, local[1])
        if best is None:
            continue
        _, combo, remainder_nodes = best
        share = n // k // group * group
        for node in combo:
            part = take_packed(topo, acc.available & set(topo.node_cpus[node]), share, spread=spread)
            assert part is not None, "a node checked to hold its share could not give it"
            acc.take(part)
        while acc.need > 0:
            before = acc.need
            for node in remainder_nodes:
                if acc.need == 0:
                    break
                on_node = acc.available & set(topo.node_cpus[node])
                if len(on_node) < group:
                    continue
                part = take_packed(topo, on_node, group, spread=spread)
                assert part is not None, "a node with a free group could not give it"
                acc.take(part)
            assert acc.need < before, "remainder accounting went wrong"
        return acc.taken
    return take_packed(topo, available, n, spread=spread)
