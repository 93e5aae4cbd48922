"""The planner's entry points.

``plan(host, existing, requests, options) -> Plan`` places new instances next to the
existing ones; ``replan(host, existing, name, request, options) -> Plan`` gives the
existing instance ``name`` a new shape, moving as little of it as possible.

Steps: resolve the requests against the host (bad input raises RequestError), build
the core-class model (planner.cpsat), optimise the objective tiers lexicographically
(planner.objective documents them), turn the counts into concrete CPUs, memory
regions and devices, score the result with the plain-Python objective (and check that
the solver agrees with it), and explain whatever could not be placed.

The planner does no I/O: with ``dump_model`` the model's text comes back in
``Plan.model_text`` for the caller to write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from planner.errors import PlanInvalidError, RequestError
from planner.hardware import Host, Instance
from planner.objective import TIERS, evaluate, moves, scalar, tier_bounds
from planner.policy import CoreSharing
from planner.request import InstanceRequest, Plan, PlanStatus, Unplaced

if TYPE_CHECKING:
    from planner.cpsat.search import Outcome, Settings
    from planner.cpsat.spec import ModelSpec

DEFAULT_TIME_LIMIT = 10.0


@dataclass(frozen=True)
class PlanOptions:
    """How to plan.

    ``time_limit``: wall seconds for the whole optimisation (the plan is FEASIBLE with
    its gap when it runs out); ``workers``/``seed``: CP-SAT search workers and random
    seed (one worker and a fixed seed give the same plan for the same input);
    ``deterministic_time``: an additional limit in CP-SAT's deterministic time units,
    which keeps limited runs repeatable; ``rebalance``: existing instances may move (the
    plan then minimises moved CPUs and pages right after admission); ``dump_model``:
    return the model as text; ``explain``: explain unplaced requests (extra solves);
    ``core_sharing``: isolation first (avoid, the default) or whole cores kept free
    (pack), see :class:`planner.policy.CoreSharing` and docs/planner.md.
    """

    time_limit: float = DEFAULT_TIME_LIMIT
    workers: int = 1
    seed: int = 7
    deterministic_time: float | None = None
    rebalance: bool = False
    dump_model: bool = False
    explain: bool = True
    core_sharing: CoreSharing = CoreSharing.AVOID


def plan(
    host: Host,
    existing: Iterable[Instance],
    requests: Iterable[InstanceRequest],
    options: PlanOptions | None = None,
) -> Plan:
    """Place ``requests`` on ``host`` next to the ``existing`` instances."""
    options = options or PlanOptions()
    fixed, movable = _split_existing(list(existing), options)
    return _plan(host, fixed, movable, list(requests), {}, options)


def _split_existing(existing: list[Instance], options: PlanOptions) -> tuple[list[Instance], list[Instance]]:
    """(fixed, movable): with rebalance every instance that holds CPUs may move; one
    without CPUs is no CPU demand, so it stays where it is."""
    if not options.rebalance:
        return existing, []
    return [i for i in existing if not i.cpus], [i for i in existing if i.cpus]


def replan(
    host: Host,
    existing: Iterable[Instance],
    name: str,
    request: InstanceRequest,
    options: PlanOptions | None = None,
) -> Plan:
    """Give the existing instance ``name`` the new shape ``request``, moving as little
    as possible.

    ``existing`` includes the instance as it is now; ``request`` (named ``name``) is
    its whole new shape: CPU count or pinned CPUs, memory, policies, devices,
    exclusivity. The other instances stay where they are (with ``options.rebalance``
    they may move too). Right after admission the plan minimises what the instance
    moves (docs/planner.md, "Update"): its boot CPU, then CPUs, pages and device units
    it gives up beyond what a smaller shape releases; then the usual quality tiers.
    ``Plan.placements`` holds the updated instance (empty when the new shape does not
    fit: the instance then stays as it is and ``Plan.unplaced`` says why);
    ``metrics["moves"]`` details what it keeps, releases and gains.
    """
    options = options or PlanOptions()
    existing = list(existing)
    matches = [inst for inst in existing if inst.name == name]
    if not matches:
        known = ", ".join(sorted(inst.name for inst in existing)) or "none"
        raise RequestError(f"there is no instance {name} to update", hint=f"existing instances: {known}")
    if len(matches) > 1:
        raise RequestError(f"{len(matches)} existing instances are named {name}", hint="names must be unique")
    current = matches[0]
    if request.name != name:
        raise RequestError(
            f"the new shape of {name} is named {request.name}",
            hint="an update keeps the instance's name; give the request the same name",
        )
    if request.id is None:
        request = replace(request, id=current.id)
    elif current.id is not None and request.id != current.id:
        raise RequestError(
            f"instance {name} has id {current.id}; an update cannot change it to {request.id}",
            hint="leave the id out of the new shape",
        )
    fixed, movable = _split_existing([inst for inst in existing if inst.name != name], options)
    return _plan(host, fixed, movable, [request], {name: current}, options)


def _plan(
    host: Host,
    fixed: list[Instance],
    movable: list[Instance],
    requests: list[InstanceRequest],
    previous: Mapping[str, Instance],
    options: PlanOptions,
) -> Plan:
    """Solve, check the solver against the plain objective, explain, and report."""
    settings = settings_of(options)
    solved = solve_requests(
        host,
        fixed,
        requests,
        settings=settings,
        movable=movable,
        previous=previous,
        dump_model=options.dump_model,
        core_sharing=options.core_sharing,
    )
    spec, outcome, placed = solved.spec, solved.outcome, solved.placed

    all_requests = [d.intent.request for d in spec.demands]
    by_name = {spec.demands[i].name: inst for i, inst in placed.items()}
    before = {d.name: d.previous for d in spec.demands if d.previous is not None}
    score = evaluate(host, fixed, all_requests, by_name, previous=before, core_sharing=options.core_sharing)
    checked = len(TIERS) if outcome.tiebreak_proven else len(TIERS) - 1
    if outcome.proven and score.values[:checked] != outcome.values[:checked]:
        diff = {
            name: (model_value, true_value)
            for name, model_value, true_value in zip(TIERS, outcome.values, score.values, strict=True)
            if model_value != true_value
        }
        raise PlanInvalidError(f"the solver's objective disagrees with the documented one: {diff}")

    bounds = tier_bounds(host, all_requests, previous=before.values())
    lower = tuple(min(a, b) for a, b in zip(outcome.lower, score.values, strict=True))
    if outcome.proven:
        lower = score.values[:-1] + lower[-1:]
    unplaced_idx = [d.index for d in spec.demands if d.index not in placed and not d.movable]
    unplaced, explanation = _explain(spec, placed, unplaced_idx, outcome, settings, options.explain)
    new_names = {r.name for r in requests}
    changes = {name: moves(host, old, by_name[name]) for name, old in before.items() if name in by_name}
    return Plan(
        status=_status(outcome.proven, bool(unplaced_idx)),
        placements=tuple(inst for inst in by_name.values() if inst.name in new_names),
        unplaced=tuple(unplaced),
        existing=tuple(fixed) + tuple(by_name[i.name] for i in movable),
        # the tie-break only orders equally good plans: objective and bound leave it out
        objective=float(scalar(score.values[:-1], bounds[:-1])),
        bound=float(scalar(lower[:-1], bounds[:-1])),
        solve_seconds=outcome.seconds,
        metrics={
            "tiers": score.named(),
            "proven_bounds": dict(zip(TIERS, lower, strict=True)),
            "tiebreak_proven": outcome.tiebreak_proven,
            "core_sharing": str(options.core_sharing),
            "moved": [name for name, change in changes.items() if change.anything_moved],
            "moves": {name: change.as_dict() for name, change in changes.items() if change.anything_changed},
            **_quality(host, [*fixed, *by_name.values()], fixed, by_name, all_requests),
            "model": {
                "variables": outcome.variables,
                "constraints": outcome.constraints,
                "core_classes": len(spec.classes),
                "solves": outcome.solves,
                "branches": outcome.branches,
                "stopped_at_tier": outcome.stopped_at,
            },
        },
        explanation=tuple(explanation),
        model_text=solved.model_text,
    )


def _quality(
    host: Host,
    after: Sequence[Instance],
    fixed: Sequence[Instance],
    placed: dict[str, Instance],
    requests: Sequence[InstanceRequest],
) -> dict[str, object]:
    """planner.metrics' figures: per placed instance, and for the host after the plan."""
    from planner.metrics import host_metrics, instance_metrics

    wanted = {r.name: r for r in requests}
    return {
        "instances": {
            name: instance_metrics(host, fixed, inst, wanted.get(name)).as_dict()
            for name, inst in placed.items()
        },
        "host": host_metrics(host, after).as_dict(),
    }


