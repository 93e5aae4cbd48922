"""The harness end to end: a tiny run through the CLI, validation aborts, bad options."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.contenders import Outcome, contenders
from benchmarks.records import RunWriter, iter_runs
from benchmarks.sequences import QUICK_LENGTHS, scenarios
from benchmarks.simulate import RunSettings, ValidationAbort, simulate
from benchmarks.summary import summarize
from benchmarks.topologies import topology
from planner.hardware import Host, Instance
from planner.request import InstanceRequest

EXPECTED_FIGURES = (
    "admission.png",
    "numa_excess.png",
    "distance_cost.png",
    "smt.png",
    "latency_cdf.png",
    "profiles.png",
)


def test_tiny_run_writes_report_plots_and_raw_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["run", "-t", "T3", "-s", "S1", "--seeds", "1", "-c", "planner,first-fit", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 runs in ") and str(out / "report.md") in result.stdout
    assert "error" not in result.stderr
    report = (out / "report.md").read_text()
    assert "## Targets" in report and "| S1 |" in report
    assert "## Reading the targets" in report and "Per decision the planner is never beaten" in report
    for figure in EXPECTED_FIGURES:
        assert (out / figure).stat().st_size > 1000
        assert f"]({figure})" in report
    runs = list(iter_runs(out / "runs.jsonl.gz"))
    assert sorted(r.contender for r in runs) == ["first-fit", "planner"]
    assert (out / "runs.csv").read_text().count("\n") == 3
    assert "planner_vs_best_baseline" in (out / "summary.json").read_text()
    for run in runs:
        assert run.decisions and run.samples and run.stopped_early  # S1 ends on its rejection run
        assert all(d.quality is not None for d in run.decisions if d.admitted)
    planner = next(r for r in runs if r.contender == "planner")
    assert {d.status for d in planner.decisions} <= {"optimal", "infeasible"}
    # the report can be redrawn from the raw results, with the run's own header
    (out / "report.md").unlink()
    again = CliRunner().invoke(app, ["report", str(out)])
    assert again.exit_code == 0 and "report.md" in again.stdout
    assert (out / "report.md").read_text().splitlines()[2] == report.splitlines()[2]


def test_runs_are_reproducible() -> None:
    t1 = topology("T1")
    (scenario,) = scenarios(t1, "S6", 0, QUICK_LENGTHS)[:1]
    planner = next(c for c in contenders() if c.name == "planner")
    first, second = (simulate(t1, scenario, planner) for _ in range(2))
    assert [(d.request, d.admitted, d.quality) for d in first.decisions] == [
        (d.request, d.admitted, d.quality) for d in second.decisions
    ]
    assert summarize(first).admitted == summarize(second).admitted


class Overbooker:
    """A broken allocator: it gives every request CPU 0."""

    name = "overbooker"
    family = "baseline"
    gang_only = False

    def decide(
        self, host: Host, existing: Sequence[Instance], requests: Sequence[InstanceRequest]
    ) -> list[Outcome]:
        return [Outcome(r, Instance(r.name, (0,) * r.size), 0.0) for r in requests]


def test_a_placement_that_breaks_a_rule_aborts_the_run_with_the_finding() -> None:
    t3 = topology("T3")
    (scenario,) = scenarios(t3, "S1", 0)
    with pytest.raises(ValidationAbort, match=r"overbooker on T3 S1 seed 0, events 0-.*\[cpu-"):
        simulate(t3, scenario, Overbooker(), RunSettings(validate_batch=1))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "-t", "T42"], "unknown topology 'T42'"),
        (["run", "-s", "S9"], "unknown sequence 'S9'"),
        (["run", "-c", "magic"], "unknown contender 'magic'"),
        (["run", "--seeds", "0"], "--seeds must be at least 1"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""


def test_report_of_a_directory_without_results(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "runs.jsonl.gz not found" in result.stderr


def test_raw_results_of_an_interrupted_run_read_up_to_the_last_complete_run(tmp_path: Path) -> None:
    t1 = topology("T1")
    (scenario,) = scenarios(t1, "S1", 0)
    first_fit = next(c for c in contenders() if c.name == "first-fit")
    run = simulate(t1, scenario, first_fit)
    path = tmp_path / "runs.jsonl.gz"
    with RunWriter(path) as writer:
        writer.write(run)
        writer.write(run)
    data = path.read_bytes()
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) - 40])
    assert [r.contender for r in iter_runs(path)] == ["first-fit", "first-fit"]
    back = next(iter_runs(path))  # floats are kept to 6 decimals
    assert [(d.request, d.admitted, d.free_before) for d in back.decisions] == [
        (d.request, d.admitted, d.free_before) for d in run.decisions
    ]
    assert [(x.event, x.free_cpus, x.capacity) for x in back.samples] == [
        (x.event, x.free_cpus, x.capacity) for x in run.samples
    ]
    assert back.stopped_early == run.stopped_early
    assert len(list(iter_runs(tmp_path / "cut.jsonl.gz"))) <= 1
