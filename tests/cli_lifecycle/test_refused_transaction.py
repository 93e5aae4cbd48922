"""A transaction the kernel refuses part-way through a command's batch.

The kernel does not undo a failed transaction, and rolling one back (rmdir) replays the
inverse of every operation in its blob, also of those that never ran (reference §1.5,
§1.7). kerf writes one item per transaction, rolls back only the batch's transactions
that applied, and leaves the refused one in overlays/: the command fails cleanly (exit
5, the kernel as before, no journal) and every later command works.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from kerf.errors import ExitCode
from kerf.kernel.backend import TxStatus
from kerf.kernel.sim import SimulatedHost
from kerf.overlay import ItemOperation, Kind, PciItem, operations_of
from tests.cli_lifecycle.conftest import Kerf
from tests.cli_lifecycle.processes import kerf_process
from tests.kernel.simhost import fragment, overlay, pci_items

NVME = "0000:0a:00.0"


def _sim(kerf: Kerf) -> SimulatedHost:
    return SimulatedHost(kerf.root / "kernel")


def _kernel(kerf: Kerf) -> dict[str, Any]:
    """What the simulated kernel holds: instances and pool (transactions aside)."""
    state = _sim(kerf).snapshot()
    return {
        "instances": [
            (i.id, i.name, i.status, list(i.cpus), [(r.base, r.size) for r in i.regions], i.pci)
            for i in state.instances
        ],
        "pool_cpus": sorted(state.pool_cpus),
        "chunks": [(c.base, c.size, c.node) for c in state.chunks],
        "pool_pci": state.pool_pci,
    }


def _take_nvme_out_of_the_pool(kerf: Kerf) -> None:
    """Behind kerf's back: the kernel's pool loses nvme0, so a device-add of it is refused."""
    _sim(kerf).write_overlay(overlay(fragment("0", "/resources", f"device-remove {{ {pci_items(NVME)} }};")))


@pytest.fixture
def running(initialised: Kerf, vmlinux: Path) -> Kerf:
    """web created, loaded and started; nvme0 gone from the kernel's pool."""
    initialised.ok("create", "web", "--cpu-count", "2", "--memory", "1GiB")
    initialised.ok("load", "web", "--kernel", str(vmlinux))
    initialised.ok("exec", "web")
    _take_nvme_out_of_the_pool(initialised)
    return initialised


def test_a_refused_second_transaction_leaves_the_kernel_as_before_and_kerf_usable(running: Kerf) -> None:
    kerf = running
    shown_before = json.loads(kerf.ok("show", "--json").stdout)
    kernel_before = _kernel(kerf)
    txs_before = _sim(kerf).transactions()

    result = kerf("create", "db", "--cpu-count", "2", "--memory", "1GiB", "--devices", "nvme0")

    assert result.exit_code == ExitCode.KERNEL, result.stderr
    sim = _sim(kerf)
    *kept, refused = sim.transactions()
    assert kept == txs_before  # the create (transaction 1) was rolled back
    assert refused.status is TxStatus.FAILED
    assert (sim.root / "overlays" / f"tx_{refused.id}" / "status").read_text() == "failed\n"
    assert operations_of(sim.read_transaction_blob(refused.id)) == [
        ItemOperation("/instances/db", Kind.DEVICE_ADD, (PciItem(NVME),))
    ]
    assert "the kernel refused transaction 2 of 2" in result.stderr
    assert f"tx_{refused.id} stays in overlays/ with status failed; it changed nothing" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert _kernel(kerf) == kernel_before
    assert not (kerf.root / "state" / "journal.json").exists()
    assert json.loads(kerf.ok("show", "--json").stdout) == shown_before

    # Nothing is left to repair: the next commands run as usual.
    kerf.ok("kill", "web", "--force")
    assert sim.instance("web").status.value == "loaded"
    kerf.ok("create", "db", "--cpu-count", "2", "--memory", "1GiB")
    assert [i.name for i in sim.instances()] == ["web", "db"]
    assert sim.transaction(refused.id).status is TxStatus.FAILED  # never touched


@pytest.mark.slow
def test_a_crash_after_the_refused_transaction_is_repaired_without_touching_it(running: Kerf) -> None:
    kerf = running
    kernel_before = _kernel(kerf)
    txs_before = _sim(kerf).transactions()
    args = ("create", "db", "--cpu-count", "2", "--memory", "1GiB", "--devices", "nvme0")
    # Killed right after writing transaction 2 (refused by the kernel), before reading its status.
    crashed = kerf_process(kerf.root, *args, env={"KERF_CRASH_AT": "overlay-written-2"})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    sim = _sim(kerf)
    journal = kerf.root / "state" / "journal.json"
    assert journal.exists()
    *_, created, refused = sim.transactions()
    assert (created.status, refused.status) == (TxStatus.APPLIED, TxStatus.FAILED)

    shown = kerf.ok("show", "--json")

    assert f"rolled back the interrupted 'kerf create db' (tx_{created.id}; tx_{refused.id}" in shown.stderr
    assert not journal.exists()
    assert json.loads(shown.stdout)["instances"][0]["name"] == "web"
    assert _kernel(kerf) == kernel_before
    assert sim.transactions() == [*txs_before, refused]
    # The refused transaction was not rolled back: the kernel never replayed its inverse.
    assert not any(line.startswith(f"rollback tx_{refused.id}") for line in sim.kernel_log())
    kerf.ok("kill", "web", "--force")
    kerf.ok("create", "db", "--cpu-count", "2", "--memory", "1GiB")


@pytest.mark.slow
def test_a_rollback_the_kernel_refused_during_repair_is_retried_by_the_next_command(
    initialised: Kerf, vmlinux: Path
) -> None:
    kerf = initialised
    kernel_before = _kernel(kerf)
    args = ("create", "db", "--cpu-count", "2", "--memory", "1GiB")
    crashed = kerf_process(kerf.root, *args, env={"KERF_CRASH_AT": "overlay-written-1"})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    sim = _sim(kerf)
    [created] = sim.transactions()
    # Behind kerf's back a kernel is loaded into db: undoing its create is refused (EBUSY),
    # and the transaction then shows "failed" like one the kernel refused to apply.
    sim.load(sim.instance("db").id, vmlinux, None, "")
    refused = kerf("show")
    assert refused.exit_code != 0
    assert "cannot be rolled back" in refused.stderr
    assert sim.transaction(created.id).status is TxStatus.FAILED
    journal = json.loads((kerf.root / "state" / "journal.json").read_text())
    assert journal["extra"]["still_applied"] == [created.id]  # so it is not taken for a refused one
    sim.unload(sim.instance("db").id)
    shown = kerf.ok("show")
    assert f"rolled back the interrupted 'kerf create db' (tx_{created.id})" in shown.stderr
    assert _kernel(kerf) == kernel_before
    assert sim.transactions() == []
