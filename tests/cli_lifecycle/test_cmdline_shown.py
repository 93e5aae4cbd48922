"""A kernel command line or image path from outside kerf never reaches the terminal raw,
and a command line that would forge rows of /proc/kimage is refused."""

from __future__ import annotations

from pathlib import Path

from kerf.errors import ExitCode
from tests.cli_lifecycle.conftest import Kerf, tree_files


def test_control_characters_in_the_command_line_are_refused(initialised: Kerf, vmlinux: Path) -> None:
    kerf = initialised
    kerf.ok("create", "w", "--cpu-count", "1", "--memory", "1GiB")
    before = tree_files(kerf.root)
    forged = 'a\n    2  multikernel  0x000200000000         2  file  "x"'
    for cmdline in (forged, "quiet\x1b]0;pwned\x07"):
        result = kerf("load", "w", "--kernel", str(vmlinux), "--cmdline", cmdline)
        assert result.exit_code == ExitCode.USAGE, result.stderr
        assert "control characters" in result.stderr
    assert tree_files(kerf.root) == before


def test_show_escapes_what_it_did_not_write(initialised: Kerf, vmlinux: Path, tmp_path: Path) -> None:
    kerf = initialised
    odd = tmp_path / "vmlinux\x1b[2J[bold]x"
    odd.write_bytes(vmlinux.read_bytes())
    kerf.ok("create", "w", "--cpu-count", "1", "--memory", "1GiB")
    kerf.ok("load", "w", "--kernel", str(odd), "--cmdline", "console=ttyS0 [x]")
    out = kerf.ok("show").stdout
    assert "\x1b" not in out
    assert "\\x1b" in out  # shown as an escape
    assert "[x]" in out
