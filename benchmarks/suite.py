"""Which runs make up a benchmark, and running them.

A run is one contender on one scenario (topology x sequence variant x seed). The quick
suite covers every sequence on three small hosts (the laptop and the kubelet 2-socket
and SNC2 fixtures), fill, ordering and device locality on the EPYC NPS4 host (its L3
groups) and the latency and gang sequences on the 512-CPU host, with two seeds and
shortened open sequences; the full suite runs every sequence on T1-T10.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from benchmarks.contenders import Contender, contenders
from benchmarks.digest import RunDigest, digest
from benchmarks.records import RunRecord
from benchmarks.sequences import GENERATORS, QUICK_LENGTHS, Lengths, Scenario, scenarios
from benchmarks.simulate import RunSettings, simulate
from benchmarks.topologies import TOPOLOGIES, Topology, topology

QUICK_TOPOLOGIES = ("T1", "T3", "T4", "T7", "T9")
#: In the quick suite the two big hosts run only what needs them: sequences where the
#: EPYC host's L3 groups matter, and the latency and gang targets on the 512-CPU host.
QUICK_LIMITS: dict[str, tuple[str, ...]] = {"T7": ("S1", "S4", "S5"), "T9": ("S2", "S7")}
FULL_SEEDS = 5
QUICK_SEEDS = 2


@dataclass(frozen=True)
class SuiteConfig:
    """What to run. ``o1_every``: compare every n-th measured baseline decision with
    the planner's optimum on the same state (0: never); ``workers``: CP-SAT workers."""

    topologies: tuple[str, ...]
    sequences: tuple[str, ...]
    seeds: tuple[int, ...]
    lengths: Lengths = field(default_factory=Lengths)
    o1_every: int = 4
    workers: int = 1
    quick: bool = False
    contenders: tuple[str, ...] = ()
    limits: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def runs_on(self, topology_id: str, sequence: str) -> bool:
        """True when ``sequence`` runs on ``topology_id`` (see ``limits``)."""
        allowed = dict(self.limits).get(topology_id)
        return allowed is None or sequence in allowed

    @classmethod
    def make(
        cls,
        *,
        quick: bool,
        topologies: Sequence[str] = (),
        sequences: Sequence[str] = (),
        seeds: int | None = None,
        workers: int = 1,
        only: Sequence[str] = (),
    ) -> SuiteConfig:
        """The quick or full suite, narrowed to the given topologies, sequences and
        contenders (``only``; all when empty)."""
        chosen_topologies = tuple(topology(t).id for t in topologies) or (
            QUICK_TOPOLOGIES if quick else tuple(t.id for t in TOPOLOGIES)
        )
        chosen_sequences = tuple(s.strip().upper() for s in sequences) or tuple(GENERATORS)
        for sequence in chosen_sequences:
            if sequence not in GENERATORS:
                raise KeyError(f"unknown sequence {sequence!r}; known: {', '.join(GENERATORS)}")
        known = [c.name for c in contenders()]
        unknown = [name for name in only if name not in known]
        if unknown:
            raise KeyError(f"unknown contender {unknown[0]!r}; known: {', '.join(known)}")
        count = seeds if seeds is not None else (QUICK_SEEDS if quick else FULL_SEEDS)
        if count < 1:
            raise ValueError(f"--seeds must be at least 1, got {count}")
        return cls(
            topologies=chosen_topologies,
            sequences=chosen_sequences,
            seeds=tuple(range(count)),
            lengths=QUICK_LENGTHS if quick else Lengths(),
            o1_every=8,
            workers=workers,
            quick=quick,
            contenders=tuple(only),
            limits=tuple(QUICK_LIMITS.items()) if quick and not topologies and not sequences else (),
        )


@dataclass(frozen=True)
class Job:
    """One run to do; ``weight`` estimates its cost for the progress bar."""

    topology: Topology
    scenario: Scenario
    contender: Contender

    @property
    def weight(self) -> int:
        """Requests in the scenario, scaled by host size and by the planner's extra cost."""
        requests = sum(len(a.requests) for a in self.scenario.arrivals)
        size = len(self.topology.host(self.scenario.seed).available)
        factor = 4 if self.contender.family == "planner" else 1
        return max(1, requests * factor * (1 + size // 64))

    @property
    def label(self) -> str:
        """``T4 S2-0.8 #1 planner``."""
        return f"{self.topology.id} {self.scenario.key} #{self.scenario.seed} {self.contender.name}"


def jobs(config: SuiteConfig) -> list[Job]:
    """Every run of the suite, grouped by scenario so a partial run covers whole scenarios."""
    everyone = [c for c in contenders(config.workers) if not config.contenders or c.name in config.contenders]
    result = []
    for topology_id in config.topologies:
        topo = topology(topology_id)
        for sequence in config.sequences:
            if not config.runs_on(topology_id, sequence):
                continue
            for seed in config.seeds:
                for scenario in scenarios(topo, sequence, seed, config.lengths):
                    for contender in everyone:
                        if contender.gang_only and scenario.sequence != "S7":
                            continue
                        result.append(Job(topo, scenario, contender))
    return result


def run_suite(
    config: SuiteConfig,
    progress: Callable[[Job, int], None] | None = None,
    sink: Callable[[RunRecord], None] | None = None,
) -> list[RunDigest]:
    """Run every job; ``sink`` gets each finished run (the raw results file) and
    ``progress(job, weight)`` is called after it. Only the digests stay in memory."""
    settings = RunSettings(o1_every=config.o1_every)
    digests = []
    for job in jobs(config):
        run = simulate(job.topology, job.scenario, job.contender, settings)
        if sink is not None:
            sink(run)
        digests.append(digest(run))
        if progress is not None:
            progress(job, job.weight)
    return digests
