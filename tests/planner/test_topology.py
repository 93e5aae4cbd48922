"""planner.topology: the graph machine → socket → NUMA node → core group → core → CPU,
distance edges, devices and memory, and the indexes the model reads."""

from __future__ import annotations

import networkx as nx

from planner.hardware import Cache, Device, MemoryInventory, MemoryRange, assemble_host
from planner.synthetic import GiB, synthetic_host
from planner.topology import Topology
from tests.planner import named_hosts as hosts


def test_hierarchy_of_an_epyc_like_host() -> None:
    topo = Topology.of(hosts.epyc_large())
    graph = topo.graph
    contains = nx.DiGraph((u, v) for u, v, d in graph.edges(data=True) if d["kind"] == "contains")
    assert nx.is_tree(contains) and list(contains.predecessors(("socket", 0))) == [("machine",)]
    assert set(contains.successors(("socket", 1))) == {("numa", n) for n in (4, 5, 6, 7)}
    # node 1 holds CCXs 4-7 (ranks), each of 4 cores of 2 threads
    groups = [g for g in topo.groups if g.node == 1]
    assert [g.rank for g in groups] == [4, 5, 6, 7]
    assert groups[0].cores == (16, 17, 18, 19) and groups[0].l3 == 4
    assert set(contains.successors(("core", 16))) == {("cpu", 16), ("cpu", 144)}
    assert topo.group_of_core[19] == 4 and topo.group_of_core[20] == 5
    assert topo.cpu_nodes == tuple(range(8)) == topo.memory_nodes
    assert topo.sockets_of_node[5] == (1,)
    assert topo.distance(0, 1) == 12 and topo.distance(0, 4) == 32 and topo.distance(3, 3) == 10
    assert topo.nearest_nodes(5) == (5, 4, 6, 7, 0, 1, 2, 3)
    assert topo.cores_of_node(7) == tuple(range(112, 128))


def test_memory_only_nodes_devices_and_pool_ranges() -> None:
    host = hosts.with_memory_node(devices=(hosts.nic(1), Device("orphan")))
    topo = Topology.of(host)
    assert topo.cpu_nodes == (0, 1) and topo.memory_nodes == (0, 1, 2)
    assert ("machine",) in topo.graph.predecessors(("numa", 2))
    assert topo.graph.nodes[("numa", 2)]["memory_type"] == "cxl"
    assert topo.graph.nodes[("memory", 2, 32 * GiB)]["size"] == 16 * GiB
    assert topo.device_node == {"eth0": 1, "orphan": None}
    assert ("numa", 1) in topo.graph.predecessors(("device", "eth0"))
    layout = topo.layout()
    assert layout.distance(0, 2) == 30 and layout.device_node["eth0"] == 1
    assert [g.node for g in layout.groups] == [0, 1]


def test_a_node_spanning_sockets_and_cores_without_a_node() -> None:
    # node 0 spans sockets 0 and 1 (fakeTopoMultiSocketDualSocketPerNumaHT-like); CPU 8 is in no node
    host = assemble_host(
        range(9),
        available=range(9),
        numa_cpus={0: range(4), 1: range(4, 8)},
        socket_cpus={0: [0, 1], 1: [2, 3], 2: [4, 5, 6, 7, 8]},
        core_cpus=[(0, 1), (2, 3), (4, 5), (6, 7), (8,)],
        memory=MemoryInventory(GiB, 0, (MemoryRange(0, GiB),)),
    )
    topo = Topology.of(host)
    parents = {u for u, _, d in topo.graph.in_edges(("numa", 0), data=True) if d["kind"] == "contains"}
    assert parents == {("socket", 0), ("socket", 1)}
    assert [(g.node, g.socket, g.cores) for g in topo.groups] == [(0, 0, (0,)), (0, 1, (2,)), (1, 2, (4, 6))]
    assert 8 not in topo.group_of_core
    assert ("machine",) in topo.graph.predecessors(("core", 8))
    assert topo.sockets_of_node == {0: (0, 1), 1: (2,)}


def test_l3_groups_follow_the_cache_list() -> None:
    host = synthetic_host("pack:1 numa:1 l3:2 core:2 pu:2", numbering="adjacent")
    groups = Topology.of(host).groups
    assert [(g.l3, g.cores) for g in groups] == [(0, (0, 2)), (1, (4, 6))]
    no_cache = assemble_host(
        range(4),
        available=range(4),
        core_cpus=[(0, 1), (2, 3)],
        caches=[Cache(9, 2, 1 << 20, (0, 1, 2, 3))],  # an L2: not a core group
        memory=MemoryInventory(GiB, 0, (MemoryRange(0, GiB),)),
    )
    assert [(g.l3, g.cores) for g in Topology.of(no_cache).groups] == [(None, (0, 2))]


def test_the_topology_is_built_once_per_host() -> None:
    host = hosts.single_socket_ht()
    assert Topology.of(host) is Topology.of(host)
    assert Topology.of(hosts.single_socket_ht()) is not Topology.of(host)
