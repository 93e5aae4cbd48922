"""kubelet's static CPU manager behind a Topology-Manager-like front end.

How a request maps onto kubelet's knobs:

* the front end (:mod:`planner.baselines.topology_manager`) picks the NUMA mask; CPUs are
  taken inside it first and, except for local affinity, the rest anywhere (kubelet's
  ``allocateCPUs`` under ``best-effort``);
* ``exclusive_cores`` is ``full-pcpus-only``: only threads of completely free cores are
  available and the request is rounded up to whole cores. kubelet rejects a count that
  is not a multiple of the SMT width; here the last core's spare threads are dropped
  instead (they stay idle, since nobody may share an exclusive core);
* ``spread`` affinity is ``distribute-cpus-across-cores`` (kubelet forbids it together
  with full-pcpus-only, so exclusive spread requests are packed);
* the distributed variant is ``distribute-cpus-across-numa`` with group size 1, or the
  SMT width under full-pcpus-only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from planner.baselines.base import GreedyAllocator
from planner.baselines.kubelet_cpus import CpuTopology, take_distributed, take_packed
from planner.baselines.topology_manager import TopologyPolicy, admit
from planner.baselines.workspace import Workspace


class Kubelet(GreedyAllocator):
    """``takeByTopologyNUMAPacked`` (or ``...Distributed``) with Topology Manager alignment."""

    def __init__(
        self,
        name: str = "kubelet-packed",
        *,
        distributed: bool = False,
        align_uncore: bool = False,
        policy: TopologyPolicy = TopologyPolicy.BEST_EFFORT,
    ) -> None:
        super().__init__(name)
        self.distributed = distributed
        self.align_uncore = align_uncore
        self.policy = policy

    def candidates(self, ws: Workspace, n: int) -> Iterator[Sequence[int]]:
        """One CPU set, in take order: the front end handles listed nodes itself."""
        topo = CpuTopology.of(ws.host)
        group = topo.cpus_per_core if ws.request.exclusive_cores else 1
        need = -(-n // group) * group
        if need > len(ws.usable):
            return
        admission = admit(ws, need, self.policy)
        if not admission.admitted:
            return
        spread = ws.is_spread and not ws.request.exclusive_cores
        taken = self.take_aligned(topo, ws, need, admission.affinity, group, spread)
        if taken is not None:
            yield taken[:n]

    def take_aligned(
        self,
        topo: CpuTopology,
        ws: Workspace,
        need: int,
        affinity: tuple[int, ...] | None,
        group: int,
        spread: bool,
    ) -> list[int] | None:
        """Inside the affinity first, then (unless local) from everything else."""
        available = set(ws.usable)
        if affinity is None:
            return self.take(topo, available, need, group, spread)
        inside = {c for c in available if ws.node_of(c) in affinity}
        first = self.take(topo, inside, min(need, len(inside)), group, spread)
        if first is None or len(first) == need:
            return first
        if ws.is_local:
            return None
        rest = self.take(topo, available - set(first), need - len(first), group, spread)
        return None if rest is None else first + rest

    def take(
        self, topo: CpuTopology, available: set[int], count: int, group: int, spread: bool
    ) -> list[int] | None:
        """One call of the CPU manager's allocator."""
        if self.distributed:
            return take_distributed(topo, available, count, group, spread=spread)
        return take_packed(topo, available, count, spread=spread, align_uncore=self.align_uncore)
