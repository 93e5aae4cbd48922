"""What the kernel says exists: the pool and every instance, read through a backend.

The kernel is the source of truth for instances, their ids, states, CPUs, memory regions
and devices (reference §2.2-§2.5, §5.3). This module reads it into plain values:

* the pool tree (``device_tree``): pool CPUs, free CPUs, memory chunks with their NUMA
  node, free PCI devices;
* each instance's ``device_tree``: its CPUs (boot CPU first) and PCI devices;
* ``/proc/iomem``: the exact regions of each instance, placed on the node of the chunk
  that holds them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kerf.dts.tree import Node, Tree
from kerf.errors import PermissionDeniedError
from kerf.kernel.backend import InstanceStatus, KernelBackend
from kerf.kernel.errors import NoSuchInstanceError


@dataclass(frozen=True)
class Chunk:
    """A pool chunk: ``[base, base + size)`` on a NUMA node (None when the kernel does not say)."""

    base: int
    size: int
    node: int | None

    @property
    def end(self) -> int:
        """First address past the chunk."""
        return self.base + self.size


@dataclass(frozen=True)
class Region:
    """An instance memory region as ``/proc/iomem`` shows it."""

    base: int
    size: int
    node: int | None
    index: int

    @property
    def end(self) -> int:
        """First address past the region."""
        return self.base + self.size


@dataclass(frozen=True)
class PoolView:
    """The pool tree.

    ``is_pool_tree`` says whether the kernel's ``device_tree`` had the pool shape
    (``cpus-available`` or ``memory@`` chunks under ``/resources``). A kernel that never
    got a baseline emits its own instance tree instead (reference §2.2), whose ``cpus``
    are the host's CPUs, not pool members.
    """

    cpus: tuple[int, ...] = ()
    free_cpus: tuple[int, ...] = ()
    chunks: tuple[Chunk, ...] = ()
    free_pci: tuple[str, ...] = ()
    is_pool_tree: bool = True

    @property
    def populated(self) -> bool:
        """True once a baseline gave the pool anything (the kernel then refuses another).

        Only a pool tree counts: the self instance tree of a kernel without a pool may list
        its own CPUs, and that must not look like a pool that already has a baseline.
        """
        return self.is_pool_tree and bool(self.cpus or self.chunks or self.free_pci)

    def node_of(self, address: int) -> int | None:
        """The NUMA node of the chunk holding ``address``."""
        for chunk in self.chunks:
            if chunk.base <= address < chunk.end:
                return chunk.node
        return None

    def bytes_by_node(self) -> dict[int | None, int]:
        """Pool bytes per NUMA node."""
        out: dict[int | None, int] = {}
        for chunk in self.chunks:
            out[chunk.node] = out.get(chunk.node, 0) + chunk.size
        return out


@dataclass(frozen=True)
class InstanceView:
    """One instance as the kernel shows it. ``regions_known`` is False when ``/proc/iomem``
    hides addresses (not root); ``memory_bytes`` still comes from the instance tree."""

    name: str
    id: int
    status: InstanceStatus
    cpus: tuple[int, ...]
    memory_bytes: int
    regions: tuple[Region, ...]
    pci_ids: tuple[str, ...]
    regions_known: bool = True

    def bytes_by_node(self) -> dict[int | None, int]:
        """Bytes of the instance's memory per NUMA node (from its regions)."""
        out: dict[int | None, int] = {}
        for region in self.regions:
            out[region.node] = out.get(region.node, 0) + region.size
        return out


@dataclass(frozen=True)
class KernelView:
    """The pool and every instance, by name."""

    pool: PoolView
    instances: Mapping[str, InstanceView]

    def by_id(self, ident: int) -> InstanceView | None:
        """The instance with that id."""
        return next((i for i in self.instances.values() if i.id == ident), None)

    def regions_in_use(self) -> list[Region]:
        """Every instance region."""
        return [r for inst in self.instances.values() for r in inst.regions]


def normalize_pci_id(text: str) -> str:
    """``DDDD:BB:SS.F`` in the kernel's lower-case, zero-padded form (input as written)."""
    try:
        domain, bus, rest = text.strip().split(":")
        slot, func = rest.split(".")
        return f"{int(domain, 16):04x}:{int(bus, 16):02x}:{int(slot, 16):02x}.{int(func, 16):x}"
    except ValueError:
        return text.strip().lower()


