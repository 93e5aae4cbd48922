"""The hwloc_distrib spread baseline: hand-derived cases and a cross-check with hwloc-distrib."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

import pytest

from planner.baselines import HwlocSpread
from planner.baselines.hwloc import build_topology, core_depth, distrib
from planner.hardware import Host
from planner.policy import CpuAffinity
from planner.request import InstanceRequest
from planner.synthetic import GiB, synthetic_host
from tests.planner.test_baselines_fixtures import dual_socket_ht, holding, quad_numa_smt2


def spread(host: Host, n: int, busy: list[int] | None = None, **kw: object) -> tuple[int, ...]:
    existing = [holding("busy", busy)] if busy else []
    req = InstanceRequest("x", memory_bytes=GiB, cpu_count=n, **kw)  # type: ignore[arg-type]
    placed = HwlocSpread().place(host, existing, req)
    assert placed is not None
    return placed.cpus


def test_six_items_on_snc_give_shares_two_one_two_one() -> None:
    # Two packages get 3 items each; inside a package the first node gets the rounded-up 2.
    assert spread(quad_numa_smt2(), 6) == (0, 5, 10, 20, 25, 30)


def test_four_items_give_one_node_each() -> None:
    assert spread(quad_numa_smt2(), 4) == (0, 10, 20, 30)


def test_three_items_to_cores_give_two_nodes_and_a_package() -> None:
    host = quad_numa_smt2()
    root = build_topology(host, [c.id for c in host.cpus])
    sets = distrib([root], 3, until=core_depth(host))
    assert [len(s) for s in sets] == [20, 20, 40]
    assert [min(s) for s in sets] == [0, 10, 20]


def test_interleaved_sockets_are_ordered_by_their_lowest_cpu() -> None:
    assert spread(dual_socket_ht(), 3) == (0, 1, 2)


def test_busy_cpus_are_left_out_of_the_weights() -> None:
    # Node 0 keeps 10 free CPUs, the others 20: 7 items go 1/2/2/2.
    busy = [*range(0, 10)]
    assert spread(quad_numa_smt2(), 7, busy) == (10, 15, 20, 25, 30, 35, 40)


def test_local_requests_spread_inside_one_node() -> None:
    assert spread(quad_numa_smt2(), 4, cpu_affinity=CpuAffinity.LOCAL) == (0, 2, 5, 7)


def test_exclusive_requests_get_whole_cores_spread_at_core_depth() -> None:
    # 3 threads = 2 whole cores, one per package; the second core keeps a spare thread.
    assert spread(quad_numa_smt2(), 3, exclusive_cores=True) == (0, 20, 40)


# --- cross-check with the real hwloc-distrib on the same synthetic topology --------------


def hwloc_distrib_tool() -> str:
    """The hwloc-distrib binary; skip without it (fail when KERF_REQUIRE_TOOLS=1)."""
    path = shutil.which("hwloc-distrib")
    if path is None:
        if os.environ.get("KERF_REQUIRE_TOOLS") == "1":
            pytest.fail("KERF_REQUIRE_TOOLS=1 but hwloc-distrib is not installed")
        pytest.skip("hwloc-distrib is not installed")
    return path


def hwloc_bitmap(cpus: set[int]) -> str:
    """hwloc's bitmap text: 32-bit words, most significant first."""
    words = (max(cpus) // 32) + 1
    return ",".join(
        f"0x{sum(1 << (c - 32 * w) for c in cpus if 32 * w <= c < 32 * (w + 1)):08x}"
        for w in reversed(range(words))
    )


CROSS = [
    ("snc-linux", "pack:2 numa:2 core:10 pu:2(indexes=2*40:1*2)", lambda: quad_numa_smt2(), 6, []),
    (
        "snc-linux-dented",
        "pack:2 numa:2 core:10 pu:2(indexes=2*40:1*2)",
        lambda: quad_numa_smt2(),
        9,
        [0, 1, 2, 41, 77],
    ),
    (
        "snc-adjacent",
        "pack:2 numa:2 core:4 pu:2",
        lambda: synthetic_host("pack:2 numa:2 core:4 pu:2", numbering="adjacent"),
        5,
        [3],
    ),
    ("interleaved", "pack:2 core:3 pu:2(indexes=0,6,2,8,4,10,1,7,3,9,5,11)", dual_socket_ht, 5, [4]),
    (
        "epyc-ccx",
        "pack:2 numa:4 l3:4 core:4 pu:2(indexes=2*128:1*2)",
        lambda: synthetic_host("pack:2 numa:4 l3:4 core:4 pu:2"),
        11,
        [0, 5, 130],
    ),
]


@pytest.mark.tools
@pytest.mark.parametrize(
    ("synthetic", "make", "n", "busy"), [case[1:] for case in CROSS], ids=[case[0] for case in CROSS]
)
def test_matches_hwloc_distrib_single(
    synthetic: str, make: Callable[[], Host], n: int, busy: list[int]
) -> None:
    tool = hwloc_distrib_tool()
    host = make()
    command = [tool, "--single", "--taskset", "-i", synthetic]
    if busy:
        command += ["--restrict", hwloc_bitmap({c.id for c in host.cpus} - set(busy))]
    result = subprocess.run([*command, str(n)], capture_output=True, text=True, check=True)
    masks = [int(line, 16) for line in result.stdout.split()]
    expected = sorted((m & -m).bit_length() - 1 for m in masks)
    assert list(spread(host, n, busy)) == expected
