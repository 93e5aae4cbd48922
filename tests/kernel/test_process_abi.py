"""The system call table follows the process, not only the kernel: a 32-bit kerf under a
64-bit kernel must never issue the 64-bit numbers. Also the real ``syscall`` path itself:
errno and 64-bit results come through the C library unchanged."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path
from typing import Any

import pytest

from kerf.errors import ExitCode
from kerf.kernel import syscalls
from kerf.kernel.errors import KernelCallError, UnsupportedArchitectureError
from kerf.kernel.syscalls import Arch, Syscaller, process_arch
from kerf.kernel.sysfs import SysfsBackend


@pytest.mark.parametrize(
    ("machine", "pointer", "expected"),
    [
        ("x86_64", 8, Arch.X86_64),
        ("aarch64", 8, Arch.AARCH64),
        ("riscv64", 8, Arch.RISCV64),
        ("aarch64", 4, Arch.ARM),  # armhf userland on an arm64 kernel: the compat (ARM EABI) table
        ("armv7l", 4, Arch.ARM),
    ],
)
def test_the_table_of_the_process(machine: str, pointer: int, expected: Arch) -> None:
    assert process_arch(machine, pointer) is expected


@pytest.mark.parametrize(("machine", "pointer"), [("x86_64", 4), ("amd64", 4), ("riscv64", 4), ("armv7l", 8)])
def test_a_process_without_a_known_table_is_refused(machine: str, pointer: int) -> None:
    with pytest.raises(UnsupportedArchitectureError) as err:
        process_arch(machine, pointer)
    assert f"{8 * pointer}-bit process" in err.value.message
    assert err.value.hint is not None and "Python" in err.value.hint
    assert err.value.exit_code == ExitCode.KERNEL


def _fake_process(monkeypatch: pytest.MonkeyPatch, machine: str, pointer: int) -> list[str]:
    """Pretend to be a ``pointer``-byte process under a ``machine`` kernel; record libc opens."""
    opened: list[str] = []
    monkeypatch.setattr("platform.machine", lambda: machine)
    monkeypatch.setattr(syscalls, "pointer_size", lambda: pointer)

    def no_libc() -> Any:
        opened.append("libc")
        raise AssertionError("the C library must not be touched")

    monkeypatch.setattr(syscalls, "_libc", no_libc)
    return opened


def test_native_refuses_a_32_bit_process_on_x86_64(monkeypatch: pytest.MonkeyPatch) -> None:
    opened = _fake_process(monkeypatch, "x86_64", 4)
    with pytest.raises(UnsupportedArchitectureError, match="32-bit process here, but the kernel is x86_64"):
        Syscaller.native()
    assert opened == []


def test_native_uses_the_arm_table_for_a_32_bit_process_on_arm64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    monkeypatch.setattr(syscalls, "pointer_size", lambda: 4)
    native = Syscaller.native()
    assert native.arch is Arch.ARM
    assert (native.numbers.kexec_file_load, native.numbers.reboot, native.numbers.mount) == (401, 88, 21)


def test_mounting_from_a_32_bit_process_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mounts").write_text("sysfs /sys sysfs rw 0 0\n")
    root = tmp_path / "sys" / "fs" / "multikernel"
    backend = SysfsBackend(root, proc=proc)  # the native system call table, not a recorder
    opened = _fake_process(monkeypatch, "x86_64", 4)
    with pytest.raises(UnsupportedArchitectureError):
        backend.ensure_mounted()
    assert not (tmp_path / "sys").exists()  # no mount point was created
    assert opened == []


# --- the real C library's syscall(), with harmless calls ---------------------------------------

CLOSE = {Arch.X86_64: 3, Arch.AARCH64: 57, Arch.RISCV64: 57, Arch.ARM: 6}
LSEEK = {Arch.X86_64: 8, Arch.AARCH64: 62, Arch.RISCV64: 62}  # 32-bit ARM: off_t is 32 bits


def _native() -> Syscaller:
    try:
        return Syscaller.native()
    except UnsupportedArchitectureError:
        pytest.skip("kerf has no system call table for this process")


def test_errno_of_a_failed_call_comes_through_the_native_path() -> None:
    native = _native()
    with pytest.raises(KernelCallError) as err:
        native._invoke("close", CLOSE[native.arch], (ctypes.c_long(-1),), None)
    assert err.value.errno == errno.EBADF
    assert "EBADF" in err.value.message


def test_results_wider_than_an_int_come_through_the_native_path() -> None:
    native = _native()
    if native.arch not in LSEEK:
        pytest.skip(f"lseek on {native.arch} returns a 32-bit offset")
    fd = os.memfd_create("kerf-test", os.MFD_CLOEXEC)
    try:
        offset = 1 << 33  # truncated to 0 if the result were read as a C int
        args = (ctypes.c_long(fd), ctypes.c_long(offset), ctypes.c_long(os.SEEK_SET))
        assert native._invoke("lseek", LSEEK[native.arch], args, None) == offset
    finally:
        os.close(fd)
