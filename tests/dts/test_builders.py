"""Building trees in code: Tree.empty and the Node helpers."""

from __future__ import annotations

import copy

import pytest

from kerf.dts import MarkerKind, Tree, format_dts, from_dtb, parse, to_dtb, trees_equal
from kerf.errors import DtsError

from .conftest import Dtc


def build() -> Tree:
    tree = Tree.empty()
    resources = tree.root.add_node("resources")
    eth = resources.add_node("devices").add_node("ethernet@0")
    eth.add_label("eth0")
    eth.set_string("pci-id", "0000:01:00.0")
    eth.set_u32("sriov-vfs", 4)
    memory = resources.add_node("memory")
    memory.set_u64("memory-pool-bytes", 0x8000_0000)
    memory.set_cells("ranges", [1, 2, 3])
    web = tree.root.add_node("instances").add_node("web")
    web.set_phandle_refs("devices", ["eth0", "/resources/memory"])
    web.set_strings("policies", ["compact", "local"])
    web.set_bytes("blob", b"\x01\x02")
    web.set_empty("enable-host-kcore")
    return tree


def test_setters_write_bytes_and_markers() -> None:
    tree = build()
    eth = tree.get_node("/resources/devices/ethernet@0")
    assert eth.props["pci-id"].value == b"0000:01:00.0\0"
    assert eth.props["sriov-vfs"].value == b"\0\0\0\x04"
    memory = tree.get_node("/resources/memory")
    assert memory.props["memory-pool-bytes"].to_u64() == 0x8000_0000
    assert [m.kind for m in memory.props["memory-pool-bytes"].markers] == [MarkerKind.U64]
    web = tree.get_node("/instances/web")
    assert web.props["policies"].to_strings() == ["compact", "local"]
    assert web.props["devices"].to_u32s() == [0xFFFF_FFFF, 0xFFFF_FFFF]
    assert [(m.kind, m.ref) for m in web.props["devices"].markers] == [
        (MarkerKind.U32, None),
        (MarkerKind.PHANDLE, "eth0"),
        (MarkerKind.PHANDLE, "{/resources/memory}"),
    ]
    assert web.props["enable-host-kcore"].is_empty


def test_the_printer_writes_built_values_naturally() -> None:
    text = format_dts(build())
    assert "memory-pool-bytes = /bits/ 64 <0x80000000>;" in text
    assert "devices = <&eth0 &{/resources/memory}>;" in text
    assert 'policies = "compact", "local";' in text
    assert "blob = [01 02];" in text
    assert "eth0: ethernet@0 {" in text


@pytest.mark.tools
def test_to_dtb_resolves_references_like_dtc_without_touching_the_tree(dtc: Dtc) -> None:
    tree = build()
    before = copy.deepcopy(tree)
    blob = to_dtb(tree)
    assert trees_equal(tree, before)
    assert "phandle" not in tree.get_node("/resources/devices/ethernet@0").props
    decoded = from_dtb(blob)
    assert decoded.get_node("/instances/web").props["devices"].to_u32s() == [1, 2]
    assert decoded.get_node("/resources/devices/ethernet@0").props["phandle"].to_u32() == 1
    assert blob == dtc.compile_text(format_dts(tree))


def test_setting_again_keeps_the_place_and_labels() -> None:
    tree = parse("/dts-v1/; / { l: a = <1>; b; };")
    tree.root.set_string("a", "now a string")
    assert list(tree.root.props) == ["a", "b"]
    assert tree.root.props["a"].labels == ["l"]
    assert tree.root.props["a"].to_string() == "now a string"


def test_add_node_returns_the_existing_child() -> None:
    tree = Tree.empty()
    first = tree.root.add_node("cpus")
    first.set_u32("x", 1)
    assert tree.root.add_node("cpus") is first
    assert first.path == "/cpus"
    assert first.tree is tree


def test_labels_are_indexed_and_unique() -> None:
    tree = Tree.empty()
    a = tree.root.add_node("a")
    b = tree.root.add_node("b")
    a.add_label("x")
    a.add_label("x")  # the same label twice on one node is fine
    assert a.labels == ["x"]
    assert tree.label2node["x"] is a
    with pytest.raises(ValueError, match="label 'x' is already on /a"):
        b.add_label("x")
    with pytest.raises(ValueError, match="bad label"):
        b.add_label("1x")


def test_deleting_updates_the_lookup_tables() -> None:
    tree = parse("/dts-v1/; / { p = <&n>; n: n { l: q; m: sub { }; }; };")
    assert set(tree.label2node) == {"n", "m"}
    assert tree.phandle2node[1].name == "n"
    assert tree.get_node("/n").delete_prop("q")
    assert "l" not in tree.label2prop
    assert not tree.get_node("/n").delete_prop("q")
    assert tree.root.delete_node("n")
    assert tree.label2node == {}
    assert tree.phandle2node == {}
    assert not tree.root.delete_node("n")


def test_phandle_properties_set_by_hand_are_indexed() -> None:
    tree = Tree.empty()
    node = tree.root.add_node("n")
    node.set_u32("phandle", 7)
    assert tree.phandle2node == {7: node}
    node.set_u32("phandle", 8)
    assert tree.phandle2node == {8: node}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda n: n.set_u32("x", -1), "out of range"),
        (lambda n: n.set_u32("x", 2**32), "out of range"),
        (lambda n: n.set_u32("x", True), "must be an int"),
        (lambda n: n.set_u64("x", 2**64), "out of range"),
        (lambda n: n.set_cells("x", [256], bits=8), "out of range"),
        (lambda n: n.set_cells("x", [1], bits=12), "bad cell width"),
        (lambda n: n.set_string("x", "a\0b"), "NUL"),
        (lambda n: n.set_strings("x", ["ok", "b\0"]), "NUL"),
        (lambda n: n.set_bytes("x", "text"), "bytes expected"),
        (lambda n: n.set_phandle_refs("x", ["not a label"]), "bad reference"),
        (lambda n: n.set_empty("bad@name"), "bad character '@' in property name"),
        (lambda n: n.set_empty(""), "cannot be empty"),
        (lambda n: n.add_node("a#b"), "bad character '#' in node name"),
        (lambda n: n.add_node("a@1@2"), "multiple '@'"),
        (lambda n: n.add_node(""), "cannot be empty"),
    ],
)
def test_setters_reject_programming_errors(call: object, message: str) -> None:
    node = Tree.empty().root
    with pytest.raises(ValueError, match=message):
        call(node)  # type: ignore[operator]


def test_empty_rejects_unknown_headers() -> None:
    with pytest.raises(ValueError, match="bad header"):
        Tree.empty("dts-v2")
    assert Tree.empty("multikernel-v1").is_multikernel


def test_unknown_label_in_a_built_tree() -> None:
    tree = Tree.empty()
    tree.root.set_phandle_refs("devices", ["eth9"])
    with pytest.raises(
        DtsError, match="unknown label 'eth9' in reference &eth9 \\(property 'devices' of /\\)"
    ):
        to_dtb(tree)
    lenient = Tree.empty("multikernel-v1")
    lenient.root.set_phandle_refs("devices", ["eth9"])
    assert from_dtb(to_dtb(lenient)).root.props["devices"].to_u32() == 0xFFFF_FFFF


def test_reindex_rebuilds_the_tables() -> None:
    tree = parse("/dts-v1/; / { p = <&n>; n: n { }; };")
    tree.label2node.clear()
    tree.phandle2node.clear()
    tree.reindex()
    assert tree.label2node["n"].name == "n"
    assert tree.phandle2node[1].name == "n"
