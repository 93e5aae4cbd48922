"""Solving the model tier by tier, and reading the answer.

The tiers are lexicographic. Consecutive tiers are solved together as one weighted
objective when their value ranges multiply to less than 2^48 (each tier's weight is
the product of the ranges below it, so no amount of a lower tier outweighs one unit
of a higher one); the next group is solved with the previous optimum fixed as a
constraint and the previous solution as a complete hint. Constant tiers are skipped.

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

GROUP_RANGE_LIMIT = 1 << 20


@dataclass(frozen=True)
class Settings:
    """Solver settings. One worker and a fixed seed make runs repeatable."""

    time_limit: float = 10.0
    workers: int = 1
    seed: int = 7
    deterministic_time: float | None = None
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

    ``values``: the tiers' values in the final solution (model expressions; equal to
    the documented objective for every tier that was optimised to the end);
    ``lower``: a proven lower bound of every tier (equal to the value for tiers proven
    optimal); ``stopped_at``: the tier whose group hit the time limit, if any.
    """

    solution: Solution
    proven: bool
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


def group_tiers(tiers: Sequence[Tier]) -> list[list[Tier]]:
    """Consecutive non-constant tiers whose ranges multiply to at most the limit."""
    groups: list[list[Tier]] = []
    product = 0
    for tier in tiers:
        width = tier.upper - tier.lower + 1
        if width <= 1:
            continue
        if groups and product * width <= GROUP_RANGE_LIMIT:
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


def solve(model: cp_model.CpModel, v: Vars, tiers: Sequence[Tier], settings: Settings) -> Outcome:
    """Optimise ``tiers`` lexicographically on ``model``."""
    start = time.perf_counter()
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = settings.workers
    params.random_seed = settings.seed
    params.log_search_progress = settings.log
    params.linearization_level = 2
    n_vars = len(model.proto.variables)
    n_constraints = len(model.proto.constraints)
    _hint(model, [0] * n_vars)  # the empty plan is always feasible

    values: list[int] | None = None
    lower = {t.name: max(0, t.lower) for t in tiers}  # every tier counts something: never below 0
    proven, stopped_at, solves, branches, det_used = True, None, 0, 0, 0.0
    infeasible = False
    for group in group_tiers(tiers):
        remaining = settings.time_limit - (time.perf_counter() - start)
        if remaining <= 0 or (
            settings.deterministic_time is not None and settings.deterministic_time - det_used <= 0
        ):
            proven, stopped_at = False, group[0].name
            break
        weights = _weights(group)
        objective = sum(w * t.expr() for w, t in zip(weights, group, strict=True))
        model.minimize(objective)
        params.max_time_in_seconds = remaining
        if settings.deterministic_time is not None:
            params.max_deterministic_time = settings.deterministic_time - det_used
        status = solver.solve(model)
        solves += 1
        branches += solver.num_branches
        det_used += solver.deterministic_time
        if status == cp_model.MODEL_INVALID:
            raise PlanInvalidError(f"the placement model is invalid: {model.validate()}")
        if status == cp_model.INFEASIBLE:
            # only possible when demands must be admitted (rebalance); the caller decides
            infeasible, proven = True, False
            break
        if status == cp_model.UNKNOWN:
            proven, stopped_at = False, group[0].name
            break
        values = list(solver.response_proto.solution)
        _hint(model, values)
        if status == cp_model.OPTIMAL:
            for tier in group:
                lower[tier.name] = tier.value(solver)
            model.add(objective <= round(solver.objective_value))
            continue
        proven, stopped_at = False, group[0].name
        first = group[0]
        rest = sum(w * (t.upper - t.lower) for w, t in zip(weights[1:], group[1:], strict=True))
        bound = int(solver.best_objective_bound)
        # objective = Σ w·tier; subtracting what the lower tiers could add bounds the first
        offset = sum(w * t.lower for w, t in zip(weights, group, strict=True))
        lower[first.name] = max(0, first.lower, -(-(bound - offset - rest) // weights[0]) + first.lower)
        break

    solution = _read(v, values) if values is not None else Solution(frozenset(), {}, {})
    tier_values = tuple(_value(t, values) if values is not None else _value_empty(t) for t in tiers)
    return Outcome(
        solution=solution,
        proven=proven,
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
