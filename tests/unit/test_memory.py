"""Pool memory bookkeeping and carving."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.hardware import PAGE_SIZE, Instance, MemoryRange, MemoryRegion
from planner.memory import (
    allocate_regions,
    carve,
    free_bytes,
    free_ranges,
    split_evenly,
    split_proportionally,
)
from planner.synthetic import synthetic_host

MiB = 1 << 20


def _host():  # type: ignore[no-untyped-def]
    return synthetic_host("pack:1 numa:2 core:2 pu:2", node_memory=1024 * MiB, pool_fraction=0.5)


def test_free_ranges_are_the_pool_share_of_each_node() -> None:
    host = _host()
    assert free_ranges(host, []) == {
        0: [MemoryRange(512 * MiB, 512 * MiB)],
        1: [MemoryRange(1536 * MiB, 512 * MiB)],
    }


def test_placed_regions_are_subtracted_and_unknown_bases_are_charged_to_their_node() -> None:
    host = _host()
    inst = Instance(
        "a",
        (0,),
        (MemoryRegion(16 * MiB, 600 * MiB, 0), MemoryRegion(32 * MiB, None, 1)),
    )
    assert free_ranges(host, [inst])[0] == [
        MemoryRange(512 * MiB, 88 * MiB),
        MemoryRange(616 * MiB, 408 * MiB),
    ]
    assert free_bytes(host, [inst]) == {0: 496 * MiB, 1: 480 * MiB}


def test_carve_prefers_the_smallest_range_that_fits() -> None:
    free = [MemoryRange(0, 100 * MiB), MemoryRange(200 * MiB, 10 * MiB), MemoryRange(300 * MiB, 20 * MiB)]
    result = carve(free, 8 * MiB)
    assert result is not None
    taken, rest = result
    assert taken == [MemoryRange(200 * MiB, 8 * MiB)]
    assert MemoryRange(208 * MiB, 2 * MiB) in rest


def test_carve_splits_when_no_single_range_fits_and_refuses_when_short() -> None:
    free = [MemoryRange(0, 4 * MiB), MemoryRange(10 * MiB, 4 * MiB)]
    result = carve(free, 6 * MiB)
    assert result is not None
    assert result[0] == [MemoryRange(0, 4 * MiB), MemoryRange(10 * MiB, 2 * MiB)]
    assert carve(free, 9 * MiB) is None


def test_allocate_regions_rounds_to_pages_and_reports_shortage() -> None:
    host = _host()
    regions = allocate_regions(host, [], {0: 5000, 1: 3 * MiB})
    assert regions is not None
    assert [(r.numa_node, r.size) for r in regions] == [(0, 2 * PAGE_SIZE), (1, 3 * MiB)]
    assert allocate_regions(host, [], {0: 513 * MiB}) is None


def test_splits() -> None:
    assert split_evenly(3 * PAGE_SIZE, [0, 1]) == {0: 2 * PAGE_SIZE, 1: PAGE_SIZE}
    assert split_proportionally(4 * PAGE_SIZE, {0: 3, 1: 1}) == {0: 3 * PAGE_SIZE, 1: PAGE_SIZE}
    assert split_proportionally(3 * PAGE_SIZE, {0: 1, 1: 1}) == {0: 2 * PAGE_SIZE, 1: PAGE_SIZE}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 64), st.integers(1, 16)), min_size=1, max_size=6),
    st.integers(1, 80),
)
def test_carve_never_overlaps_and_conserves_bytes(spans: list[tuple[int, int]], pages: int) -> None:
    # Disjoint free ranges built from (gap, length) pairs, in pages.
    free, cursor = [], 0
    for gap, length in spans:
        cursor += gap
        free.append(MemoryRange(cursor * PAGE_SIZE, length * PAGE_SIZE))
        cursor += length
    result = carve(free, pages * PAGE_SIZE)
    total = sum(r.size for r in free)
    if result is None:
        assert total < pages * PAGE_SIZE
        return
    taken, rest = result
    assert sum(r.size for r in taken) == pages * PAGE_SIZE
    assert sum(r.size for r in rest) == total - pages * PAGE_SIZE
    pieces = sorted(taken + rest)
    for a, b in itertools.pairwise(pieces):
        assert a.end <= b.base
    assert all(any(f.contains(p) for f in free) for p in pieces)


def test_allocate_regions_respects_regions_whose_address_is_unknown() -> None:
    host = _host()
    placed = Instance("a", (0,), (MemoryRegion(500 * MiB, None, 0),))
    assert allocate_regions(host, [placed], {0: 13 * MiB}) is None
    assert allocate_regions(host, [placed], {0: 12 * MiB}) is not None
