"""``kerf pool``: grow or shrink the pool of a running host to match an edited description.

The kernel takes a baseline only once, while its pool is empty; afterwards the pool
changes through overlays targeting ``/resources`` (reference §3.2): ``cpu-add`` /
``cpu-remove``, ``memory-add`` (a ``size`` per NUMA node; the kernel allocates a new
chunk) / ``memory-remove`` (a whole free chunk, named by its ``reg`` exactly as the pool
tree lists it), ``device-add`` / ``device-remove``.

Steps: read and validate the edited description (the checks of ``kerf init``); under the
lock repair, read the kernel and reconcile; refuse a change of the machine's topology
(kerf's stored description says what the machine is) and anything that would take away
what an instance holds; compute the difference between the pool the kernel shows and
the one the description asks for; journal it, write it all-or-nothing, compare the
resulting pool with the asked one, and install the new description.

Giving memory back: the kernel removes whole free chunks only. When no set of a node's
free chunks adds up to exactly the excess, the batch gives back the free chunks with the
smallest total above it and re-adds the difference on the same node (``memory-remove``
runs before ``memory-add`` in the pool fragment), so no instance memory is touched.

What the kernel cannot undo: rolling back a ``/resources memory-add`` leaves the chunk in
the pool (its base was never recorded, reference §1.7), and rolling back a
``memory-remove`` regrows the pool by the same size at another base. So after a failed
batch each node's pool total must come back to its total before the batch: kerf gives
back, with a ``memory-remove`` of their ``reg``, the chunks that are new on the node and
add up to exactly what it holds too much. When regrowing a removed chunk fails for want of
room (the chunk a re-add made sits in it), kerf gives that chunk back first and retries;
when that fails too, the journal records the transactions still applied, because the
kernel now shows them ``failed`` like the one it refused (which is never rolled back:
see :func:`kerf.lifecycle.recovery.roll_back_batch`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kerf.errors import KerfError, StateError, ValidationError
from kerf.kernel.backend import KernelBackend, NoSuchTransactionError, roll_back_transaction
from kerf.lifecycle.baseline import KernelDevice, build_baseline, pool_memory_requests
from kerf.lifecycle.common import Outcome, Prepared, new_batch, prepare, utc_now
from kerf.lifecycle.faults import checkpoint
from kerf.lifecycle.init import load_valid_description
from kerf.lifecycle.kernel_view import Chunk, KernelView, PoolView, read_pool
from kerf.lifecycle.reconcile import pci_labels
from kerf.lifecycle.recovery import remember_still_applied, roll_back_batch, still_applied
from kerf.lifecycle.session import Session
from kerf.overlay import (
    RESOURCES,
    CpuItem,
    ItemOperation,
    Kind,
    MemoryItem,
    Operation,
    OverlayTransaction,
    PciItem,
    RollbackFailedError,
    TransactionFailedError,
    apply_batch,
    build_transactions,
)
from kerf.state import Journal, StateDir
from planner.hardware import Host

MAX_FINDINGS_SHOWN = 5
# Exact-sum search over a node's free chunks: more distinct partial sums than this and
# the search stops growing (a pool has a handful of chunks per node in practice).
MAX_SUMS = 1 << 16
# Memory group of a pool whose description attributes memory to no NUMA node.
ANY_NODE: int | None = None


class PoolInUseError(StateError):
    """The new pool would take away something an instance holds, or a node's free chunks
    hold less than it should give back."""


class TopologyChangeError(ValidationError):
    """The edited description changes the machine, not only the pool."""


@dataclass(frozen=True)
class MemoryRemoval:
    """Memory given back on one node (``None``: the pool is not split by node): the
    free ``chunks`` removed, which add up to ``size + readded``; ``readded`` bytes are
    added back on the same node in the same batch (0 when the chunks make ``size``
    exactly)."""

    node: int | None
    size: int
    chunks: tuple[Chunk, ...]
    readded: int = 0

    def describe(self) -> str:
        """``-4 GiB on node 3`` or ``-4 GiB on node 3 (16 GiB chunk at 0x... given back,
        12 GiB re-added)``."""
        from kerf.validate.findings import size_text

        text = f"-{size_text(self.size)}" + (f" on node {self.node}" if self.node is not None else "")
        if not self.readded:
            return text
        if len(self.chunks) == 1:
            [chunk] = self.chunks
            gone = f"{size_text(chunk.size)} chunk at {chunk.base:#x}"
        else:
            gone = "chunks " + ", ".join(f"{size_text(c.size)} at {c.base:#x}" for c in self.chunks)
        return f"{text} ({gone} given back, {size_text(self.readded)} re-added)"


@dataclass(frozen=True)
class PoolChange:
    """The difference between the kernel's pool and the one a description asks for."""

    cpus_added: tuple[int, ...] = ()
    cpus_removed: tuple[int, ...] = ()
    memory_added: tuple[tuple[int | None, int], ...] = ()  # (node, bytes)
    memory_removed: tuple[MemoryRemoval, ...] = ()
    devices_added: tuple[KernelDevice, ...] = ()
    devices_removed: tuple[tuple[str, str], ...] = ()  # (pci id, label)
    units_added: tuple[str, ...] = ()  # kerf-only units (never handed to the kernel)
    units_removed: tuple[str, ...] = ()

    @property
    def touches_kernel(self) -> bool:
        """True when the kernel's pool has to change."""
        return bool(
            self.cpus_added
            or self.cpus_removed
            or self.memory_added
            or self.memory_removed
            or self.devices_added
            or self.devices_removed
        )

    def describe(self) -> str:
        """``+CPUs 4-5; -8 GiB on node 1; +device eth1`` (empty when nothing changes)."""
        from kerf.validate.findings import ids_text, size_text

        def on(node: int | None) -> str:
            return f" on node {node}" if node is not None else ""

        parts: list[str] = []
        if self.cpus_added:
            parts.append(f"+CPU{'s' if len(self.cpus_added) > 1 else ''} {ids_text(self.cpus_added)}")
        if self.cpus_removed:
            parts.append(f"-CPU{'s' if len(self.cpus_removed) > 1 else ''} {ids_text(self.cpus_removed)}")
        parts += [f"+{size_text(size)}{on(node)}" for node, size in self.memory_added]
        parts += [r.describe() for r in self.memory_removed]
        parts += [f"+device {d.label}" for d in self.devices_added]
        parts += [f"-device {label}" for _, label in self.devices_removed]
        parts += [f"+unit {label} (kerf only)" for label in self.units_added]
        parts += [f"-unit {label} (kerf only)" for label in self.units_removed]
        return "; ".join(parts)


def pool(session: Session, source: Path, *, dry_run: bool = False) -> Outcome:
    """Change the kernel's pool to the one the host description in ``source`` asks for."""
    from kerf.binding import host_to_tree
    from kerf.dts import format_dts

    host = load_valid_description(source).host
    text = format_dts(host_to_tree(host))
    if dry_run:
        with session.read_locked():
            prepared = prepare(session, write=False)
            change = plan_pool_change(prepared, host)
            transactions = build_transactions(pool_operations(host, change), tag=new_batch())
            same_text = session.state.host_text() == text
        data = _data(session, source, change, transactions, [])
        data["dry_run"] = True
        data["overlays"] = [format_dts(t.tree) for t in transactions]
        if not change.touches_kernel and same_text:
            return Outcome(f"the pool already matches {source}", data, list(prepared.notices))
        return Outcome(f"would change the pool: {_summary(change, same_text)}", data, list(prepared.notices))

    with session.locked() as state:
        prepared = prepare(session)
        change = plan_pool_change(prepared, host)
        if not change.touches_kernel and state.host_text() == text:
            data = _data(session, source, change, [], [])
            return Outcome(f"the pool already matches {source}", data, list(prepared.notices))
        batch = new_batch()
        transactions = build_transactions(pool_operations(host, change), tag=batch)
        backend = session.mounted_backend()
        journal = Journal(
            "pool",
            batch,
            started_at=utc_now(),
            extra={
                "source": str(source),
                "chunks_before": [[c.base, c.size, c.node] for c in prepared.view.pool.chunks],
                "per_node": _groups(pool_memory_requests(host)),
                "added": [[node, size] for node, size in _memory_adds(change)],
                "growing": _growing_groups(change),
            },
        )
        state.write_pending_host(text)
        tx_ids = _apply(session, backend, journal, transactions, host)
        state.install_pending_host()
        checkpoint("host-installed")
        state.clear_journal()
    data = _data(session, source, change, transactions, tx_ids)
    summary = _summary(change, same_text=False)
    return Outcome(f"pool: {summary}", data, list(prepared.notices))


