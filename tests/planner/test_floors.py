"""Tier floors (planner.cpsat.tiers.Tier.floor): a batch whose solution in hand holds a
structure tier at the least its admitted demands can cost (one socket and the fewest core
groups for each compact request; a core held in part for each size that whole cores
cannot make up) skips that tier's solve. The floor is a lower bound, so skipping changes
no proven tier value."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.cpsat.model import build_model
from planner.cpsat.spec import build_spec
from planner.cpsat.tiers import Tier, build_tiers
from planner.hardware import Instance
from planner.objective import TIERS
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import InstanceRequest, Plan, PlanStatus
from planner.solve import PlanOptions, plan
from planner.synthetic import GiB, synthetic_host
from planner.topology import Topology
from tests.planner.plan_checks import assert_plan_valid

HOST = synthetic_host("pack:2 numa:2 l3:2 core:4 pu:2", node_memory=32 * GiB)


def _quality(result: Plan) -> dict[str, int]:
    tiers = result.metrics["tiers"]
    assert isinstance(tiers, dict)
    return {name: int(tiers[name]) for name in TIERS if name != "tiebreak"}


def _solves(result: Plan) -> int:
    model = result.metrics["model"]
    assert isinstance(model, dict)
    return int(model["solves"])


def test_the_floor_adds_up_the_smallest_floors() -> None:
    tier = Tier("span", floors={0: 2, 1: 0, 2: 3, 3: 2})
    assert [tier.floor(k) for k in range(5)] == [0, 0, 2, 4, 7]
    assert Tier("smt").floor(3) == 0  # no floors known


def test_tiers_at_their_floor_are_not_solved(monkeypatch: pytest.MonkeyPatch) -> None:
    # on an empty host every compact request fits one core group of one socket, and each
    # odd one needs a single split core: span and smt sit at their floors after polishing
    batch = [
        InstanceRequest(f"r{i}", size * GiB, cpu_count=size, cpu_affinity=CpuAffinity.COMPACT)
        for i, size in enumerate((3, 2, 5, 4, 1, 6))
    ]
    with_floors = plan(HOST, [], batch, PlanOptions(time_limit=30))
    tiers = with_floors.metrics["tiers"]
    assert isinstance(tiers, dict)
    assert tiers["span"] == 2 * len(batch) and tiers["smt"] == 3
    monkeypatch.setattr(Tier, "floor", lambda self, admitted: 0)
    without = plan(HOST, [], batch, PlanOptions(time_limit=30))
    assert with_floors.status is PlanStatus.OPTIMAL and without.status is PlanStatus.OPTIMAL
    assert _quality(with_floors) == _quality(without)
    # at least one of the two tiers is at its floor once polished (which, depends on
    # what the polishing solve finds first)
    assert _solves(with_floors) < _solves(without)
    assert_plan_valid(HOST, with_floors, batch)


def _floors(existing: list[Instance], batch: list[InstanceRequest], admitted: int) -> dict[str, int]:
    """Each tier's floor for ``admitted`` of ``batch`` next to ``existing``."""
    spec = build_spec(HOST, Topology.of(HOST).layout(), existing, batch)
    model, variables = build_model(spec)
    return {t.name: t.floor(admitted) for t in build_tiers(model, spec, variables)}


def _existing(count: int) -> list[Instance]:
    old = [InstanceRequest(f"old{i}", GiB, cpu_count=1 + 2 * i) for i in range(count)]
    return list(plan(HOST, [], old).placements)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 9), min_size=2, max_size=5),
    affinities=st.lists(st.sampled_from(list(CpuAffinity)), min_size=5, max_size=5),
    exclusive=st.lists(st.booleans(), min_size=5, max_size=5),
    filled=st.integers(0, 3),
)
def test_floors_are_lower_bounds_and_change_no_proven_tier(
    sizes: list[int], affinities: list[CpuAffinity], exclusive: list[bool], filled: int
) -> None:
    batch = [
        InstanceRequest(
            f"r{i}",
            size * GiB,
            cpu_count=size,
            cpu_affinity=affinities[i],
            memory_policy=MemoryPolicy.INTERLEAVE if i % 2 else MemoryPolicy.LOCAL,
            exclusive_cores=exclusive[i],
        )
        for i, size in enumerate(sizes)
    ]
    existing = _existing(filled)
    with_floors = plan(HOST, existing, batch, PlanOptions(time_limit=30))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Tier, "floor", lambda self, admitted: 0)
        without = plan(HOST, existing, batch, PlanOptions(time_limit=30))
    assert with_floors.status is without.status
    assert with_floors.status is not PlanStatus.FEASIBLE
    assert _quality(with_floors) == _quality(without)
    # a floor is a lower bound: no optimum lies below it
    floors = _floors(existing, batch, len(with_floors.placements))
    quality = _quality(with_floors)
    assert all(quality[name] >= floors[name] for name in ("span", "smt"))
    assert_plan_valid(HOST, with_floors, batch)