def _u64s(node: Node | None, name: str) -> tuple[int, ...]:
    prop = node.prop(name) if node is not None else None
    if prop is None or not prop.value or len(prop.value) % 8:
        return ()
    return tuple(struct.unpack(f">{len(prop.value) // 8}Q", prop.value))


def _u32(node: Node, name: str) -> int | None:
    prop = node.prop(name)
    if prop is None or len(prop.value) != 4:
        return None
    return int(struct.unpack(">I", prop.value)[0])


def _u64(node: Node | None, name: str) -> int:
    prop = node.prop(name) if node is not None else None
    if prop is None or len(prop.value) != 8:
        return 0
    return int(struct.unpack(">Q", prop.value)[0])


def pci_devices(tree: Tree) -> tuple[str, ...]:
    """PCI ids of the device leaves below the ``/pci@...`` host bridges of a generated tree."""
    found: list[str] = []
    for bridge in tree.root.children.values():
        if not bridge.name.startswith("pci@"):
            continue
        domain = _u32(bridge, "linux,pci-domain") or 0
        found += _leaves(bridge, domain)
    return tuple(sorted(found))


def _leaves(node: Node, domain: int) -> list[str]:
    out: list[str] = []
    for child in node.children.values():
        if not child.name.startswith("pci@"):
            continue
        if any(c.name.startswith("pci@") for c in child.children.values()):
            out += _leaves(child, domain)  # a bridge on the way
            continue
        reg = child.prop("reg")
        if reg is None or len(reg.value) < 4:
            continue
        first = int(struct.unpack(">I", reg.value[:4])[0])
        bus, devfn = (first >> 16) & 0xFF, (first >> 8) & 0xFF
        out.append(f"{domain:04x}:{bus:02x}:{devfn >> 3:02x}.{devfn & 7:x}")
    return out


def read_pool(tree: Tree) -> PoolView:
    """The pool tree as values."""
    resources = tree.root.child("resources")
    chunks = []
    if resources is not None:
        for node in resources.children.values():
            if not node.name.startswith("memory@"):
                continue
            reg = _u64s(node, "reg")
            if len(reg) >= 2:
                chunks.append(Chunk(reg[0], reg[1], _u32(node, "numa-node-id")))
    # Chunks exist only in a pool; cpus-available only in the pool shape of the tree.
    has_free_list = resources is not None and resources.prop("cpus-available") is not None
    return PoolView(
        cpus=_u64s(resources, "cpus"),
        free_cpus=_u64s(resources, "cpus-available"),
        chunks=tuple(sorted(chunks, key=lambda c: c.base)),
        free_pci=pci_devices(tree),
        is_pool_tree=has_free_list or bool(chunks),
    )


def read_kernel(backend: KernelBackend, names: Iterable[str] | None = None) -> KernelView:
    """Read the pool and the instances (all, or only ``names``) through ``backend``."""
    from kerf.dts import from_dtb

    pool = read_pool(from_dtb(backend.read_device_tree(), "device_tree"))
    wanted = set(names) if names is not None else None
    try:
        regions = backend.iomem().instance_regions()
        regions_known = True
    except PermissionDeniedError:
        regions, regions_known = [], False
    instances: dict[str, InstanceView] = {}
    for info in backend.instances():
        if wanted is not None and info.name not in wanted:
            continue
        try:
            tree = from_dtb(backend.read_instance_tree(info.name), f"instances/{info.name}/device_tree")
        except NoSuchInstanceError:
            continue  # removed while reading
        resources = tree.root.child("resources")
        own = tuple(
            Region(r.range.base, r.range.size, pool.node_of(r.range.base), r.index)
            for r in regions
            if r.instance_id == info.id and r.instance_name == info.name
        )
        instances[info.name] = InstanceView(
            name=info.name,
            id=info.id,
            status=info.status,
            cpus=_u64s(resources, "cpus"),
            memory_bytes=_u64(resources, "memory-bytes"),
            regions=tuple(sorted(own, key=lambda r: r.index)),
            pci_ids=pci_devices(tree),
            regions_known=regions_known,
        )
    return KernelView(pool, instances)
