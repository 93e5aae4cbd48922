"""One interface to the multikernel kernel: the real one (:mod:`kerf.kernel.sysfs`) or the
simulated host (:mod:`kerf.kernel.sim`).

Both backends expose the kernel's filesystem layout under a root directory
(kernel-interface reference §1.2)::

    device_tree                       baseline write / pool tree read (binary DTB)
    instances/<name>/{id,status,device_tree}
    overlays/new                      write one DTBO (<= 4096 bytes) here
    overlays/tx_<N>/{id,status,instance,resources,dtbo}

so everything that only *reads* is shared here (:class:`LayoutReader`); the backends
differ in how writes, rollbacks and the lifecycle system calls reach the kernel.

Callers (the lifecycle commands) hold kerf's lock around :meth:`KernelBackend.write_overlay`:
the kernel does not return the transaction id, so the backend finds it by comparing the
``tx_*`` directories before and after the write.
"""

from __future__ import annotations

import errno as E
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from kerf.errors import InputError, KernelError
from kerf.kernel.errors import (
    KernelCallError,
    KernelPermissionError,
    KernelStateError,
    NoMultikernelError,
    NoSuchInstanceError,
    errno_name,
    strerror,
)
from kerf.kernel.iomem import Iomem
from kerf.kernel.kimage import KimageRow

# kernfs hands overlays/new at most one page per write(); a larger DTBO is truncated and
# its continuation write fails with EINVAL (reference §1.5). 4096 is the page size of
# x86-64 and the smallest of any supported architecture.
OVERLAY_WRITE_LIMIT = 4096
# device_tree takes up to 1 MiB in one write (atomic_write_len); larger writes get E2BIG.
BASELINE_WRITE_LIMIT = 1 << 20


class TxStatus(StrEnum):
    """``overlays/tx_<N>/status``."""

    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"
    REMOVED = "removed"
    UNKNOWN = "unknown"


class InstanceStatus(StrEnum):
    """``instances/<name>/status``: the lifecycle states of an instance (reference §8)."""

    EMPTY = "empty"
    READY = "ready"
    LOADED = "loaded"
    ACTIVE = "active"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Transaction:
    """One overlay transaction as ``overlays/tx_<N>/`` shows it."""

    id: int
    status: TxStatus
    instance: str  # target-path of the first fragment, or "unknown"
    resources: str  # the root property mk,resources, or "unknown"

    @property
    def applied(self) -> bool:
        """True when the kernel applied every operation."""
        return self.status is TxStatus.APPLIED


@dataclass(frozen=True)
class InstanceInfo:
    """An instance as ``instances/<name>/`` shows it."""

    name: str
    id: int
    status: InstanceStatus


@runtime_checkable
class KernelBackend(Protocol):
    """What the lifecycle commands need from a multikernel kernel (real or simulated).

    Device trees travel as DTB bytes; decode them with :func:`kerf.dts.from_dtb`.
    Errors are :class:`kerf.kernel.errors.KernelCallError` subclasses carrying the errno.
    """

    root: Path

    def read_device_tree(self) -> bytes:
        """The pool tree (``device_tree`` read): cpus, cpus-available, memory@<base> chunks."""
        ...

    def write_baseline(self, blob: bytes) -> None:
        """Apply a baseline DTB (``device_tree`` write, once per empty pool)."""
        ...

    def write_overlay(self, blob: bytes) -> Transaction:
        """Write one DTBO to ``overlays/new`` and return the transaction it created.

        The write succeeds even when the kernel failed to apply the overlay: check
        ``Transaction.status``. The caller must hold kerf's lock.
        """
        ...

    def transactions(self) -> list[Transaction]:
        """Every transaction directory, by ascending id."""
        ...

    def transaction(self, tx_id: int) -> Transaction:
        """One transaction (NoSuchTransactionError when its directory is gone)."""
        ...

    def read_transaction_blob(self, tx_id: int) -> bytes:
        """The DTBO of a transaction, byte for byte as written."""
        ...

    def failure_detail(self, tx_id: int) -> str | None:
        """Why a transaction failed, when the backend can tell (the simulated host can;
        the real kernel only logs it to dmesg, so the real backend returns None)."""
        ...

    def rollback(self, tx_id: int) -> None:
        """Undo a transaction (``rmdir overlays/tx_<N>``); on failure it stays, ``failed``."""
        ...

    def instances(self) -> list[InstanceInfo]:
        """Every instance with its id and status, by ascending id."""
        ...

    def instance(self, name: str) -> InstanceInfo:
        """One instance by name (NoSuchInstanceError when absent)."""
        ...

    def read_instance_tree(self, name: str) -> bytes:
        """``instances/<name>/device_tree``: the instance's resources as a DTB."""
        ...

    def iomem(self) -> Iomem:
        """The physical memory map with the pool chunks and instance regions."""
        ...

    def kimage(self) -> list[KimageRow]:
        """The loaded kexec images."""
        ...

    def load(
        self,
        instance_id: int,
        image: bytes | Path,
        initrd: Path | None,
        cmdline: str,
        *,
        debug: bool = False,
    ) -> None:
        """Load a prepared kernel image (see :func:`kerf.kernel.image.prepare_image`)."""
        ...

    def unload(self, instance_id: int) -> None:
        """Drop the loaded image (state loaded -> ready)."""
        ...

    def start(self, instance_id: int) -> None:
        """Boot the loaded image on the instance's CPUs (loaded -> active)."""
        ...

    def halt(self, instance_id: int, *, force: bool = False) -> None:
        """Stop a running instance (active -> loaded); ``force`` also rescues a loaded one."""
        ...


