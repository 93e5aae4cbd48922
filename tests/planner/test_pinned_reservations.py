"""Cores that a request pins are its own only when it is placed: a pinned request the
plan leaves out holds nothing back from the others."""

from __future__ import annotations

from planner.hardware import Instance
from planner.memory import allocate_regions
from planner.policy import CpuAffinity
from planner.request import InstanceRequest
from planner.solve import PlanOptions, plan
from planner.synthetic import GiB
from tests.planner import named_hosts as hosts
from tests.planner.plan_checks import assert_plan_valid


def whole_node(name: str) -> InstanceRequest:
    return InstanceRequest(name, GiB, cpu_count=4, cpu_affinity=CpuAffinity.LOCAL)


def test_a_pinned_request_that_cannot_fit_reserves_nothing() -> None:
    host = hosts.dual_socket_no_ht()  # nodes of four single-thread cores: 0-3 and 4-7
    requests = [InstanceRequest("pin", 1 << 50, cpus=(0,)), whole_node("web"), whole_node("db")]
    result = plan(host, [], requests)
    assert sorted(p.name for p in result.placements) == ["db", "web"]
    assert [u.name for u in result.unplaced] == ["pin"]
    assert_plan_valid(host, result, requests)


def test_a_pinned_request_left_out_frees_its_core_for_the_others() -> None:
    host = hosts.dual_socket_no_ht()
    # all three fit alone; two whole nodes admit as many requests as the pin and one
    # node, and more CPUs, so the pin is the one left out
    requests = [InstanceRequest("pin", GiB, cpus=(0,)), whole_node("web"), whole_node("db")]
    result = plan(host, [], requests)
    assert sorted(p.name for p in result.placements) == ["db", "web"]
    assert 0 in {cpu for p in result.placements for cpu in p.cpus}
    (left_out,) = result.unplaced
    assert left_out.name == "pin" and "not together with" in left_out.reason
    assert_plan_valid(host, result, requests)


def test_a_placed_pinned_request_keeps_its_core() -> None:
    host = hosts.dual_socket_ht()  # siblings (c, c+6)
    requests = [InstanceRequest("pin", GiB, cpus=(0,)), InstanceRequest("fill", GiB, cpu_count=10)]
    result = plan(host, [], requests)
    placed = {p.name: p for p in result.placements}
    assert set(placed) == {"pin", "fill"}
    assert 6 not in placed["fill"].cpus  # the pin's sibling stays the pin's
    assert_plan_valid(host, result, requests)


def test_rebalance_leaves_a_pinned_request_out_instead_of_failing() -> None:
    host = hosts.dual_socket_no_ht()
    a = Instance(
        "a", (0, 1, 2, 3), allocate_regions(host, [], {0: GiB}) or (), cpu_affinity=CpuAffinity.LOCAL
    )
    b = Instance(
        "b", (4, 5, 6, 7), allocate_regions(host, [a], {1: GiB}) or (), cpu_affinity=CpuAffinity.LOCAL
    )
    pinned = InstanceRequest("x", GiB, cpus=(0,))
    result = plan(host, [a, b], [pinned], PlanOptions(rebalance=True))
    assert [u.name for u in result.unplaced] == ["x"]
    assert sorted(i.name for i in result.existing) == ["a", "b"]
