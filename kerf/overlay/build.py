"""Operations as overlay transactions: one operation, and one item, per transaction.

Why one item per transaction (kernel-interface reference §1.5, §1.7, §3.4):

* The kernel applies a blob until its first failing operation and leaves whatever ran
  before applied, with the transaction marked ``failed``.
* Rolling a transaction back (``rmdir overlays/tx_<N>``) keeps nothing of that history:
  the kernel parses the blob again and sends the inverse of *every* operation in it,
  fragments in reverse, operations in reverse of the run order, items forward,
  stopping at the first inverse that fails. Undoing a failed transaction of several
  operations therefore replays inverses of operations that never ran: it usually fails
  at once (the inverse finds nothing, ENOENT), so the transaction can never be cleared,
  and it can even undo what it never did (the inverse of an ``instance-create`` refused
  with EEXIST destroys the *other* instance of that name).

With a single item in each transaction, a failed transaction has changed nothing, so
kerf never needs to roll it back, and every transaction it does roll back applied whole.
``instance-create`` stays one operation with its CPUs and memory inside: the kernel
creates all of it or, when the memory cannot be had, nothing (a CPU it cannot transfer
leaves the instance without CPUs and the transaction ``applied``, which kerf's check of
the result catches). ``instance-remove`` goes alone too.

:func:`build_transactions` keeps the caller's order of operations. Every blob is at most
one page (4096 bytes: kernfs hands ``overlays/new`` one page per write): an
``instance-create`` with more CPUs than a page holds keeps the first ones (the boot CPU
first) and passes each of the others on as a ``cpu-add`` transaction of the new instance.

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

    @property
    def is_single_step(self) -> bool:
        """True when the transaction holds one operation of at most one item (or one
        ``instance-create``): if the kernel refuses it, nothing of it was applied."""
        ops = self.operations
        return len(ops) == 1 and (not isinstance(ops[0], ItemOperation) or len(ops[0].items) == 1)

    def describe(self) -> str:
        """The operations in plain words, separated by semicolons."""
        return "; ".join(op.describe() for op in self.operations)


def build_transactions(
    operations: Sequence[Operation], *, tag: str, limit: int = PAGE_LIMIT
) -> list[OverlayTransaction]:
    """One transaction per operation and item of ``operations`` (in the order they must
    happen), each at most ``limit`` bytes. ``tag`` identifies the batch (see the module
    documentation); InternalError when a single item does not fit ``limit``."""
    if len(tag) > MAX_TAG or "\0" in tag:
        raise ValueError(f"bad batch tag {tag!r}")
    done: list[OverlayTransaction] = []
    queue: deque[Operation] = deque(operations)
    while queue:
        op = queue.popleft()
        if isinstance(op, ItemOperation) and len(op.items) > 1:
            queue.extendleft(reversed([op.with_items((item,)) for item in op.items]))
            continue
        label = f"{tag} {len(done) + 1}"
        tx = _encode(label, op)
        if len(tx.blob) <= limit:
            done.append(tx)
            continue
        # Only an instance-create can be cut: its remaining CPUs follow one by one.
        if not isinstance(op, InstanceCreate) or (head := _largest_create(op, label, limit)) is None:
            raise InternalError(f"{op.describe()} does not fit in one {limit}-byte overlay")
        done.append(_encode(label, head))
        target = instance_target(op.name)
        rest = [ItemOperation(target, Kind.CPU_ADD, (cpu,)) for cpu in op.cpus[len(head.cpus) :]]
        queue.extendleft(reversed(rest))
    return done


def _largest_create(op: InstanceCreate, label: str, limit: int) -> InstanceCreate | None:
    """``op`` with the longest prefix of its CPUs (at least the boot CPU) that fits in
    ``limit`` bytes, or None when not even one CPU does (binary search)."""
    best: InstanceCreate | None = None
    lo, hi = 1, len(op.cpus) - 1  # keeping every CPU was already tried
    while lo <= hi:
        mid = (lo + hi) // 2
        head = InstanceCreate(op.name, op.memory_bytes, op.cpus[:mid], op.id, op.numa_node)
        if len(_encode(label, head).blob) <= limit:
            best, lo = head, mid + 1
        else:
            hi = mid - 1
    return best


# --- encoding --------------------------------------------------------------------------------


def _encode(tag: str, op: Operation) -> OverlayTransaction:
    """The blob of one operation: a single ``fragment@0`` targeting ``op.target``."""
    from kerf.dts import to_dtb

    tree = Tree.empty()
    root = tree.root
    root.set_string("compatible", OVERLAY_COMPATIBLE)
    root.set_string("mk,resources", tag)
    node = root.add_node("fragment@0")
    node.set_string("target-path", op.target)
    _write_operation(node.add_node("__overlay__"), op)
    return OverlayTransaction(tag, (Fragment(op.target, (op,)),), tree, to_dtb(tree))


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