class NoSuchTransactionError(KernelCallError):
    """The transaction directory does not exist (never created, or rolled back)."""


class RollbackRefusedError(KernelCallError):
    """``rmdir overlays/tx_<N>`` failed with ENOENT because an inverse operation found
    nothing to undo: the transaction stays, ``failed`` (reference §1.7). Raised by
    ``KernelBackend.rollback`` itself it may also mean that the transaction is gone;
    :func:`roll_back_transaction` tells the two apart."""


# --- errno of file operations -> what the kernel meant --------------------------------------

_FileExplanation = tuple[type[KernelCallError], str, str | None]

_ROLLBACK_ENOENT = (
    "the kernel found nothing to undo for an operation of the transaction (one that never "
    "ran, or whose result is gone), or the transaction no longer exists"
)
_ROLLBACK_ENOENT_HINT = (
    "a transaction the kernel refused changed nothing and needs no rollback; "
    "see dmesg for the operation the kernel could not undo"
)

_FILE_EXPLANATIONS: Mapping[str, Mapping[int, _FileExplanation]] = {
    "write device_tree": {
        E.EBUSY: (
            KernelStateError,
            "the pool already has a baseline (the kernel applies one exactly once)",
            "change the pool with an overlay targeting /resources, or empty the pool completely first",
        ),
        E.EINVAL: (
            KernelCallError,
            "the kernel rejected the baseline: not one complete DTB, an /instances node with "
            "children, no /resources, invalid cpus, memory@ nodes with a bad size or numa-node-id "
            "(or none at all, or the legacy memory-base/memory-bytes), or a PCI device lacking "
            "pci-id/vendor-id/device-id",
            "see dmesg for the kernel's exact complaint",
        ),
        E.ENODEV: (
            KernelCallError,
            "a CPU id in /resources/cpus maps to no present logical CPU",
            "CPU ids are physical ids (APIC ids on x86, MPIDR on arm64, hartids on riscv64)",
        ),
        E.ENOMEM: (
            KernelCallError,
            "the kernel could not allocate a contiguous pool chunk of the requested size",
            "request smaller memory@ chunks or fewer bytes per NUMA node",
        ),
        E.E2BIG: (
            KernelCallError,
            "the baseline is too large (over 1 MiB in one write) or has more memory@ nodes than NUMA nodes",
            None,
        ),
    },
    "write overlays/new": {
        E.EINVAL: (
            KernelCallError,
            "the kernel rejected the overlay blob: not a valid DTB, empty, or larger than one page",
            "keep every overlay within 4096 bytes; split large changes into several transactions",
        ),
        E.EFBIG: (KernelCallError, "the overlay blob is larger than 1 MiB", None),
        E.ENOMEM: (KernelCallError, "the kernel ran out of memory for the overlay", None),
    },
    "rmdir overlays/tx": {
        # The kernel answers ENOENT both for a transaction that is gone and for an inverse
        # operation that found nothing to undo; only the directory tells which
        # (roll_back_transaction looks).
        E.ENOENT: (
            RollbackRefusedError,
            _ROLLBACK_ENOENT,
            _ROLLBACK_ENOENT_HINT,
        ),
        E.EBUSY: (
            KernelStateError,
            "the rollback could not undo an operation: an instance it would destroy is loaded "
            "or active, or resources it would take back are in use; the transaction is kept",
            "stop and unload the instance (kerf kill, kerf unload) or free the resources, then retry",
        ),
        E.EPERM: (
            KernelPermissionError,
            "only overlays/tx_<N> directories can be removed, and only by root",
            "run kerf as root",
        ),
    },
}


