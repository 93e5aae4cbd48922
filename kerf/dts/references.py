"""Phandles and references: explicit ``phandle`` properties, ``<&label>`` cells and
``&label`` path strings, resolved the way dtc does it.

dtc numbers phandles in the order nodes are first referenced, walking the tree depth
first (properties in order, references in order), with one counter that starts at 1
and skips values already taken by explicit ``phandle = <N>`` properties. The node gets a
``phandle`` property appended to its properties.

The same plan serves the parser (which applies it to the tree) and the DTB encoder
(which applies it to the bytes it writes, leaving a built tree untouched).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from kerf.dts.diagnostics import dts_error
from kerf.dts.tree import (
    PHANDLE_PROPS,
    UNRESOLVED_PHANDLE,
    Marker,
    MarkerKind,
    Node,
    Property,
    Tree,
    UnresolvedRef,
    ref_path,
    ref_text,
)


@dataclass
class ReferencePlan:
    """What resolving the references of a tree changes.

    ``new_phandles`` maps nodes (by id) to the phandle they receive; those without a
    ``phandle`` property get one appended. ``cells`` are the reference cells to write.
    """

    new_phandles: dict[int, tuple[Node, int]] = field(default_factory=dict)
    cells: list[tuple[Property, int, int]] = field(default_factory=list)
    unresolved: list[UnresolvedRef] = field(default_factory=list)
    referenced: set[int] = field(default_factory=set)


class _Planner:
    def __init__(self, tree: Tree, lenient: bool) -> None:
        self.tree = tree
        self.lenient = lenient
        self.plan = ReferencePlan()
        self.phandles: dict[int, int] = {}  # id(node) -> phandle
        self.used: dict[int, Node] = {}
        self.counter = 1
        self.labels: dict[str, Node] = {}
        for node in tree.nodes():
            for label in node.labels:
                self.labels.setdefault(label, node)

    def lookup(self, ref: str) -> Node | None:
        """The node a reference names (``label`` or ``{/path}``), or None."""
        path = ref_path(ref)
        if path is not None:
            return self.tree.find_node(path)
        return self.labels.get(ref)

    def explicit_phandles(self) -> None:
        """dtc's explicit_phandles check: valid, consistent and unique values."""
        for node in self.tree.nodes():
            values: dict[str, int] = {}
            for name in PHANDLE_PROPS:
                prop = node.props.get(name)
                if prop is None:
                    continue
                value = self._explicit_value(node, prop)
                if value is not None:
                    values[name] = value
            if len(values) == 2 and values["phandle"] != values["linux,phandle"]:
                raise dts_error(
                    node.props["phandle"].location,
                    f"{node.path} has different 'phandle' and 'linux,phandle' values",
                )
            if not values:
                continue
            value = next(iter(values.values()))
            other = self.used.get(value)
            if other is not None and other is not node:
                raise dts_error(
                    node.props["phandle" if "phandle" in values else "linux,phandle"].location,
                    f"duplicated phandle {value:#x} in {node.path} (already used by {other.path})",
                )
            self.used[value] = node
            self.phandles[id(node)] = value

    def _explicit_value(self, node: Node, prop: Property) -> int | None:
        if len(prop.value) != 4:
            raise dts_error(
                prop.location,
                f"'{prop.name}' of {node.path} must be one 32-bit cell, found {len(prop.value)} bytes",
            )
        value = prop.to_u32()
        refs = [m for m in prop.markers if m.kind is MarkerKind.PHANDLE]
        if refs:
            if self.lookup(refs[0].ref or "") is not node:
                raise dts_error(
                    refs[0].location or prop.location,
                    f"'{prop.name}' of {node.path} refers to another node ({ref_text(refs[0].ref or '')})",
                    hint="a node's own phandle may only be written as a reference to itself",
                )
            if value == UNRESOLVED_PHANDLE:
                return None  # "give me a phandle": allocated when the reference is resolved
        if value in (0, UNRESOLVED_PHANDLE):
            raise dts_error(prop.location, f"bad value ({value:#x}) in '{prop.name}' of {node.path}")
        return value

    def phandle_of(self, node: Node) -> int:
        """The node's phandle, allocating the next free one like dtc when it has none."""
        known = self.phandles.get(id(node))
        if known is not None:
            return known
        while self.counter in self.used:
            self.counter += 1
        value = self.counter
        self.used[value] = node
        self.phandles[id(node)] = value
        self.plan.new_phandles[id(node)] = (node, value)
        return value

    def references(self) -> None:
        """Fill every ``<&ref>`` cell, in dtc's order."""
        for node in self.tree.nodes():
            for prop in list(node.props.values()):
                for marker in prop.markers:
                    if marker.kind is MarkerKind.PHANDLE:
                        self._phandle_cell(node, prop, marker)

    def _phandle_cell(self, node: Node, prop: Property, marker: Marker) -> None:
        ref = marker.ref or ""
        target = self.lookup(ref)
        if target is None and prop.value[marker.offset : marker.offset + 4] != b"\xff\xff\xff\xff":
            # Resolved earlier (at parse time) to a node that has since gone, like an
            # unreferenced /omit-if-no-ref/ parent: the cell keeps its value, as in dtc.
            return
        if target is None:
            path = ref_path(ref)
            if self.lenient and path is None:
                self.plan.unresolved.append(
                    UnresolvedRef(ref, node.path, prop.name, marker.offset, marker.location)
                )
                self.plan.cells.append((prop, marker.offset, UNRESOLVED_PHANDLE))
                return
            what = f"no node at path '{path}'" if path is not None else f"unknown label '{ref}'"
            raise dts_error(
                marker.location or prop.location,
                f"{what} in reference {ref_text(ref)} (property '{prop.name}' of {node.path})",
                hint="define the label on a node, e.g. 'eth0: ethernet@0 { ... };'",
            )
        self.plan.referenced.add(id(target))
        self.plan.cells.append((prop, marker.offset, self.phandle_of(target)))


