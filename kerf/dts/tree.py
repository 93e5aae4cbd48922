"""The device tree model: nodes, properties as raw bytes with checked typed views.

A :class:`Tree` is what the DTS parser and the DTB decoder produce and what the DTB
encoder and the DTS printer consume. Property values are always the exact bytes that go
into a DTB; ``markers`` remember how the source wrote them (cells of which width,
strings, byte strings, phandle and path references) so that the printer can write them
back the same way.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum

from kerf.dts.names import is_label, node_name_problem, prop_name_problem
from kerf.errors import DtsError, SourceLocation

U32_MAX = 0xFFFF_FFFF
U64_MAX = 0xFFFF_FFFF_FFFF_FFFF
# The cell a reference holds until it is resolved (and forever when it cannot be).
UNRESOLVED_PHANDLE = 0xFFFF_FFFF
PHANDLE_PROPS = ("phandle", "linux,phandle")
HEADERS = ("dts-v1", "multikernel-v1")


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
    LABEL = "label"  # a label inside a value (``prop = <1 lbl: 2>``); ``ref`` is the label


# Marker kinds that start a new chunk of a value; PHANDLE and LABEL markers sit inside one.
CHUNK_KINDS = frozenset(
    {
        MarkerKind.U8,
        MarkerKind.U16,
        MarkerKind.U32,
        MarkerKind.U64,
        MarkerKind.STRING,
        MarkerKind.BYTES,
        MarkerKind.PATH,
    }
)
CELL_BITS = {MarkerKind.U8: 8, MarkerKind.U16: 16, MarkerKind.U32: 32, MarkerKind.U64: 64}


@dataclass
class Marker:
    """Start of a chunk of a property value. ``ref`` is the label or ``{/path}`` of a
    PHANDLE / PATH reference (or the label of a LABEL marker); ``location`` is where the
    reference was written, when it came from source text."""

    offset: int
    kind: MarkerKind
    ref: str | None = None
    location: SourceLocation | None = field(default=None, compare=False)


def ref_text(ref: str) -> str:
    """How a reference is written in DTS: ``&label`` or ``&{/path}``."""
    return f"&{ref}"


def ref_path(ref: str) -> str | None:
    """The path of a ``{/path}`` reference, or None for a label reference."""
    return ref[1:-1] if ref.startswith("{") and ref.endswith("}") else None


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
    # Under /multikernel-v1/ only, when a literal was wider than 32 bits: the integers of
    # the property's 32-bit <...> groups as written, in order (a reference counts as
    # 0xffffffff). The binding reads 64-bit values from these.
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


def _check_int(value: int, limit: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value <= limit:
        raise ValueError(f"{what} {value} is out of range 0..{limit:#x}")
    return value


def _encode_text(text: str, what: str) -> bytes:
    if "\0" in text:
        raise ValueError(f"{what} {text!r} contains a NUL character")
    return text.encode("utf-8")


def _normalize_ref(ref: str) -> str:
    """``label`` stays; ``/path`` and ``{/path}`` become ``{/path}``."""
    if ref.startswith("{/") and ref.endswith("}"):
        return ref
    if ref.startswith("/"):
        return "{" + ref + "}"
    if is_label(ref):
        return ref
    raise ValueError(f"bad reference {ref!r}: expected a label or an absolute path")


@dataclass
class Node:
    """A node: name (with unit address), labels, ordered properties and children.

    The ``set_*`` / ``add_*`` / ``delete_*`` helpers build and edit trees in code; they
    keep the owning tree's lookup tables (``label2node``, ``label2prop``, ``phandle2node``)
    up to date and record markers so that :func:`kerf.dts.format_dts` writes values the
    way a person would. They raise ValueError for programming errors (bad names, values
    out of range).
    """

    name: str
    parent: Node | None = field(default=None, repr=False, compare=False)
    labels: list[str] = field(default_factory=list)
    props: dict[str, Property] = field(default_factory=dict)
    children: dict[str, Node] = field(default_factory=dict)
    location: SourceLocation | None = None
    # Set on the root node only: the tree it belongs to.
    owner: Tree | None = field(default=None, repr=False, compare=False)

    @property
    def path(self) -> str:
        """Absolute path, ``/`` for the root."""
        parts: list[str] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/" + "/".join(reversed(parts))

    @property
    def base_name(self) -> str:
        """The name without its unit address (``ethernet`` for ``ethernet@0``)."""
        return self.name.split("@", 1)[0]

    @property
    def unit_address(self) -> str | None:
        """The unit address (``0`` for ``ethernet@0``) or None."""
        return self.name.split("@", 1)[1] if "@" in self.name else None

    @property
    def tree(self) -> Tree | None:
        """The tree this node belongs to (through its root), or None when detached."""
        node = self
        while node.parent is not None:
            node = node.parent
        return node.owner

    @property
    def depth(self) -> int:
        """0 for the root, 1 for its children, and so on."""
        depth, node = 0, self
        while node.parent is not None:
            depth, node = depth + 1, node.parent
        return depth

    def child(self, name: str) -> Node | None:
        """The child of that exact name, or None."""
        return self.children.get(name)

    def prop(self, name: str) -> Property | None:
        """The property of that name, or None."""
        return self.props.get(name)

    def walk(self) -> Iterator[Node]:
        """This node and all descendants, depth first, in order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children.values()))

    # --- building -------------------------------------------------------------------

    def add_node(self, name: str) -> Node:
        """The child called ``name``, created (last in order) when it does not exist."""
        existing = self.children.get(name)
        if existing is not None:
            return existing
        problem = node_name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        child = Node(name=name, parent=self)
        self.children[name] = child
        return child

    def add_label(self, label: str) -> None:
        """Give this node a label; a label already on another node is a ValueError."""
        if not is_label(label):
            raise ValueError(f"bad label {label!r}: expected [A-Za-z_][A-Za-z0-9_]*")
        tree = self.tree
        if tree is not None:
            other = tree.label2node.get(label)
            if other is not None and other is not self:
                raise ValueError(f"label {label!r} is already on {other.path}")
            if label in tree.label2prop:
                raise ValueError(f"label {label!r} is already on a property")
            tree.label2node[label] = self
        if label not in self.labels:
            self.labels.append(label)

    def set_empty(self, name: str) -> Property:
        """A boolean property (``name;``)."""
        return self._store(name, b"", [])

    def set_u32(self, name: str, value: int) -> Property:
        """One 32-bit cell."""
        _check_int(value, U32_MAX, f"{name}: u32 value")
        return self._store(name, struct.pack(">I", value), [Marker(0, MarkerKind.U32)])

    def set_u64(self, name: str, value: int) -> Property:
        """One 64-bit value (written ``/bits/ 64 <...>``)."""
        _check_int(value, U64_MAX, f"{name}: u64 value")
        return self._store(name, struct.pack(">Q", value), [Marker(0, MarkerKind.U64)])

    def set_cells(self, name: str, values: Iterable[int], bits: int = 32) -> Property:
        """A list of cells of ``bits`` width (8, 16, 32 or 64)."""
        kinds = {8: MarkerKind.U8, 16: MarkerKind.U16, 32: MarkerKind.U32, 64: MarkerKind.U64}
        if bits not in kinds:
            raise ValueError(f"bad cell width {bits}: expected 8, 16, 32 or 64")
        fmt = {8: "B", 16: "H", 32: "I", 64: "Q"}[bits]
        cells = [_check_int(v, (1 << bits) - 1, f"{name}: {bits}-bit cell") for v in values]
        value = struct.pack(f">{len(cells)}{fmt}", *cells)
        return self._store(name, value, [Marker(0, kinds[bits])])

    def set_string(self, name: str, text: str) -> Property:
        """One string."""
        return self._store(
            name, _encode_text(text, f"{name}: string") + b"\0", [Marker(0, MarkerKind.STRING)]
        )

    def set_strings(self, name: str, texts: Iterable[str]) -> Property:
        """A string list (an empty list makes an empty property)."""
        value = bytearray()
        markers: list[Marker] = []
        for text in texts:
            markers.append(Marker(len(value), MarkerKind.STRING))
            value += _encode_text(text, f"{name}: string") + b"\0"
        return self._store(name, bytes(value), markers)

    def set_bytes(self, name: str, data: bytes) -> Property:
        """A byte string (``[00 ff]``)."""
        if not isinstance(data, bytes | bytearray):
            raise ValueError(f"{name}: bytes expected, got {type(data).__name__}")
        return self._store(name, bytes(data), [Marker(0, MarkerKind.BYTES)])

    def set_phandle_refs(self, name: str, labels: Iterable[str]) -> Property:
        """Cells that refer to other nodes by label (or ``/path``), like ``<&a &b>``.

        The cells hold 0xffffffff until the tree is encoded: :func:`kerf.dts.to_dtb`
        gives each referenced node a ``phandle`` the way dtc does and fills them in.
        """
        refs = [_normalize_ref(label) for label in labels]
        markers = [Marker(0, MarkerKind.U32)]
        markers += [Marker(4 * i, MarkerKind.PHANDLE, ref) for i, ref in enumerate(refs)]
        value = struct.pack(f">{len(refs)}I", *([UNRESOLVED_PHANDLE] * len(refs)))
        return self._store(name, value, markers)

    def delete_prop(self, name: str) -> bool:
        """Remove a property; False when there was none of that name."""
        prop = self.props.pop(name, None)
        if prop is None:
            return False
        tree = self.tree
        if tree is not None:
            tree.forget_prop(prop)
        prop.node = None
        return True

    def delete_node(self, name: str) -> bool:
        """Remove a child and its subtree; False when there was no such child."""
        child = self.children.get(name)
        if child is None:
            return False
        tree = self.tree
        if tree is not None:
            tree.forget_subtree(child)
        del self.children[name]
        child.parent = None
        return True

    def _store(self, name: str, value: bytes, markers: list[Marker]) -> Property:
        """Set a property's value, keeping its place (and labels) when it exists."""
        problem = prop_name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        prop = self.props.get(name)
        tree = self.tree
        if prop is None:
            prop = Property(name=name, node=self)
            self.props[name] = prop
        elif tree is not None:
            tree.forget_phandle(prop)
        prop.value, prop.markers = value, markers
        prop.written_cells, prop.location = None, None
        if tree is not None:
            tree.note_phandle(prop)
        return prop


