"""The benchmark hosts: each builds, validates, and has the shape §8.1 describes."""

from __future__ import annotations

import pytest

from benchmarks.topologies import BY_ID, TOPOLOGIES, cpu_nodes, device_nodes, node_size, topology
from kerf.validate import validate_host

# id -> (CPUs, NUMA nodes, sockets, L3 groups, threads per core, node holding eth0)
SHAPES = {
    "T1": (8, 1, 1, 1, {2}, None),
    "T2": (20, 1, 1, 1, {1, 2}, 0),
    "T3": (12, 2, 2, 2, {2}, 1),
    "T4": (80, 4, 2, 4, {2}, 1),
    "T5": (128, 4, 2, 4, {2}, 2),
    "T6": (28, 4, 2, 4, {1}, 1),
    "T7": (256, 8, 2, 32, {2}, 1),
    "T8": (384, 8, 2, 24, {2}, 2),
    "T9": (512, 8, 2, 32, {2}, 3),
    "T10": (384, 24, 24, 24, {2}, 3),
}


def test_every_topology_of_the_proposal_is_there() -> None:
    assert [t.id for t in TOPOLOGIES] == [f"T{i}" for i in range(1, 11)]
    assert set(SHAPES) == set(BY_ID)


@pytest.mark.parametrize("topo", TOPOLOGIES, ids=lambda t: t.id)
def test_topology_builds_with_its_shape_and_validates(topo: object) -> None:
    t = topology(getattr(topo, "id", ""))
    cpus, nodes, sockets, l3, widths, nic_node = SHAPES[t.id]
    for seed in (0, 1):
        host = t.host(seed)
        report = validate_host(host, [], [])
        assert report.ok, [f.message for f in report.errors]
        assert len(host.cpus) == cpus
        assert len(host.numa_nodes) == nodes
        assert len(host.sockets) == sockets
        assert len([c for c in host.caches if c.level == 3]) == l3
        assert {len(core.cpus) for core in host.cores} == widths
        assert len(cpu_nodes(host)) == nodes
        nics = [d for d in host.devices if d.name == "eth0"]
        assert (nics[0].numa_node if nics else None) == nic_node
        # every pair of nodes has a distance, 10 on the diagonal
        for a in host.node_ids:
            assert host.distance(a, a) == 10
            for b in host.node_ids:
                assert host.distance(a, b) == host.distance(b, a)
                assert a == b or host.distance(a, b) > 10


def test_dented_hosts_keep_core_zero_in_odd_seeds_only() -> None:
    t3 = topology("T3")
    assert t3.host(0).host_reserved == frozenset()
    assert t3.host(1).host_reserved == frozenset({0, 6})  # core 0 = CPUs 0 and 6
    assert len(t3.host(1).available) == 10
    t5 = topology("t5")
    assert t5.host(3).host_reserved == frozenset({0, 64})
    assert topology("T4").host(1).host_reserved == frozenset()


def test_distance_matrices_follow_the_described_values() -> None:
    t6 = topology("T6").host()
    assert (t6.distance(0, 1), t6.distance(0, 2), t6.distance(2, 3)) == (21, 31, 21)
    t4 = topology("T4").host()
    assert (t4.distance(0, 1), t4.distance(1, 2)) == (11, 21)
    t10 = topology("T10").host()
    values = {t10.distance(a, b) for a in t10.node_ids for b in t10.node_ids}
    assert values == {10, 50, 65, 79}
    assert t10.distance(0, 1) == 50  # two sockets of one blade


def test_numbering_schemes() -> None:
    t3 = topology("T3").host()
    assert t3.node_by_id[0].cpus == (0, 2, 4, 6, 8, 10)  # sockets interleave
    t2 = topology("T2").host()
    assert t2.core_by_id[0].cpus == (0, 1) and t2.core_by_id[12].cpus == (12,)
    t9 = topology("T9").host()
    assert t9.core_by_id[0].cpus == (0, 256)
    assert node_size(t9) == 64
    assert device_nodes(topology("T7").host()) == (1, 5)
    assert device_nodes(topology("T10").host()) == (3, 17)


def test_unknown_topology_is_named() -> None:
    with pytest.raises(KeyError, match="T11"):
        topology("T11")
