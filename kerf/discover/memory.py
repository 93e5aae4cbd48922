"""Each NUMA node's memory ranges, and the host's share versus the pool.

Node ranges come from the best source available:

1. memory blocks (``/sys/devices/system/node/nodeN/memoryM``, readable by anyone) clipped
   to /proc/iomem's ``System RAM`` lines (exact, needs root);
2. memory blocks alone (block granularity, typically 128 MiB);
3. a single node's ``System RAM`` lines when there are no memory blocks;
4. otherwise placeholder ranges: every node's size laid out back to back from address 0,
   each node starting on a 1 GiB boundary. Sizes are right; addresses are not.

The pool is carved from the top of each node (low memory holds the host kernel and the
DMA zones) in 2 MiB-aligned pieces, so huge pages and the kernel's chunk allocator fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kerf.discover.model import AddressSource, NoteLog
from kerf.discover.procfs import IomemRam
from kerf.discover.text import format_bytes
from kerf.errors import UsageError
from planner.hardware import MemoryRange
from planner.memory import align_down, align_up

POOL_ALIGN = 2 << 20
PLACEHOLDER_ALIGN = 1 << 30
GiB = 1 << 30

# The host's default share: a quarter of memory, at least 1 GiB and at most 32 GiB, and
# never more than half. A quarter keeps small hosts comfortable; the cap stops a large
# host from idling hundreds of GiB that instances could use.
HOST_SHARE_DIVISOR = 4
HOST_SHARE_MIN = 1 * GiB
HOST_SHARE_MAX = 32 * GiB


def merge_ranges(ranges: Iterable[MemoryRange]) -> tuple[MemoryRange, ...]:
    """Sort and merge touching or overlapping ranges."""
    merged: list[MemoryRange] = []
    for r in sorted(ranges):
        if r.size <= 0:
            continue
        if merged and r.base <= merged[-1].end:
            last = merged[-1]
            merged[-1] = MemoryRange(last.base, max(last.end, r.end) - last.base)
        else:
            merged.append(r)
    return tuple(merged)


def blocks_to_ranges(blocks: Iterable[int], block_size: int) -> tuple[MemoryRange, ...]:
    """Memory block numbers -> merged physical ranges."""
    return merge_ranges(MemoryRange(b * block_size, block_size) for b in blocks)


def clip(ranges: Iterable[MemoryRange], to: Sequence[MemoryRange]) -> tuple[MemoryRange, ...]:
    """The parts of ``ranges`` that lie inside ``to``."""
    parts = [part for r in ranges for t in to if (part := r.intersection(t)) is not None]
    return merge_ranges(parts)


@dataclass(frozen=True)
class NodeMemory:
    """Each node's memory ranges and where their addresses came from."""

    ranges: dict[int, tuple[MemoryRange, ...]]
    source: AddressSource


def locate_node_memory(
    nodes: Sequence[int],
    *,
    blocks: Mapping[int, Sequence[int]],
    block_size: int | None,
    iomem: IomemRam | None,
    sizes: Mapping[int, int],
    log: NoteLog,
) -> NodeMemory:
    """Choose the best source of node memory ranges (see the module docstring)."""
    ram = iomem.ranges if iomem is not None and not iomem.hidden else ()
    if iomem is None:
        log.warn("/proc/iomem is unreadable: memory ranges cannot be checked against System RAM")
    elif iomem.hidden:
        log.warn(
            "/proc/iomem shows zero addresses (not running as root): memory ranges come from "
            "sysfs memory blocks when present; run as root for exact System RAM ranges"
        )
    with_blocks = [n for n in nodes if blocks.get(n)]
    needs_blocks = [n for n in nodes if sizes.get(n, 0) > 0 or blocks.get(n)]
    if block_size and with_blocks and set(needs_blocks) <= set(with_blocks):
        by_node = {n: blocks_to_ranges(blocks.get(n, ()), block_size) for n in nodes}
        if ram:
            return NodeMemory({n: clip(r, ram) for n, r in by_node.items()}, AddressSource.IOMEM)
        log.warn(
            f"memory ranges are whole memory blocks of {format_bytes(block_size)} (System RAM "
            "unknown): they may include firmware holes at the block edges"
        )
        return NodeMemory(by_node, AddressSource.BLOCKS)
    if len(nodes) == 1 and ram:
        return NodeMemory({nodes[0]: merge_ranges(ram)}, AddressSource.IOMEM)
    return NodeMemory(placeholder_layout(nodes, sizes), AddressSource.PLACEHOLDER)


def placeholder_layout(nodes: Sequence[int], sizes: Mapping[int, int]) -> dict[int, tuple[MemoryRange, ...]]:
    """Nodes' sizes laid out back to back from 0, each starting on a 1 GiB boundary."""
    ranges: dict[int, tuple[MemoryRange, ...]] = {}
    base = 0
    for node in sorted(nodes):
        size = align_down(sizes.get(node, 0), POOL_ALIGN)
        ranges[node] = (MemoryRange(base, size),) if size else ()
        base = align_up(base + size, PLACEHOLDER_ALIGN)
    return ranges


