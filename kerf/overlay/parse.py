"""Reading an overlay blob back into operations (``tx_<N>/dtbo`` -> what it does).

The reader follows the kernel's rules (reference §3.1-§3.2): fragments are ``fragment@<hex>``
nodes run in ascending unit order, each with a ``target-path`` and ``__overlay__``;
operation nodes are looked up by their fixed names; items by the prefixes ``memory@``,
``cpu@`` and ``pci@`` (anything else is skipped, as the kernel skips it). Values must have
the kernel's exact lengths; a blob that breaks these rules is an InputError that names
the node.
"""

from __future__ import annotations

import struct

from kerf.dts.tree import Node, Tree
from kerf.errors import InputError
from kerf.overlay.build import Fragment
from kerf.overlay.ops import (
    INSTANCES,
    RESOURCES,
    CpuItem,
    InstanceCreate,
    InstanceRemove,
    Item,
    ItemOperation,
    Kind,
    MemoryItem,
    Operation,
    PciItem,
    kernel_rank,
)

_PREFIX = {"memory": "memory@", "cpu": "cpu@", "device": "pci@"}


def read_overlay(blob: bytes | Tree, source: str = "<overlay>") -> list[Fragment]:
    """The fragments of an overlay (DTBO bytes or an already decoded tree), in run order."""
    if isinstance(blob, Tree):
        tree = blob
    else:
        from kerf.dts import from_dtb

        tree = from_dtb(blob, source)
    numbered: list[tuple[int, Node]] = []
    for name, node in tree.root.children.items():
        if not name.startswith("fragment@"):
            continue
        unit = name.removeprefix("fragment@")
        try:
            numbered.append((int(unit, 16), node))
        except ValueError:
            raise _bad(source, node, f"unit address {unit!r} is not hexadecimal") from None
    if not numbered:
        raise InputError(f"{source}: the overlay has no fragment@N nodes")
    return [_fragment(node, source) for _, node in sorted(numbered, key=lambda pair: pair[0])]


def operations_of(blob: bytes | Tree, source: str = "<overlay>") -> list[Operation]:
    """Every operation of an overlay, in the order the kernel runs them."""
    return [op for fragment in read_overlay(blob, source) for op in fragment.operations]


def _bad(source: str, node: Node, problem: str) -> InputError:
    return InputError(f"{source}: {node.path}: {problem}")


def _fragment(node: Node, source: str) -> Fragment:
    target = _string(node, "target-path", source)
    if target is None:
        raise _bad(source, node, "no target-path")
    overlay = node.child("__overlay__")
    if overlay is None:
        raise _bad(source, node, "no __overlay__ node")
    if target not in (INSTANCES, RESOURCES) and not target.startswith(INSTANCES + "/"):
        raise _bad(source, node, f"target-path {target!r} is not /instances, /instances/<name> or /resources")
    operations: list[Operation] = []
    for kind in Kind:
        op_node = overlay.child(kind.value)
        if op_node is None:
            continue
        if kind in (Kind.CREATE, Kind.REMOVE):
            operations.append(_namespace_op(kind, op_node, source))
        else:
            items = _items(kind, op_node, source)
            if items:
                operations.append(ItemOperation(target, kind, tuple(items)))
    operations.sort(key=lambda op: kernel_rank(target, op.kind))
    return Fragment(target, tuple(operations))


def _namespace_op(kind: Kind, node: Node, source: str) -> Operation:
    name = _string(node, "instance-name", source)
    if not name:
        raise _bad(source, node, "instance-name is missing or empty")
    if kind is Kind.REMOVE:
        return InstanceRemove(name)
    ident = _u32(node, "id", source)
    resources = node.child("resources")
    if resources is None:
        raise _bad(source, node, "no resources node")
    memory = _u64(resources, "memory-bytes", source) or 0
    cpus = _u64_list(resources, "cpus", source)
    nodes = _u32_list(resources, "numa-nodes", source)
    return InstanceCreate(name, memory, tuple(CpuItem(c) for c in cpus), ident, nodes[0] if nodes else None)


def _items(kind: Kind, node: Node, source: str) -> list[Item]:
    prefix = _PREFIX[kind.value.split("-")[0]]
    items: list[Item] = []
    for child in node.children.values():
        if not child.name.startswith(prefix):
            continue  # the kernel skips items of any other name
        numa = _u32(child, "numa-node-id", source)
        if prefix == "cpu@":
            value = _raw(child, "reg")
            if value is None or len(value) not in (4, 8):
                raise _bad(source, child, "reg must be one u64 or one u32 cell")
            items.append(CpuItem(int.from_bytes(value, "big"), numa))
        elif prefix == "memory@":
            reg = _raw(child, "reg")
            if reg is not None:
                if len(reg) != 16:
                    raise _bad(source, child, "reg must be <u64 base, u64 size> (16 bytes)")
                base, size = struct.unpack(">QQ", reg)
                items.append(MemoryItem(int(size), int(base), numa))
            else:
                size = _u64(child, "size", source)
                if size is None:
                    raise _bad(source, child, "a memory item needs reg or size")
                items.append(MemoryItem(size, None, numa))
        else:
            pci_id = _string(child, "pci-id", source)
            if not pci_id:
                raise _bad(source, child, "a PCI item needs pci-id")
            items.append(PciItem(pci_id, _string(child, "alias", source)))
    return items


def _raw(node: Node, name: str) -> bytes | None:
    prop = node.prop(name)
    return None if prop is None else prop.value


def _string(node: Node, name: str, source: str) -> str | None:
    value = _raw(node, name)
    if value is None:
        return None
    if not value.endswith(b"\0"):
        raise _bad(source, node, f"{name} is not a NUL-terminated string")
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")


def _u32(node: Node, name: str, source: str) -> int | None:
    value = _raw(node, name)
    if value is None:
        return None
    if len(value) != 4:
        raise _bad(source, node, f"{name} must be one u32 (4 bytes), found {len(value)} bytes")
    return int.from_bytes(value, "big")


def _u64(node: Node, name: str, source: str) -> int | None:
    value = _raw(node, name)
    if value is None:
        return None
    if len(value) != 8:
        raise _bad(source, node, f"{name} must be one u64 (8 bytes), found {len(value)} bytes")
    return int.from_bytes(value, "big")


def _u64_list(node: Node, name: str, source: str) -> list[int]:
    value = _raw(node, name)
    if not value:
        return []
    if len(value) % 8:
        raise _bad(source, node, f"{name} must be u64 cells, found {len(value)} bytes")
    return list(struct.unpack(f">{len(value) // 8}Q", value))


def _u32_list(node: Node, name: str, source: str) -> list[int]:
    value = _raw(node, name)
    if not value:
        return []
    if len(value) % 4:
        raise _bad(source, node, f"{name} must be u32 cells, found {len(value)} bytes")
    return list(struct.unpack(f">{len(value) // 4}I", value))
