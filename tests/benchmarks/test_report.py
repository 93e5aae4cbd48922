"""The report's target lines, from hand-made run summaries."""

from __future__ import annotations

from dataclasses import fields

from benchmarks.report import targets
from benchmarks.summary import RunSummary


def _summary(
    contender: str, phases: dict[str, list[int]], *, seed: int = 0, refill: float | None = None
) -> RunSummary:
    """An S3 run on T4 whose only figures are its phases (the rest left empty)."""
    given: dict[str, object] = {
        "topology": "T4",
        "scenario": "S3",
        "sequence": "S3",
        "seed": seed,
        "contender": contender,
        "family": "planner" if contender.startswith("planner") else "baseline",
        "pool_cpus": 80,
        "offered": sum(o for _, o in phases.values()),
        "admitted": sum(a for a, _ in phases.values()),
        "offered_cpus": 80,
        "admitted_cpus": 40,
        "admission": 0.5,
        "cpu_admission": 0.5,
        "phases": phases,
        "refill": refill,
    }
    for f in fields(RunSummary):
        if f.name not in given and f.name not in ("statuses", "seconds", "refill"):
            given[f.name] = None
    return RunSummary(**given)  # type: ignore[arg-type]


def test_the_fragmentation_target_leaves_out_an_allocator_that_could_not_fill_the_host() -> None:
    runs = [
        _summary("planner", {"fill": [40, 40], "numa": [2, 4], "core": [10, 20]}),
        _summary("kubelet-packed", {"fill": [40, 40], "numa": [2, 4], "core": [12, 20]}),
        # filled half the host, so it has room to spare after the punch
        _summary("slurm-block", {"fill": [20, 40], "numa": [4, 4], "core": [20, 20]}),
    ]
    line = next(line for line in targets(runs, []) if line.startswith("2. "))
    assert "S3: planner 0.5, best baseline 0.583 (kubelet-packed)" in line
    assert "(slurm-block left out: it filled less of the host than the planner)" in line


def test_every_allocator_counts_when_all_filled_the_host() -> None:
    runs = [
        _summary("planner", {"fill": [40, 40], "numa": [2, 4], "core": [10, 20]}),
        _summary("slurm-block", {"fill": [40, 40], "numa": [4, 4], "core": [20, 20]}),
    ]
    line = next(line for line in targets(runs, []) if line.startswith("2. "))
    assert "best baseline 1 (slurm-block)" in line and "left out" not in line


def test_the_fragmentation_target_shows_pack_and_the_freed_cpus_used_again() -> None:
    full = {"fill": [40, 40], "numa": [2, 4], "core": [10, 20]}
    runs = [
        _summary("planner", full, refill=0.5),
        _summary("planner-pack", {**full, "core": [14, 20]}, refill=0.75),
        _summary("kubelet-packed", {**full, "core": [12, 20]}, refill=0.6),
        _summary("first-fit", full, refill=0.25),
    ]
    line = next(line for line in targets(runs, []) if line.startswith("2. "))
    assert "S3: planner 0.5 (with --core-sharing pack 0.667), best baseline 0.583 (kubelet-packed)" in line
    assert "per CPU it freed: planner 0.5, pack 0.75, best baseline 0.6 (kubelet-packed)" in line


def test_refill_is_the_cpus_admitted_after_the_punch_over_the_cpus_it_freed() -> None:
    from benchmarks.contenders import contenders
    from benchmarks.sequences import QUICK_LENGTHS, scenarios
    from benchmarks.simulate import simulate
    from benchmarks.summary import summarize
    from benchmarks.topologies import topology

    t1 = topology("T1")
    scenario = next(s for s in scenarios(t1, "S3", 0, QUICK_LENGTHS) if s.key == "S3")
    kubelet = next(c for c in contenders() if c.name == "kubelet-packed")
    run = simulate(t1, scenario, kubelet)
    tail = [d for d in run.decisions if d.phase in ("numa", "core")]
    freed = tail[0].free_before
    assert 0 < freed < run.pool_cpus
    assert summarize(run).refill == sum(d.size for d in tail if d.admitted) / freed
