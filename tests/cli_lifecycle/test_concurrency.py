"""Many kerf processes at once on one simulated host: the flock serialises them, and every
one either succeeds or fails cleanly; no CPU or memory is given twice."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from kerf.errors import ExitCode
from kerf.fsutil import file_lock
from kerf.kernel.sim import SimulatedHost
from tests.cli_lifecycle.conftest import Kerf
from tests.cli_lifecycle.processes import kerf_process, start_kerf

pytestmark = pytest.mark.slow


def test_twenty_creates_at_once(initialised: Kerf) -> None:
    kerf = initialised
    procs = [
        start_kerf(kerf.root, "create", f"i{n}", "--cpu-count", "1", "--memory", "1GiB", "--json",
                   env={"KERF_LOCK_TIMEOUT": "300"})
        for n in range(20)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=600) for p in procs]
    results = [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]
    created = []
    for code, out, err in results:
        assert "Traceback" not in err
        if code == 0:
            created.append(json.loads(out))
        else:
            # 16 CPUs for 20 instances of one CPU: the last four cannot be placed
            assert code == ExitCode.UNPLACED, err
            assert err.startswith("error: cannot place instance")
    assert len(created) == 16
    sim = SimulatedHost(kerf.root / "kernel")
    instances = sim.snapshot().instances
    assert sorted(i.name for i in instances) == sorted(c["name"] for c in created)
    cpus = [c for i in instances for c in i.cpus]
    assert len(cpus) == len(set(cpus)) == 16
    regions = sorted((r.base, r.size) for i in instances for r in i.regions)
    assert all(a[0] + a[1] <= b[0] for a, b in itertools.pairwise(regions))
    assert len({c["id"] for c in created}) == 16
    assert all(t.applied for t in sim.transactions())
    records = sorted(p.stem for p in (kerf.root / "state" / "instances").glob("*.json"))
    assert records == sorted(i.name for i in instances)


def test_a_held_lock_makes_kerf_wait_then_fail_naming_the_holder(initialised: Kerf) -> None:
    import os

    lock = initialised.root / "state" / "lock"
    with file_lock(lock, timeout=1):
        started = time.monotonic()
        result = kerf_process(
            initialised.root, "create", "web", "--cpu-count", "1", "--memory", "1G",
            env={"KERF_LOCK_TIMEOUT": "0.5"},
        )  # fmt: skip
        waited = time.monotonic() - started
    assert result.returncode == ExitCode.BUSY
    assert f"process {os.getpid()} holds the lock on kerf's state" in result.stderr
    assert "gave up after 0.5 s" in result.stderr
    assert waited >= 0.5
    assert SimulatedHost(initialised.root / "kernel").instances() == []
    # The lock went with its holder: nothing stale stays behind.
    initialised.ok("create", "web", "--cpu-count", "1", "--memory", "1G")
