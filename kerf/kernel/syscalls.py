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

The system call table is the *process's*, not the kernel's: ``uname -m`` names the
kernel, and a 32-bit process under a 64-bit kernel (an i386 or armhf userland) enters the
kernel through the 32-bit table, where the 64-bit numbers are unrelated calls (x86-64
mount 165 is i386 ``getresuid``). :func:`process_arch` decides from both.
"""

from __future__ import annotations

import ctypes
import errno as E
import os
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
# The 32-bit ARM numbers are also those of a 32-bit process on an arm64 kernel: arm64's
# compat entry uses the ARM EABI table (kexec_file_load 401 and reboot 88 are the ones
# the reference gives for 32-bit ARM).
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


def kernel_arch() -> Arch:
    """The running kernel's architecture (``uname -m``): the one instance images are for."""
    return normalize_arch(platform.machine())


def pointer_size() -> int:
    """Bytes in a pointer of this process (8 for a 64-bit Python, 4 for a 32-bit one)."""
    return ctypes.sizeof(ctypes.c_void_p)


def process_arch(machine: str | None = None, pointer_bytes: int | None = None) -> Arch:
    """The system call table this process uses: the kernel's ``machine`` (default
    ``uname -m``) combined with the process's pointer size (default this process's).

    A 64-bit process uses the kernel's own table. A 32-bit process on an arm64 kernel uses
    the 32-bit ARM numbers (the compat table, which the reference lists). A 32-bit process
    on an x86-64 or riscv64 kernel is refused: the reference gives no i386 or rv32 number
    for kexec_file_load (i386 has none at all), and issuing the 64-bit numbers there would
    call unrelated system calls. Raises UnsupportedArchitectureError before any call.
    """
    kernel = normalize_arch(platform.machine() if machine is None else machine)
    width = pointer_size() if pointer_bytes is None else pointer_bytes
    if kernel is Arch.ARM:
        if width == 4:
            return Arch.ARM
    elif width == 8:
        return kernel
    elif width == 4 and kernel is Arch.AARCH64:
        return Arch.ARM
    bits = 8 * width
    raise UnsupportedArchitectureError(
        f"kerf runs as a {bits}-bit process here, but the kernel is {kernel}: kerf knows no "
        f"{bits}-bit numbers for the multikernel system calls on it, and the {kernel} numbers "
        "would call unrelated system calls",
        hint=f"run kerf with a 64-bit Python on this {kernel} host"
        if kernel is not Arch.ARM
        else "run kerf with a 32-bit Python on this 32-bit ARM host",
    )


def check_force_halt(arch: Arch, name: str = "NAME") -> None:
    """Refuse a forced stop on an architecture whose kernel cannot do one.

    On riscv64 the multikernel kernel implements no forced stop: registering it fails
    with EOPNOTSUPP and the per-CPU stop only warns (reference §4.4), so a successful
    return would not mean the spawn's CPUs stopped, and a following unload would free an
    image that is still running. The refusal comes before any system call.
    """
    if arch is Arch.RISCV64:
        raise UsageError(
            "kerf kill --force is not available on riscv64: the multikernel kernel implements no "
            "forced stop there (its per-CPU stop only warns), so the instance could keep running "
            "while the call reports success",
            hint=f"stop it gracefully: kerf kill {name} (without --force); if it does not answer, "
            "kerf has no way to stop it on riscv64",
        )


def encode_cmdline(cmdline: str) -> bytes:
    """The kernel command line as the bytes kexec_file_load takes, without the trailing NUL.

    ``os.fsencode`` gives back the exact bytes of a command-line argument that Python
    decoded with surrogateescape (argv bytes that are not UTF-8), as the kernel expects
    them. A NUL would end the string early in the kernel, so it is a usage error. The
    kernel's COMMAND_LINE_SIZE is not checked here: it is per architecture and the
    reference does not give it; the kernel refuses a longer line with EINVAL.
    """
    try:
        raw = os.fsencode(cmdline)
    except UnicodeEncodeError as err:
        raise UsageError(
            f"the kernel command line cannot be encoded as bytes: {err.reason} at position {err.start}",
            hint="pass the command line as plain text",
        ) from None
    nul = raw.find(0)
    if nul >= 0:
        raise UsageError(
            f"the kernel command line must not contain NUL characters (one at byte {nul})",
            hint="the kernel reads the command line as one NUL-terminated string",
        )
    # Other control characters (a newline, ESC) have no meaning to the kernel's parser
    # beyond whitespace, but /proc/kimage prints the line raw: a newline forges a row
    # there, an ESC sequence reaches whoever reads it on a terminal.
    control = next((i for i, b in enumerate(raw) if b < 0x20 or b == 0x7F), None)
    if control is not None:
        raise UsageError(
            f"the kernel command line must not contain control characters "
            f"({raw[control]:#04x} at byte {control})",
            hint="separate kernel parameters with spaces",
        )
    return raw


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
            "stop it first (kerf kill NAME; kerf kill --force NAME if it does not answer), or retry",
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
        """The real C library ``syscall`` with the system call table of this process.

        The table follows the process's ABI (see :func:`process_arch`); a process kerf has no
        numbers for is refused here, before any system call or other side effect.
        """
        arch = process_arch()
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
        raw = encode_cmdline(cmdline) + b"\0"
        flags = kexec_flags(instance_id, no_initramfs=initrd_fd is None, debug=debug)
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
        """Stop a running instance: graceful ``MKLH`` (waits for the ack) or forced ``MKLF``.

        A forced stop is refused on riscv64 before the call (see :func:`check_force_halt`).
        """
        if force:
            check_force_halt(self.arch)
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
