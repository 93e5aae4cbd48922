"""kerf killed (SIGKILL) at every write point; the next command repairs and `show` works.

KERF_CRASH_AT=<checkpoint> makes kerf kill itself right after that step (kerf.lifecycle.faults).
After each crash the host must be in the state before the command or in the state after
it, never in between, with kerf's records matching the kernel and no journal left once
the next command has run.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from kerf.kernel.sim import SimulatedHost
from tests.cli_lifecycle.conftest import Kerf
from tests.cli_lifecycle.processes import kerf_process

pytestmark = pytest.mark.slow

BATCH_POINTS = [
    "journal-written",
    "overlay-written-1",
    "batch-applied",
    "journal-committed",
    "record-written",
]


def _kernel_state(kerf: Kerf) -> dict[str, tuple[str, tuple[int, ...], int, tuple[str, ...]]]:
    """name -> (status, CPUs, memory bytes, PCI ids) as the kernel has them."""
    sim = SimulatedHost(kerf.root / "kernel")
    return {
        i.name: (
            i.status,
            tuple(i.cpus),
            sum(r.size for r in i.regions),
            tuple(sorted(d.pci_id for d in i.pci)),
        )
        for i in sim.snapshot().instances
    }


def _crash(kerf: Kerf, point: str, *args: str) -> None:
    result = kerf_process(kerf.root, *args, env={"KERF_CRASH_AT": point})
    assert result.returncode == -signal.SIGKILL, f"{args} did not reach {point}: {result.stderr}"


def _assert_consistent(kerf: Kerf) -> dict[str, object]:
    """`kerf show` works, repairs whatever was left, and the records match the kernel."""
    show = kerf.ok("show", "--json")
    data = json.loads(show.stdout)
    state = kerf.root / "state"
    assert not (state / "journal.json").exists()
    records = {p.stem: json.loads(p.read_text()) for p in (state / "instances").glob("*.json")}
    kernel = _kernel_state(kerf)
    assert set(records) == set(kernel)
    for name, record in records.items():
        assert tuple(record["placement"]["cpus"]) == kernel[name][1]
    sim = SimulatedHost(kerf.root / "kernel")
    assert all(t.applied for t in sim.transactions())  # nothing failed or half-done stays
    return data


@pytest.mark.parametrize("point", BATCH_POINTS)
def test_create_killed_at_each_point(initialised: Kerf, point: str) -> None:
    kerf = initialised
    kerf.ok("create", "keep", "--cpu-count", "1", "--memory", "1G")
    before = _kernel_state(kerf)
    _crash(kerf, point, "create", "web", "--cpu-count", "2", "--memory", "1G", "--devices", "nvme0")
    _assert_consistent(kerf)
    after = _kernel_state(kerf)
    if point in ("journal-committed", "record-written"):
        assert set(after) == {"keep", "web"}  # completed
        assert after["web"][3] == ("0000:0a:00.0",)
    else:
        assert after == before  # rolled back
        kerf.ok("create", "web", "--cpu-count", "2", "--memory", "1G", "--devices", "nvme0")


@pytest.mark.parametrize("point", BATCH_POINTS)
def test_update_killed_at_each_point(initialised: Kerf, point: str) -> None:
    kerf = initialised
    kerf.ok("create", "web", "--cpu-count", "2", "--memory", "1G")
    before = _kernel_state(kerf)
    _crash(kerf, point, "update", "web", "--cpu-count", "4", "--memory", "2G")
    _assert_consistent(kerf)
    after = _kernel_state(kerf)
    if point in ("journal-committed", "record-written"):
        assert len(after["web"][1]) == 4 and after["web"][2] == 2 << 30
    else:
        assert after == before


@pytest.mark.parametrize("point", BATCH_POINTS)
def test_delete_killed_at_each_point(initialised: Kerf, point: str) -> None:
    kerf = initialised
    kerf.ok("create", "web", "--cpu-count", "2", "--memory", "1G")
    _crash(kerf, point, "delete", "web")
    _assert_consistent(kerf)
    # instance-remove cannot be undone by the kernel: once written, the instance is gone
    assert ("web" in _kernel_state(kerf)) == (point == "journal-written")


@pytest.mark.parametrize(
    ("point", "loaded"), [("journal-written", False), ("kernel-called", True), ("record-written", True)]
)
def test_load_killed_at_each_point(initialised: Kerf, vmlinux: Path, point: str, loaded: bool) -> None:
    kerf = initialised
    kerf.ok("create", "web", "--cpu-count", "2", "--memory", "1G")
    _crash(kerf, point, "load", "web", "--kernel", str(vmlinux))
    data = _assert_consistent(kerf)
    [web] = data["instances"]  # type: ignore[index]
    assert web["status"] == ("loaded" if loaded else "ready")
    assert (web["image"] is not None) == loaded  # provenance kept exactly when the kernel has the image


@pytest.mark.parametrize(
    ("point", "installed"),
    [
        ("journal-written", False),
        ("simulated-host-created", False),
        ("baseline-written", True),
        ("host-installed", True),
    ],
)
def test_init_killed_at_each_point(kerf: Kerf, test_host: Path, point: str, installed: bool) -> None:
    _crash(kerf, point, "init", "--input", str(test_host))
    if installed:
        _assert_consistent(kerf)
        again = kerf("init", "--input", str(test_host))
        assert again.exit_code == 6 and "already initialised" in again.stderr
    else:
        # the next init repairs the leftovers and succeeds
        kerf.ok("init", "--input", str(test_host))
        _assert_consistent(kerf)
