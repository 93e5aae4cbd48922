"""Not root on a real host: the sysfs backend against a read-only copy of a kernel's files.

The copy is made from a simulated host (same layout as /sys/fs/multikernel); the command
runs in a child process as an unprivileged user when the tests run as root (root would
write through read-only modes), so the kernel files refuse the write as they would.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerf.binding import host_to_tree
from kerf.cli.app import app
from kerf.dts import format_dts
from kerf.errors import ExitCode
from kerf.kernel.sim import LOCK_FILE, STATE_FILE
from tests.kernel.simhost import dual_node_smt2

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534

CHILD = """
import json, os, sys
from pathlib import Path
from kerf.errors import KerfError
from kerf.lifecycle.create import CreateSpec, create
from kerf.lifecycle.session import BackendKind, Location, Session
from kerf.state import RequestRecord
base = Path(sys.argv[1])
session = Session(Location(BackendKind.KERNEL, base / "sys", base / "state"), proc=base / "proc")
# A dry run first loads every module the real run needs (the interpreter's own files may
# not be readable once privileges are dropped).
create(session, CreateSpec("web", RequestRecord(1 << 30, cpu_count=1)), dry_run=True)
if os.geteuid() == 0:
    os.setgid({nobody}); os.setuid({nobody})
session = Session(Location(BackendKind.KERNEL, base / "sys", base / "state"), proc=base / "proc")
try:
    create(session, CreateSpec("web", RequestRecord(1 << 30, cpu_count=1)))
except KerfError as err:
    print(json.dumps({{"code": int(err.exit_code), "message": err.message, "hint": err.hint}}))
else:
    print(json.dumps({{"code": 0}}))
"""


def _read_only(path: Path) -> None:
    for folder, dirs, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(folder, name), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.chmod(folder, 0o555)
        del dirs  # walk continues into them


@pytest.fixture
def fake_kernel(tmp_path: Path) -> Iterator[Path]:
    """A world-readable directory: sys/ (a read-only kernel), proc/, state/ (writable)."""
    host = tmp_path / "host.dts"
    host.write_text(format_dts(host_to_tree(dual_node_smt2())))
    sim_root = tmp_path / "root"
    init = CliRunner().invoke(app, ["init", "--input", str(host)], env={"KERF_ROOT": str(sim_root)})
    assert init.exit_code == 0, init.stderr
    base = Path(tempfile.mkdtemp(prefix="kerf-ro-"))
    try:
        os.chmod(base, 0o755)
        shutil.copytree(
            sim_root / "kernel", base / "sys", ignore=shutil.ignore_patterns(STATE_FILE, LOCK_FILE)
        )
        proc = base / "proc"
        proc.mkdir()
        shutil.move(base / "sys" / "iomem", proc / "iomem")
        shutil.move(base / "sys" / "kimage", proc / "kimage")
        (proc / "mounts").write_text(f"none {base / 'sys'} multikernel rw 0 0\n")
        _read_only(base / "sys")
        shutil.copytree(sim_root / "state", base / "state")
        for folder, _, files in os.walk(base / "state"):
            os.chmod(folder, 0o777)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o666)
        yield base
    finally:
        for folder, _, _ in os.walk(base):
            os.chmod(folder, 0o755)
        shutil.rmtree(base)


def test_a_read_only_kernel_filesystem_is_a_permission_error(fake_kernel: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(nobody=NOBODY), str(fake_kernel)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["code"] == ExitCode.PERMISSION
    assert "write overlays/new" in outcome["message"] and "permission denied" in outcome["message"]
    assert outcome["hint"] == "run kerf as root"
    # Nothing half-done is left in kerf's state either.
    assert not (fake_kernel / "state" / "journal.json").exists()
    assert not (fake_kernel / "state" / "instances" / "web.json").exists()
