"""Labels in front of /memreserve/: several are allowed, as dtc allows them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerf.cli.app import app

from .conftest import Dtc

TWO_LABELS = "/dts-v1/;\nl1: l2: /memreserve/ 0x1000 0x1000;\n/ { };\n"


def _compile(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    source = tmp_path / "memres.dts"
    source.write_text(text)
    return CliRunner().invoke(app, ["compile", str(source), "-o", str(tmp_path / "memres.dtb")])


def test_two_labels_on_a_memreserve_entry_are_accepted(tmp_path: Path) -> None:
    result = _compile(tmp_path, TWO_LABELS)
    assert result.exit_code == 0, result.stderr


@pytest.mark.tools
def test_two_labels_on_a_memreserve_entry_compile_to_dtcs_bytes(tmp_path: Path, dtc: Dtc) -> None:
    assert _compile(tmp_path, TWO_LABELS).exit_code == 0
    assert (tmp_path / "memres.dtb").read_bytes() == dtc.compile_file(tmp_path / "memres.dts")


def test_labels_must_still_be_followed_by_memreserve(tmp_path: Path) -> None:
    result = _compile(tmp_path, "/dts-v1/;\nl1: l2: / { };\n")
    assert result.exit_code == 3
    assert "memres.dts:2:9: expected /memreserve/ after a top-level label" in result.stderr