def plan_references(tree: Tree, *, lenient: bool) -> ReferencePlan:
    """Work out phandles and reference cells without changing the tree.

    ``lenient`` (the ``/multikernel-v1/`` rule) keeps references to missing labels as
    0xffffffff cells and lists them in ``unresolved`` instead of raising.
    """
    planner = _Planner(tree, lenient)
    planner.explicit_phandles()
    planner.references()
    return planner.plan


def patched_value(prop: Property, cells: Iterable[tuple[int, int]]) -> bytes:
    """``prop``'s value with reference cells (offset, phandle) written in."""
    value = bytearray(prop.value)
    for offset, phandle in cells:
        value[offset : offset + 4] = struct.pack(">I", phandle)
    return bytes(value)


def apply_plan(plan: ReferencePlan) -> None:
    """Write a plan into its tree: fill cells, append ``phandle`` properties."""
    by_prop: dict[int, tuple[Property, list[tuple[int, int]]]] = {}
    for prop, offset, phandle in plan.cells:
        by_prop.setdefault(id(prop), (prop, []))[1].append((offset, phandle))
    for prop, cells in by_prop.values():
        prop.value = patched_value(prop, cells)
    for node, phandle in plan.new_phandles.values():
        if "phandle" not in node.props:
            node.props["phandle"] = Property(
                "phandle", struct.pack(">I", phandle), markers=[Marker(0, MarkerKind.U32)], node=node
            )


def _splice_paths(tree: Tree, referenced: set[int]) -> None:
    """Put the target path into every ``&ref`` path value (they are empty until now)."""
    labels: dict[str, Node] = {}
    for node in tree.nodes():
        for label in node.labels:
            labels.setdefault(label, node)
    for node in tree.nodes():
        for prop in node.props.values():
            if not any(m.kind is MarkerKind.PATH for m in prop.markers):
                continue
            value = bytearray(prop.value)
            shift = 0
            for marker in prop.markers:
                marker.offset += shift
                if marker.kind is not MarkerKind.PATH:
                    continue
                ref = marker.ref or ""
                path = ref_path(ref)
                target = tree.find_node(path) if path is not None else labels.get(ref)
                if target is None:
                    what = f"no node at path '{path}'" if path is not None else f"unknown label '{ref}'"
                    raise dts_error(
                        marker.location or prop.location,
                        f"{what} in reference {ref_text(ref)} (property '{prop.name}' of {node.path})",
                    )
                referenced.add(id(target))
                text = target.path.encode() + b"\0"
                value[marker.offset : marker.offset] = text
                shift += len(text)
            prop.value = bytes(value)


def resolve_parsed(tree: Tree, omitted: list[Node]) -> None:
    """Finish a freshly parsed tree: phandles, reference cells, path strings, then
    ``/omit-if-no-ref/`` nodes nobody refers to are dropped; the lookup tables are filled."""
    plan = plan_references(tree, lenient=tree.is_multikernel)
    apply_plan(plan)
    tree.unresolved_refs = plan.unresolved
    referenced = set(plan.referenced)
    _splice_paths(tree, referenced)
    for node in omitted:
        if (
            id(node) not in referenced
            and node.parent is not None
            and node.parent.children.get(node.name) is node
        ):
            del node.parent.children[node.name]
            node.parent = None
    tree.reindex()
