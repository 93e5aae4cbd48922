"""The kernel is the source of truth: kerf's records follow it."""

from __future__ import annotations

import json

from kerf.kernel.sim import SimulatedHost
from tests.cli_lifecycle.conftest import Kerf
from tests.kernel.simhost import GiB, create, remove


def test_an_instance_removed_behind_kerfs_back_loses_its_record(initialised: Kerf) -> None:
    initialised.ok("create", "web", "--cpu-count", "2", "--memory", "1G")
    SimulatedHost(initialised.root / "kernel").write_overlay(remove("web"))
    result = initialised.ok("show", "--json")
    assert "instance web no longer exists in the kernel; kerf dropped its record" in result.stderr
    assert json.loads(result.stdout)["instances"] == []
    assert not (initialised.root / "state" / "instances" / "web.json").exists()


def test_an_instance_made_by_another_tool_is_adopted_and_planned_around(initialised: Kerf) -> None:
    sim = SimulatedHost(initialised.root / "kernel")
    tx = sim.write_overlay(create("foreign", cpus=[0, 8], memory=GiB, numa=0))
    assert tx.applied
    result = initialised.ok("show", "--json")
    assert "instance foreign (id 1) exists in the kernel but kerf has no record of it" in result.stderr
    [foreign] = json.loads(result.stdout)["instances"]
    assert foreign["cpus"] == [0, 8] and foreign["policies"] is None
    # the planner keeps away from its CPUs, and kerf can change it like its own
    created = json.loads(
        initialised.ok("create", "web", "--cpu-count", "2", "--memory", "1G", "--json").stdout
    )
    assert not set(created["cpus"]) & {0, 8}
    initialised.ok("update", "foreign", "--cpu-count", "3")
    assert len(sim.snapshot().instance_by_name("foreign").cpus) == 3  # type: ignore[union-attr]