def _summary(change: PoolChange, same_text: bool) -> str:
    described = change.describe()
    if described:
        return described
    return "no change to the kernel's pool" + (
        "" if same_text else "; kerf's copy of the description is updated"
    )


# --- the difference ------------------------------------------------------------------------------


def plan_pool_change(prepared: Prepared, host: Host) -> PoolChange:
    """The pool change from the kernel's pool to ``host``'s; raises TopologyChangeError or
    PoolInUseError (naming the instances and what they hold) when it cannot be made."""
    _check_topology(prepared.host, host)
    view = prepared.view
    current = view.pool
    baseline = build_baseline(host)
    problems: list[str] = []

    lent_cpus = {cpu: inst.name for inst in view.instances.values() for cpu in inst.cpus}
    want_cpus = set(baseline.cpus)
    cpus_removed = tuple(sorted(set(current.cpus) - want_cpus))
    cpus_added = tuple(sorted(want_cpus - set(current.cpus)))
    problems += [
        f"CPU {cpu} is held by instance {lent_cpus[cpu]}" for cpu in cpus_removed if cpu in lent_cpus
    ]

    lent_pci = {pci: inst.name for inst in view.instances.values() for pci in inst.pci_ids}
    have_pci = set(current.free_pci) | set(lent_pci)
    want_pci = {d.pci_id: d for d in baseline.devices}
    old_labels = pci_labels(prepared.host)
    devices_removed = tuple((pci, old_labels.get(pci, pci)) for pci in sorted(have_pci - set(want_pci)))
    devices_added = tuple(want_pci[pci] for pci in sorted(set(want_pci) - have_pci))
    problems += [
        f"device {label} ({pci}) is held by instance {lent_pci[pci]}"
        for pci, label in devices_removed
        if pci in lent_pci
    ]

    # Units kerf assigns in its records only (NVMe namespaces): they must stay described.
    for name, record in sorted(prepared.records.items()):
        gone = [
            label
            for label in record.placement.devices
            if label not in host.unit_by_label and label not in old_labels.values()  # kernel ones: above
        ]
        problems += [f"device unit {label} is held by instance {name}" for label in gone]
    kernel_labels = set(pci_labels(host).values()) | set(old_labels.values())
    units_added = tuple(sorted(set(host.unit_by_label) - set(prepared.host.unit_by_label) - kernel_labels))
    units_removed = tuple(sorted(set(prepared.host.unit_by_label) - set(host.unit_by_label) - kernel_labels))

    memory_added, memory_removed, memory_problems, inexact = _memory_change(view, pool_memory_requests(host))
    problems += memory_problems
    if problems or inexact:
        shown = "; ".join([*problems, *inexact])
        hints = []
        if problems:
            hints.append(
                "shrink or delete those instances first (kerf update / kerf delete), or keep what "
                "they hold in the pool"
            )
        if inexact:
            hints.append(
                "give back at most what the node's free chunks hold (see above); an instance "
                "that shrinks or goes frees its memory"
            )
        raise PoolInUseError(
            f"the pool cannot change as asked: {shown}. Nothing was changed.", hint="; ".join(hints)
        )
    return PoolChange(
        cpus_added=cpus_added,
        cpus_removed=cpus_removed,
        memory_added=memory_added,
        memory_removed=memory_removed,
        devices_added=devices_added,
        devices_removed=devices_removed,
        units_added=units_added,
        units_removed=units_removed,
    )


def _groups(requests: Sequence[tuple[int | None, int]]) -> bool:
    """True when the pool is compared per NUMA node (False: as one amount on any node)."""
    return all(node is not None for node, _ in requests)


def _group_of(node: int | None, per_node: bool) -> int | None:
    return node if per_node else ANY_NODE


