"""First fit, Nova's cell fit and Slurm's block selection on named fixtures.

Every expected set is derived from the procedure in the allocator's docstring; the
case ids say which rule decides it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from planner.baselines import Allocator, FirstFit, Nova, SlurmBlock
from planner.hardware import Host, Instance
from planner.policy import CpuAffinity
from planner.request import InstanceRequest
from planner.synthetic import GiB
from tests.planner.test_baselines_fixtures import dual_socket_ht, holding, quad_numa_smt2, single_socket_ht


def span(a: int, b: int) -> list[int]:
    """CPU ids a..b inclusive."""
    return list(range(a, b + 1))


def ask(n: int, **kw: object) -> InstanceRequest:
    return InstanceRequest("x", memory_bytes=GiB, cpu_count=n, **kw)  # type: ignore[arg-type]


Case = tuple[str, Callable[[], Allocator], Callable[[], Host], Sequence[Instance], InstanceRequest, list[int]]

COMPACT, SPREAD, LOCAL = CpuAffinity.COMPACT, CpuAffinity.SPREAD, CpuAffinity.LOCAL
NODE2_USED = [holding("a", [20, 21, 60, 61], node_gib={2: 4})]
NODE0_HALF = [holding("a", span(40, 49))]
NODE0_SIX_CORES = [holding("a", span(0, 5) + span(40, 45))]

CASES: list[Case] = [
    # first fit
    ("ff-first-run-of-consecutive-ids", FirstFit, quad_numa_smt2, [holding("a", [1])], ask(4), [2, 3, 4, 5]),
    (
        "ff-spread-round-robins-nodes",
        FirstFit,
        quad_numa_smt2,
        [],
        ask(6, cpu_affinity=SPREAD),
        [0, 1, 10, 11, 20, 30],
    ),
    (
        "ff-local-takes-the-first-node-that-holds-it",
        FirstFit,
        quad_numa_smt2,
        [holding("a", span(0, 9))],
        ask(12, cpu_affinity=LOCAL),
        [*span(10, 19), 50, 51],
    ),
    ("ff-listed-nodes-first", FirstFit, quad_numa_smt2, [], ask(4, numa_nodes=(2,)), [20, 21, 22, 23]),
    (
        "ff-exclusive-takes-lowest-ids-of-whole-free-cores",
        FirstFit,
        single_socket_ht,
        [holding("a", [0])],
        ask(2, exclusive_cores=True),
        [1, 2],
    ),
    # Nova
    (
        "nova-pack-fills-the-most-used-cell",
        lambda: Nova("p", pack=True),
        quad_numa_smt2,
        NODE2_USED,
        ask(4),
        [22, 23, 62, 63],
    ),
    (
        "nova-spread-takes-the-least-used-cell",
        lambda: Nova("s", pack=False),
        quad_numa_smt2,
        NODE2_USED,
        ask(4),
        [0, 1, 40, 41],
    ),
    (
        "nova-spread-affinity-asks-for-every-cell",
        lambda: Nova("p", pack=True),
        quad_numa_smt2,
        [],
        ask(6, cpu_affinity=SPREAD),
        [0, 10, 20, 30, 40, 50],
    ),
    (
        "nova-local-skips-a-cell-that-is-too-full",
        lambda: Nova("p", pack=True),
        quad_numa_smt2,
        [holding("a", span(0, 9) + span(40, 46))],
        ask(4, cpu_affinity=LOCAL),
        [10, 11, 50, 51],
    ),
    (
        "nova-prefer-falls-back-to-one-thread-per-core",
        lambda: Nova("p", pack=True),
        quad_numa_smt2,
        NODE0_HALF,
        ask(3),
        [0, 1, 2],
    ),
    (
        "nova-require-needs-whole-free-cores",
        lambda: Nova("p", pack=True),
        quad_numa_smt2,
        NODE0_HALF,
        ask(3, exclusive_cores=True),
        [10, 11, 50],
    ),
    (
        "nova-isolate-one-thread-per-free-core",
        lambda: Nova("i", pack=True, exclusive_policy="isolate"),
        single_socket_ht,
        [],
        ask(3, exclusive_cores=True),
        [0, 1, 2],
    ),
    (
        "nova-two-cells-when-one-is-too-small",
        lambda: Nova("p", pack=True),
        quad_numa_smt2,
        [],
        ask(30),
        span(0, 7) + span(40, 46) + span(10, 17) + span(50, 56),
    ),
    # Slurm
    ("slurm-best-fit-node", SlurmBlock, quad_numa_smt2, NODE0_SIX_CORES, ask(6), [6, 7, 8, 46, 47, 48]),
    (
        "slurm-best-fit-skips-an-insufficient-node",
        SlurmBlock,
        quad_numa_smt2,
        NODE0_SIX_CORES,
        ask(10),
        span(10, 14) + span(50, 54),
    ),
    (
        "slurm-none-sufficient-takes-the-largest-then-best-fit",
        SlurmBlock,
        quad_numa_smt2,
        [],
        ask(50),
        span(0, 19) + span(40, 59) + span(20, 24) + span(60, 64),
    ),
    ("slurm-only-whole-free-cores-count", SlurmBlock, quad_numa_smt2, [holding("a", [0])], ask(2), [1, 41]),
    (
        "slurm-cyclic-for-spread",
        SlurmBlock,
        quad_numa_smt2,
        [],
        ask(6, cpu_affinity=SPREAD),
        [0, 10, 20, 40, 50, 60],
    ),
    (
        "slurm-local-best-fit-node",
        SlurmBlock,
        quad_numa_smt2,
        NODE0_SIX_CORES,
        ask(3, cpu_affinity=LOCAL),
        [6, 7, 46],
    ),
    (
        "slurm-sockets-when-they-outnumber-nodes",
        SlurmBlock,
        dual_socket_ht,
        [holding("a", [1])],
        ask(2),
        [3, 9],
    ),
]


@pytest.mark.parametrize(
    ("make", "fixture", "existing", "req", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_baseline_places_as_derived(
    make: Callable[[], Allocator],
    fixture: Callable[[], Host],
    existing: Sequence[Instance],
    req: InstanceRequest,
    expected: list[int],
) -> None:
    placed = make().place(fixture(), existing, req)
    assert placed is not None
    assert placed.cpus == tuple(sorted(expected))


def test_nova_refuses_an_unknown_thread_policy() -> None:
    with pytest.raises(ValueError, match="require or isolate"):
        Nova("n", pack=True, exclusive_policy="share")


def test_slurm_declines_when_whole_cores_run_out() -> None:
    # Every core of the small host is dented, so Slurm has nothing to give.
    existing = [holding("a", [0, 1, 2, 3])]
    assert SlurmBlock().place(single_socket_ht(), existing, ask(1)) is None
    assert FirstFit().place(single_socket_ht(), existing, ask(1)) is not None
