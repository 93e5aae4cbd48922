"""Comparing trees by what a DTB would hold: structure, names, property bytes."""

from __future__ import annotations

from kerf.dts.tree import Node, Tree


def tree_diff(a: Tree, b: Tree, *, labels: bool = False, limit: int = 20) -> list[str]:
    """Differences between two trees, as readable lines (empty when equal).

    Compared: /memreserve/ entries, node names and order, property names, order and
    bytes; with ``labels`` also node and property labels. Not compared: markers (how a
    value was written), locations, the header.
    """
    out: list[str] = []
    if a.memreserves != b.memreserves:
        out.append(f"memreserves: {a.memreserves} != {b.memreserves}")
    stack: list[tuple[Node, Node]] = [(a.root, b.root)]
    while stack and len(out) < limit:
        left, right = stack.pop()
        _diff_node(left, right, labels, out)
        if list(left.children) == list(right.children):
            stack.extend(reversed(list(zip(left.children.values(), right.children.values(), strict=True))))
    return out[:limit]


def _diff_node(left: Node, right: Node, labels: bool, out: list[str]) -> None:
    path = left.path
    if labels and sorted(left.labels) != sorted(right.labels):
        out.append(f"{path}: labels {left.labels} != {right.labels}")
    if list(left.props) != list(right.props):
        out.append(f"{path}: properties {list(left.props)} != {list(right.props)}")
    for name, prop in left.props.items():
        other = right.props.get(name)
        if other is None:
            continue
        if prop.value != other.value:
            out.append(f"{path}:{name}: {prop.value.hex()} != {other.value.hex()}")
        if labels and sorted(prop.labels) != sorted(other.labels):
            out.append(f"{path}:{name}: labels {prop.labels} != {other.labels}")
    if list(left.children) != list(right.children):
        out.append(f"{path}: children {list(left.children)} != {list(right.children)}")


def trees_equal(a: Tree, b: Tree, *, labels: bool = False) -> bool:
    """True when both trees hold the same structure, names and property bytes."""
    return not tree_diff(a, b, labels=labels, limit=1)
