"""/resources/topology: NUMA nodes, sockets, distance map (current and legacy), caches, defaults."""

from __future__ import annotations

from planner.hardware import Cache, MemoryRange
from planner.policy import MemoryType
from tests.binding.util import fails, host_text, loc, read, remarks

GiB = 1 << 30
CPUS4 = "total = <4>; host-reserved = <0>; available = <1 2 3>;"
MEM = "total-bytes = <0x2 0x0>; memory-pool-base = <0x0 0x40000000>; memory-pool-bytes = <0x1 0xc0000000>;"
NODES = """\t\t\tnuma-nodes {
\t\t\t\tnode@0 { node-id = <0>; memory-base = <0x0 0x0>; memory-size = <0x1 0x0>; cpus = <0 1>; };
\t\t\t\tnode@1 { memory-base = <0x1 0x0>; memory-size = <0x1 0x0>; memory-type = "hbm"; cpus = <2 3>; };
\t\t\t\tnode@2 { node-id = <2>; memory-type = "cxl";
\t\t\t\t\tmemory-ranges = /bits/ 64 <0x200000000 0x1000 0x300000000 0x2000>; };
\t\t\t};"""


def topo(body: str) -> str:
    return host_text(cpus=CPUS4, memory=MEM, topology=body)


def test_numa_nodes() -> None:
    host = read(topo(NODES)).host
    assert host.node_ids == (0, 1, 2)
    n0, n1, n2 = host.numa_nodes
    assert (n0.cpus, n0.memory, n0.memory_type) == ((0, 1), (MemoryRange(0, 4 * GiB),), MemoryType.DRAM)
    assert (n1.cpus, n1.memory_type) == ((2, 3), MemoryType.HBM)  # node-id from the unit address
    assert (n2.cpus, n2.memory_type) == ((), MemoryType.CXL)
    assert n2.memory == (MemoryRange(0x200000000, 0x1000), MemoryRange(0x300000000, 0x2000))
    # no sockets: one per NUMA node that has CPUs
    assert [(s.id, s.cpus) for s in host.sockets] == [(0, (0, 1)), (1, (2, 3))]


def test_no_distance_map_with_several_nodes_is_noted() -> None:
    text = topo(NODES)
    desc = read(text)
    assert desc.host.distances == {}
    assert desc.host.distance(0, 1) == 20
    (remark,) = remarks(desc, "distance-default")
    assert remark.location == loc(text, "topology {")


def test_no_topology_means_one_node_with_everything() -> None:
    host = read(host_text(cpus=CPUS4, memory=MEM)).host
    (node,) = host.numa_nodes
    assert node.cpus == (0, 1, 2, 3)
    assert host.pool_bytes_of_node(0) == host.memory.pool_bytes


def test_sockets() -> None:
    host = read(topo(NODES + "\n\t\t\tsockets { socket@0 { cpus = <0 1 2 3>; }; };")).host
    assert [(s.id, s.cpus) for s in host.sockets] == [(0, (0, 1, 2, 3))]
    assert {c.socket for c in host.cpus} == {0}


def test_distance_map_mirrors_the_upper_triangle_like_linux() -> None:
    body = (
        NODES
        + "\n\t\t\tdistance-map { distance-matrix = <0 0 10>, <0 1 12>, <1 1 10>, <0 2 30>, <2 0 31>; };"
    )
    host = read(topo(body)).host
    assert host.distance(1, 0) == 12
    assert (host.distance(0, 2), host.distance(2, 0)) == (30, 31)


def test_zero_diagonal_is_read_as_10_with_a_warning() -> None:
    text = topo(NODES + "\n\t\t\tdistance-map { distance-matrix = <0 0 0>, <0 1 21>, <1 1 0>; };")
    desc = read(text)
    assert desc.host.distance(0, 0) == 10
    (remark,) = remarks(desc, "distance-zero-diagonal")
    assert remark.location == loc(text, "distance-matrix")
    assert remark.message == "the distance of NUMA nodes 0, 1 to themselves is written as 0; read as 10"


