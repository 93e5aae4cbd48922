"""The simulated host on disk: the kernel's layout and modes, persistence across objects and
processes, recovery after a crash, concurrent writers, bad roots and damaged state."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import kerf.kernel.sim as sim_module
from kerf.errors import InputError, UsageError
from kerf.kernel.errors import UnsupportedArchitectureError
from kerf.kernel.sim import STATE_FILE, SimulatedHost, machine_from_host
from kerf.kernel.syscalls import Arch
from planner.hardware import MemoryInventory, assemble_host
from tests.kernel.simhost import GiB, assert_files_mirror_state, create, dual_node_smt2, expect_applied

ROOT = Path(__file__).resolve().parents[2]


def test_layout_and_modes_follow_the_kernel(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("web", cpus=[2], memory=GiB))
    root = pooled.root
    modes = {
        "device_tree": 0o644,
        "overlays": 0o755,
        "overlays/new": 0o200,
        "overlays/tx_2": 0o755,
        "overlays/tx_2/id": 0o444,
        "overlays/tx_2/status": 0o444,
        "overlays/tx_2/instance": 0o444,
        "overlays/tx_2/resources": 0o444,
        "overlays/tx_2/dtbo": 0o444,
        "instances": 0o755,
        "instances/web": 0o755,
        "instances/web/id": 0o444,
        "instances/web/status": 0o444,
        "instances/web/device_tree": 0o444,
    }
    for relative, mode in modes.items():
        assert (root / relative).stat().st_mode & 0o777 == mode, relative
    assert (root / "instances" / "web" / "id").read_text() == "1\n"
    assert (root / "instances" / "web" / "status").read_text() == "ready\n"


def test_state_survives_a_new_object(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("web", cpus=[2], memory=GiB))
    again = SimulatedHost(pooled.root)
    assert again.instances() == pooled.instances()
    assert again.snapshot() == pooled.snapshot()
    assert expect_applied(again, create("db")) == 3  # the counter persisted


def test_state_is_shared_with_another_process(pooled: SimulatedHost, tmp_path: Path) -> None:
    blob = tmp_path / "create.dtbo"
    blob.write_bytes(create("remote", cpus=[4], memory=GiB))
    code = (
        "import sys; from pathlib import Path; from kerf.kernel.sim import SimulatedHost\n"
        "sim = SimulatedHost(sys.argv[1]); tx = sim.write_overlay(Path(sys.argv[2]).read_bytes())\n"
        "print(tx.id, tx.status.value)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(pooled.root), str(blob)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.split() == ["2", "applied"]
    assert [i.name for i in pooled.instances()] == ["remote"]
    assert_files_mirror_state(pooled)


def test_visible_files_are_repaired_on_open(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("web", cpus=[2], memory=GiB))
    root = pooled.root
    (root / "instances" / "web" / "status").unlink()
    (root / "device_tree").write_bytes(b"scribbled")
    (root / "overlays" / "tx_99").mkdir()
    (root / "overlays" / "tx_99" / "status").write_text("applied\n")
    (root / f"{STATE_FILE}.tmp").write_text("half a state")
    repaired = SimulatedHost(root)
    assert_files_mirror_state(repaired)
    assert [t.id for t in repaired.transactions()] == [2]
    assert not (root / f"{STATE_FILE}.tmp").exists()


def test_crash_after_saving_the_state_before_the_files(
    pooled: SimulatedHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object, **__: object) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(sim_module, "sync", crash)
    with pytest.raises(KeyboardInterrupt):
        pooled.write_overlay(create("web", cpus=[2], memory=GiB))
    monkeypatch.undo()
    assert not (pooled.root / "instances" / "web").exists()  # files lag behind the state
    reopened = SimulatedHost(pooled.root)
    assert [i.name for i in reopened.instances()] == ["web"]
    assert_files_mirror_state(reopened)


def test_crash_before_the_state_is_replaced_keeps_the_old_state(
    pooled: SimulatedHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = pooled.snapshot()

    def crash(_fd: int) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(sim_module.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        pooled.write_overlay(create("web", cpus=[2], memory=GiB))
    monkeypatch.undo()
    reopened = SimulatedHost(pooled.root)
    assert reopened.snapshot() == before
    assert reopened.instances() == []
    assert_files_mirror_state(reopened)


def test_concurrent_writers_are_serialised(pooled: SimulatedHost) -> None:
    blobs = [create(f"w{n}", memory=GiB // 8) for n in range(8)]
    results: list[int] = []

    def write(blob: bytes) -> None:
        # a writer that raised leaves its id out of ``results``; the assertion below catches it
        results.append(SimulatedHost(pooled.root).write_overlay(blob).id)

    threads = [threading.Thread(target=write, args=(b,)) for b in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == list(range(2, 10))
    assert sorted(i.id for i in pooled.instances()) == list(range(1, 9))
    regions = sorted(r.range for r in pooled.iomem().instance_regions())
    assert all(a.end <= b.base for a, b in itertools.pairwise(regions))
    assert_files_mirror_state(pooled)


# --- bad roots and damaged state ------------------------------------------------------------


def test_open_a_directory_that_is_not_a_simulated_host(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a simulated multikernel host"):
        SimulatedHost(tmp_path)


def test_create_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    with pytest.raises(UsageError, match="not an empty directory"):
        SimulatedHost.create(tmp_path, dual_node_smt2())


@pytest.mark.parametrize("arch", ["arm", "sparc64"])
def test_create_refuses_an_unsupported_architecture(tmp_path: Path, arch: str) -> None:
    with pytest.raises(UnsupportedArchitectureError):
        SimulatedHost.create(tmp_path / "x", dual_node_smt2(), arch=arch)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{ not json", "damaged simulated host state"),
        (json.dumps({"version": 99}), "version 99"),
        (
            json.dumps({"version": 1, "machine": {"arch": "x86_64", "cpus": "many", "memory": []}}),
            "expected a list",
        ),
        (json.dumps({"version": 1}), "damaged"),
    ],
)
def test_damaged_state(sim: SimulatedHost, content: str, words: str) -> None:
    (sim.root / STATE_FILE).write_text(content)
    with pytest.raises(InputError, match=words) as err:
        SimulatedHost(sim.root)
    assert err.value.hint == "recreate the simulated host"


def test_machine_of_a_host(tmp_path: Path) -> None:
    machine = machine_from_host(dual_node_smt2(), Arch.X86_64)
    assert [c.id for c in machine.cpus] == list(range(16))
    assert {c.id: c.node for c in machine.cpus}[12] == 1
    assert [(r.base, r.size, r.node) for r in machine.memory] == [(0, 16 * GiB, 0), (16 * GiB, 16 * GiB, 1)]
    assert [d.pci_id for d in machine.pci] == ["0000:09:00.0", "0000:09:10.0", "0000:09:10.1", "0000:0a:00.0"]


def test_host_without_a_memory_map_gets_one(tmp_path: Path) -> None:
    host = assemble_host([0, 1, 2, 3], available=[2, 3], memory=MemoryInventory(8 * GiB, 2 * GiB, ()))
    machine = machine_from_host(host, Arch.X86_64)
    assert [(r.base, r.size, r.node) for r in machine.memory] == [(4 * GiB, 8 * GiB, 0)]
    host = assemble_host([0], available=[0], memory=MemoryInventory(0, 0, ()))
    with pytest.raises(InputError, match="gives no memory"):
        machine_from_host(host, Arch.X86_64)


def test_no_stray_temporary_files(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("web", cpus=[2], memory=GiB))
    leftovers = [p for p in pooled.root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert os.listdir(pooled.root).count(STATE_FILE) == 1
