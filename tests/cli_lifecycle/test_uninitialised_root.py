"""Commands on a root kerf never initialised fail without leaving anything behind."""

from __future__ import annotations

import pytest

from kerf.errors import ExitCode
from tests.cli_lifecycle.conftest import Kerf


@pytest.mark.parametrize(
    "args",
    [
        ("delete", "a"),
        ("create", "a", "--cpu-count", "1", "--memory", "1GiB"),
        ("update", "a", "--cpu-count", "2"),
        ("exec", "a"),
        ("kill", "a"),
        ("unload", "a"),
    ],
    ids=lambda a: a[0],
)
def test_a_command_on_a_new_root_creates_nothing(kerf: Kerf, args: tuple[str, ...]) -> None:
    result = kerf(*args)
    assert result.exit_code == ExitCode.STATE, result.stderr
    assert "kerf init" in result.stderr
    assert not kerf.root.exists() or not any(kerf.root.rglob("*"))
