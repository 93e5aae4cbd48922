"""Structural checks dtc makes on a parsed tree before it resolves references.

They run in dtc's order, each over the whole tree, and the first problem is raised:
duplicate node and property names, characters in names, the ``name`` property, and
labels defined twice.
"""

from __future__ import annotations

from collections.abc import Iterator

from kerf.dts.diagnostics import dts_error
from kerf.dts.livetree import RawLabel, RawNode, RawProp
from kerf.dts.names import bad_node_name_char, bad_prop_name_char


def check_structure(root: RawNode) -> None:
    """Raise DtsError for the first structural problem (dtc's error-level checks)."""
    for check in (
        _duplicate_node_names,
        _duplicate_property_names,
        _node_names,
        _property_names,
        _name_properties,
    ):
        for node in root.walk():
            check(node)
    _duplicate_labels(root)


def _duplicate_node_names(node: RawNode) -> None:
    seen: dict[str, RawNode] = {}
    for child in node.children:
        first = seen.get(child.name)
        if first is None:
            # Like dtc, a later sibling counts even when it is a /delete-node/ entry,
            # but an earlier /delete-node/ entry does not.
            if not child.deleted:
                seen[child.name] = child
            continue
        if child.deleted:
            raise dts_error(
                child.location,
                f"/delete-node/ {child.name} cannot delete a node defined in the same block "
                f"(defined at {first.location})",
                hint="delete it in a later '/ { ... };' or '&label { ... };' block",
            )
        raise dts_error(
            child.location,
            f"duplicate node '{child.name}' in {node.path} (first defined at {first.location})",
            hint="merge the two definitions; a later '&label { ... };' block may amend a node",
        )


def _duplicate_property_names(node: RawNode) -> None:
    seen: dict[str, RawProp] = {}
    for prop in node.live_props():
        first = seen.setdefault(prop.name, prop)
        if first is not prop:
            raise dts_error(
                prop.location,
                f"duplicate property '{prop.name}' in {node.path} (first defined at {first.location})",
                hint="to change a value, set it again in a later '&label { ... };' block",
            )


def _node_names(node: RawNode) -> None:
    if node.parent is None:
        return
    bad = bad_node_name_char(node.name)
    if bad is not None:
        raise dts_error(
            node.location,
            f"bad character {bad!r} in node name '{node.name}'",
            hint="node names use letters, digits and , . _ + - and one @ before the unit address",
        )
    if node.name.count("@") > 1:
        raise dts_error(node.location, f"multiple '@' characters in node name '{node.name}'")


def _property_names(node: RawNode) -> None:
    for prop in node.live_props():
        bad = bad_prop_name_char(prop.name)
        if bad is not None:
            raise dts_error(
                prop.location,
                f"bad character {bad!r} in property name '{prop.name}'",
                hint="property names use letters, digits and , . _ + * # ? -",
            )


def _name_properties(node: RawNode) -> None:
    """A ``name`` property must be a string equal to the node's base name; dtc then
    drops it, since the DTB's node names already say it."""
    prop = next((p for p in node.live_props() if p.name == "name"), None)
    if prop is None:
        return
    value = prop.value
    if not value or not value.endswith(b"\0") or b"\0" in value[:-1]:
        raise dts_error(prop.location, f"property 'name' of {node.path} is not a string")
    base = node.name.split("@", 1)[0]
    if value[:-1] != base.encode():
        shown = value[:-1].decode("utf-8", "replace")
        raise dts_error(
            prop.location,
            f'property \'name\' of {node.path} is "{shown}" instead of the node\'s base name "{base}"',
        )
    node.props.remove(prop)


def _labels(root: RawNode) -> Iterator[tuple[RawLabel, tuple[str, int]]]:
    """Every live label with a key for what it names (a node, a property, a value spot)."""
    for node in root.walk():
        for label in node.live_labels():
            yield label, ("node", id(node))
        for prop in node.live_props():
            for label in prop.labels:
                if not label.deleted:
                    yield label, ("prop", id(prop))
            for label in prop.value_labels:
                if not label.deleted:
                    yield label, ("value", label.sequence)


def _duplicate_labels(root: RawNode) -> None:
    owners: dict[str, tuple[RawLabel, tuple[str, int]]] = {}
    clashes: list[tuple[RawLabel, RawLabel]] = []
    for label, owner in _labels(root):
        first = owners.setdefault(label.name, (label, owner))
        if first[1] != owner:
            clashes.append((first[0], label))
    if not clashes:
        return
    # Report the clash whose later definition comes first in the source.
    early, late = min(
        (sorted(pair, key=lambda lab: lab.sequence) for pair in clashes), key=lambda pair: pair[1].sequence
    )
    raise dts_error(
        late.location,
        f"label '{late.name}' already defined at {early.location}",
        hint="labels name one node or property each; rename one of them",
    )
