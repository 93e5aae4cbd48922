"""Named topology fixtures for planner tests.

The kubelet CPU-manager fixtures (placement-anchors §6.1) rebuilt with planner.synthetic,
plus a few kerf-specific ones (SMT4, CPU-less memory nodes, devices).
"""

from __future__ import annotations

from planner.hardware import (
    Cache,
    Device,
    Host,
    MemoryInventory,
    MemoryRange,
    assemble_host,
)
from planner.policy import MemoryType
from planner.synthetic import GiB, synthetic_host

MiB = 1 << 20


def single_socket_ht(**kw: object) -> Host:
    """topoSingleSocketHT: 8 CPUs, 1 socket, 4 cores, siblings (i, i+4)."""
    return synthetic_host("pack:1 core:4 pu:2", **kw)  # type: ignore[arg-type]


def dual_socket_ht(**kw: object) -> Host:
    """topoDualSocketHT: 12 CPUs, sockets interleaved (socket 0 = even ids), siblings (c, c+6)."""
    ids = [0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11]
    return synthetic_host("pack:2 core:3 pu:2", numbering=ids, **kw)  # type: ignore[arg-type]


def dual_socket_no_ht(**kw: object) -> Host:
    """topoDualSocketNoHT: 8 CPUs, 2 sockets = 2 nodes, no SMT."""
    return synthetic_host("pack:2 core:4 pu:1", **kw)  # type: ignore[arg-type]


def triple_socket_ht(**kw: object) -> Host:
    """topoTripleSocketHT: 18 CPUs, adjacent siblings, CPUs 0-5 on socket 1, 6-11 on 0, 12-17 on 2."""
    ids = list(range(6, 12)) + list(range(0, 6)) + list(range(12, 18))
    return synthetic_host("pack:3 core:3 pu:2", numbering=ids, **kw)  # type: ignore[arg-type]


def dual_socket_multi_numa_ht(**kw: object) -> Host:
    """topoDualSocketMultiNumaPerSocketHT (dual Xeon Gold 6230, SNC2): 80 CPUs, 4 nodes."""
    return synthetic_host("pack:2 numa:2 core:10 pu:2", **kw)  # type: ignore[arg-type]


def epyc_large(**kw: object) -> Host:
    """topoDualSocketMultiNumaPerSocketHTLarge (dual EPYC 7742, NPS4) with CCXs of 4 cores."""
    return synthetic_host("pack:2 numa:4 l3:4 core:4 pu:2", **kw)  # type: ignore[arg-type]


def uncore_single_socket_smt(**kw: object) -> Host:
    """topoUncoreSingleSocketSMT: 16 CPUs, 2 L3 groups of 4 cores."""
    return synthetic_host("pack:1 l3:2 core:4 pu:2", **kw)  # type: ignore[arg-type]


def uncore_single_socket_multi_numa(**kw: object) -> Host:
    """topoUncoreSingleSocketMultiNuma: 16 CPUs, no SMT, 2 nodes of 2 L3 groups."""
    return synthetic_host("pack:1 numa:2 l3:2 core:4 pu:1", **kw)  # type: ignore[arg-type]


def smt4(**kw: object) -> Host:
    """A small SMT4 part: 2 nodes of 2 cores with 4 threads each (adjacent ids)."""
    return synthetic_host("pack:1 numa:2 core:2 pu:4", numbering="adjacent", **kw)  # type: ignore[arg-type]


def with_memory_node(devices: tuple[Device, ...] = ()) -> Host:
    """2 CPU nodes of 4 CPUs (SMT2) plus node 2: 16 GiB of CXL memory and no CPUs."""
    node_mem = {n: [MemoryRange(n * 16 * GiB, 16 * GiB)] for n in range(3)}
    pool = (MemoryRange(4 * GiB, 12 * GiB), MemoryRange(20 * GiB, 12 * GiB), MemoryRange(32 * GiB, 16 * GiB))
    far = {(a, b): 20 if 2 not in (a, b) else 30 for a in range(3) for b in range(3)}
    distances = {(a, b): 10 if a == b else far[(a, b)] for a in range(3) for b in range(3)}
    return assemble_host(
        range(8),
        available=range(8),
        numa_cpus={0: [0, 1, 2, 3], 1: [4, 5, 6, 7]},
        numa_memory=node_mem,
        numa_types={2: MemoryType.CXL},
        core_cpus=[(0, 1), (2, 3), (4, 5), (6, 7)],
        caches=[Cache(0, 3, 32 * MiB, (0, 1, 2, 3)), Cache(1, 3, 32 * MiB, (4, 5, 6, 7))],
        distances=distances,
        memory=MemoryInventory(48 * GiB, 8 * GiB, pool),
        devices=devices,
        model="two nodes plus CXL",
    )


def nic(node: int, vfs: int = 4, name: str = "eth0") -> Device:
    """An SR-IOV NIC on a NUMA node with every VF available."""
    return Device(name, pci_id="0000:3b:00.0", numa_node=node, sriov_vfs=vfs, available_vfs=tuple(range(vfs)))


def gpu(node: int, name: str = "gpu0") -> Device:
    """A whole device on a NUMA node."""
    return Device(name, pci_id="0000:af:00.0", numa_node=node)
