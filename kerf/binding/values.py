"""Checked readers for the property values of the multikernel-v1 binding.

The device tree model keeps every value as raw bytes plus markers saying how the source
wrote them. These readers turn a property into the number, list, string or enum the
binding expects, and raise a located :class:`~kerf.errors.BindingError` that says what
was expected and what was found when the value has the wrong shape.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from kerf.dts.tree import MarkerKind, Node, Property
from kerf.errors import BindingError, SourceLocation

E = TypeVar("E", bound=StrEnum)

U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1

# Width in bytes of the cells that start at a marker of this kind; None: not cells.
_CELL_WIDTH: dict[MarkerKind, int | None] = {
    MarkerKind.U8: 1,
    MarkerKind.U16: 2,
    MarkerKind.U32: 4,
    MarkerKind.U64: 8,
    MarkerKind.PHANDLE: 4,
    MarkerKind.STRING: None,
    MarkerKind.BYTES: None,
    MarkerKind.PATH: None,
}


def where(item: Property | Node) -> SourceLocation | None:
    """The source location of a property (or, failing that, of its node)."""
    if isinstance(item, Property) and item.location is None and item.node is not None:
        return item.node.location
    return item.location


def prop_path(prop: Property) -> str:
    """``/resources/cpus: property 'total'`` style naming used in messages."""
    node = prop.node.path if prop.node is not None else "?"
    return f"{node}: property '{prop.name}'"


def shape_error(
    prop: Property, expected: str, found: str | None = None, hint: str | None = None
) -> BindingError:
    """A BindingError for a value of the wrong shape, located at the property."""
    return BindingError(
        f"{prop_path(prop)} should be {expected}, but it is {found or describe(prop)}",
        hint=hint,
        location=where(prop),
    )


def describe(prop: Property) -> str:
    """A short description of what a property holds, for error messages."""
    n = len(prop.value)
    if n == 0:
        return "empty"
    kinds = value_kinds(prop)
    if kinds and kinds <= {MarkerKind.STRING}:
        return "a string"
    if MarkerKind.BYTES in kinds and len(kinds) == 1:
        return f"a byte string of {n} byte{'s' if n != 1 else ''}"
    if n % 4 == 0 and kinds <= {MarkerKind.U32, MarkerKind.PHANDLE}:
        cells = n // 4
        return f"{cells} cell{'s' if cells != 1 else ''} ({n} bytes)"
    return f"{n} byte{'s' if n != 1 else ''} long"


def read_u32(prop: Property) -> int:
    """One 32-bit cell, e.g. ``total = <32>;``."""
    if len(prop.value) != 4 or _is_text(prop):
        raise shape_error(prop, "one 32-bit cell like <8>")
    return int(struct.unpack(">I", prop.value)[0])


def read_u64(prop: Property, *, wide_literals: bool) -> int:
    """A 64-bit quantity (memory sizes and bases).

    Accepted everywhere: ``<hi lo>`` and ``/bits/ 64 <v>`` (8 bytes) and a single cell
    ``<v>``. With ``wide_literals`` (the ``/multikernel-v1/`` header) also the seed's
    ``<0x0 BIG>`` and ``<BIG>`` where BIG is wider than 32 bits: the parser keeps the
    literals as written in ``Property.written_cells``.
    """
    if wide_literals and prop.written_cells is not None:
        cells = prop.written_cells
        if len(cells) == 1 and 0 <= cells[0] <= U64_MAX:
            return cells[0]
        if len(cells) == 2 and cells[0] == 0 and 0 <= cells[1] <= U64_MAX:
            return cells[1]
        if len(cells) == 2 and 0 <= cells[0] <= U32_MAX and 0 <= cells[1] <= U32_MAX:
            return (cells[0] << 32) | cells[1]
        written = " ".join(hex(c) for c in cells)
        raise shape_error(
            prop,
            "one 64-bit value",
            f"<{written}>",
            hint="write <BIG>, <0x0 BIG>, two 32-bit cells <hi lo>, or /bits/ 64 <BIG>",
        )
    if _is_text(prop):
        raise shape_error(prop, "a 64-bit number like <0x2 0x0> or /bits/ 64 <0x200000000>")
    if len(prop.value) == 8:
        return int(struct.unpack(">Q", prop.value)[0])
    if len(prop.value) == 4:
        return int(struct.unpack(">I", prop.value)[0])
    raise shape_error(
        prop,
        "a 64-bit number (two cells <hi lo>, /bits/ 64 <v>, or one cell <v>)",
        hint="for example <0x2 0x0> or /bits/ 64 <0x200000000> for 8 GiB",
    )


def read_u64_list(prop: Property) -> list[int]:
    """A list of 64-bit values, written ``/bits/ 64 <a b ...>`` (or as <hi lo> pairs)."""
    if prop.written_cells is not None:
        raise shape_error(
            prop,
            "a list of 64-bit values written /bits/ 64 <...>",
            "written with literals wider than 32 bits inside 32-bit cells",
            hint="write /bits/ 64 <base size ...>; wide literals are only accepted for single values",
        )
    if _is_text(prop) or len(prop.value) % 8:
        raise shape_error(prop, "a list of 64-bit values like /bits/ 64 <0x100000000 0x40000000>")
    return [int(v) for v in struct.unpack(f">{len(prop.value) // 8}Q", prop.value)]


def read_cells(prop: Property) -> list[int]:
    """A list of integers: 32-bit cells, or 64-bit cells where the source used ``/bits/ 64``.

    Values decoded from a DTB carry no markers and are read as 32-bit cells.
    """
    value = prop.value
    if _is_text(prop):
        raise shape_error(prop, "a list of numbers like <0 1 2 3>")
    boundaries = _cell_boundaries(prop)
    out: list[int] = []
    for start, end, width in boundaries:
        if width is None or width not in (4, 8) or (end - start) % width:
            raise shape_error(prop, "a list of 32-bit cells like <0 1 2 3> (or /bits/ 64 <...>)")
        fmt = ">I" if width == 4 else ">Q"
        out += [int(struct.unpack(fmt, value[i : i + width])[0]) for i in range(start, end, width)]
    return out


def _cell_boundaries(prop: Property) -> list[tuple[int, int, int | None]]:
    """Split the value into (start, end, cell width) chunks using the markers."""
    n = len(prop.value)
    if n == 0:
        return []
    starts: dict[int, int | None] = {}
    for marker in prop.markers:
        # References and labels sit inside a <...> group; they never change the cell width.
        if marker.kind in _CELL_WIDTH and marker.kind is not MarkerKind.PHANDLE:
            starts[marker.offset] = _CELL_WIDTH[marker.kind]
    if 0 not in starts:
        starts[0] = 4
    offsets = sorted(o for o in starts if o < n)
    return [(o, offsets[i + 1] if i + 1 < len(offsets) else n, starts[o]) for i, o in enumerate(offsets)]


def value_kinds(prop: Property) -> set[MarkerKind]:
    """The kinds of value chunks and references in a property (labels inside values ignored)."""
    return {m.kind for m in prop.markers if m.kind in _CELL_WIDTH}


def _is_text(prop: Property) -> bool:
    kinds = value_kinds(prop)
    return bool(kinds & {MarkerKind.STRING, MarkerKind.BYTES, MarkerKind.PATH})


def read_string(prop: Property) -> str:
    """Exactly one string, e.g. ``pci-id = "0000:03:00.0";``."""
    strings = read_strings(prop)
    if len(strings) != 1:
        raise shape_error(prop, "a single string", f"{len(strings)} strings")
    return strings[0]


def read_strings(prop: Property) -> list[str]:
    """A string list, e.g. ``compatible = "intel,e810", "pci";``."""
    kinds = value_kinds(prop)
    numeric = kinds & {MarkerKind.U8, MarkerKind.U16, MarkerKind.U32, MarkerKind.U64, MarkerKind.PHANDLE}
    if numeric or not prop.value or not prop.value.endswith(b"\0"):
        raise shape_error(prop, 'a string like "text"')
    try:
        return prop.value[:-1].decode("utf-8").split("\0")
    except UnicodeDecodeError:
        raise shape_error(prop, "UTF-8 text", "bytes that are not UTF-8") from None


def looks_like_strings(prop: Property) -> bool:
    """True when the value is (or, without markers, plausibly is) a list of strings."""
    kinds = value_kinds(prop)
    if kinds:
        return kinds <= {MarkerKind.STRING, MarkerKind.PATH}
    value = prop.value
    if not value.endswith(b"\0") or value.startswith(b"\0") or b"\0\0" in value:
        return False
    try:
        text = value[:-1].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() for ch in text.replace("\0", ""))


def read_flag(prop: Property) -> bool:
    """A boolean: present and empty (``exclusive-cores;``) or one cell ``<0>`` / ``<1>``."""
    if prop.is_empty:
        return True
    if len(prop.value) == 4 and not _is_text(prop):
        value = read_u32(prop)
        if value in (0, 1):
            return bool(value)
    raise shape_error(prop, "empty (a flag like 'exclusive-cores;') or <0> / <1>")


def read_enum(prop: Property, enum_type: type[E]) -> E:
    """One string from a fixed set, e.g. ``cpu-affinity = "compact";``."""
    allowed = [m.value for m in enum_type]
    try:
        text = read_string(prop)
    except BindingError:
        raise shape_error(prop, "one of " + _quoted(allowed)) from None
    try:
        return enum_type(text)
    except ValueError:
        raise BindingError(
            f'{prop_path(prop)} is "{text}", which is not one of {_quoted(allowed)}',
            hint=f'write for example {prop.name} = "{allowed[0]}";',
            location=where(prop),
        ) from None


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def unit_number(node: Node) -> int | None:
    """The unit address of ``name@N`` read as a decimal number, or None when absent/not a number."""
    address = node.unit_address
    if address is None or not address.isdigit():
        return None
    return int(address)
