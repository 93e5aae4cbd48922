"""Solving the model tier by tier, and reading the answer.

The tiers are lexicographic. Consecutive tiers are solved together as one weighted
objective when their value ranges multiply to at most a limit (each tier's weight is
the product of the ranges below it, so no amount of a lower tier outweighs one unit of
a higher one). Measured: one request solves fastest with all its tiers in one weighted
objective (limit 2^48); a batch fastest one tier at a time (limit 1), because a
weighted sum of several tiers over many requests is much harder to prove. Each group is solved
with the previous optimum fixed as a constraint and the previous solution as a complete
hint. Constant tiers are skipped, and so is every group whose tiers the solution in hand
already holds at their lower bounds (never below 0, the expression's smallest value, or
the tier's *floor*: what the admitted demands cost at least, such as one socket and the
fewest core groups that could hold each compact request for `span`): that solution is
optimal for the group, so its values are fixed without a solve (each solve pays a
presolve of the whole model; on the 24-request benchmark gangs this drops
`unplaced_cpus` whenever everything fits, zero-valued tiers such as `numa`, and, after
polishing, `span` on most gangs). For
batches the tie-break tier is solved last, on its own, with a bounded share of the time:
it orders equally good plans and has no quality meaning, so not proving it leaves the
plan optimal.

Polishing (batches): the tiers before `span` (admission, preference, NUMA nodes,
balance, devices, distance) depend only on what each demand gets per NUMA node, so the
solution they leave has arbitrary core groups and cores inside each node. Before the
`span`, `smt` and `fragmentation` solves, a copy of the model with those per-node
amounts fixed is solved briefly for the same objective; its answer (feasible for the
real model, and at least as good as the solution in hand) is the next hint. Measured on
the 24-request benchmark gangs: the real `span` solve then only has to prove a bound it
reaches at the root (gang 1: 1.8 s -> 0.1 s), because that copy finds the optimum itself.

Status handling: a group solved to OPTIMAL is fixed and the search moves on; a group
stopped by the time limit with a solution (FEASIBLE) ends the search with that
solution and its bound; UNKNOWN before any solution leaves the empty plan (nothing
admitted, which is feasible unless rebalance forces existing instances in); INFEASIBLE
is returned for the caller to explain; MODEL_INVALID is a bug.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from planner.cpsat.model import Vars
from planner.cpsat.tiers import Tier
from planner.errors import PlanInvalidError

SINGLE_GROUP_LIMIT = 1 << 48
GROUP_RANGE_LIMIT = 1


@dataclass(frozen=True)
class Settings:
    """Solver settings. One worker and a fixed seed make runs repeatable."""

    time_limit: float = 10.0
    workers: int = 1
    seed: int = 7
    deterministic_time: float | None = None
    tiebreak_share: float = 0.05
    log: bool = False


@dataclass(frozen=True)
class Solution:
    """The decision variables' values that ``realize`` needs (non-zero entries only)."""

    admitted: frozenset[int]
    pieces: Mapping[tuple[int, int, int], int]
    mem: Mapping[tuple[int, int], int]


@dataclass(frozen=True)
class Outcome:
    """What the search found.

    ``proven``: every tier but the tie-break is proven optimal; ``tiebreak_proven``: the
    tie-break too. ``values``: the tiers' values in the final solution (model expressions; equal to
    the documented objective for every tier that was optimised to the end);
    ``lower``: a proven lower bound of every tier (equal to the value for tiers proven
    optimal); ``stopped_at``: the tier whose group hit the time limit, if any.
    """

    solution: Solution
    proven: bool
    tiebreak_proven: bool
    found: bool
    values: tuple[int, ...]
    lower: tuple[int, ...]
    stopped_at: str | None
    infeasible: bool
    seconds: float
    solves: int
    branches: int
    variables: int
    constraints: int


def group_tiers(tiers: Sequence[Tier], limit: int = GROUP_RANGE_LIMIT) -> list[list[Tier]]:
    """Consecutive non-constant tiers whose ranges multiply to at most ``limit``."""
    groups: list[list[Tier]] = []
    product = 0
    for tier in tiers:
        width = tier.upper - tier.lower + 1
        if width <= 1:
            continue
        if groups and product * width <= limit:
            groups[-1].append(tier)
            product *= width
        else:
            groups.append([tier])
            product = width
    return groups


def _weights(group: Sequence[Tier]) -> list[int]:
    weights, weight = [], 1
    for tier in reversed(group):
        weights.append(weight)
        weight *= tier.upper - tier.lower + 1
    return list(reversed(weights))


