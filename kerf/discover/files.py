"""Reading a pseudo-filesystem (/sys or /proc) under a root that tests can replace.

Containers and unprivileged users see partial trees: files go missing, some are
unreadable, some read as zeros. :class:`RootedFs` never raises for that; it answers
``None`` (or an empty list) and remembers which paths it could not read, so the caller
can say what was missing and what it assumed instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from kerf.discover.text import parse_cpulist, parse_int


class RootedFs:
    """Read-only access to one tree (``/sys`` or ``/proc``), addressed by relative paths.

    ``shown_as`` is how the tree is named in messages (``/sys``), whatever the root.
    """

    def __init__(self, root: str | Path, shown_as: str) -> None:
        self.root = Path(root)
        self.shown_as = shown_as
        self.unreadable: list[str] = []

    def shown(self, rel: str) -> str:
        """The path as a user would know it: ``/sys/devices/system/cpu/online``."""
        return f"{self.shown_as}/{rel}".rstrip("/")

    def path(self, rel: str) -> Path:
        """The real path of a relative one."""
        return self.root / rel

    def exists(self, rel: str) -> bool:
        """True when the path exists (following links)."""
        return self.path(rel).exists()

    def is_dir(self, rel: str) -> bool:
        """True when the path is a directory (following links)."""
        return self.path(rel).is_dir()

    def text(self, rel: str) -> str | None:
        """The file's text, or ``None`` when it is missing or unreadable (remembered)."""
        try:
            return self.path(rel).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None
        except (PermissionError, IsADirectoryError, NotADirectoryError, OSError):
            # sysfs answers some reads with EIO/EINVAL/EPERM (e.g. root-only attributes);
            # that is "could not read", not a crash.
            self.unreadable.append(self.shown(rel))
            return None

    def line(self, rel: str) -> str | None:
        """The first line of a one-value file, stripped; ``None`` when missing."""
        text = self.text(rel)
        if text is None:
            return None
        return text.strip().split("\n", 1)[0].strip()

    def integer(self, rel: str) -> int | None:
        """A one-integer file (decimal or ``0x`` hex); ``None`` when missing or malformed."""
        value = self.line(rel)
        if value is None:
            return None
        try:
            return parse_int(value)
        except ValueError:
            return None

    def hex_integer(self, rel: str) -> int | None:
        """A one-integer file written in hex without ``0x`` (``block_size_bytes``)."""
        value = self.line(rel)
        if value is None:
            return None
        try:
            return int(value, 16)
        except ValueError:
            return None

    def cpulist(self, rel: str) -> list[int] | None:
        """A Linux list file (``0-3,8``); ``None`` when missing or malformed."""
        value = self.line(rel)
        if value is None:
            return None
        try:
            return parse_cpulist(value)
        except ValueError:
            return None

    def listdir(self, rel: str) -> list[str]:
        """Names in a directory, sorted; empty when missing or unreadable."""
        try:
            return sorted(os.listdir(self.path(rel)))
        except FileNotFoundError:
            return []
        except OSError:
            self.unreadable.append(self.shown(rel))
            return []

    def numbered(self, rel: str, prefix: str) -> list[int]:
        """The numbers N of entries named ``<prefix>N`` in a directory, ascending."""
        numbers = []
        for name in self.listdir(rel):
            suffix = name[len(prefix) :]
            if name.startswith(prefix) and suffix.isdigit():
                numbers.append(int(suffix))
        return sorted(numbers)

    def link_name(self, rel: str) -> str | None:
        """The last component of a symbolic link's target (``0000:03:00.1``), or ``None``."""
        try:
            return os.path.basename(os.readlink(self.path(rel)))
        except OSError:
            return None

    def resolve(self, rel: str) -> str | None:
        """The fully resolved path of an entry, relative to the root, or ``None``."""
        try:
            real = self.path(rel).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        try:
            return real.relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return real.as_posix()
