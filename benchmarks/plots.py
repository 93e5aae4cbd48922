"""The report's figures (matplotlib, Agg backend, PNG).

Each function draws one figure into ``out`` and returns the file name. The planner is
drawn in a strong colour and the baselines in muted ones, in the same order everywhere.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.digest import FOCUS_SCENARIO, RunDigest
from benchmarks.records import Sample
from benchmarks.stats import performance_profile
from benchmarks.summary import (
    GANG_PLANNER,
    PLANNER,
    RunSummary,
    contender_names,
    runs_everywhere,
    scenario_keys,
    table,
)

DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colours(names: Sequence[str]) -> dict[str, Any]:
    plt = _pyplot()
    palette = plt.get_cmap("tab20").colors
    colours: dict[str, Any] = {}
    muted = iter(c for i, c in enumerate(palette) if i not in (6, 7))
    for name in names:
        if name == PLANNER:
            colours[name] = "#d62728"
        elif name.startswith(GANG_PLANNER):
            colours[name] = "#8c1c13"
        else:
            colours[name] = next(muted)
    return colours


def _save(fig: Any, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=DPI)
    _pyplot().close(fig)
    return name


def admission(summaries: Sequence[RunSummary], out: Path) -> str:
    """Mean admission rate per contender and scenario (grouped bars)."""
    plt = _pyplot()
    names = [n for n in contender_names(summaries) if runs_everywhere(n)]
    keys = scenario_keys(summaries)
    cells = table(summaries, "admission", lambda s: s.scenario)
    colours = _colours(names)
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(keys)), 4.2))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        values = [cells.get(k, {}).get(name) or 0.0 for k in keys]
        ax.bar([x + i * width for x in range(len(keys))], values, width, label=name, color=colours[name])
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(keys))], keys, rotation=30, ha="right")
    ax.set_ylabel("admitted / offered requests")
    ax.set_ylim(0, 1.05)
    ax.set_title("Admission rate by sequence (mean over hosts and seeds)")
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.28))
    return _save(fig, out, "admission.png")


def numa_excess(runs: Sequence[RunDigest], out: Path) -> str:
    """Distribution of NUMA excess over m* per contender (stacked shares)."""
    plt = _pyplot()
    values: dict[str, list[int]] = {}
    for r in runs:
        values.setdefault(r.contender, []).extend(r.numa_excess)
    names = [n for n, v in values.items() if v]
    buckets = ("0", "1", "2", "3+")
    fig, ax = plt.subplots(figsize=(9, 4))
    bottoms = [0.0] * len(names)
    shades = ("#4c72b0", "#dd8452", "#c44e52", "#8172b3")
    for b, label in enumerate(buckets):
        shares = []
        for name in names:
            counts = Counter(min(v, 3) for v in values[name])
            shares.append(counts[b] / len(values[name]))
        ax.bar(names, shares, bottom=bottoms, label=f"excess {label}", color=shades[b])
        bottoms = [x + y for x, y in zip(bottoms, shares, strict=True)]
    ax.set_ylabel("share of admitted compact/local instances")
    ax.set_title("NUMA nodes used beyond the fewest that could hold the instance")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, out, "numa_excess.png")


def distance_cost(runs: Sequence[RunDigest], out: Path) -> str:
    """Distribution of the distance cost (1 = fully local) per contender."""
    plt = _pyplot()
    values: dict[str, list[float]] = {}
    for r in runs:
        values.setdefault(r.contender, []).extend(r.distance_costs)
    names = [n for n, v in values.items() if v]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.boxplot([values[n] for n in names], whis=(5, 95), showfliers=False, showmeans=True)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right")
    ax.set_ylabel("distance cost (memory SLIT / 10)")
    ax.set_title("Distance cost of compact and local instances (box 25-75%, whiskers 5-95%, ▲ mean)")
    return _save(fig, out, "distance_cost.png")


def smt(summaries: Sequence[RunSummary], out: Path) -> str:
    """Mean shared and split cores per admitted instance."""
    plt = _pyplot()
    names = [n for n in contender_names(summaries) if runs_everywhere(n)]
    shared = table(summaries, "shared_cores", lambda s: "all")["all"]
    split = table(summaries, "split_cores", lambda s: "all")["all"]
    fig, ax = plt.subplots(figsize=(9, 4))
    xs = range(len(names))
    ax.bar(
        [x - 0.2 for x in xs], [shared.get(n) or 0 for n in names], 0.4, label="shared cores", color="#c44e52"
    )
    ax.bar(
        [x + 0.2 for x in xs], [split.get(n) or 0 for n in names], 0.4, label="split cores", color="#4c72b0"
    )
    ax.set_xticks(list(xs), names, rotation=30, ha="right")
    ax.set_ylabel("per admitted instance (mean of run means)")
    ax.set_title("SMT: cores shared with another instance, cores held only in part")
    ax.legend(loc="upper right")
    return _save(fig, out, "smt.png")


def fragmentation(
    runs: Sequence[RunDigest], out: Path, topology: str, scenario: str, seed: int
) -> str | None:
    """Stranded threads, largest free-core block and whole-core capacity over time for one
    scenario (every contender)."""
    chosen = [r for r in runs if r.key == (topology, scenario, seed) and r.samples]
    if not chosen:
        return None
    plt = _pyplot()
    colours = _colours([r.contender for r in chosen])
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    panels: tuple[tuple[str, Callable[[Sample], float]], ...] = (
        ("stranded threads", lambda s: s.stranded_threads),
        ("largest free-core block in a node", lambda s: s.largest_free_cores_in_node),
        ("capacity: whole-core 4 vCPU", lambda s: s.capacity.get("core4", 0)),
    )
    for ax, (label, get) in zip(axes, panels, strict=True):
        for r in chosen:
            width = 2.2 if r.contender == PLANNER else 0.9
            xs, ys = _smoothed([s.event for s in r.samples], [float(get(s)) for s in r.samples])
            ax.plot(
                xs,
                ys,
                label=r.contender,
                color=colours[r.contender],
                linewidth=width,
            )
        ax.set_ylabel(label, fontsize=8)
    axes[-1].set_xlabel("event")
    axes[0].set_title(f"Fragmentation over time: {topology} {scenario} seed {seed}")
    axes[0].legend(fontsize=7, ncol=3, loc="upper right")
    return _save(fig, out, "fragmentation.png")


def _smoothed(xs: Sequence[float], ys: Sequence[float], points: int = 150) -> tuple[list[float], list[float]]:
    """Means over consecutive windows, so that long runs draw as readable (and small) lines."""
    if len(xs) <= points:
        return list(xs), list(ys)
    size = len(xs) / points
    out_x, out_y = [], []
    for i in range(points):
        lo, hi = int(i * size), max(int((i + 1) * size), int(i * size) + 1)
        out_x.append(sum(xs[lo:hi]) / (hi - lo))
        out_y.append(sum(ys[lo:hi]) / (hi - lo))
    return out_x, out_y


def latency_cdf(runs: Sequence[RunDigest], out: Path) -> str:
    """CDF of decision latency per contender (single requests; joint gangs separately)."""
    plt = _pyplot()
    per: dict[str, list[float]] = {}
    for r in runs:
        per.setdefault(r.contender, []).extend(max(ms, 1e-3) for ms in r.latencies_ms)
        if r.gangs:
            per.setdefault(f"{r.contender} (gang)", []).extend(g.seconds * 1000 for g in r.gangs)
    per = {name: values for name, values in per.items() if values}
    colours = _colours([n.split(" ")[0] for n in per])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, values in per.items():
        ordered = sorted(values)
        ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
        ax.step(
            ordered,
            ys,
            where="post",
            label=name,
            color=colours[name.split(" ")[0]],
            linewidth=2.2 if name.startswith(PLANNER) else 1.0,
        )
    ax.set_xscale("log")
    ax.axvline(100, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("decision latency (ms, log scale); dotted line: 100 ms")
    ax.set_ylabel("share of decisions")
    ax.set_title("Decision latency CDF")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    return _save(fig, out, "latency_cdf.png")


def profiles(summaries: Sequence[RunSummary], out: Path) -> str:
    """Dolan-Moré performance profiles over (topology, scenario, seed) problems."""
    plt = _pyplot()
    names = [n for n in contender_names(summaries) if runs_everywhere(n)]
    measures: Mapping[str, Any] = {
        "rejected CPUs + 1": lambda s: s.offered_cpus - s.admitted_cpus + 1,
        "distance cost": lambda s: s.distance_cost,
        "shared + split cores + 1": lambda s: (
            None if s.shared_cores is None or s.split_cores is None else s.shared_cores + s.split_cores + 1
        ),
        "decision latency p95 (ms)": lambda s: s.latency_p95_ms,
    }
    taus = [1 + 0.05 * i for i in range(41)]
    colours = _colours(names)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, (label, get) in zip(axes.flat, measures.items(), strict=True):
        costs: dict[str, dict[object, float]] = {n: {} for n in names}
        for s in summaries:
            if s.contender in costs:
                value = get(s)
                if value is not None and not math.isnan(value) and value > 0:
                    costs[s.contender][s.key] = float(value)
        curves = performance_profile(costs, taus)
        for name in names:
            ax.plot(
                taus,
                curves[name],
                label=name,
                color=colours[name],
                linewidth=2.2 if name == PLANNER else 1.0,
            )
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("within factor τ of the best", fontsize=8)
        ax.set_ylim(0, 1.02)
    axes.flat[0].set_ylabel("share of problems")
    axes.flat[2].set_ylabel("share of problems")
    axes.flat[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Performance profiles (Dolan-Moré)")
    return _save(fig, out, "profiles.png")


def draw_all(summaries: Sequence[RunSummary], runs: Sequence[RunDigest], out: Path) -> list[str]:
    """Every figure; returns the file names written."""
    names = [
        admission(summaries, out),
        numa_excess(runs, out),
        distance_cost(runs, out),
        smt(summaries, out),
        latency_cdf(runs, out),
        profiles(summaries, out),
    ]
    focus = _fragmentation_focus(runs)
    if focus is not None:
        name = fragmentation(runs, out, *focus)
        if name:
            names.append(name)
    return names


def _fragmentation_focus(runs: Sequence[RunDigest]) -> tuple[str, str, int] | None:
    """The churn run to draw over time: the busiest S2 (seed 0) on the first host present
    of an order that prefers mid-size 8-node hosts."""
    preferred = ("T7", "T9", "T8", "T5", "T4", "T10", "T6", "T3", "T2", "T1")
    present = {r.topology for r in runs if r.samples and r.key[1] == FOCUS_SCENARIO}
    for topo in preferred:
        if topo in present:
            return topo, FOCUS_SCENARIO, 0
    return None
