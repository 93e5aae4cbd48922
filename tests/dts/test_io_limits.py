"""Input size caps and output errors of `kerf compile` / `kerf decompile`: clean errors, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerf.cli.app import app
from kerf.dts import sources

SMALL = '/dts-v1/;\n/ { model = "small"; };\n'


@pytest.mark.parametrize("command", ["compile", "decompile", "validate"])
def test_an_input_over_the_size_cap_is_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setattr(sources, "MAX_INPUT_BYTES", 16)
    big = tmp_path / "big.dts"
    big.write_text(SMALL)
    args = [command, str(big)] + (["-o", str(tmp_path / "out.dtb")] if command == "compile" else [])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3
    assert f"cannot read {big}: larger than" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_included_file_over_the_size_cap_is_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "part.dtsi").write_text("/ { a = <1>; };\n" * 4)
    top = tmp_path / "top.dts"
    top.write_text('/dts-v1/;\n/include/ "part.dtsi"\n')
    monkeypatch.setattr(sources, "MAX_INPUT_BYTES", 40)
    result = CliRunner().invoke(app, ["compile", str(top), "-o", str(tmp_path / "out.dtb")])
    assert result.exit_code == 3
    assert f"{top}:2:" in result.stderr and "larger than" in result.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_decompile_to_a_full_stdout_is_a_clean_error(tmp_path: Path) -> None:
    source = tmp_path / "small.dts"
    source.write_text(SMALL)
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "kerf", "decompile", str(source)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert result.returncode == 3, result.stderr
    assert "cannot write the DTS to standard output: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr
