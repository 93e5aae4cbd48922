"""How fast the kerf commands start: wall time of whole processes, next to `python -c pass`.

Each command runs ``repeat`` times, alternating with ``python -c pass`` so that both
see the same machine load; the medians are reported. The lifecycle commands work on a
simulated host in a temporary directory, set up once with ``kerf init`` from
``examples/numa_topology.dts``; every timed ``kerf create`` is undone by an untimed
``kerf delete`` so that each one sees the same state. Commands the installed kerf does
not offer are listed as missing rather than timed.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.stats import quantile

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "numa_topology.dts"
#: ``kerf plan`` gets one request: the examples' web.json on the host it is written for.
PLAN_HOST = REPO / "examples" / "baseline.dts"
PLAN_REQUEST = REPO / "examples" / "requests" / "web.json"


@dataclass(frozen=True)
class Timing:
    """One command's medians; ``note`` says when it was missing or failed."""

    label: str
    command: str
    median_ms: float
    p90_ms: float
    baseline_ms: float
    runs: int
    exit_code: int | None
    note: str = ""


def kerf_argv() -> list[str]:
    """How to start kerf: the installed console script, else ``python -m kerf``."""
    found = shutil.which("kerf")
    return [found] if found else [sys.executable, "-m", "kerf"]


def available_commands() -> set[str]:
    """Command names listed by ``kerf --help``."""
    done = subprocess.run([*kerf_argv(), "--help"], capture_output=True, text=True, check=False)
    names = set()
    in_commands = False
    for line in done.stdout.splitlines():
        if line.strip().startswith("Commands:"):
            in_commands = True
            continue
        if in_commands and line.startswith("  ") and line.strip():
            names.add(line.split()[0])
    return names


def _time(argv: Sequence[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, check=False)
    return (time.perf_counter() - start) * 1000, done.returncode


@dataclass(frozen=True)
class Case:
    """A command to time: ``needs`` the kerf command that must exist; ``after`` runs
    untimed after each repetition (cleanup), with the repetition number."""

    label: str
    argv: Callable[[int], list[str]]
    needs: str | None = None
    after: Callable[[int], list[str]] | None = None


def cases(root: Path) -> list[Case]:
    """The commands of the issue: --help, show, plan (one request), create --cpu-count."""
    kerf = kerf_argv()
    host = str(EXAMPLE)
    return [
        Case("kerf --help", lambda i: [*kerf, "--help"]),
        Case("kerf show", lambda i: [*kerf, "show", "--root", str(root)], needs="show"),
        Case(
            "kerf plan (one request)",
            lambda i: [*kerf, "plan", str(PLAN_HOST), "--requests", str(PLAN_REQUEST)],
            needs="plan",
        ),
        Case(
            "kerf create --cpu-count 4",
            lambda i: [
                *kerf,
                "create",
                f"bench{i}",
                "--cpu-count",
                "4",
                "--memory",
                "2GiB",
                "--root",
                str(root),
            ],
            needs="create",
            after=lambda i: [*kerf, "delete", f"bench{i}", "--root", str(root)],
        ),
        Case("kerf validate (example host)", lambda i: [*kerf, "validate", host], needs="validate"),
    ]


def _display(argv: Sequence[str], root: Path) -> str:
    """A command as a reader would type it: ``kerf``, repository-relative paths, $ROOT."""
    words = [Path(argv[0]).name if argv[0].endswith("kerf") else "python -m kerf"]
    for word in argv[1 if words[0] == "kerf" else 3 :]:
        word = word.replace(str(root), "$ROOT").replace(f"{REPO}/", "")
        words.append(word)
    return " ".join(words)


def measure(repeat: int) -> list[Timing]:
    """Time every case ``repeat`` times, each run next to a ``python -c pass``."""
    offered = available_commands()
    env = dict(os.environ)
    env.pop("KERF_ROOT", None)
    baseline = [sys.executable, "-c", "pass"]
    results = []
    with tempfile.TemporaryDirectory(prefix="kerf-clibench-") as tmp:
        root = Path(tmp) / "host"
        if "init" in offered:
            subprocess.run(
                [*kerf_argv(), "init", "--input", str(EXAMPLE), "--root", str(root)],
                capture_output=True,
                env=env,
                check=False,
            )
        for case in cases(root):
            command = _display(case.argv(0), root)
            if case.needs is not None and case.needs not in offered:
                results.append(
                    Timing(case.label, command, 0.0, 0.0, 0.0, 0, None, "missing: not in kerf --help")
                )
                continue
            ours, theirs, codes = [], [], []
            for i in range(repeat):
                theirs.append(_time(baseline, env)[0])
                elapsed, code = _time(case.argv(i), env)
                ours.append(elapsed)
                codes.append(code)
                if case.after is not None:
                    subprocess.run(case.after(i), capture_output=True, env=env, check=False)
            failed = [c for c in codes if c != 0]
            results.append(
                Timing(
                    case.label,
                    command,
                    statistics.median(ours),
                    quantile(ours, 0.9),
                    statistics.median(theirs),
                    repeat,
                    codes[-1],
                    f"exit {failed[0]} in {len(failed)} runs" if failed else "",
                )
            )
    return results


def write_results(results: Sequence[Timing], out: Path, repeat: int) -> Path:
    """cli_speed.md and cli_speed.json in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "cli_speed.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    cpus = len(os.sched_getaffinity(0))
    lines = [
        "# kerf start-up times",
        "",
        f"`python -m benchmarks cli --repeat {repeat}`: medians of {repeat} runs of each command, each run"
        f" next to a `python -c pass` on the same machine ({cpus} CPUs, Python {sys.version.split()[0]}).",
        "Lifecycle commands run against a simulated host in a temporary directory"
        " (`kerf init --input examples/numa_topology.dts`); `kerf plan` places the one request of"
        " `examples/requests/web.json` on `examples/baseline.dts`; each `kerf create` is undone by"
        " an untimed `kerf delete`.",
        "",
        "| command | median ms | p90 ms | `python -c pass` median ms | over `python -c pass` | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        if r.runs == 0:
            lines.append(f"| `{r.command}` | — | — | — | — | {r.note} |")
            continue
        lines.append(
            f"| `{r.command}` | {r.median_ms:.0f} | {r.p90_ms:.0f} | {r.baseline_ms:.0f} | "
            f"{r.median_ms - r.baseline_ms:+.0f} | {r.note} |"
        )
    path = out / "cli_speed.md"
    path.write_text("\n".join(lines) + "\n")
    return path
