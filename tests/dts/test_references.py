"""Phandles, references and the /multikernel-v1/ exception."""

from __future__ import annotations

import pytest

from kerf.dts import UnresolvedRef, parse, to_dtb
from kerf.errors import DtsError, SourceLocation


def phandles(source: str) -> dict[str, int]:
    tree = parse(source)
    return {node.path: node.props["phandle"].to_u32() for node in tree.nodes() if "phandle" in node.props}


def test_phandles_in_order_of_first_reference_skipping_explicit_ones() -> None:
    # dtc: one counter from 1, depth-first order of references, skips taken values.
    source = "/dts-v1/; / { p = <&c>; a: a { x = <&d &a>; }; b: b { phandle = <2>; }; c: c { }; d: d { }; };"
    assert phandles(source) == {"/a": 4, "/b": 2, "/c": 1, "/d": 3}
    tree = parse(source)
    assert tree.root.props["p"].to_u32() == 1
    assert tree.get_node("/a").props["x"].to_u32s() == [3, 4]
    assert {k: v.path for k, v in tree.phandle2node.items()} == {1: "/c", 2: "/b", 3: "/d", 4: "/a"}


def test_the_phandle_property_is_appended_last() -> None:
    tree = parse("/dts-v1/; / { x = <&n>; n: n { a; b; }; };")
    assert list(tree.get_node("/n").props) == ["a", "b", "phandle"]


def test_path_reference_in_cells() -> None:
    assert phandles("/dts-v1/; / { x = <&{/a@1/b}>; a@1 { b { }; }; };") == {"/a@1/b": 1}


def test_explicit_linux_phandle_is_used() -> None:
    tree = parse("/dts-v1/; / { a: a { linux,phandle = <5>; }; b { x = <&a>; }; };")
    assert tree.get_node("/b").props["x"].to_u32() == 5
    assert "phandle" not in tree.get_node("/a").props


def test_self_reference_asks_for_a_phandle() -> None:
    tree = parse("/dts-v1/; / { a: a { phandle = <&a>; }; b: b { x = <&b>; }; };")
    assert tree.get_node("/a").props["phandle"].to_u32() == 1
    assert tree.get_node("/b").props["phandle"].to_u32() == 2


def test_unreferenced_labels_get_no_phandle() -> None:
    assert phandles("/dts-v1/; / { a: a { }; };") == {}


def test_references_resolve_after_later_amendments() -> None:
    tree = parse("/dts-v1/; / { x = <&late>; a { }; }; late: &{/a} { };")
    assert tree.root.props["x"].to_u32() == 1
    assert tree.get_node("/a").props["phandle"].to_u32() == 1


def test_phandle_values_survive_dtb_encoding() -> None:
    tree = parse("/dts-v1/; / { x = <&b &a>; a: a { }; b: b { }; };")
    blob = to_dtb(tree)
    assert blob.count(b"phandle") == 1  # one string in the strings block, used twice


# --- /multikernel-v1/ ---------------------------------------------------------------------


def test_wide_literal_under_multikernel_is_split_with_a_warning() -> None:
    source = "/multikernel-v1/;\n/ {\n\tbase = <0x0 0x800000000>;\n\tsize = <0x200000000>;\n};\n"
    tree = parse(source, "host.dts")
    base, size = tree.root.props["base"], tree.root.props["size"]
    assert base.to_u32s() == [0, 8, 0]
    assert base.written_cells == (0, 0x8_0000_0000)
    assert size.to_u32s() == [2, 0]
    assert size.written_cells == (0x2_0000_0000,)
    assert [(str(w.location), w.message, w.hint) for w in tree.warnings] == [
        (
            "host.dts:3:14",
            "integer literal 0x800000000 is wider than a 32-bit cell; it is stored as two cells <0x8 0x0>",
            "write the 64-bit value portably as <0x8 0x0> or /bits/ 64 <0x800000000>",
        ),
        (
            "host.dts:4:10",
            "integer literal 0x200000000 is wider than a 32-bit cell; it is stored as two cells <0x2 0x0>",
            "write the 64-bit value portably as <0x2 0x0> or /bits/ 64 <0x200000000>",
        ),
    ]


def test_fitting_values_have_no_written_cells() -> None:
    tree = parse("/multikernel-v1/; / { a = <1 2>; b = <(-1)>; };")
    assert tree.root.props["a"].written_cells is None
    assert tree.root.props["b"].to_u32() == 0xFFFF_FFFF
    assert tree.warnings == []


def test_wide_literal_is_an_error_under_dts_v1() -> None:
    with pytest.raises(DtsError) as err:
        parse("/dts-v1/;\n/ {\n\tbase = <0x0 0x800000000>;\n};\n", "host.dts")
    assert str(err.value) == "host.dts:3:14: integer literal 0x800000000 does not fit in a 32-bit cell"
    assert err.value.hint == "write a 64-bit value as <0x8 0x0> or /bits/ 64 <0x800000000>"


def test_wide_literal_in_narrow_cells_is_an_error_even_under_multikernel() -> None:
    with pytest.raises(DtsError, match="does not fit in a 16-bit cell"):
        parse("/multikernel-v1/; / { a = /bits/ 16 <0x10000>; };")


def test_unknown_labels_are_kept_under_multikernel() -> None:
    source = "/multikernel-v1/;\n/ {\n\teth0: e { };\n\tuse = <&eth0 &eth0_vf1>;\n};\n"
    with pytest.raises(DtsError):
        parse(source.replace("\tuse", "\tx; use"), "h.dts")  # properties after a node: still an error
    source = "/multikernel-v1/;\n/ {\n\tuse = <&eth0 &eth0_vf1>;\n\teth0: e { };\n};\n"
    tree = parse(source, "h.dts")
    assert tree.root.props["use"].to_u32s() == [1, 0xFFFF_FFFF]
    assert tree.unresolved_refs == [UnresolvedRef("eth0_vf1", "/", "use", 4, SourceLocation("h.dts", 3, 15))]
    assert to_dtb(tree)  # encodable: the cell stays 0xffffffff


def test_unknown_labels_are_errors_under_dts_v1() -> None:
    with pytest.raises(DtsError) as err:
        parse("/dts-v1/;\n/ {\n\tuse = <&eth9>;\n};\n", "board.dts")
    assert str(err.value) == "board.dts:3:9: unknown label 'eth9' in reference &eth9 (property 'use' of /)"


def test_unknown_paths_are_errors_even_under_multikernel() -> None:
    with pytest.raises(DtsError, match="no node at path '/nope'"):
        parse("/multikernel-v1/; / { use = <&{/nope}>; };")
    with pytest.raises(DtsError, match="unknown label 'x'"):
        parse("/multikernel-v1/; / { use = &x; };")
