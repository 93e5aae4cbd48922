"""`kerf update`: the instance re-placed by the planner moving as little as possible, only
the difference sent to the kernel (one transaction per item), the result verified.

The test host (tests/kernel/simhost.py): node 0 holds CPUs 0-3 and 8-11, node 1 CPUs 4-7
and 12-15 (siblings c and c+8), 12 GiB of pool per node; eth0 (node 0) has VFs eth0_vf0
and eth0_vf1.
"""

from __future__ import annotations

import json

from kerf.errors import ExitCode
from kerf.kernel.sim import SimulatedHost
from kerf.overlay import CpuItem, ItemOperation, Kind, MemoryItem, PciItem, operations_of
from tests.cli_lifecycle.conftest import Kerf, tree_files

GiB = 1 << 30


def _sim(kerf: Kerf) -> SimulatedHost:
    return SimulatedHost(kerf.root / "kernel")


def _ops_since(kerf: Kerf, count: int) -> list[ItemOperation]:
    """The operations of the batch written after the first ``count`` transactions (one
    item per transaction), consecutive items of one kind joined into one operation."""
    sim = _sim(kerf)
    new = sim.transactions()[count:]
    assert new and len({t.resources.split()[0] for t in new}) == 1, [t.resources for t in new]
    ops: list[ItemOperation] = []
    for tx in new:
        [op] = operations_of(sim.read_transaction_blob(tx.id))
        assert isinstance(op, ItemOperation) and op.target == "/instances/web" and len(op.items) == 1
        if ops and ops[-1].kind is op.kind:
            ops[-1] = ops[-1].with_items((*ops[-1].items, *op.items))
        else:
            ops.append(op)
    return ops


def _cpus(op: ItemOperation) -> list[int]:
    return [item.cpu for item in op.items if isinstance(item, CpuItem)]


def _kinds(ops: list[ItemOperation]) -> list[Kind]:
    return [op.kind for op in ops]


def _count(kerf: Kerf) -> int:
    return len(_sim(kerf).transactions())


def _with_web(kerf: Kerf, *extra: str) -> Kerf:
    kerf.ok("create", "web", "--cpu-count", "2", "--memory", "2GiB", *extra)  # CPUs 0, 8 on node 0
    return kerf


def _record(kerf: Kerf) -> dict[str, object]:
    data = json.loads((kerf.root / "state" / "instances" / "web.json").read_text())
    assert isinstance(data, dict)
    return data


