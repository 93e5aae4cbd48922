"""From "where an instance should be" to the overlay operations that take it there.

* create: ``instance-create`` with the CPUs and the first node's memory (the kernel
  chooses the address), then ``memory-add`` items for every further node (their ranges
  chosen inside that node's pool chunks, lowest free address first), then
  ``device-add`` of the PCI functions;
* update: only the difference: regions removed (newest first) and added per node, CPUs
  removed and added, devices removed and added;
* delete: ``instance-remove``.

The result of a batch is then compared with what was wanted (:func:`differences`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from kerf.errors import StateError, UnplacedError
from kerf.kernel.backend import InstanceStatus
from kerf.lifecycle.baseline import kernel_device
from kerf.lifecycle.kernel_view import Chunk, InstanceView, PoolView, Region
from kerf.lifecycle.placement import Desired
from kerf.lifecycle.reconcile import HAS_IMAGE
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
from planner.hardware import PAGE_SIZE, Host

Extent = tuple[int, int]  # (base, size)


def kernel_pci_ids(host: Host, devices: Iterable[str]) -> tuple[str, ...]:
    """The PCI functions of the units the kernel can be handed (others are kerf-only)."""
    return tuple(found.pci_id for label in devices if (found := kernel_device(host, label)) is not None)


def _cpu_items(host: Host, cpus: Iterable[int]) -> tuple[CpuItem, ...]:
    return tuple(CpuItem(c, host.cpu_by_id[c].numa_node if c in host.cpu_by_id else None) for c in cpus)


# --- free pool memory ------------------------------------------------------------------------


def free_extents(chunks: Sequence[Chunk], used: Iterable[Extent]) -> dict[int | None, list[Extent]]:
    """Free page-aligned ranges of the pool per NUMA node, ascending address."""
    taken = sorted(used)
    out: dict[int | None, list[Extent]] = {}
    for chunk in chunks:
        cursor = chunk.base
        free: list[Extent] = []
        for base, size in taken:
            end = base + size
            if end <= cursor or base >= chunk.end:
                continue
            if base > cursor:
                free.append((cursor, base - cursor))
            cursor = max(cursor, end)
        if cursor < chunk.end:
            free.append((cursor, chunk.end - cursor))
        aligned = [(b + (-b) % PAGE_SIZE, s - (-b) % PAGE_SIZE) for b, s in free]
        out.setdefault(chunk.node, []).extend(
            (b, s - s % PAGE_SIZE) for b, s in aligned if s - s % PAGE_SIZE > 0
        )
    for extents in out.values():
        extents.sort()
    return out


def carve(free: dict[int | None, list[Extent]], node: int | None, size: int, who: str) -> list[Extent]:
    """Take ``size`` bytes from ``node``'s free ranges: the lowest range that holds it all,
    else lowest ranges first. The ranges taken are removed from ``free``."""
    extents = free.get(node, [])
    whole = next((e for e in extents if e[1] >= size), None)
    picked: list[Extent] = []
    if whole is not None:
        picked = [(whole[0], size)]
    else:
        if sum(s for _, s in extents) < size:
            where = f"NUMA node {node}" if node is not None else "the pool"
            have = sum(s for _, s in extents)
            raise UnplacedError(
                f"{who}: {where} has {_size(have)} of pool memory free, {_size(size)} are needed",
                hint="kerf show lists the free memory per node",
            )
        need = size
        for base, length in extents:
            if need == 0:
                break
            part = min(length, need)
            picked.append((base, part))
            need -= part
    for base, part in picked:
        _take(extents, base, part)
    return picked


def _take(extents: list[Extent], base: int, size: int) -> None:
    for i, (b, s) in enumerate(extents):
        if b <= base and base + size <= b + s:
            rest = [(b, base - b), (base + size, b + s - base - size)]
            extents[i : i + 1] = [(x, y) for x, y in rest if y > 0]
            return
    raise AssertionError(f"{base:#x}+{size:#x} is not free")


# --- operations ------------------------------------------------------------------------------


def create_operations(
    host: Host, name: str, ident: int | None, desired: Desired, pool: PoolView, used: Sequence[Region]
) -> list[Operation]:
    """The batch that creates ``name`` as ``desired``."""
    memory = list(desired.memory)
    first_node, first_bytes = memory[0] if memory else (None, 0)
    ops: list[Operation] = [
        InstanceCreate(name, first_bytes, _cpu_items(host, desired.cpus), ident, first_node)
    ]
    if len(memory) > 1:
        free = free_extents(pool.chunks, [(r.base, r.size) for r in used])
        items = [
            MemoryItem(size, base, node)
            for node, amount in memory[1:]
            for base, size in carve(free, node, amount, f"instance {name}")
        ]
        ops.append(ItemOperation(instance_target(name), Kind.MEMORY_ADD, tuple(items)))
    pci = kernel_pci_ids(host, desired.devices)
    if pci:
        ops.append(ItemOperation(instance_target(name), Kind.DEVICE_ADD, tuple(PciItem(p) for p in pci)))
    return ops


def update_operations(
    host: Host, current: InstanceView, desired: Desired, pool: PoolView, used: Sequence[Region]
) -> list[Operation]:
    """The delta from ``current`` to ``desired``: nothing for what stays."""
    target = instance_target(current.name)
    ops: list[Operation] = []
    removed, added = _memory_delta(current, desired, pool, used)
    if removed:
        ops.append(ItemOperation(target, Kind.MEMORY_REMOVE, tuple(removed)))
    if added:
        ops.append(ItemOperation(target, Kind.MEMORY_ADD, tuple(added)))
    gone = [c for c in current.cpus if c not in desired.cpus]
    new = [c for c in desired.cpus if c not in current.cpus]
    if gone and current.status is InstanceStatus.ACTIVE and current.cpus[0] in gone:
        raise StateError(
            f"instance {current.name} is running on its boot CPU {current.cpus[0]}, which the new "
            "placement gives up; a running kernel cannot let its boot CPU go",
            hint=f"keep CPU {current.cpus[0]} (e.g. in --cpus), or stop it first: kerf kill {current.name}",
        )
    # CPUs join before others leave (each is a transaction of its own): a running kernel
    # never drops below the smaller of its old and new CPU counts on the way
    if new:
        ops.append(ItemOperation(target, Kind.CPU_ADD, _cpu_items(host, new)))
    if gone:
        ops.append(ItemOperation(target, Kind.CPU_REMOVE, _cpu_items(host, gone)))
    want_pci = kernel_pci_ids(host, desired.devices)
    drop = [p for p in current.pci_ids if p not in want_pci]
    give = [p for p in want_pci if p not in current.pci_ids]
    if drop:
        ops.append(ItemOperation(target, Kind.DEVICE_REMOVE, tuple(PciItem(p) for p in drop)))
    if give:
        ops.append(ItemOperation(target, Kind.DEVICE_ADD, tuple(PciItem(p) for p in give)))
    return ops


def image_region(current: InstanceView) -> Region | None:
    """The region holding the instance's loaded kernel image (the oldest: the kernel loads
    the image at the start of the memory the instance was created with), or None when no
    image is loaded."""
    if current.status not in HAS_IMAGE or not current.regions:
        return None
    return min(current.regions, key=lambda r: r.index)


def _image_in_the_way(
    current: InstanceView, image: Region | None, node: int | None, target: int
) -> StateError:
    where = "" if node is None else f" on NUMA node {node}"
    size = "" if image is None else f" ({_size(image.size)} at {image.base:#x})"
    return StateError(
        f"instance {current.name} is {current.status.value}: its kernel image lies in its first "
        f"memory region{size}, which the kernel does not let go while the image is loaded; it "
        f"cannot shrink to {_size(target)}{where}",
        hint=f"keep at least that region, or stop and unload it first (kerf kill {current.name}; "
        f"kerf unload {current.name})",
    )


def _memory_delta(
    current: InstanceView, desired: Desired, pool: PoolView, used: Sequence[Region]
) -> tuple[list[MemoryItem], list[MemoryItem]]:
    want = dict(desired.memory)
    have = current.bytes_by_node()
    removed: list[Region] = []
    trimmed: list[MemoryItem] = []
    grow: dict[int | None, int] = {}
    image = image_region(current)
    for node in sorted(set(want) | set(have), key=lambda n: -1 if n is None else n):
        target, now = want.get(node, 0), have.get(node, 0)
        if target < now:
            # Whole regions go first, newest first: the oldest holds the loaded kernel image,
            # and the kernel refuses to remove a region under a loaded image (-EBUSY).
            newest_first = sorted(
                (r for r in current.regions if r.node == node and r != image), key=lambda r: -r.index
            )
            for region in newest_first:
                if now - region.size >= target:
                    removed.append(region)
                    now -= region.size
            if now > target:
                # Every region left is larger than the excess: shorten the newest in place
                # (memory-remove runs before memory-add, so its start is free again).
                cut = next((r for r in newest_first if r not in removed), None)
                if cut is None:
                    raise _image_in_the_way(current, image, node, target)
                removed.append(cut)
                trimmed.append(MemoryItem(cut.size - (now - target), cut.base, node))
                now = target
        if target > now:
            grow[node] = target - now
    if not grow:
        return [MemoryItem(r.size, r.base, r.node) for r in removed], trimmed
    # Memory removed in the same fragment is free again when memory-add runs.
    still_used = [(r.base, r.size) for r in used if r not in removed]
    free = free_extents(pool.chunks, still_used)
    added = trimmed + [
        MemoryItem(size, base, node)
        for node, amount in grow.items()
        for base, size in carve(free, node, amount, f"instance {current.name}")
    ]
    return [MemoryItem(r.size, r.base, r.node) for r in removed], added


def delete_operations(name: str) -> list[Operation]:
    """The batch that removes ``name``."""
    return [InstanceRemove(name)]


# --- checking the result ---------------------------------------------------------------------


def differences(host: Host, got: InstanceView | None, desired: Desired, *, exact_order: bool) -> list[str]:
    """How the kernel's instance differs from ``desired`` (empty when it matches)."""
    if got is None:
        return ["the instance does not exist in the kernel"]
    problems = []
    if (exact_order and got.cpus != desired.cpus) or set(got.cpus) != set(desired.cpus):
        missing = [c for c in desired.cpus if c not in got.cpus]
        extra = [c for c in got.cpus if c not in desired.cpus]
        detail = (f"; missing {_list(missing)}" if missing else "") + (
            f"; extra {_list(extra)}" if extra else ""
        )
        problems.append(f"it has CPUs {_list(got.cpus) or 'none'} instead of {_list(desired.cpus)}{detail}")
    if got.regions_known:
        have = {n: b for n, b in got.bytes_by_node().items() if b}
        want = {n: b for n, b in desired.memory if b}
        if None in want:  # memory asked for on any node: only the total can be compared
            have, want = {None: sum(have.values())}, {None: sum(want.values())}
        if have != want:
            problems.append(f"it has memory {_nodes(have)} instead of {_nodes(want)}")
    elif got.memory_bytes != desired.memory_bytes:
        problems.append(
            f"it has {_size(got.memory_bytes)} of memory instead of {_size(desired.memory_bytes)}"
        )
    want_pci = set(kernel_pci_ids(host, desired.devices))
    if set(got.pci_ids) != want_pci:
        untransferred = sorted(want_pci - set(got.pci_ids))
        wanted = _list(sorted(want_pci)) or "none"
        problems.append(
            f"it has PCI devices {_list(got.pci_ids) or 'none'} instead of {wanted}"
            + (f" (not transferred: {_list(untransferred)})" if untransferred else "")
        )
    return problems


def _list(values: Iterable[object]) -> str:
    return ", ".join(map(str, values))


def _nodes(by_node: Mapping[int | None, int]) -> str:
    if not by_node:
        return "none"
    return ", ".join(
        f"{_size(b)} on {'node ' + str(n) if n is not None else 'an unknown node'}"
        for n, b in sorted(by_node.items(), key=lambda nb: -1 if nb[0] is None else nb[0])
    )


def _size(n: int) -> str:
    from kerf.validate.findings import size_text

    return size_text(n)