def default_host_share(total: int) -> int:
    """The bytes the host keeps by default (see ``HOST_SHARE_*``)."""
    share = min(max(total // HOST_SHARE_DIVISOR, HOST_SHARE_MIN), HOST_SHARE_MAX, total // 2)
    return align_up(share, POOL_ALIGN)


def pool_capacity(ranges: Iterable[MemoryRange]) -> int:
    """Bytes of 2 MiB-aligned pieces inside the ranges (the most a pool can take)."""
    total = 0
    for r in ranges:
        base, end = align_up(r.base, POOL_ALIGN), align_down(r.end, POOL_ALIGN)
        total += max(0, end - base)
    return total


def split_pool(
    node_ranges: Mapping[int, Sequence[MemoryRange]],
    pool_bytes: int,
    host_nodes: Sequence[int],
) -> dict[int, int]:
    """How many pool bytes each node gives.

    The host's share (everything not in the pool) is kept first on ``host_nodes`` (the
    nodes of the host's own CPUs, so its memory stays local), then on the other nodes in
    id order; every node gives the rest of its aligned capacity to the pool.
    """
    capacity = {n: pool_capacity(r) for n, r in node_ranges.items()}
    keep = sum(capacity.values()) - pool_bytes
    order = [n for n in host_nodes if n in capacity] + sorted(n for n in capacity if n not in host_nodes)
    give = dict(capacity)
    for node in order:
        if keep <= 0:
            break
        # Capacities and the pool are whole 2 MiB pieces, so what is kept is too.
        kept = min(keep, capacity[node])
        give[node] = capacity[node] - kept
        keep -= kept
    return give


def carve_from_top(ranges: Sequence[MemoryRange], size: int) -> tuple[MemoryRange, ...]:
    """Take ``size`` bytes (a multiple of 2 MiB) from the highest addresses of the ranges."""
    taken: list[MemoryRange] = []
    left = size
    for r in sorted(ranges, reverse=True):
        if left <= 0:
            break
        base, end = align_up(r.base, POOL_ALIGN), align_down(r.end, POOL_ALIGN)
        if end <= base:
            continue
        piece = min(left, end - base)
        taken.append(MemoryRange(end - piece, piece))
        left -= piece
    return tuple(sorted(taken))


@dataclass(frozen=True)
class PoolLayout:
    """The pool ranges per node and the totals."""

    by_node: dict[int, tuple[MemoryRange, ...]]
    total_bytes: int

    @property
    def ranges(self) -> tuple[MemoryRange, ...]:
        """Every pool range, ascending."""
        return tuple(sorted(r for rs in self.by_node.values() for r in rs))

    @property
    def pool_bytes(self) -> int:
        """Bytes in the pool."""
        return sum(r.size for r in self.ranges)


def lay_out_pool(
    node_ranges: Mapping[int, Sequence[MemoryRange]],
    *,
    pool_bytes: int | None,
    host_nodes: Sequence[int],
    log: NoteLog,
) -> PoolLayout:
    """Decide the pool: ``pool_bytes`` (``--pool-memory``) or the default share.

    Raises :class:`UsageError` when the requested pool does not fit.
    """
    total = sum(r.size for rs in node_ranges.values() for r in rs)
    capacity = sum(pool_capacity(rs) for rs in node_ranges.values())
    if pool_bytes is None:
        keep = default_host_share(total)
        wanted = align_down(max(0, min(capacity, total - keep)), POOL_ALIGN)
        log.info(
            f"the host keeps {format_bytes(total - wanted)} of {format_bytes(total)} "
            f"(a quarter, between 1 and 32 GiB, at most half); the pool gets {format_bytes(wanted)} "
            "(--pool-memory changes it)"
        )
    else:
        if pool_bytes <= 0:
            raise UsageError(
                f"--pool-memory must be more than 0, got {pool_bytes}", hint="for example --pool-memory 16G"
            )
        wanted = align_down(pool_bytes, POOL_ALIGN)
        if wanted != pool_bytes:
            log.info(
                f"--pool-memory {format_bytes(pool_bytes)} rounded down to {format_bytes(wanted)} "
                "(2 MiB pieces)"
            )
        if wanted >= total or wanted > capacity:
            most = min(capacity, total - POOL_ALIGN) // (1 << 20)
            raise UsageError(
                f"--pool-memory {format_bytes(pool_bytes)} does not fit: the machine has "
                f"{format_bytes(total)} of memory and at most {most} MiB can go to the pool "
                "(the host needs some for itself)",
                hint="ask for less; without --pool-memory the host keeps a quarter",
            )
        if total - wanted < HOST_SHARE_MIN:
            log.warn(f"the host keeps only {format_bytes(total - wanted)} of memory for itself")
    give = split_pool(node_ranges, wanted, host_nodes)
    by_node = {n: carve_from_top(node_ranges[n], give[n]) for n in sorted(node_ranges)}
    return PoolLayout({n: rs for n, rs in by_node.items()}, total)
