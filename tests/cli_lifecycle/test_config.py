"""`kerf config`: the host's stored core-sharing default, and who wins over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerf.errors import ExitCode
from tests.cli_lifecycle.conftest import Kerf

B_DRY = ("create", "b", "--cpu-count", "1", "--memory", "1GiB", "--dry-run", "--json")


def _settings_file(kerf: Kerf) -> Path:
    return Path(json.loads(kerf.ok("config", "--json").stdout)["state"]) / "settings.json"


def _b_cpus(kerf: Kerf, *extra: str, env: dict[str, str] | None = None) -> list[int]:
    result = kerf(*B_DRY, *extra, env=env)
    assert result.exit_code == 0, result.stderr
    cpus: list[int] = json.loads(result.stdout)["cpus"]
    return cpus


def test_config_shows_the_default_and_writes_nothing(kerf: Kerf) -> None:
    assert kerf.ok("config").stdout.strip() == "core sharing avoid"
    assert json.loads(kerf.ok("config", "--json").stdout)["core_sharing"] == "avoid"
    assert not _settings_file(kerf).exists()


def test_stored_pack_places_like_the_flag_and_show_reports_it(initialised: Kerf) -> None:
    initialised.ok("create", "a", "--cpus", "0", "--memory", "1GiB")
    assert _b_cpus(initialised) == [1]  # avoid: keep off a's core
    assert initialised.ok("config", "--core-sharing", "pack").stdout.strip() == "set core sharing pack"
    assert json.loads(_settings_file(initialised).read_text()) == {"version": 1, "core-sharing": "pack"}
    assert _b_cpus(initialised) == [8]  # a's sibling: core 1 stays whole
    shown = initialised.ok("show")
    assert "core sharing pack" in shown.stdout
    assert json.loads(initialised.ok("show", "--json").stdout)["host"]["core_sharing"] == "pack"
    # update re-plans by the stored setting too: b keeps core 1 and, for its third CPU,
    # takes a's free sibling rather than a whole free core
    initialised.ok("create", "b", "--cpu-count", "1", "--memory", "1GiB", "--core-sharing", "avoid")
    avoid = ("--core-sharing", "avoid", "--dry-run", "--json")
    isolated = initialised.ok("update", "b", "--cpu-count", "3", *avoid)
    assert 8 not in json.loads(isolated.stdout)["cpus"]
    grown = json.loads(initialised.ok("update", "b", "--cpu-count", "3", "--json").stdout)
    assert 8 in grown["cpus"] and 1 in grown["cpus"]


def test_the_flag_and_the_environment_win_over_the_stored_setting(initialised: Kerf) -> None:
    initialised.ok("create", "a", "--cpus", "0", "--memory", "1GiB")
    initialised.ok("config", "--core-sharing", "pack")
    assert _b_cpus(initialised, "--core-sharing", "avoid") == [1]
    assert _b_cpus(initialised, env={"KERF_CORE_SHARING": "avoid"}) == [1]
    # the environment never becomes the stored setting
    initialised("config", env={"KERF_CORE_SHARING": "avoid"})
    assert initialised("config", env={"KERF_CORE_SHARING": "avoid"}).stdout.strip() == "core sharing pack"


def test_dry_run_and_repeats_change_nothing(initialised: Kerf) -> None:
    out = initialised.ok("config", "--core-sharing", "pack", "--dry-run")
    assert out.stdout.strip() == "would set core sharing pack (was avoid)"
    assert not _settings_file(initialised).exists()
    initialised.ok("config", "--core-sharing", "pack")
    before = _settings_file(initialised).stat().st_mtime_ns
    assert initialised.ok("config", "--core-sharing", "pack").stdout.strip() == "unchanged: core sharing pack"
    assert _settings_file(initialised).stat().st_mtime_ns == before


def test_a_bad_value_is_a_usage_error_and_stores_nothing(initialised: Kerf) -> None:
    bad = initialised("config", "--core-sharing", "dense")
    assert bad.exit_code == ExitCode.USAGE and "--core-sharing" in bad.stderr
    assert not _settings_file(initialised).exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"version": 1, "core-sharing": "pack"', "settings.json:1:"),
        ('{"version": 1, "core-sharing": "dense"}', "settings.core-sharing should be a known policy name"),
        ('{"version": 2, "core-sharing": "pack"}', "settings.version should be 1"),
        ('{"version": 1, "core-sharing": "pack", "x": 1}', "every key should be version or core-sharing"),
        ("[]", "the content should be a JSON object"),
    ],
)
def test_a_damaged_settings_file_is_named_and_nothing_is_placed(
    initialised: Kerf, content: str, expected: str
) -> None:
    path = _settings_file(initialised)
    path.write_text(content)
    for args in (("config",), ("create", "b", "--cpu-count", "1", "--memory", "1GiB"), ("show",)):
        result = initialised(*args)
        assert result.exit_code == ExitCode.INPUT, (args, result.stderr)
        assert expected in result.stderr and "Traceback" not in result.stderr
        assert "kerf config" in result.stderr  # the hint says how to repair it
    path.unlink()
    shown = json.loads(initialised.ok("show", "--json").stdout)
    assert shown["instances"] == [] and shown["host"]["core_sharing"] == "avoid"
