"""Named overlay batches used by the golden and the packing tests.

Values follow the test machine of tests/kernel/simhost.py (two NUMA nodes, node 1 from
16 GiB), but nothing here needs a kernel: the batches are pure operation lists.
"""

from __future__ import annotations

from kerf.overlay import (
    CpuItem,
    InstanceCreate,
    InstanceRemove,
    ItemOperation,
    Kind,
    MemoryItem,
    Operation,
    PciItem,
    instance_target,
)

GiB = 1 << 30
TAG = "kerf-golden"


def create_small() -> list[Operation]:
    """A create on node 0 with a second node's memory and a VF, as kerf create writes it."""
    web = instance_target("web")
    return [
        InstanceCreate("web", 4 * GiB, (CpuItem(1, 0), CpuItem(9, 0), CpuItem(2, 0)), 3, 0),
        ItemOperation(web, Kind.MEMORY_ADD, (MemoryItem(2 * GiB, 0x400000000, 1),)),
        ItemOperation(web, Kind.DEVICE_ADD, (PciItem("0000:09:10.0"),)),
    ]


def create_split(cpus: int = 465) -> list[Operation]:
    """A create with more CPUs than one page holds: the rest (two) follow as single cpu-adds."""
    return [InstanceCreate("big", GiB, tuple(CpuItem(c, c // 256) for c in range(cpus)), None, 0)]


def update_delta() -> list[Operation]:
    """Every kind of change to one instance, in the kernel's order."""
    db = instance_target("db")
    return [
        ItemOperation(db, Kind.MEMORY_REMOVE, (MemoryItem(GiB, 0x440000000, 1),)),
        ItemOperation(db, Kind.MEMORY_ADD, (MemoryItem(2 * GiB, 0x100000000, 0),)),
        ItemOperation(db, Kind.CPU_REMOVE, (CpuItem(6, 1), CpuItem(14, 1))),
        ItemOperation(db, Kind.CPU_ADD, (CpuItem(3, 0),)),
        ItemOperation(db, Kind.DEVICE_REMOVE, (PciItem("0000:0a:00.0"),)),
        ItemOperation(db, Kind.DEVICE_ADD, (PciItem("0000:09:10.1"),)),
    ]


def delete() -> list[Operation]:
    """Removing an instance."""
    return [InstanceRemove("db")]


def device_handover() -> list[Operation]:
    """A device moved from one instance to another: removed, then added (two transactions)."""
    return [
        ItemOperation(instance_target("db"), Kind.DEVICE_REMOVE, (PciItem("0000:0a:00.0"),)),
        ItemOperation(instance_target("web"), Kind.DEVICE_ADD, (PciItem("0000:0a:00.0"),)),
    ]


CASES = {
    "create_small": create_small,
    "create_split": create_split,
    "update_delta": update_delta,
    "delete": delete,
    "device_handover": device_handover,
}