def _memory_change(
    view: KernelView, requests: Sequence[tuple[int | None, int]]
) -> tuple[tuple[tuple[int | None, int], ...], tuple[MemoryRemoval, ...], list[str], list[str]]:
    """Memory to add and to give back per node, and why giving back cannot be done:
    (added, removed, memory instances hold, amounts the free chunks do not hold)."""
    from kerf.validate.findings import size_text

    per_node = _groups(requests)
    pool = view.pool
    want: dict[int | None, int] = {}
    for node, size in requests:
        want[node] = want.get(node, 0) + size
    have: dict[int | None, int] = {}
    for chunk in pool.chunks:
        group = _group_of(chunk.node, per_node)
        have[group] = have.get(group, 0) + chunk.size
    regions = view.regions_in_use()
    owners: dict[int | None, dict[str, int]] = {}
    for inst in view.instances.values():
        for region in inst.regions:
            by_name = owners.setdefault(_group_of(region.node, per_node), {})
            by_name[inst.name] = by_name.get(inst.name, 0) + region.size
    added: list[tuple[int | None, int]] = []
    removed: list[MemoryRemoval] = []
    problems: list[str] = []
    inexact: list[str] = []
    for group in sorted(set(want) | set(have), key=lambda g: -1 if g is None else g):
        target, current = want.get(group, 0), have.get(group, 0)
        where = f"node {group}" if group is not None else "the pool"
        if target > current:
            added.append((group, target - current))
            continue
        if target == current:
            continue
        excess = current - target
        used = sum(owners.get(group, {}).values())
        if target < used:
            holders = ", ".join(f"{name} {size_text(size)}" for name, size in sorted(owners[group].items()))
            problems.append(
                f"{where} would keep {size_text(target)} of pool memory but instances hold "
                f"{size_text(used)} there ({holders})"
            )
            continue
        chunks = [c for c in pool.chunks if _group_of(c.node, per_node) == group]
        free = [c for c in chunks if not any(c.base <= r.base < c.end for r in regions)]
        picked = exact_chunks(free, excess)
        if picked is not None:
            removed.append(MemoryRemoval(group, excess, picked))
            continue
        # No exact set: give back a little more in whole free chunks and add the rest back.
        covering = covering_chunks(free, excess)
        if covering is None:
            inexact.append(_too_little(where, excess, chunks, free))
            continue
        readded = sum(c.size for c in covering) - excess
        removed.append(MemoryRemoval(group, excess, covering, readded))
    return tuple(added), tuple(removed), problems, inexact


def exact_chunks(free: Iterable[Chunk], size: int) -> tuple[Chunk, ...] | None:
    """The fewest free chunks whose sizes add up to exactly ``size`` (lowest bases first
    among equals), or None."""
    best: dict[int, tuple[Chunk, ...]] = {0: ()}
    for chunk in sorted(free, key=lambda c: c.base):
        for total, picked in list(best.items()):
            new = total + chunk.size
            if new > size:
                continue
            known = best.get(new)
            if known is None and len(best) >= MAX_SUMS:
                continue
            if known is None or len(picked) + 1 < len(known):
                best[new] = (*picked, chunk)
    found = best.get(size)
    return found if size > 0 and found is not None else None


def covering_chunks(free: Iterable[Chunk], size: int) -> tuple[Chunk, ...] | None:
    """The free chunks with the smallest total of at least ``size`` (fewest chunks among
    equal totals, lowest bases first), or None when all of them hold less."""
    chunks = sorted(free, key=lambda c: c.base)
    if size <= 0 or sum(c.size for c in chunks) < size:
        return None
    best: dict[int, tuple[Chunk, ...]] = {0: ()}
    for chunk in chunks:
        for total, picked in list(best.items()):
            if total >= size:
                continue  # one more chunk only makes a covering set larger
            new = total + chunk.size
            known = best.get(new)
            if known is None and len(best) >= MAX_SUMS:
                continue
            if known is None or len(picked) + 1 < len(known):
                best[new] = (*picked, chunk)
    covering = [total for total in best if total >= size]
    if covering:
        return best[min(covering)]
    # The search stopped growing before reaching size: the largest chunks first still cover it.
    picked_list: list[Chunk] = []
    for chunk in sorted(chunks, key=lambda c: (-c.size, c.base)):
        picked_list.append(chunk)
        if sum(c.size for c in picked_list) >= size:
            break
    return tuple(sorted(picked_list, key=lambda c: c.base))


