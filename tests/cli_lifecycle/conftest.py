"""Fixtures of the lifecycle CLI tests: a kerf runner bound to a fresh simulated-host root,
the example host and a small test host whose VFs have PCI functions of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from kerf.binding import host_to_tree
from kerf.cli.app import app
from kerf.dts import format_dts
from tests.kernel.images import make_elf
from tests.kernel.simhost import dual_node_smt2

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "numa_topology.dts"


@dataclass
class Kerf:
    """Runs ``kerf ARGS`` in-process with KERF_ROOT set to ``root``."""

    root: Path
    runner: CliRunner

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        # None unsets: a developer's KERF_CORE_SHARING must not change the plans tested
        full_env: dict[str, str | None] = {
            "KERF_ROOT": str(self.root),
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "KERF_CORE_SHARING": None,
        }
        full_env.update(env or {})
        return self.runner.invoke(app, list(args), env=full_env)

    def ok(self, *args: str) -> Result:
        """Run and insist on exit 0 (the failure shows stderr)."""
        result = self(*args)
        assert result.exit_code == 0, f"kerf {' '.join(args)} -> {result.exit_code}\n{result.stderr}"
        return result


@pytest.fixture
def kerf(tmp_path: Path) -> Kerf:
    return Kerf(tmp_path / "root", CliRunner())


@pytest.fixture
def test_host(tmp_path: Path) -> Path:
    """Two NUMA nodes of 4 SMT2 cores (node 0: CPUs 0-3, 8-11), 12 GiB of pool per node,
    a NIC with VFs 0000:09:10.0/.1 (eth0_vf0, eth0_vf1) and an NVMe drive (nvme0)."""
    path = tmp_path / "host.dts"
    path.write_text(format_dts(host_to_tree(dual_node_smt2())))
    return path


@pytest.fixture
def initialised(kerf: Kerf, test_host: Path) -> Kerf:
    kerf.ok("init", "--input", str(test_host))
    return kerf


@pytest.fixture
def vmlinux(tmp_path: Path) -> Path:
    path = tmp_path / "vmlinux"
    path.write_bytes(make_elf())
    return path


@pytest.fixture
def no_kerf_env() -> Iterator[None]:
    """Tests that choose the backend themselves must not inherit KERF_ROOT."""
    saved = os.environ.pop("KERF_ROOT", None)
    yield
    if saved is not None:
        os.environ["KERF_ROOT"] = saved


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its contents (to prove that nothing changed)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
