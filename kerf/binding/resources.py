"""Reading ``/resources``: the CPU inventory, the memory pool and the devices.

Only the shape of values is checked here (a located BindingError for a wrong size,
type or a missing required property). What the values mean (a reserved CPU that is
also available, a VF number out of range) is the validator's business: the binding
keeps what is written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from kerf.binding.context import Context, check_children, require_prop
from kerf.binding.values import (
    looks_like_strings,
    read_cells,
    read_string,
    read_strings,
    read_u32,
    read_u64_list,
)
from kerf.dts.tree import Node, Property
from kerf.errors import BindingError
from planner.hardware import Device, MemoryInventory, MemoryRange

# Linux's largest NR_CPUS is 8192; leave room, but refuse absurd counts before building them.
MAX_CPUS = 1 << 16
CPUS_PROPERTIES = ("total", "ids", "host-reserved", "available")
MEMORY_PROPERTIES = (
    "total-bytes",
    "host-reserved-bytes",
    "memory-pool-base",
    "memory-pool-bytes",
    "memory-pool-ranges",
)
# A vf@N node: the VF's own PCI address and, when it differs from the device's
# vf-device-id, its own device id.
VF_PROPERTIES = ("pci-id", "device-id")


@dataclass(frozen=True)
class CpuInventory:
    """What ``/resources/cpus`` says, as written (duplicates already reported)."""

    ids: tuple[int, ...]
    declared_total: int | None
    host_reserved: tuple[int, ...]
    available: tuple[int, ...]
    cores: tuple[tuple[int, ...], ...] | None


@dataclass
class DeviceIndex:
    """How references reach devices: node path -> unit label (``eth0``, ``eth0_vf1``)."""

    by_path: dict[str, str] = field(default_factory=dict)


def read_cpus(ctx: Context, node: Node) -> CpuInventory:
    """``cpus { total; ids; host-reserved; available; cores { core@K { cpus; }; }; }``."""
    ctx.check_known(node, CPUS_PROPERTIES)
    check_children(ctx, node, ("cores",))
    total_prop, ids_prop = node.prop("total"), node.prop("ids")
    if total_prop is None and ids_prop is None:
        raise BindingError(
            f"{node.path}: property 'total' is missing (the number of CPUs)",
            hint="write total = <N>; (CPU ids 0..N-1), or ids = <...>; listing sparse ids",
            location=node.location,
        )
    declared = read_u32(total_prop) if total_prop is not None else None
    if declared is not None and ids_prop is None and declared > MAX_CPUS:
        raise BindingError(
            f"{node.path}: total = <{declared}> is more CPUs than kerf describes (at most {MAX_CPUS})",
            hint="total is the number of CPUs; list sparse ids in ids = <...>",
            location=total_prop.location if total_prop is not None else node.location,
        )
    if ids_prop is not None:
        ids = tuple(read_cells(ids_prop))
        _note_duplicates(ctx, ids_prop, ids, "CPU id")
    else:
        assert declared is not None
        ids = tuple(range(declared))
    reserved_prop = node.prop("host-reserved")
    reserved = tuple(read_cells(reserved_prop)) if reserved_prop is not None else ()
    if reserved_prop is not None:
        _note_duplicates(ctx, reserved_prop, reserved, "CPU")
    available_prop = node.prop("available")
    if available_prop is None:
        taken = set(reserved)
        available = tuple(c for c in ids if c not in taken)
        ctx.note(
            "cpu-pool-default",
            f"{node.path}: no 'available' list; every CPU that is not host-reserved is in the pool",
            node,
            hint="write available = <...>; to say which CPUs instances may use",
        )
    else:
        available = tuple(read_cells(available_prop))
        _note_duplicates(ctx, available_prop, available, "CPU")
    return CpuInventory(ids, declared, reserved, available, _read_cores(ctx, node))


def _read_cores(ctx: Context, cpus_node: Node) -> tuple[tuple[int, ...], ...] | None:
    cores_node = cpus_node.child("cores")
    if cores_node is None:
        return None
    ctx.check_known(cores_node, ())
    groups: list[tuple[int, ...]] = []
    owner: dict[int, str] = {}
    for core in cores_node.children.values():
        ctx.check_known(core, ("cpus",))
        prop = require_prop(core, "cpus", "the SMT sibling threads of this core")
        group = tuple(read_cells(prop))
        # the Host keeps a CPU in the first core that lists it: say so where it is written
        for cpu in sorted(set(group)):
            if cpu in owner:
                ctx.note(
                    "topology-cpu-overlap",
                    f"{core.path}: CPU {cpu} is already in {owner[cpu]}",
                    prop,
                    hint="a CPU belongs to exactly one core",
                    severity="error",
                )
            owner.setdefault(cpu, core.path)
        groups.append(group)
    return tuple(groups)


def _note_duplicates(ctx: Context, prop: Property, values: tuple[int, ...], what: str) -> None:
    repeated = sorted(v for v, n in Counter(values).items() if n > 1)
    if repeated:
        node = prop.node.path if prop.node is not None else "?"
        ctx.note(
            "cpu-duplicate-id",
            f"{node}: '{prop.name}' lists {what}{'s' if len(repeated) > 1 else ''} "
            f"{', '.join(map(str, repeated))} more than once",
            prop,
            hint="list each CPU once",
            severity="error",
        )


def read_memory(ctx: Context, node: Node) -> MemoryInventory:
    """``memory { total-bytes; host-reserved-bytes; memory-pool-base; memory-pool-bytes; }``
    or the extension ``memory-pool-ranges = /bits/ 64 <base size ...>``."""
    ctx.check_known(node, MEMORY_PROPERTIES)
    check_children(ctx, node, ())
    total = ctx.u64(require_prop(node, "total-bytes", "the host's memory in bytes"))
    base_prop, bytes_prop = node.prop("memory-pool-base"), node.prop("memory-pool-bytes")
    ranges_prop = node.prop("memory-pool-ranges")
    pool: tuple[MemoryRange, ...]
    if ranges_prop is not None:
        values = read_u64_list(ranges_prop)
        if len(values) % 2:
            raise BindingError(
                f"{node.path}: property 'memory-pool-ranges' should hold (base, size) pairs, "
                f"but it has {len(values)} values",
                hint="write memory-pool-ranges = /bits/ 64 <base0 size0 base1 size1>;",
                location=ranges_prop.location,
            )
        pool = tuple(MemoryRange(values[i], values[i + 1]) for i in range(0, len(values), 2))
        if base_prop is not None or bytes_prop is not None:
            _check_pool_summary(ctx, node, pool)
    else:
        if base_prop is None or bytes_prop is None:
            missing = "memory-pool-base" if base_prop is None else "memory-pool-bytes"
            raise BindingError(
                f"{node.path}: property '{missing}' is missing (the memory pool instances draw from)",
                hint="give memory-pool-base and memory-pool-bytes, or memory-pool-ranges = /bits/ 64 <...>",
                location=node.location,
            )
        pool = (MemoryRange(ctx.u64(base_prop), ctx.u64(bytes_prop)),)
    reserved_prop = node.prop("host-reserved-bytes")
    if reserved_prop is not None:
        reserved = ctx.u64(reserved_prop)
    else:
        reserved = max(0, total - sum(r.size for r in pool))
    return MemoryInventory(total, reserved, pool)


def _check_pool_summary(ctx: Context, node: Node, pool: tuple[MemoryRange, ...]) -> None:
    """memory-pool-base/-bytes next to memory-pool-ranges must agree with the ranges
    (lowest base, total size): they are there for readers that know only the pair."""
    base_prop, bytes_prop = node.prop("memory-pool-base"), node.prop("memory-pool-bytes")
    lowest = min((r.base for r in pool), default=0)
    size = sum(r.size for r in pool)
    if base_prop is not None and ctx.u64(base_prop) != lowest:
        raise BindingError(
            f"{node.path}: 'memory-pool-base' is 0x{ctx.u64(base_prop):x} but the "
            f"lowest base in 'memory-pool-ranges' is 0x{lowest:x}",
            hint="drop memory-pool-base/-bytes or make them match memory-pool-ranges",
            location=base_prop.location,
        )
    if bytes_prop is not None and ctx.u64(bytes_prop) != size:
        raise BindingError(
            f"{node.path}: 'memory-pool-bytes' is {ctx.u64(bytes_prop)} but "
            f"'memory-pool-ranges' adds up to {size}",
            hint="drop memory-pool-base/-bytes or make them match memory-pool-ranges",
            location=bytes_prop.location,
        )


def read_devices(ctx: Context, node: Node | None) -> tuple[list[Device], DeviceIndex]:
    """Every node under ``/resources/devices`` is a device.

    Its name is its first label; a DTB keeps no labels, so then an ``/aliases`` entry
    (or dtc's ``/__symbols__``) naming the node's path, and last the node name.
    """
    index = DeviceIndex()
    devices: list[Device] = []
    if node is None:
        return devices, index
    names = _names_by_path(ctx)
    for child in node.children.values():
        name = child.labels[0] if child.labels else names.get(child.path, child.name)
        devices.append(_read_device(ctx, child, name, index))
    return devices, index


def _names_by_path(ctx: Context) -> dict[str, str]:
    """Node path -> name, from ``/__symbols__`` and then ``/aliases`` (aliases win)."""
    found: dict[str, str] = {}
    for table in ("/__symbols__", "/aliases"):
        holder = ctx.tree.find_node(table)
        if holder is None:
            continue
        for prop in holder.props.values():
            if looks_like_strings(prop):
                path = read_string(prop)
                if path.startswith("/"):
                    found[path] = prop.name
    return found


def _read_device(ctx: Context, node: Node, name: str, index: DeviceIndex) -> Device:
    index.by_path[node.path] = name

    def u32(prop_name: str) -> int | None:
        prop = node.prop(prop_name)
        return None if prop is None else read_u32(prop)

    def cells(prop_name: str) -> tuple[int, ...]:
        prop = node.prop(prop_name)
        return () if prop is None else tuple(read_cells(prop))

    def string(prop_name: str) -> str | None:
        prop = node.prop(prop_name)
        return None if prop is None else read_string(prop)

    compatible = node.prop("compatible")
    vf_pci_ids: dict[int, str] = {}
    vf_device_ids: dict[int, int] = {}
    for child in node.children.values():
        if child.base_name not in ("vf", "namespace"):
            continue  # other sub-nodes (e.g. a vendor's own) are not part of the binding
        number = _unit_index(child)
        if child.base_name == "vf":
            index.by_path[child.path] = f"{name}_vf{number}"
            ctx.check_known(child, VF_PROPERTIES)
            pci = child.prop("pci-id")
            if pci is not None:
                vf_pci_ids[number] = read_string(pci)
            own = child.prop("device-id")
            if own is not None:
                vf_device_ids[number] = read_u32(own)
        else:
            ctx.check_known(child, ())
            index.by_path[child.path] = f"{name}_ns{number}"
    return Device(
        name=name,
        node_name=node.name,
        compatible=tuple(read_strings(compatible)) if compatible is not None else (),
        device_type=string("device-type") or "pci",
        pci_id=string("pci-id"),
        vendor_id=u32("vendor-id"),
        device_id=u32("device-id"),
        numa_node=u32("numa-node"),
        sriov_vfs=u32("sriov-vfs") or 0,
        host_reserved_vfs=cells("host-reserved-vf"),
        available_vfs=cells("available-vfs"),
        vf_pci_ids=vf_pci_ids,
        namespaces=u32("namespaces") or 0,
        host_reserved_ns=cells("host-reserved-ns"),
        available_ns=cells("available-ns"),
        vf_device_id=u32("vf-device-id"),
        vf_device_ids=vf_device_ids,
    )


def _unit_index(node: Node) -> int:
    """The number of a ``vf@N`` / ``namespace@N`` child (decimal, like every unit address
    of this binding)."""
    address = node.unit_address
    if address is None or not address.isdigit():
        found = "no unit address" if address is None else f"the unit address '{address}'"
        raise BindingError(
            f"{node.path}: a {node.base_name} node is named by its number, but it has {found}",
            hint=f"write {node.base_name}@1 {{ ... }}; for number 1",
            location=node.location,
        )
    return int(address)


def unit_labels(devices: Mapping[str, Device]) -> list[str]:
    """Every label instances may use for these devices (available units), for messages."""
    return [u.label for d in devices.values() for u in d.units()]
