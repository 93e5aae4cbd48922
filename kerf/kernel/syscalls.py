"""The multikernel system calls: ``kexec_file_load``, ``reboot`` and ``mount``, via ctypes.

Everything goes through one :class:`Syscaller`, which holds the C library's variadic
``syscall`` function and the target architecture. Tests replace that function with a
recorder and assert the exact integer arguments per architecture; nothing else in kerf
is mocked. Arguments are passed as ``c_long``/``c_ulong`` because ``syscall(2)`` reads
every argument as a ``long``: a plain Python int would be passed as a 32-bit C ``int``
and the upper half of the register would be undefined.

The ABI (kernel-interface reference §4): instance ids travel in bits 5-15 of the kexec
flags, so only ids 1..2047 are loadable; ``reboot`` takes the multikernel commands
``MKLI`` (start), ``MKLH`` (graceful halt) and ``MKLF`` (forced halt) with a pointer to
``struct { int mk_id; }``.
"""

from __future__ import annotations

import ctypes
import errno as E
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kerf.errors import UsageError
from kerf.kernel.errors import (
    InvalidInstanceIdError,
    KernelCallError,
    KernelPermissionError,
    KernelStateError,
    NoMultikernelError,
    NoSuchInstanceError,
    UnsupportedArchitectureError,
    strerror,
)

# --- kexec_file_load flags -------------------------------------------------------------

KEXEC_FILE_UNLOAD = 0x1
KEXEC_FILE_ON_CRASH = 0x2
KEXEC_FILE_NO_INITRAMFS = 0x4
KEXEC_FILE_DEBUG = 0x8
KEXEC_MULTIKERNEL = 0x10
KEXEC_MK_ID_SHIFT = 5
KEXEC_MK_ID_MASK = 0xFFE0
MAX_LOADABLE_ID = KEXEC_MK_ID_MASK >> KEXEC_MK_ID_SHIFT  # 2047

# --- reboot(2) magics and multikernel commands -----------------------------------------

LINUX_REBOOT_MAGIC1 = 0xFEE1DEAD
LINUX_REBOOT_MAGIC2 = 672274793  # 0x28121969
LINUX_REBOOT_CMD_MULTIKERNEL = 0x4D4B4C49  # "MKLI": start an instance
LINUX_REBOOT_CMD_MULTIKERNEL_HALT = 0x4D4B4C48  # "MKLH": graceful stop
LINUX_REBOOT_CMD_MULTIKERNEL_HALT_FORCE = 0x4D4B4C46  # "MKLF": forced stop


class Arch(StrEnum):
    """Architectures whose system call numbers kerf knows."""

    X86_64 = "x86_64"
    AARCH64 = "aarch64"
    RISCV64 = "riscv64"
    ARM = "arm"


# uname -m spellings (and Debian/Go names) of each architecture.
_ARCH_ALIASES: Mapping[str, Arch] = {
    "x86_64": Arch.X86_64,
    "amd64": Arch.X86_64,
    "aarch64": Arch.AARCH64,
    "arm64": Arch.AARCH64,
    "riscv64": Arch.RISCV64,
    "arm": Arch.ARM,
    "armv7l": Arch.ARM,
    "armv8l": Arch.ARM,
    "armhf": Arch.ARM,
}


@dataclass(frozen=True)
class SyscallNumbers:
    """The numbers of the calls kerf makes, on one architecture."""

    kexec_file_load: int
    reboot: int
    mount: int


# x86-64 has its own table; arm64 and riscv64 use the generic one; 32-bit ARM its own.
SYSCALL_NUMBERS: Mapping[Arch, SyscallNumbers] = {
    Arch.X86_64: SyscallNumbers(kexec_file_load=320, reboot=169, mount=165),
    Arch.AARCH64: SyscallNumbers(kexec_file_load=294, reboot=142, mount=40),
    Arch.RISCV64: SyscallNumbers(kexec_file_load=294, reboot=142, mount=40),
    Arch.ARM: SyscallNumbers(kexec_file_load=401, reboot=88, mount=21),
}


