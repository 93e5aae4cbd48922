"""A tier that the solution in hand already holds at its lower bound is fixed without a
solve, and stays fixed for the tiers after it."""

from __future__ import annotations

from ortools.sat.python import cp_model

from planner.cpsat.model import Vars
from planner.cpsat.search import Settings, solve
from planner.cpsat.tiers import Tier


def _model() -> tuple[cp_model.CpModel, list[Tier]]:
    """x + y ≥ 3 with tiers a = x, b = x, tiebreak = y − x + 5: after a (x = 0) the
    solution already has b at its lower bound 0; without b fixed the tie-break would
    prefer x = 5."""
    model = cp_model.CpModel()
    x = model.new_int_var(0, 5, "x")
    y = model.new_int_var(0, 5, "y")
    model.add(x + y >= 3)
    a, b, tiebreak = Tier("a"), Tier("b"), Tier("tiebreak", constant=5)
    a.add(1, x)
    b.add(1, x)
    tiebreak.add(1, y)
    tiebreak.add(-1, x)
    return model, [a, b, tiebreak]


def test_a_tier_at_its_lower_bound_is_fixed_without_a_solve() -> None:
    model, tiers = _model()
    outcome = solve(model, Vars(), tiers, Settings(time_limit=5.0))
    assert outcome.proven and outcome.tiebreak_proven
    assert outcome.solves == 2  # a and the tie-break; b needed none
    assert outcome.values == (0, 0, 8)  # b stayed at 0: the tie-break could not trade it away
    assert outcome.lower == outcome.values
