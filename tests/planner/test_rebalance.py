"""Rebalance: existing instances may move to admit a request, as little as possible."""

from __future__ import annotations

from planner.hardware import Host, Instance
from planner.memory import allocate_regions
from planner.policy import CpuAffinity
from planner.request import InstanceRequest, PlanStatus
from planner.solve import PlanOptions, plan
from planner.synthetic import GiB
from tests.planner import named_hosts as hosts
from tests.planner.plan_checks import assert_plan_valid


def two_on_two_nodes(host: Host) -> list[Instance]:
    a = Instance(
        "a", (0, 1), allocate_regions(host, [], {0: 2 * GiB}) or (), cpu_affinity=CpuAffinity.COMPACT
    )
    b = Instance("b", (4,), allocate_regions(host, [a], {1: GiB}) or (), cpu_affinity=CpuAffinity.COMPACT)
    return [a, b]


def ranges(inst: Instance) -> list[tuple[int | None, int]]:
    return sorted((r.base, r.size) for r in inst.memory)


def test_the_smallest_move_makes_room() -> None:
    host = hosts.dual_socket_no_ht()  # two nodes of four single-thread cores
    existing = two_on_two_nodes(host)
    web = InstanceRequest("web", GiB, cpu_count=4, cpu_affinity=CpuAffinity.LOCAL)
    assert plan(host, existing, [web]).status is PlanStatus.INFEASIBLE

    result = plan(host, existing, [web], PlanOptions(rebalance=True))
    assert result.status is PlanStatus.OPTIMAL
    assert_plan_valid(host, result, [web])
    (placed,) = result.placements
    a, b = result.existing
    assert placed.cpus == (4, 5, 6, 7)
    # moving b (1 CPU) beats moving a (2 CPUs); a keeps its CPUs and its memory
    assert (a.cpus, ranges(a)) == (existing[0].cpus, ranges(existing[0]))
    assert b.cpus == (2,) and {r.numa_node for r in b.memory} == {0}
    assert result.metrics["moved"] == ["b"]
    tiers = result.metrics["tiers"]
    assert (tiers["moved_cpus"], tiers["moved_pages"]) == (1, GiB // 4096)  # type: ignore[index]


def test_nothing_moves_when_nothing_has_to() -> None:
    host = hosts.dual_socket_no_ht()
    existing = two_on_two_nodes(host)
    web = InstanceRequest("web", GiB, cpu_count=2)
    moved = plan(host, existing, [web], PlanOptions(rebalance=True))
    fixed = plan(host, existing, [web])
    assert moved.metrics["moved"] == []
    assert [(i.cpus, ranges(i)) for i in moved.existing] == [(i.cpus, ranges(i)) for i in existing]
    assert moved.placements[0].cpus == fixed.placements[0].cpus
    assert_plan_valid(host, moved, [web])
