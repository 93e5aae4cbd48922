"""The tree as the parser builds it, with dtc's merge and delete rules.

dtc does not remove deleted properties and nodes: it marks them, and a later definition
of the same name brings the old entry back at its old place. The first ``/ { }`` block
is taken as written, while later blocks and ``&label { }`` amendments are merged. These
rules decide the order of properties and nodes in the output (and so the DTB bytes), so
they are kept exactly here; :func:`to_tree` then drops everything marked deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from kerf.dts.tree import Marker, Node, Property
from kerf.errors import SourceLocation


@dataclass
class RawLabel:
    """A label where it was written; ``deleted`` once its node or property is deleted."""

    name: str
    location: SourceLocation
    # Order of definition across the whole input (includes too): which of two came first.
    sequence: int = 0
    deleted: bool = False


@dataclass(eq=False)
class RawProp:
    """A property definition, or a ``/delete-property/`` entry (``deleted`` from the start)."""

    name: str
    location: SourceLocation
    value: bytes = b""
    markers: list[Marker] = field(default_factory=list)
    labels: list[RawLabel] = field(default_factory=list)
    # Labels written inside the value (``<1 lbl: 2>``), also recorded as LABEL markers.
    value_labels: list[RawLabel] = field(default_factory=list)
    written_cells: tuple[int, ...] | None = None
    deleted: bool = False


@dataclass(eq=False)
class RawNode:
    """A node definition, or a ``/delete-node/`` entry (``deleted`` from the start)."""

    name: str
    location: SourceLocation
    labels: list[RawLabel] = field(default_factory=list)
    props: list[RawProp] = field(default_factory=list)
    children: list[RawNode] = field(default_factory=list)
    parent: RawNode | None = field(default=None, repr=False, compare=False)
    deleted: bool = False
    omit_if_no_ref: bool = False

    def live_props(self) -> Iterator[RawProp]:
        """Properties not marked deleted, in order."""
        return (p for p in self.props if not p.deleted)

    def live_children(self) -> Iterator[RawNode]:
        """Children not marked deleted, in order."""
        return (c for c in self.children if not c.deleted)

    def live_labels(self) -> Iterator[RawLabel]:
        """Labels not marked deleted."""
        return (label for label in self.labels if not label.deleted)

    def add_child(self, child: RawNode) -> None:
        """Append a child."""
        child.parent = self
        self.children.append(child)

    @property
    def path(self) -> str:
        """Absolute path of the node."""
        parts: list[str] = []
        node: RawNode | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/" + "/".join(reversed(parts))

    def walk(self) -> Iterator[RawNode]:
        """This node and its live descendants, depth first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(list(node.live_children())))


def add_label(labels: list[RawLabel], label: RawLabel) -> None:
    """Add a label (reviving it when the same name is there, deleted or not)."""
    for existing in labels:
        if existing.name == label.name:
            existing.deleted = False
            return
    labels.append(label)


def delete_property(prop: RawProp) -> None:
    """Mark a property and its labels deleted."""
    prop.deleted = True
    for label in (*prop.labels, *prop.value_labels):
        label.deleted = True


def delete_node(node: RawNode) -> None:
    """Mark a node, its subtree and their labels deleted."""
    stack = [node]
    while stack:
        current = stack.pop()
        current.deleted = True
        for prop in current.live_props():
            delete_property(prop)
        for label in current.labels:
            label.deleted = True
        stack.extend(current.live_children())


def merge_nodes(old: RawNode, new: RawNode) -> None:
    """Merge a later definition into an existing node, dtc's way."""
    old.deleted = False
    for label in new.labels:
        add_label(old.labels, label)
    for new_prop in new.props:
        if new_prop.deleted:
            target = next((p for p in old.props if p.name == new_prop.name), None)
            if target is not None:
                delete_property(target)
            continue
        old_prop = next((p for p in old.props if p.name == new_prop.name), None)
        if old_prop is None:
            old.props.append(new_prop)
            continue
        for label in new_prop.labels:
            add_label(old_prop.labels, label)
        old_prop.value, old_prop.markers = new_prop.value, new_prop.markers
        old_prop.value_labels = new_prop.value_labels
        old_prop.written_cells, old_prop.location = new_prop.written_cells, new_prop.location
        old_prop.deleted = False
    for new_child in new.children:
        if new_child.deleted:
            target_node = next((c for c in old.live_children() if c.name == new_child.name), None)
            if target_node is not None:
                delete_node(target_node)
            continue
        old_child = next((c for c in old.children if c.name == new_child.name), None)
        if old_child is None:
            old.add_child(new_child)
        else:
            merge_nodes(old_child, new_child)


def node_by_label(root: RawNode, label: str) -> RawNode | None:
    """The first live node (depth first) carrying a live label."""
    for node in root.walk():
        if any(lab.name == label for lab in node.live_labels()):
            return node
    return None


def node_by_path(root: RawNode, path: str) -> RawNode | None:
    """The live node at an absolute path (empty components are skipped, like dtc)."""
    node = root
    for part in (p for p in path.split("/") if p):
        child = next((c for c in node.live_children() if c.name == part), None)
        if child is None:
            return None
        node = child
    return node


def node_by_ref(root: RawNode, ref: str) -> RawNode | None:
    """The node a reference names: ``label`` or ``{/path}``."""
    if ref.startswith("{"):
        return node_by_path(root, ref[1:-1])
    return node_by_label(root, ref)


def to_tree_nodes(raw: RawNode) -> tuple[Node, list[Node]]:
    """The live part of a raw tree as :class:`Node` objects (locations and labels kept),
    and the nodes marked ``/omit-if-no-ref/``."""
    root = _convert(raw, None)
    omitted: list[Node] = []
    stack = [(raw, root)]
    while stack:
        raw_node, node = stack.pop()
        if raw_node.omit_if_no_ref:
            omitted.append(node)
        for raw_child in raw_node.live_children():
            child = _convert(raw_child, node)
            node.children[child.name] = child
            stack.append((raw_child, child))
    return root, omitted


def _convert(raw: RawNode, parent: Node | None) -> Node:
    node = Node(
        name=raw.name,
        parent=parent,
        labels=[label.name for label in raw.live_labels()],
        location=raw.location,
    )
    for raw_prop in raw.live_props():
        node.props[raw_prop.name] = Property(
            name=raw_prop.name,
            value=raw_prop.value,
            labels=[label.name for label in raw_prop.labels if not label.deleted],
            location=raw_prop.location,
            markers=list(raw_prop.markers),
            written_cells=raw_prop.written_cells,
            node=node,
        )
    return node
