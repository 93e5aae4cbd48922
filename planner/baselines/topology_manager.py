"""A front end in the manner of kubelet's Topology Manager: which NUMA nodes to align to.

kubelet asks every resource (CPUs, memory, devices) for NUMA "hints", merges them and
picks the narrowest one; the CPU manager then takes CPUs inside that mask first. Here
one mask qualifies when it can hold all of the request at once:

* its usable CPUs cover the count;
* its free pool memory covers the request when memory follows the CPUs (memory policy
  ``local``, or ``interleave``/``bind`` without listed nodes);
* it contains a node with a free unit for every device want that has NUMA locality
  (dropped again when no mask can meet it: device locality is a preference here).

The best mask has the fewest nodes, then the numerically smallest bitmask (lowest
nodes). It is *preferred* when no empty host could do with fewer nodes (total CPUs and
pool memory, largest nodes first), as kubelet judges by capacity, not free space.
Listed nodes of the request are searched first, then every node; under policy
``none`` they are still used as the affinity when they hold the whole request.

kubelet enumerates every subset and refuses hosts with more than 8 NUMA nodes; this
front end starts at the smallest size that could fit and, when one size has more than
``budget`` subsets, takes the largest-first mask instead.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from planner.baselines.workspace import Workspace
from planner.memory import align_up


class TopologyPolicy(StrEnum):
    """kubelet's Topology Manager policies."""

    NONE = "none"
    BEST_EFFORT = "best-effort"
    RESTRICTED = "restricted"
    SINGLE_NUMA_NODE = "single-numa-node"


@dataclass(frozen=True)
class NumaHint:
    """A set of NUMA nodes and whether it is as narrow as the request allows."""

    nodes: tuple[int, ...]
    preferred: bool


@dataclass(frozen=True)
class Admission:
    """The front end's verdict: admit or not, and the nodes to take CPUs from first
    (``None``: no alignment, any node)."""

    admitted: bool
    affinity: tuple[int, ...] | None


def fewest_nodes(capacities: Iterable[int], amount: int) -> int | None:
    """How many of the largest capacities it takes to cover ``amount`` (None: never)."""
    if amount <= 0:
        return 0
    total = 0
    for count, capacity in enumerate(sorted(capacities, reverse=True), start=1):
        total += capacity
        if total >= amount:
            return count
    return None


class _Masks:
    """Which node sets hold the request: the three kinds of hint, merged."""

    def __init__(self, ws: Workspace, need: int, with_devices: bool) -> None:
        self.ws = ws
        self.need = need
        self.free_cpus = {n: len(cpus) for n, cpus in ws.usable_by_node.items()}
        self.memory = align_up(ws.request.memory_bytes) if ws.memory_follows_cpus else 0
        self.device_nodes: list[frozenset[int]] = []
        if with_devices:
            for want in ws.request.devices:
                nodes = frozenset(u.numa_node for u in ws.candidate_units(want) if u.numa_node is not None)
                if nodes:
                    self.device_nodes.append(nodes)
        host = ws.host
        cpu_min = fewest_nodes((len(n.cpus) for n in host.numa_nodes if n.cpus), need) or 0
        mem_min = fewest_nodes((host.pool_bytes_of_node(n.id) for n in host.numa_nodes), self.memory) or 0
        self.preferred_size = max(cpu_min, mem_min, 1)

    def holds(self, nodes: Sequence[int]) -> bool:
        if sum(self.free_cpus.get(n, 0) for n in nodes) < self.need:
            return False
        if self.memory and sum(self.ws.free_memory.get(n, 0) for n in nodes) < self.memory:
            return False
        return all(not wanted.isdisjoint(nodes) for wanted in self.device_nodes)

    def hint(self, nodes: Sequence[int]) -> NumaHint:
        return NumaHint(tuple(sorted(nodes)), len(nodes) == self.preferred_size)

    def best(self, scope: Sequence[int], single: bool, budget: int) -> NumaHint | None:
        """The narrowest, lowest mask inside ``scope`` that holds the request."""
        smallest = fewest_nodes((self.free_cpus.get(n, 0) for n in scope), self.need)
        if smallest is None:
            return None
        largest = 1 if single else len(scope)
        for k in range(smallest, largest + 1):
            if math.comb(len(scope), k) > budget:
                return self.largest_first(scope)
            fitting = [c for c in itertools.combinations(sorted(scope), k) if self.holds(c)]
            if fitting:
                return self.hint(min(fitting, key=lambda c: sum(1 << n for n in c)))
        return None

    def largest_first(self, scope: Sequence[int]) -> NumaHint | None:
        """Nodes with the most free CPUs first until the request fits."""
        chosen: list[int] = []
        for node in sorted(scope, key=lambda n: (-self.free_cpus.get(n, 0), n)):
            chosen.append(node)
            if self.holds(chosen):
                return self.hint(chosen)
        return None


def best_hint(ws: Workspace, need: int, *, single: bool = False, budget: int = 20_000) -> NumaHint | None:
    """The mask kubelet would align ``need`` CPUs of the request to, or None."""
    for with_devices in (True, False) if ws.request.devices else (False,):
        masks = _Masks(ws, need, with_devices)
        for scope in ws.scopes():
            hint = masks.best(scope, single, budget)
            if hint is not None:
                return hint
    return None


def admit(ws: Workspace, need: int, policy: TopologyPolicy) -> Admission:
    """Apply a Topology Manager policy. Local affinity always behaves as
    ``single-numa-node``, since one node is a hard rule for it."""
    if ws.is_local:
        policy = TopologyPolicy.SINGLE_NUMA_NODE
    if policy is TopologyPolicy.NONE:
        # No alignment, but the listed nodes still come first when they hold it all.
        listed = ws.scopes()[0]
        if len(ws.scopes()) > 1 and len(ws.usable_in(listed)) >= need:
            return Admission(True, listed)
        return Admission(True, None)
    hint = best_hint(ws, need, single=policy is TopologyPolicy.SINGLE_NUMA_NODE)
    if hint is None:
        return Admission(policy is TopologyPolicy.BEST_EFFORT, None)
    if policy is TopologyPolicy.RESTRICTED and not hint.preferred:
        return Admission(False, None)
    return Admission(True, hint.nodes)
