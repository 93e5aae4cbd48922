"""The report's target lines, from hand-made run summaries."""

from __future__ import annotations

from dataclasses import fields

from benchmarks.report import targets
from benchmarks.summary import RunSummary


def _summary(contender: str, phases: dict[str, list[int]], *, seed: int = 0) -> RunSummary:
    """An S3 run on T4 whose only figures are its phases (the rest left empty)."""
    given: dict[str, object] = {
        "topology": "T4",
        "scenario": "S3",
        "sequence": "S3",
        "seed": seed,
        "contender": contender,
        "family": "planner" if contender == "planner" else "baseline",
        "pool_cpus": 80,
        "offered": sum(o for _, o in phases.values()),
        "admitted": sum(a for a, _ in phases.values()),
        "offered_cpus": 80,
        "admitted_cpus": 40,
        "admission": 0.5,
        "cpu_admission": 0.5,
        "phases": phases,
    }
    for f in fields(RunSummary):
        if f.name not in given and f.name not in ("statuses", "seconds"):
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
