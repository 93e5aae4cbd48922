"""A write that the kernel applied although write() reported an error (reference §1.5:
write() fails when the transaction's directory cannot be created, after the apply): kerf
must not forget the change; the next command rolls it back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerf.errors import ExitCode, KernelError
from kerf.kernel.backend import Transaction
from kerf.kernel.sim import SimulatedHost
from tests.cli_lifecycle.conftest import Kerf


def test_an_error_after_the_kernel_applied_keeps_the_journal_and_the_next_command_undoes_it(
    initialised: Kerf, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kerf = initialised
    real = SimulatedHost.write_overlay

    def applied_then_failed(self: SimulatedHost, blob: bytes) -> Transaction:
        real(self, blob)
        raise KernelError("write overlays/new: ENOMEM")

    monkeypatch.setattr(SimulatedHost, "write_overlay", applied_then_failed)
    result = kerf("create", "web", "--cpu-count", "2", "--memory", "1GiB")
    assert result.exit_code == ExitCode.KERNEL, result.stderr
    assert "still holds part of this change" in result.stderr
    assert (kerf.root / "state" / "journal.json").exists()
    monkeypatch.undo()
    shown = kerf.ok("show", "--json")
    assert "rolled back the interrupted" in shown.stderr
    assert json.loads(shown.stdout)["instances"] == []
    sim = SimulatedHost(kerf.root / "kernel")
    assert [i.name for i in sim.instances()] == []
    kerf.ok("create", "web", "--cpu-count", "2", "--memory", "1GiB")
