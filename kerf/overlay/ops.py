"""The operations of a generation-C overlay, as plain values.

An operation is what one operation node of a fragment does (kernel-interface reference
§3.1-§3.2): ``instance-create`` and ``instance-remove`` act on ``/instances``; the item
operations (``memory-add``/``-remove``, ``cpu-add``/``-remove``, ``device-add``/``-remove``)
act on an instance (``/instances/<name>``) or on the pool (``/resources``). kerf plans
changes as a list of these in the order they must happen; :mod:`kerf.overlay.build` packs
them into transactions and :mod:`kerf.overlay.parse` reads them back from a blob.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from planner.hardware import MemoryRange

INSTANCES = "/instances"
RESOURCES = "/resources"


def instance_target(name: str) -> str:
    """The ``target-path`` of an existing instance."""
    return f"{INSTANCES}/{name}"


class Kind(StrEnum):
    """Operation node names."""

    CREATE = "instance-create"
    MEMORY_REMOVE = "memory-remove"
    MEMORY_ADD = "memory-add"
    CPU_REMOVE = "cpu-remove"
    CPU_ADD = "cpu-add"
    DEVICE_REMOVE = "device-remove"
    DEVICE_ADD = "device-add"
    REMOVE = "instance-remove"


# The order in which the kernel runs the operations of one fragment, whatever their order
# in the blob (reference §3.4). In the pool, CPUs and devices leave before memory because
# the x86 park area of the pool CPUs lives in pool memory.
INSTANCE_ORDER: tuple[Kind, ...] = (
    Kind.CREATE,
    Kind.MEMORY_REMOVE,
    Kind.MEMORY_ADD,
    Kind.CPU_REMOVE,
    Kind.CPU_ADD,
    Kind.DEVICE_REMOVE,
    Kind.DEVICE_ADD,
    Kind.REMOVE,
)
POOL_ORDER: tuple[Kind, ...] = (
    Kind.CREATE,
    Kind.CPU_REMOVE,
    Kind.DEVICE_REMOVE,
    Kind.MEMORY_REMOVE,
    Kind.MEMORY_ADD,
    Kind.CPU_ADD,
    Kind.DEVICE_ADD,
    Kind.REMOVE,
)
ITEM_KINDS = frozenset(INSTANCE_ORDER[1:-1])


def kernel_rank(target: str, kind: Kind) -> int:
    """Position of ``kind`` in the kernel's run order for a fragment targeting ``target``."""
    order = POOL_ORDER if target == RESOURCES else INSTANCE_ORDER
    return order.index(kind)


@dataclass(frozen=True)
class CpuItem:
    """``cpu@N { reg = <u64 id>; numa-node-id; }``."""

    cpu: int
    numa_node: int | None = None


@dataclass(frozen=True)
class MemoryItem:
    """``memory@N``: an instance region ``reg = <base size>`` (with ``numa-node-id``), or for
    the pool a chunk request ``size`` (+ node) when growing and ``reg`` when shrinking."""

    size: int
    base: int | None = None
    numa_node: int | None = None

    def __str__(self) -> str:
        where = f" on node {self.numa_node}" if self.numa_node is not None else ""
        if self.base is None:
            return f"{_size(self.size)}{where}"
        return f"{MemoryRange(self.base, self.size)} ({_size(self.size)}){where}"


@dataclass(frozen=True)
class PciItem:
    """``pci@N { pci-id = "DDDD:BB:SS.F"; }`` (optional ``alias`` for the pool)."""

    pci_id: str
    alias: str | None = None


Item = CpuItem | MemoryItem | PciItem
_ITEM_TYPE: dict[str, type[CpuItem] | type[MemoryItem] | type[PciItem]] = {
    "memory": MemoryItem,
    "cpu": CpuItem,
    "device": PciItem,
}


@dataclass(frozen=True)
class InstanceCreate:
    """``instance-create``: name, optional id, and ``resources { memory-bytes; cpus;
    numa-nodes; }``. ``cpus`` keep their nodes so that a create split for size can pass
    the rest on as ``cpu-add`` items; the first CPU is the instance's boot CPU."""

    name: str
    memory_bytes: int
    cpus: tuple[CpuItem, ...] = ()
    id: int | None = None
    numa_node: int | None = None

    def __post_init__(self) -> None:
        if len({c.cpu for c in self.cpus}) != len(self.cpus):
            raise ValueError(f"instance-create {self.name} lists a CPU twice")

    @property
    def target(self) -> str:
        """Always ``/instances``."""
        return INSTANCES

    @property
    def kind(self) -> Kind:
        """Always ``instance-create``."""
        return Kind.CREATE

    def describe(self) -> str:
        """Plain words for messages."""
        where = f" on node {self.numa_node}" if self.numa_node is not None else ""
        ident = f" (id {self.id})" if self.id is not None else ""
        cpus = ", ".join(str(c.cpu) for c in self.cpus) or "none"
        return f"instance-create {self.name}{ident}: CPUs {cpus}; {_size(self.memory_bytes)}{where}"


@dataclass(frozen=True)
class InstanceRemove:
    """``instance-remove { instance-name; }``."""

    name: str

    @property
    def target(self) -> str:
        """Always ``/instances``."""
        return INSTANCES

    @property
    def kind(self) -> Kind:
        """Always ``instance-remove``."""
        return Kind.REMOVE

    def describe(self) -> str:
        """Plain words for messages."""
        return f"instance-remove {self.name}"


@dataclass(frozen=True)
class ItemOperation:
    """An item operation on an instance or on the pool."""

    target: str
    kind: Kind
    items: tuple[Item, ...]

    def __post_init__(self) -> None:
        if self.kind not in ITEM_KINDS:
            raise ValueError(f"{self.kind} is not an item operation")
        if self.target != RESOURCES and not self.target.startswith(INSTANCES + "/"):
            raise ValueError(f"bad target-path {self.target!r} for {self.kind}")
        wanted = _ITEM_TYPE[self.kind.value.split("-")[0]]
        if not self.items or not all(isinstance(i, wanted) for i in self.items):
            raise ValueError(f"{self.kind} needs one or more {wanted.__name__} items")
        if len(set(self.items)) != len(self.items):
            raise ValueError(f"{self.kind} lists an item twice: {self.items}")

    def with_items(self, items: tuple[Item, ...]) -> ItemOperation:
        """The same operation on other items."""
        return replace(self, items=items)

    def describe(self) -> str:
        """Plain words for messages."""
        where = "the pool" if self.target == RESOURCES else f"instance {self.target.rsplit('/', 1)[1]}"
        things = ", ".join(_item_text(i) for i in self.items)
        return f"{self.kind} {things} ({where})"


Operation = InstanceCreate | InstanceRemove | ItemOperation


def _item_text(item: Item) -> str:
    if isinstance(item, CpuItem):
        return f"CPU {item.cpu}"
    if isinstance(item, PciItem):
        return f"PCI {item.pci_id}"
    return f"memory {item}"


def _size(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"
