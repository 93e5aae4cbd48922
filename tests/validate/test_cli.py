"""`kerf validate` through the CLI runner: exit codes, stdout and stderr asserted separately."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerf.cli.app import app
from kerf.dts import parse_file, to_dtb
from kerf.errors import ExitCode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_valid_description_prints_the_report(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES / "numa_topology.dts")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for heading in ("Resource inventory", "NUMA nodes", "Utilisation", "Instances", "Requests", "Findings"):
        assert heading in out
    assert "30: 1-15, 17-31" in out  # pool CPUs
    assert "web-server" in out and "ml-training" in out
    assert "dts-wide-literal" in out  # the parser/binding warning is part of the report
    assert "pool CPUs 16/30 (53.3%)" in out
    assert out.rstrip().endswith("VALID: 1 warning")
    assert result.stderr == ""


def test_invalid_description_exits_1_and_says_so_on_stderr(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES / "conflict_example.dts")], env={"COLUMNS": "200"})
    assert result.exit_code == ExitCode.INVALID
    assert "Instances web and db both use CPU 5" in result.stdout
    assert "conflict_example.dts:93:5" in result.stdout
    assert "INVALID: 15 errors, 1 warning" in result.stdout
    assert result.stderr == "invalid: 15 errors\n"


def test_json_is_one_document_and_nothing_else(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", "--json", str(EXAMPLES / "conflict_example.dts")])
    assert result.exit_code == ExitCode.INVALID
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert set(data) == {
        "valid",
        "source",
        "inventory",
        "numa",
        "utilisation",
        "instances",
        "requests",
        "findings",
    }
    assert data["valid"] is False
    assert data["source"].endswith("conflict_example.dts")
    conflict = next(f for f in data["findings"] if f["code"] == "cpu-conflict")
    assert conflict == {
        "code": "cpu-conflict",
        "severity": "error",
        "location": f"{data['source']}:93:5",
        "subject": "instances web, db",
        "message": "Instances web and db both use CPU 5",
        "hint": "give each CPU to one instance; free pool CPUs: 12-14",
    }
    # errors first, in file order
    severities = [f["severity"] for f in data["findings"]]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
    assert data["inventory"]["cpus"]["host_reserved"] == [0]
    assert [n["node"] for n in data["numa"]] == [0, 1]


def test_json_of_a_valid_description(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", "--json", str(EXAMPLES / "minimal.dts")])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["valid"] is True
    assert data["findings"] == []
    assert data["inventory"]["memory"] == {
        "total_bytes": 8 << 30,
        "host_reserved_bytes": 1 << 30,
        "pool_bytes": 7 << 30,
        "pool_ranges": [{"base": 1 << 30, "size": 7 << 30}],
    }
    assert data["utilisation"]["cpus"] == {"pool": 7, "used": 0, "percent": 0.0}


def test_dtb_input(runner: CliRunner, tmp_path: Path) -> None:
    blob = tmp_path / "edge.dtb"
    blob.write_bytes(to_dtb(parse_file(EXAMPLES / "edge_computing.dts")))
    result = runner.invoke(app, ["validate", "--json", str(blob)])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [i["name"] for i in data["instances"]] == ["inference", "gateway"]
    # a DTB keeps no labels (and this one no /aliases): devices are named by their nodes
    assert data["instances"][0]["devices"] == ["gpu@0", "ethernet@0_vf1"]


def test_missing_file_exits_3_with_the_error_on_stderr(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.dts")])
    assert result.exit_code == ExitCode.INPUT
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "nope.dts" in result.stderr


def test_syntax_error_is_located_on_stderr(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.dts"
    bad.write_text("/dts-v1/;\n/ {\n\tresources {\n\t\tcpus { total = <8> };\n\t};\n};\n")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == ExitCode.INPUT
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {bad}:4:")


def test_binding_error_is_located_on_stderr_with_its_hint(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.dts"
    bad.write_text(
        "/dts-v1/;\n/ {\n\tresources {\n\t\tcpus { total = <2>; };\n"
        '\t\tmemory { total-bytes = "16G"; memory-pool-base = <0>; memory-pool-bytes = <0>; };\n\t};\n};\n'
    )
    result = runner.invoke(app, ["validate", "--json", str(bad)])
    assert result.exit_code == ExitCode.INPUT
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"error: {bad}:5:12: /resources/memory: property 'total-bytes' should be a 64-bit number like "
        "<0x2 0x0> or /bits/ 64 <0x200000000>, but it is a string"
    )
    assert len(lines) == 1 or lines[1].startswith("hint: ")


def test_names_from_the_file_are_not_read_as_markup(runner: CliRunner, tmp_path: Path) -> None:
    text = (
        (EXAMPLES / "minimal.dts")
        .read_text()
        .replace(
            "\t};\n};",
            (
                "\t};\n\tinstances { web { resources { cpus = <1>; memory-bytes = <0x40000000>; devices = "
                '"[bold]x"; }; }; };\n};'
            ),
        )
    )
    path = tmp_path / "markup.dts"
    path.write_text(text)
    result = runner.invoke(app, ["validate", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == ExitCode.INVALID
    assert "[bold]x" in result.stdout