def settings_of(options: PlanOptions) -> Settings:
    """The search settings for plan options (RequestError for impossible ones)."""
    from planner.cpsat.search import Settings

    if options.time_limit <= 0 or options.workers < 1:
        raise RequestError(
            f"the time limit must be positive and at least one worker is needed "
            f"(got {options.time_limit:g} s, {options.workers} workers)"
        )
    return Settings(
        time_limit=options.time_limit,
        workers=options.workers,
        seed=options.seed,
        deterministic_time=options.deterministic_time,
    )


@dataclass(frozen=True)
class Solved:
    """The model's input, the search's outcome and the placed instances (by demand)."""

    spec: ModelSpec
    outcome: Outcome
    placed: dict[int, Instance]
    model_text: str | None


def solve_requests(
    host: Host,
    fixed: Sequence[Instance],
    requests: Sequence[InstanceRequest],
    *,
    settings: Settings,
    movable: Sequence[Instance] = (),
    previous: Mapping[str, Instance] | None = None,
    admission_only: bool = False,
    dump_model: bool = False,
    core_sharing: CoreSharing = CoreSharing.AVOID,
) -> Solved:
    """Build, solve and realize the model for ``requests`` next to ``fixed`` (and, with
    rebalance, the ``movable`` instances). ``previous``: the current placement of the
    instances that requests re-place (updates). ``admission_only`` optimises only how
    many requests are admitted (what-if capacity)."""
    from planner.cpsat import search
    from planner.cpsat.model import build_model
    from planner.cpsat.realize import realize
    from planner.cpsat.spec import build_spec
    from planner.cpsat.tiers import build_tiers
    from planner.topology import Topology

    layout = Topology.of(host).layout()
    spec = build_spec(
        host,
        layout,
        fixed,
        requests,
        movable=movable,
        previous=previous,
        admission_only=admission_only,
        core_sharing=core_sharing,
    )
    model, variables = build_model(spec)
    tiers = build_tiers(model, spec, variables)
    model_text = str(model.proto) if dump_model else None
    batch = sum(1 for d in spec.demands if d.blocked is None) > 1
    per_node = [*variables.admit.values(), *variables.cpus.values(), *variables.mem.values()]
    outcome = search.solve(
        model,
        variables,
        tiers,
        settings,
        group_limit=search.GROUP_RANGE_LIMIT if batch else search.SINGLE_GROUP_LIMIT,
        separate_tiebreak=batch,
        frozen=per_node if batch else (),
    )
    if outcome.infeasible:
        raise RequestError(
            "rebalance cannot place every existing instance by its own policies",
            hint="check the existing instances with kerf validate, or plan without --rebalance",
        )
    return Solved(spec, outcome, realize(spec, outcome.solution), model_text)


