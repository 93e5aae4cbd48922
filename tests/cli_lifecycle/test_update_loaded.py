"""`kerf update` on an instance with a loaded or running kernel: the region under the
image stays (the kernel refuses to remove it, reference §3.2), other regions may go; a
running kernel keeps its boot CPU and never drops below its CPU count on the way.

The test host (tests/kernel/simhost.py): 12 GiB of pool per NUMA node, node 0 first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerf.errors import ExitCode
from kerf.kernel.sim import SimulatedHost
from kerf.overlay import Kind, operations_of
from tests.cli_lifecycle.conftest import Kerf, tree_files

GiB = 1 << 30


def _web_memory(kerf: Kerf) -> list[dict[str, int]]:
    data = json.loads(kerf.ok("show", "web", "--json").stdout)
    web = data["instances"][0] if "instances" in data else data
    regions = web["memory"]
    assert isinstance(regions, list)
    return regions


@pytest.mark.parametrize("running", [False, True], ids=["loaded", "active"])
def test_shrinking_into_the_image_region_is_refused_and_changes_nothing(
    initialised: Kerf, vmlinux: Path, running: bool
) -> None:
    kerf = initialised
    kerf.ok("create", "web", "--cpu-count", "1", "--memory", "1GiB")
    kerf.ok("load", "web", "--kernel", str(vmlinux))
    if running:
        kerf.ok("exec", "web")
    before = tree_files(kerf.root)
    result = kerf("update", "web", "--memory", "512MiB")
    assert result.exit_code == ExitCode.STATE, result.stderr
    assert "kernel image" in result.stderr
    assert "kerf unload web" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree_files(kerf.root) == before


def test_a_loaded_instance_gives_back_a_later_region_but_keeps_the_first(
    initialised: Kerf, vmlinux: Path
) -> None:
    kerf = initialised
    kerf.ok("create", "web", "--cpu-count", "1", "--memory", "1GiB")
    kerf.ok("update", "web", "--memory", "3GiB")  # a second region of 2 GiB
    first = _web_memory(kerf)
    assert len(first) == 2, first
    kerf.ok("load", "web", "--kernel", str(vmlinux))
    kerf.ok("update", "web", "--memory", "1GiB")
    after = _web_memory(kerf)
    assert after == [first[0]]


def test_a_running_instance_gains_cpus_before_it_gives_any_back(initialised: Kerf, vmlinux: Path) -> None:
    kerf = initialised
    kerf.ok("create", "web", "--cpu-count", "2", "--memory", "1GiB")  # CPUs 0, 8 on node 0
    kerf.ok("load", "web", "--kernel", str(vmlinux))
    kerf.ok("exec", "web")
    sim = SimulatedHost(kerf.root / "kernel")
    count = len(sim.transactions())
    kerf.ok("update", "web", "--cpus", "0,1,2")
    kinds = [
        op.kind for tx in sim.transactions()[count:] for op in operations_of(sim.read_transaction_blob(tx.id))
    ]
    assert kinds == [Kind.CPU_ADD, Kind.CPU_ADD, Kind.CPU_REMOVE]
    [web] = sim.snapshot().instances
    assert web.cpus == [0, 1, 2]


def test_a_running_instance_keeps_its_boot_cpu(initialised: Kerf, vmlinux: Path) -> None:
    kerf = initialised
    kerf.ok("create", "web", "--cpu-count", "2", "--memory", "1GiB")
    kerf.ok("load", "web", "--kernel", str(vmlinux))
    kerf.ok("exec", "web")
    before = tree_files(kerf.root)
    result = kerf("update", "web", "--cpus", "1,2")
    assert result.exit_code == ExitCode.STATE, result.stderr
    assert "boot CPU 0" in result.stderr and "kerf kill web" in result.stderr
    assert tree_files(kerf.root) == before
