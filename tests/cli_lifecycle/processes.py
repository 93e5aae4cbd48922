"""Running kerf as separate processes (crash and concurrency tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def kerf_process(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m kerf ARGS`` with KERF_ROOT=root; output captured."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("KERF_")}
    full.update({"KERF_ROOT": str(root), "NO_COLOR": "1", "COLUMNS": "200", "PYTHONPATH": str(REPO)})
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kerf", *args],
        cwd=REPO,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_kerf(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The same, started in the background."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("KERF_")}
    full.update({"KERF_ROOT": str(root), "NO_COLOR": "1", "PYTHONPATH": str(REPO)})
    full.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "kerf", *args],
        cwd=REPO,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
