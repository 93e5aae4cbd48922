"""The real kernel: ``/sys/fs/multikernel``, ``/proc/iomem``, ``/proc/kimage`` and the
kexec/reboot system calls.

Every path derives from the roots given to :class:`SysfsBackend`, so tests point it at a
temporary directory; :data:`MULTIKERNEL_ROOT` is the only place the real mount point is
named. The filesystem is not automounted by the kernel: :meth:`SysfsBackend.ensure_mounted`
mounts it with mount(2) (source ``none``, type ``multikernel``) when ``/proc/mounts`` does
not list it.

kerf computes every memory size and base it sends in 4 KiB pages (``planner.hardware.
PAGE_SIZE``); the kernel wants them aligned to *its* page size and shifts them by its
PAGE_SHIFT. :func:`check_page_size` refuses a kernel with larger pages (16K/64K arm64)
before anything is written, instead of sending sizes it would reject or truncate.
"""

from __future__ import annotations

import errno as E
import os
from pathlib import Path

from kerf.errors import InputError, KernelError
from kerf.kernel.backend import (
    BASELINE_WRITE_LIMIT,
    LayoutReader,
    Transaction,
    check_overlay_size,
    explain_file_error,
    write_once,
)
from kerf.kernel.image import open_prepared
from kerf.kernel.iomem import Iomem, parse_iomem
from kerf.kernel.kimage import KimageRow, parse_kimage
from kerf.kernel.syscalls import Syscaller
from planner.hardware import PAGE_SIZE

MULTIKERNEL_ROOT = Path("/sys/fs/multikernel")
PROC_ROOT = Path("/proc")
FILESYSTEM_TYPE = "multikernel"


class UnsupportedPageSizeError(KernelError):
    """The kernel's page size is not the 4 KiB kerf aligns memory sizes and bases to."""


def host_page_size() -> int:
    """The running kernel's page size in bytes (``sysconf(_SC_PAGE_SIZE)``)."""
    return os.sysconf("SC_PAGE_SIZE")


def check_page_size(page_size: int | None = None) -> None:
    """Refuse a kernel whose page size (default: this one's) is not kerf's ``PAGE_SIZE``.

    The kernel requires page-aligned sizes and converts ranges with its PAGE_SHIFT, so on a
    16 KiB or 64 KiB kernel a 4 KiB-aligned size gets EINVAL and a 4 KiB-aligned base can be
    silently truncated (reference §2.1, §3.2). Only 4 KiB pages are supported.
    """
    size = host_page_size() if page_size is None else page_size
    if size != PAGE_SIZE:
        raise UnsupportedPageSizeError(
            f"this kernel uses {size}-byte pages, but kerf aligns every memory size and base it "
            f"sends to {PAGE_SIZE}-byte pages; the kernel would reject or truncate them",
            hint=f"run kerf on a kernel built with {PAGE_SIZE // 1024} KiB pages (e.g. arm64 "
            "CONFIG_ARM64_4K_PAGES), or use a simulated host (--root DIR)",
        )


