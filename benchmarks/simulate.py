"""Replaying one scenario for one contender.

Every decision is checked by :func:`kerf.validate.validate_plan` against the host and
the instances already there; a placement that breaks a rule aborts the benchmark with
the validator's findings (:class:`ValidationAbort`). Placed instances are scored by
:func:`planner.metrics.instance_metrics`, and the host by
:func:`planner.metrics.host_metrics` and the reference-flavour capacity after every
event.

With ``o1_every`` a baseline's single-request decisions are also compared with the
planner's optimum on the very same state (every n-th measured decision), using the
planner's documented objective (:func:`planner.objective.evaluate`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchmarks.capacity import flavour_capacity
from benchmarks.contenders import Contender, Outcome
from benchmarks.records import QUALITY_FIELDS, Decision, O1Check, RunRecord, Sample
from benchmarks.sequences import Arrive, Depart, Punch, Scenario
from benchmarks.topologies import Topology
from benchmarks.workload import HostView, size_weights
from planner.errors import PlannerError
from planner.hardware import Host, Instance
from planner.metrics import host_metrics, instance_metrics
from planner.occupancy import Occupancy
from planner.request import InstanceRequest


class ValidationAbort(RuntimeError):
    """A contender's placement broke a rule: the run stops with the findings."""


@dataclass(frozen=True)
class RunSettings:
    """``validate``: check every placement (the benchmark always does; tests may not),
    ``validate_batch`` consecutive placements per validator call (see :class:`PendingChecks`);
    ``o1_every``: compare every n-th measured baseline decision with the planner's
    optimum on the same state (0: never); ``sample_every``: host samples after every
    n-th event (the last event is always sampled)."""

    validate: bool = True
    validate_batch: int = 32
    o1_every: int = 0
    sample_every: int = 5


def simulate(
    topology: Topology, scenario: Scenario, contender: Contender, settings: RunSettings = RunSettings()
) -> RunRecord:
    """Run ``scenario`` on its host with ``contender``."""
    host = topology.host(scenario.seed)
    view = HostView.of(topology, host)
    sizes = size_weights(view)
    record = RunRecord(
        topology=topology.id,
        scenario=scenario.key,
        sequence=scenario.sequence,
        seed=scenario.seed,
        contender=contender.name,
        family=contender.family,
        pool_cpus=len(host.available),
    )
    where = f"{contender.name} on {topology.id} {scenario.key} seed {scenario.seed}"
    pending = PendingChecks(host, where, settings.validate_batch if settings.validate else 0)
    alive: dict[str, Instance] = {}
    rejections_in_a_row = 0
    measured_baseline = 0
    start = time.perf_counter()
    for index, event in enumerate(scenario.events):
        if isinstance(event, Depart | Punch):
            pending.flush()  # placements are checked against the state they were made in
            names = [event.name] if isinstance(event, Depart) else event.victims(host, alive)
            for name in names:
                alive.pop(name, None)
        else:
            before = list(alive.values())
            pending.start(before, index)
            try:
                outcomes = contender.decide(host, before, event.requests)
            except PlannerError as err:
                # A contender that fails on valid input has a defect: keep the run's
                # figures so far, say where it broke, and let the other runs go on.
                record.error = f"event {index} ({', '.join(r.name for r in event.requests)}): {err!r}"
                break
            placed = [o.instance for o in outcomes if o.instance is not None]
            pending.add(outcomes, index)
            free_before = len(Occupancy.of(host, before).free_cpus)
            for outcome in outcomes:
                decision = _decision(host, before, placed, outcome, event, index, free_before)
                if (
                    settings.o1_every
                    and contender.family == "baseline"
                    and event.measured
                    and len(event.requests) == 1
                ):
                    if measured_baseline % settings.o1_every == 0:
                        decision.o1 = compare_with_optimum(host, before, outcome)
                    measured_baseline += 1
                record.decisions.append(decision)
            for instance in placed:
                alive[instance.name] = instance
            if any(o.instance is None for o in outcomes):
                rejections_in_a_row += sum(1 for o in outcomes if o.instance is None)
            else:
                rejections_in_a_row = 0
        last = index == len(scenario.events) - 1
        stop = (
            scenario.stop_after_rejections is not None
            and rejections_in_a_row >= scenario.stop_after_rejections
        )
        if last or stop or index % settings.sample_every == 0:
            record.samples.append(sample(host, list(alive.values()), index, sizes))
        if stop:
            record.stopped_early = not last
            break
    pending.flush()
    record.seconds = time.perf_counter() - start
    return record


