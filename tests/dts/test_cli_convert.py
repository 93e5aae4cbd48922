"""`kerf compile` and `kerf decompile` through the CLI runner: exit codes, stdout, stderr."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerf.cli.app import app
from kerf.dts import from_dtb, parse, trees_equal
from kerf.errors import ExitCode

from .conftest import Dtc

SOURCE = """/dts-v1/;
/ {
	model = "cli test";
	devices = <&eth0>;
	eth0: ethernet@0 { reg = <0>; };
};
"""
WIDE = """/multikernel-v1/;
/ {
	memory { memory-pool-base = <0x0 0x800000000>; };
};
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_compile_writes_the_dtb_and_nothing_on_stdout(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "board.dts"
    source.write_text(SOURCE)
    out = tmp_path / "board.dtb"
    result = runner.invoke(app, ["compile", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""
    assert trees_equal(from_dtb(out.read_bytes()), parse(SOURCE))


@pytest.mark.tools
def test_compile_matches_dtc_bytes(runner: CliRunner, tmp_path: Path, dtc: Dtc) -> None:
    source = tmp_path / "board.dts"
    source.write_text(SOURCE)
    out = tmp_path / "board.dtb"
    assert runner.invoke(app, ["compile", str(source), "-o", str(out)]).exit_code == 0
    assert out.read_bytes() == dtc.compile_file(source)


def test_compile_prints_portability_warnings_on_stderr(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "host.dts"
    source.write_text(WIDE)
    out = tmp_path / "host.dtb"
    result = runner.invoke(app, ["compile", str(source), "-o", str(out)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"warning: {source}:3:35: integer literal 0x800000000 is wider than a 32-bit cell; "
        "it is stored as two cells <0x8 0x0>",
        "  hint: write the 64-bit value portably as <0x8 0x0> or /bits/ 64 <0x800000000>",
    ]
    assert from_dtb(out.read_bytes()).get_node("/memory").props["memory-pool-base"].to_u32s() == [0, 8, 0]


def test_compile_error_exits_3_and_writes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "bad.dts"
    source.write_text("/dts-v1/;\n/ {\n\tcpus = <1 2>\n};\n")
    out = tmp_path / "bad.dtb"
    result = runner.invoke(app, ["compile", str(source), "-o", str(out)])
    assert result.exit_code == ExitCode.INPUT
    assert result.stdout == ""
    assert result.stderr == f"error: {source}:4:1: expected ';' after property 'cpus', found '}}'\n"
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [source]


def test_compile_missing_input_exits_3(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["compile", str(tmp_path / "none.dts"), "-o", str(tmp_path / "x.dtb")])
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr.startswith(
        f"error: cannot read {tmp_path / 'none.dts'}: No such file or directory\n"
    )


def test_compile_into_missing_directory_exits_3(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "board.dts"
    source.write_text(SOURCE)
    target = tmp_path / "no" / "such" / "dir" / "x.dtb"
    result = runner.invoke(app, ["compile", str(source), "-o", str(target)])
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr.startswith(f"error: cannot write {target}: No such file or directory\n")


def test_compile_without_output_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "board.dts"
    source.write_text(SOURCE)
    result = runner.invoke(app, ["compile", str(source)])
    assert result.exit_code == ExitCode.USAGE
    assert "--output" in result.stderr


def test_decompile_prints_dts_on_stdout(runner: CliRunner, tmp_path: Path) -> None:
    blob = tmp_path / "board.dtb"
    source = tmp_path / "board.dts"
    source.write_text(SOURCE)
    assert runner.invoke(app, ["compile", str(source), "-o", str(blob)]).exit_code == 0
    result = runner.invoke(app, ["decompile", str(blob)])
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.startswith("/dts-v1/;\n")
    assert 'model = "cli test";' in result.stdout
    assert trees_equal(parse(result.stdout), from_dtb(blob.read_bytes()))


def test_decompile_to_file(runner: CliRunner, tmp_path: Path) -> None:
    blob = tmp_path / "board.dtb"
    source = tmp_path / "board.dts"
    source.write_text(SOURCE)
    runner.invoke(app, ["compile", str(source), "-o", str(blob)])
    out = tmp_path / "back.dts"
    result = runner.invoke(app, ["decompile", str(blob), "-o", str(out)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert trees_equal(parse(out.read_text()), from_dtb(blob.read_bytes()))


def test_decompile_of_a_bad_blob_exits_3(runner: CliRunner, tmp_path: Path) -> None:
    blob = tmp_path / "broken.dtb"
    blob.write_bytes(b"\xd0\x0d\xfe\xed" + b"\x00\x00\x10\x00" + bytes(40))
    result = runner.invoke(app, ["decompile", str(blob)])
    assert result.exit_code == ExitCode.INPUT
    assert result.stdout == ""
    assert result.stderr == f"error: {blob}: truncated DTB: the header says 4096 bytes, the file has 48\n"


@pytest.mark.parametrize("command", ["compile", "decompile"])
def test_an_output_that_cannot_be_written_is_a_clear_error_and_leaves_nothing(
    runner: CliRunner, tmp_path: Path, command: str
) -> None:
    source = tmp_path / "board.dts"
    source.write_text(SOURCE)
    missing = tmp_path / "no-such-dir" / "out"
    result = runner.invoke(app, [command, str(source), "-o", str(missing)])
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr.splitlines() == [
        f"error: cannot write {missing}: No such file or directory",
        f"hint: check that the directory {missing.parent} exists",
    ]
    # a directory in the way: the rename fails, and the temporary file is cleaned up
    taken = tmp_path / "taken"
    (taken / "inside").mkdir(parents=True)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, [command, str(source), "-o", str(taken)])
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr.startswith(f"error: cannot write {taken}: ")
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before
