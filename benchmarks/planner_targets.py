"""The planner's performance targets, measured.

    python -m benchmarks.planner_targets            # print the report
    python -m benchmarks.planner_targets --write    # also write benchmarks/results/planner_targets.md

Scenario: a 512-CPU, 8-NUMA, SMT2 host (``pack:2 numa:4 l3:4 core:8 pu:2``, Linux
numbering, SLIT 10/12/32) on which 40 instances were placed one by one by the planner
(sizes 1-16 CPUs, mixed policies, a third with exclusive cores; seeded). Targets:

1. one request: model + solve p95 ≤ 100 ms, proven optimal;
2. a gang of 24 requests: proven optimal (zero gap) within 2 s;
3. ``kerf plan`` for one request, the whole command, ≤ 1.5 s.

Everything is seeded; one CP-SAT worker, as in production.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from planner.hardware import Host, Instance
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import InstanceRequest, Plan, PlanStatus
from planner.solve import PlanOptions, plan
from planner.synthetic import GiB, synthetic_host

HOST = "pack:2 numa:4 l3:4 core:8 pu:2"
RESULTS = Path(__file__).resolve().parent / "results" / "planner_targets.md"
SIZES = (1, 2, 2, 4, 4, 4, 8, 8, 16)


def make_host() -> Host:
    """The 512-CPU host, 128 GiB per node (96 GiB of it in the pool)."""
    return synthetic_host(HOST, node_memory=128 * GiB)


def draw_request(rng: random.Random, name: str) -> InstanceRequest:
    """One request: 1-16 CPUs, 2 GiB per CPU, compact 60% / spread 20% / local 20%,
    memory local 70% / interleave 20% / bind to a random node 10%, exclusive cores 30%."""
    size = rng.choice(SIZES)
    affinity = rng.choices(list(CpuAffinity), weights=[60, 20, 20])[0]
    policy = rng.choices(list(MemoryPolicy), weights=[70, 20, 10])[0]
    nodes: tuple[int, ...] = (rng.randrange(8),) if policy is MemoryPolicy.BIND else ()
    return InstanceRequest(
        name,
        size * 2 * GiB,
        cpu_count=size,
        cpu_affinity=affinity,
        memory_policy=policy,
        numa_nodes=nodes,
        exclusive_cores=rng.random() < 0.3,
    )


def filled_host(seed: int = 1, count: int = 40) -> tuple[Host, list[Instance]]:
    """The host with ``count`` instances placed one at a time by the planner."""
    host = make_host()
    rng = random.Random(seed)
    placed: list[Instance] = []
    for i in range(count):
        result = plan(host, placed, [draw_request(rng, f"old{i}")], PlanOptions(explain=False))
        placed += result.placements
    return host, placed


@dataclass(frozen=True)
class Timing:
    """Wall seconds and outcome of one plan."""

    seconds: float
    status: PlanStatus
    gap: float | None
    variables: int
    solves: int
    requests: int
    cpus: int
    unplaced: int
    tiebreak_proven: bool
    open_tier: str


def timed(host: Host, existing: Sequence[Instance], requests: list[InstanceRequest], limit: float) -> Timing:
    """Plan once and time it (model building, solving, realising, scoring)."""
    start = time.perf_counter()
    result: Plan = plan(host, existing, requests, PlanOptions(time_limit=limit, explain=False))
    seconds = time.perf_counter() - start
    model = result.metrics["model"]
    assert isinstance(model, dict)
    return Timing(
        seconds,
        result.status,
        result.gap,
        int(model["variables"]),
        int(model["solves"]),
        len(requests),
        sum(r.size for r in requests),
        len(result.unplaced),
        bool(result.metrics["tiebreak_proven"]),
        _open_tier(result),
    )


def _open_tier(result: Plan) -> str:
    """``smt 19 ≥ 17``: the first tier not proven, its value and its proven bound."""
    model = result.metrics["model"]
    tiers, lower = result.metrics["tiers"], result.metrics["proven_bounds"]
    assert isinstance(model, dict) and isinstance(tiers, dict) and isinstance(lower, dict)
    name = model["stopped_at_tier"]
    if name is None or name == "tiebreak":
        return "-"
    return f"{name} {tiers[name]} ≥ {lower[name]}"


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def single_requests(host: Host, existing: list[Instance], runs: int) -> list[Timing]:
    """``runs`` different single requests on the filled host."""
    rng = random.Random(2)
    timed(host, existing, [draw_request(rng, "warm-up")], 10.0)  # imports, caches
    return [timed(host, existing, [draw_request(rng, f"new{i}")], 10.0) for i in range(runs)]


def gangs(host: Host, existing: list[Instance], runs: int, limit: float) -> list[tuple[Timing, Timing]]:
    """``runs`` gangs of 24 requests on the filled host, each planned with ``limit`` and
    with the 2 s of the target."""
    results = []
    for seed in range(runs):
        rng = random.Random(100 + seed)
        gang = [draw_request(rng, f"g{i}") for i in range(24)]
        results.append((timed(host, existing, gang, limit), timed(host, existing, gang, 2.0)))
    return results


def cli_runs(host: Host, existing: list[Instance], runs: int) -> list[float] | str:
    """Wall seconds of ``kerf plan HOST --requests FILE --json`` (the whole process)."""
    from kerf.binding import host_to_tree
    from kerf.dts import format_dts

    with tempfile.TemporaryDirectory() as tmp:
        host_file = Path(tmp) / "host.dts"
        host_file.write_text(format_dts(host_to_tree(host, existing)))
        request_file = Path(tmp) / "requests.json"
        request_file.write_text(
            json.dumps({"instances": [{"name": "web", "cpu-count": 8, "memory": "16GB"}]})
        )
        command = [
            sys.executable,
            "-m",
            "kerf",
            "plan",
            str(host_file),
            "--requests",
            str(request_file),
            "--json",
        ]
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - start)
            if done.returncode not in (0, 4):
                return f"kerf plan failed ({done.returncode}): {done.stderr.strip()[:300]}"
        return times


def machine() -> str:
    """CPU model, cores, Python and OR-Tools versions."""
    import os
    from importlib.metadata import version

    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    # the load says whether the wall times below had the cores to themselves
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"OR-Tools {version('ortools')}, {platform.system()} {platform.release()}, "
        f"load average {load:.1f} when the run ended"
    )


def report(
    single: list[Timing], gang: list[tuple[Timing, Timing]], cli: list[float] | str, limit: float
) -> str:
    """The results as Markdown."""
    s = [t.seconds * 1000 for t in single]
    lines = [
        "# Planner performance targets",
        "",
        f"Machine: {machine()}.",
        "",
        f"Host: `{HOST}` (512 CPUs, 8 NUMA nodes, SMT2, 32 L3 groups), 40 instances placed "
        "by the planner beforehand (seed 1). One CP-SAT worker, seed 7. "
        "Reproduce with `python -m benchmarks.planner_targets --write`.",
        "",
        "## 1. One request: model + solve, p95 ≤ 100 ms, proven optimal",
        "",
        f"{len(single)} different requests (1-16 CPUs, mixed policies), each timed for the whole "
        "`plan()` call (topology, model, lexicographic solves, concrete CPUs and memory, scoring).",
        "",
        "| median | p95 | max | proven optimal | variables (median) |",
        "|---|---|---|---|---|",
        f"| {statistics.median(s):.0f} ms | {quantile(s, 0.95):.0f} ms | {max(s):.0f} ms | "
        f"{sum(t.status is not PlanStatus.FEASIBLE for t in single)}/{len(single)} | "
        f"{statistics.median(t.variables for t in single):.0f} |",
        "",
        "## 2. A gang of 24 requests: optimal (zero gap) within 2 s",
        "",
        f"Each gang planned twice: with a {limit:g} s limit (the default), and with the 2 s of the "
        'target. "proven" means every quality tier is proven optimal (status optimal, or '
        "infeasible when the gang does not fit entirely: the best admissible subset, proven).",
        "",
        f"| gang | CPUs asked | not placed | {limit:g} s limit: seconds | status | tie-break proven "
        "| 2 s limit: status | first tier left open (value ≥ proven bound) | variables | solves |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (full, short) in enumerate(gang):
        tiebreak = "yes" if full.tiebreak_proven else "no"
        lines.append(
            f"| {i} | {full.cpus} | {full.unplaced} | {full.seconds:.2f} | {full.status} | {tiebreak} | "
            f"{short.status} | {short.open_tier} | {full.variables} | {full.solves} |"
        )
    g = [full.seconds for full, _ in gang] or [0.0]
    within = sum(short.status is not PlanStatus.FEASIBLE for _, short in gang)
    lines += [
        "",
        f"With the default limit: median {statistics.median(g):.2f} s, max {max(g):.2f} s. "
        f"Proven within 2 s: {within}/{len(gang)}.",
        "",
        "## 3. `kerf plan` for one request, whole command, ≤ 1.5 s",
        "",
    ]
    if isinstance(cli, str):
        lines.append(f"Not measured: {cli}.")
    else:
        lines.append(
            f"{len(cli)} runs of `kerf plan HOST.dts --requests one.json --json` as a new process: "
            f"median {statistics.median(cli):.2f} s, max {max(cli):.2f} s."
        )
    proven = [full.seconds for full, _ in gang if full.status is not PlanStatus.FEASIBLE]
    verdict = (
        f"- So on this machine the 2 s target for 24-request batches is met by {within} of "
        f"{len(gang)} gangs; with one worker the proven optimum takes "
        + (f"{min(proven):.1f}-{max(proven):.1f} s" if proven else "longer than the limit")
        + ". Within 2 s the planner returns a valid plan marked `feasible` with the proven bound "
        "of the open tier."
    )
    lines += ["", *EXPLANATION, verdict]
    return "\n".join(lines) + "\n"


EXPLANATION = [
    "## Reading the results",
    "",
    "- One request: met. The model has about a hundred integer variables (core classes "
    "instead of CPUs) and all tiers are optimised in one weighted solve.",
    "- Gangs of 24: proven optimal within the default 10 s limit; within 2 s for some (the "
    "verdict below). "
    "A batch is solved one tier at a time (the quality tiers of docs/planner.md; the moved_* "
    "tiers are constant without rebalance or update and cost nothing), each proven before the "
    "next. Every solve pays a presolve of the whole model (about 0.1 s of CPU here), so the easy "
    "tiers (admission, NUMA, balance, distance) add up to half a second or more; the rest goes "
    "into `span`, `smt` and `fragmentation` (the table's 2 s column shows how far the bound is "
    "from the plan when the limit stops the search). Before each of those three, the solution in "
    "hand is polished: re-solved for the tier with each request's amounts per NUMA node fixed "
    "(a much easier model), which usually finds the tier's optimum, so the real solve only "
    "proves it. A tier that the "
    "solution in hand already holds at its lower bound (`unplaced_cpus` when everything fits, "
    "a zero `numa`) is fixed without a solve. The tie-break gets 5% of the limit and is not "
    "needed for `optimal`.",
    "- Tried while building this (same host, same gangs): the default `linearization_level` "
    "left the `span` bound open for over 20 s where level 2 closes it in under 3 s; one weighted "
    "objective over several tiers was much slower than one tier at a time (one group ran 60 s "
    "where its tiers alone took 6 s); counting broken free units for fragmentation took 45 s to "
    "prove where counting the CPUs taken from free units takes under a second; 8 workers (on 2 "
    "cores) prove `span` about twice as fast but make plans depend on thread timing, which the "
    "project's determinism rule forbids.",
    "- Tried for the 2 s target, measured in CP-SAT deterministic time (d) and CPU seconds "
    "because the 2-core machine was shared (wall times up to 3x the CPU time). On the `span`, "
    "`smt` and `fragmentation` models of gangs 0-4 (sum 7.2 d as shipped): "
    "`use_optimization_hints` off 6.7 d, pseudo-cost branching, objective shaving and max-HS "
    "7.2 d (no change), `use_objective_lb_search` 8.1 d, LP branching 8.8 d, "
    "`add_lp_constraints_lazily` off 9.2 d, portfolio branching 9.5 d, `symmetry_level` 4 11.3 d, "
    "hint search 17.5 d, interleaved search 21.4 d, lb-tree search 24.3 d, core-based "
    "optimisation 35.6 d (`span` not proven in 10 s). Each setting speeds some tiers up and "
    "slows others several-fold: the hard tier moves, the total does not drop. End to end on 10 "
    "gangs (seeds 100-109, 20 s limit; 22.6 d, 9/10 proven, as shipped): "
    "`use_objective_lb_search` 18.4 d, 9/10; one presolve pass (`max_presolve_iterations` 1) "
    "halves each presolve (0.14 -> 0.06 s) but 20.3 d and 71 s of CPU against 59 s; the two "
    "admission tiers as one weighted group 23.8 d, 8/10. Formulation: the groups-used link "
    "counted in CPUs (Σ t·pieces ≤ cap·flag) changed nothing (8.3 d against 8.1 d, gangs 0-4); "
    "cuts saying that a node holding fewer of a request's CPUs than a core has threads holds a "
    "partial core left the root `smt` bound where it was (15 for an optimum of 19 on gang 0) "
    "and made that tier 3-4x slower on gangs 0 and 2. None of these was kept.",
    "- Kept: polishing (above). Before it, `span` was often proven at the root (gang 1: bound 36 "
    "at 0.2 s) while the search spent over a second finding a plan, because each tier starts "
    "from the previous tier's solution, whose core groups are arbitrary (gang 1: 339 groups and "
    "sockets in the hint of `span`, 36 at the optimum); with it the `span` solve of gang 1 "
    "takes 0.1 s instead of 1.8 s, and the 10 gangs (seeds 100-109, two runs each, same "
    "machine state) take 25.9 and 25.8 s of CPU instead of 38.9 and 38.1 s.",
    "- Kept: presolve without its probing pass (`cp_model_probing_level` 0). Every tier "
    "presolves the whole model again and probing was a large part of it; on the 10 gangs "
    "(seeds 100-109, CPU seconds, two runs each) 43.7 and 42.9 s with probing, 38.3 and 33.1 s "
    "without (level 1: 38.5 s), and single requests got faster too. `symmetry_level` 0 or 1 "
    "instead: slower (22.2 and 21.0 s against 19.6 s on gangs 0-4).",
    "- Tried, not kept: a better first plan instead of polishing. Upper bound: the "
    "final optimal plan given as the first hint and kept while still optimal for each tier "
    "(a solve otherwise returns another optimal plan, rearranged where its tier does not look): "
    "quality tiers 1.0-1.5 s on gangs 0, 1, 3 and 4, 3.1 s on gang 2. Real starts did not get "
    "there: kubelet's packed greedy written into the model's variables, 19.2 -> 19.4 s of CPU on "
    "gangs 0-4 (gang 1 slower: the `distance` solve moved away from it); the requests planned "
    "one at a time by the single-request planner (0.3-0.5 s of its own), 42.9 -> 45.5 s on the "
    "10 gangs. After polishing, on the 10 gangs (another machine state: 27.7 s as kept): "
    "`symmetry_level` 1 26.7 s (noise), one presolve pass 33.5 s, no presolve 51.8 s; a parity "
    "cut (a request of odd size holds at least one piece of an odd number of threads) 31.5 and "
    "29.7 s against 25.1 and 25.2 s.",
    "- Kept for a while, then removed: the symmetries that presolve detects (interchangeable "
    "cores, core groups and requests) kept through presolve and used in the LP "
    "(`keep_symmetry_in_presolve`, `use_symmetry_in_lp`). With both on, OR-Tools 9.15 proved a "
    "wrong optimum on a three-request plan of examples/numa_topology.dts (`device` 1 where 0 "
    "is reachable; the check of every plan against planner.objective stopped it as an "
    "internal error, exit 70; tests/planner/test_solver_soundness.py keeps the case); a fast "
    "wrong proof is worth less than a slow right one. Without them (as shipped now): gangs "
    "0-19 35.5 d in total, median 0.29 d, 16 of 20 proven within 2 s instead of 17. What they "
    "had gained, in deterministic time of the quality tiers, which does "
    "not depend on the machine's load: gangs 0-19 29.3 -> 10.0 d in total, median 0.29 -> "
    "0.17 d per gang (gang 10's `fragmentation`, open after 20 s before, is proven in 3.2 d; "
    "gang 5 got slower, 1.9 -> 3.4 d); gangs 20-39 21.3 -> 20.2 d, median 0.31 -> 0.25 d "
    "(gang 24's `distance` stays open for 20 s with either: bound 24, plan 28, a bin-packing "
    "proof of which requests can stay on one node). Each setting alone: 19.6 and 18.6 d on "
    "gangs 0-19. CPU seconds on gangs 0-11 (20 s limit, tie-break included): 53.0 and 52.2 s "
    "before, 38.3 and 38.5 s after.",
    "- Tried, not kept (same measures): the per-node tiers (admission to `distance`) first on a "
    "node-level model, whose core classes are merged across the groups of a node (exact for "
    "those tiers: a core of one group stands in for one of the same kind in another group), "
    "then the full model with their optima fixed: 2896 -> 2026 variables on gang 2 and its "
    "per-node solves 0.97 -> 0.66 s, but 26.9 and 24.4 s of CPU against 26.5 and 26.5 s end to "
    "end on gangs 0-9 (most of the model is per node anyway: memory, distance pairs); an order "
    "on interchangeable wholly free core groups (a lower group holds at least as many CPUs): "
    "gang 10 proven, gang 5 2.5 -> 5.9 s, 40.9 s against 36.2 s; one polish for all the "
    "structure tiers at once (weighted) instead of one before each: 14.8 d against 10.0 d, 43.6 "
    "s against 36.8 s of CPU; for the `fragmentation` solves alone, on the four gangs where it "
    "is hard (2, 5, 10, 17; 32.9 s as kept then): core-based search 74.9 s, lb-tree search "
    "32.5 s, `symmetry_level` 4 37.3 s, `linearization_level` 1 47.9 s, probing search 80.4 s.",
    "- Kept: tier floors. A tier is fixed without a solve when the solution in hand holds it at "
    "what the admitted requests cost at least, whichever they are (`span`: one socket and the "
    "fewest core groups that could hold each compact or local request; `smt`: a core held in "
    "part for each size that whole cores cannot make up). After polishing, `span` sits at its "
    "floor on most gangs: the table's tier solves (polishes not counted) went from 8-9 to 7-9, "
    "about 0.1 s less per gang.",
    "- Where the time goes: each solve presolves the whole model again (about 0.1 s of wall time "
    "for 2900 variables, not counted in deterministic time), and a typical gang needs 10-12 "
    "solves (7-9 tiers, 3 polishes), so presolve is about two thirds of a typical gang's time; "
    "the gangs that miss 2 s are the ones whose `fragmentation`, `distance` or `span` proof is "
    "combinatorially hard. The machine's speed also varied during the day (the same `kerf plan` "
    "command: 0.94 s in one run, 1.25 s in another an hour later).",
    "- `kerf plan`, whole command: about 0.2 s of each run was the interpreter tearing down "
    "ortools, numpy, pandas and networkx at exit; kerf now leaves with `os._exit` once its "
    "output is flushed (kerf.cli.app.leave). Reading the 40-instance host DTS went from 0.10 "
    "to 0.06 s (the lexer worked out a line and column for every literal). What remains is "
    "mostly imports: ortools with numpy and pandas about 0.5 s, networkx 0.2 s, Python itself "
    "0.15 s on this machine.",
]


def main(argv: list[str] | None = None) -> None:
    """Run the scenarios and print (and with --write, save) the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    parser.add_argument("--single", type=int, default=40, help="single requests to time")
    parser.add_argument("--gangs", type=int, default=20, help="gangs of 24 to time")
    parser.add_argument("--gang-limit", type=float, default=10.0, help="time limit per gang (s)")
    parser.add_argument("--cli-runs", type=int, default=5, help="kerf plan runs to time")
    args = parser.parse_args(argv)
    host, existing = filled_host()
    single = single_requests(host, existing, args.single)
    gang = gangs(host, existing, args.gangs, args.gang_limit)
    cli = cli_runs(host, existing, args.cli_runs)
    text = report(single, gang, cli, args.gang_limit)
    sys.stdout.write(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
