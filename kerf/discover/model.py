"""What discovery learns about a machine, before and after the defaults are applied.

Two layers:

* :class:`MachineFacts` is what a source (live /sys + /proc, or an hwloc XML file) says,
  in the source's own terms: CPUs by Linux logical number with their physical ids,
  caches, NUMA nodes, PCI devices. Nothing is decided yet.
* :class:`Discovery` is the result handed to the writer and the CLI: a
  :class:`~planner.hardware.Host` (CPU ids are physical ids; the host's share and the
  pool are decided), the logical <-> physical id map, and the notes about what was
  missing or assumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from planner.hardware import Host, MemoryRange
from planner.policy import MemoryType


class IdKind(StrEnum):
    """What the CPU ids of a description are."""

    APIC = "apic"  # x86: the APIC ids of /proc/cpuinfo, which the kernel takes
    LOGICAL = "logical"  # Linux's logical CPU numbers (other architectures, hwloc XML)


class AddressSource(StrEnum):
    """Where the physical addresses of the memory ranges came from."""

    IOMEM = "iomem"  # /proc/iomem "System RAM", clipped to each node's memory blocks
    BLOCKS = "memory-blocks"  # sysfs memory blocks only (block granularity)
    PLACEHOLDER = "placeholder"  # unknown: nodes laid out back to back, sizes only are real


class Severity(StrEnum):
    """How much a note matters to whoever reads the description."""

    WARNING = "warning"  # something was missing or had to be assumed
    INFO = "info"  # how a default was chosen


@dataclass(frozen=True)
class Note:
    """A remark about the discovery: what was missing, assumed or decided."""

    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


class NoteLog:
    """Collects notes in order, dropping exact repeats."""

    def __init__(self) -> None:
        self._notes: list[Note] = []

    def warn(self, message: str) -> None:
        """Record that something was missing or assumed."""
        self._add(Note(Severity.WARNING, message))

    def info(self, message: str) -> None:
        """Record how a default was chosen."""
        self._add(Note(Severity.INFO, message))

    def _add(self, note: Note) -> None:
        if note not in self._notes:
            self._notes.append(note)

    @property
    def notes(self) -> tuple[Note, ...]:
        """Everything recorded so far."""
        return tuple(self._notes)


@dataclass(frozen=True)
class CpuFact:
    """One online CPU as the source describes it.

    ``siblings`` are the logical numbers of the SMT threads of its core (itself
    included); ``package`` and ``die`` as Linux numbers them.
    """

    logical: int
    physical: int
    package: int
    siblings: tuple[int, ...]
    die: int | None = None
    numa_node: int | None = None


class CacheKind(StrEnum):
    """What a cache holds."""

    UNIFIED = "unified"
    DATA = "data"
    INSTRUCTION = "instruction"


@dataclass(frozen=True)
class CacheFact:
    """One cache instance and the logical CPUs sharing it."""

    level: int
    kind: CacheKind
    size: int
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class NodeFact:
    """A NUMA node: its online logical CPUs and its memory.

    ``memory`` holds the node's physical ranges when they are known; ``memory_bytes`` is
    always set (from the ranges, or from a size the source gives).
    """

    id: int
    cpus: tuple[int, ...]
    memory_bytes: int
    memory: tuple[MemoryRange, ...] = ()
    memory_type: MemoryType = MemoryType.DRAM
    memory_type_known: bool = False


@dataclass(frozen=True)
class NamespaceFact:
    """An NVMe namespace: its id, its block device name, and whether the host uses it."""

    nsid: int
    name: str
    host_use: tuple[str, ...] = ()


@dataclass(frozen=True)
class PciFact:
    """A PCI function worth assigning to an instance.

    ``host_use`` says why the host needs it (mounted filesystems, the default route);
    such a device is kept by the host unless it is divided into VFs or namespaces.
    A VF's device id is not its PF's: ``vf_device_id`` is what the PF says all its VFs
    use, ``vf_device_ids`` what each existing VF says itself.
    """

    address: str
    class_code: int
    vendor_id: int
    device_id: int
    numa_node: int | None = None
    driver: str | None = None
    sriov_total_vfs: int = 0
    sriov_vfs: int = 0
    vf_addresses: Mapping[int, str] = field(default_factory=dict)
    namespaces: tuple[NamespaceFact, ...] = ()
    interfaces: tuple[str, ...] = ()
    block_devices: tuple[str, ...] = ()
    host_use: tuple[str, ...] = ()
    vf_device_id: int | None = None  # sriov_vf_device: the id every VF shares
    vf_device_ids: Mapping[int, int] = field(default_factory=dict)  # each virtfnN's own device file

    @property
    def base_class(self) -> int:
        """The PCI base class (``0x02`` network, ``0x01`` storage, ...)."""
        return self.class_code >> 16

    @property
    def is_nvme(self) -> bool:
        """True for an NVMe controller (class 0x0108)."""
        return self.class_code >> 8 == 0x0108


@dataclass(frozen=True)
class MachineFacts:
    """Everything one source said about a machine, in the source's own terms."""

    source: str
    id_kind: IdKind
    cpus: tuple[CpuFact, ...]
    nodes: tuple[NodeFact, ...]
    address_source: AddressSource
    caches: tuple[CacheFact, ...] = ()
    distances: Mapping[tuple[int, int], int] = field(default_factory=dict)
    devices: tuple[PciFact, ...] = ()
    offline: tuple[int, ...] = ()
    boot_cpu: int = 0
    model: str = ""


@dataclass(frozen=True)
class Discovery:
    """A discovered host: the Host itself, how its ids map to Linux's, and the notes.

    ``host`` uses physical CPU ids (what the kernel takes). ``logical_to_physical`` maps
    each described CPU's Linux logical number to that id. ``facts`` keeps the source's
    full view (dies, private caches, interface names, offline CPUs) for comments and
    JSON. ``device_facts`` maps each described device's label to what was read about
    it; ``kept_devices`` are the devices left to the host because it uses them.
    """

    host: Host
    facts: MachineFacts
    logical_to_physical: Mapping[int, int]
    notes: tuple[Note, ...] = ()
    device_facts: Mapping[str, PciFact] = field(default_factory=dict)
    kept_devices: tuple[PciFact, ...] = ()

    @property
    def physical_to_logical(self) -> Mapping[int, int]:
        """Physical CPU id -> Linux logical number."""
        return {phys: logical for logical, phys in self.logical_to_physical.items()}

    @property
    def id_kind(self) -> IdKind:
        """Whether CPU ids are APIC ids or Linux logical numbers."""
        return self.facts.id_kind

    @property
    def warnings(self) -> tuple[Note, ...]:
        """Only the notes about something missing or assumed."""
        return tuple(n for n in self.notes if n.severity is Severity.WARNING)
