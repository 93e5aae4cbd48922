"""Plan quality metrics, checked against values worked out by hand on small hosts.

The main host is ``pack:2 core:2 pu:2`` with Linux numbering: node 0 = CPUs 0, 1, 4, 5
(cores {0,4} and {1,5}), node 1 = CPUs 2, 3, 6, 7; the two nodes are 32 apart. Each node
has 64 GiB; its pool share is the top 48 GiB (node 0 from 16 GiB, node 1 from 80 GiB).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pytest

from planner.hardware import Device, Host, Instance, MemoryRegion
from planner.metrics import host_metrics, instance_metrics, unusable_capacity
from planner.policy import MemoryPolicy
from planner.request import InstanceRequest
from planner.synthetic import GiB, synthetic_host


def small_host(**kw: object) -> Host:
    return synthetic_host("pack:2 core:2 pu:2", **kw)  # type: ignore[arg-type]


def on(node: int, gib: int = 1, offset: int = 0) -> MemoryRegion:
    """``gib`` GiB at the start (+ offset GiB) of a node's pool share."""
    return MemoryRegion(gib * GiB, (16 + 64 * node + offset) * GiB, node)


def inst(name: str, cpus: Sequence[int], *regions: MemoryRegion, **kw: object) -> Instance:
    return Instance(name, tuple(cpus), memory=regions, **kw)  # type: ignore[arg-type]


def test_a_straddling_instance() -> None:
    host = small_host()
    x = inst("x", [0, 2], on(0), on(1))
    m = instance_metrics(host, [inst("y", [4])], x)
    assert (m.cpus, m.numa_nodes, m.numa_span) == (2, (0, 1), 2)
    # Before x, node 0 had 3 free CPUs and node 1 had 4: one node could have held it.
    assert (m.min_numa_span, m.numa_excess, m.kubelet_aligned) == (1, 1, False)
    assert (m.socket_span, m.l3_span, m.memory_nodes) == (2, 2, (0, 1))
    # Each CPU sees half its memory at 10 and half at 32: (2 * (5 + 16)) / 20.
    assert m.distance_cost == pytest.approx(2.1)
    assert m.max_distance == 32
    # Core {0,4} is shared with y and split; core {2,6} is split only.
    assert (m.shared_cores, m.split_cores, m.sibling_pairs) == (1, 2, 0)
    assert (m.preferred_misses, m.device_local_misses, m.bind_misses) == (0, 0, 0)
    assert m.interleave_bandwidth is None


def test_a_compact_local_instance() -> None:
    m = instance_metrics(small_host(), [], inst("z", [1, 5], on(0, 2)))
    assert (m.numa_span, m.min_numa_span, m.numa_excess, m.kubelet_aligned) == (1, 1, 0, True)
    assert (m.distance_cost, m.max_distance) == (1.0, 10)
    assert (m.shared_cores, m.split_cores, m.sibling_pairs) == (0, 0, 1)


def test_distance_cost_weights_cpus_and_memory_fractions() -> None:
    # 2 CPUs on node 0, 1 on node 1; memory 3/4 on node 0:
    # node-0 CPUs: 10*.75 + 32*.25 = 15.5; node-1 CPU: 32*.75 + 10*.25 = 26.5.
    m = instance_metrics(small_host(), [], inst("w", [1, 5, 3], on(0, 3), on(1)))
    assert m.distance_cost == pytest.approx((2 * 15.5 + 26.5) / 30)


def test_m_star_counts_only_what_was_free_before() -> None:
    m = instance_metrics(small_host(), [inst("a", [0, 1, 2, 3, 4, 5])], inst("b", [6, 7], on(1)))
    assert (m.min_numa_span, m.numa_excess) == (1, 0)
    crowded = instance_metrics(small_host(), [inst("a", [0, 1, 2, 3, 4])], inst("b", [5, 6, 7], on(1)))
    assert (crowded.min_numa_span, crowded.numa_excess) == (2, 0)
    # An instance on CPUs that were not free (an invalid plan) has no m*.
    clash = instance_metrics(small_host(), [inst("a", range(8))], inst("b", [6, 7], on(1)))
    assert (clash.min_numa_span, clash.numa_excess) == (None, None)


def test_preference_and_bind_misses_follow_the_request() -> None:
    host = small_host()
    z = inst("z", [1, 5], on(0))
    preferred = InstanceRequest("z", memory_bytes=GiB, cpu_count=2, numa_nodes=(1,))
    bound = InstanceRequest(
        "z", memory_bytes=GiB, cpu_count=2, numa_nodes=(1,), memory_policy=MemoryPolicy.BIND
    )
    assert instance_metrics(host, [], z, preferred).preferred_misses == 1
    assert instance_metrics(host, [inst("a", [2, 3, 6, 7])], z, preferred).preferred_misses == 0
    m = instance_metrics(host, [], z, bound)
    assert (m.preferred_misses, m.bind_misses) == (0, 1)


