"""Paths that are not kerf's: a directory the user keeps where a simulated host would go,
an empty --root, kernel "images" that are devices or FIFOs."""

from __future__ import annotations

import os
from pathlib import Path

from kerf.errors import ExitCode
from tests.cli_lifecycle.conftest import Kerf, tree_files


def test_init_neither_uses_nor_removes_a_directory_it_did_not_make(kerf: Kerf, test_host: Path) -> None:
    mine = kerf.root / "kernel" / "sched"
    mine.mkdir(parents=True)
    (mine / "core.c").write_text("precious\n")
    before = tree_files(kerf.root / "kernel")
    result = kerf("init", "--input", str(test_host))
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "not an empty directory" in result.stderr
    assert tree_files(kerf.root / "kernel") == before
    assert not (kerf.root / "state" / "journal.json").exists()


def test_an_empty_root_is_refused_not_taken_for_the_current_directory(kerf: Kerf, test_host: Path) -> None:
    result = kerf("init", "--input", str(test_host), "--root", "")
    assert result.exit_code == ExitCode.USAGE
    assert "--root (or KERF_ROOT) is empty" in result.stderr
    assert not Path("kernel", ".simulated-host.json").exists()


def test_a_device_or_a_fifo_is_no_kernel_image(initialised: Kerf, tmp_path: Path) -> None:
    kerf = initialised
    kerf.ok("create", "web", "--cpu-count", "1", "--memory", "1GiB")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, kind in (("/dev/zero", "a character device"), (str(fifo), "a FIFO (named pipe)")):
        result = kerf("load", "web", "--kernel", path)
        assert result.exit_code == ExitCode.INPUT, result.stderr
        assert f"is {kind}, not a regular file" in result.stderr
