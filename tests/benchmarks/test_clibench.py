"""The CLI start-up benchmark's pieces (the timing itself runs with `python -m benchmarks cli`)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.clibench import REPO, Timing, _display, available_commands, cases, kerf_argv, write_results


def test_commands_are_read_from_kerf_help() -> None:
    offered = available_commands()
    assert {"validate", "compile"} <= offered
    assert "Commands:" not in offered


def test_cases_cover_the_issue_and_show_paths_as_typed(tmp_path: Path) -> None:
    labels = [c.label for c in cases(tmp_path)]
    assert labels[:4] == ["kerf --help", "kerf show", "kerf plan (one request)", "kerf create --cpu-count 4"]
    create = next(c for c in cases(tmp_path) if c.needs == "create")
    assert create.after is not None and create.after(3)[-3:] == ["bench3", "--root", str(tmp_path)]
    shown = _display(create.argv(0), tmp_path)
    assert shown.endswith("create bench0 --cpu-count 4 --memory 2GiB --root $ROOT")
    assert _display([*kerf_argv(), "validate", str(REPO / "examples" / "x.dts")], tmp_path).endswith(
        "validate examples/x.dts"
    )


def test_results_list_missing_commands_and_the_python_baseline(tmp_path: Path) -> None:
    results = [
        Timing("kerf --help", "kerf --help", 120.0, 130.0, 40.0, 5, 0),
        Timing(
            "kerf plan (one request)",
            "kerf plan H --requests R",
            0.0,
            0.0,
            0.0,
            0,
            None,
            "missing: not in kerf --help",
        ),
    ]
    path = write_results(results, tmp_path, 5)
    text = path.read_text()
    assert "| `kerf --help` | 120 | 130 | 40 | +80 |  |" in text
    assert "| `kerf plan H --requests R` | — | — | — | — | missing: not in kerf --help |" in text
    data = json.loads((tmp_path / "cli_speed.json").read_text())
    assert [d["label"] for d in data] == ["kerf --help", "kerf plan (one request)"]
