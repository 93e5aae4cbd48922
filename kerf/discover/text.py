"""Small parsers for the text formats of /sys and /proc, and byte sizes on the command line.

Everything here is pure: strings in, numbers out. Malformed input raises ``ValueError``
with a short reason; the callers know which file the text came from and turn that into a
note or a :class:`~kerf.errors.KerfError` that names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SIZE = re.compile(r"^\s*(\d+)\s*([KMGTP]?)(i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50}
_PCI_ADDRESS = re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


def parse_cpulist(text: str) -> list[int]:
    """Read Linux's list format (``0-3,8,10-11``; empty means none) into ascending ids.

    Ranges with a stride (``0-15:2``, as ``isolcpus`` allows) are accepted too.
    """
    ids: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        stride = 1
        if ":" in part:
            part, stride_text = part.split(":", 1)
            stride = int(stride_text)
            if stride < 1:
                raise ValueError(f"bad stride in {part!r}")
        if "-" in part:
            low_text, high_text = part.split("-", 1)
            low, high = int(low_text), int(high_text)
            if low > high or low < 0:
                raise ValueError(f"bad range {part!r}")
            ids.update(range(low, high + 1, stride))
        else:
            value = int(part)
            if value < 0:
                raise ValueError(f"negative id {part!r}")
            ids.add(value)
    return sorted(ids)


def format_cpulist(ids: Iterable[int]) -> str:
    """Write ids in Linux's list format, merging runs: ``[0, 1, 2, 5]`` -> ``0-2,5``."""
    ordered = sorted(set(ids))
    parts: list[str] = []
    start = prev = None
    for value in ordered:
        if prev is not None and value == prev + 1:
            prev = value
            continue
        if start is not None and prev is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = value
    if start is not None and prev is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def cpus_phrase(ids: Iterable[int]) -> str:
    """``CPU 4`` or ``CPUs 3,7`` or ``CPUs 0-15``, for messages."""
    ordered = sorted(set(ids))
    return f"CPU {ordered[0]}" if len(ordered) == 1 else f"CPUs {format_cpulist(ordered)}"


def parse_size(text: str) -> int:
    """Read a byte size: ``4096``, ``32768K`` (as sysfs writes cache sizes), ``16G``, ``16GiB``.

    Suffixes are binary (K = 1024), as in the kernel's own size strings; hexadecimal
    (``0x40000000``) is accepted for addresses copied from /proc/iomem.
    """
    stripped = text.strip()
    if stripped.lower().startswith("0x"):
        return int(stripped, 16)
    match = _SIZE.match(stripped)
    if match is None:
        raise ValueError(f"expected a size such as 4096, 512M or 16G, got {text.strip()!r}")
    return int(match[1]) << _UNITS[match[2].upper()]


def format_bytes(size: int) -> str:
    """A short human-readable size: ``4 GiB`` when exact, else one decimal (``1.5 GiB``)."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            if size % (1 << shift) == 0:
                return f"{size >> shift} {unit}"
            return f"{size / (1 << shift):.1f} {unit}"
    return f"{size} B"


def parse_int(text: str) -> int:
    """An integer as sysfs writes it: decimal, or hexadecimal with ``0x``."""
    stripped = text.strip()
    return int(stripped, 16) if stripped.lower().startswith("0x") else int(stripped)


def is_pci_address(text: str) -> bool:
    """True for a full PCI address ``DDDD:BB:SS.F`` (lower-case hex)."""
    return _PCI_ADDRESS.match(text) is not None


def pci_addresses_in_path(path: str) -> list[str]:
    """The PCI addresses along a sysfs device path, outermost first.

    ``/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/net/eth0`` gives the bridge
    ``0000:00:01.0`` and then the device ``0000:01:00.0``.
    """
    return [part for part in path.split("/") if is_pci_address(part)]
