"""Polishing (planner.cpsat.search): a batch's structure tiers start from a plan
re-solved with the per-node amounts fixed. It only changes where the search starts: the
proven value of every quality tier is the same with and without it, and plans repeat."""

from __future__ import annotations

from typing import Any

import pytest

from planner.cpsat import search
from planner.hardware import Instance
from planner.objective import TIERS
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import InstanceRequest, Plan, PlanStatus
from planner.solve import PlanOptions, plan
from planner.synthetic import GiB, synthetic_host
from tests.planner.plan_checks import assert_plan_valid

HOST = synthetic_host("pack:2 numa:2 l3:2 core:4 pu:2", node_memory=32 * GiB)


def _batch() -> list[InstanceRequest]:
    shapes = [
        (3, CpuAffinity.COMPACT, False),
        (5, CpuAffinity.COMPACT, False),
        (4, CpuAffinity.SPREAD, True),
        (2, CpuAffinity.LOCAL, False),
        (6, CpuAffinity.COMPACT, True),
        (1, CpuAffinity.COMPACT, False),
        (7, CpuAffinity.SPREAD, False),
    ]
    return [
        InstanceRequest(
            f"r{i}",
            size * GiB,
            cpu_count=size,
            cpu_affinity=affinity,
            memory_policy=MemoryPolicy.INTERLEAVE if i % 3 == 0 else MemoryPolicy.LOCAL,
            exclusive_cores=exclusive,
        )
        for i, (size, affinity, exclusive) in enumerate(shapes)
    ]


def _existing() -> list[Instance]:
    old = [InstanceRequest("old0", 2 * GiB, cpu_count=3), InstanceRequest("old1", GiB, cpu_count=1)]
    return list(plan(HOST, [], old).placements)


def _quality(result: Plan) -> dict[str, int]:
    tiers = result.metrics["tiers"]
    assert isinstance(tiers, dict)
    return {name: int(tiers[name]) for name in TIERS if name != "tiebreak"}


def test_polishing_changes_no_proven_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    existing, batch = _existing(), _batch()
    calls: list[int] = []
    real = search._polish

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "_polish", spy)
    polished = plan(HOST, existing, batch, PlanOptions(time_limit=30))
    assert len(calls) == 3  # before span, smt and fragmentation
    monkeypatch.setattr(search, "POLISHED", frozenset())
    plain = plan(HOST, existing, batch, PlanOptions(time_limit=30))
    assert polished.status is PlanStatus.OPTIMAL and plain.status is PlanStatus.OPTIMAL
    assert _quality(polished) == _quality(plain)
    assert_plan_valid(HOST, polished, batch)


def test_polished_plans_repeat() -> None:
    existing, batch = _existing(), _batch()
    first = plan(HOST, existing, batch, PlanOptions(time_limit=30))
    second = plan(HOST, existing, batch, PlanOptions(time_limit=30))
    assert first.placements == second.placements
