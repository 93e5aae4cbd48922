"""The system-call boundary: exact integer arguments per architecture, errno translation.

The C library's ``syscall`` is replaced by a recorder (the injection point of
:class:`Syscaller`); kerf's own logic runs unchanged and no real system call is issued.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import sys
from typing import Any

import pytest

from kerf.errors import ExitCode, KerfError, PermissionDeniedError, StateError, UsageError
from kerf.kernel.errors import (
    InvalidInstanceIdError,
    KernelCallError,
    KernelPermissionError,
    KernelStateError,
    NoMultikernelError,
    NoSuchInstanceError,
    UnsupportedArchitectureError,
)
from kerf.kernel.syscalls import Arch, Syscaller, kexec_flags, normalize_arch

NUMBERS = {  # arch: (kexec_file_load, reboot, mount)
    "x86_64": (320, 169, 165),
    "aarch64": (294, 142, 40),
    "riscv64": (294, 142, 40),
    "arm": (401, 88, 21),
}
MAGIC1, MAGIC2 = 0xFEE1DEAD, 672274793
MKLI, MKLH, MKLF = 0x4D4B4C49, 0x4D4B4C48, 0x4D4B4C46


def _decode(arg: Any) -> Any:
    """A ctypes argument as the plain value the kernel would see."""
    if isinstance(arg, ctypes.c_char_p):
        return arg.value  # bytes, or None for NULL
    if isinstance(arg, ctypes.c_long | ctypes.c_ulong):
        return arg.value
    if hasattr(arg, "contents"):  # pointer to struct { int mk_id; }
        raw = bytes(arg.contents)
        assert len(raw) == 4, "the reboot argument is a 4-byte struct"
        return ("mk_id", int.from_bytes(raw, sys.byteorder, signed=True))
    raise AssertionError(f"unexpected argument type {type(arg)!r}")


class Recorder:
    """Stands in for libc's syscall(): records decoded arguments, returns a fixed result."""

    def __init__(self, result: int = 0, err: int = 0) -> None:
        self.calls: list[tuple[int, tuple[Any, ...]]] = []
        self.result = result
        self.err = err

    def __call__(self, number: Any, *args: Any) -> int:
        assert isinstance(number, ctypes.c_long), "the syscall number must be passed as a long"
        self.calls.append((number.value, tuple(_decode(a) for a in args)))
        return self.result

    def errno(self) -> int:
        return self.err


def _syscaller(arch: str, result: int = 0, err: int = 0) -> tuple[Syscaller, Recorder]:
    rec = Recorder(result, err)
    return Syscaller(rec, arch, get_errno=rec.errno), rec


@pytest.mark.parametrize("arch", sorted(NUMBERS))
def test_load_without_initrd_passes_exact_arguments(arch: str) -> None:
    sc, rec = _syscaller(arch)
    sc.load(7, None, "console=ttyS0 quiet", 1)
    # flags: MULTIKERNEL 0x10 | id 1 << 5 | NO_INITRAMFS 0x4 = 0x34; length counts the NUL
    assert rec.calls == [(NUMBERS[arch][0], (7, -1, 20, b"console=ttyS0 quiet", 0x34))]


@pytest.mark.parametrize("arch", sorted(NUMBERS))
def test_load_with_initrd_and_debug(arch: str) -> None:
    sc, rec = _syscaller(arch)
    sc.load(5, 6, "", 3, debug=True)
    assert rec.calls == [(NUMBERS[arch][0], (5, 6, 1, b"", 0x10 | (3 << 5) | 0x8))]


@pytest.mark.parametrize("arch", sorted(NUMBERS))
def test_unload_passes_minus_one_fds_and_null_cmdline(arch: str) -> None:
    sc, rec = _syscaller(arch)
    sc.unload(1)
    assert rec.calls == [(NUMBERS[arch][0], (-1, -1, 0, None, 0x31))]


REBOOT_CASES = [
    (arch, method, kwargs, command)
    for arch in sorted(NUMBERS)
    for method, kwargs, command in (("start", {}, MKLI), ("halt", {}, MKLH), ("halt", {"force": True}, MKLF))
    if not (arch == "riscv64" and command == MKLF)  # refused before the call: see the riscv64 test
]


@pytest.mark.parametrize(("arch", "method", "kwargs", "command"), REBOOT_CASES)
def test_reboot_commands_carry_magics_and_id_struct(
    arch: str, method: str, kwargs: dict[str, bool], command: int
) -> None:
    sc, rec = _syscaller(arch)
    getattr(sc, method)(42, **kwargs)
    assert rec.calls == [(NUMBERS[arch][1], (MAGIC1, MAGIC2, command, ("mk_id", 42)))]


@pytest.mark.parametrize("arch", sorted(NUMBERS))
def test_mount_passes_strings_and_null_data(arch: str) -> None:
    sc, rec = _syscaller(arch)
    sc.mount("none", "/sys/fs/multikernel", "multikernel")
    assert rec.calls == [(NUMBERS[arch][2], (b"none", b"/sys/fs/multikernel", b"multikernel", 0, None))]


def test_largest_id_fills_all_eleven_bits() -> None:
    sc, rec = _syscaller("x86_64")
    sc.unload(2047)
    assert rec.calls[0][1][4] == 0xFFE0 | 0x10 | 0x1


@pytest.mark.parametrize("bad", [0, -1, 2048, 1 << 20, True])
@pytest.mark.parametrize("method", ["load", "unload", "start", "halt"])
def test_ids_outside_1_to_2047_are_rejected_before_any_syscall(bad: int, method: str) -> None:
    sc, rec = _syscaller("x86_64")
    with pytest.raises(InvalidInstanceIdError) as err:
        if method == "load":
            sc.load(3, None, "", bad)
        else:
            getattr(sc, method)(bad)
    assert rec.calls == []
    assert err.value.exit_code == ExitCode.USAGE
    assert "1..2047" in err.value.message or "integer" in err.value.message


