"""Backend selection: explicit root, the real kernel when it offers the filesystem, else the
simulated host under the user's state directory (announced)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerf.lifecycle import BackendKind, locate
from kerf.lifecycle.session import REAL_STATE_DIR, kernel_available, user_state_home


def _proc(tmp_path: Path, mounts: str = "", filesystems: str = "") -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mounts").write_text(mounts)
    (proc / "filesystems").write_text(filesystems)
    return proc


def test_an_explicit_root_is_a_simulated_host_without_announcement(tmp_path: Path) -> None:
    proc = _proc(tmp_path, filesystems="nodev\tmultikernel\n")  # even when the kernel has support
    where = locate(tmp_path / "mk", proc=proc)
    assert where.kind is BackendKind.SIMULATED
    assert where.kernel_root == tmp_path / "mk" / "kernel"
    assert where.state_dir == tmp_path / "mk" / "state"
    assert where.announcement is None


def test_a_relative_root_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert locate(Path("mk"), proc=_proc(tmp_path)).kernel_root == tmp_path / "mk" / "kernel"


@pytest.mark.parametrize(
    ("mounts", "filesystems"),
    [
        ("none /sys/fs/multikernel multikernel rw,relatime 0 0\n", "nodev\tsysfs\n"),
        ("sysfs /sys sysfs rw 0 0\n", "nodev\tsysfs\nnodev\tmultikernel\n\text4\n"),
    ],
    ids=["mounted", "filesystem-type-known"],
)
def test_the_real_kernel_is_chosen_when_it_offers_the_filesystem(
    tmp_path: Path, mounts: str, filesystems: str
) -> None:
    proc = _proc(tmp_path, mounts, filesystems)
    assert kernel_available(proc)
    where = locate(None, proc=proc, env={"HOME": str(tmp_path)})
    assert where.kind is BackendKind.KERNEL
    assert where.kernel_root == Path("/sys/fs/multikernel")
    assert where.state_dir == REAL_STATE_DIR
    assert where.announcement is None


def test_otherwise_the_simulated_host_in_the_state_home_is_announced(tmp_path: Path) -> None:
    proc = _proc(tmp_path, "sysfs /sys sysfs rw 0 0\n", "nodev\tsysfs\n\text4\n")
    assert not kernel_available(proc)
    where = locate(None, proc=proc, env={"XDG_STATE_HOME": str(tmp_path / "xdg")})
    assert where.kind is BackendKind.SIMULATED
    assert where.kernel_root == tmp_path / "xdg" / "kerf" / "kernel"
    assert where.announcement is not None and str(tmp_path / "xdg" / "kerf") in where.announcement


def test_the_state_home_defaults_to_dot_local_state(tmp_path: Path) -> None:
    assert user_state_home({"HOME": str(tmp_path)}) == tmp_path / ".local" / "state" / "kerf"
    # a relative XDG_STATE_HOME is invalid by the XDG rules and ignored
    assert user_state_home({"HOME": str(tmp_path), "XDG_STATE_HOME": "rel"}) == tmp_path / ".local/state/kerf"


def test_an_unreadable_proc_means_no_kernel(tmp_path: Path) -> None:
    assert not kernel_available(tmp_path / "missing")


def test_a_mount_point_that_is_not_utf8_does_not_stop_the_choice(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mounts").write_bytes(
        b"/dev/sdb1 /mnt/caf\xe9 ext4 rw 0 0\nnone /sys/fs/multikernel multikernel rw 0 0\n"
    )
    (proc / "filesystems").write_bytes(b"nodev\tsysfs\n")
    assert kernel_available(proc)