@dataclass
class Tree:
    """A whole device tree.

    ``header`` is ``"dts-v1"`` or ``"multikernel-v1"`` (for DTB input: ``"dts-v1"``).
    ``label2node`` / ``label2prop`` map labels; ``phandle2node`` maps phandles.
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

    def __post_init__(self) -> None:
        self.root.owner = self

    @classmethod
    def empty(cls, header: str = "dts-v1", filename: str = "<built>") -> Tree:
        """A tree with only a root node, to be filled with the ``Node`` helpers."""
        if header not in HEADERS:
            raise ValueError(f"bad header {header!r}: expected one of {', '.join(HEADERS)}")
        return cls(root=Node(name=""), filename=filename, header=header)

    @property
    def is_multikernel(self) -> bool:
        """True under the ``/multikernel-v1/`` header."""
        return self.header == "multikernel-v1"

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

    # --- lookup tables ----------------------------------------------------------------

    def reindex(self) -> None:
        """Rebuild ``label2node``, ``label2prop`` and ``phandle2node`` from the nodes."""
        self.root.owner = self
        self.label2node.clear()
        self.label2prop.clear()
        self.phandle2node.clear()
        for node in self.nodes():
            for label in node.labels:
                self.label2node.setdefault(label, node)
            for prop in node.props.values():
                prop.node = node
                for label in prop.labels:
                    self.label2prop.setdefault(label, prop)
                self.note_phandle(prop)

    def note_phandle(self, prop: Property) -> None:
        """Record the node of a ``phandle`` property in ``phandle2node``."""
        if prop.name in PHANDLE_PROPS and len(prop.value) == 4 and prop.node is not None:
            self.phandle2node.setdefault(prop.to_u32(), prop.node)

    def forget_phandle(self, prop: Property) -> None:
        """Drop a ``phandle`` property's entry from ``phandle2node``."""
        if prop.name in PHANDLE_PROPS and len(prop.value) == 4:
            value = prop.to_u32()
            if self.phandle2node.get(value) is prop.node:
                del self.phandle2node[value]

    def forget_prop(self, prop: Property) -> None:
        """Drop a property's labels and phandle from the lookup tables."""
        self.forget_phandle(prop)
        for label in prop.labels:
            if self.label2prop.get(label) is prop:
                del self.label2prop[label]

    def forget_subtree(self, node: Node) -> None:
        """Drop every label and phandle of ``node`` and its descendants."""
        for sub in node.walk():
            for label in sub.labels:
                if self.label2node.get(label) is sub:
                    del self.label2node[label]
            for prop in sub.props.values():
                self.forget_prop(prop)
