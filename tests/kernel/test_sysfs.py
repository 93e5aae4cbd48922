"""The real-kernel backend against a fake root directory (nothing mounted, no real syscall)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from kerf.errors import ExitCode, InputError, KernelError
from kerf.kernel.backend import (
    InstanceInfo,
    InstanceStatus,
    KernelBackend,
    NoSuchTransactionError,
    OverlayTooLargeError,
    RollbackRefusedError,
    Transaction,
    TxStatus,
    roll_back_transaction,
)
from kerf.kernel.errors import (
    KernelPermissionError,
    KernelStateError,
    NoMultikernelError,
    NoSuchInstanceError,
)
from kerf.kernel.syscalls import Syscaller
from kerf.kernel.sysfs import SysfsBackend, is_mounted


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _fake_kernel(root: Path) -> Path:
    """A directory laid out like /sys/fs/multikernel with two instances and two transactions."""
    _write(root / "device_tree", b"\xd0\x0d\xfe\xedPOOL")
    _write(root / "overlays" / "new", b"")
    for name, ident, status in (("web", 2, "active"), ("db", 1, "ready"), ("odd", 3, "weird")):
        _write(root / "instances" / name / "id", f"{ident}\n")
        _write(root / "instances" / name / "status", f"{status}\n")
        _write(root / "instances" / name / "device_tree", f"DTB-{name}".encode())
    for tx, status, target in ((2, "applied", "/instances"), (10, "failed", "/instances/web")):
        folder = root / "overlays" / f"tx_{tx}"
        _write(folder / "id", f"{tx}\n")
        _write(folder / "status", f"{status}\n")
        _write(folder / "instance", f"{target}\n")
        _write(folder / "resources", "unknown\n")
        _write(folder / "dtbo", f"BLOB{tx}".encode())
    _write(root / "overlays" / "not_a_tx", "")
    return root


@pytest.fixture
def backend(tmp_path: Path) -> SysfsBackend:
    proc = tmp_path / "proc"
    _write(proc / "mounts", "sysfs /sys sysfs rw 0 0\n")
    return SysfsBackend(_fake_kernel(tmp_path / "mk"), proc=proc)


def test_is_a_kernel_backend(backend: SysfsBackend) -> None:
    assert isinstance(backend, KernelBackend)


def test_instances_sorted_by_id(backend: SysfsBackend) -> None:
    assert backend.instances() == [
        InstanceInfo("db", 1, InstanceStatus.READY),
        InstanceInfo("web", 2, InstanceStatus.ACTIVE),
        InstanceInfo("odd", 3, InstanceStatus.UNKNOWN),
    ]
    assert backend.instance("web").status is InstanceStatus.ACTIVE
    assert backend.read_instance_tree("db") == b"DTB-db"
    assert backend.read_device_tree() == b"\xd0\x0d\xfe\xedPOOL"


@pytest.mark.parametrize("name", ["ghost", "", "../overlays", "a/b"])
def test_unknown_instance(backend: SysfsBackend, name: str) -> None:
    with pytest.raises(NoSuchInstanceError):
        backend.instance(name)
    with pytest.raises(NoSuchInstanceError):
        backend.read_instance_tree(name)


def test_garbage_in_an_id_file(backend: SysfsBackend) -> None:
    _write(backend.root / "instances" / "db" / "id", "one\n")
    with pytest.raises(InputError, match="expected a decimal number, found 'one'"):
        backend.instance("db")


def test_transactions(backend: SysfsBackend) -> None:
    assert backend.transactions() == [
        Transaction(2, TxStatus.APPLIED, "/instances", "unknown"),
        Transaction(10, TxStatus.FAILED, "/instances/web", "unknown"),
    ]
    assert backend.transaction(10).applied is False
    assert backend.read_transaction_blob(2) == b"BLOB2"
    assert backend.failure_detail(10) is None
    with pytest.raises(NoSuchTransactionError):
        backend.transaction(3)


def test_a_stale_transaction_is_never_taken_for_a_new_one(backend: SysfsBackend) -> None:
    # The fake directory runs no kernel: the write lands in the file, and no tx_N appears.
    # The old tx_10 (the highest id) must not be reported as the result of this write.
    with pytest.raises(KernelError, match="created no transaction directory"):
        backend.write_overlay(b"\xd0\x0d\xfe\xed overlay")
    assert (backend.root / "overlays" / "new").read_bytes() == b"\xd0\x0d\xfe\xed overlay"


def test_new_transaction_is_found_by_comparing_before_and_after(backend: SysfsBackend) -> None:
    before = backend.transaction_ids()
    folder = backend.root / "overlays" / "tx_11"
    for name, value in (("id", "11"), ("status", "applied"), ("instance", "/resources"), ("resources", "x")):
        _write(folder / name, value + "\n")
    assert backend.new_transaction(before) == Transaction(11, TxStatus.APPLIED, "/resources", "x")
    _write(backend.root / "overlays" / "tx_12" / "id", "12\n")
    with pytest.raises(KernelError, match=r"several transactions appeared during one write \(11, 12\)"):
        backend.new_transaction(before)


def test_overlay_over_one_page_is_refused_before_writing(backend: SysfsBackend) -> None:
    with pytest.raises(OverlayTooLargeError, match="4097 bytes exceeds the 4096-byte limit"):
        backend.write_overlay(b"x" * 4097)
    assert (backend.root / "overlays" / "new").read_bytes() == b""


def test_baseline_is_written_whole(backend: SysfsBackend) -> None:
    backend.write_baseline(b"BASELINE" * 100)
    assert (backend.root / "device_tree").read_bytes() == b"BASELINE" * 100
    with pytest.raises(KernelError, match="over 1 MiB") as err:
        backend.write_baseline(b"x" * ((1 << 20) + 1))
    assert getattr(err.value, "errno", None) == errno.E2BIG


def test_unmounted_root(tmp_path: Path) -> None:
    backend = SysfsBackend(tmp_path / "nothing", proc=tmp_path)
    with pytest.raises(NoMultikernelError, match="not mounted"):
        backend.read_device_tree()
    with pytest.raises(NoMultikernelError, match="not mounted"):
        backend.instances()
    with pytest.raises(NoMultikernelError, match="not mounted"):
        backend.write_overlay(b"blob")
    with pytest.raises(NoMultikernelError, match="not mounted"):
        backend.write_baseline(b"blob")


def test_rollback_of_a_missing_transaction(backend: SysfsBackend) -> None:
    # rmdir's ENOENT alone does not say the transaction is gone (an inverse operation that
    # found nothing gives it too); roll_back_transaction looks at the directory.
    with pytest.raises(RollbackRefusedError) as err:
        backend.rollback(99)
    assert err.value.errno == errno.ENOENT
    with pytest.raises(NoSuchTransactionError, match="no longer exists"):
        roll_back_transaction(backend, 99)


def test_rollback_removes_the_directory(backend: SysfsBackend) -> None:
    (backend.root / "overlays" / "tx_20").mkdir()  # kernfs removes a populated one; a plain dir must be empty
    backend.rollback(20)
    assert not (backend.root / "overlays" / "tx_20").exists()


def test_proc_files(backend: SysfsBackend) -> None:
    _write(backend.proc / "iomem", "40000000-7fffffff : Multikernel Memory Pool\n")
    assert [c.range.size for c in backend.iomem().pool_chunks()] == [0x40000000]
    assert backend.kimage() == []  # a kernel without /proc/kimage
    _write(backend.proc / "kimage", '    1  multikernel  0x000040000000         2  file  "q"\n')
    assert [r.mk_id for r in backend.kimage()] == [1]


# --- mounting and system calls, through a recorded libc syscall ----------------------------------


class Recorder:
    def __init__(self, err: int = 0) -> None:
        self.calls: list[tuple[int, list[Any]]] = []
        self.err = err
        self.kernel_bytes = b""

    def __call__(self, number: Any, *args: Any) -> int:
        values = [a.value if hasattr(a, "value") else a for a in args]
        self.calls.append((number.value, values))
        if number.value == 320 and values[0] >= 0:  # kexec_file_load: read what the fd holds
            self.kernel_bytes = os.pread(values[0], 1 << 20, 0)
        return -1 if self.err else 0

    def errno(self) -> int:
        return self.err


def _with_recorder(backend: SysfsBackend, err: int = 0) -> Recorder:
    rec = Recorder(err)
    backend._syscaller = Syscaller(rec, "x86_64", get_errno=rec.errno)
    return rec


def test_mount_when_not_listed(backend: SysfsBackend, tmp_path: Path) -> None:
    backend.root = tmp_path / "sys" / "fs" / "multikernel"
    rec = _with_recorder(backend)
    assert backend.ensure_mounted() is True
    assert backend.root.is_dir()
    assert rec.calls == [(165, [b"none", str(backend.root).encode(), b"multikernel", 0, None])]


def test_no_mount_when_already_mounted(backend: SysfsBackend) -> None:
    _write(backend.proc / "mounts", f"none {backend.root} multikernel rw,relatime 0 0\n")
    rec = _with_recorder(backend)
    assert backend.ensure_mounted() is False
    assert rec.calls == []


@pytest.mark.parametrize(
    ("code", "cls", "words", "exit_code"),
    [
        (errno.EPERM, KernelPermissionError, "CAP_SYS_ADMIN", ExitCode.PERMISSION),
        (errno.ENODEV, NoMultikernelError, "this kernel has no multikernel support", ExitCode.KERNEL),
    ],
)
def test_mount_failures(
    backend: SysfsBackend, code: int, cls: type[KernelError], words: str, exit_code: ExitCode
) -> None:
    _with_recorder(backend, err=code)
    with pytest.raises(cls, match=words) as err:
        backend.ensure_mounted()
    assert err.value.exit_code == exit_code


def test_is_mounted_reads_escaped_paths() -> None:
    mounts = "none /mnt/my\\040dir multikernel rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n"
    assert is_mounted(Path("/mnt/my dir"), mounts)
    assert not is_mounted(Path("/tmp"), mounts)


def test_load_hands_bytes_over_as_a_memfd(backend: SysfsBackend, tmp_path: Path) -> None:
    rec = _with_recorder(backend)
    backend.load(5, b"\x7fELF-extracted", None, "quiet", debug=True)
    ((number, args),) = rec.calls
    assert number == 320
    assert args[1:] == [-1, 6, b"quiet", 0x10 | (5 << 5) | 0x4 | 0x8]
    assert rec.kernel_bytes == b"\x7fELF-extracted"


def test_load_with_a_file_and_an_initrd(backend: SysfsBackend, tmp_path: Path) -> None:
    kernel, initrd = tmp_path / "vmlinux", tmp_path / "initrd.img"
    kernel.write_bytes(b"\x7fELF-file")
    initrd.write_bytes(b"070701")
    rec = _with_recorder(backend)
    backend.load(1, kernel, initrd, "")
    ((_, args),) = rec.calls
    assert args[0] >= 0 and args[1] >= 0 and args[0] != args[1]
    assert args[4] == 0x30  # no NO_INITRAMFS flag
    assert rec.kernel_bytes == b"\x7fELF-file"


def test_lifecycle_calls_and_their_errors(backend: SysfsBackend) -> None:
    rec = _with_recorder(backend)
    backend.start(4)
    backend.halt(4)
    backend.halt(4, force=True)
    backend.unload(4)
    assert [(n, a[2] if n == 169 else a[4]) for n, a in rec.calls] == [
        (169, 0x4D4B4C49),
        (169, 0x4D4B4C48),
        (169, 0x4D4B4C46),
        (320, 0x10 | (4 << 5) | 0x1),
    ]
    _with_recorder(backend, err=errno.EBUSY)
    with pytest.raises(KernelStateError, match="not in state 'loaded'"):
        backend.start(4)


def test_native_syscaller_is_created_only_for_a_system_call(tmp_path: Path) -> None:
    backend = SysfsBackend(_fake_kernel(tmp_path))
    backend.instances()  # reading needs no system call table
    assert backend._syscaller is None