def solve(
    model: cp_model.CpModel,
    v: Vars,
    tiers: Sequence[Tier],
    settings: Settings,
    *,
    group_limit: int = GROUP_RANGE_LIMIT,
    separate_tiebreak: bool = True,
    frozen: Sequence[cp_model.IntVar] = (),
) -> Outcome:
    """Optimise ``tiers`` lexicographically on ``model``.

    The last tier is the tie-break: with ``separate_tiebreak`` it is solved on its own
    with a bounded share of the time (Settings.tiebreak_share), and not proving it does
    not make the plan less than optimal (``Outcome.tiebreak_proven`` says whether it was).
    ``frozen``: the per-node variables held fixed while polishing (see the module
    docstring); empty turns polishing off.
    """
    start = time.perf_counter()
    solver = cp_model.CpSolver()
    _configure(solver, settings)
    params = solver.parameters
    n_vars = len(model.proto.variables)
    n_constraints = len(model.proto.constraints)
    _hint(model, [0] * n_vars)  # the empty plan is always feasible

    quality, tiebreak = list(tiers[:-1]), tiers[-1]
    groups = group_tiers(quality, group_limit) if separate_tiebreak else group_tiers(tiers, group_limit)
    if separate_tiebreak and tiebreak.upper > tiebreak.lower:
        groups.append([tiebreak])
    values: list[int] | None = None
    lower = {t.name: max(0, t.lower) for t in tiers}  # every tier counts something: never below 0
    proven, tiebreak_proven, infeasible = True, True, False
    stopped_at: str | None = None
    solves, branches, det_used = 0, 0, 0.0
    for group in groups:
        only_tiebreak = separate_tiebreak and group == [tiebreak]
        if values is not None and _at_floor(model, group, values, v, lower):
            continue
        weights = _weights(group)
        objective = sum(w * t.expr() for w, t in zip(weights, group, strict=True))
        if frozen and values is not None and any(t.name in POLISHED for t in group):
            polished, spent = _polish(model, frozen, objective, values, settings, start, det_used)
            det_used += spent
            if polished is not None:
                values = polished
                _hint(model, values)
                if _at_floor(model, group, values, v, lower):
                    continue
        remaining = settings.time_limit - (time.perf_counter() - start)
        det_left = None if settings.deterministic_time is None else settings.deterministic_time - det_used
        if only_tiebreak:
            remaining = min(remaining, max(0.2, settings.tiebreak_share * settings.time_limit))
            if det_left is not None and settings.deterministic_time is not None:
                det_left = min(det_left, settings.tiebreak_share * settings.deterministic_time)
        if remaining <= 0 or (det_left is not None and det_left <= 0):
            stopped_at = group[0].name
            tiebreak_proven = False
            proven = proven and only_tiebreak
            break
        model.minimize(objective)
        params.max_time_in_seconds = remaining
        if det_left is not None:
            params.max_deterministic_time = det_left
        status = _solve(solver, model)
        solves += 1
        branches += solver.num_branches
        det_used += solver.deterministic_time
        if status == cp_model.MODEL_INVALID:
            raise PlanInvalidError(f"the placement model is invalid: {model.validate()}")
        if status == cp_model.INFEASIBLE:
            # only possible when demands must be admitted (rebalance); the caller decides
            infeasible, proven, tiebreak_proven = True, False, False
            break
        if status != cp_model.UNKNOWN:
            values = list(solver.response_proto.solution)
            _hint(model, values)
        if status == cp_model.OPTIMAL:
            for tier in group:
                lower[tier.name] = tier.value(solver)
            model.add(objective <= round(solver.objective_value))
            continue
        stopped_at = group[0].name
        tiebreak_proven = False
        proven = proven and only_tiebreak
        if status == cp_model.FEASIBLE:
            lower[group[0].name] = _first_tier_bound(group, weights, int(solver.best_objective_bound))
        break

    solution = _read(v, values) if values is not None else Solution(frozenset(), {}, {})
    tier_values = tuple(_value(t, values) if values is not None else _value_empty(t) for t in tiers)
    return Outcome(
        solution=solution,
        proven=proven,
        tiebreak_proven=tiebreak_proven,
        found=values is not None,
        values=tier_values,
        lower=tuple(min(lower[t.name], value) for t, value in zip(tiers, tier_values, strict=True)),
        stopped_at=stopped_at,
        infeasible=infeasible,
        seconds=time.perf_counter() - start,
        solves=solves,
        branches=branches,
        variables=n_vars,
        constraints=n_constraints,
    )


def _at_floor(
    model: cp_model.CpModel, group: Sequence[Tier], values: Sequence[int], v: Vars, lower: dict[str, int]
) -> bool:
    """When the solution in hand holds every tier of ``group`` at a lower bound (its
    domain's, or the floor of the demands it admits), it is optimal for the group: fix
    the group without a solve (see the module docstring) and say so."""
    admitted = sum(values[var.index] for var in v.admit.values())
    bounds = [max(lower[t.name], t.floor(admitted)) for t in group]
    if any(_value(t, values) > bound for t, bound in zip(group, bounds, strict=True)):
        return False
    for tier in group:
        lower[tier.name] = _value(tier, values)
        model.add(tier.expr() <= lower[tier.name])
    return True


POLISHED = frozenset({"span", "smt", "fragmentation"})
POLISH_DETERMINISTIC_TIME = 0.2


