"""Why a request could not be placed, in plain words with numbers.

For each request the plan left out:

1. a reason known before solving (pinned CPUs held by someone, a device taken, more
   CPUs or memory than the whole pool has free) is reported as is;
2. otherwise the request is tried alone on the host. If it does not fit alone, the
   model is solved again with one resource relaxed at a time to find the one that runs
   out, and the reason lists that resource per NUMA node
   (``web needs 8 CPUs on one NUMA node (cpu-affinity local); free per node: 0→6, 1→4``);
3. if it fits alone, it collides with the requests that were placed: the smallest set
   of requests that cannot fit together is found with the requests' admission literals
   as CP-SAT assumptions (``sufficient_assumptions_for_infeasibility``), then shrunk by
   dropping members one at a time while the rest still cannot fit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import replace

from planner.cpsat.model import allowed_classes, build_model, memory_nodes_of
from planner.cpsat.search import Settings, is_feasible
from planner.cpsat.spec import CoreClass, Demand, ModelSpec, format_size
from planner.hardware import PAGE_SIZE
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import Unplaced

EXPLAIN_TIME_LIMIT = 5.0


def explain_unplaced(
    spec: ModelSpec,
    admitted: frozenset[int],
    unplaced: Sequence[int],
    settings: Settings,
    *,
    detailed: bool = True,
) -> tuple[list[Unplaced], list[str]]:
    """A reason for every unplaced demand, and explanation lines for the whole plan.

    All the extra solves share one budget (EXPLAIN_TIME_LIMIT, or the plan's time limit
    when smaller); what does not fit in it gets a shorter reason.
    """
    deadline = time.perf_counter() + min(settings.time_limit, EXPLAIN_TIME_LIMIT)

    def budget() -> Settings:
        return replace(settings, workers=1, time_limit=max(0.01, deadline - time.perf_counter()))

    reasons: dict[int, Unplaced] = {}
    collided: list[int] = []
    for i in unplaced:
        d = spec.demands[i]
        if d.blocked is not None:
            reason = f"{d.name}: {d.blocked}"
        elif not detailed or time.perf_counter() >= deadline:
            reason = f"{d.name} does not fit next to the instances placed"
        elif fits_alone(spec, i, budget()) is False:
            reason = resource_reason(spec, d, budget())
        else:
            collided.append(i)
            reason = f"{d.name} fits on its own, but not together with the requests placed in this plan"
        reasons[i] = Unplaced(d.name, reason)
    conflicts: list[str] = []
    for i in collided:
        if not detailed or time.perf_counter() >= deadline:
            break
        core = smallest_conflict(spec, admitted | {i}, budget())
        if core:
            name = spec.demands[i].name
            others = join_names([spec.demands[j].name for j in core if j != i])
            reasons[i] = Unplaced(name, f"{name} fits on its own, but not together with {others}")
            line = conflict_line(spec, core)
            if line not in conflicts:
                conflicts.append(line)
    ordered = [reasons[i] for i in unplaced]
    return ordered, [r.reason for r in ordered] + conflicts


def join_ids(ids: Sequence[int]) -> str:
    """``0, 1, 3``."""
    return ", ".join(str(i) for i in ids)


def join_names(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# --- sub-models ------------------------------------------------------------------------------


def subset(spec: ModelSpec, indices: Iterable[int]) -> ModelSpec:
    """The spec restricted to some demands (plus every movable one), re-indexed."""
    keep = sorted(set(indices) | {d.index for d in spec.demands if d.movable})
    new_index = {old: new for new, old in enumerate(keep)}
    demands = tuple(
        replace(
            spec.demands[old],
            index=new_index[old],
            symmetric_to=_renumbered(spec.demands[old].symmetric_to, new_index),
        )
        for old in keep
    )
    classes = tuple(
        replace(
            k,
            former=tuple((new_index[d], h) for d, h in k.former if d in new_index),
            # cores pinned by demands left out of the subset are free for the rest
            pinned_by=tuple(new_index[d] for d in k.pinned_by if d in new_index),
        )
        for k in spec.classes
    )
    return replace(spec, demands=demands, classes=classes)


def _renumbered(index: int | None, new_index: dict[int, int]) -> int | None:
    return None if index is None else new_index.get(index)


def _relax_cpus(spec: ModelSpec) -> ModelSpec:
    """Every core group gets as many empty cores as any demand could use."""
    most = max((d.size for d in spec.demands), default=1)
    threads = max((k.threads for k in spec.classes), default=1)
    classes = tuple(
        CoreClass(i, g.rank, g.node, g.socket, tuple(range(most)), threads, threads, False)
        for i, g in enumerate(spec.layout.groups)
    )
    return replace(spec, classes=classes)


def _relax_memory(spec: ModelSpec) -> ModelSpec:
    most = max((d.pages for d in spec.demands), default=0)
    nodes = set(spec.memory_free) | set(spec.layout.cpu_nodes)
    return replace(spec, memory_free=dict.fromkeys(nodes, most * max(1, len(spec.demands))))


def _feasible(
    spec: ModelSpec, must: Iterable[int], settings: Settings, relax: Iterable[str] = ()
) -> bool | None:
    model, v = build_model(spec, relax=relax)
    for i in must:
        model.add(v.admit[i] == 1)
    return is_feasible(model, settings)


def fits_alone(spec: ModelSpec, index: int, settings: Settings) -> bool | None:
    """Whether the demand fits on the host by itself (None: undecided in time)."""
    alone = subset(spec, [index])
    position = next(d.index for d in alone.demands if d.name == spec.demands[index].name)
    return _feasible(alone, [position], settings)


# --- per-resource reasons ----------------------------------------------------------------------


def resource_reason(spec: ModelSpec, d: Demand, settings: Settings) -> str:
    """The resource(s) that keep ``d`` out even on its own, with numbers per node."""
    alone = subset(spec, [d.index])
    position = next(x.index for x in alone.demands if x.name == d.name)
    local = alone.demands[position]
    cpus_ok = _feasible(_relax_memory(alone), [position], settings, relax=("devices",))
    memory_ok = _feasible(_relax_cpus(alone), [position], settings, relax=("devices",))
    parts = []
    if cpus_ok is False:
        parts.append(cpu_reason(alone, local))
    if memory_ok is False:
        parts.append(memory_reason(alone, local))
    if not parts:
        parts.append(joint_reason(alone, local))
    return "; and ".join(parts)


def free_cpus(spec: ModelSpec, d: Demand, node: int) -> int:
    """Free CPUs of ``node`` that ``d``'s rules let it take (exclusive cores: none of
    a core another instance holds part of)."""
    return sum(k.count * k.free for k in allowed_classes(spec, d) if k.node == node)


def _per_node(values: dict[int, str]) -> str:
    return ", ".join(f"{n}→{value}" for n, value in sorted(values.items()))


def cpu_reason(spec: ModelSpec, d: Demand) -> str:
    """``web needs 8 CPUs on one NUMA node (cpu-affinity local); free per node: ...``"""
    nodes = [n for n in spec.layout.cpu_nodes if d.intent.cpu_nodes is None or n in d.intent.cpu_nodes]
    free = {n: str(free_cpus(spec, d, n)) for n in nodes}
    rules = []
    if d.intent.affinity is CpuAffinity.LOCAL:
        rules.append("cpu-affinity local")
    if d.exclusive:
        rules.append("exclusive-cores")
    where = ""
    if d.intent.affinity is CpuAffinity.LOCAL:
        where = " on one NUMA node"
    if d.intent.cpu_nodes is not None:
        listed = sorted(d.intent.cpu_nodes)
        where = f" on NUMA node {listed[0]}"
        if len(listed) > 1:
            where = f" on one of NUMA nodes {join_ids(listed)}"
        rules.append(f"memory-policy {d.intent.policy}")
    label = "free per node" if not d.exclusive else "free on unshared cores per node"
    if d.intent.cpu_nodes is not None:
        label = label.replace("per node", "there")
    why = f" ({', '.join(rules)})" if rules else ""
    return f"{d.name} needs {d.size} CPUs{where}{why}; {label}: {_per_node(free)}"


def memory_reason(spec: ModelSpec, d: Demand) -> str:
    """What the memory policy asks for, against free pool memory per node."""
    nodes = memory_nodes_of(spec, d)
    free = {n: format_size(spec.memory_free.get(n, 0) * PAGE_SIZE) for n in nodes}
    total = format_size(d.pages * PAGE_SIZE)
    policy = d.intent.policy
    if policy is MemoryPolicy.BIND:
        listed = ", ".join(str(n) for n in nodes)
        return (
            f"{d.name} needs {total} of memory on NUMA nodes {listed} (memory-policy bind); "
            f"free there: {_per_node(free)}"
        )
    if policy is MemoryPolicy.INTERLEAVE and d.intent.memory_nodes is not None:
        share = format_size(-(-d.pages // len(nodes)) * PAGE_SIZE)
        return (
            f"{d.name} needs {share} of memory on each of NUMA nodes {', '.join(str(n) for n in nodes)} "
            f"(memory-policy interleave); free there: {_per_node(free)}"
        )
    rule = "cpu-affinity local" if d.intent.affinity is CpuAffinity.LOCAL else f"memory-policy {policy}"
    return (
        f"{d.name} needs {total} of memory on the NUMA nodes of its CPUs ({rule}); "
        f"free memory per node: {_per_node(free)}"
    )


def joint_reason(spec: ModelSpec, d: Demand) -> str:
    """CPUs and memory each suffice somewhere, but not on the same nodes."""
    both = {
        n: f"{free_cpus(spec, d, n)} CPUs/{format_size(spec.memory_free.get(n, 0) * PAGE_SIZE)}"
        for n in spec.layout.cpu_nodes
    }
    rule = f"cpu-affinity {d.intent.affinity}, memory-policy {d.intent.policy}"
    return (
        f"{d.name} needs {d.size} CPUs and {format_size(d.pages * PAGE_SIZE)} of memory on the same "
        f"NUMA nodes ({rule}); no node set has both; free per node: {_per_node(both)}"
    )


# --- batch conflicts ---------------------------------------------------------------------------


def smallest_conflict(spec: ModelSpec, candidates: Iterable[int], settings: Settings) -> list[int]:
    """A minimal set of demands that cannot all be placed together ([] if undecided)."""
    from ortools.sat.python import cp_model

    chosen = sorted(candidates)
    sub = subset(spec, chosen)
    # without the symmetry breaking of identical demands (the earlier one admitted
    # first): under it, assuming the fourth copy admitted assumes the first three too,
    # and a "conflict" of two requests would hide the copies it drags along
    sub = replace(sub, demands=tuple(replace(d, symmetric_to=None) for d in sub.demands))
    position = {d.name: d.index for d in sub.demands}
    model, v = build_model(sub)
    literal = {spec.demands[i].name: v.admit[position[spec.demands[i].name]] for i in chosen}
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = settings.seed
    solver.parameters.max_time_in_seconds = settings.time_limit

    def infeasible(names: list[str]) -> bool:
        model.clear_assumptions()
        model.add_assumptions([literal[n] for n in names])
        return solver.solve(model) == cp_model.INFEASIBLE

    names = [spec.demands[i].name for i in chosen]
    if not infeasible(names):
        return []
    core_indices = set(solver.sufficient_assumptions_for_infeasibility())
    core = [n for n in names if literal[n].index in core_indices] or names
    for name in list(core):
        trial = [n for n in core if n != name]
        if trial and infeasible(trial):
            core = trial
    by_name = {spec.demands[i].name: i for i in chosen}
    return [by_name[n] for n in core]


def conflict_line(spec: ModelSpec, core: Sequence[int]) -> str:
    """``a, b and c cannot all be placed together: ...`` with totals."""
    demands = [spec.demands[i] for i in core]
    who = join_names([d.name for d in demands])
    together = "cannot be placed together" if len(demands) == 2 else "cannot all be placed together"
    cpus = sum(d.size for d in demands)
    memory = sum(d.pages for d in demands) * PAGE_SIZE
    free_cpus = sum(k.count * k.free for k in spec.classes) + sum(d.size for d in demands if d.pinned)
    free_memory = sum(spec.memory_free.values()) * PAGE_SIZE
    totals = (
        f"together they need {cpus} CPUs and {format_size(memory)}; "
        f"{free_cpus} CPUs and {format_size(free_memory)} are free"
    )
    if cpus <= free_cpus and memory <= free_memory:
        totals += ", so it is their policies (NUMA nodes, cores, devices, pinned CPUs) that collide"
    return f"{who} {together}: {totals}"
