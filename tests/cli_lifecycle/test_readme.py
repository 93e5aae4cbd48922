"""The README's first command, exactly as written (minus the install), in a temporary directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = "python -m pip install -e . && "


def _first_command() -> str:
    readme = (REPO / "README.md").read_text()
    first = readme.split("```sh\n")[1].split("\n```", 1)[0].strip()
    assert first.startswith(INSTALL), "the README's first command should install kerf first"
    return first[len(INSTALL) :]


@pytest.mark.slow
def test_the_readme_quick_start_runs_twice_on_a_fresh_machine(tmp_path: Path) -> None:
    command = _first_command()
    assert "export KERF_ROOT=$(mktemp -d)" in command  # repeatable: a fresh simulated host each time
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERF_")}
    # a fresh machine: nothing in the user's state directory, temporary files under tmp_path
    env.update(
        TMPDIR=str(tmp_path),
        HOME=str(tmp_path / "home"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        NO_COLOR="1",
        COLUMNS="120",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    for _ in range(2):
        result = subprocess.run(
            ["bash", "-c", f"set -e; {command}"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert re.search(r"created web \(id 1\): CPUs", out)
        assert "created db (id 2)" in out and "created cache (id 3)" in out
        assert "Instances" in out and "socket 1" in out and "c = cache (ready)" in out
        assert "Traceback" not in result.stderr
    roots = [p for p in tmp_path.iterdir() if p.name.startswith("tmp.")]
    assert len(roots) == 2  # each run had its own simulated host
    assert not (tmp_path / "state").exists()  # and never touched the user's default one
