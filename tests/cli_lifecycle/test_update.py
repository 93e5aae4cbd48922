"""`kerf update`: current CPUs kept, only the difference sent, the result verified."""

from __future__ import annotations

import json

from kerf.errors import ExitCode
from kerf.kernel.sim import SimulatedHost
from kerf.overlay import CpuItem, ItemOperation, Kind, MemoryItem, PciItem, operations_of
from tests.cli_lifecycle.conftest import Kerf, tree_files

GiB = 1 << 30


def _sim(kerf: Kerf) -> SimulatedHost:
    return SimulatedHost(kerf.root / "kernel")


def _last_ops(kerf: Kerf) -> list[object]:
    sim = _sim(kerf)
    return list(operations_of(sim.read_transaction_blob(sim.transactions()[-1].id)))


def _with_web(kerf: Kerf) -> Kerf:
    kerf.ok("create", "web", "--cpu-count", "2", "--memory", "2GiB")  # CPUs 0, 8 on node 0
    return kerf


def test_growing_keeps_the_current_cpus_and_sends_only_the_new_ones(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    result = kerf.ok("update", "web", "--cpu-count", "4")
    assert result.stdout == "updated web: cpu-add CPU 1, CPU 9 (instance web)\n"
    assert "kept the 2 current CPUs of web and added CPUs 1, 9" in result.stderr
    assert _last_ops(kerf) == [ItemOperation("/instances/web", Kind.CPU_ADD, (CpuItem(1, 0), CpuItem(9, 0)))]
    [web] = _sim(kerf).snapshot().instances
    assert web.cpus == [0, 8, 1, 9]  # the boot CPU is still 0
    record = json.loads((kerf.root / "state" / "instances" / "web.json").read_text())
    assert record["request"]["cpu_count"] == 4
    assert record["placement"]["cpus"] == [0, 8, 1, 9]


def test_shrinking_keeps_the_boot_cpu(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    kerf.ok("update", "web", "--cpu-count", "4")
    result = kerf.ok("update", "web", "--cpu-count", "1")
    assert "kept the boot CPU 0 of web" in result.stderr
    [web] = _sim(kerf).snapshot().instances
    assert web.cpus == [0]
    [op] = _last_ops(kerf)
    assert isinstance(op, ItemOperation) and op.kind is Kind.CPU_REMOVE
    assert sorted(i.cpu for i in op.items if isinstance(i, CpuItem)) == [1, 8, 9]


def test_memory_grows_by_a_region_and_shrinks_by_trimming(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    kerf.ok("update", "web", "--memory", "3GiB")
    [grow] = _last_ops(kerf)
    assert isinstance(grow, ItemOperation) and grow.kind is Kind.MEMORY_ADD
    assert [(i.size, i.numa_node) for i in grow.items if isinstance(i, MemoryItem)] == [(GiB, 0)]
    kerf.ok("update", "web", "--memory", "512MiB")
    remove, add = _last_ops(kerf)
    assert isinstance(remove, ItemOperation) and remove.kind is Kind.MEMORY_REMOVE
    assert isinstance(add, ItemOperation) and add.kind is Kind.MEMORY_ADD
    regions = [(r.range.base, r.range.size) for r in _sim(kerf).iomem().instance_regions()]
    assert regions == [(0x100000000, 512 << 20)]  # the oldest region kept its start


def test_devices_are_handed_over_and_back(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    kerf.ok("update", "web", "--devices", "eth0_vf1")
    assert _last_ops(kerf) == [ItemOperation("/instances/web", Kind.DEVICE_ADD, (PciItem("0000:09:10.1"),))]
    kerf.ok("update", "web", "--devices", "")
    assert _last_ops(kerf) == [
        ItemOperation("/instances/web", Kind.DEVICE_REMOVE, (PciItem("0000:09:10.1"),))
    ]
    assert _sim(kerf).snapshot().instances[0].pci == []


def test_an_explicit_list_replaces_the_cpus(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    result = kerf.ok("update", "--id", "1", "--cpus", "0,5,6", "--json")
    data = json.loads(result.stdout)
    assert data["cpus"] == [0, 5, 6]
    [web] = _sim(kerf).snapshot().instances
    assert web.cpus == [0, 5, 6]


def test_a_policy_change_that_moves_nothing_sends_nothing(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    count = len(_sim(kerf).transactions())
    result = kerf.ok("update", "web", "--exclusive-cores")
    assert result.stdout == "web already matches; nothing sent to the kernel\n"
    assert len(_sim(kerf).transactions()) == count
    record = json.loads((kerf.root / "state" / "instances" / "web.json").read_text())
    assert record["request"]["exclusive_cores"] is True


def test_dry_run_shows_the_delta_and_changes_nothing(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    before = tree_files(kerf.root)
    result = kerf.ok("update", "web", "--cpu-count", "3", "--dry-run")
    assert result.stdout.startswith("would update web: cpu-add CPU ")
    assert tree_files(kerf.root) == before


def test_growing_past_what_is_free_is_unplaced_and_says_it_kept_the_cpus(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    result = kerf("update", "web", "--cpu-count", "17")
    assert result.exit_code == ExitCode.UNPLACED
    assert "cannot grow instance web to 17 CPUs while it keeps its 2 current ones" in result.stderr


def test_update_needs_something_to_change_and_an_existing_instance(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    nothing = kerf("update", "web")
    assert nothing.exit_code == ExitCode.USAGE and "nothing to change" in nothing.stderr
    missing = kerf("update", "nope", "--cpu-count", "1")
    assert missing.exit_code == ExitCode.USAGE
    assert "there is no instance named 'nope'" in missing.stderr
    assert "instances: web (id 1)" in missing.stderr
    both = kerf("update", "web", "--cpus", "1", "--cpu-count", "1")
    assert both.exit_code == ExitCode.USAGE
