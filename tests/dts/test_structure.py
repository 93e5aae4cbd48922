"""Nodes, labels, merging and deleting, includes, comments, memreserve, locations."""

from __future__ import annotations

from pathlib import Path

from kerf.dts import from_dtb, parse, parse_file, to_dtb
from kerf.errors import SourceLocation


def order(source: str, path: str = "/") -> tuple[list[str], list[str]]:
    node = parse(source).get_node(path)
    return list(node.props), list(node.children)


def test_nodes_with_unit_addresses_and_labels() -> None:
    tree = parse("/dts-v1/;\n/ {\n\teth0: ethernet@0 {\n\t};\n\ta: b: multi@1,2 { };\n};\n", "board.dts")
    eth = tree.get_node("/ethernet@0")
    assert (eth.base_name, eth.unit_address, eth.labels) == ("ethernet", "0", ["eth0"])
    assert eth.location == SourceLocation("board.dts", 3, 8)
    multi = tree.get_node("/multi@1,2")
    assert multi.labels == ["a", "b"]
    assert tree.label2node == {"eth0": eth, "a": multi, "b": multi}


def test_properties_have_locations() -> None:
    tree = parse("/dts-v1/;\n/ {\n  cpus = <1 2>;\n};\n", "host.dts")
    assert tree.root.props["cpus"].location == SourceLocation("host.dts", 3, 3)


def test_a_second_root_block_merges() -> None:
    props, children = order("/dts-v1/; / { a = <1>; x {}; }; / { b = <2>; a = <3>; y {}; x { z; }; };")
    assert props == ["a", "b"]
    assert children == ["x", "y"]
    tree = parse("/dts-v1/; / { a = <1>; x {}; }; / { b = <2>; a = <3>; y {}; x { z; }; };")
    assert tree.root.props["a"].to_u32() == 3
    assert list(tree.get_node("/x").props) == ["z"]


def test_later_definitions_override_in_place_and_keep_labels() -> None:
    tree = parse("/dts-v1/; / { l: x = <1>; y; }; / { x = <2>; m: x = <3>; };")
    prop = tree.root.props["x"]
    assert prop.to_u32() == 3
    assert sorted(prop.labels) == ["l", "m"]
    assert list(tree.root.props) == ["x", "y"]


def test_label_and_path_amendments() -> None:
    tree = parse(
        "/dts-v1/; / { a: a { }; b { c { }; }; }; &a { p = <1>; }; &{/b/c} { q; }; new: &{/b} { r; };"
    )
    assert list(tree.get_node("/a").props) == ["p"]
    assert list(tree.get_node("/b/c").props) == ["q"]
    assert tree.label2node["new"] is tree.get_node("/b")


def test_delete_property_and_node() -> None:
    tree = parse(
        "/dts-v1/; / { a = <1>; b; x: x { }; y { z; }; };"
        " / { /delete-property/ a; /delete-node/ y; }; /delete-node/ &x;"
    )
    assert list(tree.root.props) == ["b"]
    assert list(tree.root.children) == []
    assert "x" not in tree.label2node


def test_deleted_entries_come_back_at_their_old_place() -> None:
    # dtc keeps deleted entries and revives them, which decides the DTB order.
    props, children = order(
        "/dts-v1/; / { x = <1>; y = <2>; a {}; b {}; }; / { /delete-property/ x; /delete-node/ a; };"
        " / { x = <3>; a { again; }; };"
    )
    assert props == ["x", "y"]
    assert children == ["a", "b"]


def test_delete_in_the_defining_block_is_like_dtc() -> None:
    # In the first block /delete-property/ does not remove an earlier definition (dtc).
    assert order("/dts-v1/; / { x = <1>; /delete-property/ x; };")[0] == ["x"]
    assert order("/dts-v1/; / { /delete-node/ a; a { }; };")[1] == ["a"]


def test_deleted_label_can_be_reused() -> None:
    tree = parse("/dts-v1/; / { a: a { }; }; /delete-node/ &a; / { a: b { }; };")
    assert tree.label2node["a"] is tree.get_node("/b")