def test_a_device_away_from_the_cpus_is_a_miss() -> None:
    host = small_host(devices=[Device("gpu0", numa_node=1)])
    z = inst("z", [1, 5], on(0), devices=("gpu0",))
    assert instance_metrics(host, [], z).device_local_misses == 1
    assert instance_metrics(host, [inst("a", [2, 3, 6, 7])], z).device_local_misses == 0


def test_interleave_bandwidth_is_nodes_times_the_slowest_weight() -> None:
    w = inst("w", [1, 3], on(0), on(1), memory_policy=MemoryPolicy.INTERLEAVE)
    assert instance_metrics(small_host(), [], w).interleave_bandwidth == 2.0
    weighted = instance_metrics(small_host(), [], w, bandwidth={0: 2.0, 1: 3.0})
    assert weighted.interleave_bandwidth == 4.0


def test_instance_metrics_serialise_to_json() -> None:
    m = instance_metrics(small_host(), [], inst("z", [1, 5], on(0)))
    data = json.loads(json.dumps(m.as_dict()))
    assert data["numa_nodes"] == [0] and data["distance_cost"] == 1.0 and data["name"] == "z"


# --- host state ------------------------------------------------------------------------


def test_host_metrics_of_a_dented_host() -> None:
    host = small_host()
    h = host_metrics(host, [inst("a", [0]), inst("b", [2, 6])], sizes={1: 1, 2: 1, 4: 2})
    assert (h.free_cpus, h.free_cores, h.largest_free_cores_in_node) == (5, 2, 1)
    assert (h.free_numa_nodes, h.free_sockets, h.free_l3) == (0, 0, 0)
    assert h.stranded_threads == 1  # CPU 4, whose sibling 0 is taken
    assert h.free_cpus_by_node == {0: 3, 1: 2}
    assert h.balance == pytest.approx(0.5)
    # Only a 4-CPU request is lost, on both nodes: 5 CPUs with probability 1/2.
    assert h.fgd == pytest.approx(2.5)
    assert h.free_memory_by_node == {0: 48 * GiB, 1: 48 * GiB}
    assert h.capacity is None


def test_threads_beside_an_exclusive_instance_are_lost_to_fgd() -> None:
    h = host_metrics(
        small_host(), [inst("a", [0], exclusive_cores=True), inst("b", [2, 6])], sizes={2: 1, 4: 1}
    )
    # Usable: node 0 CPUs 1, 5 (4 sits beside the exclusive 0); node 1 CPUs 3, 7.
    assert h.fgd == pytest.approx(0.5 * 4)


def test_an_empty_host_is_all_free_units() -> None:
    h = host_metrics(small_host(), [])
    assert (h.free_numa_nodes, h.free_sockets, h.free_l3, h.largest_free_cores_in_node) == (2, 2, 2, 2)
    assert (h.stranded_threads, h.balance, h.fgd) == (0, 0.0, None)


def test_host_reserved_threads_strand_their_siblings() -> None:
    h = host_metrics(small_host(reserved_cpus=[0]), [])
    assert (h.free_cpus, h.free_cores, h.stranded_threads, h.free_numa_nodes) == (7, 3, 1, 2)


def test_memory_held_by_instances_is_not_free() -> None:
    h = host_metrics(small_host(), [inst("a", [1], on(0, 4)), inst("b", [3], MemoryRegion(GiB, None, 1))])
    assert h.free_memory_by_node == {0: 44 * GiB, 1: 47 * GiB}


def test_capacity_is_computed_only_when_asked() -> None:
    calls: list[str] = []

    def capacity(host: Host, instances: Sequence[Instance], flavor: InstanceRequest) -> int:
        calls.append(flavor.name)
        return len(host.available) // flavor.size - len(instances)

    flavors = {"core": InstanceRequest("core", memory_bytes=GiB, cpu_count=2, exclusive_cores=True)}
    assert host_metrics(small_host(), [], flavors=flavors).capacity is None and calls == []
    h = host_metrics(small_host(), [inst("a", [0])], flavors=flavors, capacity=capacity)
    assert h.capacity == {"core": 3} and calls == ["core"]
    assert json.loads(json.dumps(h.as_dict()))["capacity"] == {"core": 3}


def test_unusable_capacity_for_requests_larger_than_a_node() -> None:
    # Node-sized requests lose nodes with too little room; larger ones lose everything
    # only when the whole host is too small.
    assert unusable_capacity({0: 3, 1: 2}, {10: 1.0}, [4, 4]) == 5
    assert unusable_capacity({0: 3, 1: 4}, {6: 1.0}, [4, 4]) == 0
    assert unusable_capacity({0: 3, 1: 2}, {3: 1.0, 0: 5.0, 2: -1.0}, [4, 4]) == 2
    assert unusable_capacity({0: 3}, {}, [4]) == 0.0


def test_balance_is_the_population_standard_deviation() -> None:
    host = synthetic_host("pack:1 numa:3 core:2 pu:1")
    h = host_metrics(host, [inst("a", [0, 1]), inst("b", [2])])
    assert h.free_cpus_by_node == {0: 0, 1: 1, 2: 2}
    assert h.balance == pytest.approx(math.sqrt(2 / 3))