def normalize_arch(name: str) -> Arch:
    """The :class:`Arch` for a ``uname -m`` style name; a clear error for anything else.

    There is deliberately no default: calling x86-64 numbers on another architecture
    would invoke unrelated system calls.
    """
    arch = _ARCH_ALIASES.get(name.strip().lower())
    if arch is None:
        known = ", ".join(a.value for a in Arch)
        raise UnsupportedArchitectureError(
            f"unsupported architecture {name!r}: kerf knows the multikernel system calls of {known}",
            hint="run kerf on one of those architectures, or use a simulated host (--root DIR or KERF_ROOT)",
        )
    return arch


def check_instance_id(instance_id: int) -> int:
    """``instance_id`` if the kexec flags can carry it (1..2047), else InvalidInstanceIdError."""
    if isinstance(instance_id, bool) or not isinstance(instance_id, int):
        raise InvalidInstanceIdError(f"instance id must be an integer, got {instance_id!r}")
    if not 1 <= instance_id <= MAX_LOADABLE_ID:
        raise InvalidInstanceIdError(
            f"instance id {instance_id} cannot be loaded: kexec carries ids 1..{MAX_LOADABLE_ID} "
            f"in flag bits 5-15",
            hint="id 0 is the host kernel; recreate the instance with an id in 1..2047",
        )
    return instance_id


def kexec_flags(
    instance_id: int, *, unload: bool = False, no_initramfs: bool = False, debug: bool = False
) -> int:
    """The ``flags`` argument of kexec_file_load for a multikernel instance."""
    flags = KEXEC_MULTIKERNEL | ((check_instance_id(instance_id) << KEXEC_MK_ID_SHIFT) & KEXEC_MK_ID_MASK)
    if unload:
        flags |= KEXEC_FILE_UNLOAD
    if no_initramfs:
        flags |= KEXEC_FILE_NO_INITRAMFS
    if debug:
        flags |= KEXEC_FILE_DEBUG
    return flags


class MkId(ctypes.Structure):
    """``struct { int mk_id; }``, the argument of the multikernel reboot commands."""

    _fields_ = [("mk_id", ctypes.c_int)]


# --- errno -> what the kernel meant ------------------------------------------------------

_Explanation = tuple[type[KernelCallError], str, str | None]

_PRIVILEGE = (
    KernelPermissionError,
    "the kernel refused: this needs CAP_SYS_BOOT (run kerf as root), and kexec must not be "
    "disabled (sysctl kernel.kexec_load_disabled) or locked down",
    "run kerf as root",
)

