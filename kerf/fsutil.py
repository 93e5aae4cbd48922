"""Durable file replacement and advisory locks, shared by every part of kerf that keeps files.

Two promises:

* :func:`atomic_write` never leaves a half-written file: the data goes to a temporary file
  in the same directory, is flushed to disk, renamed over the target, and the directory is
  flushed too, so after a crash the file holds either the old or the new contents. A
  symlink is followed and its final target replaced (the link stays); a target that is
  not a regular file (directory, FIFO, device, socket) is refused untouched, since a
  rename would silently swap it for a plain file.
* :func:`file_lock` is an ``flock`` on a file: the kernel releases it when the process
  dies, so a crashed kerf never leaves a stale lock behind. The holder writes its pid
  into the file so that a waiting kerf can name it; the file itself is never removed
  (removing it would let two processes lock two different inodes).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from kerf.errors import BusyError, InputError, PermissionDeniedError

# How long to sleep between two attempts to take a lock (grows up to the maximum).
_FIRST_PAUSE = 0.02
_MAX_PAUSE = 0.25


#: Hint for a state or simulated-host file kerf may not write.
_ROOT_HINT = "run kerf as a user who may write there (root for the real kernel), or choose another --root"


def _permission_or_input(
    err: OSError, what: str, path: Path, hint: str | None = None
) -> InputError | PermissionDeniedError:
    """The error for a failed file operation; ``hint`` replaces the default hint for a
    permission problem (an output file chosen with ``-o`` wants different advice)."""
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDeniedError(f"cannot {what} {path}: {err.strerror}", hint=hint or _ROOT_HINT)
    # Only blame the directory when it really is missing: ENOENT also comes from file
    # systems that refuse new files (/proc) and from dangling links.
    if err.errno == errno.ENOENT and not path.parent.is_dir():
        return InputError(
            f"cannot {what} {path}: {err.strerror}", hint=f"check that the directory {path.parent} exists"
        )
    if err.errno == errno.ENOTDIR:
        return InputError(
            f"cannot {what} {path}: {err.strerror}", hint="a part of the path is a file, not a directory"
        )
    return InputError(f"cannot {what} {path}: {err.strerror or err}")


#: What a file that is not a regular file is, for "cannot write X: it is ...".
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str | None:
    """What a file of this ``st_mode`` is when it is not a regular file ("a FIFO (named
    pipe)"); None for a regular file (or a symlink, which stat follows)."""
    return next((kind for test, kind in _KINDS if test(mode)), None)


#: Symlinks followed before giving up, as the kernel's own limit (MAXSYMLINKS).
_MAX_LINKS = 40