def test_growing_keeps_the_current_cpus_and_sends_only_the_new_ones(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    count = _count(kerf)
    result = kerf.ok("update", "web", "--cpu-count", "4")
    # one transaction per item, each described
    assert result.stdout == "updated web: cpu-add CPU 1, CPU 9 (instance web)\n"
    assert result.stderr == "note: web keeps its 2 CPUs and gains CPUs 1, 9\n"
    [op] = _ops_since(kerf, count)
    assert op == ItemOperation("/instances/web", Kind.CPU_ADD, (CpuItem(1, 0), CpuItem(9, 0)))
    [web] = _sim(kerf).snapshot().instances
    assert web.cpus == [0, 8, 1, 9]  # the boot CPU is still 0
    record = _record(kerf)
    assert record["request"]["cpu_count"] == 4  # type: ignore[index]
    assert record["placement"]["cpus"] == [0, 8, 1, 9]  # type: ignore[index]


def test_shrinking_keeps_the_boot_cpu_even_where_a_fresh_plan_would_not(initialised: Kerf) -> None:
    kerf = initialised
    # boot CPU 4 on node 1, then CPU 0 on node 0: a fresh single CPU would be CPU 0 (lowest node)
    kerf.ok("create", "web", "--cpus", "4,0", "--memory", "1GiB")  # 512 MiB on each node
    count = _count(kerf)
    result = kerf.ok("update", "web", "--cpu-count", "1")
    assert "note: web keeps CPU 4 and gives back CPU 0\n" in result.stderr
    # memory follows the CPUs (memory-policy local): node 0's half goes to node 1
    assert "note: 512 MiB of the memory of web moves to another NUMA node\n" in result.stderr
    remove, add, cpus = _ops_since(kerf, count)
    assert (remove.kind, add.kind) == (Kind.MEMORY_REMOVE, Kind.MEMORY_ADD)
    assert (cpus.kind, _cpus(cpus)) == (Kind.CPU_REMOVE, [0])
    assert _sim(kerf).snapshot().instances[0].cpus == [4]


def test_shrinking_keeps_a_subset(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    kerf.ok("update", "web", "--cpu-count", "4")
    count = _count(kerf)
    kerf.ok("update", "web", "--cpu-count", "2")
    [op] = _ops_since(kerf, count)
    assert op.kind is Kind.CPU_REMOVE
    [web] = _sim(kerf).snapshot().instances
    assert web.cpus[0] == 0 and set(web.cpus) | set(_cpus(op)) == {0, 8, 1, 9}


def test_growing_next_to_a_full_node_adds_cpus_elsewhere_and_moves_only_their_memory(
    initialised: Kerf,
) -> None:
    kerf = _with_web(initialised)
    kerf.ok("create", "db", "--cpus", "1-3,9-11", "--memory", "1GiB")  # node 0 is full now
    count = _count(kerf)
    result = kerf.ok("update", "web", "--cpu-count", "4")
    assert "note: web keeps its 2 CPUs and gains CPUs 4, 12\n" in result.stderr
    # memory follows the CPUs (memory-policy local): half of it goes to node 1
    assert "note: 1 GiB of the memory of web moves to another NUMA node\n" in result.stderr
    ops = _ops_since(kerf, count)
    assert _kinds(ops) == [Kind.MEMORY_REMOVE, Kind.MEMORY_ADD, Kind.CPU_ADD]
    assert _cpus(ops[2]) == [4, 12]
    added = [(i.size, i.numa_node) for i in ops[1].items if isinstance(i, MemoryItem)]
    assert (GiB, 1) in added  # the node-0 region is trimmed in place (re-added shorter), node 1 gains 1 GiB
    [web, _db] = sorted(_sim(kerf).snapshot().instances, key=lambda i: i.name != "web")
    assert web.cpus == [0, 8, 4, 12]


def test_memory_grows_by_a_region_and_shrinks_by_trimming(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    count = _count(kerf)
    kerf.ok("update", "web", "--memory", "3GiB")
    [grow] = _ops_since(kerf, count)
    assert grow.kind is Kind.MEMORY_ADD
    assert [(i.size, i.numa_node) for i in grow.items if isinstance(i, MemoryItem)] == [(GiB, 0)]
    count = _count(kerf)
    kerf.ok("update", "web", "--memory", "512MiB")
    remove, add = _ops_since(kerf, count)
    assert (remove.kind, add.kind) == (Kind.MEMORY_REMOVE, Kind.MEMORY_ADD)
    regions = [(r.range.base, r.range.size) for r in _sim(kerf).iomem().instance_regions()]
    assert regions == [(0x100000000, 512 << 20)]  # the oldest region kept its start


def test_devices_are_handed_over_and_back(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    count = _count(kerf)
    kerf.ok("update", "web", "--devices", "eth0_vf1")
    assert _ops_since(kerf, count) == [
        ItemOperation("/instances/web", Kind.DEVICE_ADD, (PciItem("0000:09:10.1"),))
    ]
    count = _count(kerf)
    kerf.ok("update", "web", "--devices", "")
    assert _ops_since(kerf, count) == [
        ItemOperation("/instances/web", Kind.DEVICE_REMOVE, (PciItem("0000:09:10.1"),))
    ]
    assert _sim(kerf).snapshot().instances[0].pci == []


def test_any_unit_keeps_the_unit_held_and_a_named_other_one_swaps(initialised: Kerf) -> None:
    kerf = _with_web(initialised, "--devices", "eth0_vf1")
    count = _count(kerf)
    same = kerf.ok("update", "web", "--devices", "eth0_vf*")  # eth0_vf0 is the lowest free VF
    assert same.stdout == "web already matches; nothing sent to the kernel\n"
    assert _count(kerf) == count
    assert _record(kerf)["placement"]["devices"] == ["eth0_vf1"]  # type: ignore[index]
    swapped = kerf.ok("update", "web", "--devices", "eth0_vf0")
    assert "note: web gives back eth0_vf1 and gets eth0_vf0\n" in swapped.stderr
    assert _kinds(_ops_since(kerf, count)) == [Kind.DEVICE_REMOVE, Kind.DEVICE_ADD]


def test_a_new_preference_moves_nothing(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    count = _count(kerf)
    result = kerf.ok("update", "web", "--numa-nodes", "1")
    assert result.stdout == "web already matches; nothing sent to the kernel\n"
    assert _count(kerf) == count
    assert _record(kerf)["request"]["numa_nodes"] == [1]  # type: ignore[index]


def test_a_policy_that_the_current_place_breaks_moves_the_instance(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    count = _count(kerf)
    result = kerf.ok(
        "update", "web", "--cpu-affinity", "local", "--memory-policy", "bind", "--numa-nodes", "1"
    )
    assert "note: web gives back CPUs 0, 8 and gains CPUs 4, 12" in result.stderr
    assert "note: web gives up its boot CPU 0: no placement of the new request keeps it\n" in result.stderr
    ops = _ops_since(kerf, count)
    # CPUs join before the old ones leave
    assert _kinds(ops) == [Kind.MEMORY_REMOVE, Kind.MEMORY_ADD, Kind.CPU_ADD, Kind.CPU_REMOVE]
    assert (_cpus(ops[2]), _cpus(ops[3])) == ([4, 12], [0, 8])
    [web] = _sim(kerf).snapshot().instances
    assert web.cpus == [4, 12]
    regions = _sim(kerf).iomem().instance_regions()
    assert sum(r.range.size for r in regions) == 2 * GiB
    assert all(r.range.base >= 16 * GiB for r in regions)  # node 1 starts at 16 GiB


def test_an_explicit_list_replaces_the_cpus(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    result = kerf.ok("update", "--id", "1", "--cpus", "0,5,6", "--json")
    data = json.loads(result.stdout)
    assert data["cpus"] == [0, 5, 6]
    # memory follows the CPUs (memory-policy local): two thirds of it now belong on node 1
    assert data["notes"] == [
        "web gives back CPU 8, keeps CPU 0 and gains CPUs 5, 6: " + _FEWEST,
        "1.33 GiB of the memory of web moves to another NUMA node",
    ]
    [web] = _sim(kerf).snapshot().instances
    assert web.cpus == [0, 5, 6]


_FEWEST = "the fewest CPUs moved that meet the new request"


def test_a_policy_change_that_moves_nothing_sends_nothing(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    count = _count(kerf)
    result = kerf.ok("update", "web", "--exclusive-cores")
    assert result.stdout == "web already matches; nothing sent to the kernel\n"
    assert _count(kerf) == count
    assert _record(kerf)["request"]["exclusive_cores"] is True  # type: ignore[index]


def test_dry_run_shows_the_delta_and_changes_nothing(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    before = tree_files(kerf.root)
    result = kerf.ok("update", "web", "--cpu-count", "3", "--dry-run")
    assert result.stdout == "would update web: cpu-add CPU 1 (instance web)\n"
    assert tree_files(kerf.root) == before


def test_growing_past_what_is_free_is_unplaced_and_leaves_the_instance(initialised: Kerf) -> None:
    kerf = _with_web(initialised)
    count = _count(kerf)
    result = kerf("update", "web", "--cpu-count", "17")
    assert result.exit_code == ExitCode.UNPLACED
    assert result.stdout == ""
    assert "cannot update instance web: web: needs 17 CPUs; 16 are free in the pool" in result.stderr
    assert "it stays as it is" in result.stderr
    assert _count(kerf) == count
    assert _sim(kerf).snapshot().instances[0].cpus == [0, 8]
    assert _record(kerf)["request"]["cpu_count"] == 2  # type: ignore[index]


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
