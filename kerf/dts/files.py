"""Reading device trees from files: DTS text or DTB, chosen by content."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kerf.dts.dtb import from_dtb, is_dtb
from kerf.dts.parser import parse
from kerf.dts.sources import decode_text, os_reason, read_source_file
from kerf.dts.tree import Tree
from kerf.errors import InputError


def _read(path: Path) -> bytes:
    try:
        return read_source_file(path)
    except OSError as err:
        raise InputError(
            f"cannot read {path}: {os_reason(err)}",
            hint="check the path" if isinstance(err, FileNotFoundError) else None,
        ) from err


def parse_file(path: str | Path, *, include_dirs: Sequence[Path] = ()) -> Tree:
    """Parse a DTS file; ``/include/`` paths are relative to the including file, then
    looked up in ``include_dirs``."""
    path = Path(path)
    return parse(decode_text(_read(path)), str(path), include_dirs=include_dirs)


def load(path: str | Path) -> Tree:
    """A device tree from a DTS or DTB file (a DTB starts with the magic 0xd00dfeed)."""
    path = Path(path)
    data = _read(path)
    if is_dtb(data):
        return from_dtb(data, str(path))
    return parse(decode_text(data), str(path))