def test_omit_if_no_ref() -> None:
    tree = parse(
        "/dts-v1/; / { x = <&b>; p = &{/c}; /omit-if-no-ref/ a: a {}; /omit-if-no-ref/ b: b {};"
        " /omit-if-no-ref/ c {}; d: d {}; }; /omit-if-no-ref/ &d;"
    )
    assert list(tree.root.children) == ["b", "c"]


def test_name_property_equal_to_base_name_is_dropped() -> None:
    tree = parse('/dts-v1/; / { a@1 { name = "a"; other; }; };')
    assert list(tree.get_node("/a@1").props) == ["other"]


def test_memreserve_and_repeated_headers() -> None:
    tree = parse("/dts-v1/; /dts-v1/; /memreserve/ 0x1000 (4096 * 2); m: /memreserve/ 0 1; / { };")
    assert tree.memreserves == [(0x1000, 0x2000), (0, 1)]
    assert tree.header == "dts-v1"


def test_multikernel_header() -> None:
    assert parse("/multikernel-v1/; / { };").header == "multikernel-v1"
    assert parse("/dts-v1/; /multikernel-v1/; / { };").is_multikernel


def test_comments_anywhere() -> None:
    tree = parse(
        "// first\n/dts-v1/; /* header */\n/ { // x\n a = /* v */ <1 /* c */ 2>;\n"
        " c = [ 01 /* b */ 02 ];\n l: /* n */ n { };\n};\n"
    )
    assert tree.root.props["a"].to_u32s() == [1, 2]
    assert tree.root.props["c"].value == b"\x01\x02"
    assert tree.label2node["l"].name == "n"


def test_line_markers_change_reported_locations() -> None:
    tree = parse('/dts-v1/;\n# 1 "gen.dts"\n/ {\n# 10 "other.dtsi" 1\n\ta = <1>;\n};\n')
    assert tree.root.props["a"].location == SourceLocation("other.dtsi", 10, 2)


def test_include_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "main.dts").write_text('/dts-v1/;\n/include/ "sub/a.dtsi"\n/ { m; };\n')
    (tmp_path / "sub" / "a.dtsi").write_text('/ { a { /include/ "b.dtsi" }; };\n')
    (tmp_path / "sub" / "b.dtsi").write_text("\tb = <2>;\n")
    tree = parse_file(tmp_path / "main.dts")
    prop = tree.get_node("/a").props["b"]
    assert prop.to_u32() == 2
    assert prop.location == SourceLocation(str(tmp_path / "sub" / "b.dtsi"), 1, 2)
    assert list(tree.root.props) == ["m"]


def test_include_dirs_are_searched_after_the_file_directory(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "common.dtsi").write_text("/ { from-inc; };\n")
    text = '/dts-v1/;\n/ { };\n/include/ "common.dtsi"\n'
    tree = parse(text, "<string>", include_dirs=[tmp_path / "inc"])
    assert list(tree.root.props) == ["from-inc"]
    (tmp_path / "common.dtsi").write_text("/ { local; };\n")
    (tmp_path / "main.dts").write_text(text)
    assert list(parse_file(tmp_path / "main.dts", include_dirs=[tmp_path / "inc"]).root.props) == ["local"]


def test_the_same_file_may_be_included_twice(tmp_path: Path) -> None:
    (tmp_path / "x.dtsi").write_text("/ { n = <1>; };\n")
    (tmp_path / "main.dts").write_text('/dts-v1/;\n/ { };\n/include/ "x.dtsi"\n/include/ "x.dtsi"\n')
    assert parse_file(tmp_path / "main.dts").root.props["n"].to_u32() == 1


def test_reference_into_an_omitted_subtree_keeps_its_cell() -> None:
    # dtc drops an unreferenced /omit-if-no-ref/ node even when a child of it is
    # referenced; the reference keeps the phandle it was given.
    tree = parse("/dts-v1/; / { x = <&a>; /omit-if-no-ref/ b { a: c { }; }; };")
    assert list(tree.root.children) == []
    assert tree.root.props["x"].to_u32() == 1
    assert from_dtb(to_dtb(tree)).root.props["x"].to_u32() == 1
