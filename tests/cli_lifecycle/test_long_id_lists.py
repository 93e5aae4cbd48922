"""Errors about unknown CPUs or NUMA nodes stay short however many ids the request names."""

from __future__ import annotations

from kerf.errors import ExitCode
from tests.cli_lifecycle.conftest import Kerf


def test_unknown_cpus_are_shown_as_a_range(initialised: Kerf) -> None:
    result = initialised("create", "x", "--cpus", "1-65537", "--memory", "1G")
    assert result.exit_code != ExitCode.OK
    assert "pinned CPU(s) 16-65537 do not exist on this host" in result.stderr
    assert len(result.stderr) < 500, len(result.stderr)


def test_unknown_numa_nodes_are_shown_as_a_range(initialised: Kerf) -> None:
    result = initialised("create", "x", "--cpu-count", "1", "--memory", "1G", "--numa-nodes", "0-65536")
    assert result.exit_code != ExitCode.OK
    assert "unknown NUMA node(s) 2-65536; the host has 0, 1" in result.stderr
    assert len(result.stderr) < 500, len(result.stderr)


def test_many_scattered_ids_are_cut_short_with_a_count(initialised: Kerf) -> None:
    scattered = ",".join(str(c) for c in range(100, 180, 2))  # 40 ids, no two adjacent
    result = initialised("create", "x", "--cpus", f"{scattered},1000-60000", "--memory", "1G")
    assert result.exit_code != ExitCode.OK
    shown = ", ".join(str(c) for c in range(100, 120, 2))
    assert f"pinned CPU(s) {shown} and {30 + 59001} more do not exist" in result.stderr
    assert len(result.stderr) < 500, len(result.stderr)


def test_a_few_ids_are_still_listed_one_by_one(initialised: Kerf) -> None:
    result = initialised("create", "x", "--cpus", "20,21,22", "--memory", "1G")
    assert "pinned CPU(s) 20, 21, 22 do not exist on this host" in result.stderr
