"""What discovery reads from /proc: APIC ids, RAM ranges, and what the host itself uses.

* ``cpuinfo``: ``processor`` / ``apicid`` pairs (x86), the CPU model name;
* ``iomem``: top-level ``System RAM`` ranges (shown as zeros to non-root readers);
* ``meminfo``: the total, when nothing better is known;
* ``self/mountinfo``, ``swaps``: the block devices the host has mounted or swaps on;
* ``net/route``, ``net/ipv6_route``: the interfaces that carry a default route.
"""

from __future__ import annotations

from dataclasses import dataclass

from kerf.discover.files import RootedFs
from planner.hardware import MemoryRange


@dataclass(frozen=True)
class CpuInfo:
    """The parts of /proc/cpuinfo discovery needs."""

    apic_ids: dict[int, int]  # logical processor number -> APIC id
    processors: tuple[int, ...]  # every "processor" number listed
    model_name: str = ""


def read_cpuinfo(proc: RootedFs) -> CpuInfo | None:
    """Parse /proc/cpuinfo; ``None`` when it is missing or unreadable."""
    text = proc.text("cpuinfo")
    if text is None:
        return None
    apic: dict[int, int] = {}
    processors: list[int] = []
    model = ""
    current: int | None = None
    for raw in text.splitlines():
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "processor":
            current = int(value) if value.isdigit() else None
            if current is not None:
                processors.append(current)
        elif key == "apicid" and current is not None and value.isdigit():
            apic[current] = int(value)
        elif key == "model name" and not model:
            model = value
    return CpuInfo(apic, tuple(processors), model)


@dataclass(frozen=True)
class IomemRam:
    """The ``System RAM`` ranges of /proc/iomem; ``hidden`` when the kernel showed zeros."""

    ranges: tuple[MemoryRange, ...]
    hidden: bool


def read_iomem_ram(proc: RootedFs) -> IomemRam | None:
    """Top-level ``System RAM`` ranges, ascending; ``None`` when /proc/iomem is unreadable."""
    text = proc.text("iomem")
    if text is None:
        return None
    ranges: list[MemoryRange] = []
    zeros = 0
    for raw in text.splitlines():
        # Nested entries are indented; only top-level lines describe RAM itself.
        if not raw or raw[0].isspace():
            continue
        span, sep, name = raw.partition(" : ")
        if not sep or name.strip() != "System RAM":
            continue
        start_text, dash, end_text = span.strip().partition("-")
        try:
            start, end = int(start_text, 16), int(end_text, 16)
        except ValueError:
            continue
        if not dash or end < start:
            continue
        if start == 0 and end == 0:
            zeros += 1
            continue
        ranges.append(MemoryRange(start, end - start + 1))
    return IomemRam(tuple(sorted(ranges)), hidden=zeros > 0 and not ranges)


def read_memtotal(proc: RootedFs) -> int | None:
    """MemTotal of /proc/meminfo in bytes."""
    text = proc.text("meminfo")
    if text is None:
        return None
    return meminfo_total(text)


def meminfo_total(text: str) -> int | None:
    """The ``MemTotal`` line of a meminfo file (global or per node) in bytes."""
    for raw in text.splitlines():
        if "MemTotal:" in raw:
            words = raw.split("MemTotal:", 1)[1].split()
            if words and words[0].isdigit():
                unit = words[1].lower() if len(words) > 1 else "kb"
                return int(words[0]) * (1024 if unit == "kb" else 1)
    return None


@dataclass(frozen=True)
class HostUse:
    """Block devices and network interfaces the host itself relies on.

    ``devices`` maps a ``major:minor`` number or a block device name (``nvme0n1p2``) to
    why the host needs it (``mounted on /``, ``swap``); ``routes`` maps an interface to
    ``default route``.
    """

    devices: dict[str, list[str]]
    routes: dict[str, list[str]]


def read_host_use(proc: RootedFs) -> HostUse:
    """Collect mounts, swap areas and default-route interfaces (each optional)."""
    devices: dict[str, list[str]] = {}
    text = proc.text("self/mountinfo")
    for raw in (text or "").splitlines():
        left, sep, right = raw.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5:
            continue
        why = f"mounted on {fields[4]}"
        if not fields[2].startswith("0:"):
            devices.setdefault(fields[2], []).append(why)
        if len(tail) >= 2 and tail[1].startswith("/dev/"):
            devices.setdefault(tail[1].removeprefix("/dev/"), []).append(why)
    for raw in (proc.text("swaps") or "").splitlines()[1:]:
        words = raw.split()
        if words and words[0].startswith("/dev/"):
            devices.setdefault(words[0].removeprefix("/dev/"), []).append("swap")

    routes: dict[str, list[str]] = {}
    for raw in (proc.text("net/route") or "").splitlines()[1:]:
        words = raw.split()
        if len(words) >= 8 and words[1] == "00000000" and words[7] == "00000000":
            routes.setdefault(words[0], ["default route"])
    for raw in (proc.text("net/ipv6_route") or "").splitlines():
        words = raw.split()
        if len(words) >= 10 and words[0] == "0" * 32 and words[1] == "00" and words[9] != "lo":
            routes.setdefault(words[9], ["default route"])
    return HostUse(devices, routes)
