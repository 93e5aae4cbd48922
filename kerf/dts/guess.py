"""Guessing how to show a value that came without markers (from a DTB).

The rule is dtc's decompiler's: printable NUL-terminated text is a string list, a
multiple of four bytes is a list of cells, anything else is a byte string.
"""

from __future__ import annotations

from kerf.dts.tree import Marker, MarkerKind

_PRINTABLE = frozenset(range(0x20, 0x7F)) | frozenset(b"\a\b\t\n\v\f\r")


def looks_like_strings(value: bytes) -> bool:
    """True for one or more non-empty printable strings, each NUL-terminated."""
    if not value or value[-1] != 0 or value[0] == 0:
        return False
    if b"\0\0" in value:
        return False
    text = value.replace(b"\0", b"")
    if not all(byte in _PRINTABLE for byte in text):
        try:
            # Allow UTF-8 text too, as long as it is printable.
            return text.decode("utf-8").isprintable()
        except UnicodeDecodeError:
            return False
    return True


def guess_markers(value: bytes) -> list[Marker]:
    """Markers that make the printer show ``value`` the way a person would write it."""
    if not value:
        return []
    if looks_like_strings(value):
        markers = [Marker(0, MarkerKind.STRING)]
        markers += [Marker(i + 1, MarkerKind.STRING) for i, byte in enumerate(value[:-1]) if byte == 0]
        return markers
    if len(value) % 4 == 0:
        return [Marker(0, MarkerKind.U32)]
    return [Marker(0, MarkerKind.BYTES)]
