"""Device trees of the simulated kernel: reading the blobs it is given with the kernel's
exact-length rules, and generating the trees it shows (pool tree, instance trees).

Reading follows the kernel's checks rather than kerf's DTS conventions: a u64 is exactly
8 bytes, a CPU list a non-empty multiple of 8 bytes, a string NUL-terminated; anything
else is EINVAL (kernel-interface reference §2 and §3).
"""

from __future__ import annotations

import errno as E
import re
import struct

from kerf.dts.tree import Node, Tree
from kerf.kernel.sim_memory import SimFailure
from kerf.kernel.sim_state import Instance, PciDevice, PlatformDevice, SimState

MAX_NUMNODES = 64  # CONFIG_NODES_SHIFT=6, the x86-64 default
MAX_ALIAS = 31  # MK_PCI_ALIAS_LEN 32, with the NUL
COMPATIBLE = "multikernel-v1"
_PCI_ID = re.compile(r"^([0-9a-fA-F]{1,8}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-9a-fA-F])$")


# --- reading ---------------------------------------------------------------------------------


def raw(node: Node, name: str) -> bytes | None:
    """A property's bytes, or None when absent."""
    prop = node.prop(name)
    return None if prop is None else prop.value


def exact_u32(node: Node, name: str) -> int | None:
    """A u32 property of exactly 4 bytes; None when absent; EINVAL for another length."""
    value = raw(node, name)
    if value is None:
        return None
    if len(value) != 4:
        raise SimFailure(E.EINVAL, f"{node.path}: {name} must be one u32 (4 bytes), found {len(value)} bytes")
    return int(struct.unpack(">I", value)[0])


def exact_u64(node: Node, name: str) -> int | None:
    """A u64 property of exactly 8 bytes; None when absent; EINVAL for another length."""
    value = raw(node, name)
    if value is None:
        return None
    if len(value) != 8:
        raise SimFailure(E.EINVAL, f"{node.path}: {name} must be one u64 (8 bytes), found {len(value)} bytes")
    return int(struct.unpack(">Q", value)[0])


def u64_list(node: Node, name: str) -> list[int] | None:
    """A non-empty list of u64 cells; None when absent; EINVAL otherwise."""
    value = raw(node, name)
    if value is None:
        return None
    if not value or len(value) % 8:
        raise SimFailure(
            E.EINVAL, f"{node.path}: {name} must be a non-empty list of u64 cells, found {len(value)} bytes"
        )
    return list(struct.unpack(f">{len(value) // 8}Q", value))


def u32_list(node: Node, name: str) -> list[int] | None:
    """A list of u32 cells; None when absent; EINVAL for a length not a multiple of 4."""
    value = raw(node, name)
    if value is None:
        return None
    if len(value) % 4:
        raise SimFailure(E.EINVAL, f"{node.path}: {name} must be u32 cells, found {len(value)} bytes")
    return list(struct.unpack(f">{len(value) // 4}I", value))


def string(node: Node, name: str) -> str | None:
    """A NUL-terminated string (the first of a list); None when absent; EINVAL when unterminated."""
    value = raw(node, name)
    if value is None:
        return None
    if not value.endswith(b"\0"):
        raise SimFailure(E.EINVAL, f"{node.path}: {name} is not a NUL-terminated string")
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")


def cpu_reg(node: Node) -> int:
    """The id of a ``cpu@N`` item: ``reg`` of one u64 or one u32 cell."""
    value = raw(node, "reg")
    if value is not None and len(value) == 8:
        return int(struct.unpack(">Q", value)[0])
    if value is not None and len(value) == 4:
        return int(struct.unpack(">I", value)[0])
    found = "no reg" if value is None else f"{len(value)} bytes"
    raise SimFailure(E.EINVAL, f"{node.path}: reg must be one u64 or one u32 cell, found {found}")


def memory_reg(node: Node) -> tuple[int, int]:
    """(base, size) of a ``memory@N`` item: ``reg`` of exactly 16 bytes."""
    value = raw(node, "reg")
    if value is None or len(value) != 16:
        found = "no reg" if value is None else f"{len(value)} bytes"
        raise SimFailure(E.EINVAL, f"{node.path}: reg must be <u64 base, u64 size> (16 bytes), found {found}")
    base, size = struct.unpack(">QQ", value)
    return int(base), int(size)


def node_id(node: Node, name: str = "numa-node-id") -> int | None:
    """An optional NUMA node id (u32, below MAX_NUMNODES)."""
    value = exact_u32(node, name)
    if value is not None and value >= MAX_NUMNODES:
        raise SimFailure(E.EINVAL, f"{node.path}: {name} {value} is not below MAX_NUMNODES ({MAX_NUMNODES})")
    return value


def parse_pci_id(text: str | None, where: str) -> str:
    """``DDDD:BB:SS.F`` (hex, like the kernel's ``%x:%x:%x.%x``) normalised to lower case."""
    m = _PCI_ID.match(text or "")
    if m is None:
        raise SimFailure(E.EINVAL, f"{where}: pci-id {text!r} is not DDDD:BB:SS.F")
    domain, bus, slot, func = (int(g, 16) for g in m.groups())
    if slot > 0x1F or func > 7:
        raise SimFailure(E.EINVAL, f"{where}: pci-id {text!r} has slot > 0x1f or function > 7")
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{func:x}"


