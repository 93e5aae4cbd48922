"""``kerf discover`` on machines too small for the default split: said loudly, not silently."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kerf.cli.app import app

NODE = '<object type="NUMANode" os_index="0" cpuset="0x3" nodeset="0x1" local_memory="%d"/>'
ONE_PU = '<object type="PU" os_index="0" cpuset="0x1"/>'
ONE_CORE = (
    '<object type="Core" os_index="0" cpuset="0x3">'
    '<object type="PU" os_index="0" cpuset="0x1"/><object type="PU" os_index="1" cpuset="0x2"/></object>'
)


def _discover(tmp_path: Path, body: str, memory: int = 1 << 30, *flags: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "topo.xml"
    path.write_text(
        '<topology version="2.0"><object type="Machine" cpuset="0x3">'
        f"{NODE % memory}{body}</object></topology>"
    )
    out = tmp_path / "host.dts"
    return CliRunner().invoke(app, ["discover", "--from-hwloc", str(path), "-o", str(out), *flags])


def test_one_cpu_machine_warns_that_the_pool_has_no_cpu(tmp_path: Path) -> None:
    result = _discover(tmp_path, ONE_PU)
    assert result.exit_code == 0, result.stderr
    assert "warning: no CPU is left for the pool: the host keeps CPU 0" in result.stderr
    assert "a machine with one CPU has none to give to instances" in result.stderr
    assert "1 CPU (0 in the pool)" in result.stderr


def test_one_core_machine_points_at_reserve_cpus(tmp_path: Path) -> None:
    result = _discover(tmp_path, ONE_CORE)
    assert result.exit_code == 0, result.stderr
    assert "warning: no CPU is left for the pool: the host keeps CPUs 0-1" in result.stderr
    assert "--reserve-cpus" in result.stderr
    fixed = _discover(tmp_path, ONE_CORE, 1 << 30, "--reserve-cpus", "0")
    assert "no CPU is left for the pool" not in fixed.stderr


def test_tiny_nodes_warn_that_the_pool_has_no_memory(tmp_path: Path) -> None:
    result = _discover(tmp_path, ONE_CORE, 4096, "--reserve-cpus", "0")
    assert result.exit_code == 0, result.stderr
    assert "warning: no memory is left for the pool" in result.stderr
    assert "--pool-memory" in result.stderr
