"""Packing operations into overlay transactions of at most one page each.

The kernel reads ``overlays/new`` one page (4096 bytes) per write and runs the fragments
of a blob in ascending hexadecimal unit order, and the operations of one fragment in its
own fixed order (reference §1.5, §3.4). :func:`build_transactions` therefore:

* keeps the caller's order of operations: an operation joins the current fragment only
  when it has the same target, the fragment has no operation of that kind yet, and the
  kernel would run it after everything already there; otherwise it opens a new fragment;
* closes a transaction when the next operation would push the blob past the limit, and
  splits an operation with many items (or an ``instance-create`` with many CPUs, whose
  remaining CPUs become ``cpu-add`` items of the new instance) across transactions.

Every blob has ``compatible = "linux,multikernel-overlay"`` and a root ``mk,resources``
tag (``<tag> <n>``) that the kernel shows in ``tx_<N>/resources``: it is how kerf
recognises its own transactions after a crash.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from kerf.dts.tree import Node, Tree
from kerf.errors import InternalError
from kerf.overlay.ops import (
    CpuItem,
    InstanceCreate,
    InstanceRemove,
    Item,
    ItemOperation,
    Kind,
    MemoryItem,
    Operation,
    PciItem,
    instance_target,
    kernel_rank,
)

OVERLAY_COMPATIBLE = "linux,multikernel-overlay"
PAGE_LIMIT = 4096
# mk,resources is shown cut to 255 characters by the kernel.
MAX_TAG = 200


@dataclass(frozen=True)
class Fragment:
    """One ``fragment@N``: a target and its operations (in the kernel's run order)."""

    target: str
    operations: tuple[Operation, ...]

    def accepts(self, op: Operation) -> bool:
        """True when ``op`` can join this fragment without changing the order of events."""
        if op.target != self.target or any(o.kind == op.kind for o in self.operations):
            return False
        last = max(kernel_rank(self.target, o.kind) for o in self.operations)
        return kernel_rank(self.target, op.kind) > last


@dataclass(frozen=True)
class OverlayTransaction:
    """One blob to write to ``overlays/new``, the tree it encodes and its operations."""

    tag: str
    fragments: tuple[Fragment, ...]
    tree: Tree
    blob: bytes

    @property
    def operations(self) -> tuple[Operation, ...]:
        """Every operation of the transaction, in the order the kernel runs them."""
        return tuple(op for f in self.fragments for op in f.operations)

    def describe(self) -> str:
        """The operations in plain words, separated by semicolons."""
        return "; ".join(op.describe() for op in self.operations)


def build_transactions(
    operations: Sequence[Operation], *, tag: str, limit: int = PAGE_LIMIT
) -> list[OverlayTransaction]:
    """Pack ``operations`` (in the order they must happen) into transactions of at most
    ``limit`` bytes each. ``tag`` identifies the batch (see the module documentation)."""
    if len(tag) > MAX_TAG or "\0" in tag:
        raise ValueError(f"bad batch tag {tag!r}")
    done: list[OverlayTransaction] = []
    current: list[Fragment] = []
    queue: deque[Operation] = deque(operations)

    def label() -> str:
        return f"{tag} {len(done) + 1}"

    def close() -> None:
        done.append(_encode(label(), current))
        current.clear()

    while queue:
        op = queue.popleft()
        trial = _joined(current, op)
        if len(_encode(label(), trial).blob) <= limit:
            current[:] = trial
            continue
        parts = _largest_prefix(current, op, label(), limit)
        if parts is not None:
            head, tail = parts
            current[:] = _joined(current, head)
            queue.appendleft(tail)
            close()
            continue
        if not current:
            raise InternalError(f"{op.describe()} does not fit in one {limit}-byte overlay")
        queue.appendleft(op)
        close()
    if current:
        close()
    return done


def _joined(fragments: list[Fragment], op: Operation) -> list[Fragment]:
    if fragments and fragments[-1].accepts(op):
        last = fragments[-1]
        ordered = sorted((*last.operations, op), key=lambda o: kernel_rank(last.target, o.kind))
        return [*fragments[:-1], Fragment(last.target, tuple(ordered))]
    return [*fragments, Fragment(op.target, (op,))]


def _split(op: Operation, keep: int) -> tuple[Operation, Operation] | None:
    """``op`` cut after ``keep`` items: (head, rest), or None when it cannot be cut there."""
    if isinstance(op, ItemOperation):
        if not 0 < keep < len(op.items):
            return None
        return op.with_items(op.items[:keep]), op.with_items(op.items[keep:])
    if isinstance(op, InstanceCreate):
        if not 0 < keep < len(op.cpus):
            return None
        head = InstanceCreate(op.name, op.memory_bytes, op.cpus[:keep], op.id, op.numa_node)
        rest = ItemOperation(instance_target(op.name), Kind.CPU_ADD, op.cpus[keep:])
        return head, rest
    return None


def _item_count(op: Operation) -> int:
    if isinstance(op, ItemOperation):
        return len(op.items)
    if isinstance(op, InstanceCreate):
        return len(op.cpus)
    return 0


def _largest_prefix(
    fragments: list[Fragment], op: Operation, tag: str, limit: int
) -> tuple[Operation, Operation] | None:
    """The longest head of ``op`` that still fits next to ``fragments`` (binary search)."""
    lo, hi = 0, _item_count(op) - 1  # keeping every item was already tried
    best: tuple[Operation, Operation] | None = None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        parts = _split(op, mid)
        if parts is not None and len(_encode(tag, _joined(fragments, parts[0])).blob) <= limit:
            best, lo = parts, mid
        else:
            hi = mid - 1
    return best


# --- encoding --------------------------------------------------------------------------------


def _encode(tag: str, fragments: Sequence[Fragment]) -> OverlayTransaction:
    from kerf.dts import to_dtb

    tree = Tree.empty()
    root = tree.root
    root.set_string("compatible", OVERLAY_COMPATIBLE)
    root.set_string("mk,resources", tag)
    for number, fragment in enumerate(fragments):
        node = root.add_node(f"fragment@{number:x}")
        node.set_string("target-path", fragment.target)
        overlay = node.add_node("__overlay__")
        for op in fragment.operations:
            _write_operation(overlay, op)
    return OverlayTransaction(tag, tuple(fragments), tree, to_dtb(tree))


def _write_operation(parent: Node, op: Operation) -> None:
    node = parent.add_node(op.kind.value)
    if isinstance(op, InstanceCreate):
        node.set_string("instance-name", op.name)
        if op.id is not None:
            node.set_u32("id", op.id)
        resources = node.add_node("resources")
        if op.memory_bytes:
            resources.set_u64("memory-bytes", op.memory_bytes)
        if op.cpus:
            resources.set_cells("cpus", [c.cpu for c in op.cpus], bits=64)
        if op.numa_node is not None:
            resources.set_cells("numa-nodes", [op.numa_node])
    elif isinstance(op, InstanceRemove):
        node.set_string("instance-name", op.name)
    else:
        for index, item in enumerate(op.items):
            _write_item(node, index, item)


def _write_item(parent: Node, index: int, item: Item) -> None:
    if isinstance(item, CpuItem):
        node = parent.add_node(f"cpu@{item.cpu:x}")
        node.set_u64("reg", item.cpu)
        if item.numa_node is not None:
            node.set_u32("numa-node-id", item.numa_node)
    elif isinstance(item, MemoryItem):
        node = parent.add_node(f"memory@{index:x}")
        if item.base is None:
            node.set_u64("size", item.size)
        else:
            node.set_cells("reg", [item.base, item.size], bits=64)
        if item.numa_node is not None:
            node.set_u32("numa-node-id", item.numa_node)
    elif isinstance(item, PciItem):
        node = parent.add_node(f"pci@{index:x}")
        node.set_string("pci-id", item.pci_id)
        if item.alias is not None:
            node.set_string("alias", item.alias)
