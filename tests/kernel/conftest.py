"""Shared fixtures of the kernel tests: a real distribution kernel, fetched once and cached."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from kerf.kernel.sim import SimulatedHost
from tests.kernel.simhost import dual_node_smt2, standard_baseline

PACKAGE = "linux-image-cloud-amd64"


def _unavailable(reason: str) -> None:
    """Skip, or fail when the environment promises the tools (KERF_REQUIRE_TOOLS=1)."""
    if os.environ.get("KERF_REQUIRE_TOOLS") == "1":
        pytest.fail(f"KERF_REQUIRE_TOOLS=1 but {reason}")
    pytest.skip(reason)


def _cache_dir() -> Path:
    configured = os.environ.get("KERF_TEST_CACHE")
    base = Path(configured) if configured else Path.home() / ".cache" / "kerf-test-kernels"
    base.mkdir(parents=True, exist_ok=True)
    return base


def _run(args: list[str], cwd: Path) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        _unavailable(f"{' '.join(args)} failed: {result.stderr.strip()[:300]}")
    return result.stdout


def _fetch_debian_kernel(cache: Path) -> Path:
    """Download Debian's cloud kernel package and keep only its vmlinuz in ``cache``."""
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed (needed to fetch a Debian kernel)")
    depends = _run(["apt-cache", "depends", PACKAGE], cache)
    match = re.search(r"Depends:\s*(linux-image-\S+)", depends)
    if match is None:
        _unavailable(f"apt-cache does not resolve {PACKAGE} to a versioned package (run apt-get update)")
    assert match is not None
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        work = Path(tmp)
        _run(["apt-get", "download", match[1]], work)
        debs = sorted(work.glob("*.deb"))
        if not debs:
            _unavailable(f"apt-get download {match[1]} produced no package")
        _run(["dpkg-deb", "-x", str(debs[0]), str(work / "root")], work)
        images = sorted((work / "root" / "boot").glob("vmlinuz-*"))
        if not images:
            _unavailable(f"{debs[0].name} holds no /boot/vmlinuz-*")
        target = cache / images[0].name
        # Publish atomically so a concurrent or interrupted run never sees half a file.
        shutil.copyfile(images[0], work / "partial")
        os.replace(work / "partial", target)
        return target


@pytest.fixture(scope="session")
def debian_kernel() -> Path:
    """Path of a real x86-64 distribution bzImage (Debian's cloud kernel), cached across runs."""
    cache = _cache_dir()
    cached = sorted(cache.glob("vmlinuz-*"))
    if cached:
        return cached[-1]
    return _fetch_debian_kernel(cache)


@pytest.fixture
def sim(tmp_path: Path) -> SimulatedHost:
    """A fresh simulated host of the dual_node_smt2 machine, no baseline yet."""
    return SimulatedHost.create(tmp_path / "mk", dual_node_smt2())


@pytest.fixture
def pooled(sim: SimulatedHost) -> SimulatedHost:
    """The simulated host after the standard baseline."""
    sim.write_baseline(standard_baseline())
    return sim
