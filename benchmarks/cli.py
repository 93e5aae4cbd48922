"""``python -m benchmarks``: run the placement benchmark, redraw a report, time the CLI."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from benchmarks.suite import SuiteConfig, jobs

if TYPE_CHECKING:
    from benchmarks.digest import RunDigest

RESULTS = Path(__file__).resolve().parent / "results"

app = typer.Typer(
    name="benchmarks",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="kerf's placement benchmark: the CP-SAT planner against greedy allocators.",
)


def _split(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated option values, flattened."""
    return [part for value in values or [] for part in value.replace(",", " ").split()]


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def run(
    quick: Annotated[
        bool, typer.Option("--quick", help="Five hosts, two seeds, short sequences (minutes).")
    ] = False,
    topology: Annotated[
        list[str] | None,
        typer.Option(
            "--topology", "-t", metavar="T..", help="Hosts to run (T1..T10; repeat or comma-separate)."
        ),
    ] = None,
    sequence: Annotated[
        list[str] | None,
        typer.Option(
            "--sequence", "-s", metavar="S..", help="Sequences to run (S1..S7; repeat or comma-separate)."
        ),
    ] = None,
    seeds: Annotated[
        int | None, typer.Option("--seeds", metavar="N", help="Seeds 0..N-1 (default 2 quick, 5 full).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="Output directory (default benchmarks/results/quick|full)."
        ),
    ] = None,
    contender: Annotated[
        list[str] | None,
        typer.Option(
            "--contender", "-c", metavar="NAME", help="Only these allocators (planner, kubelet-packed, ...)."
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", metavar="N", help="CP-SAT workers per solve.")] = 1,
) -> None:
    """Run the benchmark and write report.md, plots and raw results."""
    from benchmarks.report import RunInfo, environment, write_report
    from benchmarks.simulate import ValidationAbort

    try:
        config = SuiteConfig.make(
            quick=quick,
            topologies=_split(topology),
            sequences=_split(sequence),
            seeds=seeds,
            workers=workers,
            only=_split(contender),
        )
    except (KeyError, ValueError) as err:
        _fail(str(err).strip("'\""), 2)
        return
    target = out or RESULTS / ("quick" if quick else "full")
    setting = environment()  # before the run: the commit and tree it ran on
    todo = jobs(config)
    start = time.perf_counter()
    try:
        runs = _with_progress(config, sum(j.weight for j in todo), target / "runs.jsonl.gz")
    except ValidationAbort as err:
        _fail(f"a placement failed validation, run aborted: {err}", 1)
        return
    info = RunInfo(
        command="python -m benchmarks " + " ".join(sys.argv[1:]),
        quick=quick,
        seeds=len(config.seeds),
        wall_seconds=time.perf_counter() - start,
        workers=workers,
        o1_every=config.o1_every,
        environment=setting,
    )
    path = write_report(runs, target, info)
    typer.echo(f"{len(runs)} runs in {info.wall_seconds / 60:.1f} min; report: {path}")


def _with_progress(config: SuiteConfig, total: int, raw: Path) -> list[RunDigest]:
    """Run the suite under a rich progress bar (weighted by each run's expected cost),
    writing each finished run to ``raw`` as it completes."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from benchmarks.records import RunWriter
    from benchmarks.suite import Job, run_suite

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),  # stdout keeps only the result line
    ) as progress:
        task = progress.add_task("starting", total=total)

        def advance(job: Job, weight: int) -> None:
            progress.update(task, advance=weight, description=job.label[:34].ljust(34))

        raw.parent.mkdir(parents=True, exist_ok=True)
        with RunWriter(raw) as writer:
            return run_suite(config, advance, writer.write)


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="A run's output directory (holds runs.jsonl.gz).")],
) -> None:
    """Redraw report.md and the plots from a run's raw results."""
    from benchmarks.digest import digest
    from benchmarks.records import iter_runs
    from benchmarks.report import RunInfo, read_info, write_report

    source = directory / "runs.jsonl.gz"
    if not source.is_file():
        _fail(f"{source} not found; run `python -m benchmarks run --out {directory}` first", 2)
    runs = [digest(run) for run in iter_runs(source)]
    info = read_info(directory) or RunInfo(
        command=f"python -m benchmarks report {directory}",
        quick="quick" in directory.name,
        seeds=len({r.key[2] for r in runs}),
        wall_seconds=sum(r.summary.seconds for r in runs),
        workers=1,
        o1_every=0,
    )
    typer.echo(f"report: {write_report(runs, directory, info)}")


@app.command()
def cli(
    repeat: Annotated[int, typer.Option("--repeat", help="Runs of each command.")] = 15,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output directory (default benchmarks/results).")
    ] = None,
) -> None:
    """Time kerf's start-up: each command next to `python -c pass`, medians of repeated runs."""
    from benchmarks.clibench import measure, write_results

    if repeat < 3:
        _fail("--repeat must be at least 3", 2)
    results = measure(repeat)
    path = write_results(results, out or RESULTS, repeat)
    for r in results:
        typer.echo(f"{r.label:40s} {r.median_ms:8.1f} ms  (python -c pass {r.baseline_ms:.1f} ms) {r.note}")
    typer.echo(f"results: {path}")


def main() -> None:
    """Entry point of ``python -m benchmarks``."""
    app(prog_name="python -m benchmarks")
