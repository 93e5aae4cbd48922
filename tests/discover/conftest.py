"""Fixtures of the discovery tests: fake machines and the external-tool gate."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.discover.fakehost import FakeHost


@pytest.fixture
def fake(tmp_path: Path) -> FakeHost:
    """An empty fake machine under a temporary directory (fill it, then ``build()``)."""
    return FakeHost(tmp_path / "machine")


def require_tool(name: str) -> str:
    """The path of an external tool; skip without it, or fail when KERF_REQUIRE_TOOLS=1."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install hwloc-nox)"
        if os.environ.get("KERF_REQUIRE_TOOLS") == "1":
            pytest.fail(f"KERF_REQUIRE_TOOLS=1 but {reason}")
        pytest.skip(reason)
    return path