def test_legacy_flat_matrix_in_a_numa_node() -> None:
    body = """\t\t\tnuma-nodes {
\t\t\t\tnode@0 { node-id = <0>; cpus = <0 1>; distance-matrix = <0 21 21 0>; };
\t\t\t\tnode@1 { node-id = <1>; cpus = <2 3>; };
\t\t\t};"""
    text = topo(body)
    desc = read(text)
    assert desc.host.distances == {(0, 0): 10, (0, 1): 21, (1, 0): 21, (1, 1): 10}
    assert remarks(desc, "distance-legacy-matrix")[0].location == loc(text, "distance-matrix")
    assert remarks(desc, "distance-zero-diagonal")


def test_legacy_matrix_of_the_wrong_size() -> None:
    body = "\t\t\tnuma-nodes { node@0 { cpus = <0 1 2 3>; distance-matrix = <10 20>; }; };"
    text = topo(body)
    err = fails(text)
    assert err.location == loc(text, "distance-matrix")
    assert err.message == (
        "/resources/topology/numa-nodes/node@0: the flat 'distance-matrix' should have 1 x 1 = 1 numbers "
        "(one row per NUMA node), but it has 2"
    )


def test_distance_map_needs_triples() -> None:
    text = topo(NODES + "\n\t\t\tdistance-map { distance-matrix = <0 1>; };")
    err = fails(text)
    assert "should hold <from to distance> triples, but it has 2 numbers" in err.message


def test_caches() -> None:
    body = (
        NODES
        + "\n\t\t\tcaches { l3@0 { level = <3>; size = <0x2000000>; cpus = <0 1>; }; l2@5 { cpus = <2>; }; };"
    )
    host = read(topo(body)).host
    assert host.caches == (Cache(0, 3, 32 << 20, (0, 1)), Cache(5, 2, 0, (2,)))
    assert host.cpu_by_id[1].l3 == 0


def test_numa_node_needs_a_number() -> None:
    text = topo("\t\t\tnuma-nodes { west { cpus = <0>; }; };")
    err = fails(text)
    assert err.location == loc(text, "west")
    assert "a NUMA node needs a number" in err.message


def test_duplicate_node_ids() -> None:
    text = topo("\t\t\tnuma-nodes { node@0 { cpus = <0>; }; other { node-id = <0>; cpus = <1>; }; };")
    err = fails(text)
    assert err.location == loc(text, "node-id")
    assert err.message == (
        "/resources/topology/numa-nodes/other: NUMA node 0 is already described by "
        "/resources/topology/numa-nodes/node@0"
    )


def test_half_a_memory_range() -> None:
    text = topo("\t\t\tnuma-nodes { node@0 { memory-base = <0x0>; cpus = <0 1 2 3>; }; };")
    err = fails(text)
    assert (
        err.message
        == "/resources/topology/numa-nodes/node@0: 'memory-base' is given but 'memory-size' is missing"
    )


def test_unknown_memory_type_lists_the_allowed_ones() -> None:
    text = topo('\t\t\tnuma-nodes { node@0 { memory-type = "sram"; cpus = <0 1 2 3>; }; };')
    err = fails(text)
    assert err.location == loc(text, "memory-type")
    assert err.message == (
        "/resources/topology/numa-nodes/node@0: property 'memory-type' is \"sram\", which is not one of "
        '"dram", "hbm", "cxl"'
    )


def test_numa_locations_have_canonical_paths() -> None:
    text = topo("\t\t\tnuma-nodes { west { node-id = <1>; cpus = <0 1 2 3>; }; };")
    locations = read(text).locations
    assert locations["/resources/topology/numa-nodes/node@1"] == loc(text, "west")
    assert locations["/resources/topology/numa-nodes/node@1:cpus"] == loc(text, "cpus", 2)
