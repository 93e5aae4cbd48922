"""The ``kerf`` process entry point: exit codes and output survive the fast exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_HOST = ROOT / "examples" / "numa_topology.dts"


def run(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m kerf ARGS`` (or ``python -c CODE``) from the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERF_")}
    env.update({"PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    command = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "kerf", *args]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_version_is_printed_and_exit_code_is_zero() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("kerf ")


def test_error_exit_code_and_message_reach_the_caller(tmp_path: Path) -> None:
    done = run("plan", str(tmp_path / "missing.dts"), "--requests", str(tmp_path / "r.json"))
    assert done.returncode == 3
    assert "missing.dts" in done.stderr
    assert "Traceback" not in done.stderr


def test_json_output_is_complete(tmp_path: Path) -> None:
    """A whole JSON document, though the process leaves without tearing down."""
    requests = tmp_path / "r.json"
    requests.write_text(json.dumps({"instances": [{"name": "web", "cpu-count": 2, "memory": "1GB"}]}))
    done = run("plan", str(EXAMPLE_HOST), "--requests", str(requests), "--json")
    assert done.returncode == 0, done.stderr
    assert "web" in [p["name"] for p in json.loads(done.stdout)["placements"]]


@pytest.mark.parametrize(
    ("code", "status", "stderr"),
    [(None, 0, ""), (5, 5, ""), ("went wrong", 1, "went wrong\n")],
)
def test_leave_reads_the_code_as_sys_exit_does(code: object, status: int, stderr: str) -> None:
    done = run(code=f"from kerf.cli.app import leave\nprint('out', end='')\nleave({code!r})\n")
    assert (done.returncode, done.stdout, done.stderr) == (status, "out", stderr)


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "kerf", "validate", str(EXAMPLE_HOST), "--json"],
        # output still buffered when the process leaves: the flush is what fails
        ["-c", "from kerf.cli.app import leave\nprint('out')\nleave(0)\n"],
    ],
    ids=["command", "buffered"],
)
def test_closed_output_pipe_gives_no_traceback(command: list[str]) -> None:
    """``kerf ... | head -c0``: nobody reads what kerf writes (the pipe's reader is
    closed before kerf starts, so every write fails with EPIPE)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERF_")}
    env.update({"PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    env.pop("PYTHONUNBUFFERED", None)  # as a user's shell has it: output is buffered
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, *command],
            cwd=ROOT,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr
