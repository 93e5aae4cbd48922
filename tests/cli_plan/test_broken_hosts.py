"""A host whose own description contradicts itself is refused by plan and capacity
(exit 1, the rules named), never planned on and never a traceback or an exit 70."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerf.errors import ExitCode
from tests.cli_plan.conftest import EXAMPLES, Kerf


def variant(tmp_path: Path, example: str, old: str, new: str) -> Path:
    """A copy of an example host with one piece of text replaced."""
    text = (EXAMPLES / example).read_text()
    assert old in text
    path = tmp_path / f"broken-{example}"
    path.write_text(text.replace(old, new, 1))
    return path


BROKEN = [
    # a CPU in two cores
    (
        "edge_computing.dts",
        "core@2 { cpus = <2 3>; };",
        "core@2 { cpus = <1 2 3>; };",
        "topology-cpu-overlap",
    ),
    # the pool lists a CPU the host does not have
    (
        "minimal.dts",
        "available = <1 2 3 4 5 6 7>;",
        "available = <1 2 3 4 5 6 7 40>;",
        "cpu-not-in-inventory",
    ),
    # two NUMA nodes claim the same memory
    (
        "numa_topology.dts",
        "memory-base = <0x0 0x400000000>;\n\t\t\t\t\tmemory-size",
        "memory-base = <0x0 0x300000000>;\n\t\t\t\t\tmemory-size",
        "numa-memory-overlap",
    ),
]


@pytest.mark.parametrize(("example", "old", "new", "code"), BROKEN, ids=[b[3] for b in BROKEN])
def test_plan_and_capacity_refuse_a_broken_host(
    kerf: Kerf, tmp_path: Path, example: str, old: str, new: str, code: str
) -> None:
    host = variant(tmp_path, example, old, new)
    requests = tmp_path / "r.json"
    requests.write_text('{"instances": [{"name": "web", "cpu-count": 1, "memory": "64M"}]}')
    for args in (
        ("plan", str(host), "--requests", str(requests), "--json"),
        ("capacity", str(host), "--cpu-count", "1", "--memory", "64M", "--json"),
    ):
        result = kerf(*args)
        assert result.exit_code == ExitCode.INVALID, result.output
        assert result.stdout == ""
        assert f"[{code}]" in result.stderr and "nothing can be placed" in result.stderr
        assert f"kerf validate {host}" in result.stderr
        assert "Traceback" not in result.stderr


def test_validate_reports_a_cpu_in_two_cores_where_it_is_written(kerf: Kerf, tmp_path: Path) -> None:
    old, new = "core@2 { cpus = <2 3>; };", "core@2 { cpus = <1 2 3>; };"
    host = variant(tmp_path, "edge_computing.dts", old, new)
    result = kerf("validate", str(host))
    assert result.exit_code == ExitCode.INVALID
    assert "topology-cpu-overlap" in result.stdout
    assert "CPU 1 is already in /resources/cpus/cores/core@0" in result.stdout
    line = next(i for i, text in enumerate(host.read_text().splitlines(), 1) if "core@2" in text)
    assert f"{host}:{line}:" in result.stdout