def pci_device(node: Node) -> PciDevice:
    """A ``device-type = "pci"`` node: pci-id, vendor-id and device-id are required."""
    pci_id = parse_pci_id(string(node, "pci-id"), node.path)
    vendor, device = exact_u32(node, "vendor-id"), exact_u32(node, "device-id")
    if vendor is None or device is None:
        raise SimFailure(E.EINVAL, f"{node.path}: a PCI device needs vendor-id and device-id (u32)")
    return PciDevice(pci_id, vendor, device)


def platform_device(node: Node, *, fallback_to_node_name: bool) -> PlatformDevice:
    """A ``device-type = "platform"`` node, named by device-name (or acpi-hid)."""
    name = string(node, "device-name")
    hid = string(node, "acpi-hid")
    if not name and fallback_to_node_name:
        name = node.name
    if not name and not hid:
        raise SimFailure(E.EINVAL, f"{node.path}: a platform device needs device-name or acpi-hid")
    return PlatformDevice(node.name, name or hid or "", hid)


# --- generating -------------------------------------------------------------------------------


def _split_pci(pci_id: str) -> tuple[int, int, int, int]:
    domain, bus, rest = pci_id.split(":")
    slot, func = rest.split(".")
    return int(domain, 16), int(bus, 16), int(slot, 16), int(func, 16)


def _add_pci(tree: Tree, devices: list[PciDevice]) -> None:
    """Host bridges ``pci@<bus>`` with device leaves ``pci@<dev>,<fn>``, plus /aliases.

    The simulated machine has no PCI topology, so each device sits directly below the
    host bridge of its own bus (no intermediate bridges).
    """
    bridges: dict[tuple[int, int], Node] = {}
    aliases: list[tuple[str, str]] = []
    for device in sorted(devices, key=lambda d: d.pci_id):
        domain, bus, slot, func = _split_pci(device.pci_id)
        bridge = bridges.get((domain, bus))
        if bridge is None:
            name = f"pci@{bus:x}"
            if name in tree.root.children:  # same bus number in another domain
                name = f"pci@{domain:x},{bus:x}"
            bridge = tree.root.add_node(name)
            bridge.set_string("compatible", "multikernel,pci-host-bridge")
            bridge.set_string("device_type", "pci")
            bridge.set_u32("#address-cells", 3)
            bridge.set_u32("#size-cells", 2)
            bridge.set_u32("linux,pci-domain", domain)
            bridge.set_cells("bus-range", [bus, bus])
            bridges[(domain, bus)] = bridge
        leaf = bridge.add_node(f"pci@{slot:x},{func:x}")
        leaf.set_cells("reg", [bus << 16 | (slot << 3 | func) << 8, 0, 0, 0, 0])
        leaf.set_u32("vendor-id", device.vendor_id)
        leaf.set_u32("device-id", device.device_id)
        if device.alias:
            aliases.append((device.alias, leaf.path))
    if aliases:
        node = tree.root.add_node("aliases")
        for alias, path in aliases:
            node.set_string(alias, path)


def _add_platform(resources: Node, devices: list[PlatformDevice]) -> None:
    if not devices:
        return
    folder = resources.add_node("devices")
    for device in devices:
        node = folder.add_node(device.node_name)
        node.set_string("device-type", "platform")
        node.set_string("device-name", device.device_name)
        if device.acpi_hid:
            node.set_string("acpi-hid", device.acpi_hid)


def _skeleton(ident: int, model: str | None) -> tuple[Tree, Node]:
    tree = Tree.empty()
    root = tree.root
    root.set_string("compatible", COMPATIBLE)
    if model:
        root.set_string("model", model)
    root.set_u32("#address-cells", 2)
    root.set_u32("#size-cells", 2)
    root.set_u32("id", ident)
    return tree, root.add_node("resources")


def pool_tree(state: SimState) -> Tree:
    """What a ``device_tree`` read returns: the pool (members, free CPUs, chunks, free
    devices); no /instances. Without a pool the host's own (empty) instance shape."""
    tree, resources = _skeleton(0, None)
    if not state.pool:
        return tree
    resources.set_cells("cpus", state.pool_cpus, bits=64)
    resources.set_cells("cpus-available", state.free_cpus(), bits=64)
    for chunk in sorted(state.chunks, key=lambda c: c.base):
        node = resources.add_node(f"memory@{chunk.base:x}")
        node.set_string("device_type", "memory")
        node.set_cells("reg", [chunk.base, chunk.size], bits=64)
        node.set_u32("numa-node-id", chunk.node)
    lent_platform = {d.device_name for i in state.instances for d in i.platform}
    _add_platform(resources, [d for d in state.pool_platform if d.device_name not in lent_platform])
    lent_pci = state.lent_pci_ids()
    _add_pci(tree, [d for d in state.pool_pci if d.pci_id not in lent_pci])
    return tree


def instance_tree(instance: Instance) -> Tree:
    """What ``instances/<name>/device_tree`` returns (root name empty, name in ``model``)."""
    tree, resources = _skeleton(instance.id, instance.name)
    if instance.regions:
        regions = sorted(instance.regions, key=lambda r: r.index)
        resources.set_u64("memory-base", regions[0].base)
        resources.set_u64("memory-bytes", instance.memory_bytes)
    resources.set_cells("cpus", instance.cpus, bits=64)
    _add_platform(resources, instance.platform)
    _add_pci(tree, instance.pci)
    return tree
