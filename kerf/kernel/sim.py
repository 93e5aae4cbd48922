"""A simulated multikernel host: the kernel's behaviour, applied to a directory.

``SimulatedHost.create(root, host)`` records a machine (the CPUs, per-node physical
memory and PCI devices of a :class:`planner.hardware.Host`) and lays out the kernel's
filesystem under ``root``. The object then implements
:class:`kerf.kernel.backend.KernelBackend`: baseline and overlay writes, rollbacks and the
lifecycle system calls are applied to the state the way the kernel documents them
(see docs/simulated-host.md), and reads go through the same code as the real backend.

A plain directory cannot run code when a file is written, so the simulated kernel acts
when kerf calls :meth:`SimulatedHost.write_overlay` and friends, never when someone
writes ``overlays/new`` by hand. The state lives in one private JSON file, replaced
atomically (write, fsync, rename) under a file lock; every visible file is regenerated
from it, so a second ``SimulatedHost`` on the same root (in this or another process)
sees exactly the same host.
"""

from __future__ import annotations

import errno as E
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kerf.errors import InputError, UsageError
from kerf.kernel.backend import (
    BASELINE_WRITE_LIMIT,
    OVERLAY_WRITE_LIMIT,
    LayoutReader,
    NoSuchTransactionError,
    Transaction,
    explain_file_error,
)
from kerf.kernel.errors import ImageError, UnsupportedArchitectureError
from kerf.kernel.iomem import Iomem, parse_iomem
from kerf.kernel.kimage import KimageRow, parse_kimage
from kerf.kernel.sim_baseline import apply_baseline
from kerf.kernel.sim_dt import parse_pci_id
from kerf.kernel.sim_files import Synced, sync
from kerf.kernel.sim_lifecycle import ImageFacts, halt, load, start, unload
from kerf.kernel.sim_memory import SimFailure
from kerf.kernel.sim_overlay import apply_overlay, rollback
from kerf.kernel.sim_state import Machine, MachineCpu, MachineRange, PciDevice, SimState
from kerf.kernel.syscalls import Arch, check_instance_id, explain, normalize_arch
from planner.hardware import Host

STATE_FILE = ".simulated-host.json"
LOCK_FILE = ".simulated-host.lock"
SIMULATED_ARCHES = (Arch.X86_64, Arch.AARCH64, Arch.RISCV64)
_DEFAULT_RAM_BASE = 1 << 32  # where memory starts when a host description gives no map


def machine_from_host(host: Host, arch: Arch) -> Machine:
    """The simulated machine of a Host: CPUs (ascending id, so the lowest boots the host),
    physical memory per NUMA node, and every PCI function (devices and their VFs)."""
    cpus = [MachineCpu(c.id, c.numa_node if c.numa_node is not None else 0) for c in host.cpus]
    memory = [MachineRange(r.base, r.size, n.id) for n in host.numa_nodes for r in n.memory]
    if not memory:
        if host.memory.total_bytes <= 0:
            raise InputError("the host description gives no memory: the simulated machine needs some")
        node = min(host.node_ids, default=0)
        memory = [MachineRange(_DEFAULT_RAM_BASE, host.memory.total_bytes, node)]
    pci: list[PciDevice] = []
    for device in host.devices:
        if device.device_type != "pci":
            continue
        functions: list[tuple[str, int | None]] = [(device.pci_id, device.device_id)] if device.pci_id else []
        for n in sorted(device.vf_pci_ids):
            # A VF's device id is its own; the PF's only when the description does not say.
            own = device.vf_device_id_of(n)
            functions.append((device.vf_pci_ids[n], device.device_id if own is None else own))
        for pci_id, device_id in functions:
            try:
                normalized = parse_pci_id(pci_id, f"device {device.name}")
            except SimFailure as err:
                raise InputError(err.message, hint="pci-id is DDDD:BB:SS.F in hexadecimal") from None
            pci.append(PciDevice(normalized, device.vendor_id or 0, device_id or 0))
    return Machine(arch.value, cpus, sorted(memory, key=lambda r: r.base), pci)


