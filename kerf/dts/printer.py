"""Printing a tree as DTS text that parses back to an equal tree.

Values are written the way their markers say they were written (cells, strings, byte
strings, ``&label`` references); values without markers (from a DTB) are guessed like
dtc's decompiler. A marker that does not fit the bytes (a cell chunk of odd length, a
reference cell that no longer holds its target's phandle) falls back to a form that
reproduces the bytes exactly.
"""

from __future__ import annotations

import struct

from kerf.dts.diagnostics import dts_error
from kerf.dts.guess import guess_markers
from kerf.dts.names import LEXER_NAME_CHARS, is_label, node_name_problem, prop_name_problem
from kerf.dts.tree import (
    CELL_BITS,
    CHUNK_KINDS,
    PHANDLE_PROPS,
    U32_MAX,
    UNRESOLVED_PHANDLE,
    Marker,
    MarkerKind,
    Node,
    Property,
    Tree,
    ref_path,
    ref_text,
)

_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r"}


def format_dts(tree: Tree) -> str:
    """The tree as DTS source (tabs, dtc's layout)."""
    printer = _Printer(tree)
    return printer.run()


def quote(data: bytes) -> str:
    """A DTS string literal for ``data`` (without its NUL terminator)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    out = ['"']
    if text is not None:
        for char in text:
            if char in '"\\':
                out.append("\\" + char)
            elif char.isprintable():
                out.append(char)
            else:
                out.extend(_escape_byte(b) for b in char.encode("utf-8"))
    else:
        for byte in data:
            char = chr(byte)
            if char in '"\\':
                out.append("\\" + char)
            elif 0x20 <= byte < 0x7F:
                out.append(char)
            else:
                out.append(_escape_byte(byte))
    out.append('"')
    return "".join(out)


def _escape_byte(byte: int) -> str:
    # Always two hex digits, so a following hex character is never swallowed.
    return _ESCAPES.get(byte, f"\\x{byte:02x}")


class _Printer:
    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.written: list[int] = []
        self.labels: dict[str, Node] = {}
        for node in tree.nodes():
            for label in node.labels:
                self.labels.setdefault(label, node)

    def run(self) -> str:
        """The whole tree as text."""
        lines = [f"/{self.tree.header}/;", ""]
        for address, size in self.tree.memreserves:
            lines.append(f"/memreserve/ {address:#x} {size:#x};")
        if self.tree.memreserves:
            lines.append("")
        stack: list[tuple[Node, int] | int] = [(self.tree.root, 0)]
        while stack:
            item = stack.pop()
            if isinstance(item, int):
                lines.append("\t" * item + "};")
                continue
            node, depth = item
            indent = "\t" * depth
            if depth == 0:
                lines.append("/ {")
            else:
                lines.append("")
                lines.append(f"{indent}{self._labels(node.labels)}{self._node_name(node)} {{")
            for prop in node.props.values():
                lines.append(f"{indent}\t{self._property(prop)}")
            stack.append(depth)
            stack.extend((child, depth + 1) for child in reversed(node.children.values()))
        if self.tree.root.labels:
            # The root cannot carry a label where it is defined; amend it instead.
            lines += ["", f"{self._labels(self.tree.root.labels)}&{{/}} {{", "};"]
        return "\n".join(lines) + "\n"

    def _labels(self, labels: list[str]) -> str:
        for label in labels:
            if not is_label(label):
                raise dts_error(None, f"cannot write label {label!r} as DTS")
        return "".join(f"{label}: " for label in labels)

    def _node_name(self, node: Node) -> str:
        problem = node_name_problem(node.name)
        if problem is not None:
            raise dts_error(None, f"cannot write node {node.path} as DTS: {problem}")
        return node.name

    def _property(self, prop: Property) -> str:
        if prop_name_problem(prop.name) is not None or not set(prop.name) <= LEXER_NAME_CHARS:
            raise dts_error(
                None, f"cannot write property {prop.name!r} as DTS: {prop_name_problem(prop.name)}"
            )
        labels = self._labels(prop.labels)
        value = self._value(prop)
        return f"{labels}{prop.name} = {value};" if value else f"{labels}{prop.name};"

    # --- values -------------------------------------------------------------------------

    def _value(self, prop: Property) -> str:
        data = prop.value
        # Seed-style wide literals are written back as written, so that the binding
        # reads the same 64-bit values from the parsed text (see Property.written_cells).
        self.written = list(prop.written_cells or ()) if self.tree.is_multikernel else []
        markers = sorted(prop.markers or guess_markers(data), key=lambda m: m.offset)
        labels = [m for m in markers if m.kind is MarkerKind.LABEL and 0 <= m.offset <= len(data)]
        refs = {m.offset: m for m in markers if m.kind is MarkerKind.PHANDLE}
        starts = [m for m in markers if m.kind in CHUNK_KINDS and 0 <= m.offset < len(data)]
        if not starts or starts[0].offset > 0:
            starts = [*guess_markers(data[: starts[0].offset if starts else len(data)])[:1], *starts]
        parts: list[str] = []
        for index, marker in enumerate(starts):
            end = starts[index + 1].offset if index + 1 < len(starts) else len(data)
            if end <= marker.offset:
                continue  # an empty chunk (``<>``) adds no bytes
            inner = [m for m in labels if marker.offset < m.offset < end]
            before = "".join(f"{m.ref}: " for m in labels if m.offset == marker.offset)
            parts.append(before + self._chunk(data, marker, end, inner, refs))
        trailing = "".join(f" {m.ref}:" for m in labels if m.offset == len(data) and data)
        if not data:
            names = [m.ref for m in labels]
            return "<>" + "".join(f" {name}:" for name in names) if names else ""
        return ", ".join(parts) + trailing

    def _chunk(
        self, data: bytes, marker: Marker, end: int, labels: list[Marker], refs: dict[int, Marker]
    ) -> str:
        chunk = data[marker.offset : end]
        kind = marker.kind
        if kind in CELL_BITS:
            size = CELL_BITS[kind] // 8
            if len(chunk) % size == 0 and all((m.offset - marker.offset) % size == 0 for m in labels):
                return self._cells(data, marker.offset, end, CELL_BITS[kind], labels, refs)
        elif kind is MarkerKind.STRING:
            if chunk.endswith(b"\0") and not labels:
                return ", ".join(quote(part) for part in _strings(chunk))
        elif kind is MarkerKind.PATH and chunk.endswith(b"\0") and not labels:
            target = self._target(marker.ref or "")
            if target is not None and target.path.encode() + b"\0" == chunk:
                return ref_text(marker.ref or "")
            return ", ".join(quote(part) for part in _strings(chunk))
        return self._bytes(data, marker.offset, end, labels)

    def _cells(
        self, data: bytes, start: int, end: int, bits: int, labels: list[Marker], refs: dict[int, Marker]
    ) -> str:
        if bits == 32 and self.written:
            as_written = self._as_written(data, start, end, labels, refs)
            if as_written is not None:
                return f"<{' '.join(as_written)}>"
            self.written = []  # the bytes no longer match what was written
        size = bits // 8
        fmt = {1: ">B", 2: ">H", 4: ">I", 8: ">Q"}[size]
        items: list[str] = []
        for offset in range(start, end, size):
            items += [f"{m.ref}:" for m in labels if m.offset == offset]
            (number,) = struct.unpack(fmt, data[offset : offset + size])
            ref = refs.get(offset) if bits == 32 else None
            if ref is not None and self._keeps_reference(ref.ref or "", number):
                items.append(ref_text(ref.ref or ""))
            else:
                items.append(f"{number:#04x}" if bits == 8 else f"{number:#x}")
        prefix = "" if bits == 32 else f"/bits/ {bits} "
        return f"{prefix}<{' '.join(items)}>"

    def _as_written(
        self, data: bytes, start: int, end: int, labels: list[Marker], refs: dict[int, Marker]
    ) -> list[str] | None:
        """The cells of a 32-bit group from ``written_cells`` (consumed), or None when
        they do not reproduce the bytes."""
        items: list[str] = []
        offset, used = start, 0
        while offset < end:
            if used == len(self.written):
                return None
            number = self.written[used]
            used += 1
            items += [f"{m.ref}:" for m in labels if m.offset == offset]
            size = 8 if number > U32_MAX else 4
            ref = refs.get(offset)
            if ref is not None and size == 4:
                (cell,) = struct.unpack(">I", data[offset : offset + 4])
                if not self._keeps_reference(ref.ref or "", cell):
                    return None
                items.append(ref_text(ref.ref or ""))
            elif offset + size > end or data[offset : offset + size] != number.to_bytes(size, "big"):
                return None
            else:
                items.append(f"{number:#x}")
            offset += size
        del self.written[:used]
        return items

    def _bytes(self, data: bytes, start: int, end: int, labels: list[Marker]) -> str:
        items: list[str] = []
        for offset in range(start, end):
            items += [f"{m.ref}:" for m in labels if m.offset == offset]
            items.append(f"{data[offset]:02x}")
        return f"[{' '.join(items)}]"

    def _target(self, ref: str) -> Node | None:
        path = ref_path(ref)
        if path is not None:
            return self.tree.find_node(path)
        return self.labels.get(ref)

    def _keeps_reference(self, ref: str, cell: int) -> bool:
        """Whether printing ``&ref`` reproduces ``cell`` when the text is parsed again."""
        target = self._target(ref)
        if target is None:
            return self.tree.is_multikernel and ref_path(ref) is None and cell == UNRESOLVED_PHANDLE
        phandle = next(
            (p for p in (target.props.get(n) for n in PHANDLE_PROPS) if p and len(p.value) == 4), None
        )
        if phandle is None:
            return cell == UNRESOLVED_PHANDLE  # a built tree: resolved when encoded
        return phandle.to_u32() == cell


def _strings(chunk: bytes) -> list[bytes]:
    """A NUL-terminated chunk as its strings; an inner NUL starts a new string."""
    return chunk[:-1].split(b"\0")
