"""``/proc/iomem``: the physical memory map, and the multikernel pool within it.

Each line is ``<indent><start>-<end> : <name>`` with two spaces of indentation per
nesting level and inclusive hexadecimal bounds. The multikernel kernel registers every
pool chunk as a top-level ``Multikernel Memory Pool`` entry and every instance memory
region as a child of its chunk named ``mk-instance-<id>-<name>-region-<k>``
(kernel-interface reference §5.1). There may be several chunks; all are read.

Linux shows zero addresses to readers without CAP_SYS_ADMIN; :class:`Iomem` records
that (``addresses_hidden``) and refuses to report pool ranges it cannot see.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kerf.errors import InputError, PermissionDeniedError, SourceLocation
from planner.hardware import MemoryRange

POOL_NAME = "Multikernel Memory Pool"
_LINE = re.compile(r"^(?P<indent> *)(?P<start>[0-9a-fA-F]+)-(?P<end>[0-9a-fA-F]+) : (?P<name>.*)$")
_REGION = re.compile(r"^mk-instance-(?P<id>\d+)-(?P<name>.+)-region-(?P<index>\d+)$")


@dataclass(frozen=True)
class IomemEntry:
    """One resource: inclusive bounds as the file shows them, name, nested resources."""

    start: int
    end: int
    name: str
    children: tuple[IomemEntry, ...] = ()

    @property
    def range(self) -> MemoryRange:
        """The resource as ``[start, end + 1)``."""
        return MemoryRange(self.start, self.end - self.start + 1)

    def walk(self, depth: int = 0) -> Iterator[tuple[int, IomemEntry]]:
        """(depth, entry) for this entry and every descendant, in file order."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


@dataclass(frozen=True)
class InstanceRegion:
    """A memory region the kernel gave an instance (``mk-instance-<id>-<name>-region-<k>``)."""

    instance_id: int
    instance_name: str
    index: int
    range: MemoryRange


@dataclass(frozen=True)
class PoolChunk:
    """One ``Multikernel Memory Pool`` chunk and the instance regions inside it."""

    range: MemoryRange
    regions: tuple[InstanceRegion, ...] = ()

    @property
    def used_bytes(self) -> int:
        """Bytes of the chunk given to instances."""
        return sum(r.range.size for r in self.regions)


@dataclass(frozen=True)
class Iomem:
    """A parsed ``/proc/iomem``."""

    entries: tuple[IomemEntry, ...]
    source: str = "/proc/iomem"
    addresses_hidden: bool = field(default=False)

    def walk(self) -> Iterator[tuple[int, IomemEntry]]:
        """(depth, entry) for every entry in file order."""
        for entry in self.entries:
            yield from entry.walk()

    def find(self, name: str) -> list[IomemEntry]:
        """Every entry (at any depth) with exactly this name."""
        return [e for _, e in self.walk() if e.name == name]

    def _require_addresses(self) -> None:
        if self.addresses_hidden:
            raise PermissionDeniedError(
                f"{self.source} shows only zero addresses: Linux hides them from readers without "
                "CAP_SYS_ADMIN, so the multikernel pool cannot be located",
                hint="run kerf as root",
            )

    def pool_chunks(self) -> list[PoolChunk]:
        """Every pool chunk with its instance regions, in address order."""
        chunks = []
        for entry in self.find(POOL_NAME):
            self._require_addresses()
            regions = tuple(r for _, child in entry.walk() if (r := _region(child)) is not None)
            chunks.append(PoolChunk(entry.range, regions))
        return sorted(chunks, key=lambda c: c.range.base)

    def instance_regions(self) -> list[InstanceRegion]:
        """Every instance region anywhere in the map, in file order."""
        regions = [r for _, e in self.walk() if (r := _region(e)) is not None]
        if regions:
            self._require_addresses()
        return regions


def _region(entry: IomemEntry) -> InstanceRegion | None:
    m = _REGION.match(entry.name)
    if m is None:
        return None
    return InstanceRegion(int(m["id"]), m["name"], int(m["index"]), entry.range)


def parse_iomem(text: str, source: str = "/proc/iomem") -> Iomem:
    """Parse the text of ``/proc/iomem``; InputError (with line and column) on a malformed line."""
    roots: list[IomemEntry] = []
    # Open entries by depth: (start, end, name, children collected so far).
    stack: list[tuple[int, int, str, list[IomemEntry]]] = []
    all_zero = True
    seen = False

    def close_to(depth: int) -> None:
        while len(stack) > depth:
            start, end, name, children = stack.pop()
            entry = IomemEntry(start, end, name, tuple(children))
            (stack[-1][3] if stack else roots).append(entry)

    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise InputError(
                f"malformed line in {source}: expected '<start>-<end> : <name>', found {line.strip()!r}",
                location=SourceLocation(source, number, 1),
            )
        indent = len(m["indent"])
        if indent % 2 or indent // 2 > len(stack):
            raise InputError(
                f"bad nesting in {source}: {indent} spaces of indentation under "
                f"{len(stack)} open level(s) (two spaces per level)",
                location=SourceLocation(source, number, 1),
            )
        start, end = int(m["start"], 16), int(m["end"], 16)
        if end < start:
            raise InputError(
                f"bad range in {source}: end {end:#x} is below start {start:#x}",
                location=SourceLocation(source, number, len(m["indent"]) + 1),
            )
        seen = True
        all_zero = all_zero and start == 0 and end == 0
        close_to(indent // 2)
        stack.append((start, end, m["name"], []))
    close_to(0)
    return Iomem(tuple(roots), source, addresses_hidden=seen and all_zero)


def format_iomem(entries: Iterable[IomemEntry]) -> str:
    """The text the kernel would show for these entries (widths as on 64-bit machines:
    at least 8 hex digits, more when the address needs them)."""
    lines = []
    for entry in entries:
        for depth, e in entry.walk():
            lines.append(f"{'  ' * depth}{e.start:08x}-{e.end:08x} : {e.name}")
    return "".join(line + "\n" for line in lines)
