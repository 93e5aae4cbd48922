"""The visible files of a simulated host, regenerated from its state.

The simulated host's directory mirrors the kernel's layout (kernel-interface reference
§1.2) plus ``iomem`` and ``kimage`` in the formats of ``/proc/iomem`` and
``/proc/kimage``. After every change the files are rendered from the state and the
directory is brought in line: changed files are replaced atomically, stale ones removed.
A crash between saving the state and syncing leaves complete (if stale) files, and the
next open syncs them again, so the files never disagree with the state for long and
never hold half-written contents.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from kerf.kernel.iomem import POOL_NAME, IomemEntry, format_iomem
from kerf.kernel.kimage import KimageRow, format_kimage
from kerf.kernel.sim_dt import instance_tree, pool_tree
from kerf.kernel.sim_state import SimState

# relative path -> (content, mode)
Rendered = dict[str, tuple[bytes, int]]
# the files and the directories of a sync
Synced = tuple[Rendered, set[str]]


def iomem_entries(state: SimState) -> list[IomemEntry]:
    """The simulated machine's memory map: System RAM around the pool chunks, instance
    regions nested in their chunk."""
    entries: list[IomemEntry] = []
    for ram in sorted(state.machine.memory, key=lambda r: r.base):
        end = ram.base + ram.size
        cursor = ram.base
        for chunk in sorted((c for c in state.chunks if ram.base <= c.base < end), key=lambda c: c.base):
            if chunk.base > cursor:
                entries.append(IomemEntry(cursor, chunk.base - 1, "System RAM"))
            children = tuple(
                IomemEntry(r.base, r.end - 1, f"mk-instance-{i.id}-{i.name}-region-{r.index}")
                for i in state.instances
                for r in i.regions
                if chunk.base <= r.base < chunk.end
            )
            entries.append(
                IomemEntry(chunk.base, chunk.end - 1, POOL_NAME, tuple(sorted(children, key=_start)))
            )
            cursor = chunk.end
        if cursor < end:
            entries.append(IomemEntry(cursor, end - 1, "System RAM"))
    return entries


def _start(entry: IomemEntry) -> int:
    return entry.start


def kimage_rows(state: SimState) -> list[KimageRow]:
    """One ``multikernel`` row per instance with a loaded image."""
    return [
        KimageRow(i.id, "multikernel", i.image.start, i.image.segments, "file", i.image.cmdline)
        for i in state.instances
        if i.image is not None
    ]


def render(state: SimState) -> tuple[Rendered, set[str]]:
    """Every visible file (content, mode) and directory of the simulated host."""
    from kerf.dts import to_dtb  # libfdt stays out of kerf's start-up

    files: Rendered = {
        "device_tree": (to_dtb(pool_tree(state)), 0o644),
        "overlays/new": (b"", 0o200),
        "iomem": (format_iomem(iomem_entries(state)).encode(), 0o444),
        "kimage": (format_kimage(kimage_rows(state)).encode(), 0o444),
    }
    dirs = {"instances", "overlays"}
    for instance in state.instances:
        folder = f"instances/{instance.name}"
        dirs.add(folder)
        files[f"{folder}/id"] = (f"{instance.id}\n".encode(), 0o444)
        files[f"{folder}/status"] = (f"{instance.status}\n".encode(), 0o444)
        files[f"{folder}/device_tree"] = (to_dtb(instance_tree(instance)), 0o444)
    for tx in state.transactions:
        folder = f"overlays/tx_{tx.id}"
        dirs.add(folder)
        files[f"{folder}/id"] = (f"{tx.id}\n".encode(), 0o444)
        files[f"{folder}/status"] = (f"{tx.status}\n".encode(), 0o444)
        files[f"{folder}/instance"] = (f"{tx.instance}\n".encode(), 0o444)
        files[f"{folder}/resources"] = (f"{tx.resources}\n".encode(), 0o444)
        files[f"{folder}/dtbo"] = (tx.dtbo, 0o444)
    return files, dirs


def _replace(path: Path, content: bytes, mode: int) -> None:
    """Write ``path`` through a temporary file and rename (never a half-written file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, content)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def sync(root: Path, state: SimState, private: set[str], *, previous: Synced | None = None) -> Synced:
    """Make the files under ``root`` exactly those rendered from ``state``; returns them.

    ``private`` names top-level files of the simulated host itself (state, lock) that are
    left alone. ``previous``: what the files are known to hold (the last sync's result,
    with nothing changed since); then only the differences are written and removed,
    instead of reading every file back (a host with a thousand transactions has five
    thousand files).
    """
    files, dirs = render(state)
    if previous is not None:
        _sync_from(root, files, dirs, previous)
        return files, dirs
    for folder in sorted(dirs):
        (root / folder).mkdir(mode=0o755, parents=True, exist_ok=True)
    for relative, (content, mode) in files.items():
        path = root / relative
        try:
            current = path.read_bytes()
            same = current == content and (path.stat().st_mode & 0o777) == mode
        except FileNotFoundError:
            same = False
        if not same:
            _replace(path, content, mode)
    for folder, subdirs, names in os.walk(root, topdown=False):
        relative_folder = os.path.relpath(folder, root)
        for name in names:
            relative = name if relative_folder == "." else f"{relative_folder}/{name}"
            if relative not in files and relative not in private:
                os.unlink(os.path.join(folder, name))
        for name in subdirs:
            relative = name if relative_folder == "." else f"{relative_folder}/{name}"
            if relative not in dirs:
                os.rmdir(os.path.join(folder, name))
    return files, dirs


def _sync_from(root: Path, files: Rendered, dirs: set[str], previous: Synced) -> None:
    """The differences from ``previous`` (what the files hold) to ``files`` and ``dirs``."""
    old_files, old_dirs = previous
    for folder in sorted(dirs - old_dirs):
        (root / folder).mkdir(mode=0o755, parents=True, exist_ok=True)
    for relative, entry in files.items():
        if old_files.get(relative) != entry:
            _replace(root / relative, *entry)
    for relative in old_files.keys() - files.keys():
        (root / relative).unlink(missing_ok=True)
    for folder in sorted(old_dirs - dirs, key=lambda f: -f.count("/")):
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(root / folder)
