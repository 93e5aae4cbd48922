"""Property tests: trees survive printing and parsing, and DTB encoding and decoding."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kerf.dts import MarkerKind, Tree, format_dts, from_dtb, parse, to_dtb, tree_diff, trees_equal
from kerf.errors import DtsError

from .strategies import built_trees, dts_sources


def _has_references(tree: Tree) -> bool:
    return any(
        m.kind is MarkerKind.PHANDLE
        for node in tree.nodes()
        for prop in node.props.values()
        for m in prop.markers
    )


@settings(max_examples=150, deadline=None, derandomize=True)
@given(tree=built_trees())
def test_built_tree_prints_and_parses_back(tree: Tree) -> None:
    text = format_dts(tree)
    parsed = parse(text, "printed.dts")
    # Parsing resolves references (dtc's phandles); encoding the built tree does the same.
    assert to_dtb(parsed) == to_dtb(tree)
    if not _has_references(tree):
        assert trees_equal(parsed, tree, labels=True), tree_diff(parsed, tree, labels=True)
    again = parse(format_dts(parsed), "again.dts")
    assert trees_equal(again, parsed, labels=True), tree_diff(again, parsed, labels=True)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(tree=built_trees())
def test_built_tree_survives_the_dtb(tree: Tree) -> None:
    decoded = from_dtb(to_dtb(tree))
    resolved = parse(format_dts(tree))
    assert trees_equal(decoded, resolved), tree_diff(decoded, resolved)
    assert to_dtb(decoded) == to_dtb(tree)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    tree=built_trees("multikernel-v1"),
    missing=st.lists(st.sampled_from(["eth0_vf1", "nvme0_ns2"]), max_size=2),
)
def test_multikernel_trees_keep_unknown_references(tree: Tree, missing: list[str]) -> None:
    if missing:
        tree.root.set_phandle_refs("devices", missing)
    parsed = parse(format_dts(tree))
    assert sorted(ref.label for ref in parsed.unresolved_refs) == sorted(missing)
    assert to_dtb(parsed) == to_dtb(tree)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(source=dts_sources())
def test_parsed_sources_print_and_encode_back(source: str) -> None:
    try:
        tree = parse(source, "random.dts")
    except DtsError:
        return  # sources dtc rejects are covered by the cross-check
    printed = parse(format_dts(tree), "printed.dts")
    assert trees_equal(printed, tree, labels=True), tree_diff(printed, tree, labels=True)
    decoded = from_dtb(to_dtb(tree))
    # Readers of a DTB's reserve map stop at the first entry of size 0.
    sizes = [size for _, size in tree.memreserves]
    if 0 in sizes:
        tree.memreserves = tree.memreserves[: sizes.index(0)]
    assert trees_equal(decoded, tree), tree_diff(decoded, tree)
