"""The device tree model: nodes, properties as raw bytes with checked typed views.

A :class:`Tree` is what the DTS parser and the DTB decoder produce and what the DTB
encoder and the DTS printer consume. Property values are always the exact bytes that go
into a DTB; ``markers`` remember how the source wrote them (cells of which width,
strings, byte strings, phandle and path references) so that the printer can write them
back the same way.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

from kerf.errors import DtsError, SourceLocation


class MarkerKind(Enum):
    """What starts at a marker's offset in a property value."""

    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    U64 = "u64"
    STRING = "string"
    BYTES = "bytes"
    PHANDLE = "phandle"  # a 4-byte phandle cell written as <&label> or <&{/path}>
    PATH = "path"  # a string written as &label or &{/path} outside cells


@dataclass
class Marker:
    """Start of a chunk of a property value. ``ref`` is the label or ``{/path}`` of a
    PHANDLE / PATH reference."""

    offset: int
    kind: MarkerKind
    ref: str | None = None


@dataclass(frozen=True)
class Diagnostic:
    """A non-fatal remark about the input (e.g. a portability warning)."""

    location: SourceLocation | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}warning: {self.message}"


@dataclass(frozen=True)
class UnresolvedRef:
    """A ``<&label>`` whose label no node carries. Allowed only under ``/multikernel-v1/``
    (the binding resolves derived labels like ``eth0_vf1``); the cell holds 0xffffffff."""

    label: str
    node_path: str
    prop_name: str
    offset: int
    location: SourceLocation | None


@dataclass
class Property:
    """A property: its name and raw value bytes, plus how the source wrote them."""

    name: str
    value: bytes = b""
    labels: list[str] = field(default_factory=list)
    location: SourceLocation | None = None
    markers: list[Marker] = field(default_factory=list)
    # Under /multikernel-v1/ only: the integers of a single <...> group as written, when
    # a literal was wider than 32 bits (the binding reads 64-bit values from these).
    written_cells: tuple[int, ...] | None = None
    node: Node | None = field(default=None, repr=False, compare=False)

    # --- typed views; each raises DtsError naming the property and its location ------

    def _fail(self, expected: str) -> DtsError:
        where = f"{self.node.path}: " if self.node is not None else ""
        return DtsError(
            f"{where}property '{self.name}' should be {expected}, but it is {self.describe_value()}",
            location=self.location,
        )

    def describe_value(self) -> str:
        """A short description of the raw value for error messages."""
        n = len(self.value)
        if n == 0:
            return "empty"
        return f"{n} byte{'s' if n != 1 else ''} long"

    @property
    def is_empty(self) -> bool:
        """True for a boolean property (``name;``)."""
        return not self.value

    def to_u32(self) -> int:
        """The value as one 32-bit cell (exactly 4 bytes)."""
        if len(self.value) != 4:
            raise self._fail("one 32-bit cell (4 bytes)")
        return int(struct.unpack(">I", self.value)[0])

    def to_u64(self) -> int:
        """The value as one 64-bit quantity (exactly 8 bytes, two cells high first)."""
        if len(self.value) != 8:
            raise self._fail("one 64-bit value (8 bytes, e.g. /bits/ 64 <N> or <hi lo>)")
        return int(struct.unpack(">Q", self.value)[0])

    def to_cells(self, bits: int = 32) -> list[int]:
        """The value as a list of cells of ``bits`` width (8, 16, 32 or 64)."""
        size = bits // 8
        if bits not in (8, 16, 32, 64):
            raise ValueError(f"bad cell width {bits}")
        if len(self.value) % size:
            raise self._fail(f"a list of {bits}-bit cells (a multiple of {size} bytes)")
        fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
        return list(struct.unpack(f">{len(self.value) // size}{fmt}", self.value))

    def to_u32s(self) -> list[int]:
        """The value as a list of 32-bit cells."""
        return self.to_cells(32)

    def to_u64s(self) -> list[int]:
        """The value as a list of 64-bit values."""
        return self.to_cells(64)

    def to_strings(self) -> list[str]:
        """The value as a string list (NUL-terminated UTF-8 strings)."""
        if not self.value or not self.value.endswith(b"\0"):
            raise self._fail("a string or list of strings (NUL-terminated)")
        try:
            return self.value[:-1].decode("utf-8").split("\0")
        except UnicodeDecodeError as e:
            raise self._fail("text (UTF-8)") from e

    def to_string(self) -> str:
        """The value as exactly one string."""
        strings = self.to_strings()
        if len(strings) != 1:
            raise self._fail("a single string")
        return strings[0]

    def to_bytes(self) -> bytes:
        """The raw value."""
        return self.value


@dataclass
class Node:
    """A node: name (with unit address), labels, ordered properties and children."""

    name: str
    parent: Node | None = field(default=None, repr=False)
    labels: list[str] = field(default_factory=list)
    props: dict[str, Property] = field(default_factory=dict)
    children: dict[str, Node] = field(default_factory=dict)
    location: SourceLocation | None = None

    @property
    def path(self) -> str:
        """Absolute path, ``/`` for the root."""
        if self.parent is None:
            return "/"
        parent = self.parent.path
        return f"{parent}{self.name}" if parent == "/" else f"{parent}/{self.name}"

    @property
    def base_name(self) -> str:
        """The name without its unit address (``ethernet`` for ``ethernet@0``)."""
        return self.name.split("@", 1)[0]

    @property
    def unit_address(self) -> str | None:
        """The unit address (``0`` for ``ethernet@0``) or None."""
        return self.name.split("@", 1)[1] if "@" in self.name else None

    def child(self, name: str) -> Node | None:
        """The child of that exact name, or None."""
        return self.children.get(name)

    def prop(self, name: str) -> Property | None:
        """The property of that name, or None."""
        return self.props.get(name)

    def walk(self) -> Iterator[Node]:
        """This node and all descendants, depth first, in order."""
        yield self
        for child in self.children.values():
            yield from child.walk()


@dataclass
class Tree:
    """A whole device tree.

    ``header`` is ``"dts-v1"`` or ``"multikernel-v1"`` (for DTB input: ``"dts-v1"``).
    ``label2node`` / ``label2prop`` map labels; ``phandle2node`` maps assigned phandles.
    """

    root: Node
    filename: str = "<string>"
    header: str = "dts-v1"
    plugin: bool = False
    memreserves: list[tuple[int, int]] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    unresolved_refs: list[UnresolvedRef] = field(default_factory=list)
    label2node: dict[str, Node] = field(default_factory=dict)
    label2prop: dict[str, Property] = field(default_factory=dict)
    phandle2node: dict[int, Node] = field(default_factory=dict)

    def find_node(self, path: str) -> Node | None:
        """The node at an absolute path (``/resources/cpus``), or None."""
        if not path.startswith("/"):
            return None
        node = self.root
        for part in (p for p in path.split("/") if p):
            child = node.children.get(part)
            if child is None:
                return None
            node = child
        return node

    def get_node(self, path: str) -> Node:
        """The node at an absolute path; DtsError when it does not exist."""
        node = self.find_node(path)
        if node is None:
            raise DtsError(f"no node at path {path}", location=None)
        return node

    def nodes(self) -> Iterator[Node]:
        """Every node, depth first."""
        return self.root.walk()
