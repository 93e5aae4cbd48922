"""kubelet's allocators on kubelet's topology fixtures.

Expected sets are derived by hand from the procedure (best-fit: whole NUMA nodes or
sockets, uncore caches, whole cores, then single threads of the fullest cores; the
distributed mode balances free CPUs per node); each case says why in its id.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from planner.baselines import Kubelet, TopologyPolicy
from planner.baselines.kubelet_cpus import CpuTopology, balance_score, take_distributed, take_packed
from planner.hardware import Host
from planner.policy import CpuAffinity
from planner.request import InstanceRequest
from planner.synthetic import GiB
from tests.planner.test_baselines_fixtures import (
    dual_numa_quad_socket,
    dual_socket_ht,
    epyc_nps4,
    holding,
    quad_numa_smt2,
    single_socket_ht,
    triple_socket_ht,
    uncore_single_socket_smt,
)


def span(a: int, b: int) -> set[int]:
    """CPU ids a..b inclusive."""
    return set(range(a, b + 1))


# (id, fixture, CPUs not available, request size, expected CPUs)
PACKED = [
    ("nothing-requested", single_socket_ht, set(), 0, set()),
    ("one-thread-of-the-lowest-core", single_socket_ht, set(), 1, {0}),
    ("the-whole-node", single_socket_ht, set(), 8, span(0, 7)),
    ("whole-free-core-not-the-dented-one", single_socket_ht, {0}, 2, {1, 5}),
    ("single-thread-fills-the-dented-core", single_socket_ht, {0}, 1, {4}),
    ("whole-core-then-the-dented-core", single_socket_ht, {0}, 3, {1, 4, 5}),
    ("a-socket-sized-request-takes-socket-0", dual_socket_ht, set(), 6, {0, 2, 4, 6, 8, 10}),
    ("a-dented-socket-is-skipped", dual_socket_ht, {2}, 6, {1, 3, 5, 7, 9, 11}),
    ("whole-cores-on-the-fuller-socket", dual_socket_ht, {2}, 4, {0, 4, 6, 10}),
    ("odd-request-ends-in-the-dented-core", dual_socket_ht, {2}, 3, {0, 6, 8}),
    ("socket-0-holds-cpus-6-to-11", triple_socket_ht, set(), 4, {6, 7, 8, 9}),
    ("snc-numa-node-sized", quad_numa_smt2, set(), 20, span(0, 9) | span(40, 49)),
    ("snc-socket-sized", quad_numa_smt2, set(), 40, span(0, 19) | span(40, 59)),
    (
        "snc-socket-then-numa-node",
        quad_numa_smt2,
        set(),
        60,
        span(0, 19) | span(40, 59) | span(20, 29) | span(60, 69),
    ),
    ("snc-whole-core-on-the-fullest-node", quad_numa_smt2, {0}, 2, {1, 41}),
    ("snc-single-thread-on-the-dented-core", quad_numa_smt2, {0}, 1, {40}),
    (
        "epyc-node-then-cores-of-the-next-node",
        epyc_nps4,
        set(),
        48,
        span(0, 15) | span(128, 143) | span(16, 23) | span(144, 151),
    ),
    ("two-sockets-per-node-takes-a-socket", dual_numa_quad_socket, set(), 20, span(0, 9) | span(40, 49)),
    ("two-sockets-per-node-takes-a-node", dual_numa_quad_socket, set(), 40, span(0, 19) | span(40, 59)),
]


@pytest.mark.parametrize(
    ("fixture", "busy", "n", "expected"), [case[1:] for case in PACKED], ids=[case[0] for case in PACKED]
)
def test_take_packed(fixture: Callable[[], Host], busy: set[int], n: int, expected: set[int]) -> None:
    host = fixture()
    available = {c.id for c in host.cpus} - busy
    taken = take_packed(CpuTopology.of(host), available, n)
    assert taken is not None
    assert set(taken) == expected
    assert len(taken) == n


def test_take_packed_fails_like_kubelet() -> None:
    topo = CpuTopology.of(single_socket_ht())
    assert take_packed(topo, {0, 1}, 3) is None


# Uncore alignment: (id, CPUs not available, size, expected with alignment, expected without)
UNCORE = [
    ("a-cache-sized-request-takes-a-cache", set(), 8, span(0, 3) | span(8, 11), span(0, 3) | span(8, 11)),
    ("partial-cache-needs-an-exact-cover", {0, 1, 2}, 4, {4, 5, 12, 13}, {3, 4, 11, 12}),
    ("odd-need-drops-the-last-thread", set(), 3, {0, 1, 8}, {0, 1, 8}),
]


@pytest.mark.parametrize(
    ("busy", "n", "aligned", "plain"), [case[1:] for case in UNCORE], ids=[case[0] for case in UNCORE]
)
def test_take_packed_uncore(busy: set[int], n: int, aligned: set[int], plain: set[int]) -> None:
    host = uncore_single_socket_smt()
    topo = CpuTopology.of(host)
    available = set(range(16)) - busy
    assert set(take_packed(topo, available, n, align_uncore=True) or ()) == aligned
    assert set(take_packed(topo, available, n) or ()) == plain


def test_spread_sorting_takes_threads_by_socket_and_id() -> None:
    # distribute-cpus-across-cores: no whole-core step; with Linux numbering the lowest
    # ids are one thread per core, with adjacent numbering they are siblings.
    linux = take_packed(CpuTopology.of(single_socket_ht()), set(range(8)), 4, spread=True)
    adjacent = take_packed(CpuTopology.of(triple_socket_ht()), set(range(18)), 4, spread=True)
    assert linux == [0, 1, 2, 3]
    assert adjacent == [6, 7, 8, 9]


def test_balance_score_rounds_like_kubelet() -> None:
    assert balance_score([16, 20, 20, 20]) == 1.732
    assert balance_score([19, 19, 20, 20]) == 0.5
    assert balance_score([9, 10, 20, 20]) == 5.262


DISTRIBUTED = [
    ("one-cpu-goes-to-the-emptier-node", {0}, 1, 1, {10}),
    ("fits-one-node-so-one-node", set(), 4, 1, {0, 1, 40, 41}),
    ("remainder-on-the-first-node", set(), 21, 1, span(0, 5) | span(40, 44) | span(10, 14) | span(50, 54)),
    (
        "three-nodes-evenly",
        set(),
        48,
        1,
        span(0, 7) | span(40, 47) | span(10, 17) | span(50, 57) | span(20, 27) | span(60, 67),
    ),
    ("groups-of-two", set(), 4, 2, {0, 1, 40, 41}),
    ("not-a-multiple-of-the-group-falls-back-to-packed", {0}, 3, 2, {40, 1, 41}),
]


@pytest.mark.parametrize(
    ("busy", "n", "group", "expected"),
    [case[1:] for case in DISTRIBUTED],
    ids=[case[0] for case in DISTRIBUTED],
)
def test_take_distributed(busy: set[int], n: int, group: int, expected: set[int]) -> None:
    host = quad_numa_smt2()
    available = set(range(80)) - busy
    taken = take_distributed(CpuTopology.of(host), available, n, group)
    assert taken is not None and set(taken) == expected and len(taken) == n


def test_packed_and_distributed_disagree_on_which_node_a_small_request_dents() -> None:
    topo = CpuTopology.of(quad_numa_smt2())
    available = set(range(1, 80))
    assert take_packed(topo, available, 1) == [40]
    assert take_distributed(topo, available, 1) == [10]


# --- the allocator: Topology Manager front end, policies, exclusive cores ------------------


def request(n: int, **kw: object) -> InstanceRequest:
    return InstanceRequest(f"r{n}", memory_bytes=GiB, cpu_count=n, **kw)  # type: ignore[arg-type]


def test_best_effort_aligns_to_the_lowest_node_that_holds_the_request() -> None:
    host = dual_socket_ht()
    placed = Kubelet().place(host, [holding("a", [2])], request(4))
    assert placed is not None and placed.cpus == (0, 4, 6, 10)


def test_listed_nodes_are_searched_first() -> None:
    placed = Kubelet().place(dual_socket_ht(), [holding("a", [2])], request(4, numa_nodes=(1,)))
    assert placed is not None and placed.cpus == (1, 3, 7, 9)


def test_without_alignment_a_small_request_may_straddle_nodes() -> None:
    # Node 0 keeps CPU 10, node 1 keeps 5 and 9 (no whole core anywhere): best fit
    # starts on the fuller node 0 unless the front end aligns to node 1.
    host = dual_socket_ht()
    existing = [holding("a", [0, 2, 4, 6, 8]), holding("b", [1, 7, 3, 11])]
    none = Kubelet(policy=TopologyPolicy.NONE).place(host, existing, request(2))
    aligned = Kubelet().place(host, existing, request(2))
    assert none is not None and none.cpus == (9, 10)
    assert aligned is not None and aligned.cpus == (5, 9)


def test_restricted_rejects_when_the_best_mask_is_wider_than_needed() -> None:
    # 4 CPUs would fit one node of an empty host, but only two nodes together hold them.
    host = dual_socket_ht()
    existing = [holding("a", [0, 2, 4, 6]), holding("b", [1, 3, 5, 7])]
    assert Kubelet(policy=TopologyPolicy.RESTRICTED).place(host, existing, request(4)) is None
    spilled = Kubelet().place(host, existing, request(4))
    assert spilled is not None and spilled.cpus == (8, 9, 10, 11)


def test_local_affinity_is_single_numa_node() -> None:
    host = dual_socket_ht()
    existing = [holding("a", [0, 2, 4, 6]), holding("b", [1, 3, 5, 7])]
    assert Kubelet().place(host, existing, request(3, cpu_affinity=CpuAffinity.LOCAL)) is None
    placed = Kubelet().place(host, existing, request(2, cpu_affinity=CpuAffinity.LOCAL))
    assert placed is not None and placed.cpus == (8, 10)


def test_full_pcpus_only_rounds_up_to_whole_cores_and_keeps_the_lower_threads() -> None:
    host = quad_numa_smt2()
    placed = Kubelet().place(host, [holding("a", [0])], request(3, exclusive_cores=True))
    # Core 0 is dented, so whole cores 1 and 2 are taken and thread 42 is left idle.
    assert placed is not None and placed.cpus == (1, 2, 41)


def test_exclusive_request_declines_when_no_whole_cores_are_left() -> None:
    host = single_socket_ht()
    existing = [holding("a", [0, 1, 2, 3])]
    assert Kubelet().place(host, existing, request(2, exclusive_cores=True)) is None
    shared = Kubelet().place(host, existing, request(2))
    assert shared is not None and shared.cpus == (4, 5)


def test_spread_affinity_uses_the_across_cores_sorting() -> None:
    placed = Kubelet().place(single_socket_ht(), [], request(4, cpu_affinity=CpuAffinity.SPREAD))
    packed = Kubelet().place(single_socket_ht(), [], request(4))
    assert placed is not None and placed.cpus == (0, 1, 2, 3)
    assert packed is not None and packed.cpus == (0, 1, 4, 5)


def test_distributed_allocator_balances_nodes_unless_the_front_end_narrows_first() -> None:
    host = quad_numa_smt2()
    existing = [holding("a", [0])]
    balancing = Kubelet("kd", distributed=True, policy=TopologyPolicy.NONE)
    aligned = Kubelet("kd", distributed=True)
    assert (balancing.place(host, existing, request(1)) or pytest.fail()).cpus == (10,)
    # best-effort picks the lowest node that holds the request; balancing happens inside it
    assert (aligned.place(host, existing, request(1)) or pytest.fail()).cpus == (40,)
    listed = balancing.place(host, existing, request(1, numa_nodes=(3,)))
    assert listed is not None and listed.cpus == (30,)


def test_device_hint_pulls_the_mask_to_the_device_node() -> None:
    from planner.hardware import Device
    from planner.request import DeviceWant
    from planner.synthetic import synthetic_host

    nic = Device("eth0", numa_node=1, sriov_vfs=2, available_vfs=(0, 1))
    host = synthetic_host("pack:2 core:4 pu:2", devices=[nic])
    placed = Kubelet().place(host, [], request(2, devices=(DeviceWant.parse("eth0_vf*"),)))
    assert placed is not None and placed.cpus == (4, 12) and placed.devices == ("eth0_vf0",)
