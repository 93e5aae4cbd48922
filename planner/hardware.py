"""The shared hardware vocabulary: hosts, their topology, and placed instances.

Everything here is a frozen dataclass with no I/O and no device-tree knowledge: the
binding (``kerf.binding``), host discovery and the synthetic topology builder all
produce these objects, and the planner, the validator and the metrics consume them.

Conventions:

* CPU ids are the ids the kernel takes (APIC ids on x86, MPIDR on arm64, hartids on
  riscv64); they may be sparse.
* Every CPU belongs to exactly one core, one socket and (normally) one NUMA node.
  ``Cpu.numa_node`` is ``None`` only when a host description forgot a CPU, which the
  validator reports.
* Byte quantities are plain ``int`` (bytes); addresses are physical.
* Distances follow Linux's SLIT convention: 10 on the diagonal, larger is farther.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from planner.policy import CpuAffinity, MemoryPolicy, MemoryType

PAGE_SIZE = 4096
LOCAL_DISTANCE = 10
REMOTE_DISTANCE = 20


@dataclass(frozen=True, order=True)
class MemoryRange:
    """A physical address range ``[base, base + size)``."""

    base: int
    size: int

    @property
    def end(self) -> int:
        """First address past the range."""
        return self.base + self.size

    def contains(self, other: MemoryRange) -> bool:
        """True when ``other`` lies entirely inside this range."""
        return self.base <= other.base and other.end <= self.end

    def overlaps(self, other: MemoryRange) -> bool:
        """True when the two ranges share at least one byte."""
        if self.size <= 0 or other.size <= 0:
            return False
        return self.base < other.end and other.base < self.end

    def intersection(self, other: MemoryRange) -> MemoryRange | None:
        """The common part of both ranges, or ``None`` when they are disjoint."""
        base, end = max(self.base, other.base), min(self.end, other.end)
        return MemoryRange(base, end - base) if base < end else None

    def __str__(self) -> str:
        return f"0x{self.base:x}-0x{self.end - 1:x}"


@dataclass(frozen=True)
class Cpu:
    """One hardware thread, addressed by the id the kernel takes."""

    id: int
    core: int
    socket: int
    numa_node: int | None
    l3: int | None = None


@dataclass(frozen=True)
class Core:
    """A physical core and its SMT sibling threads (ascending ids)."""

    id: int
    cpus: tuple[int, ...]
    socket: int
    numa_node: int | None


@dataclass(frozen=True)
class Socket:
    """A processor package."""

    id: int
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class NumaNode:
    """A NUMA node: its CPUs (possibly none, for HBM/CXL memory) and memory ranges."""

    id: int
    cpus: tuple[int, ...]
    memory: tuple[MemoryRange, ...] = ()
    memory_type: MemoryType = MemoryType.DRAM

    @property
    def memory_bytes(self) -> int:
        """Total bytes of memory on this node."""
        return sum(r.size for r in self.memory)


@dataclass(frozen=True)
class Cache:
    """A shared cache (normally an L3 / CCX group) and the CPUs that share it."""

    id: int
    level: int
    size: int
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class DeviceUnit:
    """One assignable thing: a whole device, one SR-IOV VF, or one NVMe namespace.

    ``label`` is how instances refer to it: ``eth0`` (whole), ``eth0_vf1``, ``nvme0_ns2``.
    ``pci_id`` and ``device_id`` are those of the unit's own PCI function: a VF has an
    address and a device id of its own (an E810 PF is 0x159b, its VFs 0x1889), a
    namespace shares its controller's.
    """

    label: str
    device: str
    kind: str  # "whole" | "vf" | "namespace"
    index: int | None = None
    pci_id: str | None = None
    numa_node: int | None = None
    device_id: int | None = None


@dataclass(frozen=True)
class Device:
    """A device of the host's resource pool.

    A device with ``sriov_vfs > 0`` is assigned VF by VF, one with ``namespaces > 0``
    namespace by namespace; any other device is assigned whole. VF numbers are 0-based
    (Linux's ``virtfnN``), namespace ids 1-based.

    Every VF of a device shares one PCI device id, different from the device's own
    (Linux's ``sriov_vf_device``): ``vf_device_id``. ``vf_device_ids`` holds a VF's id
    where it differs from that one (or where only per-VF ids are known).
    """

    name: str
    node_name: str = ""
    compatible: tuple[str, ...] = ()
    device_type: str = "pci"
    pci_id: str | None = None
    vendor_id: int | None = None
    device_id: int | None = None
    numa_node: int | None = None
    sriov_vfs: int = 0
    host_reserved_vfs: tuple[int, ...] = ()
    available_vfs: tuple[int, ...] = ()
    vf_pci_ids: Mapping[int, str] = field(default_factory=dict)
    namespaces: int = 0
    host_reserved_ns: tuple[int, ...] = ()
    available_ns: tuple[int, ...] = ()
    vf_device_id: int | None = None
    vf_device_ids: Mapping[int, int] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``"sriov"``, ``"nvme"`` or ``"whole"``: how the device is divided."""
        if self.sriov_vfs > 0:
            return "sriov"
        if self.namespaces > 0:
            return "nvme"
        return "whole"

    def vf_device_id_of(self, number: int) -> int | None:
        """VF ``number``'s PCI device id: its own when given, else the one all VFs share."""
        return self.vf_device_ids.get(number, self.vf_device_id)

    def units(self) -> tuple[DeviceUnit, ...]:
        """The units instances may be given (only the available VFs / namespaces)."""
        if self.kind == "sriov":
            return tuple(
                DeviceUnit(
                    f"{self.name}_vf{n}",
                    self.name,
                    "vf",
                    n,
                    self.vf_pci_ids.get(n),
                    self.numa_node,
                    self.vf_device_id_of(n),
                )
                for n in self.available_vfs
            )
        if self.kind == "nvme":
            return tuple(
                DeviceUnit(
                    f"{self.name}_ns{n}",
                    self.name,
                    "namespace",
                    n,
                    self.pci_id,
                    self.numa_node,
                    self.device_id,
                )
                for n in self.available_ns
            )
        return (DeviceUnit(self.name, self.name, "whole", None, self.pci_id, self.numa_node, self.device_id),)


@dataclass(frozen=True)
class MemoryInventory:
    """Host memory: the total, what the host keeps, and the pool instances draw from."""

    total_bytes: int
    host_reserved_bytes: int
    pool: tuple[MemoryRange, ...]

    @property
    def pool_bytes(self) -> int:
        """Total bytes in the pool."""
        return sum(r.size for r in self.pool)


@dataclass(frozen=True)
class Host:
    """A host's hardware and how it is divided between the host kernel and the pool.

    ``cpus`` lists every CPU that exists (ascending id). ``available`` is the pool that
    instances may use; ``host_reserved`` stays with the host kernel; CPUs in neither are
    offline or kept aside. ``distances`` maps ordered node pairs to SLIT distances; a
    missing pair means 10 on the diagonal and 20 elsewhere.
    """

    cpus: tuple[Cpu, ...]
    host_reserved: frozenset[int]
    available: frozenset[int]
    numa_nodes: tuple[NumaNode, ...]
    sockets: tuple[Socket, ...]
    cores: tuple[Core, ...]
    memory: MemoryInventory
    caches: tuple[Cache, ...] = ()
    distances: Mapping[tuple[int, int], int] = field(default_factory=dict)
    devices: tuple[Device, ...] = ()
    declared_total_cpus: int | None = None
    model: str = ""

    # --- lookups (computed once; the dataclass is frozen) -------------------------

    @cached_property
    def cpu_by_id(self) -> Mapping[int, Cpu]:
        """CPU id -> Cpu."""
        return {c.id: c for c in self.cpus}

    @cached_property
    def core_by_id(self) -> Mapping[int, Core]:
        """Core id -> Core."""
        return {c.id: c for c in self.cores}

    @cached_property
    def node_by_id(self) -> Mapping[int, NumaNode]:
        """NUMA node id -> NumaNode."""
        return {n.id: n for n in self.numa_nodes}

    @cached_property
    def socket_by_id(self) -> Mapping[int, Socket]:
        """Socket id -> Socket."""
        return {s.id: s for s in self.sockets}

    @cached_property
    def device_by_name(self) -> Mapping[str, Device]:
        """Device name (label) -> Device."""
        return {d.name: d for d in self.devices}

    @cached_property
    def unit_by_label(self) -> Mapping[str, DeviceUnit]:
        """Unit label (``eth0_vf1``, ``nvme0_ns2``, ``gpu0``) -> DeviceUnit, available units only."""
        return {u.label: u for d in self.devices for u in d.units()}

    @property
    def node_ids(self) -> tuple[int, ...]:
        """NUMA node ids in ascending order."""
        return tuple(sorted(n.id for n in self.numa_nodes))

    def distance(self, a: int, b: int) -> int:
        """SLIT distance between two NUMA nodes (Linux defaults when not given)."""
        if (a, b) in self.distances:
            return self.distances[(a, b)]
        return LOCAL_DISTANCE if a == b else REMOTE_DISTANCE

    def pool_cpus_of_node(self, node: int) -> tuple[int, ...]:
        """Pool CPUs (``available``) on a NUMA node, ascending."""
        return tuple(c for c in self.node_by_id[node].cpus if c in self.available)

    @cached_property
    def pool_by_node(self) -> Mapping[int, tuple[MemoryRange, ...]]:
        """Each NUMA node's share of the memory pool: pool ranges intersected with its memory.

        A host whose nodes declare no memory ranges gets the whole pool on its single
        node (binding default) or, with several nodes, nothing is attributed.
        """
        shares: dict[int, tuple[MemoryRange, ...]] = {}
        if len(self.numa_nodes) == 1 and not self.numa_nodes[0].memory:
            return {self.numa_nodes[0].id: self.memory.pool}
        for node in self.numa_nodes:
            parts = [
                part
                for pool_range in self.memory.pool
                for node_range in node.memory
                if (part := pool_range.intersection(node_range)) is not None
            ]
            shares[node.id] = tuple(sorted(parts))
        return shares

    def pool_bytes_of_node(self, node: int) -> int:
        """Bytes of the pool that lie on a NUMA node."""
        return sum(r.size for r in self.pool_by_node.get(node, ()))

    def node_of_address(self, address: int) -> int | None:
        """The NUMA node whose memory holds a physical address, if any."""
        for node in self.numa_nodes:
            if any(r.base <= address < r.end for r in node.memory):
                return node.id
        if len(self.numa_nodes) == 1 and not self.numa_nodes[0].memory:
            return self.numa_nodes[0].id
        return None


@dataclass(frozen=True)
class MemoryRegion:
    """Part of an instance's memory. ``base`` is ``None`` when only the size is known
    (the kernel chooses the address); ``numa_node`` is ``None`` when not yet decided."""

    size: int
    base: int | None = None
    numa_node: int | None = None

    @property
    def range(self) -> MemoryRange | None:
        """The concrete address range, when the base is known."""
        return None if self.base is None else MemoryRange(self.base, self.size)


@dataclass(frozen=True)
class Instance:
    """A placed instance: concrete CPUs (first = boot CPU), memory and device units,
    plus the policies it was configured with."""

    name: str
    cpus: tuple[int, ...]
    memory: tuple[MemoryRegion, ...] = ()
    devices: tuple[str, ...] = ()
    id: int | None = None
    numa_nodes: tuple[int, ...] = ()
    cpu_affinity: CpuAffinity | None = None
    memory_policy: MemoryPolicy | None = None
    exclusive_cores: bool = False

    @property
    def memory_bytes(self) -> int:
        """Total bytes of memory over all regions."""
        return sum(r.size for r in self.memory)


# --- assembling a consistent Host from partial descriptions -------------------------


def assemble_host(
    cpu_ids: Iterable[int],
    *,
    available: Iterable[int],
    host_reserved: Iterable[int] = (),
    numa_cpus: Mapping[int, Iterable[int]] | None = None,
    numa_memory: Mapping[int, Iterable[MemoryRange]] | None = None,
    numa_types: Mapping[int, MemoryType] | None = None,
    socket_cpus: Mapping[int, Iterable[int]] | None = None,
    core_cpus: Iterable[Iterable[int]] | None = None,
    caches: Iterable[Cache] = (),
    distances: Mapping[tuple[int, int], int] | None = None,
    memory: MemoryInventory,
    devices: Iterable[Device] = (),
    declared_total_cpus: int | None = None,
    model: str = "",
) -> Host:
    """Build a Host, filling the defaults of the binding for whatever is missing.

    * no NUMA description: one node 0 holding every CPU (and, implicitly, the pool);
    * no sockets: one socket per NUMA node (CPUs without a node go to socket 0);
    * no cores: every CPU is its own core (no SMT);
    * core ids are the lowest CPU id of the core (unique machine-wide, as Linux does);
    * an L3 id is the id of the level-3 cache that lists the CPU, if any.

    Inconsistencies (a CPU in two nodes, unknown CPUs in a node) are kept as given where
    possible so that the validator can report them; this function never raises for them.
    """
    ids = sorted(set(cpu_ids))
    if numa_cpus is None:
        numa_cpus = {0: ids}
    node_cpus = {node: tuple(sorted(set(cpus))) for node, cpus in numa_cpus.items()}
    node_of: dict[int, int] = {}
    for node in sorted(node_cpus):
        for cpu in node_cpus[node]:
            node_of.setdefault(cpu, node)

    if socket_cpus is None:
        # A memory-only node (HBM, CXL) is not a package: it gets no socket of its own.
        socket_cpus = {node: cpus for node, cpus in node_cpus.items() if cpus}
        orphans = [c for c in ids if c not in node_of]
        if orphans:
            first = min(socket_cpus, default=0)
            socket_cpus = dict(socket_cpus)
            socket_cpus[first] = tuple(socket_cpus.get(first, ())) + tuple(orphans)
    sockets = tuple(Socket(sid, tuple(sorted(set(cpus)))) for sid, cpus in sorted(socket_cpus.items()))
    socket_of: dict[int, int] = {}
    for sock in sockets:
        for cpu in sock.cpus:
            socket_of.setdefault(cpu, sock.id)

    # A CPU listed in two cores stays in the first (the binding reports the overlap): a
    # later group keeps only the CPUs no earlier one took, so every CPU has a real core.
    groups: list[tuple[int, ...]] = []
    core_of: dict[int, int] = {}
    for listed in core_cpus or ():
        group = tuple(sorted(set(listed) - core_of.keys()))
        if group:
            groups.append(group)
            for cpu in group:
                core_of[cpu] = group[0]
    for cpu in ids:
        if cpu not in core_of:
            core_of[cpu] = cpu
            groups.append((cpu,))
    cores = tuple(
        sorted(
            (
                Core(g[0], g, socket_of.get(g[0], 0), node_of.get(g[0]))
                for g in groups
                if g and core_of.get(g[0]) == g[0]
            ),
            key=lambda c: c.id,
        )
    )

    cache_list = tuple(caches)
    l3_of: dict[int, int] = {}
    for cache in cache_list:
        if cache.level == 3:
            for cpu in cache.cpus:
                l3_of.setdefault(cpu, cache.id)

    cpus = tuple(
        Cpu(cpu, core_of[cpu], socket_of.get(cpu, 0), node_of.get(cpu), l3_of.get(cpu)) for cpu in ids
    )
    mem = numa_memory or {}
    types = numa_types or {}
    node_ids = sorted(set(node_cpus) | set(mem) | set(types))
    nodes = tuple(
        NumaNode(
            n,
            node_cpus.get(n, ()),
            tuple(sorted(mem.get(n, ()))),
            types.get(n, MemoryType.DRAM),
        )
        for n in node_ids
    )
    return Host(
        cpus=cpus,
        host_reserved=frozenset(host_reserved),
        available=frozenset(available),
        numa_nodes=nodes,
        sockets=sockets,
        cores=cores,
        memory=memory,
        caches=cache_list,
        distances=dict(distances or {}),
        devices=tuple(devices),
        declared_total_cpus=declared_total_cpus,
        model=model,
    )
