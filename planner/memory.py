"""Pool memory bookkeeping: what is free on each NUMA node, and carving concrete regions.

The solver decides *how many bytes* an instance takes from each node; this module turns
those amounts into page-aligned, non-overlapping regions inside the node's share of the
pool. Greedy baselines use the same carving so that every allocator is judged on CPUs
and node choice, not on a different memory layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from planner.hardware import PAGE_SIZE, Host, Instance, MemoryRange, MemoryRegion


def align_down(value: int, page: int = PAGE_SIZE) -> int:
    """Round down to a page boundary."""
    return value - value % page


def align_up(value: int, page: int = PAGE_SIZE) -> int:
    """Round up to a page boundary."""
    return -(-value // page) * page


def _subtract(ranges: list[MemoryRange], cut: MemoryRange) -> list[MemoryRange]:
    out: list[MemoryRange] = []
    for r in ranges:
        if not r.overlaps(cut):
            out.append(r)
            continue
        if r.base < cut.base:
            out.append(MemoryRange(r.base, cut.base - r.base))
        if cut.end < r.end:
            out.append(MemoryRange(cut.end, r.end - cut.end))
    return out


def free_ranges(host: Host, instances: Iterable[Instance]) -> dict[int, list[MemoryRange]]:
    """NUMA node -> free page-aligned pool ranges (ascending), after the instances' regions
    with known addresses are taken out."""
    taken = [r.range for inst in instances for r in inst.memory if r.range is not None]
    result: dict[int, list[MemoryRange]] = {}
    for node, shares in host.pool_by_node.items():
        ranges = list(shares)
        for cut in taken:
            ranges = _subtract(ranges, cut)
        aligned = []
        for r in ranges:
            base, end = align_up(r.base), align_down(r.end)
            if base < end:
                aligned.append(MemoryRange(base, end - base))
        result[node] = sorted(aligned)
    return result


def free_bytes(host: Host, instances: Iterable[Instance]) -> dict[int, int]:
    """NUMA node -> free pool bytes. Regions whose address is unknown but whose node is
    known are charged to that node; regions with neither are charged nowhere (the
    validator reports them)."""
    instances = list(instances)
    result = {node: sum(r.size for r in ranges) for node, ranges in free_ranges(host, instances).items()}
    for inst in instances:
        for region in inst.memory:
            if region.base is None and region.numa_node in result:
                result[region.numa_node] = max(0, result[region.numa_node] - region.size)
    return result


def carve(free: list[MemoryRange], size: int) -> tuple[list[MemoryRange], list[MemoryRange]] | None:
    """Take ``size`` bytes (page-aligned) out of ``free``.

    Prefers one contiguous range, best-fit (the smallest free range that holds it, lowest
    address on ties) to keep large ranges whole; otherwise splits across ranges in
    address order. Returns (taken, remaining) or None when there is not enough.
    """
    if size <= 0:
        return [], list(free)
    size = align_up(size)
    fitting = [r for r in free if r.size >= size]
    if fitting:
        best = min(fitting, key=lambda r: (r.size, r.base))
        taken = [MemoryRange(best.base, size)]
    else:
        if sum(r.size for r in free) < size:
            return None
        taken, need = [], size
        for r in sorted(free):
            if need == 0:
                break
            part = min(r.size, need)
            taken.append(MemoryRange(r.base, part))
            need -= part
    remaining = list(free)
    for cut in taken:
        remaining = _subtract(remaining, cut)
    return taken, sorted(remaining)


def allocate_regions(
    host: Host, instances: Iterable[Instance], bytes_per_node: Mapping[int, int]
) -> tuple[MemoryRegion, ...] | None:
    """Concrete regions giving each node its amount, or None when a node lacks room.

    Room is judged by :func:`free_bytes`, which also charges regions whose address is
    unknown to their node, so carving never overcommits a node even though it cannot
    tell where such regions sit.
    """
    instances = list(instances)
    free = free_ranges(host, instances)
    room = free_bytes(host, instances)
    regions: list[MemoryRegion] = []
    for node in sorted(bytes_per_node):
        amount = bytes_per_node[node]
        if amount <= 0:
            continue
        if align_up(amount) > room.get(node, 0):
            return None
        result = carve(free.get(node, []), amount)
        if result is None:
            return None
        taken, free[node] = result
        regions += [MemoryRegion(r.size, r.base, node) for r in taken]
    return tuple(regions)


def split_evenly(total: int, nodes: list[int], page: int = PAGE_SIZE) -> dict[int, int]:
    """Split ``total`` bytes over ``nodes`` in whole pages, as evenly as possible
    (earlier nodes get the extra pages)."""
    pages = align_up(total, page) // page
    base, extra = divmod(pages, len(nodes))
    return {n: (base + (1 if i < extra else 0)) * page for i, n in enumerate(nodes)}


def split_proportionally(total: int, weights: Mapping[int, int], page: int = PAGE_SIZE) -> dict[int, int]:
    """Split ``total`` bytes over nodes in proportion to ``weights`` (e.g. CPUs per node),
    in whole pages, largest remainders first, ties to the lower node id."""
    pages = align_up(total, page) // page
    weight_sum = sum(weights.values())
    if weight_sum <= 0:
        raise ValueError("weights must not all be zero")
    shares = {n: pages * w // weight_sum for n, w in weights.items()}
    left = pages - sum(shares.values())
    order = sorted(weights, key=lambda n: (-((pages * weights[n]) % weight_sum), n))
    for n in order[:left]:
        shares[n] += 1
    return {n: s * page for n, s in shares.items() if s}
