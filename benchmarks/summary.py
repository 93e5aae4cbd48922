"""From runs to figures: one :class:`RunSummary` per run, then comparisons across runs.

Quality figures are means over a run's measured, admitted instances; fragmentation
figures are means over the host samples taken after the first measured arrival.
"Planner" below is the online planner (one model per request); the gang planner is
reported separately because it runs only on S7.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from benchmarks.records import RunRecord
from benchmarks.stats import holm, quantile, wilcoxon

PLANNER = "planner"
GANG_PLANNER = "planner-gang"
#: The planner with core sharing "pack" (kerf plan --core-sharing pack).
PACK_PLANNER = "planner-pack"


def runs_everywhere(name: str) -> bool:
    """False for the contenders that run only on gangs (the gang planners, ``/sorted``)."""
    return not name.startswith(GANG_PLANNER) and "/" not in name


@dataclass(frozen=True)
class Metric:
    """A per-run figure: ``higher`` is better or worse, ``label`` for tables."""

    name: str
    label: str
    higher: bool
    quality: bool = False


METRICS: tuple[Metric, ...] = (
    Metric("admission", "admission rate (requests)", True),
    Metric("cpu_admission", "admitted share of offered CPUs", True),
    Metric("numa_excess", "NUMA excess over m* (compact, local)", False, quality=True),
    Metric("distance_cost", "distance cost, 1 = local (compact, local)", False, quality=True),
    Metric("shared_cores", "shared cores per instance", False, quality=True),
    Metric("split_cores", "split cores per instance", False, quality=True),
    Metric("device_local_misses", "device-local misses per instance", False, quality=True),
    Metric("preferred_misses", "preferred-node misses per instance", False, quality=True),
    Metric("stranded_threads", "stranded threads (mean)", False),
    Metric("largest_free_cores_in_node", "largest free-core block in a node", True),
    Metric("fgd", "unusable free CPUs (FGD)", False),
    Metric("cap_core4", "capacity: whole-core 4 vCPU", True),
    Metric("cap_numa2", "capacity: 2-node half-node", True),
    Metric("latency_p95_ms", "decision latency p95 (ms)", False),
)
BY_NAME: Mapping[str, Metric] = {m.name: m for m in METRICS}


@dataclass
class RunSummary:
    """The figures of one run."""

    topology: str
    scenario: str
    sequence: str
    seed: int
    contender: str
    family: str
    pool_cpus: int
    offered: int
    admitted: int
    offered_cpus: int
    admitted_cpus: int
    admission: float
    cpu_admission: float
    first_rejection_utilisation: float | None
    free_at_rejection: float | None
    numa_excess: float | None
    distance_cost: float | None
    max_distance: float | None
    shared_cores: float | None
    split_cores: float | None
    sibling_pairs_spread: float | None
    preferred_misses: float | None
    device_local_misses: float | None
    kubelet_aligned: float | None
    stranded_threads: float | None
    largest_free_cores_in_node: float | None
    fgd: float | None
    balance: float | None
    cap_core4: float | None
    cap_numa: float | None
    cap_numa2: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_max_ms: float | None
    statuses: dict[str, int] = field(default_factory=dict)
    phases: dict[str, list[int]] = field(default_factory=dict)
    seconds: float = 0.0
    refill: float | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """(topology, scenario, seed)."""
        return (self.topology, self.scenario, self.seed)

    def value(self, metric: str) -> float | None:
        """A metric's value (None when the run has none, e.g. nothing admitted)."""
        v = getattr(self, metric)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    def row(self) -> dict[str, object]:
        """A flat CSV row."""
        data = asdict(self)
        data["statuses"] = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        data["phases"] = " ".join(f"{k}:{a}/{o}" for k, (a, o) in self.phases.items())
        return data


