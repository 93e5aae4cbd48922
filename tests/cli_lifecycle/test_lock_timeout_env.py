"""A bad KERF_LOCK_TIMEOUT is a usage error for every command: never an unlocked read, never
an endless wait."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kerf.errors import ExitCode
from kerf.fsutil import file_lock
from kerf.state import lock_timeout
from tests.cli_lifecycle.conftest import Kerf

BAD = ["abc", "nan", "inf", "-inf", "-1"]
COMMANDS = [
    ("show",),
    ("show", "--json"),
    ("delete", "a"),
    ("create", "web", "--cpu-count", "1", "--memory", "1G"),
]


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_bad_value_is_a_usage_error(initialised: Kerf, args: tuple[str, ...], value: str) -> None:
    result = initialised(*args, env={"KERF_LOCK_TIMEOUT": value})
    assert result.exit_code == ExitCode.USAGE, result.output
    assert f"KERF_LOCK_TIMEOUT={value!r}" in result.stderr
    assert "hint:" in result.stderr and "number of seconds" in result.stderr


def test_show_does_not_read_past_a_held_lock_when_the_value_is_bad(initialised: Kerf) -> None:
    # Another kerf holds the lock: a typo in the variable must not mean "read without it".
    with file_lock(initialised.root / "state" / "lock", timeout=1):
        result = initialised("show", env={"KERF_LOCK_TIMEOUT": "abc"})
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "KERF_LOCK_TIMEOUT='abc' is not a number of seconds" in result.stderr


@pytest.mark.parametrize("value", ["0", "0.5", "30"])
def test_good_values_are_accepted(value: str) -> None:
    assert lock_timeout({"KERF_LOCK_TIMEOUT": value}) == float(value)


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1.0])
def test_the_lock_itself_refuses_a_timeout_it_could_not_honour(tmp_path: Path, timeout: float) -> None:
    with pytest.raises(ValueError, match="finite"), file_lock(tmp_path / "lock", timeout=timeout):
        pass
