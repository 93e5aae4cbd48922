"""Shared helpers for the device tree tests: the dtc/fdtdump tools, small runners."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


def require_tool(name: str) -> str:
    """The tool's path; skip the test when it is missing (fail under KERF_REQUIRE_TOOLS=1)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("KERF_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{name} is required (KERF_REQUIRE_TOOLS=1) but is not installed")
        pytest.skip(f"{name} is not installed")
    return path


@dataclass
class Dtc:
    """Runs the reference compiler on text or files."""

    path: str
    workdir: Path

    def run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [self.path, "-q", *args], input=stdin, capture_output=True, check=False, cwd=self.workdir
        )

    def compile_text(self, text: str, name: str = "input.dts") -> bytes | None:
        """dtc's DTB for DTS text, or None when dtc rejects it."""
        source = self.workdir / name
        source.write_text(text, encoding="utf-8", errors="surrogateescape")
        result = self.run("-I", "dts", "-O", "dtb", str(source))
        return result.stdout if result.returncode == 0 else None

    def compile_file(self, path: Path, *include_dirs: Path) -> bytes | None:
        """dtc's DTB for a DTS file, or None when dtc rejects it."""
        args = [arg for d in include_dirs for arg in ("-i", str(d))]
        result = self.run(*args, "-I", "dts", "-O", "dtb", str(path))
        return result.stdout if result.returncode == 0 else None

    def decompile(self, blob: bytes) -> str:
        """``dtc -I dtb -O dts`` of a blob; fails the test when dtc refuses it."""
        result = self.run("-I", "dtb", "-O", "dts", "-", stdin=blob)
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout.decode("utf-8", "surrogateescape")


@pytest.fixture
def dtc(tmp_path: Path) -> Dtc:
    """The reference compiler, working in a fresh directory."""
    return Dtc(require_tool("dtc"), tmp_path)


def fdtdump_body(blob: bytes, workdir: Path) -> str:
    """fdtdump's view of a blob without the header comments (offsets, sizes)."""
    tool = require_tool("fdtdump")
    path = workdir / "dump.dtb"
    path.write_bytes(blob)
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, check=True)
    return "\n".join(line for line in result.stdout.splitlines() if not line.startswith("//"))
