"""Everything that places requests, behind one interface.

A contender gets the host, the instances already placed and the requests arriving
together (one, or a gang) and answers one :class:`Outcome` per request. The planner
runs in two modes: ``planner`` decides one request at a time (the per-decision optimum
O1 of placement-anchors §8.4, also for gang members, in arrival order) and
``planner-gang`` places a gang in one model (O2); ``planner-pack`` is ``planner`` with
core sharing "pack" (free threads of partly used cores first, whole cores kept free:
kerf plan --core-sharing pack). Every baseline of
:mod:`planner.baselines` places requests one at a time in arrival order; a
``/sorted`` variant places gang members largest first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from planner.baselines import Allocator, baseline_allocators
from planner.hardware import Host, Instance
from planner.policy import CoreSharing
from planner.request import InstanceRequest, Plan

#: Wall-clock limit of one online decision (placement-anchors §8.6: 0.5 s; a little
#: more so that a slow shared machine does not turn optimal answers into feasible ones).
ONLINE_TIME_LIMIT = 1.0
#: Wall-clock limit of one gang (the target: gangs of 24 at a zero gap within 2 s).
GANG_TIME_LIMIT = 2.0


@dataclass(frozen=True)
class Outcome:
    """One request's fate.

    ``seconds``: the decision's wall time (a jointly placed gang: the whole solve);
    ``status`` / ``gap`` / ``stopped_at``: the planner's solver status, relative gap and
    the objective tier its search stopped at (None for baselines)."""

    request: InstanceRequest
    instance: Instance | None
    seconds: float
    status: str | None = None
    gap: float | None = None
    stopped_at: str | None = None
    joint: bool = False


class Contender(Protocol):
    """An allocator under test."""

    name: str
    family: str  # "planner" or "baseline"
    gang_only: bool  # behaves like another contender except on gangs (so runs only on S7)

    def decide(
        self, host: Host, existing: Sequence[Instance], requests: Sequence[InstanceRequest]
    ) -> list[Outcome]:
        """Place ``requests`` (arriving together) next to ``existing``."""
        ...


class BaselineContender:
    """A greedy baseline: one request at a time, existing placements frozen."""

    family = "baseline"

    def __init__(self, allocator: Allocator, *, sorted_gangs: bool = False) -> None:
        self.allocator = allocator
        self.sorted_gangs = sorted_gangs
        self.gang_only = sorted_gangs
        self.name = allocator.name + ("/sorted" if sorted_gangs else "")

    def decide(
        self, host: Host, existing: Sequence[Instance], requests: Sequence[InstanceRequest]
    ) -> list[Outcome]:
        """Place each request in turn (largest first for ``/sorted``)."""
        order = sorted(requests, key=lambda r: -r.size) if self.sorted_gangs else list(requests)
        placed = list(existing)
        outcomes: dict[str, Outcome] = {}
        for request in order:
            start = time.perf_counter()
            instance = self.allocator.place(host, placed, request)
            outcomes[request.name] = Outcome(request, instance, time.perf_counter() - start)
            if instance is not None:
                placed.append(instance)
        return [outcomes[r.name] for r in requests]


class PlannerContender:
    """kerf's CP-SAT planner, per request (``joint=False``) or per gang."""

    family = "planner"

    def __init__(
        self, name: str, *, joint: bool, workers: int = 1, core_sharing: CoreSharing = CoreSharing.AVOID
    ) -> None:
        self.name = name
        self.joint = joint
        self.gang_only = joint
        self.workers = workers
        self.core_sharing = core_sharing

    def _plan(self, host: Host, existing: Sequence[Instance], requests: Sequence[InstanceRequest]) -> Plan:
        from planner.solve import PlanOptions, plan

        limit = GANG_TIME_LIMIT if len(requests) > 1 else ONLINE_TIME_LIMIT
        options = PlanOptions(
            time_limit=limit, workers=self.workers, seed=7, explain=False, core_sharing=self.core_sharing
        )
        return plan(host, existing, requests, options)

    def decide(
        self, host: Host, existing: Sequence[Instance], requests: Sequence[InstanceRequest]
    ) -> list[Outcome]:
        """Solve the gang in one model (joint) or each request in its own."""
        if self.joint and len(requests) > 1:
            return self._decide_together(host, existing, requests)
        placed = list(existing)
        outcomes = []
        for request in requests:
            start = time.perf_counter()
            result = self._plan(host, placed, [request])
            seconds = time.perf_counter() - start
            instance = result.placements[0] if result.placements else None
            outcomes.append(_outcome(request, instance, seconds, result, joint=False))
            if instance is not None:
                placed.append(instance)
        return outcomes

    def _decide_together(
        self, host: Host, existing: Sequence[Instance], requests: Sequence[InstanceRequest]
    ) -> list[Outcome]:
        start = time.perf_counter()
        result = self._plan(host, existing, requests)
        seconds = time.perf_counter() - start
        by_name = {inst.name: inst for inst in result.placements}
        return [_outcome(r, by_name.get(r.name), seconds, result, joint=True) for r in requests]


def _outcome(
    request: InstanceRequest, instance: Instance | None, seconds: float, result: Plan, *, joint: bool
) -> Outcome:
    model = result.metrics.get("model", {})
    stopped = model.get("stopped_at_tier") if isinstance(model, dict) else None
    return Outcome(
        request,
        instance,
        seconds,
        status=str(result.status),
        gap=result.gap,
        stopped_at=str(stopped) if stopped is not None else None,
        joint=joint,
    )


def contenders(workers: int = 1) -> list[Contender]:
    """The planner in both modes (and gangs with 8 workers), every baseline, and the
    sorted-gang greedy."""
    everyone: list[Contender] = [
        PlannerContender("planner", joint=False, workers=workers),
        # the same planner with --core-sharing pack: whole cores kept free (capacity first)
        PlannerContender("planner-pack", joint=False, workers=workers, core_sharing=CoreSharing.PACK),
        PlannerContender("planner-gang", joint=True, workers=workers),
        # placement-anchors §5.3: with fewer than 8 workers no subsolver proves bounds
        # on batch models; this variant shows what 8 (oversubscribed) workers buy.
        PlannerContender("planner-gang-8w", joint=True, workers=8),
    ]
    baselines = baseline_allocators()
    everyone += [BaselineContender(allocator) for allocator in baselines.values()]
    everyone.append(BaselineContender(baselines["kubelet-packed"], sorted_gangs=True))
    return everyone