# Per call: errno -> (error class, message, hint). Messages use {id} for the instance id.
_EXPLANATIONS: Mapping[str, Mapping[int, _Explanation]] = {
    "kexec_file_load": {
        E.EPERM: _PRIVILEGE,
        E.ENOENT: (NoSuchInstanceError, "no multikernel instance has id {id}", "see kerf show"),
        E.EBUSY: (
            KernelStateError,
            "instance {id} already has a kernel image loaded, or another kexec operation is in progress",
            "unload the loaded image first (kerf unload), or retry",
        ),
        E.EINVAL: (
            KernelCallError,
            "the kernel rejected the load of instance {id}: illegal flags, a command line the "
            "architecture cannot take (too long), or an image it cannot use",
            "check that the image is an ELF vmlinux (x86) or an Image (arm64/riscv64) for this machine",
        ),
        E.ENOEXEC: (
            KernelCallError,
            "the kernel does not recognise the image format for instance {id}",
            "x86 needs an ELF vmlinux (kerf extracts it from a bzImage); arm64 needs an Image",
        ),
        E.ENOMEM: (
            KernelCallError,
            "instance {id} has not enough memory for the kernel image segments",
            "give the instance more memory (memory-add) or use a smaller kernel/initrd",
        ),
        E.EKEYREJECTED: (
            KernelPermissionError,
            "the kernel enforces kexec image signatures and rejected the image of instance {id}",
            "an image extracted from a bzImage is unsigned; load a signed ELF image instead",
        ),
        E.EBADMSG: (
            KernelPermissionError,
            "the kernel enforces kexec image signatures and found no valid signature for instance {id}",
            "load a signed image",
        ),
        E.ENOSYS: (
            NoMultikernelError,
            "this kernel has no kexec_file_load system call",
            "boot a kernel built with CONFIG_KEXEC_FILE and the multikernel patches",
        ),
    },
    "kexec_file_load(unload)": {
        E.EPERM: _PRIVILEGE,
        E.ENOENT: (
            NoSuchInstanceError,
            "instance {id} has no loaded kernel image (or no such instance exists)",
            "nothing to unload; see kerf show",
        ),
        E.EBUSY: (KernelStateError, "another kexec operation is in progress", "retry"),
        E.EINVAL: (KernelCallError, "the kernel rejected the unload flags for instance {id}", None),
        E.ENOSYS: (NoMultikernelError, "this kernel has no kexec_file_load system call", None),
    },
    "reboot(start)": {
        E.EPERM: _PRIVILEGE,
        E.EBUSY: (
            KernelStateError,
            "instance {id} is not in state 'loaded' (it is running, or kexec is busy)",
            "stop it first (kerf kill) or retry",
        ),
        E.EINVAL: (
            KernelStateError,
            "instance {id} cannot start: no kernel image is loaded, it has no CPUs, or its boot "
            "CPU is unknown to the host (or this kernel has no multikernel reboot commands)",
            "load a kernel (kerf load) and give the instance CPUs",
        ),
        E.ENOENT: (NoSuchInstanceError, "no multikernel instance has id {id}", None),
        E.EFAULT: (KernelCallError, "the kernel could not read the instance id argument", None),
    },
    "reboot(halt)": {
        E.EPERM: _PRIVILEGE,
        E.ENOENT: (NoSuchInstanceError, "no multikernel instance has id {id}", None),
        E.EINVAL: (
            KernelStateError,
            "instance {id} is not running (state is not 'active')",
            "only active instances can be stopped gracefully",
        ),
        E.ETIMEDOUT: (
            KernelCallError,
            "instance {id} did not acknowledge the shutdown request within 30 seconds",
            "stop it with --force",
        ),
    },
    "reboot(force-halt)": {
        E.EPERM: _PRIVILEGE,
        E.ENOENT: (NoSuchInstanceError, "no multikernel instance has id {id}", None),
        E.EINVAL: (
            KernelStateError,
            "instance {id} cannot be force-stopped: it is neither active nor loaded, or has no CPUs",
            None,
        ),
        E.EOPNOTSUPP: (
            KernelCallError,
            "this architecture cannot force-stop an instance (not implemented on riscv64)",
            "stop it gracefully, or reboot the host",
        ),
    },
    "mount": {
        E.EPERM: (
            KernelPermissionError,
            "mounting the multikernel filesystem needs CAP_SYS_ADMIN",
            "run kerf as root",
        ),
        E.ENODEV: (
            NoMultikernelError,
            "this kernel has no multikernel support (filesystem type 'multikernel' is unknown)",
            "boot a kernel with the multikernel patches",
        ),
        E.ENOENT: (KernelCallError, "the mount point does not exist", None),
        E.EBUSY: (KernelStateError, "the multikernel filesystem is already mounted there", None),
    },
}


def explain(
    call: str, code: int, instance_id: int | None = None, detail: str | None = None
) -> KernelCallError:
    """The error to raise when ``call`` failed with errno ``code``.

    ``detail`` (the simulated host knows the exact reason) replaces the generic message.
    """
    found = _EXPLANATIONS.get(call, {}).get(code)
    if found is None:
        what = f" for instance {instance_id}" if instance_id is not None else ""
        return KernelCallError(detail or f"{call} failed{what}: {strerror(code)}", errno=code, call=call)
    cls, message, hint = found
    return cls(detail or message.format(id=instance_id), errno=code, call=call, hint=hint)


# --- the caller ---------------------------------------------------------------------------

SyscallFunction = Callable[..., int]


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


