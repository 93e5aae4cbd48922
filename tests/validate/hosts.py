"""Named host fixtures for the validator tests (built from the hardware vocabulary)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kerf.errors import SourceLocation
from planner.hardware import Device, Host, MemoryInventory, MemoryRange, assemble_host

GiB = 1 << 30

ETH0 = Device(
    name="eth0",
    node_name="ethernet@0",
    pci_id="0000:17:00.0",
    vendor_id=0x8086,
    device_id=0x159B,
    numa_node=0,
    sriov_vfs=4,
    host_reserved_vfs=(0,),
    available_vfs=(1, 2, 3),
)
NVME0 = Device(
    name="nvme0",
    node_name="storage@0",
    compatible=("nvme",),
    pci_id="0000:5e:00.0",
    vendor_id=0x144D,
    device_id=0xA80A,
    numa_node=1,
    namespaces=4,
    host_reserved_ns=(1,),
    available_ns=(2, 3, 4),
)
GPU0 = Device(
    name="gpu0", node_name="gpu@0", pci_id="0000:ca:00.0", vendor_id=0x10DE, device_id=0x20B0, numa_node=1
)


def dual_node_smt2(**changes: Any) -> Host:
    """2 NUMA nodes (one socket each), 4 cores of 2 threads per node (Linux numbering:
    the sibling of CPU c is c + 8); CPUs 0 and 8 stay with the host; 8 GiB per node,
    the pool is the top 6 GiB of each node."""
    host = assemble_host(
        range(16),
        available=[c for c in range(16) if c not in (0, 8)],
        host_reserved=[0, 8],
        numa_cpus={0: [0, 1, 2, 3, 8, 9, 10, 11], 1: [4, 5, 6, 7, 12, 13, 14, 15]},
        numa_memory={0: [MemoryRange(0, 8 * GiB)], 1: [MemoryRange(8 * GiB, 8 * GiB)]},
        core_cpus=[(c, c + 8) for c in range(8)],
        distances={(0, 0): 10, (0, 1): 21, (1, 0): 21, (1, 1): 10},
        memory=MemoryInventory(
            16 * GiB, 4 * GiB, (MemoryRange(2 * GiB, 6 * GiB), MemoryRange(10 * GiB, 6 * GiB))
        ),
        devices=[ETH0, NVME0, GPU0],
        declared_total_cpus=16,
    )
    return replace(host, **changes) if changes else host


def at(line: int, col: int = 5) -> SourceLocation:
    """A location in the imaginary file host.dts."""
    return SourceLocation("host.dts", line, col)
