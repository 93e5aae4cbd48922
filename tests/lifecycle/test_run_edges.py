"""Edges of ``kerf exec``/``kill``/``load``: exec of an active instance goes to the kernel
(which restarts one whose CPUs are all parked), ``kill --force`` on riscv64 is refused, and
a command line given as non-UTF-8 argv bytes is loaded as those bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from kerf.binding import host_to_tree
from kerf.cli.app import app
from kerf.dts import format_dts
from kerf.errors import ExitCode
from kerf.kernel.sim import SimulatedHost
from kerf.lifecycle.run import start
from kerf.lifecycle.session import Session, simulated_location
from tests.kernel.images import RISCV_MAGIC, make_elf, make_image
from tests.kernel.simhost import dual_node_smt2

REPO = Path(__file__).resolve().parents[2]


class Kerf:
    """``kerf ARGS`` in-process against the simulated host in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        env = {"KERF_ROOT": str(self.root), "COLUMNS": "200", "NO_COLOR": "1", "KERF_CORE_SHARING": None}
        return self.runner.invoke(app, list(args), env=env)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, f"kerf {' '.join(args)} -> {result.exit_code}\n{result.stderr}"
        return result

    def status(self, name: str = "web") -> str:
        return str(SimulatedHost(self.root / "kernel").instance(name).status)


def _running(tmp_path: Path, arch: str) -> Kerf:
    """A simulated ``arch`` host with instance ``web`` loaded and started."""
    host = tmp_path / "host.dts"
    host.write_text(format_dts(host_to_tree(dual_node_smt2())))
    root = tmp_path / "root"
    SimulatedHost.create(root / "kernel", dual_node_smt2(), arch=arch)  # init adopts it
    kerf = Kerf(root)
    kerf.ok("init", "--input", str(host))
    kerf.ok("create", "web", "--cpu-count", "1", "--memory", "256MiB")
    image = tmp_path / "kernel.img"
    image.write_bytes(make_image(RISCV_MAGIC) if arch == "riscv64" else make_elf())
    kerf.ok("load", "web", "--kernel", str(image))
    kerf.ok("exec", "web")
    assert kerf.status() == "active"
    return kerf


# --- kill --force on riscv64 -----------------------------------------------------------------------


def test_force_kill_is_refused_on_riscv64_and_points_to_a_graceful_kill(tmp_path: Path) -> None:
    kerf = _running(tmp_path, "riscv64")
    result = kerf("kill", "web", "--force")
    assert result.exit_code == ExitCode.USAGE
    assert "kerf kill --force is not available on riscv64" in result.stderr
    assert "kerf kill web (without --force)" in result.stderr
    assert result.stdout == ""
    assert kerf.status() == "active"  # nothing was sent
    kerf.ok("kill", "web")
    assert kerf.status() == "loaded"
    again = kerf("kill", "web")  # no hint at a forced stop that riscv64 does not have
    assert again.exit_code == ExitCode.STATE and "--force" not in again.stderr


def test_force_kill_by_id_names_the_id_in_the_hint(tmp_path: Path) -> None:
    kerf = _running(tmp_path, "riscv64")
    result = kerf("kill", "--id", "1", "--force")
    assert result.exit_code == ExitCode.USAGE
    assert "kerf kill --id 1 (without --force)" in result.stderr


# --- exec of an active instance ------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["x86_64", "riscv64"])
def test_exec_of_a_running_instance_says_how_to_stop_it(tmp_path: Path, arch: str) -> None:
    kerf = _running(tmp_path, arch)
    result = kerf("exec", "web")
    assert result.exit_code == ExitCode.STATE
    assert "instance web is already active: the kernel refused to start it again (EBUSY" in result.stderr
    assert "kerf kill web" in result.stderr
    # a spawn that hangs does not answer a graceful stop: the forced one is the way out,
    # where the architecture has one
    assert ("kerf kill --force web" in result.stderr) is (arch == "x86_64")
    assert kerf.status() == "active"


class ParkedSpawn(SimulatedHost):
    """A simulated kernel whose active instance died with all CPUs parked: a start succeeds
    (the kernel recovers such an instance to loaded and boots it again, reference §4.3)."""

    started: list[int]

    def start(self, instance_id: int) -> None:
        self.started.append(instance_id)


def test_exec_of_an_active_instance_lets_the_kernel_restart_a_dead_one(tmp_path: Path) -> None:
    kerf = _running(tmp_path, "x86_64")
    location = simulated_location(kerf.root)
    backend = ParkedSpawn(location.kernel_root)
    backend.started = []
    outcome = start(Session(location, backend=backend), "web", None)
    assert backend.started == [1]
    assert outcome.message.startswith("restarted web (id 1) on CPU ")
    assert outcome.data["status"] == "active"


# --- a command line that is not UTF-8 --------------------------------------------------------------


def test_a_command_line_of_argv_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    kerf = _running(tmp_path, "x86_64")
    kerf.ok("kill", "web")
    kerf.ok("unload", "web")
    image = tmp_path / "kernel.img"
    env = {**os.environ, "KERF_ROOT": str(kerf.root), "PYTHONPATH": str(REPO), "LC_ALL": "C.UTF-8"}
    result = subprocess.run(
        [sys.executable, "-m", "kerf", "load", "web", "--kernel", str(image), "--cmdline", b"label=caf\xe9"],
        cwd=REPO,
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert kerf.status() == "loaded"
    [row] = SimulatedHost(kerf.root / "kernel").kimage()
    assert row.cmdline == "label=caf\ufffd"  # how /proc/kimage's raw byte reads back
    assert not (kerf.root / "state" / "journal.json").exists()
    shown = json.loads(kerf.ok("show", "web", "--json").stdout)
    assert "label=caf" in json.dumps(shown)


def test_a_nul_in_the_command_line_is_a_usage_error_before_any_work(tmp_path: Path) -> None:
    kerf = _running(tmp_path, "x86_64")
    kerf.ok("kill", "web")
    kerf.ok("unload", "web")
    result = kerf("load", "web", "--kernel", str(tmp_path / "kernel.img"), "--cmdline", "quiet\0init=/x")
    assert result.exit_code == ExitCode.USAGE
    assert "must not contain NUL characters (one at byte 5)" in result.stderr
    assert kerf.status() == "ready"