class Syscaller:
    """Issues the multikernel system calls on one architecture through ``syscall``.

    ``syscall`` is the C library's variadic ``syscall`` (or a test's recorder: it is called
    as ``syscall(c_long(number), *ctypes_args)`` and returns the raw result, -1 on error);
    ``get_errno`` reads the errno of the last failure.
    """

    def __init__(
        self,
        syscall: SyscallFunction,
        arch: str | Arch,
        *,
        get_errno: Callable[[], int] = ctypes.get_errno,
    ) -> None:
        self.arch = arch if isinstance(arch, Arch) else normalize_arch(arch)
        self.numbers = SYSCALL_NUMBERS[self.arch]
        self._syscall = syscall
        self._get_errno = get_errno

    @classmethod
    def native(cls) -> Syscaller:
        """The real C library ``syscall`` on this machine's architecture."""
        arch = normalize_arch(platform.machine())
        libc = _libc()
        function = libc.syscall
        function.restype = ctypes.c_long
        return cls(function, arch)

    def _invoke(self, call: str, number: int, args: tuple[Any, ...], instance_id: int | None) -> int:
        result = int(self._syscall(ctypes.c_long(number), *args))
        if result == -1:
            raise explain(call, self._get_errno(), instance_id)
        return result

    def load(
        self,
        kernel_fd: int,
        initrd_fd: int | None,
        cmdline: str,
        instance_id: int,
        debug: bool = False,
    ) -> None:
        """``kexec_file_load`` an image into instance ``instance_id`` (state ready -> loaded).

        ``cmdline`` is passed with its trailing NUL (cmdline_len counts it). Without an
        initrd, ``initrd_fd`` is -1 and KEXEC_FILE_NO_INITRAMFS is set.
        """
        if "\0" in cmdline:
            raise UsageError("the kernel command line must not contain NUL characters")
        flags = kexec_flags(instance_id, no_initramfs=initrd_fd is None, debug=debug)
        raw = cmdline.encode("utf-8") + b"\0"
        args = (
            ctypes.c_long(kernel_fd),
            ctypes.c_long(-1 if initrd_fd is None else initrd_fd),
            ctypes.c_ulong(len(raw)),
            ctypes.c_char_p(raw),
            ctypes.c_ulong(flags),
        )
        self._invoke("kexec_file_load", self.numbers.kexec_file_load, args, instance_id)

    def unload(self, instance_id: int) -> None:
        """Drop the loaded image of an instance: ``(-1, -1, 0, NULL, UNLOAD|MULTIKERNEL|id)``."""
        flags = kexec_flags(instance_id, unload=True)
        args = (
            ctypes.c_long(-1),
            ctypes.c_long(-1),
            ctypes.c_ulong(0),
            ctypes.c_char_p(None),
            ctypes.c_ulong(flags),
        )
        self._invoke("kexec_file_load(unload)", self.numbers.kexec_file_load, args, instance_id)

    def _reboot(self, call: str, command: int, instance_id: int) -> None:
        check_instance_id(instance_id)
        arg = MkId(instance_id)
        args = (
            ctypes.c_long(LINUX_REBOOT_MAGIC1),
            ctypes.c_long(LINUX_REBOOT_MAGIC2),
            ctypes.c_long(command),
            ctypes.pointer(arg),
        )
        self._invoke(call, self.numbers.reboot, args, instance_id)

    def start(self, instance_id: int) -> None:
        """Start a loaded instance (reboot ``MKLI``; state loaded -> active)."""
        self._reboot("reboot(start)", LINUX_REBOOT_CMD_MULTIKERNEL, instance_id)

    def halt(self, instance_id: int, *, force: bool = False) -> None:
        """Stop a running instance: graceful ``MKLH`` (waits for the ack) or forced ``MKLF``."""
        if force:
            self._reboot("reboot(force-halt)", LINUX_REBOOT_CMD_MULTIKERNEL_HALT_FORCE, instance_id)
        else:
            self._reboot("reboot(halt)", LINUX_REBOOT_CMD_MULTIKERNEL_HALT, instance_id)

    def mount(self, source: str, target: str, fstype: str, flags: int = 0) -> None:
        """``mount(source, target, fstype, flags, NULL)``."""
        args = (
            ctypes.c_char_p(source.encode()),
            ctypes.c_char_p(target.encode()),
            ctypes.c_char_p(fstype.encode()),
            ctypes.c_ulong(flags),
            ctypes.c_char_p(None),
        )
        self._invoke("mount", self.numbers.mount, args, None)
