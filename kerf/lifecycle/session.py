"""Which kernel a command talks to, where kerf keeps its state, and the locked session.

Backend selection (docs/lifecycle.md, "Where kerf works"):

* ``--root DIR`` or ``KERF_ROOT=DIR``: a simulated host kept in ``DIR`` (``DIR/kernel`` is
  the simulated multikernel filesystem, ``DIR/state`` kerf's state). Chosen explicitly,
  so nothing is announced.
* otherwise the real kernel when it offers the multikernel filesystem (mounted at
  ``/sys/fs/multikernel``, or the ``multikernel`` type listed in ``/proc/filesystems``);
  kerf's state is then in ``/var/lib/kerf``;
* otherwise the simulated host under the user's state directory
  (``$XDG_STATE_HOME/kerf``, default ``~/.local/state/kerf``), announced once on stderr.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from kerf.errors import InputError, PermissionDeniedError
from kerf.kernel.backend import KernelBackend
from kerf.kernel.syscalls import Arch, kernel_arch, normalize_arch
from kerf.lifecycle.errors import NotInitialisedError
from kerf.state import StateDir, lock_timeout

PROC_ROOT = Path("/proc")
REAL_STATE_DIR = Path("/var/lib/kerf")
SIM_KERNEL_DIR = "kernel"
SIM_STATE_DIR = "state"


class BackendKind(StrEnum):
    """The two kinds of kernel kerf drives."""

    KERNEL = "kernel"
    SIMULATED = "simulated"


@dataclass(frozen=True)
class Location:
    """Where a command works: the kernel's filesystem root and kerf's state directory.

    ``announcement`` is the one stderr line telling the user that kerf fell back to the
    simulated host by itself (None when that was asked for, or for the real kernel).
    """

    kind: BackendKind
    kernel_root: Path
    state_dir: Path
    announcement: str | None = None

    @property
    def simulated(self) -> bool:
        """True for a simulated host."""
        return self.kind is BackendKind.SIMULATED


def user_state_home(env: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/kerf``, or ``~/.local/state/kerf``."""
    base = env.get("XDG_STATE_HOME")
    if base and Path(base).is_absolute():
        return Path(base) / "kerf"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".local" / "state" / "kerf"


def kernel_available(proc: Path) -> bool:
    """True when this kernel offers the multikernel filesystem (mounted, or its type known)."""
    from kerf.kernel.sysfs import FILESYSTEM_TYPE, MULTIKERNEL_ROOT, is_mounted

    try:
        # mount points may hold any bytes: a non-UTF-8 path elsewhere must not stop kerf
        mounts = (proc / "mounts").read_text(encoding="utf-8", errors="surrogateescape")
        if is_mounted(MULTIKERNEL_ROOT, mounts):
            return True
    except OSError:
        pass
    try:
        filesystems = (proc / "filesystems").read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return False
    return any(line.split()[-1:] == [FILESYSTEM_TYPE] for line in filesystems.splitlines())


def simulated_location(root: Path, announcement: str | None = None) -> Location:
    """The layout of a simulated host kept in ``root``."""
    root = Path(root).expanduser()
    if not root.is_absolute():
        root = Path.cwd() / root
    return Location(BackendKind.SIMULATED, root / SIM_KERNEL_DIR, root / SIM_STATE_DIR, announcement)


def locate(root: Path | None, *, env: Mapping[str, str] | None = None, proc: Path | None = None) -> Location:
    """Choose the kernel and state directory (see the module documentation). ``proc`` is
    where to look for ``mounts`` and ``filesystems`` (default ``/proc``)."""
    if root is not None:
        if str(root) == "":
            raise InputError("--root (or KERF_ROOT) is empty", hint="give a directory, e.g. --root /tmp/mk")
        return simulated_location(root)
    if kernel_available(proc if proc is not None else PROC_ROOT):
        from kerf.kernel.sysfs import MULTIKERNEL_ROOT

        return Location(BackendKind.KERNEL, MULTIKERNEL_ROOT, REAL_STATE_DIR)
    home = user_state_home(env if env is not None else os.environ)
    note = (
        f"kerf: this kernel has no multikernel support; using the simulated host in {home} "
        "(--root or KERF_ROOT chooses another)"
    )
    return simulated_location(home, note)


