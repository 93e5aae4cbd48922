"""`kerf init` when the kernel refuses the baseline part-way: the kernel keeps what it did
before the failing step (reference §1.3), and an emptied pool takes a new baseline."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from kerf.dts import from_dtb
from kerf.errors import ExitCode
from kerf.kernel import sim_baseline
from kerf.kernel.sim import SimulatedHost
from kerf.kernel.sim_memory import SimFailure, allocate_chunk
from kerf.lifecycle.kernel_view import read_pool
from tests.cli_lifecycle.conftest import Kerf
from tests.kernel.simhost import dual_node_smt2


def _second_chunk_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    real = allocate_chunk
    calls = {"n": 0}

    def flaky(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SimFailure(errno.ENOMEM, "cannot allocate a contiguous chunk")
        return real(*args)

    monkeypatch.setattr(sim_baseline, "allocate_chunk", flaky)


def test_a_baseline_refused_part_way_is_given_back_and_init_can_run_again(
    kerf: Kerf, test_host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a machine that exists before kerf init, as a real kernel does
    sim = SimulatedHost.create(kerf.root / "kernel", dual_node_smt2())
    _second_chunk_fails(monkeypatch)
    result = kerf("init", "--input", str(test_host))
    assert result.exit_code == ExitCode.KERNEL, result.stderr
    assert "kept part of the baseline" in result.stderr
    assert "gave it back" in result.stderr
    assert "Traceback" not in result.stderr
    assert not read_pool(from_dtb(sim.read_device_tree())).populated
    monkeypatch.undo()
    kerf.ok("init", "--input", str(test_host))
    assert read_pool(from_dtb(sim.read_device_tree())).populated
    kerf.ok("create", "web", "--cpu-count", "2", "--memory", "1GiB")
