"""`kerf init`: the baseline, kerf's copy of the description, dry runs, a second init."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from kerf.binding import host_to_tree
from kerf.dts import format_dts, from_dtb
from kerf.errors import ExitCode
from kerf.kernel.sim import SimulatedHost
from kerf.lifecycle import session as session_module
from tests.cli_lifecycle.conftest import EXAMPLE, Kerf, tree_files
from tests.kernel.simhost import dual_node_smt2


def test_init_creates_the_simulated_host_and_gives_it_the_baseline(kerf: Kerf, test_host: Path) -> None:
    result = kerf.ok("init", "--input", str(test_host))
    assert result.stdout == (
        "initialised the pool: CPUs 0-15; memory 12 GiB on node 0, 12 GiB on node 1, 3 devices\n"
    )
    assert result.stderr == ""
    sim = SimulatedHost(kerf.root / "kernel")
    pool = from_dtb(sim.read_device_tree()).root.child("resources")
    assert pool is not None
    assert pool.props["cpus"].to_u64s() == list(range(16))
    chunks = sorted(
        (c.props["numa-node-id"].to_u32(), c.props["reg"].to_u64s()[1])
        for c in pool.children.values()
        if c.name.startswith("memory@")
    )
    assert chunks == [(0, 12 << 30), (1, 12 << 30)]
    # kerf keeps the full description, topology included
    kept = (kerf.root / "state" / "host.dts").read_text()
    assert "distance-matrix" in kept and "core@1" in kept


def test_init_json_lists_what_the_kernel_gets_and_what_it_does_not(kerf: Kerf) -> None:
    result = kerf.ok("init", "--input", str(EXAMPLE), "--json")
    data = json.loads(result.stdout)
    assert data["backend"] == "simulated"
    assert data["cpus"] == [*range(1, 16), *range(17, 32)]
    assert data["memory"] == [
        {"numa_node": 0, "bytes": 8 << 30},
        {"numa_node": 1, "bytes": 16 << 30},
        {"numa_node": 2, "bytes": 16 << 30},
        {"numa_node": 3, "bytes": 16 << 30},
    ]
    # eth0's VFs go to the kernel as the functions they are: their own address and the
    # VF device id (0x1889), not the PF's 0x159b
    assert data["devices"] == [
        *(
            {"label": f"eth0_vf{n}", "pci_id": f"0000:17:01.{n}", "vendor_id": 0x8086, "device_id": 0x1889}
            for n in range(1, 8)
        ),
        {"label": "gpu0", "pci_id": "0000:ca:00.0", "vendor_id": 0x10DE, "device_id": 0x20B0},
    ]
    skipped = {d["label"]: d["reason"] for d in data["not_handed_to_kernel"]}
    assert sorted(skipped) == ["nvme0_ns2", "nvme0_ns3", "nvme0_ns4"]
    assert "namespace" in skipped["nvme0_ns2"]
    # the simulated kernel found those functions and took them into the pool (its tree lists
    # them under their host bridge: /pci@<bus>/pci@<slot>,<function>)
    pool = from_dtb(SimulatedHost(kerf.root / "kernel").read_device_tree())
    ids = {
        node.path: node.props["device-id"].to_u32() for node in pool.root.walk() if "device-id" in node.props
    }
    assert ids == {**{f"/pci@17/pci@1,{n}": 0x1889 for n in range(1, 8)}, "/pci@ca/pci@0,0": 0x20B0}
    # ... and says so on stderr, with the instances the example lists
    # one notice per reason, not one per unit
    namespaces = [line for line in result.stderr.splitlines() if "namespace shares" in line]
    assert namespaces == [
        "note: 3 units are not handed to the kernel (nvme0_ns2, nvme0_ns3, nvme0_ns4): an NVMe namespace "
        "shares its controller's PCI function; kerf records it but cannot hand it over"
    ]
    assert "also lists 4 instances" in result.stderr


def test_a_vf_whose_device_id_is_unknown_is_kept_from_the_kernel_and_init_says_what_to_add(
    kerf: Kerf, tmp_path: Path
) -> None:
    host = dual_node_smt2()
    nic = replace(host.device_by_name["eth0"], vf_device_id=None)
    path = tmp_path / "no-vf-id.dts"
    path.write_text(format_dts(host_to_tree(replace(host, devices=(nic, host.device_by_name["nvme0"])))))
    result = kerf.ok("init", "--input", str(path), "--json")
    data = json.loads(result.stdout)
    assert [d["label"] for d in data["devices"]] == ["nvme0"]  # never a VF with its PF's device id
    skipped = {d["label"]: d["reason"] for d in data["not_handed_to_kernel"]}
    assert sorted(skipped) == ["eth0_vf0", "eth0_vf1"]
    assert "add vf-device-id = <0x...>; to device eth0" in skipped["eth0_vf0"]
    assert "2 units are not handed to the kernel (eth0_vf0, eth0_vf1)" in result.stderr


def test_dry_run_checks_and_shows_but_creates_nothing(kerf: Kerf, test_host: Path) -> None:
    result = kerf.ok("init", "--input", str(test_host), "--dry-run", "--json")
    data = json.loads(result.stdout)
    assert data["dry_run"] is True
    assert "memory@0 {" in data["baseline_dts"] and "numa-node-id = <0x1>;" in data["baseline_dts"]
    assert not kerf.root.exists()  # not even a directory


def test_a_second_init_says_the_pool_is_taken_and_what_to_do(kerf: Kerf, test_host: Path) -> None:
    kerf.ok("init", "--input", str(test_host))
    before = tree_files(kerf.root)
    for args in (["init", "--input", str(test_host)], ["init", "--input", str(test_host), "--dry-run"]):
        result = kerf(*args)
        assert result.exit_code == ExitCode.STATE
        assert "already initialised" in result.stderr
        assert "hint: to change the pool, edit the host description and run kerf pool" in result.stderr
        assert result.stdout == ""
    after = tree_files(kerf.root)
    assert {k: v for k, v in after.items() if not k.endswith("lock")} == {
        k: v for k, v in before.items() if not k.endswith("lock")
    }


def test_an_invalid_description_is_refused_before_anything_happens(kerf: Kerf) -> None:
    bad = Path(__file__).resolve().parents[2] / "examples" / "conflict_example.dts"
    result = kerf("init", "--input", str(bad))
    assert result.exit_code == ExitCode.INVALID
    assert "is not a valid host description" in result.stderr
    assert f"hint: kerf validate {bad}" in result.stderr
    assert not kerf.root.exists()


def test_a_missing_input_file_is_an_input_error(kerf: Kerf, tmp_path: Path) -> None:
    result = kerf("init", "--input", str(tmp_path / "nope.dts"))
    assert result.exit_code == ExitCode.INPUT
    assert "nope.dts" in result.stderr
    assert not kerf.root.exists()


def test_without_a_root_kerf_falls_back_to_the_simulated_host_and_says_so_once(
    tmp_path: Path, test_host: Path, monkeypatch: pytest.MonkeyPatch, no_kerf_env: None
) -> None:
    from typer.testing import CliRunner

    from kerf.cli.app import app

    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mounts").write_text("sysfs /sys sysfs rw 0 0\n")
    (proc / "filesystems").write_text("nodev\tsysfs\n\text4\n")
    monkeypatch.setattr(session_module, "PROC_ROOT", proc)
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg"), "NO_COLOR": "1"}
    result = CliRunner().invoke(app, ["init", "--input", str(test_host)], env=env)
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("kerf: this kernel has no multikernel support; using the simulated host in ")
    assert str(tmp_path / "xdg" / "kerf") in lines[0]
    assert (tmp_path / "xdg" / "kerf" / "kernel" / "device_tree").is_file()
