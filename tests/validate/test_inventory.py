"""Rules on the host itself, one test per finding code (code, severity, subject, location, message)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from kerf.errors import SourceLocation
from kerf.validate import Finding, Report, Severity, validate_host
from planner.hardware import Cache, Host, MemoryInventory, MemoryRange, NumaNode, Socket, assemble_host
from tests.validate.hosts import ETH0, GPU0, NVME0, GiB, at, dual_node_smt2

LOCATIONS = {
    "/resources/cpus": at(3),
    "/resources/cpus:total": at(4),
    "/resources/cpus:host-reserved": at(5),
    "/resources/cpus:available": at(6),
    "/resources/memory": at(10),
    "/resources/memory:total-bytes": at(11),
    "/resources/memory:host-reserved-bytes": at(12),
    "/resources/memory:memory-pool-ranges": at(13),
    "/resources/devices": at(20),
    "/resources/devices/ethernet@0": at(21),
    "/resources/devices/ethernet@0:available-vfs": at(22),
    "/resources/devices/ethernet@0:host-reserved-vf": at(23),
    "/resources/devices/ethernet@0:pci-id": at(24),
    "/resources/devices/ethernet@0:numa-node": at(25),
    "/resources/devices/storage@0:available-ns": at(26),
    "/resources/topology/numa-nodes": at(30),
    "/resources/topology/numa-nodes/node@1": at(31),
    "/resources/topology/numa-nodes/node@1:cpus": at(32),
    "/resources/topology/numa-nodes/node@1:memory-base": at(33),
    "/resources/topology/sockets": at(40),
    "/resources/cpus/cores": at(41),
    "/resources/topology/caches": at(42),
    "/resources/topology/distance-map:distance-matrix": at(45),
}


def only(report: Report, code: str) -> Finding:
    """The single finding with that code (and fail with the whole report otherwise)."""
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, report.findings
    return found[0]


def test_the_fixture_host_is_clean() -> None:
    assert validate_host(dual_node_smt2()).findings == ()


def _memory(total: int = 16 * GiB, reserved: int = 4 * GiB, *pool: MemoryRange) -> MemoryInventory:
    return MemoryInventory(
        total, reserved, pool or (MemoryRange(2 * GiB, 6 * GiB), MemoryRange(10 * GiB, 6 * GiB))
    )


def _nodes(host: Host, **cpus: tuple[int, ...]) -> Host:
    nodes = tuple(replace(n, cpus=cpus.get(f"n{n.id}", n.cpus)) for n in host.numa_nodes)
    return replace(host, numa_nodes=nodes)


CASES: list[tuple[str, Callable[[], Host], Severity, str, SourceLocation | None, str]] = [
    (
        "cpu-inventory-empty",
        lambda: assemble_host([], available=[], memory=_memory(), declared_total_cpus=0),
        Severity.ERROR,
        "/resources/cpus",
        at(4),
        "The host describes no CPUs",
    ),
    (
        "cpu-total-mismatch",
        lambda: dual_node_smt2(declared_total_cpus=40),
        Severity.WARNING,
        "/resources/cpus",
        at(4),
        "total is 40, but 'ids' lists 16 CPUs (highest id 15)",
    ),
    (
        "cpu-not-in-inventory",
        lambda: dual_node_smt2(available=frozenset({1, 2, 20, 21})),
        Severity.ERROR,
        "/resources/cpus",
        at(6),
        "'available' lists CPUs 20, 21, which the host does not have (its CPUs: 0-15)",
    ),
    (
        "cpu-reserved-and-available",
        lambda: dual_node_smt2(available=frozenset(range(16))),
        Severity.ERROR,
        "/resources/cpus",
        at(6),
        "CPUs 0, 8 are both host-reserved and available",
    ),
    (
        "cpu-pool-empty",
        lambda: dual_node_smt2(available=frozenset()),
        Severity.ERROR,
        "/resources/cpus",
        at(6),
        "No CPU is available for instances (the pool is empty)",
    ),
    (
        "cpu-offline",
        lambda: dual_node_smt2(available=frozenset(range(1, 8)) | frozenset(range(9, 14))),
        Severity.INFO,
        "/resources/cpus",
        at(6),
        "CPUs 14, 15 are neither host-reserved nor available: offline or kept aside",
    ),
    (
        "memory-total-invalid",
        lambda: dual_node_smt2(memory=_memory(0, 0)),
        Severity.ERROR,
        "/resources/memory",
        at(11),
        "total-bytes is 0",
    ),
    (
        "memory-pool-empty",
        lambda: dual_node_smt2(memory=MemoryInventory(16 * GiB, 4 * GiB, ())),
        Severity.ERROR,
        "/resources/memory",
        at(13),
        "The memory pool is empty: instances have no memory to draw from",
    ),
    (
        "memory-pool-unaligned",
        lambda: dual_node_smt2(memory=_memory(16 * GiB, 4 * GiB, MemoryRange(2 * GiB + 0x10, 0x100000))),
        Severity.ERROR,
        "/resources/memory",
        at(13),
        "pool range base 0x80000010 size 0x100000 is not 4 KiB-aligned",
    ),
    (
        "memory-pool-overlap",
        lambda: dual_node_smt2(
            memory=_memory(16 * GiB, 4 * GiB, MemoryRange(2 * GiB, 2 * GiB), MemoryRange(3 * GiB, 2 * GiB))
        ),
        Severity.ERROR,
        "/resources/memory",
        at(13),
        "pool ranges 0x80000000-0xffffffff and 0xc0000000-0x13fffffff overlap",
    ),
    (
        "memory-overcommitted",
        lambda: dual_node_smt2(memory=_memory(16 * GiB, 8 * GiB)),
        Severity.ERROR,
        "/resources/memory",
        at(12),
        "host-reserved-bytes (8 GiB) plus the pool (12 GiB) exceed total-bytes (16 GiB)",
    ),
    (
        "numa-cpu-unknown",
        lambda: _nodes(dual_node_smt2(), n1=(4, 5, 6, 7, 12, 13, 14, 15, 99)),
        Severity.ERROR,
        "numa node 1",
        at(32),
        "NUMA node 1 lists CPU 99, which the host does not have",
    ),
    (
        "numa-cpu-overlap",
        lambda: _nodes(dual_node_smt2(), n1=(3, 4, 5, 6, 7, 12, 13, 14, 15)),
        Severity.ERROR,
        "numa node 1",
        at(32),
        "CPU 3 is in NUMA nodes 0 and 1",
    ),
    (
        "numa-cpu-missing",
        lambda: assemble_host(
            range(4),
            available=[1, 2, 3],
            host_reserved=[0],
            numa_cpus={0: [0, 1]},
            memory=_memory(),
        ),
        Severity.ERROR,
        "/resources/cpus",
        at(30),
        "pool CPUs 2, 3 are in no NUMA node",
    ),
    (
        "numa-memory-overlap",
        lambda: replace(
            dual_node_smt2(),
            numa_nodes=(
                NumaNode(0, (0, 1, 2, 3, 8, 9, 10, 11), (MemoryRange(0, 9 * GiB),)),
                NumaNode(1, (4, 5, 6, 7, 12, 13, 14, 15), (MemoryRange(8 * GiB, 8 * GiB),)),
            ),
        ),
        Severity.ERROR,
        "numa node 1",
        at(33),
        "memory 0x0-0x23fffffff of NUMA node 0 overlaps memory 0x200000000-0x3ffffffff of NUMA node 1",
    ),
    (
        "numa-memory-exceeds-total",
        lambda: dual_node_smt2(memory=_memory(14 * GiB, 2 * GiB)),
        Severity.WARNING,
        "/resources/memory",
        at(11),
        "the NUMA nodes hold 16 GiB of memory, more than total-bytes (14 GiB)",
    ),
    (
        "memory-pool-outside-numa",
        lambda: dual_node_smt2(memory=_memory(32 * GiB, 4 * GiB, MemoryRange(14 * GiB, 4 * GiB))),
        Severity.ERROR,
        "/resources/memory",
        at(13),
        "pool range 0x380000000-0x47fffffff is not inside the memory of any NUMA node "
        "(0x400000000-0x47fffffff is not)",
    ),
    (
        "topology-cpu-unknown",
        lambda: dual_node_smt2(caches=(Cache(0, 3, 32 << 20, (0, 1, 2, 3, 77)),)),
        Severity.ERROR,
        "L3 cache 0",
        at(42),
        "L3 cache 0 lists CPU 77, which the host does not have",
    ),
    (
        "topology-cpu-overlap",
        lambda: dual_node_smt2(sockets=(Socket(0, (0, 1, 2, 3, 4)), Socket(1, (4, 5, 6, 7)))),
        Severity.ERROR,
        "socket 1",
        at(40),
        "CPU 4 is in both socket 0 and socket 1",
    ),
    (
        "distance-unknown-node",
        lambda: dual_node_smt2(distances={(0, 0): 10, (0, 1): 21, (1, 0): 21, (1, 1): 10, (0, 5): 30}),
        Severity.ERROR,
        "distance map",
        at(45),
        "the distance map names NUMA node 5, which the topology does not describe",
    ),
    (
        "distance-diagonal",
        lambda: dual_node_smt2(distances={(0, 0): 10, (0, 1): 21, (1, 0): 21, (1, 1): 11}),
        Severity.ERROR,
        "distance map",
        at(45),
        "the distance of NUMA node 1 to itself is 11, not 10",
    ),
    (
        "distance-below-local",
        lambda: dual_node_smt2(distances={(0, 0): 10, (0, 1): 5, (1, 0): 5, (1, 1): 10}),
        Severity.ERROR,
        "distance map",
        at(45),
        "the distance from NUMA node 0 to node 1 is 5, below the local distance 10",
    ),
    (
        "distance-missing",
        lambda: dual_node_smt2(distances={(0, 0): 10, (1, 1): 10}),
        Severity.WARNING,
        "distance map",
        at(45),
        "the distance map has no distance for node pairs 0-1; 20 is assumed",
    ),
    (
        "distance-asymmetric",
        lambda: dual_node_smt2(distances={(0, 0): 10, (0, 1): 21, (1, 0): 31, (1, 1): 10}),
        Severity.WARNING,
        "distance map",
        at(45),
        "the distance from NUMA node 0 to 1 is 21, but from 1 to 0 it is 31",
    ),
    (
        "device-duplicate-name",
        lambda: dual_node_smt2(devices=(ETH0, NVME0, GPU0, replace(GPU0, node_name="gpu@1"))),
        Severity.ERROR,
        "device gpu0",
        at(20),
        "2 devices are named gpu0",
    ),
    (
        "device-pci-id-format",
        lambda: dual_node_smt2(devices=(replace(ETH0, pci_id="17:00.0"), NVME0, GPU0)),
        Severity.ERROR,
        "device eth0",
        at(24),
        'device eth0: pci-id "17:00.0" is not of the form DDDD:BB:SS.F',
    ),
    (
        "device-pci-incomplete",
        lambda: dual_node_smt2(devices=(replace(ETH0, vendor_id=None, device_id=None), NVME0, GPU0)),
        Severity.WARNING,
        "device eth0",
        at(21),
        "device eth0 has no vendor-id, device-id: the kernel needs them to take a PCI device",
    ),
    (
        "device-vf-device-id-missing",
        lambda: dual_node_smt2(
            devices=(
                replace(ETH0, vf_pci_ids={0: "0000:17:01.0", 1: "0000:17:01.1", 2: "0000:17:01.2"}),
                NVME0,
                GPU0,
            )
        ),
        Severity.WARNING,
        "device eth0",
        at(21),
        "device eth0: VFs 1, 2 have a pci-id but no PCI device id; the kernel needs it to take a VF, "
        "so kerf keeps them from the kernel",
    ),
    (
        "device-numa-unknown",
        lambda: dual_node_smt2(devices=(replace(ETH0, numa_node=3), NVME0, GPU0)),
        Severity.ERROR,
        "device eth0",
        at(25),
        "device eth0 is on NUMA node 3, which the topology does not describe",
    ),
    (
        "device-vf-range",
        lambda: dual_node_smt2(devices=(replace(ETH0, available_vfs=(1, 2, 3, 4)), NVME0, GPU0)),
        Severity.ERROR,
        "device eth0",
        at(22),
        "device eth0: 'available-vfs' lists VF 4, out of range",
    ),
    (
        "device-ns-range",
        lambda: dual_node_smt2(devices=(ETH0, replace(NVME0, available_ns=(0, 2, 3)), GPU0)),
        Severity.ERROR,
        "device nvme0",
        at(26),
        "device nvme0: 'available-ns' lists namespace 0, out of range",
    ),
    (
        "device-reserved-and-available",
        lambda: dual_node_smt2(devices=(replace(ETH0, available_vfs=(0, 1, 2, 3)), NVME0, GPU0)),
        Severity.ERROR,
        "device eth0",
        at(22),
        "device eth0: VF 0 is both host-reserved and available",
    ),
]


@pytest.mark.parametrize(
    ("code", "make", "severity", "subject", "location", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_inventory_rule(
    code: str,
    make: Callable[[], Host],
    severity: Severity,
    subject: str,
    location: SourceLocation | None,
    message: str,
) -> None:
    finding = only(validate_host(make(), locations=LOCATIONS), code)
    assert finding.severity is severity
    assert finding.subject == subject
    assert finding.location == location
    assert finding.message == message
    assert finding.hint


def test_ranges_hint_names_the_limit() -> None:
    host = dual_node_smt2(devices=(replace(ETH0, available_vfs=(1, 9)), NVME0, GPU0))
    finding = only(validate_host(host), "device-vf-range")
    assert finding.hint == "sriov-vfs = <4>: VFs are numbered 0-3"
    assert finding.location is None  # no locations given: findings are still complete


def test_vf_device_id_warning_counts_only_available_vfs_without_an_id() -> None:
    """VF 0 is the host's; VF 2 has its own device-id; VF 3 has no pci-id (nothing to hand
    over): only VF 1 lacks what the kernel needs."""
    eth0 = replace(
        ETH0, vf_pci_ids={0: "0000:17:01.0", 1: "0000:17:01.1", 2: "0000:17:01.2"}, vf_device_ids={2: 0x1889}
    )
    finding = only(validate_host(dual_node_smt2(devices=(eth0, NVME0, GPU0))), "device-vf-device-id-missing")
    assert finding.message.startswith("device eth0: VF 1 has a pci-id but no PCI device id;")
    assert "vf-device-id = <0x...>;" in (finding.hint or "")


def test_a_shared_vf_device_id_or_no_vf_addresses_is_clean() -> None:
    with_id = replace(ETH0, vf_pci_ids={1: "0000:17:01.1", 2: "0000:17:01.2"}, vf_device_id=0x1889)
    assert validate_host(dual_node_smt2(devices=(with_id, NVME0, GPU0))).findings == ()
    assert validate_host(dual_node_smt2(devices=(ETH0, NVME0, GPU0))).findings == ()


def test_distance_map_may_be_absent() -> None:
    host = dual_node_smt2(distances={})
    assert validate_host(host).findings == ()


def test_sparse_ids_with_total_as_count_or_highest_plus_one() -> None:
    for total in (4, 7):
        host = assemble_host(
            [0, 2, 4, 6], available=[2, 4, 6], host_reserved=[0], memory=_memory(), declared_total_cpus=total
        )
        assert "cpu-total-mismatch" not in validate_host(host).codes


def test_a_memory_only_numa_node_is_fine() -> None:
    host = dual_node_smt2()
    cxl = NumaNode(2, (), (MemoryRange(16 * GiB, 4 * GiB),))
    host = replace(
        host,
        numa_nodes=(*host.numa_nodes, cxl),
        memory=_memory(20 * GiB, 4 * GiB, MemoryRange(2 * GiB, 6 * GiB), MemoryRange(16 * GiB, 4 * GiB)),
        distances={},
    )
    assert validate_host(host).findings == ()