def _status(proven: bool, anything_unplaced: bool) -> PlanStatus:
    if not proven:
        return PlanStatus.FEASIBLE
    return PlanStatus.INFEASIBLE if anything_unplaced else PlanStatus.OPTIMAL


def _explain(
    spec: ModelSpec,
    placed: dict[int, Instance],
    unplaced_idx: Sequence[int],
    outcome: Outcome,
    settings: Settings,
    explain: bool,
) -> tuple[list[Unplaced], list[str]]:
    from planner.explain import explain_unplaced

    if not unplaced_idx:
        return [], []
    if not outcome.found or outcome.stopped_at in ("unplaced", "unplaced_cpus"):
        # the search stopped before admission was settled: the explanations' "does not
        # fit next to the others" would not be true, the limit is the reason
        limit = f"time limit ({settings.time_limit:g} s)"
        if settings.deterministic_time is not None:
            limit += f" or deterministic limit ({settings.deterministic_time:g})"
        if not outcome.found:
            why = f"the solver found no placement within its {limit}"
        else:
            why = (
                f"left out when the solver reached its {limit} before it had settled which"
                " requests fit; a longer limit may place it"
            )
        demands = [spec.demands[i] for i in unplaced_idx]
        return [Unplaced(d.name, f"{d.name}: {why if d.blocked is None else d.blocked}") for d in demands], []
    return explain_unplaced(spec, frozenset(placed), unplaced_idx, settings, detailed=explain)
