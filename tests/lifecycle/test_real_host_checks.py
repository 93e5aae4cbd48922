"""``kerf init`` on the real backend (a directory laid out like /sys/fs/multikernel, a fake
/proc): a kernel that never had a baseline, a kernel with 64 KiB pages, and a 32-bit kerf
under a 64-bit kernel. The refusals come before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kerf.binding import host_to_tree
from kerf.dts import Tree, format_dts, from_dtb, to_dtb
from kerf.kernel import syscalls
from kerf.kernel.errors import UnsupportedArchitectureError
from kerf.kernel.syscalls import Arch
from kerf.kernel.sysfs import UnsupportedPageSizeError
from kerf.lifecycle.errors import AlreadyInitialisedError
from kerf.lifecycle.init import init
from kerf.lifecycle.kernel_view import read_pool
from kerf.lifecycle.session import BackendKind, Location, Session
from tests.kernel.simhost import dual_node_smt2

HOST_CPUS = list(range(16))


def _self_tree(*, pool: bool) -> bytes:
    """The root ``device_tree`` of a kernel: with ``pool``, the pool tree of a kernel that has
    a baseline (cpus, cpus-available); without, the self instance tree a kernel emits before
    any baseline (reference §2.2), which lists the host's own CPUs."""
    tree = Tree.empty()
    root = tree.root
    root.set_string("compatible", "multikernel-v1")
    root.set_u32("#address-cells", 2)
    root.set_u32("#size-cells", 2)
    root.set_u32("id", 0)
    resources = root.add_node("resources")
    if pool:
        resources.set_cells("cpus", [2, 3], bits=64)
        resources.set_cells("cpus-available", [2, 3], bits=64)
    else:
        resources.set_cells("cpus", HOST_CPUS, bits=64)
    return to_dtb(tree)


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    path = tmp_path / "host.dts"
    path.write_text(format_dts(host_to_tree(dual_node_smt2())))
    return path


def _real(tmp_path: Path, device_tree: bytes | None) -> Session:
    """A session on the real backend: ``sys`` is the kernel's filesystem (mounted, holding
    ``device_tree``, when that is given), ``state`` kerf's state directory."""
    kernel, proc = tmp_path / "sys", tmp_path / "proc"
    proc.mkdir()
    if device_tree is None:
        (proc / "mounts").write_text("sysfs /sys sysfs rw 0 0\n")
    else:
        (proc / "mounts").write_text(f"none {kernel} multikernel rw 0 0\n")
        for folder in ("instances", "overlays"):
            (kernel / folder).mkdir(parents=True)
        (kernel / "device_tree").write_bytes(device_tree)
    return Session(Location(BackendKind.KERNEL, kernel, tmp_path / "state"), proc=proc)


# --- a kernel that never had a baseline ------------------------------------------------------------


def test_the_self_tree_of_a_kernel_without_a_pool_is_not_a_populated_pool() -> None:
    before = read_pool(from_dtb(_self_tree(pool=False)))
    assert before.cpus == tuple(HOST_CPUS) and not before.is_pool_tree
    assert not before.populated
    after = read_pool(from_dtb(_self_tree(pool=True)))
    assert after.is_pool_tree and after.populated


def test_init_writes_the_baseline_when_the_kernel_lists_its_own_cpus(tmp_path: Path, host_file: Path) -> None:
    session = _real(tmp_path, _self_tree(pool=False))
    outcome = init(session, host_file)
    assert outcome.message.startswith("initialised the pool")
    written = (tmp_path / "sys" / "device_tree").read_bytes()
    baseline = from_dtb(written)  # the baseline replaced the self tree in the (plain) file
    resources = baseline.get_node("/resources")
    assert "cpus" in resources.props and any(n.startswith("memory@") for n in resources.children)
    assert session.state.host_text() is not None
    assert session.state.journal() is None


def test_init_still_refuses_a_pool_that_has_a_baseline(tmp_path: Path, host_file: Path) -> None:
    session = _real(tmp_path, _self_tree(pool=True))
    with pytest.raises(AlreadyInitialisedError):
        init(session, host_file)
    assert (tmp_path / "sys" / "device_tree").read_bytes() == _self_tree(pool=True)


# --- refusals before any side effect -------------------------------------------------------------


def _tree_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _page_size(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    real = os.sysconf
    monkeypatch.setattr(os, "sysconf", lambda name: size if name == "SC_PAGE_SIZE" else real(name))


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_kernel_with_64k_pages_is_refused_before_anything_is_written(
    tmp_path: Path, host_file: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    session = _real(tmp_path, _self_tree(pool=False))
    before = _tree_files(tmp_path)
    _page_size(monkeypatch, 65536)
    with pytest.raises(UnsupportedPageSizeError) as err:
        init(session, host_file, dry_run=dry_run)
    assert "65536-byte pages" in err.value.message and "4096-byte pages" in err.value.message
    assert err.value.hint is not None
    assert _tree_files(tmp_path) == before
    assert not (tmp_path / "state").exists()


def test_a_kernel_with_64k_pages_cannot_even_be_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = _real(tmp_path, _self_tree(pool=False))
    _page_size(monkeypatch, 65536)
    with pytest.raises(UnsupportedPageSizeError):
        session.backend()  # plans and dry runs computed in 4 KiB pages would be wrong too


def _process(monkeypatch: pytest.MonkeyPatch, machine: str, pointer: int) -> None:
    monkeypatch.setattr("platform.machine", lambda: machine)
    monkeypatch.setattr(syscalls, "pointer_size", lambda: pointer)


def test_a_32_bit_kerf_on_x86_64_is_refused_before_anything_is_written(
    tmp_path: Path, host_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = _real(tmp_path, None)  # not mounted: init would create the mount point and mount
    before = _tree_files(tmp_path)
    _process(monkeypatch, "x86_64", 4)

    def no_libc() -> None:
        raise AssertionError("no system call may be issued")

    monkeypatch.setattr(syscalls, "_libc", no_libc)
    with pytest.raises(UnsupportedArchitectureError, match="32-bit process") as err:
        init(session, host_file)
    assert err.value.hint is not None and "64-bit Python" in err.value.hint
    assert _tree_files(tmp_path) == before
    assert not (tmp_path / "sys").exists()
    assert not (tmp_path / "state").exists()


def test_instance_images_follow_the_kernel_not_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # armhf userland on an arm64 kernel: the instances still boot arm64 Images, and the
    # system calls use the 32-bit ARM table.
    session = _real(tmp_path, _self_tree(pool=False))
    _process(monkeypatch, "aarch64", 4)
    assert session.arch() is Arch.AARCH64
    assert syscalls.process_arch() is Arch.ARM
    session.check_real_host()  # accepted