def explain_file_error(operation: str, code: int, detail: str | None = None) -> KernelCallError:
    """The error for a failed file operation on the multikernel filesystem.

    ``detail`` (the simulated host knows the exact reason) replaces the generic message.
    """
    if code in (E.EACCES, E.EPERM, E.EROFS) and operation != "rmdir overlays/tx":
        return KernelPermissionError(
            detail or f"{operation}: permission denied (the multikernel filesystem is root-only)",
            errno=code,
            call=operation,
            hint="run kerf as root",
        )
    found = _FILE_EXPLANATIONS.get(operation, {}).get(code)
    if found is None:
        return KernelCallError(detail or f"{operation} failed: {strerror(code)}", errno=code, call=operation)
    cls, message, hint = found
    return cls(detail or message, errno=code, call=operation, hint=hint)


def roll_back_transaction(backend: KernelBackend, tx_id: int) -> None:
    """Roll back one transaction (``rmdir overlays/tx_<N>``) through ``backend``.

    ENOENT from rmdir is ambiguous: the transaction is gone, or the kernel's replay of the
    blob met an inverse operation with nothing to undo (reference §1.7). The directory
    decides: NoSuchTransactionError ("already rolled back") only when ``overlays/tx_<N>``
    no longer exists; otherwise RollbackRefusedError, the rollback the kernel refused
    (the transaction stays, ``failed``; a retry replays the whole blob again).
    """
    try:
        backend.rollback(tx_id)
    except KernelCallError as err:
        if err.errno != E.ENOENT:
            raise
        try:
            status = backend.transaction(tx_id).status
        except NoSuchTransactionError:
            raise NoSuchTransactionError(
                f"overlays/tx_{tx_id} no longer exists (already rolled back)",
                errno=E.ENOENT,
                call=err.call,
            ) from None
        reason = err.message.removesuffix(f" ({err.call}: {errno_name(err.errno)})")
        if reason == _ROLLBACK_ENOENT:
            reason = f"the kernel found nothing to undo for an operation of tx_{tx_id}"
        raise RollbackRefusedError(
            f"{reason}; overlays/tx_{tx_id} stays with status {status}",
            errno=E.ENOENT,
            call=err.call,
            hint=_ROLLBACK_ENOENT_HINT,
        ) from None


# --- reading the layout -----------------------------------------------------------------------

_TX_DIR = re.compile(r"^tx_(\d+)$")


