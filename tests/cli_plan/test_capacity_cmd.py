"""``kerf capacity``: the exact count, what runs out first, headroom per node."""

from __future__ import annotations

import json
from pathlib import Path

from kerf.errors import ExitCode
from planner.synthetic import GiB, synthetic_host
from tests.cli_plan.conftest import Kerf, write_host


def small_host(tmp_path: Path) -> Path:
    """Two nodes of three SMT2 cores (interleaved ids), 48 GiB of pool per node."""
    return write_host(tmp_path / "small.dts", synthetic_host("pack:2 core:3 pu:2"), [])


def test_json_count_limit_bounds_and_nodes(kerf: Kerf, tmp_path: Path) -> None:
    result = kerf("capacity", str(small_host(tmp_path)), "--cpu-count", "4", "--memory", "8GB", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert list(data) == [
        "shape",
        "count",
        "proven",
        "limit",
        "why_not_more",
        "bounds",
        "per_node",
        "solve_seconds",
    ]
    assert (data["count"], data["proven"], data["limit"]) == (3, True, "cpus")
    assert data["why_not_more"] == "what-if-4: needs 4 CPUs; 0 are free in the pool"
    assert data["bounds"] == {"cpus": 3, "memory": 12, "devices": None}
    assert data["shape"]["memory_bytes"] == 8 * GiB and data["shape"]["cpu_affinity"] == "compact"
    node0 = data["per_node"][0]
    assert (node0["numa_node"], node0["free_cpus"], node0["free_memory"]) == (0, 6, 48 * GiB)
    assert sum(n["cpus_left"] for n in data["per_node"]) == 0


def test_local_instances_strand_cpus(kerf: Kerf, tmp_path: Path) -> None:
    result = kerf(
        "capacity",
        str(small_host(tmp_path)),
        "--cpu-count",
        "4",
        "--memory",
        "1G",
        "--cpu-affinity",
        "local",
        "--json",
    )
    data = json.loads(result.stdout)
    # 6 CPUs per node hold one local 4-CPU instance each: 2 left over on both nodes
    assert (data["count"], data["limit"]) == (2, "cpus")
    assert [n["cpus_left"] for n in data["per_node"]] == [2, 2]


def test_text_mode(kerf: Kerf, tmp_path: Path) -> None:
    result = kerf("capacity", str(small_host(tmp_path)), "--cpu-count", "2", "--memory", "40G")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "2 more instance(s) of 2 CPUs, 40 GiB (compact, local) fit; memory runs out first."
    assert lines[1] == "one more does not fit: what-if-3: needs 40GiB of memory; 16GiB are free in the pool"
    assert lines[2] == "each resource alone would allow: cpus 6, memory 2"
    assert "Headroom per NUMA node" in result.stdout


def test_bad_flags(kerf: Kerf, tmp_path: Path) -> None:
    host = str(small_host(tmp_path))
    bad_size = kerf("capacity", host, "--cpu-count", "2", "--memory", "lots")
    assert bad_size.exit_code == ExitCode.USAGE
    assert bad_size.stderr.startswith("error: --memory 'lots' is not a size")
    bad_nodes = kerf("capacity", host, "--cpu-count", "2", "--memory", "1G", "--numa-nodes", "1-0")
    assert bad_nodes.exit_code == ExitCode.USAGE and "runs backwards" in bad_nodes.stderr
    bind = kerf("capacity", host, "--cpu-count", "2", "--memory", "1G", "--memory-policy", "bind")
    assert bind.exit_code == ExitCode.USAGE
    assert "memory-policy bind needs the NUMA nodes" in bind.stderr
    policy = kerf("capacity", host, "--cpu-count", "2", "--memory", "1G", "--cpu-affinity", "tight")
    assert policy.exit_code == ExitCode.USAGE and "tight" in policy.stderr
    missing = kerf("capacity", host, "--memory", "1G")
    assert missing.exit_code == ExitCode.USAGE and "--cpu-count" in missing.stderr