def _unescape_mount_field(field: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as octal (\\040 ...)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def is_mounted(target: Path, mounts_text: str) -> bool:
    """True when ``/proc/mounts`` text lists a multikernel filesystem on ``target``."""
    for line in mounts_text.splitlines():
        fields = line.split()
        if (
            len(fields) >= 3
            and _unescape_mount_field(fields[1]) == str(target)
            and fields[2] == FILESYSTEM_TYPE
        ):
            return True
    return False


class SysfsBackend(LayoutReader):
    """The multikernel kernel of this machine (see :class:`kerf.kernel.backend.KernelBackend`).

    ``syscaller`` defaults to the C library on this machine's architecture and is created
    only when a system call is made, so reading works on any architecture.
    """

    def __init__(
        self,
        root: Path = MULTIKERNEL_ROOT,
        *,
        proc: Path = PROC_ROOT,
        syscaller: Syscaller | None = None,
    ) -> None:
        super().__init__(root)
        self.proc = Path(proc)
        self._syscaller = syscaller

    @property
    def syscaller(self) -> Syscaller:
        """The system call issuer (the native one unless injected)."""
        if self._syscaller is None:
            self._syscaller = Syscaller.native()
        return self._syscaller

    # -- mounting -----------------------------------------------------------------------

    def ensure_mounted(self) -> bool:
        """Mount the multikernel filesystem on ``root`` unless ``/proc/mounts`` lists it.

        Returns True when it mounted it. EPERM (not root) and ENODEV (a kernel without
        multikernel support) become clear errors. The system call table is settled before
        the mount point is created, so a process kerf cannot issue calls from (see
        :func:`kerf.kernel.syscalls.process_arch`) leaves nothing behind.
        """
        try:
            # surrogateescape: mount points are bytes, and str(Path) decodes them the same way
            mounts = (self.proc / "mounts").read_bytes().decode("utf-8", "surrogateescape")
        except OSError as err:
            raise InputError(f"cannot read {self.proc / 'mounts'}: {err.strerror}") from None
        if is_mounted(self.root, mounts):
            return False
        syscaller = self.syscaller
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise explain_file_error(f"mkdir {self.root}", err.errno or E.EIO) from None
        syscaller.mount("none", str(self.root), FILESYSTEM_TYPE)
        return True

    # -- writes -------------------------------------------------------------------------

    def write_baseline(self, blob: bytes) -> None:
        """Write the baseline DTB to ``device_tree`` in one write()."""
        check_page_size()
        if len(blob) > BASELINE_WRITE_LIMIT:
            raise explain_file_error("write device_tree", E.E2BIG)
        write_once(self.root / "device_tree", blob, "write device_tree")

    def write_overlay(self, blob: bytes) -> Transaction:
        """Write one DTBO (at most 4096 bytes) and return the transaction it created."""
        check_page_size()
        check_overlay_size(blob)
        before = self.transaction_ids()
        write_once(self.root / "overlays" / "new", blob, "write overlays/new")
        return self.new_transaction(before)

    def failure_detail(self, tx_id: int) -> str | None:
        """The real kernel logs the reason only to dmesg."""
        return None

    def rollback(self, tx_id: int) -> None:
        """``rmdir overlays/tx_<N>``: the kernel applies the inverse operations."""
        try:
            os.rmdir(self.root / "overlays" / f"tx_{tx_id}")
        except OSError as err:
            raise explain_file_error("rmdir overlays/tx", err.errno or E.EIO) from None

    # -- /proc --------------------------------------------------------------------------

    def iomem(self) -> Iomem:
        """``/proc/iomem`` (addresses are zero unless kerf runs as root)."""
        path = self.proc / "iomem"
        try:
            return parse_iomem(path.read_text(), str(path))
        except OSError as err:
            raise InputError(f"cannot read {path}: {err.strerror}") from None

    def kimage(self) -> list[KimageRow]:
        """``/proc/kimage``; empty when this kernel does not provide the file."""
        path = self.proc / "kimage"
        try:
            # the kernel prints each command line's bytes as they were loaded: not always UTF-8
            return parse_kimage(path.read_bytes().decode("utf-8", "replace"), str(path))
        except FileNotFoundError:
            return []
        except OSError as err:
            raise InputError(f"cannot read {path}: {err.strerror}") from None

    # -- system calls ---------------------------------------------------------------------

    def load(
        self,
        instance_id: int,
        image: bytes | Path,
        initrd: Path | None,
        cmdline: str,
        *,
        debug: bool = False,
    ) -> None:
        """kexec_file_load the prepared image (a memfd when it is bytes) and initrd."""
        with open_prepared(image) as kernel_fd:
            if initrd is None:
                self.syscaller.load(kernel_fd, None, cmdline, instance_id, debug)
                return
            with open_prepared(initrd) as initrd_fd:
                self.syscaller.load(kernel_fd, initrd_fd, cmdline, instance_id, debug)

    def unload(self, instance_id: int) -> None:
        """Drop the instance's loaded image."""
        self.syscaller.unload(instance_id)

    def start(self, instance_id: int) -> None:
        """Start the instance (reboot MKLI)."""
        self.syscaller.start(instance_id)

    def halt(self, instance_id: int, *, force: bool = False) -> None:
        """Stop the instance (reboot MKLH, or MKLF with ``force``)."""
        self.syscaller.halt(instance_id, force=force)