def _avg(values: Iterable[float | int | bool | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def summarize(run: RunRecord) -> RunSummary:
    """The figures of ``run``."""
    measured = run.measured()
    admitted = [d for d in measured if d.admitted]
    quality = [d.quality for d in admitted if d.quality is not None]

    def q(name: str, among: Sequence[Mapping[str, object]] = quality) -> float | None:
        return _avg(v if isinstance(v, int | float) else None for v in (x.get(name) for x in among))

    spread = [d.quality for d in admitted if d.quality is not None and d.affinity == "spread"]
    # NUMA excess and distance cost judge compactness: a spread instance uses more
    # nodes on purpose (and with local memory, remote memory comes with it).
    packed = [d.quality for d in admitted if d.quality is not None and d.affinity != "spread"]
    rejections = [d for d in measured if not d.admitted]
    first_measured = min((d.event for d in measured), default=0)
    samples = [s for s in run.samples if s.event >= first_measured] or run.samples
    single = [d.seconds * 1000 for d in run.decisions if not d.joint]
    statuses = Counter(d.status for d in run.decisions if d.status is not None)
    phases: dict[str, list[int]] = {}
    for d in run.decisions:
        if d.phase:
            counts = phases.setdefault(d.phase, [0, 0])
            counts[0] += int(d.admitted)
            counts[1] += 1
    offered_cpus = sum(d.size for d in measured)
    admitted_cpus = sum(d.size for d in admitted)
    # S3: the CPUs admitted after the punch over the CPUs the punch left free (each
    # contender's own: by arrival, what is freed depends on how it filled the host)
    tail = [d for d in run.decisions if d.phase in ("numa", "core")]
    refill = (
        sum(d.size for d in tail if d.admitted) / tail[0].free_before
        if tail and tail[0].free_before
        else None
    )
    return RunSummary(
        topology=run.topology,
        scenario=run.scenario,
        sequence=run.sequence,
        seed=run.seed,
        contender=run.contender,
        family=run.family,
        pool_cpus=run.pool_cpus,
        offered=len(measured),
        admitted=len(admitted),
        offered_cpus=offered_cpus,
        admitted_cpus=admitted_cpus,
        admission=len(admitted) / len(measured) if measured else math.nan,
        cpu_admission=admitted_cpus / offered_cpus if offered_cpus else math.nan,
        first_rejection_utilisation=(
            1 - rejections[0].free_before / run.pool_cpus if rejections and run.pool_cpus else None
        ),
        free_at_rejection=_avg(d.free_before for d in rejections),
        numa_excess=q("numa_excess", packed),
        distance_cost=q("distance_cost", packed),
        max_distance=q("max_distance"),
        shared_cores=q("shared_cores"),
        split_cores=q("split_cores"),
        sibling_pairs_spread=q("sibling_pairs", spread),
        preferred_misses=q("preferred_misses"),
        device_local_misses=q("device_local_misses"),
        kubelet_aligned=q("kubelet_aligned"),
        stranded_threads=_avg(s.stranded_threads for s in samples),
        largest_free_cores_in_node=_avg(s.largest_free_cores_in_node for s in samples),
        fgd=_avg(s.fgd for s in samples),
        balance=_avg(s.balance for s in samples),
        cap_core4=_avg(s.capacity.get("core4") for s in samples),
        cap_numa=_avg(s.capacity.get("numa") for s in samples),
        cap_numa2=_avg(s.capacity.get("numa2") for s in samples),
        latency_p50_ms=quantile(single, 0.5) if single else None,
        latency_p95_ms=quantile(single, 0.95) if single else None,
        latency_max_ms=max(single) if single else None,
        statuses=dict(statuses),
        phases=phases,
        seconds=run.seconds,
        refill=refill,
    )


# --- comparisons -------------------------------------------------------------------------


def by_contender(summaries: Iterable[RunSummary]) -> dict[str, list[RunSummary]]:
    """Summaries grouped by contender (in first-seen order)."""
    groups: dict[str, list[RunSummary]] = {}
    for s in summaries:
        groups.setdefault(s.contender, []).append(s)
    return groups


def contender_names(summaries: Sequence[RunSummary]) -> list[str]:
    """Contenders in first-seen order."""
    return list(by_contender(summaries))


def baseline_names(summaries: Sequence[RunSummary]) -> list[str]:
    """Baselines that ran on every sequence (the ``/sorted`` gang variants excluded)."""
    return [c for c, runs in by_contender(summaries).items() if runs[0].family == "baseline" and "/" not in c]


def metric_mean(summaries: Iterable[RunSummary], metric: str) -> float | None:
    """Mean of a metric over runs that have it."""
    return _avg(s.value(metric) for s in summaries)


def scenario_keys(summaries: Sequence[RunSummary]) -> list[str]:
    """Scenario keys in a stable order (by sequence, then key)."""
    return sorted({s.scenario for s in summaries}, key=lambda k: (k.split("-")[0], k))


def table(
    summaries: Sequence[RunSummary], metric: str, rows: Callable[[RunSummary], str]
) -> dict[str, dict[str, float | None]]:
    """row label -> contender -> mean of ``metric``."""
    cells: dict[str, dict[str, list[RunSummary]]] = defaultdict(lambda: defaultdict(list))
    for s in summaries:
        cells[rows(s)][s.contender].append(s)
    return {row: {c: metric_mean(runs, metric) for c, runs in per.items()} for row, per in cells.items()}


def best_baseline(
    summaries: Sequence[RunSummary], metric: str, within: Callable[[RunSummary], bool] = lambda s: True
) -> tuple[str, float] | None:
    """The baseline with the best mean of ``metric`` over the selected runs."""
    higher = BY_NAME[metric].higher if metric in BY_NAME else True
    scores = []
    for name in baseline_names(summaries):
        value = metric_mean((s for s in summaries if s.contender == name and within(s)), metric)
        if value is not None:
            scores.append((value, name))
    if not scores:
        return None
    value, name = (max if higher else min)(scores)
    return name, value


@dataclass(frozen=True)
class RatioRow:
    """One line of the summary table: the planner against the best baseline."""

    metric: Metric
    planner: float | None
    best: str | None
    best_value: float | None

    @property
    def ratio(self) -> float | None:
        """planner / best baseline (None when undefined)."""
        if self.planner is None or self.best_value is None or self.best_value == 0:
            return None
        return self.planner / self.best_value

    @property
    def verdict(self) -> str:
        """``better`` / ``equal`` / ``worse`` for the planner, by the metric's direction."""
        if self.planner is None or self.best_value is None:
            return "n/a"
        if math.isclose(self.planner, self.best_value, rel_tol=1e-9, abs_tol=1e-9):
            return "equal"
        better = self.planner > self.best_value if self.metric.higher else self.planner < self.best_value
        return "better" if better else "worse"


def ratio_rows(
    summaries: Sequence[RunSummary], within: Callable[[RunSummary], bool] = lambda s: True
) -> list[RatioRow]:
    """The planner's mean against the best baseline's, for every metric."""
    rows = []
    for metric in METRICS:
        planner = metric_mean((s for s in summaries if s.contender == PLANNER and within(s)), metric.name)
        best = best_baseline(summaries, metric.name, within)
        rows.append(RatioRow(metric, planner, best[0] if best else None, best[1] if best else None))
    return rows


@dataclass(frozen=True)
class AdmissionShortfall:
    """A (topology, scenario, seed) where some baseline admitted more than the planner."""

    key: tuple[str, str, int]
    planner: int
    best: int
    best_by: str


def admission_shortfalls(summaries: Sequence[RunSummary], *, cpus: bool = False) -> list[AdmissionShortfall]:
    """Every run key where the best baseline admitted more requests (``cpus``: more
    CPUs) than the planner (on gangs, the gang planner: that is how the planner places
    gangs)."""

    def amount(s: RunSummary) -> int:
        return s.admitted_cpus if cpus else s.admitted

    runs: dict[tuple[str, str, int], dict[str, RunSummary]] = defaultdict(dict)
    for s in summaries:
        runs[s.key][s.contender] = s
    shortfalls = []
    for key, per in sorted(runs.items()):
        ours = per.get(GANG_PLANNER) if key[1] == "S7" and GANG_PLANNER in per else per.get(PLANNER)
        rivals = [(amount(s), name) for name, s in per.items() if s.family == "baseline"]
        if ours is None or not rivals:
            continue
        best, name = max(rivals)
        if best > amount(ours):
            shortfalls.append(AdmissionShortfall(key, amount(ours), best, name))
    return shortfalls


@dataclass(frozen=True)
class PairedTest:
    """The planner against one baseline on one metric, paired by run key."""

    baseline: str
    metric: Metric
    n: int
    better: int
    worse: int
    p: float
    p_holm: float = math.nan


def paired_tests(summaries: Sequence[RunSummary], metrics: Sequence[str]) -> list[PairedTest]:
    """Wilcoxon signed-rank tests of the planner against every baseline, paired by
    (topology, scenario, seed), Holm-adjusted over the whole family."""
    runs: dict[tuple[str, str, int], dict[str, RunSummary]] = defaultdict(dict)
    for s in summaries:
        runs[s.key][s.contender] = s
    tests = []
    for baseline in baseline_names(summaries):
        for name in metrics:
            metric = BY_NAME[name]
            ours, theirs = [], []
            for per in runs.values():
                if PLANNER in per and baseline in per:
                    a, b = per[PLANNER].value(name), per[baseline].value(name)
                    if a is not None and b is not None:
                        ours.append(a)
                        theirs.append(b)
            result = wilcoxon(ours, theirs)
            up, down = result.positive, result.negative
            better, worse = (up, down) if metric.higher else (down, up)
            tests.append(PairedTest(baseline, metric, result.n, better, worse, result.p))
    adjusted = holm([t.p for t in tests])
    return [
        PairedTest(t.baseline, t.metric, t.n, t.better, t.worse, t.p, p)
        for t, p in zip(tests, adjusted, strict=True)
    ]
