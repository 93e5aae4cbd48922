"""The benchmark hosts against hwloc's reading of the same synthetic shapes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.hwloc_check import distances_file, hwloc_host, missing_tools, shape_differences
from benchmarks.topologies import TOPOLOGIES, Topology, topology

WITH_HWLOC = [t for t in TOPOLOGIES if t.hwloc is not None]


def _require_hwloc() -> None:
    missing = missing_tools()
    if missing:
        reason = f"{', '.join(missing)} not installed (apt-get install hwloc-nox)"
        if os.environ.get("KERF_REQUIRE_TOOLS") == "1":
            pytest.fail(f"KERF_REQUIRE_TOOLS=1 but {reason}")
        pytest.skip(reason)


def test_only_the_hybrid_laptop_lacks_an_hwloc_form() -> None:
    assert [t.id for t in TOPOLOGIES if t.hwloc is None] == ["T2"]


@pytest.mark.tools
@pytest.mark.parametrize("topo", WITH_HWLOC, ids=lambda t: t.id)
def test_hwloc_builds_the_same_machine(topo: Topology, tmp_path: Path) -> None:
    _require_hwloc()
    theirs = hwloc_host(topo, tmp_path)
    assert shape_differences(topo.host(0), theirs) == []


@pytest.mark.tools
def test_a_wrong_shape_is_noticed(tmp_path: Path) -> None:
    _require_hwloc()
    theirs = hwloc_host(topology("T4"), tmp_path)
    problems = shape_differences(topology("T5").host(0), theirs)
    assert any("CPU ids differ" in p for p in problems)
    assert any("core groups differ" in p for p in problems)


def test_distances_file_lists_objects_then_one_value_per_line() -> None:
    text = distances_file(topology("T6").host())
    lines = text.splitlines()
    assert lines[:7] == ["name=NUMALatency", "5", "4", "numa:0", "numa:1", "numa:2", "numa:3"]
    assert lines[7:11] == ["10", "21", "31", "31"]
    assert len(lines) == 7 + 16
