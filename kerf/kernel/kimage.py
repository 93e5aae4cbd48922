"""``/proc/kimage``: one row per loaded kexec image.

The kernel prints a header line, a dashed separator, then rows of ``%5d`` id, the type
padded to 10 (``default``, ``crash``, ``multikernel``), ``0x%012lx`` start address,
``%8lu`` segment count, the mode (``file`` or ``sys``) and the command line in double
quotes (kernel-interface reference §4.5). Rows are read by their fields rather than by
column positions, because the type ``multikernel`` is wider than its column and the
command line may contain anything, including quotes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from kerf.errors import InputError, SourceLocation

HEADER = "MK_ID  Type        Start Address   Segments  Mode  Cmdline"
SEPARATOR = "-----  ----------  --------------  --------  ----  -------"
_ROW = re.compile(
    r'^\s*(?P<id>-?\d+)\s+(?P<type>\S+)\s+0x(?P<start>[0-9a-fA-F]+)\s+(?P<segments>\d+)\s+(?P<mode>\S+)\s+"(?P<cmdline>.*)"\s*$'
)


@dataclass(frozen=True)
class KimageRow:
    """One loaded image."""

    mk_id: int
    type: str
    start: int
    segments: int
    mode: str
    cmdline: str


def parse_kimage(text: str, source: str = "/proc/kimage") -> list[KimageRow]:
    """Rows of ``/proc/kimage``; InputError (with the line) for anything unexpected."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("MK_ID") or set(stripped) <= {"-", " "}:
            continue
        m = _ROW.match(line)
        if m is None:
            raise InputError(
                f"malformed row in {source}: expected 'ID TYPE 0xSTART SEGMENTS MODE \"CMDLINE\"', "
                f"found {stripped!r}",
                location=SourceLocation(source, number, 1),
            )
        rows.append(
            KimageRow(
                int(m["id"]), m["type"], int(m["start"], 16), int(m["segments"]), m["mode"], m["cmdline"]
            )
        )
    return rows


def format_kimage(rows: Iterable[KimageRow]) -> str:
    """The text the kernel prints for these rows."""
    lines = [HEADER, SEPARATOR]
    lines += [
        f'{r.mk_id:5d}  {r.type:<10}  0x{r.start:012x}  {r.segments:8d}  {r.mode}  "{r.cmdline}"'
        for r in rows
    ]
    return "".join(line + "\n" for line in lines)
