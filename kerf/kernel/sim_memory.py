"""Memory placement of the simulated kernel: pool chunks and instance regions.

* **Pool chunks** (baseline ``memory@N`` requests, ``/resources`` memory-add) are carved
  from the node's physical memory, highest free address first, as a contiguous
  allocator scanning from the top does; the kernel, not the caller, picks the base.
* **Instance regions** come from the node's chunks first-fit (lowest address). When no
  free extent is large enough, the request is halved (page-aligned) and the rest is
  placed the same way, so a fragmented pool yields several regions
  (kernel-interface reference §3.2, ``memory-bytes``).
"""

from __future__ import annotations

import errno as E
from collections.abc import Iterable

from kerf.kernel.sim_state import Chunk, Instance, Region, SimState

PAGE_SIZE = 4096


class SimFailure(Exception):
    """The simulated kernel refused: ``errno`` and the line it would log to dmesg."""

    def __init__(self, errno: int, message: str) -> None:
        super().__init__(message)
        self.errno = errno
        self.message = message


def _subtract(base: int, end: int, taken: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[base, end)`` not covered by the ``taken`` (base, end) ranges."""
    free = []
    cursor = base
    for t_base, t_end in sorted(taken):
        if t_end <= cursor or t_base >= end:
            continue
        if t_base > cursor:
            free.append((cursor, t_base))
        cursor = max(cursor, t_end)
    if cursor < end:
        free.append((cursor, end))
    return free


def node_has_memory(state: SimState, node: int) -> bool:
    """True when the machine has memory on ``node`` (an online memory node)."""
    return any(r.node == node for r in state.machine.memory)


def allocate_chunk(state: SimState, size: int, node: int | None) -> Chunk:
    """Carve a new pool chunk of ``size`` bytes on ``node`` (any node when None).

    ENOMEM when no contiguous free range is large enough; EINVAL for a node without memory.
    """
    if node is not None and not node_has_memory(state, node):
        raise SimFailure(E.EINVAL, f"NUMA node {node} has no memory (offline node)")
    taken = [(c.base, c.end) for c in state.chunks]
    nodes = [node] if node is not None else sorted({r.node for r in state.machine.memory})
    for candidate in nodes:
        ranges = sorted((r for r in state.machine.memory if r.node == candidate), key=lambda r: -r.base)
        for machine_range in ranges:
            extents = _subtract(machine_range.base, machine_range.base + machine_range.size, taken)
            for ext_base, ext_end in reversed(extents):
                top = ext_end // PAGE_SIZE * PAGE_SIZE
                if top - size >= ext_base:
                    chunk = Chunk(top - size, size, candidate)
                    state.chunks.append(chunk)
                    state.chunks.sort(key=lambda c: c.base)
                    return chunk
    where = f"node {node}" if node is not None else "any node"
    raise SimFailure(E.ENOMEM, f"cannot allocate a contiguous pool chunk of {size:#x} bytes on {where}")


def free_extents(
    state: SimState, node: int | None, pending: Iterable[Region] = ()
) -> list[tuple[int, int, int]]:
    """Free (base, end, node) extents inside pool chunks of ``node`` (all when None),
    ordered by node, then address. ``pending`` are regions placed but not yet attached
    to an instance of the state."""
    taken = [(r.base, r.end) for r in [*state.regions(), *pending]]
    extents = []
    for chunk in sorted(state.chunks, key=lambda c: (c.node, c.base)):
        if node is None or chunk.node == node:
            extents += [(b, e, chunk.node) for b, e in _subtract(chunk.base, chunk.end, taken)]
    return extents


def allocate_regions(state: SimState, instance: Instance, size: int, node: int | None) -> list[Region]:
    """Give ``instance`` ``size`` bytes from the pool, first-fit, halving on fragmentation."""
    available = sum(e - b for b, e, _ in free_extents(state, node))
    if available < size:
        where = f" on node {node}" if node is not None else ""
        raise SimFailure(
            E.ENOMEM, f"not enough free pool memory{where}: requested={size:#x}, free={available:#x}"
        )
    placed: list[Region] = []
    remaining, piece = size, size
    while remaining:
        piece = min(piece, remaining)
        fit = next(((b, n) for b, e, n in free_extents(state, node, placed) if e - b >= piece), None)
        if fit is None:
            piece = piece // 2 // PAGE_SIZE * PAGE_SIZE
            if piece < PAGE_SIZE:  # cannot happen while enough pages are free; kept as a guard
                for region in placed:
                    instance.regions.remove(region)
                raise SimFailure(E.ENOMEM, f"pool too fragmented for {size:#x} bytes")
            continue
        region = Region(fit[0], piece, fit[1], instance.next_region)
        instance.next_region += 1
        instance.regions.append(region)
        placed.append(region)
        remaining -= piece
    return placed


def chunk_of(state: SimState, base: int, size: int) -> Chunk | None:
    """The pool chunk that contains ``[base, base + size)`` entirely, if any."""
    return next((c for c in state.chunks if c.base <= base and base + size <= c.end), None)


def is_free(state: SimState, base: int, size: int) -> bool:
    """True when no instance region overlaps ``[base, base + size)``."""
    return all(r.end <= base or base + size <= r.base for r in state.regions())
