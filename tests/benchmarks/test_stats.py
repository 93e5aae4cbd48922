"""Statistics and the closed-form flavour capacity, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from benchmarks.capacity import flavour_capacity, multi_node_capacity
from benchmarks.stats import holm, performance_profile, quantile, wilcoxon
from benchmarks.topologies import node_size, topology
from planner.baselines import Kubelet
from planner.capacity import capacity
from planner.hardware import Instance
from planner.policy import CpuAffinity
from planner.request import InstanceRequest
from planner.synthetic import GiB


def test_quantile_interpolates() -> None:
    assert quantile([4, 1, 3, 2], 0.5) == 2.5
    assert quantile([1, 2, 3, 4, 5], 0.95) == pytest.approx(4.8)
    assert math.isnan(quantile([], 0.5))


def test_wilcoxon_exact_small_samples() -> None:
    # five positive differences: W+ = 15, P(W+ >= 15) = 1/32, two-sided 1/16
    result = wilcoxon([2, 3, 4, 5, 6], [1, 1, 1, 1, 1])
    assert (result.n, result.w_plus, result.positive, result.negative) == (5, 15, 5, 0)
    assert result.p == pytest.approx(1 / 16)
    # differences 1, 2, 3, -4, 5: W+ = 11, W- = 4; 7 of 32 sign patterns give W- <= 4
    mixed = wilcoxon([1, 2, 3, 0, 5], [0, 0, 0, 4, 0])
    assert mixed.w_plus == 11 and mixed.p == pytest.approx(14 / 32)


def test_wilcoxon_drops_zero_differences_and_uses_the_normal_form_for_ties() -> None:
    assert wilcoxon([1, 2], [1, 2]).p == 1.0
    result = wilcoxon([1.0] * 30, [0.0] * 30)  # all tied: normal approximation
    assert result.n == 30 and result.p < 1e-5
    balanced = wilcoxon([1, 0, 1, 0], [0, 1, 0, 1])
    assert balanced.p == 1.0


def test_holm_step_down() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []


def test_performance_profile() -> None:
    costs: dict[str, dict[object, float]] = {"a": {"p1": 1, "p2": 4}, "b": {"p1": 2, "p2": 2}, "c": {"p1": 1}}
    profile = performance_profile(costs, [1.0, 2.0])
    assert profile == {"a": [0.5, 1.0], "b": [0.5, 1.0], "c": [0.5, 0.5]}


def test_multi_node_capacity() -> None:
    assert multi_node_capacity([2, 2, 2], 2) == 3
    assert multi_node_capacity([5, 1, 0], 2) == 1
    assert multi_node_capacity([1, 1, 1], 3) == 1
    assert multi_node_capacity([3, 0, 0], 3) == 0
    assert multi_node_capacity([4], 2) == 0


def test_closed_form_capacity_agrees_with_the_planner_on_one_node_flavours() -> None:
    t4 = topology("T4")
    host = t4.host()
    allocator = Kubelet("kubelet-packed")
    placed: list[Instance] = []
    for i, (size, exclusive) in enumerate([(5, False), (3, True), (8, False), (20, True), (1, False)]):
        request = InstanceRequest(f"x{i}", memory_bytes=size * GiB, cpu_count=size, exclusive_cores=exclusive)
        inst = allocator.place(host, placed, request)
        assert inst is not None
        placed.append(inst)
    closed = flavour_capacity(host, placed)
    core4 = InstanceRequest(
        "core4", memory_bytes=4 * GiB, cpu_count=4, exclusive_cores=True, cpu_affinity=CpuAffinity.LOCAL
    )
    numa = InstanceRequest(
        "numa", memory_bytes=4 * GiB, cpu_count=node_size(host), cpu_affinity=CpuAffinity.LOCAL
    )
    assert closed["core4"] == capacity(host, placed, core4).count
    assert closed["numa"] == capacity(host, placed, numa).count
    # kubelet packs the small ones into node 0 and gives the 20-CPU one node 1
    assert closed["numa"] == 2
