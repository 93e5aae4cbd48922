"""The hardware vocabulary: ranges, lookups, pool shares, defaults of assemble_host."""

from __future__ import annotations

import pytest

from planner.hardware import (
    Device,
    MemoryInventory,
    MemoryRange,
    assemble_host,
)
from planner.policy import MemoryType

GiB = 1 << 30


def test_memory_range_relations() -> None:
    a = MemoryRange(0x1000, 0x2000)
    assert a.end == 0x3000
    assert a.contains(MemoryRange(0x1000, 0x1000))
    assert not a.contains(MemoryRange(0x2000, 0x2000))
    assert a.overlaps(MemoryRange(0x2FFF, 1))
    assert not a.overlaps(MemoryRange(0x3000, 1))
    assert a.intersection(MemoryRange(0x2000, 0x8000)) == MemoryRange(0x2000, 0x1000)
    assert a.intersection(MemoryRange(0x3000, 0x10)) is None
    assert str(a) == "0x1000-0x2fff"


def test_assemble_host_without_topology_is_one_node_one_socket_no_smt() -> None:
    host = assemble_host(
        range(4),
        available=[2, 3],
        host_reserved=[0, 1],
        memory=MemoryInventory(8 * GiB, 2 * GiB, (MemoryRange(2 * GiB, 6 * GiB),)),
    )
    assert [n.id for n in host.numa_nodes] == [0]
    assert host.numa_nodes[0].cpus == (0, 1, 2, 3)
    assert [s.cpus for s in host.sockets] == [(0, 1, 2, 3)]
    assert [c.cpus for c in host.cores] == [(0,), (1,), (2,), (3,)]
    # No node memory ranges on a single-node host: the whole pool belongs to node 0.
    assert host.pool_by_node == {0: (MemoryRange(2 * GiB, 6 * GiB),)}
    assert host.pool_bytes_of_node(0) == 6 * GiB
    assert host.distance(0, 0) == 10
    assert host.node_of_address(0x1234) == 0


def test_assemble_host_core_ids_are_lowest_sibling_and_defaults_sockets_per_node() -> None:
    host = assemble_host(
        range(8),
        available=range(8),
        numa_cpus={0: [0, 1, 4, 5], 1: [2, 3, 6, 7]},
        numa_memory={0: [MemoryRange(0, 4 * GiB)], 1: [MemoryRange(4 * GiB, 4 * GiB)]},
        numa_types={1: MemoryType.HBM},
        core_cpus=[[4, 0], [1, 5], [2, 6], [3, 7]],
        distances={(0, 1): 21, (1, 0): 21},
        memory=MemoryInventory(8 * GiB, 0, (MemoryRange(3 * GiB, 2 * GiB),)),
    )
    assert [c.id for c in host.cores] == [0, 1, 2, 3]
    assert host.core_by_id[0].cpus == (0, 4)
    assert host.cpu_by_id[6].core == 2 and host.cpu_by_id[6].numa_node == 1
    assert [s.id for s in host.sockets] == [0, 1] and host.cpu_by_id[7].socket == 1
    assert host.node_by_id[1].memory_type is MemoryType.HBM
    assert host.distance(0, 1) == 21 and host.distance(1, 1) == 10
    # The pool range straddles both nodes: each node gets its part.
    assert host.pool_by_node == {0: (MemoryRange(3 * GiB, GiB),), 1: (MemoryRange(4 * GiB, GiB),)}
    assert host.node_of_address(5 * GiB) == 1
    assert host.node_of_address(9 * GiB) is None
    assert host.pool_cpus_of_node(1) == (2, 3, 6, 7)


def test_cpu_without_node_keeps_none_for_the_validator() -> None:
    host = assemble_host(
        range(3),
        available=range(3),
        numa_cpus={0: [0, 1]},
        memory=MemoryInventory(GiB, 0, ()),
    )
    assert host.cpu_by_id[2].numa_node is None
    assert 2 in host.sockets[0].cpus


@pytest.mark.parametrize(
    ("device", "labels"),
    [
        (Device("eth0", sriov_vfs=4, available_vfs=(1, 2)), ["eth0_vf1", "eth0_vf2"]),
        (Device("nvme0", namespaces=3, available_ns=(2, 3)), ["nvme0_ns2", "nvme0_ns3"]),
        (Device("gpu0"), ["gpu0"]),
    ],
)
def test_device_units_use_derived_labels(device: Device, labels: list[str]) -> None:
    assert [u.label for u in device.units()] == labels


def test_unit_lookup_covers_every_device() -> None:
    host = assemble_host(
        range(2),
        available=range(2),
        memory=MemoryInventory(GiB, 0, ()),
        devices=[Device("eth0", sriov_vfs=2, available_vfs=(0, 1), numa_node=0), Device("gpu0")],
    )
    assert sorted(host.unit_by_label) == ["eth0_vf0", "eth0_vf1", "gpu0"]
    assert host.unit_by_label["eth0_vf1"].index == 1
    assert host.device_by_name["gpu0"].kind == "whole"


def test_empty_ranges_overlap_nothing() -> None:
    assert not MemoryRange(0x1000, 0).overlaps(MemoryRange(0, 0x4000))
    assert not MemoryRange(0, 0x4000).overlaps(MemoryRange(0x1000, 0))


def test_memory_only_node_gets_no_socket() -> None:
    host = assemble_host(
        range(2),
        available=range(2),
        numa_cpus={0: [0, 1], 1: []},
        numa_memory={0: [MemoryRange(0, GiB)], 1: [MemoryRange(GiB, GiB)]},
        memory=MemoryInventory(2 * GiB, 0, ()),
    )
    assert [s.id for s in host.sockets] == [0]
    assert [n.id for n in host.numa_nodes] == [0, 1]