def _polish(
    model: cp_model.CpModel,
    frozen: Sequence[cp_model.IntVar],
    objective: cp_model.LinearExprT,
    values: Sequence[int],
    settings: Settings,
    start: float,
    det_used: float,
) -> tuple[list[int] | None, float]:
    """A better start for a tier that looks inside the NUMA nodes (see the module
    docstring): the same objective and model with the ``frozen`` variables (admission,
    CPUs and pages per node) held at their values in the solution in hand. Returns the
    solution found (None: none better) and the deterministic time spent.

    Limited in CP-SAT's deterministic time, so that it returns the same start on any
    machine; a quarter of the wall time left is only a safety net.
    """
    budget = POLISH_DETERMINISTIC_TIME
    if settings.deterministic_time is not None:
        budget = min(budget, (settings.deterministic_time - det_used) / 4)
    wall = (settings.time_limit - (time.perf_counter() - start)) / 4
    if budget <= 0 or wall <= 0:
        return None, 0.0
    trial = model.clone()
    for var in frozen:
        trial.add(var == values[var.index])
    trial.minimize(objective)
    solver = cp_model.CpSolver()
    _configure(solver, settings)
    solver.parameters.max_deterministic_time = budget
    solver.parameters.max_time_in_seconds = wall
    status = _solve(solver, trial)
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return (list(solver.response_proto.solution) if found else None), solver.deterministic_time


def _solve(solver: cp_model.CpSolver, model: cp_model.CpModel) -> cp_model.CpSolverStatus:
    """Solve; if CP-SAT fails internally, solve again without the hint.

    OR-Tools 9.15 raises ``IndexError: absl::btree_map::at`` from some models that carry
    a complete hint while its symmetry detection is on (found by the property tests;
    without the hint, or with symmetry_level 0, the same model solves). The hint only
    speeds the search up, so dropping it for that one solve changes nothing else.
    """
    try:
        return solver.solve(model)
    except IndexError:
        model.clear_hints()  # type: ignore[no-untyped-call]  # ortools leaves it unannotated
        return solver.solve(model)


def _configure(solver: cp_model.CpSolver, settings: Settings) -> None:
    """The parameters every solve of the search shares."""
    params = solver.parameters
    params.num_workers = settings.workers
    params.random_seed = settings.seed
    params.log_search_progress = settings.log
    # measured: with one worker, level 2 closes bounds the default leaves open on batches
    params.linearization_level = 2
    # measured: presolve runs before every tier; without its probing pass a 24-request
    # batch solves in 12-23% less CPU (benchmarks/results/planner_targets.md)
    params.cp_model_probing_level = 0
    # Not set, though measured faster on batches: keep_symmetry_in_presolve together with
    # use_symmetry_in_lp made OR-Tools 9.15 prove a wrong optimum (the device tier at 1
    # where 0 is reachable, tests/planner/test_solver_soundness.py). A fast wrong proof
    # is worse than a slow right one.


def _first_tier_bound(group: Sequence[Tier], weights: Sequence[int], bound: int) -> int:
    """A lower bound of the group's first tier from a bound of Σ weight·tier: subtract
    the most the lower tiers could add."""
    first = group[0]
    rest = sum(w * (t.upper - t.lower) for w, t in zip(weights[1:], group[1:], strict=True))
    offset = sum(w * t.lower for w, t in zip(weights, group, strict=True))
    return max(0, first.lower, -(-(bound - offset - rest) // weights[0]) + first.lower)


def _hint(model: cp_model.CpModel, values: Sequence[int]) -> None:
    model.clear_hints()  # type: ignore[no-untyped-call]  # ortools leaves it unannotated
    hint = model.proto.solution_hint
    hint.vars.extend(range(len(values)))
    hint.values.extend(values)


def _value(tier: Tier, values: Sequence[int]) -> int:
    return tier.constant + sum(c * values[var.index] for c, var, _, _ in tier.terms)


def _value_empty(tier: Tier) -> int:
    """A tier's value in the empty plan (every variable 0)."""
    return tier.constant


def _read(v: Vars, values: Sequence[int]) -> Solution:
    admitted = frozenset(d for d, var in v.admit.items() if values[var.index])
    pieces = {key: values[var.index] for key, var in v.pieces.items() if values[var.index]}
    mem = {key: values[var.index] for key, var in v.mem.items() if values[var.index]}
    return Solution(admitted, pieces, mem)


def is_feasible(model: cp_model.CpModel, settings: Settings) -> bool | None:
    """True/False when the solver decides whether ``model`` (no objective) has a
    solution; None when the time limit runs out first."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = settings.workers
    solver.parameters.random_seed = settings.seed
    solver.parameters.max_time_in_seconds = settings.time_limit
    model.clear_objective()  # type: ignore[no-untyped-call]  # ortools leaves it unannotated
    status = solver.solve(model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return True
    if status == cp_model.INFEASIBLE:
        return False
    return None