def _write_target(path: Path, hint: str | None) -> Path:
    """The file :func:`atomic_write` replaces for ``path``: ``path`` itself or, through
    symlinks, their final target; InputError when there is no file name or the target
    exists and is not a regular file (nothing is touched then)."""
    if path.name in ("", ".", ".."):  # Path("") is Path("."): the user gave no file name
        found = "an empty path (or '.')" if str(path) == "." else f"{str(path)!r}, which names a directory"
        raise InputError(
            f"cannot write: expected a file name, found {found}", hint=hint or "give the path of a file"
        )
    shown = str(path)
    target = path
    for _ in range(_MAX_LINKS):
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            return target  # a new file (or a dangling link's target): created by the rename
        except OSError as err:  # e.g. ENOTDIR: a parent is a file
            raise _permission_or_input(err, "write", target, hint) from None
        if stat.S_ISREG(info.st_mode):
            return target
        if not stat.S_ISLNK(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "a special file")
            raise InputError(
                f"cannot write {shown}: it is {kind}, not a regular file",
                hint=hint or "move it out of the way or choose another path",
            )
        # A relative link is relative to the directory holding the link; an absolute one
        # replaces the whole path (Path's "/" does both).
        target = target.parent / os.readlink(target)
        shown = f"{path} (a link to {target})"
        if target.name in ("", ".", ".."):
            raise InputError(f"cannot write {shown}: it is a directory, not a regular file", hint=hint)
    raise InputError(
        f"cannot write {path}: more than {_MAX_LINKS} symbolic links, probably a loop", hint=hint
    )


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename or unlink inside it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path, mode: int = 0o755) -> None:
    """Create ``path`` and missing parents; each new entry is flushed to disk."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            continue  # another process created it meanwhile
        except OSError as err:
            raise _permission_or_input(err, "create the directory", folder) from None
        fsync_dir(folder.parent)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, hint: str | None = None) -> None:
    """Replace ``path`` with ``data`` durably: write a temporary file, fsync, rename, fsync dir.

    ``hint`` is what a permission error suggests (default: another user or ``--root``).
    The mode is subject to the umask, as for any new file. When ``path`` is a symlink its
    final target is replaced and the link kept. InputError, touching nothing, when
    ``path`` has no file name or is (or links to) a directory, FIFO, device or socket."""
    path = _write_target(path, hint)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    except OSError as err:
        if err.errno == errno.ENOENT and path.parent.is_dir():
            # The directory exists but will not take a new file: /proc, /sys and the like.
            raise InputError(
                f"cannot write {path}: {path.parent} does not allow creating files ({err.strerror})",
                hint="kerf writes a temporary file next to the target and renames it over; "
                + (hint or "choose a path on an ordinary file system"),
            ) from None
        raise _permission_or_input(err, "write", path, hint) from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as err:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _permission_or_input(err, "write", path, hint) from None
    os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError as err:  # e.g. the target is a directory
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _permission_or_input(err, "write", path, hint) from None
    try:
        fsync_dir(path.parent)
    except OSError as err:  # the rename is done; only its durability is in doubt
        raise _permission_or_input(err, "flush the directory of", path, hint) from None


def atomic_write_text(path: Path, text: str, *, mode: int = 0o644, hint: str | None = None) -> None:
    """:func:`atomic_write` of UTF-8 text."""
    atomic_write(path, text.encode("utf-8"), mode=mode, hint=hint)


def remove_durably(path: Path) -> bool:
    """Remove a file and flush its directory; False when it did not exist."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as err:
        raise _permission_or_input(err, "remove", path) from None
    fsync_dir(path.parent)
    return True


def lock_holder(path: Path) -> int | None:
    """The pid written into a lock file by its last exclusive holder, if readable and alive."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text.isdigit():
        return None
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, owned by another user
    return pid


@contextlib.contextmanager
def file_lock(
    path: Path, *, timeout: float, shared: bool = False, what: str = "kerf's state"
) -> Iterator[None]:
    """Hold an ``flock`` on ``path`` (created when missing) for the duration of the block.

    Waits up to ``timeout`` seconds, then raises BusyError naming the holder's pid when it
    is known. An exclusive holder records its pid in the file. ``timeout`` must be finite
    and not negative (a NaN deadline is never reached, so it would wait forever).
    """
    if not math.isfinite(timeout) or timeout < 0:
        raise ValueError(f"lock timeout must be a finite number of seconds >= 0, got {timeout!r}")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise _permission_or_input(err, "open the lock file", path) from None
    try:
        _acquire(fd, path, timeout=timeout, shared=shared, what=what)
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        # Closing the descriptor releases the flock.
        os.close(fd)


def _acquire(fd: int, path: Path, *, timeout: float, shared: bool, what: str) -> None:
    operation = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE
    while True:
        try:
            fcntl.flock(fd, operation)
            return
        except BlockingIOError:
            pass
        now = time.monotonic()
        if now >= deadline:
            holder = lock_holder(path)
            who = f"process {holder}" if holder is not None else "another process"
            raise BusyError(
                f"{who} holds the lock on {what} ({path}); gave up after {timeout:g} s",
                hint="wait for that kerf command to finish and retry (KERF_LOCK_TIMEOUT sets the wait)",
            )
        time.sleep(min(pause, deadline - now))
        pause = min(pause * 2, _MAX_PAUSE)