def _too_little(where: str, excess: int, chunks: Sequence[Chunk], free: Sequence[Chunk]) -> str:
    from kerf.validate.findings import size_text

    def listed(items: Sequence[Chunk]) -> str:
        return ", ".join(f"{size_text(c.size)} at {c.base:#x}" for c in items) or "none"

    busy = [c for c in chunks if c not in free]
    held = sum(c.size for c in free)
    return (
        f"{where} should give back {size_text(excess)}, but the kernel gives back whole free "
        f"chunks only and they hold {size_text(held)} together (free chunks: {listed(free)}; "
        f"chunks holding instance memory: {listed(busy)}); {where} can give back at most "
        f"{size_text(held)}"
    )


def _node_text(node: int | None) -> str:
    return "no NUMA node" if node is None else f"NUMA node {node}"


def _check_topology(old: Host, new: Host) -> None:
    """Refuse a description of another machine: kerf can change the pool, not the CPUs,
    NUMA nodes, node memory or device placement the kernel reports."""
    problems: list[str] = []
    old_cpus, new_cpus = old.cpu_by_id, new.cpu_by_id
    for cpu in sorted(set(old_cpus) | set(new_cpus)):
        if cpu not in new_cpus:
            problems.append(f"CPU {cpu} is no longer described")
        elif cpu not in old_cpus:
            problems.append(f"CPU {cpu} is new")
        elif old_cpus[cpu].numa_node != new_cpus[cpu].numa_node:
            problems.append(
                f"CPU {cpu} moves from {_node_text(old_cpus[cpu].numa_node)} to "
                f"{_node_text(new_cpus[cpu].numa_node)}"
            )
    if old.node_ids != new.node_ids:
        problems.append(f"the NUMA nodes change from {list(old.node_ids)} to {list(new.node_ids)}")
    else:
        for node in old.node_ids:
            if old.node_by_id[node].memory != new.node_by_id[node].memory:
                problems.append(f"the memory of NUMA node {node} changes")
    old_units = {u.pci_id: u for d in old.devices for u in d.units() if u.pci_id is not None}
    for device in new.devices:
        for unit in device.units():
            before = old_units.get(unit.pci_id) if unit.pci_id is not None else None
            if before is not None and before.numa_node != unit.numa_node:
                problems.append(
                    f"PCI function {unit.pci_id} moves from NUMA node {before.numa_node} to {unit.numa_node}"
                )
    if problems:
        shown = "; ".join(problems[:MAX_FINDINGS_SHOWN])
        more = len(problems) - MAX_FINDINGS_SHOWN
        raise TopologyChangeError(
            f"the description changes the machine, which kerf pool cannot do: {shown}"
            + (f" (and {more} more)" if more > 0 else "")
            + ". Nothing was changed.",
            hint="kerf pool changes what is in the pool (cpus available, the memory pool, devices "
            "and VFs); a different machine needs a new pool: delete every instance and start over "
            "with kerf init",
        )


# --- operations ----------------------------------------------------------------------------------


def pool_operations(host: Host, change: PoolChange) -> list[Operation]:
    """The change as ``/resources`` operations, in the kernel's pool order: CPUs and
    devices leave, memory leaves, memory joins, CPUs and devices join."""

    def cpu_items(cpus: Sequence[int]) -> tuple[CpuItem, ...]:
        return tuple(CpuItem(c, host.cpu_by_id[c].numa_node if c in host.cpu_by_id else None) for c in cpus)

    ops: list[Operation] = []
    if change.cpus_removed:
        ops.append(ItemOperation(RESOURCES, Kind.CPU_REMOVE, cpu_items(change.cpus_removed)))
    if change.devices_removed:
        items = tuple(PciItem(pci) for pci, _ in change.devices_removed)
        ops.append(ItemOperation(RESOURCES, Kind.DEVICE_REMOVE, items))
    chunks = [c for r in change.memory_removed for c in r.chunks]
    if chunks:
        gone = tuple(MemoryItem(c.size, c.base, c.node) for c in chunks)
        ops.append(ItemOperation(RESOURCES, Kind.MEMORY_REMOVE, gone))
    adds = _memory_adds(change)
    if adds:
        grown = tuple(MemoryItem(size, None, node) for node, size in adds)
        ops.append(ItemOperation(RESOURCES, Kind.MEMORY_ADD, grown))
    if change.cpus_added:
        ops.append(ItemOperation(RESOURCES, Kind.CPU_ADD, cpu_items(change.cpus_added)))
    if change.devices_added:
        items = tuple(PciItem(d.pci_id) for d in change.devices_added)
        ops.append(ItemOperation(RESOURCES, Kind.DEVICE_ADD, items))
    return ops