class LayoutReader:
    """Reads the multikernel filesystem layout under ``root`` (shared by both backends)."""

    root: Path

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- helpers --------------------------------------------------------------------

    def _missing(self, what: Path) -> KernelError:
        return NoMultikernelError(
            f"{what} does not exist: the multikernel filesystem is not mounted at {self.root}",
            errno=E.ENOENT,
            call=f"read {what}",
            hint="kerf mounts it on first use as root (mount -t multikernel none <root>)",
        )

    def _read_bytes(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            if not self.root.is_dir():
                raise self._missing(self.root) from None
            raise
        except PermissionError as err:
            raise explain_file_error(f"read {path.name}", err.errno or E.EACCES) from None

    def _read_text(self, path: Path) -> str:
        return self._read_bytes(path).decode("utf-8", "replace").strip()

    def _read_int(self, path: Path) -> int:
        text = self._read_text(path)
        try:
            return int(text)
        except ValueError:
            raise InputError(f"{path}: expected a decimal number, found {text!r}") from None

    # -- root and instances -------------------------------------------------------------

    def read_device_tree(self) -> bytes:
        """The root ``device_tree`` (the pool tree)."""
        path = self.root / "device_tree"
        try:
            return self._read_bytes(path)
        except FileNotFoundError:
            raise self._missing(path) from None

    def _instance_dir(self, name: str) -> Path:
        if not name or "/" in name or name in (".", ".."):
            raise NoSuchInstanceError(
                f"{name!r} is not a valid instance name", errno=E.EINVAL, call="read instances"
            )
        return self.root / "instances" / name

    def instance(self, name: str) -> InstanceInfo:
        """One instance; NoSuchInstanceError when it does not exist."""
        folder = self._instance_dir(name)
        try:
            ident = self._read_int(folder / "id")
            status = _status(self._read_text(folder / "status"), InstanceStatus)
        except FileNotFoundError:
            raise NoSuchInstanceError(
                f"no instance named {name!r}", errno=E.ENOENT, call="read instances", hint="see kerf show"
            ) from None
        return InstanceInfo(name, ident, status)

    def instances(self) -> list[InstanceInfo]:
        """Every instance by ascending id (instances removed while listing are skipped)."""
        folder = self.root / "instances"
        if not folder.is_dir():
            if not self.root.is_dir():
                raise self._missing(self.root)
            return []
        found = []
        for entry in sorted(folder.iterdir()):
            try:
                found.append(self.instance(entry.name))
            except NoSuchInstanceError:
                continue  # destroyed between listing and reading
        return sorted(found, key=lambda i: i.id)

    def read_instance_tree(self, name: str) -> bytes:
        """The instance's ``device_tree``."""
        try:
            return self._read_bytes(self._instance_dir(name) / "device_tree")
        except FileNotFoundError:
            raise NoSuchInstanceError(
                f"no instance named {name!r}", errno=E.ENOENT, call="read instances"
            ) from None

    # -- transactions -------------------------------------------------------------------

    def transaction_ids(self) -> list[int]:
        """Ids of the ``tx_<N>`` directories, ascending."""
        folder = self.root / "overlays"
        if not folder.is_dir():
            if not self.root.is_dir():
                raise self._missing(self.root)
            return []
        return sorted(int(m[1]) for e in folder.iterdir() if (m := _TX_DIR.match(e.name)))

    def transaction(self, tx_id: int) -> Transaction:
        """One transaction; NoSuchTransactionError when its directory is gone."""
        folder = self.root / "overlays" / f"tx_{tx_id}"
        try:
            return Transaction(
                self._read_int(folder / "id"),
                _status(self._read_text(folder / "status"), TxStatus),
                self._read_text(folder / "instance"),
                self._read_text(folder / "resources"),
            )
        except FileNotFoundError:
            raise NoSuchTransactionError(
                f"no transaction {tx_id} (overlays/tx_{tx_id} does not exist)",
                errno=E.ENOENT,
                call="read overlays",
            ) from None

    def transactions(self) -> list[Transaction]:
        """Every transaction by ascending id."""
        found = []
        for tx_id in self.transaction_ids():
            try:
                found.append(self.transaction(tx_id))
            except NoSuchTransactionError:
                continue
        return found

    def read_transaction_blob(self, tx_id: int) -> bytes:
        """The DTBO stored in ``tx_<N>/dtbo``."""
        try:
            return self._read_bytes(self.root / "overlays" / f"tx_{tx_id}" / "dtbo")
        except FileNotFoundError:
            raise NoSuchTransactionError(
                f"no transaction {tx_id}", errno=E.ENOENT, call="read overlays"
            ) from None

    def new_transaction(self, before: Iterable[int]) -> Transaction:
        """The transaction a write created: the one ``tx_*`` directory not in ``before``."""
        created = sorted(set(self.transaction_ids()) - set(before))
        if not created:
            raise KernelError(
                "the kernel accepted the overlay but created no transaction directory",
                hint="check dmesg; the multikernel filesystem may be from an older kernel",
            )
        if len(created) > 1:
            raise KernelError(
                f"several transactions appeared during one write ({', '.join(map(str, created))}): "
                "another program wrote overlays at the same time",
                hint="only write overlays through kerf, which serialises writers with a lock",
            )
        return self.transaction(created[0])


_S = TypeVar("_S", TxStatus, InstanceStatus)


def _status(text: str, kind: type[_S]) -> _S:
    try:
        return kind(text)
    except ValueError:
        return kind("unknown")


def check_overlay_size(blob: bytes) -> None:
    """Refuse, before writing, an overlay the kernel would truncate (more than one page)."""
    if len(blob) > OVERLAY_WRITE_LIMIT:
        raise OverlayTooLargeError(
            f"overlay of {len(blob)} bytes exceeds the {OVERLAY_WRITE_LIMIT}-byte limit of "
            "overlays/new (kernfs delivers one page per write)",
            hint="split the change into several transactions",
        )


class OverlayTooLargeError(KernelError):
    """A DTBO larger than one page: the kernel would see only its first 4096 bytes."""


def write_once(path: Path, blob: bytes, operation: str) -> None:
    """Write ``blob`` to a kernel file in exactly one ``write()`` (the kernel takes no
    continuation writes); errno from the kernel becomes a typed error."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NoMultikernelError(
            f"{path} does not exist: the multikernel filesystem is not mounted",
            errno=E.ENOENT,
            call=operation,
        ) from None
    except OSError as err:
        raise explain_file_error(operation, err.errno or E.EIO) from None
    try:
        written = os.write(fd, blob)
    except OSError as err:
        raise explain_file_error(operation, err.errno or E.EIO) from None
    finally:
        os.close(fd)
    if written != len(blob):
        raise KernelCallError(
            f"the kernel took only {written} of {len(blob)} bytes", errno=E.EIO, call=operation
        )
