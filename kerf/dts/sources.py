"""DTS source text: files, positions and ``/include/`` resolution.

A :class:`Source` is one file's text with a fast offset -> (line, column) mapping (it
honours ``# <line> "file"`` markers the C preprocessor leaves, like dtc). The
:class:`Includer` finds ``/include/`` targets (next to the including file first, then
in the include directories) and refuses cycles, naming the chain.
"""

from __future__ import annotations

import bisect
import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kerf.dts.diagnostics import dts_error
from kerf.errors import SourceLocation

# dtc stops at 200 nested includes; a cycle is caught long before, this is for chains.
MAX_INCLUDE_DEPTH = 100
# The largest DTS or DTB file kerf reads (a real host description is a few KiB). The
# cap keeps /dev/zero or a mistaken multi-GiB file from being read into memory.
MAX_INPUT_BYTES = 64 * 1024 * 1024


def decode_text(data: bytes) -> str:
    """File bytes as text; bytes that are not UTF-8 survive as surrogate escapes."""
    return data.decode("utf-8", errors="surrogateescape")


def read_source_file(path: Path) -> bytes:
    """The bytes of a source file (OSError propagates to the caller, who words it).

    A file larger than :data:`MAX_INPUT_BYTES` is refused with an OSError (EFBIG)
    after reading at most one byte past the limit.
    """
    with path.open("rb") as stream:
        data = stream.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise OSError(
            errno.EFBIG,
            f"larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB, the most kerf reads as a device tree",
        )
    return data


def os_reason(err: OSError) -> str:
    """The human part of an OSError (``No such file or directory``)."""
    return err.strerror or str(err)


@dataclass
class Source:
    """The text of one file and where its lines start."""

    name: str
    text: str
    directory: Path | None
    line_starts: list[int] = field(default_factory=list)
    # (offset, filename, line) from ``# 12 "file"`` markers, in offset order.
    line_marks: list[tuple[int, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        starts = [0]
        find = self.text.find
        pos = find("\n")
        while pos >= 0:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self.line_starts = starts

    def location(self, offset: int) -> SourceLocation:
        """The 1-based line and column of a character offset."""
        index = bisect.bisect_right(self.line_starts, offset) - 1
        line, col = index + 1, offset - self.line_starts[index] + 1
        if self.line_marks:
            mark = bisect.bisect_right(self.line_marks, (offset, "\U0010ffff", 0)) - 1
            if mark >= 0:
                mark_offset, name, mark_line = self.line_marks[mark]
                base = bisect.bisect_right(self.line_starts, mark_offset) - 1
                # A marker may claim line 0; locations stay 1-based.
                return SourceLocation(name, max(1, mark_line + index - base), col)
        return SourceLocation(self.name, line, col)

    def mark_line(self, offset: int, filename: str, line: int) -> None:
        """A ``# line "file"`` marker: the line starting at ``offset`` is ``line`` of ``filename``."""
        self.line_marks.append((offset, filename, line))


def source_directory(filename: str) -> Path | None:
    """The directory relative includes start from (None for ``<string>`` names)."""
    if filename.startswith("<") and filename.endswith(">"):
        return None
    return Path(os.path.dirname(filename) or ".")


def display_name(directory: Path | None, name: str) -> str:
    """How an included file is named in messages: joined to the includer's directory."""
    if directory is None or os.path.isabs(name):
        return name
    return os.path.normpath(os.path.join(str(directory), name))


@dataclass
class Includer:
    """Opens included files and keeps the chain of open includes for cycle messages."""

    include_dirs: Sequence[Path] = ()
    chain: list[tuple[str, Path | None]] = field(default_factory=list)  # (display name, real path)

    def open(self, name: str, including: Source, where: SourceLocation) -> Source:
        """The included file as a :class:`Source`; DtsError when missing or in a cycle."""
        candidates: list[tuple[str, Path]] = []
        if including.directory is not None:
            candidates.append((display_name(including.directory, name), including.directory / name))
        for directory in self.include_dirs:
            candidates.append((display_name(Path(directory), name), Path(directory) / name))
        if os.path.isabs(name):
            candidates = [(name, Path(name))]
        if not candidates:
            raise dts_error(
                where,
                f"cannot read included file {name!r}: no include directory to look in",
                hint="parse text from a file (parse_file) or pass include_dirs",
            )
        chosen = next(((shown, path) for shown, path in candidates if path.is_file()), candidates[0])
        shown, path = chosen
        real = path.resolve()
        if any(open_path == real for _, open_path in self.chain):
            names = [open_name for open_name, _ in self.chain] + [shown]
            first = next(i for i, (_, p) in enumerate(self.chain) if p == real)
            cycle = " -> ".join(names[first:])
            raise dts_error(where, f"/include/ cycle: {cycle}")
        if len(self.chain) >= MAX_INCLUDE_DEPTH:
            raise dts_error(where, f"includes nested more than {MAX_INCLUDE_DEPTH} deep")
        try:
            data = read_source_file(path)
        except OSError as err:
            raise dts_error(where, f"cannot read included file {name!r}: {os_reason(err)}") from err
        self.chain.append((shown, real))
        return Source(shown, decode_text(data), Path(os.path.dirname(shown) or "."))

    def close(self) -> None:
        """The innermost include ended."""
        self.chain.pop()