def _memory_adds(change: PoolChange) -> list[tuple[int | None, int]]:
    """The batch's ``memory-add`` items: each growing node's growth and each shrinking
    node's re-added remainder (a node only grows or only shrinks, so one item per node)."""
    adds = [*change.memory_added, *((r.node, r.readded) for r in change.memory_removed if r.readded)]
    return sorted(adds, key=lambda ns: -1 if ns[0] is None else ns[0])


def _growing_groups(change: PoolChange) -> dict[str, Any]:
    """The memory groups the batch adds memory to (journal form, informative)."""
    nodes = [node for node, _ in _memory_adds(change)]
    return {"any_node": any(n is None for n in nodes), "nodes": sorted(n for n in nodes if n is not None)}


def _chunks_before(extra: Mapping[str, Any]) -> list[tuple[int, int, int | None]]:
    """The journal's ``chunks_before`` as (base, size, node); journals of earlier kerf
    versions hold [base, size] pairs (node None)."""
    out = []
    for entry in extra.get("chunks_before", []):
        node = entry[2] if len(entry) > 2 else None
        out.append((int(entry[0]), int(entry[1]), None if node is None else int(node)))
    return out


def _new_chunks_by_group(
    pool_now: PoolView, before: Sequence[tuple[int, int, int | None]], per_node: bool
) -> dict[int | None, list[Chunk]]:
    """Chunks not in the pool before the batch, per memory group."""
    known = {(base, size) for base, size, _ in before}
    new: dict[int | None, list[Chunk]] = {}
    for chunk in pool_now.chunks:
        if (chunk.base, chunk.size) not in known:
            new.setdefault(_group_of(chunk.node, per_node), []).append(chunk)
    return new


def _leftover_chunks(pool_now: PoolView, extra: Mapping[str, Any]) -> list[Chunk]:
    """Chunks a rolled-back batch left behind: per memory group, the new chunks that add
    up to exactly what the group holds beyond its total before the batch (a rolled-back
    ``memory-add`` leaves its chunk; a rolled-back ``memory-remove`` regrows the same size
    at another base, which is what the group had)."""
    before = _chunks_before(extra)
    if "per_node" not in extra:
        # A journal of an earlier kerf: its batches grew or shrank a node, never both, so
        # the new chunks on a growing node are exactly the ones the batch added.
        growing = extra.get("growing", {})
        nodes = set(growing.get("nodes", []))
        any_node = bool(growing.get("any_node", False))
        known = {(base, size) for base, size, _ in before}
        return [c for c in pool_now.chunks if (c.base, c.size) not in known and (any_node or c.node in nodes)]
    per_node = bool(extra["per_node"])
    total_before: dict[int | None, int] = {}
    for _, size, node in before:
        group = _group_of(node, per_node)
        total_before[group] = total_before.get(group, 0) + size
    total_now: dict[int | None, int] = {}
    for chunk in pool_now.chunks:
        group = _group_of(chunk.node, per_node)
        total_now[group] = total_now.get(group, 0) + chunk.size
    new = _new_chunks_by_group(pool_now, before, per_node)
    leftovers: list[Chunk] = []
    for group, total in total_now.items():
        extra_bytes = total - total_before.get(group, 0)
        picked = exact_chunks(new.get(group, []), extra_bytes) if extra_bytes > 0 else None
        # No exact set: leave the group as it is rather than take a chunk the batch did not make.
        leftovers += picked or ()
    return sorted(leftovers, key=lambda c: c.base)