def test_cmdline_with_nul_is_a_usage_error() -> None:
    sc, rec = _syscaller("x86_64")
    with pytest.raises(UsageError, match="NUL"):
        sc.load(3, None, "a\0b", 1)
    assert rec.calls == []


def test_kexec_flags_examples_from_the_abi() -> None:
    assert kexec_flags(1, no_initramfs=True) == 0x34
    assert kexec_flags(3, no_initramfs=True) == 0x74
    assert kexec_flags(1, unload=True) == 0x31


@pytest.mark.parametrize("name", ["sparc64", "i386", "ppc64le", "mips", ""])
def test_unknown_architecture_is_a_clear_error(name: str) -> None:
    with pytest.raises(UnsupportedArchitectureError, match="unsupported architecture") as err:
        Syscaller(Recorder(), name)
    assert "x86_64" in err.value.message and err.value.hint


@pytest.mark.parametrize(
    ("alias", "arch"),
    [("amd64", Arch.X86_64), ("arm64", Arch.AARCH64), ("AArch64", Arch.AARCH64), ("armv7l", Arch.ARM)],
)
def test_architecture_aliases(alias: str, arch: Arch) -> None:
    assert normalize_arch(alias) is arch


def test_native_syscaller_uses_this_machines_architecture() -> None:
    try:
        expected = normalize_arch(platform.machine())
    except UnsupportedArchitectureError:
        pytest.skip("this machine's architecture has no multikernel syscall table")
    assert Syscaller.native().arch is expected


# --- errno translation: what the kernel meant ----------------------------------------------

# error class, generic base class it must also be, exit code
PERM = (KernelPermissionError, PermissionDeniedError, ExitCode.PERMISSION)
STATE = (KernelStateError, StateError, ExitCode.STATE)
NOENT = (NoSuchInstanceError, KernelCallError, ExitCode.KERNEL)
OTHER = (KernelCallError, KernelCallError, ExitCode.KERNEL)
NOMK = (NoMultikernelError, KernelCallError, ExitCode.KERNEL)

ERRORS = [
    # (call, errno, kind, words the message must contain)
    ("load", errno.EPERM, PERM, "CAP_SYS_BOOT"),
    ("load", errno.ENOENT, NOENT, "no multikernel instance has id 9"),
    ("load", errno.EBUSY, STATE, "instance 9 already has a kernel image"),
    ("load", errno.EINVAL, OTHER, "rejected the load"),
    ("load", errno.ENOMEM, OTHER, "not enough memory"),
    ("load", errno.EKEYREJECTED, PERM, "signature"),
    ("load", errno.ENOSYS, NOMK, "no kexec_file_load"),
    ("unload", errno.ENOENT, NOENT, "instance 9 has no loaded kernel image"),
    ("unload", errno.EPERM, PERM, "root"),
    ("start", errno.EBUSY, STATE, "not in state 'loaded'"),
    ("start", errno.EINVAL, STATE, "no kernel image is loaded"),
    ("halt", errno.EINVAL, STATE, "not running"),
    ("halt", errno.ENOENT, NOENT, "no multikernel instance"),
    ("halt", errno.ETIMEDOUT, OTHER, "30 seconds"),
    ("force", errno.EOPNOTSUPP, OTHER, "riscv64"),
    ("force", errno.EINVAL, STATE, "neither active nor loaded"),
    ("mount", errno.EPERM, PERM, "CAP_SYS_ADMIN"),
    ("mount", errno.ENODEV, NOMK, "no multikernel support"),
    ("start", errno.EIO, OTHER, "Input/output error"),
]


def _issue(sc: Syscaller, call: str) -> None:
    if call == "load":
        sc.load(3, None, "", 9)
    elif call == "unload":
        sc.unload(9)
    elif call == "start":
        sc.start(9)
    elif call == "halt":
        sc.halt(9)
    elif call == "force":
        sc.halt(9, force=True)
    else:
        sc.mount("none", "/mnt", "multikernel")


@pytest.mark.parametrize(("call", "code", "kind", "words"), ERRORS)
def test_errno_becomes_an_error_that_says_what_the_kernel_meant(
    call: str, code: int, kind: tuple[type[KerfError], type[KerfError], ExitCode], words: str
) -> None:
    cls, base, exit_code = kind
    sc, _ = _syscaller("x86_64", result=-1, err=code)
    with pytest.raises(cls) as err:
        _issue(sc, call)
    e = err.value
    assert isinstance(e, base)
    assert type(e) is cls
    assert e.exit_code == exit_code
    assert words in e.message
    assert errno.errorcode[code] in e.message  # the raw code is shown too
    assert isinstance(e, KernelCallError) and e.errno == code


def test_positive_results_are_success() -> None:
    sc, rec = _syscaller("x86_64", result=0, err=errno.EPERM)
    sc.start(1)  # errno is only read when the result is -1
    assert len(rec.calls) == 1


def test_riscv64_force_stop_is_refused_before_the_call() -> None:
    # The kernel has no forced stop on riscv64 (its per-CPU stop only warns): a 0 from the
    # call would not mean the spawn stopped, so kerf never issues it.
    sc, rec = _syscaller("riscv64")  # the recorder would report success
    with pytest.raises(UsageError, match="not available on riscv64") as err:
        sc.halt(7, force=True)
    assert rec.calls == []
    assert err.value.hint is not None and "kerf kill" in err.value.hint
    sc.halt(7)  # the graceful stop is issued as usual
    assert rec.calls == [(142, (MAGIC1, MAGIC2, MKLH, ("mk_id", 7)))]