class Session:
    """One command's view of its kernel and state.

    Opening the backend has no side effects (a real kernel is mounted only by
    :meth:`mounted_backend`, which state-changing commands call).

    On the real kernel, kerf refuses a host it cannot drive correctly before anything is
    written: a kernel whose page size is not 4 KiB (checked when the backend is opened,
    so dry runs and plans are refused too, as their sizes would be wrong), and a process
    whose system call table kerf does not know, e.g. a 32-bit Python on an x86-64 kernel
    (checked when the state lock is taken, before the state directory, the journal or the
    mount point is touched; reading needs no system call and works regardless).
    """

    def __init__(
        self, location: Location, *, proc: Path = PROC_ROOT, backend: KernelBackend | None = None
    ) -> None:
        self.location = location
        self.state = StateDir(location.state_dir)
        self.proc = proc
        self._backend = backend

    # -- the kernel ---------------------------------------------------------------------------

    def simulated_exists(self) -> bool:
        """True when the simulated host of this location has been created."""
        from kerf.kernel.sim import STATE_FILE

        return (self.location.kernel_root / STATE_FILE).is_file()

    def backend(self) -> KernelBackend:
        """The kernel backend (NotInitialisedError when a simulated host was never created)."""
        if self._backend is not None:
            return self._backend
        if self.location.simulated:
            from kerf.kernel.sim import SimulatedHost

            if not self.simulated_exists():
                raise NotInitialisedError(
                    f"there is no simulated host in {self.location.kernel_root.parent} yet",
                    hint="create it from a host description: kerf init --input HOST.dts",
                )
            self._backend = SimulatedHost(self.location.kernel_root)
        else:
            from kerf.kernel.sysfs import SysfsBackend, check_page_size

            check_page_size()
            self._backend = SysfsBackend(self.location.kernel_root, proc=self.proc)
        return self._backend

    def check_real_host(self) -> None:
        """On the real kernel: refuse, before any side effect, a kernel page size other than
        4 KiB and a process whose system call table kerf does not know (no-op when simulated)."""
        if self.location.simulated:
            return
        from kerf.kernel.syscalls import process_arch
        from kerf.kernel.sysfs import check_page_size

        check_page_size()
        process_arch()

    def mounted_backend(self) -> KernelBackend:
        """The backend, with the real kernel's filesystem mounted when it was not."""
        backend = self.backend()
        from kerf.kernel.sysfs import SysfsBackend

        if isinstance(backend, SysfsBackend):
            backend.ensure_mounted()
        return backend

    def arch(self) -> Arch:
        """The architecture whose kernel images the instances run: the kernel's (``uname -m``),
        not this process's system call ABI, which only matters for the calls themselves
        (:func:`kerf.kernel.syscalls.process_arch`, checked by :meth:`check_real_host`)."""
        from kerf.kernel.sim import SimulatedHost

        backend = self.backend()
        if isinstance(backend, SimulatedHost):
            return normalize_arch(backend.snapshot().machine.arch)
        return kernel_arch()

    def adopt_backend(self, backend: KernelBackend) -> None:
        """Use ``backend`` from now on (after ``kerf init`` created the simulated host)."""
        self._backend = backend

    # -- the state ----------------------------------------------------------------------------

    @contextmanager
    def locked(self, *, create: bool = False) -> Iterator[StateDir]:
        """kerf's state under its exclusive lock.

        Every state-changing command takes this lock first, so the real host is checked
        here (:meth:`check_real_host`) before the state directory is created. Only
        ``create`` (init, config) makes a missing state directory; any other command on
        a root kerf never initialised stops here, leaving nothing behind."""
        self.check_real_host()
        if not create and not self.state.path.exists():
            from kerf.lifecycle.errors import NotInitialisedError

            raise NotInitialisedError(
                "kerf has no host description yet: the pool was never initialised here",
                hint="start with: kerf init --input HOST.dts",
            )
        self.state.ensure()
        with self.state.lock(lock_timeout()):
            yield self.state

    @contextmanager
    def read_locked(self) -> Iterator[StateDir]:
        """The state under a shared lock when it exists; without one when it does not (a
        read creates nothing) or when the lock file is not ours to open."""
        with ExitStack() as stack:
            if (self.state.path / "lock").exists():
                with suppress(InputError, PermissionDeniedError):
                    stack.enter_context(self.state.lock(lock_timeout(), shared=True))
            yield self.state
