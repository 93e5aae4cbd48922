"""Random hosts (1-4 sockets, up to 8 NUMA nodes, SMT 1/2/4, odd numbering, reserved
CPUs, partly filled) and random batches: every plan passes kerf.validate, keeps the
policies, scores what the solver says, and is the same when planned again."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import RequestError
from planner.objective import evaluate
from planner.request import PlanStatus
from planner.solve import PlanOptions, plan
from tests.planner.plan_checks import assert_plan_valid
from tests.planner.scenarios import existing, hosts, requests


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_plan_is_valid_and_repeatable(data: st.DataObject) -> None:
    host = data.draw(hosts(small=False))
    before = data.draw(existing(host, most=3))
    count = data.draw(st.integers(1, 4))
    batch = [data.draw(requests(host, f"r{i}", most_cpus=12)) for i in range(count)]
    result = plan(host, before, batch)
    assert_plan_valid(host, result, batch)
    placed = {p.name: p for p in result.placements}
    assert result.metrics["tiers"] == evaluate(host, before, batch, placed).named()
    if result.status is not PlanStatus.FEASIBLE:
        assert result.objective == result.bound
    for unplaced in result.unplaced:
        assert unplaced.reason.startswith(unplaced.name)
    again = plan(host, before, batch)
    assert again.placements == result.placements
    assert again.unplaced == result.unplaced


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_rebalanced_plans_are_valid_and_admit_at_least_as_much(data: st.DataObject) -> None:
    host = data.draw(hosts(small=False))
    before = data.draw(existing(host, most=3))
    batch = [data.draw(requests(host, f"r{i}", most_cpus=12)) for i in range(data.draw(st.integers(1, 3)))]
    try:
        moved = plan(host, before, batch, PlanOptions(rebalance=True))
    except RequestError as err:
        # the existing instances themselves cannot all be placed by their policies
        assert "rebalance cannot place every existing instance" in err.message
        return
    assert_plan_valid(host, moved, batch)
    assert {i.name for i in moved.existing} == {i.name for i in before}
    if moved.status is not PlanStatus.FEASIBLE:
        assert len(moved.unplaced) <= len(plan(host, before, batch).unplaced)