def _added_chunks(pool_now: PoolView, extra: Mapping[str, Any]) -> list[Chunk]:
    """The chunks the batch's ``memory-add`` made, while its rollback is under way: per
    group, the new chunks that add up to exactly what the batch added there."""
    if "per_node" not in extra:
        return []
    per_node = bool(extra["per_node"])
    new = _new_chunks_by_group(pool_now, _chunks_before(extra), per_node)
    added: list[Chunk] = []
    for node, size in extra.get("added", []):
        group = _group_of(None if node is None else int(node), per_node)
        added += exact_chunks(new.get(group, []), int(size)) or ()
    return sorted(added, key=lambda c: c.base)


def _read_pool(backend: KernelBackend) -> PoolView:
    from kerf.dts import from_dtb

    return read_pool(from_dtb(backend.read_device_tree(), "device_tree"))


def _give_back(backend: KernelBackend, journal: Journal, chunks: Sequence[Chunk]) -> None:
    """``memory-remove`` of ``chunks``, under its own tag: recovery of the batch must not
    roll the give-back back."""
    if chunks:
        items = tuple(MemoryItem(c.size, c.base, c.node) for c in chunks)
        op = ItemOperation(RESOURCES, Kind.MEMORY_REMOVE, items)
        apply_batch(backend, build_transactions([op], tag=f"{journal.batch}-undo"))


def _give_back_leftovers(backend: KernelBackend, journal: Journal) -> list[Chunk]:
    """Bring each node's pool total back to its total before the rolled-back batch."""
    leftovers = _leftover_chunks(_read_pool(backend), journal.extra)
    _give_back(backend, journal, leftovers)
    return leftovers


def _retry_rollback(backend: KernelBackend, journal: Journal, remaining: Sequence[int]) -> bool:
    """After a rollback failed: give back the chunks the batch's ``memory-add`` made (a
    removed chunk regrows only where there is room, and a re-added remainder may sit in
    it) and roll back ``remaining`` (ascending ids) again. False when the batch made no
    chunk or the retry fails as well."""
    try:
        added = _added_chunks(_read_pool(backend), journal.extra)
        if not added:
            return False
        _give_back(backend, journal, added)
        for tx_id in reversed(remaining):
            with contextlib.suppress(NoSuchTransactionError):  # gone: already rolled back
                roll_back_transaction(backend, tx_id)
    except KerfError:
        return False
    return True


def _apply(
    session: Session,
    backend: KernelBackend,
    journal: Journal,
    transactions: Sequence[OverlayTransaction],
    host: Host,
) -> list[int]:
    """Journal, write all-or-nothing, check the pool, move the journal to its commit phase."""
    from kerf.dts import from_dtb

    state = session.state
    state.write_journal(journal)
    checkpoint("journal-written")
    want = build_baseline(host)
    requests = pool_memory_requests(host)

    def verify() -> str | None:
        got = read_pool(from_dtb(backend.read_device_tree(), "device_tree"))
        lent = {pci for inst in _instances(backend) for pci in inst}
        return _pool_differences(got, lent, want.cpus, requests, [d.pci_id for d in want.devices])

    try:
        written = apply_batch(
            backend, transactions, after_write=lambda n: checkpoint(f"overlay-written-{n}"), verify=verify
        )
    except RollbackFailedError as err:
        if not _retry_rollback(backend, journal, err.remaining):
            # The kernel holds part of the batch: the journal stays for the next command,
            # and says which transactions are applied whatever their status shows.
            remember_still_applied(state, journal, err.remaining)
            raise
        _give_back_leftovers(backend, journal)
        state.discard_pending_host()
        state.clear_journal()
        raise TransactionFailedError(
            f"{err.message}; kerf gave back the chunks the batch had added and the rollback "
            "then completed. Nothing was changed."
        ) from None
    except KerfError:
        _give_back_leftovers(backend, journal)
        state.discard_pending_host()
        state.clear_journal()
        raise
    checkpoint("batch-applied")
    state.write_journal(replace(journal, phase="commit"))
    checkpoint("journal-committed")
    return [tx.id for tx in written]


def _instances(backend: KernelBackend) -> list[tuple[str, ...]]:
    from kerf.lifecycle.kernel_view import read_kernel

    return [inst.pci_ids for inst in read_kernel(backend).instances.values()]


