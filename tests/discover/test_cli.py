"""``kerf discover`` through the CLI: exit codes, stdout and stderr kept apart."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kerf.cli.app import app
from tests.discover.fakehost import FakeHost, FakePci, shape

DATA = Path(__file__).parent / "data"


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["discover", *args])


def _machine(fake: FakeHost) -> FakeHost:
    shape(fake, packages=2, cores=2, threads=2)
    fake.add_pci(FakePci("0000:3b:00.0", 0x020000, 0x8086, 0x1593, total_vfs=4, vfs=["0000:3b:01.0"]))
    return fake.build()


def test_stdout_is_the_description_and_notes_go_to_stderr(fake: FakeHost) -> None:
    result = _run("--root", str(_machine(fake).root))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("/dts-v1/;\n")
    assert "eth0: ethernet@0 {" in result.stdout
    assert "note: the host keeps CPUs 0-1: the boot CPU 0 and its SMT siblings" in result.stderr
    assert "/dts-v1/" not in result.stderr


def test_output_file_is_written_and_stdout_stays_empty(fake: FakeHost, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "host.dts"
    target.write_text("old contents\n")
    result = _run("--root", str(_machine(fake).root), "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert target.read_text().startswith("/dts-v1/;\n")
    assert f"wrote {target}: 8 CPUs (6 in the pool)" in result.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["host.dts"]  # no temporary file left


def test_json_output(fake: FakeHost) -> None:
    root = str(_machine(fake).root)
    result = _run("--root", root, "--json", "--reserve-cpus", "0-3", "--pool-memory", "2G")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["format"] == "kerf-discovery/1"
    assert data["cpu_ids"] == "apic"
    assert [c["role"] for c in data["cpus"]][:4] == ["host-reserved"] * 4
    assert data["memory"]["pool_bytes"] == 2 << 30
    eth0 = data["devices"][0]
    assert eth0["name"] == "eth0" and eth0["vf_pci_ids"] == {"0": "0000:3b:01.0"}
    assert eth0["vf_device_id"] == eth0["device_id"] + 1 and eth0["vf_device_ids"] == {}
    assert data["distances"]["matrix"] == [[10, 21], [21, 10]]
    assert {n["severity"] for n in data["notes"]} <= {"warning", "info"}


def test_separate_sysfs_and_procfs_roots(fake: FakeHost) -> None:
    _machine(fake)
    result = _run("--sysfs-root", str(fake.sys), "--procfs-root", str(fake.proc), "--json")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["cpus"]) == 8


def test_from_hwloc() -> None:
    result = _run("--from-hwloc", str(DATA / "two-node-pci.xml"))
    assert result.exit_code == 0, result.stderr
    assert "CPU ids are Linux's logical CPU numbers" in result.stdout
    assert "warning: hwloc XML gives NUMA node sizes, not physical addresses" in result.stderr


def test_bad_xml_is_exit_3_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text('<topology version="3.0"><object type="Machine"/></topology>')
    result = _run("--from-hwloc", str(bad))
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {bad} is hwloc XML version 3.0")
    assert "hint: " in result.stderr and "Traceback" not in result.stderr


def test_hwloc_and_a_live_root_together_are_a_usage_error(fake: FakeHost) -> None:
    result = _run("--from-hwloc", str(DATA / "two-node-pci.xml"), "--root", str(fake.root))
    assert result.exit_code == 2
    assert "--from-hwloc reads an XML file" in result.stderr


def test_bad_flag_values_are_usage_errors(fake: FakeHost) -> None:
    root = str(_machine(fake).root)
    result = _run("--root", root, "--reserve-cpus", "zero")
    assert (result.exit_code, result.stdout) == (2, "")
    assert "error: --reserve-cpus expects a CPU list, got 'zero'" in result.stderr

    result = _run("--root", root, "--reserve-cpus", "0,99")
    assert result.exit_code == 2
    assert "error: --reserve-cpus names CPU 99, which this host does not have" in result.stderr
    assert "hint: CPU ids here are apic ids: 0-3,32-35" in result.stderr

    result = _run("--root", root, "--pool-memory", "lots")
    assert result.exit_code == 2 and "expects a size, got 'lots'" in result.stderr

    result = _run("--root", root, "--pool-memory", "1T")
    assert result.exit_code == 2 and "--pool-memory 1 TiB does not fit" in result.stderr


def test_unwritable_output_is_reported(fake: FakeHost, tmp_path: Path) -> None:
    result = _run("--root", str(_machine(fake).root), "-o", str(tmp_path / "missing" / "host.dts"))
    assert result.exit_code == 3
    assert "error: cannot write" in result.stderr and "Traceback" not in result.stderr


def test_empty_root_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "sys").mkdir()
    (tmp_path / "proc").mkdir()
    result = _run("--root", str(tmp_path))
    assert result.exit_code == 3
    assert "error: no online CPUs found" in result.stderr
