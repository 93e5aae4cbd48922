"""kerf.fsutil.atomic_write_text on unusual targets: symlinks, FIFOs, directories, empty
paths, and failures whose message must say what really went wrong."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kerf.errors import InputError
from kerf.fsutil import atomic_write_text


def _leftovers(folder: Path) -> list[str]:
    """Temporary files a write left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_regular_file_is_replaced_as_before(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 & ~_umask()
    assert _leftovers(tmp_path) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_symlink_keeps_pointing_at_its_replaced_target(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.txt"
    target.write_text("old")
    link = tmp_path / "link"
    link.symlink_to(Path("real") / "model.txt")  # relative to the link's directory
    chain = tmp_path / "chain"
    chain.symlink_to(link)  # absolute, and a link to a link

    atomic_write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "model.txt")
    assert target.read_text() == "new"

    atomic_write_text(chain, "newer")
    assert chain.is_symlink() and link.is_symlink()
    assert target.read_text() == "newer"
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "real") == []


def test_a_dangling_symlink_gets_its_target_created(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to("created.txt")
    atomic_write_text(link, "hello")
    assert link.is_symlink()
    assert (tmp_path / "created.txt").read_text() == "hello"


def test_a_symlink_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(InputError, match="symbolic links, probably a loop"):
        atomic_write_text(tmp_path / "a", "x")
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (_fifo, "a FIFO (named pipe)"),
        (lambda p: p.mkdir() or p, "a directory"),
    ],
)
def test_a_target_that_is_not_a_regular_file_is_refused_untouched(
    tmp_path: Path, make: object, kind: str
) -> None:
    target = tmp_path / "out"
    make(target)  # type: ignore[operator]
    before = os.lstat(target)
    link = tmp_path / "link"
    link.symlink_to("out")
    with pytest.raises(InputError) as err:
        atomic_write_text(target, "x", hint="choose a writable place with --dump-model")
    assert str(err.value) == f"cannot write {target}: it is {kind}, not a regular file"
    assert err.value.hint == "choose a writable place with --dump-model"
    with pytest.raises(InputError) as through_link:
        atomic_write_text(link, "x")
    assert (
        str(through_link.value)
        == f"cannot write {link} (a link to {target}): it is {kind}, not a regular file"
    )
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert link.is_symlink()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("path", ["", "."])
def test_a_path_without_a_file_name_is_refused(path: str) -> None:
    with pytest.raises(InputError) as err:
        atomic_write_text(Path(path), "x", hint="choose a writable place with --dump-model")
    assert str(err.value) == "cannot write: expected a file name, found an empty path (or '.')"
    assert err.value.hint == "choose a writable place with --dump-model"


def test_a_missing_directory_is_named_only_when_it_is_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError) as missing:
        atomic_write_text(tmp_path / "no" / "file", "x")
    assert "No such file or directory" in str(missing.value)
    assert missing.value.hint == f"check that the directory {tmp_path / 'no'} exists"

    (tmp_path / "plain").write_text("")
    with pytest.raises(InputError) as not_dir:
        atomic_write_text(tmp_path / "plain" / "file", "x")
    assert "Not a directory" in str(not_dir.value)
    assert not_dir.value.hint is not None and "check that the directory" not in not_dir.value.hint


@pytest.mark.skipif(not Path("/proc/version").is_file(), reason="needs Linux /proc")
def test_a_directory_that_refuses_new_files_is_not_called_missing() -> None:
    with pytest.raises(InputError) as err:
        atomic_write_text(Path("/proc/version"), "x")
    assert str(err.value) == (
        "cannot write /proc/version: /proc does not allow creating files (No such file or directory)"
    )
    assert err.value.hint is not None and "exists" not in err.value.hint
