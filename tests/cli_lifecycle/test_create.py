"""`kerf create`: placement by the planner, explicit lists, policies, devices, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerf.errors import ExitCode
from kerf.kernel.sim import SimulatedHost
from kerf.overlay import InstanceCreate, ItemOperation, Kind, PciItem, operations_of
from tests.cli_lifecycle.conftest import EXAMPLE, Kerf, tree_files


def _sim(kerf: Kerf) -> SimulatedHost:
    return SimulatedHost(kerf.root / "kernel")


def test_create_by_count_places_compactly_and_records_the_request(initialised: Kerf) -> None:
    result = initialised.ok("create", "web", "--cpu-count", "4", "--memory", "2GiB")
    assert result.stdout == "created web (id 1): CPUs 0, 1, 8, 9; memory 2 GiB on node 0\n"
    assert result.stderr == ""
    sim = _sim(initialised)
    assert [(i.name, i.id, i.status) for i in sim.instances()] == [("web", 1, "ready")]
    record = json.loads((initialised.root / "state" / "instances" / "web.json").read_text())
    assert record["request"]["cpu_count"] == 4
    assert record["request"]["cpu_affinity"] == "compact"
    assert record["placement"]["cpus"] == [0, 1, 8, 9]
    assert record["placement"]["memory"] == [{"numa_node": 0, "bytes": 2 << 30}]


def test_create_json_and_the_transaction_it_wrote(initialised: Kerf) -> None:
    result = initialised.ok(
        "create", "db", "--cpus", "12,4,13", "--memory", "3GiB", "--memory-policy", "bind",
        "--numa-nodes", "1", "--devices", "nvme0", "--id", "7", "--json",
    )  # fmt: skip
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("name", "id", "cpus", "numa_nodes", "memory", "devices")} == {
        "name": "db",
        "id": 7,
        "cpus": [12, 4, 13],  # the pinned order is kept: CPU 12 boots
        "numa_nodes": [1],
        "memory": [{"numa_node": 1, "bytes": 3 << 30}],
        "devices": ["nvme0"],
    }
    first, second = data["transactions"]  # one operation per transaction
    sim = _sim(initialised)
    [create] = operations_of(sim.read_transaction_blob(first["id"]))
    [handover] = operations_of(sim.read_transaction_blob(second["id"]))
    assert isinstance(create, InstanceCreate)
    assert (create.name, create.id, [c.cpu for c in create.cpus], create.numa_node) == (
        "db",
        7,
        [12, 4, 13],
        1,
    )
    assert handover == ItemOperation("/instances/db", Kind.DEVICE_ADD, (PciItem("0000:0a:00.0"),))
    assert sim.transaction(first["id"]).applied and sim.transaction(second["id"]).applied


def test_interleaved_memory_on_two_nodes_uses_memory_add_for_the_second(initialised: Kerf) -> None:
    result = initialised.ok(
        "create", "big", "--cpu-count", "4", "--memory", "8GiB", "--cpu-affinity", "spread",
        "--memory-policy", "interleave", "--json",
    )  # fmt: skip
    data = json.loads(result.stdout)
    assert data["memory"] == [{"numa_node": 0, "bytes": 4 << 30}, {"numa_node": 1, "bytes": 4 << 30}]
    sim = _sim(initialised)
    ops = [op for tx in data["transactions"] for op in operations_of(sim.read_transaction_blob(tx["id"]))]
    assert isinstance(ops[0], InstanceCreate) and ops[0].memory_bytes == 4 << 30
    assert isinstance(ops[1], ItemOperation) and ops[1].kind is Kind.MEMORY_ADD
    [item] = ops[1].items
    assert item.numa_node == 1 and item.size == 4 << 30  # type: ignore[union-attr]
    regions = sorted((r.range.size, r.instance_name) for r in sim.iomem().instance_regions())
    assert regions == [(4 << 30, "big"), (4 << 30, "big")]


def test_any_vf_gets_a_free_vf_and_the_kernel_gets_its_pci_function(initialised: Kerf) -> None:
    initialised.ok("create", "a", "--cpu-count", "1", "--memory", "1G", "--devices", "eth0_vf*")
    initialised.ok("create", "b", "--cpu-count", "1", "--memory", "1G", "--devices", "eth0_vf*")
    trees = {i.name: i for i in _sim(initialised).snapshot().instances}
    assert [d.pci_id for d in trees["a"].pci] == ["0000:09:10.0"]
    assert [d.pci_id for d in trees["b"].pci] == ["0000:09:10.1"]
    result = initialised("create", "c", "--cpu-count", "1", "--memory", "1G", "--devices", "eth0_vf*")
    assert result.exit_code == ExitCode.UNPLACED
    assert "cannot place instance c" in result.stderr


def test_dry_run_plans_and_shows_the_overlay_without_any_side_effect(initialised: Kerf) -> None:
    before = tree_files(initialised.root)
    result = initialised.ok("create", "web", "--cpu-count", "2", "--memory", "1GiB", "--dry-run", "--json")
    data = json.loads(result.stdout)
    assert data["dry_run"] is True and data["cpus"] == [0, 8]
    assert 'instance-name = "web";' in data["overlays"][0]
    assert tree_files(initialised.root) == before


def test_dry_run_before_init_creates_nothing(kerf: Kerf) -> None:
    result = kerf("create", "web", "--cpu-count", "2", "--memory", "1GiB", "--dry-run")
    assert result.exit_code == ExitCode.STATE
    assert "kerf init --input" in result.stderr
    assert not kerf.root.exists()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a/b", "contains '/'"),
        ("..", "starts with '.'"),
        ("-x", "starts with '-'"),
        ("x" * 64, "64 characters long"),
        ("wéb", "contains 'é'"),
    ],
)
def test_bad_names_are_usage_errors(initialised: Kerf, name: str, problem: str) -> None:
    result = initialised("create", "--cpu-count", "1", "--memory", "1G", "--", name)
    assert result.exit_code == ExitCode.USAGE
    assert problem in result.stderr
    assert "hint: use 1-63 characters" in result.stderr
    assert _sim(initialised).instances() == []


def test_a_63_character_name_is_fine(initialised: Kerf) -> None:
    initialised.ok("create", "n" * 63, "--cpu-count", "1", "--memory", "1G")


@pytest.mark.parametrize("ident", ["0", "2048", "-1"])
def test_ids_outside_1_to_2047_are_usage_errors(initialised: Kerf, ident: str) -> None:
    result = initialised("create", "web", "--cpu-count", "1", "--memory", "1G", f"--id={ident}")
    assert result.exit_code == ExitCode.USAGE
    assert "ids are 1-2047" in result.stderr


def test_a_name_or_id_in_use_is_a_state_error_with_the_next_step(initialised: Kerf) -> None:
    initialised.ok("create", "web", "--cpu-count", "1", "--memory", "1G", "--id", "5")
    again = initialised("create", "web", "--cpu-count", "1", "--memory", "1G")
    assert again.exit_code == ExitCode.STATE
    assert "instance web already exists" in again.stderr and "kerf update web" in again.stderr
    same_id = initialised("create", "other", "--cpu-count", "1", "--memory", "1G", "--id", "5")
    assert same_id.exit_code == ExitCode.STATE
    assert "id 5 is already used by instance web" in same_id.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memory", "1G"], "exactly one of --cpus LIST and --cpu-count N"),
        (["--memory", "1G", "--cpus", "1", "--cpu-count", "1"], "exactly one of"),
        (["--memory", "1G", "--cpu-count", "0"], "--cpu-count must be at least 1"),
        (["--memory", "1G", "--cpu-count", str(1 << 63)], "is more than any host has"),
        (["--memory", "-1G", "--cpu-count", "1"], "must not be negative"),
        (["--memory", "0", "--cpu-count", "1"], "larger than 0"),
        (["--memory", "1000", "--cpu-count", "1"], "not a whole number of 4 KiB pages"),
        (["--memory", "lots", "--cpu-count", "1"], "is not a size"),
        (["--memory", "1G", "--cpus", "3-1"], "runs backwards"),
        (["--memory", "1G", "--cpus", "1,1"], "more than once"),
        (["--memory", "1G", "--cpu-count", "1", "--devices", "a,a"], "more than once"),
    ],
)
def test_bad_options_are_usage_errors(initialised: Kerf, args: list[str], message: str) -> None:
    result = initialised("create", "web", *args)
    assert result.exit_code == ExitCode.USAGE
    assert message in result.stderr
    assert result.stdout == ""


def test_what_does_not_fit_is_unplaced_with_numbers(initialised: Kerf) -> None:
    result = initialised("create", "huge", "--cpu-count", "20", "--memory", "1G")
    assert result.exit_code == ExitCode.UNPLACED
    assert "needs 20 CPUs; 16 are free in the pool" in result.stderr
    assert result.stderr.count("needs 20 CPUs") == 1


def test_pinned_cpus_that_are_taken_are_refused(initialised: Kerf) -> None:
    initialised.ok("create", "a", "--cpus", "4,5", "--memory", "1G")
    result = initialised("create", "b", "--cpus", "5,6", "--memory", "1G")
    assert result.exit_code == ExitCode.UNPLACED
    assert "pinned CPU(s) 5 are held by a" in result.stderr
    assert [i.name for i in _sim(initialised).instances()] == ["a"]


def test_an_unknown_device_is_refused(initialised: Kerf) -> None:
    result = initialised("create", "a", "--cpu-count", "1", "--memory", "1G", "--devices", "gpu9")
    assert result.exit_code == ExitCode.USAGE
    assert "gpu9" in result.stderr


def test_kernel_refusing_a_device_half_way_leaves_nothing(initialised: Kerf, tmp_path: Path) -> None:
    # Take nvme0 out of the kernel's pool behind kerf's back: the create's device-add fails.
    from tests.kernel.simhost import fragment, overlay, pci_items

    sim = _sim(initialised)
    sim.write_overlay(
        overlay(fragment("0", "/resources", f"device-remove {{ {pci_items('0000:0a:00.0')} }};"))
    )
    before = [(t.id, t.status) for t in sim.transactions()]
    result = initialised("create", "db", "--cpu-count", "2", "--memory", "1G", "--devices", "nvme0")
    assert result.exit_code == ExitCode.KERNEL
    assert "the kernel refused transaction 2 of 2" in result.stderr
    assert "device-add PCI 0000:0a:00.0 (instance db)" in result.stderr
    assert "is not in the pool" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert sim.instances() == []
    # the create was rolled back; the refused device-add stays, failed, having changed nothing
    [*kept, refused] = [(t.id, t.status) for t in sim.transactions()]
    assert kept == before and refused[1].value == "failed"
    assert not (initialised.root / "state" / "instances" / "db.json").exists()
    assert not (initialised.root / "state" / "journal.json").exists()


def test_cpus_the_kernel_did_not_transfer_are_caught_and_undone(initialised: Kerf) -> None:
    # CPU 0 leaves the kernel's pool behind kerf's back; the kernel then creates the instance
    # without any CPU ("Continuing without CPU assignment") and kerf must notice.
    from tests.kernel.simhost import cpu_items, fragment, overlay

    sim = _sim(initialised)
    sim.write_overlay(overlay(fragment("0", "/resources", f"cpu-remove {{ {cpu_items(0)} }};")))
    result = initialised("create", "web", "--cpus", "0,1", "--memory", "1G")
    assert result.exit_code == ExitCode.KERNEL
    assert "the kernel created instance web differently from the plan" in result.stderr
    assert "it has CPUs none instead of 0, 1" in result.stderr
    assert sim.instances() == []


def test_units_the_kernel_cannot_take_are_recorded_and_said(kerf: Kerf) -> None:
    kerf.ok("init", "--input", str(EXAMPLE))
    result = kerf.ok("create", "db", "--cpu-count", "2", "--memory", "2G", "--devices", "nvme0_ns*", "--json")
    assert json.loads(result.stdout)["devices"] == ["nvme0_ns2"]
    assert "note: nvme0_ns2 is assigned in kerf's records but not handed to the kernel" in result.stderr
    assert _sim(kerf).snapshot().instances[0].pci == []
    shown = json.loads(kerf.ok("show", "db", "--json").stdout)
    assert shown["instances"][0]["devices"] == ["nvme0_ns2"]
    # the namespace is taken: a second instance gets the next one
    second = kerf.ok(
        "create", "db2", "--cpu-count", "2", "--memory", "2G", "--devices", "nvme0_ns*", "--json"
    )
    assert json.loads(second.stdout)["devices"] == ["nvme0_ns3"]


def test_core_sharing_pack_takes_a_neighbours_free_sibling(initialised: Kerf) -> None:
    initialised.ok("create", "a", "--cpus", "0", "--memory", "1GiB")
    isolated = initialised.ok("create", "b", "--cpu-count", "1", "--memory", "1GiB", "--dry-run", "--json")
    assert json.loads(isolated.stdout)["cpus"] == [1]  # the default keeps off a's core
    packed = initialised.ok("create", "b", "--cpu-count", "1", "--memory", "1GiB", "--core-sharing", "pack")
    assert packed.stdout.startswith("created b (id 2): CPU 8;")  # a's sibling: core 1 stays whole
    grown = initialised.ok("update", "b", "--cpu-count", "2", "--core-sharing", "pack", "--json")
    assert 8 in json.loads(grown.stdout)["cpus"]
    bad = initialised("create", "c", "--cpu-count", "1", "--memory", "1GiB", "--core-sharing", "dense")
    assert bad.exit_code == ExitCode.USAGE and "--core-sharing" in bad.stderr


def test_core_sharing_from_the_environment(initialised: Kerf) -> None:
    initialised.ok("create", "a", "--cpus", "0", "--memory", "1GiB")
    pack = {"KERF_CORE_SHARING": "pack"}
    dry = initialised("create", "b", "--cpu-count", "1", "--memory", "1GiB", "--dry-run", "--json", env=pack)
    assert dry.exit_code == 0 and json.loads(dry.stdout)["cpus"] == [8]
    # the flag still wins over the environment
    args = ("create", "b", "--cpu-count", "1", "--memory", "1GiB", "--dry-run", "--json")
    flag = initialised(*args, "--core-sharing", "avoid", env=pack)
    assert json.loads(flag.stdout)["cpus"] == [1]
    bad = initialised(*args, env={"KERF_CORE_SHARING": "dense"})
    assert bad.exit_code == ExitCode.USAGE and "dense" in bad.stderr and "Traceback" not in bad.stderr


def test_create_names_the_boot_cpu_when_the_sorted_list_hides_it(kerf: Kerf) -> None:
    kerf.ok("init", "--input", str(EXAMPLE))
    made = kerf.ok("create", "a", "--cpus", "17,1", "--memory", "1GiB")
    assert made.stdout.startswith("created a (id 1): CPUs 1, 17 (boot CPU 17);")
    plain = kerf.ok("create", "b", "--cpus", "2,3", "--memory", "1GiB")
    assert "boot CPU" not in plain.stdout
