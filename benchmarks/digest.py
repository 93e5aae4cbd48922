"""What the report keeps of a run once its raw record is on disk.

A full benchmark makes thousands of runs with millions of decisions; holding them all
would take gigabytes. Each finished run is written to the raw results file and reduced
to a :class:`RunDigest`: its :class:`~benchmarks.summary.RunSummary`, the per-decision
values the figures need (latencies, distance costs, NUMA excess), the O1 comparisons,
the gang solves, the solver statuses, and the host samples of the few runs drawn over
time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from benchmarks.records import Decision, RunRecord, Sample
from benchmarks.summary import RunSummary, summarize

#: Runs whose host samples are kept for the fragmentation-over-time figure.
FOCUS_SCENARIO = "S2-0.95"


@dataclass(frozen=True)
class GangSolve:
    """One gang placed in one model."""

    contender: str
    topology: str
    seed: int
    members: int
    admitted: int
    seconds: float
    status: str
    gap: float | None
    stopped_at: str | None


@dataclass(frozen=True)
class O1Row:
    """One baseline decision compared with the planner's optimum (see simulate)."""

    event: int
    request: str
    equal: bool
    first_tier: str | None
    worse: bool | None
    planner_status: str


@dataclass
class RunDigest:
    """A run reduced to what the report needs."""

    summary: RunSummary
    latencies_ms: list[float] = field(default_factory=list)
    distance_costs: list[float] = field(default_factory=list)
    numa_excess: list[int] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    o1: list[O1Row] = field(default_factory=list)
    gangs: list[GangSolve] = field(default_factory=list)
    gang_members: tuple[int, int] | None = None
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None

    @property
    def contender(self) -> str:
        """The contender's name."""
        return self.summary.contender

    @property
    def topology(self) -> str:
        """The host's id."""
        return self.summary.topology

    @property
    def key(self) -> tuple[str, str, int]:
        """(topology, scenario, seed)."""
        return self.summary.key


def digest(run: RunRecord) -> RunDigest:
    """Reduce ``run`` (its samples are kept only for the focus scenario, seed 0)."""
    result = RunDigest(summarize(run), error=run.error)
    measured_admitted = [d for d in run.decisions if d.measured and d.admitted and d.quality is not None]
    for d in measured_admitted:
        assert d.quality is not None
        if d.affinity == "spread":
            continue  # compactness figures: spread uses more nodes on purpose
        cost = d.quality.get("distance_cost")
        if isinstance(cost, int | float):
            result.distance_costs.append(float(cost))
        excess = d.quality.get("numa_excess")
        if isinstance(excess, int):
            result.numa_excess.append(excess)
    result.latencies_ms = [d.seconds * 1000 for d in run.decisions if not d.joint]
    joint: dict[int, list[Decision]] = defaultdict(list)
    for d in run.decisions:
        if d.joint:
            joint[d.event].append(d)
        elif d.status is not None:
            result.statuses[d.status] += 1
        if d.o1 is not None:
            o1 = d.o1
            result.o1.append(O1Row(d.event, d.request, o1.equal, o1.first_tier, o1.worse, o1.planner_status))
    for members in joint.values():
        first = members[0]
        result.statuses[first.status or "?"] += 1
        result.gangs.append(
            GangSolve(
                run.contender,
                run.topology,
                run.seed,
                len(members),
                sum(1 for d in members if d.admitted),
                first.seconds,
                first.status or "",
                first.gap,
                first.stopped_at,
            )
        )
    if run.sequence == "S7":
        members_measured = [d for d in run.decisions if d.measured]
        result.gang_members = (sum(1 for d in members_measured if d.admitted), len(members_measured))
    if run.scenario == FOCUS_SCENARIO and run.seed == 0:
        result.samples = list(run.samples)
    return result


def latencies(digests: Iterable[RunDigest], contender: str, topology: str | None = None) -> list[float]:
    """Single-request decision times (ms) of a contender (optionally on one host)."""
    return [
        ms
        for d in digests
        if d.contender == contender and (topology is None or d.topology == topology)
        for ms in d.latencies_ms
    ]


def gang_solves(digests: Iterable[RunDigest], contender: str | None = None) -> list[GangSolve]:
    """Every jointly solved gang (of one contender, when given)."""
    return [g for d in digests if contender is None or d.contender == contender for g in d.gangs]


def status_mix(digests: Iterable[RunDigest]) -> dict[tuple[str, str], Counter[str]]:
    """(contender, topology) -> solver statuses of the planner's models."""
    mix: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for d in digests:
        if d.summary.family == "planner":
            mix[(d.contender, d.topology)].update(d.statuses)
    return mix


@dataclass
class O1Summary:
    """A baseline's decisions against the planner's optimum on the same states.

    ``better`` lists decisions that beat the planner's answer, which would be a planner
    defect when the planner claimed optimality: (host, scenario, seed, event, request,
    tier and the planner's status)."""

    contender: str
    checked: int = 0
    equal: int = 0
    worse_by_tier: Counter[str] = field(default_factory=Counter)
    better: list[tuple[str, str, int, int, str, str]] = field(default_factory=list)


def o1_summaries(digests: Iterable[RunDigest]) -> list[O1Summary]:
    """Per baseline: how often its decision equals O1, and where it loses."""
    per: dict[str, O1Summary] = {}
    for d in digests:
        for row in d.o1:
            entry = per.setdefault(d.contender, O1Summary(d.contender))
            entry.checked += 1
            entry.equal += int(row.equal)
            if row.equal or row.first_tier is None:
                continue
            if row.worse:
                entry.worse_by_tier[row.first_tier] += 1
            else:
                topo, scenario, seed = d.key
                entry.better.append(
                    (topo, scenario, seed, row.event, row.request, f"{row.first_tier} ({row.planner_status})")
                )
    return list(per.values())