def _pool_differences(
    got: PoolView,
    lent_pci: set[str],
    cpus: Sequence[int],
    requests: Sequence[tuple[int | None, int]],
    pci_ids: Sequence[str],
) -> str | None:
    """How the kernel's pool differs from the asked one (None when it matches)."""
    from kerf.validate.findings import ids_text, size_text

    problems = []
    if set(got.cpus) != set(cpus):
        problems.append(f"it has CPUs {ids_text(got.cpus) or 'none'} instead of {ids_text(cpus) or 'none'}")
    per_node = _groups(requests)
    have: dict[int | None, int] = {}
    for chunk in got.chunks:
        group = _group_of(chunk.node, per_node)
        have[group] = have.get(group, 0) + chunk.size
    want: dict[int | None, int] = {}
    for node, size in requests:
        want[node] = want.get(node, 0) + size
    if {g: b for g, b in have.items() if b} != {g: b for g, b in want.items() if b}:

        def text(amounts: Mapping[int | None, int]) -> str:
            return ", ".join(
                f"{size_text(b)} on node {g}" if g is not None else size_text(b)
                for g, b in sorted(amounts.items(), key=lambda gb: -1 if gb[0] is None else gb[0])
                if b
            )

        problems.append(f"it has memory {text(have) or 'none'} instead of {text(want) or 'none'}")
    have_pci = set(got.free_pci) | lent_pci
    if have_pci != set(pci_ids):
        problems.append(
            f"it has PCI devices {', '.join(sorted(have_pci)) or 'none'} instead of "
            f"{', '.join(sorted(pci_ids)) or 'none'}"
        )
    if not problems:
        return None
    return f"the kernel changed the pool differently from the description: {'; '.join(problems)}"


# --- recovery ------------------------------------------------------------------------------------


def recover_pool(session: Session, journal: Journal) -> str:
    """Finish an interrupted ``kerf pool`` (the caller holds the lock and clears the journal):
    in the commit phase the kernel holds the new pool and the description is installed;
    before it, the batch is rolled back, chunks its memory-add left are given back and the
    staged description is dropped."""
    state: StateDir = session.state
    if journal.phase == "commit":
        if state.pending_host_file.exists():
            state.install_pending_host()
        return "completed the interrupted 'kerf pool': the kernel already held the new pool"
    backend = session.backend()
    try:
        result = roll_back_batch(
            backend,
            journal.batch,
            "'kerf pool'",
            retry=lambda tx_id: _retry_rollback(backend, journal, [tx_id]),
            still_applied=still_applied(journal),
        )
    except RollbackFailedError as err:
        remember_still_applied(state, journal, err.remaining)
        raise
    leftovers = _give_back_leftovers(backend, journal)
    state.discard_pending_host()
    if not result.undone and not leftovers:
        if result.kept is not None:
            return f"an interrupted 'kerf pool' had not changed the kernel: {result.describe()}"
        return "an interrupted 'kerf pool' had not changed the kernel yet; nothing to undo"
    return f"rolled back the interrupted 'kerf pool' ({result.describe()})"


# --- input and output ----------------------------------------------------------------------------


def _data(
    session: Session,
    source: Path,
    change: PoolChange,
    transactions: Sequence[OverlayTransaction],
    tx_ids: Sequence[int],
) -> dict[str, Any]:
    operations = [t.describe() for t in transactions]
    return {
        "backend": session.location.kind.value,
        "root": str(session.location.kernel_root),
        "state": str(session.location.state_dir),
        "source": str(source),
        "changed": change.touches_kernel,
        "cpus_added": list(change.cpus_added),
        "cpus_removed": list(change.cpus_removed),
        "memory_added": [{"numa_node": node, "bytes": size} for node, size in change.memory_added],
        "memory_removed": [
            {
                "numa_node": r.node,
                "bytes": r.size,
                "chunks": [{"base": c.base, "bytes": c.size} for c in r.chunks],
                "readded_bytes": r.readded,
            }
            for r in change.memory_removed
        ],
        "devices_added": [{"label": d.label, "pci_id": d.pci_id} for d in change.devices_added],
        "devices_removed": [{"label": label, "pci_id": pci} for pci, label in change.devices_removed],
        "units_added": list(change.units_added),
        "units_removed": list(change.units_removed),
        "transactions": [{"id": t, "operations": op} for t, op in zip(tx_ids, operations, strict=True)]
        if tx_ids
        else [{"operations": op} for op in operations],
    }