def _digest(path: Path, what: str) -> tuple[bytes, int, str]:
    """(head, size, sha256) of a file handed to the simulated loader."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ImageError(f"{what} {path}: cannot read it: {err.strerror}") from None
    return data[:64], len(data), hashlib.sha256(data).hexdigest()


class SimulatedHost(LayoutReader):
    """A simulated multikernel host rooted at a directory (a :class:`KernelBackend`)."""

    def __init__(self, root: Path | str) -> None:
        super().__init__(Path(root))
        if not (self.root / STATE_FILE).is_file():
            raise InputError(
                f"{self.root} is not a simulated multikernel host (it has no {STATE_FILE})",
                hint="create one first (SimulatedHost.create)",
            )
        # What this object last brought the files in line with, and the state text that
        # produced them: while the state file still holds that text, nobody else changed
        # anything, and the next sync only touches what differs (see _commit).
        self._synced: Synced | None = None
        self._synced_text: str | None = None
        self._loaded_text: str | None = None
        # The state this object committed last, and its text: while the file still holds
        # that text, the next change starts from this object instead of parsing the file
        # again (the file grows with every transaction; see _locked).
        self._state: SimState | None = None
        self._state_text: str | None = None
        with self._locked(save=False) as state:
            # A crash may have interrupted the last sync: bring the files in line again.
            self._synced = sync(self.root, state, {STATE_FILE, LOCK_FILE})
            self._synced_text = self._loaded_text

    @classmethod
    def create(cls, root: Path | str, host: Host, *, arch: str | Arch = Arch.X86_64) -> SimulatedHost:
        """Lay out a new simulated host for ``host`` in ``root`` (created if missing, else empty).

        The machine boots with no pool: write a baseline first.
        """
        root = Path(root)
        target = arch if isinstance(arch, Arch) else normalize_arch(arch)
        if target not in SIMULATED_ARCHES:
            raise UnsupportedArchitectureError(
                f"the simulated host supports {', '.join(a.value for a in SIMULATED_ARCHES)}, not {target}"
            )
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise UsageError(
                f"{root} already exists and is not an empty directory",
                hint="choose a new directory for the simulated host",
            )
        root.mkdir(parents=True, exist_ok=True)
        state = SimState(machine_from_host(host, target))
        _write_state(root, state.to_json())
        sync(root, state, {STATE_FILE, LOCK_FILE})
        return cls(root)

    # -- state handling -------------------------------------------------------------------

    def _load(self, *, reuse: bool = False) -> SimState:
        """The state in the file; with ``reuse``, the object committed last when the file
        still holds it (the caller then either commits it or drops it, see _locked)."""
        path = self.root / STATE_FILE
        try:
            text = path.read_text()
        except OSError as err:
            raise InputError(f"cannot read {path}: {err.strerror}") from None
        self._loaded_text = text
        if reuse and self._state is not None and text == self._state_text:
            return self._state
        return SimState.from_json(text, str(path))

    @contextmanager
    def _locked(self, *, save: bool = True) -> Iterator[SimState]:
        """The state, under an exclusive lock. With ``save`` it is saved (and the files
        synced) when the block ends, also when the simulated kernel refused part-way (its
        partial effects persist, as in the kernel)."""
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Only a block that saves gets the object committed last: it either commits
            # it or, on any other error, drops it (it may be changed half-way).
            state = self._load(reuse=save)
            try:
                yield state
            except SimFailure:
                if save:
                    self._commit(state)
                raise
            except BaseException:
                self._state = self._state_text = None
                raise
            if save:
                self._commit(state)
        finally:
            os.close(fd)

    def _commit(self, state: SimState) -> None:
        # The files are known to match self._synced only when the state loaded under this
        # lock is the one this object wrote last; otherwise (another process, a crash
        # before a sync) every file is compared again.
        known = self._synced if self._loaded_text == self._synced_text else None
        text = state.to_json()
        self._state = self._state_text = None  # until the file holds it
        _write_state(self.root, text)
        self._state, self._state_text = state, text
        self._synced_text = None  # until the files are in line with the new state
        self._synced = sync(self.root, state, {STATE_FILE, LOCK_FILE}, previous=known)
        self._synced_text = text

    def snapshot(self) -> SimState:
        """A copy of the current state (for inspection and tests)."""
        with self._locked(save=False) as state:
            return state

    def kernel_log(self) -> list[str]:
        """What the simulated kernel would have logged to dmesg, oldest first."""
        return self.snapshot().log

    # -- writes ---------------------------------------------------------------------------

    def write_baseline(self, blob: bytes) -> None:
        """Apply a baseline DTB, as a write to ``device_tree``."""
        from kerf.dts import from_dtb
        from kerf.errors import DtbError

        operation = "write device_tree"
        if len(blob) > BASELINE_WRITE_LIMIT:
            raise explain_file_error(operation, E.E2BIG, f"baseline of {len(blob)} bytes is over 1 MiB")
        if len(blob) < 8 or int.from_bytes(blob[4:8], "big") != len(blob):
            raise explain_file_error(
                operation,
                E.EINVAL,
                "the write is not exactly one DTB (fdt totalsize differs from its length)",
            )
        try:
            tree = from_dtb(blob, "device_tree")
        except DtbError as err:
            raise explain_file_error(operation, E.EINVAL, f"not a valid DTB: {err.message}") from None
        try:
            with self._locked() as state:
                apply_baseline(state, tree)
        except SimFailure as failure:
            raise explain_file_error(operation, failure.errno, failure.message) from None

    def write_overlay(self, blob: bytes) -> Transaction:
        """Apply one DTBO, as a write to ``overlays/new``; returns its transaction.

        Like the kernel, a blob over one page (4096 bytes) fails with EINVAL and creates no
        transaction, and a blob that applies only partly still creates one (``failed``).
        """
        from kerf.dts import from_dtb
        from kerf.errors import DtbError

        operation = "write overlays/new"
        if not blob:
            raise explain_file_error(operation, E.EINVAL, "empty write to overlays/new")
        if len(blob) > OVERLAY_WRITE_LIMIT:
            raise explain_file_error(
                operation,
                E.EINVAL,
                f"overlay of {len(blob)} bytes: kernfs delivers only the first {OVERLAY_WRITE_LIMIT} "
                "bytes and the continuation write is refused",
            )
        try:
            tree = from_dtb(blob, "overlays/new")
        except DtbError as err:
            raise explain_file_error(operation, E.EINVAL, f"not a valid DTB: {err.message}") from None
        with self._locked() as state:
            tx = apply_overlay(state, tree, blob)
        return self.transaction(tx.id)

    def failure_detail(self, tx_id: int) -> str | None:
        """The simulated kernel's log line for a failed transaction."""
        tx = self.snapshot().transaction(tx_id)
        return None if tx is None else tx.error

    def rollback(self, tx_id: int) -> None:
        """Undo a transaction, as ``rmdir overlays/tx_<N>``."""
        try:
            with self._locked() as state:
                tx = state.transaction(tx_id)
                if tx is None:
                    raise NoSuchTransactionError(
                        f"no transaction {tx_id} (overlays/tx_{tx_id} does not exist)",
                        errno=E.ENOENT,
                        call="rmdir overlays/tx",
                    )
                rollback(state, tx)
        except SimFailure as failure:
            raise explain_file_error(
                "rmdir overlays/tx",
                failure.errno,
                f"rollback of transaction {tx_id} failed: {failure.message}",
            ) from None

    # -- /proc equivalents ------------------------------------------------------------------

    def iomem(self) -> Iomem:
        """The simulated ``/proc/iomem`` (the ``iomem`` file under the root)."""
        path = self.root / "iomem"
        return parse_iomem(self._read_text(path), str(path))

    def kimage(self) -> list[KimageRow]:
        """The simulated ``/proc/kimage`` (the ``kimage`` file under the root)."""
        path = self.root / "kimage"
        return parse_kimage(self._read_text(path), str(path))

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
        """Simulated kexec_file_load: checks the id, the image format and the room for it."""
        check_instance_id(instance_id)
        if "\0" in cmdline:
            raise UsageError("the kernel command line must not contain NUL characters")
        if isinstance(image, Path):
            head, size, digest = _digest(image, "kernel image")
        else:
            head, size, digest = image[:64], len(image), hashlib.sha256(image).hexdigest()
        facts = ImageFacts(head, size, digest)
        if initrd is not None:
            _, initrd_size, initrd_digest = _digest(initrd, "initrd")
            facts = ImageFacts(head, size, digest, initrd_size, initrd_digest)
        self._syscall("kexec_file_load", instance_id, lambda s: load(s, instance_id, facts, cmdline, debug))

    def unload(self, instance_id: int) -> None:
        """Simulated unload (state ready)."""
        check_instance_id(instance_id)
        self._syscall("kexec_file_load(unload)", instance_id, lambda s: unload(s, instance_id))

    def start(self, instance_id: int) -> None:
        """Simulated reboot MKLI (state active)."""
        check_instance_id(instance_id)
        self._syscall("reboot(start)", instance_id, lambda s: start(s, instance_id))

    def halt(self, instance_id: int, *, force: bool = False) -> None:
        """Simulated reboot MKLH / MKLF (state loaded)."""
        check_instance_id(instance_id)
        call = "reboot(force-halt)" if force else "reboot(halt)"
        self._syscall(call, instance_id, lambda s: halt(s, instance_id, force))

    def _syscall(self, call: str, instance_id: int, action: Callable[[SimState], object]) -> None:
        try:
            with self._locked() as state:
                action(state)
        except SimFailure as failure:
            raise explain(call, failure.errno, instance_id, failure.message) from None


def _write_state(root: Path, text: str) -> None:
    """Replace the state file atomically and durably: write, fsync, rename, fsync the directory."""
    path = root / STATE_FILE
    tmp = root / f"{STATE_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(text.encode())
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
