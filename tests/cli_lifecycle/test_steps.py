"""The lifecycle steps: load, exec (start), kill, unload, delete; every illegal step says
the state and the next legal step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerf.errors import ExitCode
from kerf.kernel.sim import SimulatedHost
from tests.cli_lifecycle.conftest import Kerf


@pytest.fixture
def web(initialised: Kerf) -> Kerf:
    initialised.ok("create", "web", "--cpu-count", "2", "--memory", "1GiB")
    return initialised


def _status(kerf: Kerf) -> str:
    return str(SimulatedHost(kerf.root / "kernel").instance("web").status)


def test_the_whole_life_of_an_instance(web: Kerf, vmlinux: Path, tmp_path: Path) -> None:
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(b"\x07\x07\x01" * 1000)
    loaded = web.ok(
        "load", "web", "--kernel", str(vmlinux), "--initrd", str(initrd), "--cmdline", "quiet", "--json"
    )
    image = json.loads(loaded.stdout)["image"]
    assert image["path"] == str(vmlinux) and image["format"] == "elf" and image["arch"] == "x86_64"
    assert image["size"] == vmlinux.stat().st_size and len(image["sha256"]) == 64
    assert image["initrd"]["size"] == 3000 and image["cmdline"] == "quiet"
    assert image["loaded_at"].endswith("Z")
    assert _status(web) == "loaded"
    [row] = SimulatedHost(web.root / "kernel").kimage()
    assert row.cmdline == "quiet"

    assert web.ok("exec", "web").stdout == "started web (id 1) on CPU 0\n"
    assert _status(web) == "active"
    web.ok("kill", "web")
    assert _status(web) == "loaded"
    web.ok("start", "--id", "1")  # the alias, by id
    web.ok("kill", "--id", "1", "--force")
    web.ok("unload", "web")
    assert _status(web) == "ready"
    record = json.loads((web.root / "state" / "instances" / "web.json").read_text())
    assert record["image"] is None
    assert web.ok("delete", "web").stdout == "deleted web (id 1); its resources are back in the pool\n"
    assert SimulatedHost(web.root / "kernel").instances() == []
    assert not (web.root / "state" / "instances" / "web.json").exists()


@pytest.mark.parametrize(
    ("setup", "command", "message"),
    [
        (
            [],
            ["exec", "web"],
            "instance web is ready: it has no kernel to start; load one first: kerf load web",
        ),
        ([], ["kill", "web"], "instance web is ready: it is not running"),
        (
            [],
            ["unload", "web"],
            "instance web is ready: it has no kernel loaded, so there is nothing to unload",
        ),
        (["load"], ["load"], "instance web already has a kernel loaded; unload it first: kerf unload web"),
        (["load"], ["delete", "web"], "instance web has a kernel loaded; unload it first: kerf unload web"),
        (["load"], ["kill", "web"], "instance web is loaded but not running; start it with kerf exec web"),
        (["load", "exec"], ["exec", "web"], "instance web is already active"),
        (["load", "exec"], ["delete", "web"], "instance web is active; stop it first: kerf kill web"),
        (["load", "exec"], ["unload", "web"], "instance web is active; stop it first: kerf kill web"),
        (["load", "exec"], ["load"], "instance web is active; stop it first: kerf kill web"),
    ],
)
def test_illegal_steps_name_the_state_and_the_next_step(
    web: Kerf, vmlinux: Path, setup: list[str], command: list[str], message: str
) -> None:
    load = ["load", "web", "--kernel", str(vmlinux)]
    for step in setup:
        web.ok(*(load if step == "load" else [step, "web"]))
    before = _status(web)
    result = web(*(load if command == ["load"] else command))
    assert result.exit_code == ExitCode.STATE
    assert f"error: {message}" in result.stderr
    assert result.stdout == ""
    assert _status(web) == before


def test_images_that_are_missing_or_not_kernels_are_input_errors(web: Kerf, tmp_path: Path) -> None:
    missing = web("load", "web", "--kernel", str(tmp_path / "nope"))
    assert missing.exit_code == ExitCode.INPUT and "no such file" in missing.stderr
    text = tmp_path / "config"
    text.write_text("CONFIG_SMP=y\n" * 100)
    wrong = web("load", "web", "--kernel", str(text))
    assert wrong.exit_code == ExitCode.INPUT and "not a kernel image" in wrong.stderr
    arm = tmp_path / "arm-vmlinux"
    from tests.kernel.images import make_elf

    arm.write_bytes(make_elf(machine=183))
    other = web("load", "web", "--kernel", str(arm))
    assert other.exit_code == ExitCode.INPUT and "not x86_64" in other.stderr
    assert _status(web) == "ready"


def test_a_missing_initrd_is_an_input_error(web: Kerf, vmlinux: Path, tmp_path: Path) -> None:
    result = web("load", "web", "--kernel", str(vmlinux), "--initrd", str(tmp_path / "none.img"))
    assert result.exit_code == ExitCode.INPUT
    assert "initrd" in result.stderr and "does not exist" in result.stderr


def test_name_and_id_must_agree(web: Kerf) -> None:
    result = web("exec", "web", "--id", "2")
    assert result.exit_code == ExitCode.USAGE
    assert "instance web has id 1, not 2" in result.stderr
    nothing = web("exec")
    assert nothing.exit_code == ExitCode.USAGE and "NAME or --id" in nothing.stderr
    bad_id = web("kill", "--id", "0")
    assert bad_id.exit_code == ExitCode.USAGE and "instance ids start at 1" in bad_id.stderr
    bad_name = web("exec", "../web")
    assert bad_name.exit_code == ExitCode.USAGE and "contains '/'" in bad_name.stderr
    unknown = web("delete", "--id", "9")
    assert unknown.exit_code == ExitCode.USAGE and "there is no instance with id 9" in unknown.stderr


def test_the_kernel_refusing_a_call_is_a_kernel_error(initialised: Kerf, vmlinux: Path) -> None:
    # 64 KiB of memory cannot hold the image: the (simulated) kernel refuses the load.
    initialised.ok("create", "tiny", "--cpu-count", "1", "--memory", "64K")
    result = initialised("load", "tiny", "--kernel", str(vmlinux))
    assert result.exit_code == ExitCode.KERNEL
    assert "(kexec_file_load: ENOMEM)" in result.stderr
    assert SimulatedHost(initialised.root / "kernel").instance("tiny").status == "ready"
    record = json.loads((initialised.root / "state" / "instances" / "tiny.json").read_text())
    assert record["image"] is None
    assert not (initialised.root / "state" / "journal.json").exists()


def test_a_stuck_instance_without_cpus_cannot_be_stopped(web: Kerf, vmlinux: Path) -> None:
    web.ok("load", "web", "--kernel", str(vmlinux))
    from tests.kernel.simhost import cpu_items, fragment, overlay

    sim = SimulatedHost(web.root / "kernel")
    sim.write_overlay(overlay(fragment("0", "/instances/web", f"cpu-remove {{ {cpu_items(0, 8)} }};")))
    result = web("kill", "web", "--force")
    assert result.exit_code == ExitCode.STATE
    assert "(reboot(force-halt): EINVAL)" in result.stderr
    start = web("exec", "web")
    assert start.exit_code == ExitCode.STATE
    assert "has no CPUs to run on; give it some first: kerf update web --cpu-count N" in start.stderr


def test_delete_dry_run_checks_the_state_and_changes_nothing(web: Kerf) -> None:
    result = web.ok("delete", "web", "--dry-run", "--json")
    assert json.loads(result.stdout) == {"name": "web", "id": 1, "dry_run": True}
    assert _status(web) == "ready"