class PendingChecks:
    """Placements waiting for the validator.

    Consecutive arrivals are checked together in one :func:`kerf.validate.validate_plan`
    call (each placement is in exactly one call, against the instances that were there
    before the first of them): the validator compares every pair of instances, so one
    call per arrival would make long fills cubic. A departure flushes the batch first.
    ``batch`` 0 turns checking off.
    """

    def __init__(self, host: Host, where: str, batch: int) -> None:
        self.host = host
        self.where = where
        self.batch = batch
        self.before: list[Instance] = []
        self.placed: list[Instance] = []
        self.requests: list[InstanceRequest] = []
        self.first_event = 0

    def start(self, before: Sequence[Instance], index: int) -> None:
        """Note the state an arrival sees (it matters only when the batch is empty)."""
        if not self.placed:
            self.before = list(before)
            self.first_event = index

    def add(self, outcomes: Sequence[Outcome], index: int) -> None:
        """Queue one arrival's placements; check when the batch is full."""
        if not self.batch:
            return
        for outcome in outcomes:
            if outcome.instance is not None:
                self.placed.append(outcome.instance)
                self.requests.append(outcome.request)
        if len(self.placed) >= self.batch:
            self.flush(index)

    def flush(self, index: int | None = None) -> None:
        """Check the queued placements; raise :class:`ValidationAbort` with the findings."""
        from kerf.validate import validate_plan

        if not self.placed:
            return
        report = validate_plan(self.host, self.before, self.placed, self.requests)
        span = f"events {self.first_event}-{index}" if index is not None else f"from event {self.first_event}"
        self.placed, self.requests = [], []
        if not report.ok:
            findings = "; ".join(f"[{f.code}] {f.message}" for f in report.errors)
            raise ValidationAbort(f"{self.where}, {span}: {findings}")


def _decision(
    host: Host,
    before: Sequence[Instance],
    placed: Sequence[Instance],
    outcome: Outcome,
    event: Arrive,
    index: int,
    free_before: int,
) -> Decision:
    request = outcome.request
    quality = None
    if outcome.instance is not None:
        # The state the instance is judged against: the host as the arrival found it,
        # plus the other members of its gang (so neighbours within a gang count too).
        others = [*before, *(p for p in placed if p.name != request.name)]
        figures = instance_metrics(host, others, outcome.instance, request).as_dict()
        quality = {k: figures[k] for k in QUALITY_FIELDS}
    return Decision(
        event=index,
        request=request.name,
        size=request.size,
        affinity=str(request.cpu_affinity),
        policy=str(request.memory_policy),
        exclusive=request.exclusive_cores,
        device=bool(request.devices),
        listed_nodes=len(request.numa_nodes),
        phase=event.phase,
        measured=event.measured,
        gang=len(event.requests),
        admitted=outcome.instance is not None,
        seconds=outcome.seconds,
        free_before=free_before,
        status=outcome.status,
        gap=outcome.gap,
        stopped_at=outcome.stopped_at,
        joint=outcome.joint,
        quality=quality,
    )


def sample(host: Host, alive: Sequence[Instance], index: int, sizes: Mapping[int, float]) -> Sample:
    """The host's fragmentation and capacity figures with ``alive`` placed."""
    figures = host_metrics(host, alive, sizes=sizes)
    return Sample(
        event=index,
        alive=len(alive),
        free_cpus=figures.free_cpus,
        free_cores=figures.free_cores,
        largest_free_cores_in_node=figures.largest_free_cores_in_node,
        free_numa_nodes=figures.free_numa_nodes,
        free_l3=figures.free_l3,
        stranded_threads=figures.stranded_threads,
        fgd=figures.fgd or 0.0,
        balance=figures.balance,
        capacity=flavour_capacity(host, alive),
    )


def compare_with_optimum(host: Host, before: Sequence[Instance], outcome: Outcome) -> O1Check:
    """The decision against the planner's optimum for the same request on the same state."""
    from planner.objective import TIERS
    from planner.solve import PlanOptions, plan

    request = outcome.request
    best = plan(host, before, [request], PlanOptions(time_limit=5.0, workers=1, seed=7, explain=False))
    optimum = _score(host, before, request, best.placements[0] if best.placements else None)
    theirs = _score(host, before, request, outcome.instance)
    if theirs == optimum:
        return O1Check(True, None, None, str(best.status))
    tier = next(i for i, (a, b) in enumerate(zip(theirs, optimum, strict=True)) if a != b)
    return O1Check(False, TIERS[tier], theirs[tier] > optimum[tier], str(best.status))


def _score(
    host: Host, before: Sequence[Instance], request: InstanceRequest, instance: Instance | None
) -> tuple[int, ...]:
    from planner.objective import evaluate

    placed = {request.name: instance} if instance is not None else {}
    return evaluate(host, before, [request], placed).values
