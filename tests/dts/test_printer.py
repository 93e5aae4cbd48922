"""format_dts: the text it writes, and that the text parses back to an equal tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerf.dts import (
    Marker,
    MarkerKind,
    Property,
    Tree,
    format_dts,
    from_dtb,
    load,
    parse,
    to_dtb,
    trees_equal,
)
from kerf.dts.printer import quote
from kerf.errors import DtsError


def round_trip(tree: Tree) -> Tree:
    back = parse(format_dts(tree), "printed.dts")
    assert trees_equal(back, tree, labels=True)
    return back


def test_layout_of_a_small_tree() -> None:
    tree = parse('/dts-v1/; /memreserve/ 0x1000 0x20; / { a = <1>; l: n@1 { s = "x"; }; };')
    assert format_dts(tree) == (
        '/dts-v1/;\n\n/memreserve/ 0x1000 0x20;\n\n/ {\n\ta = <0x1>;\n\n\tl: n@1 {\n\t\ts = "x";\n\t};\n};\n'
    )


def test_values_are_written_as_they_were_parsed() -> None:
    source = (
        '/dts-v1/; / { m = "a", <1 2>, [0a 0b], /bits/ 8 <0x1 0xff>, /bits/ 16 <0x10>, /bits/ 64 <0x1>;'
        " r = <&t &{/t}>, &t; e; t: t { }; };"
    )
    text = format_dts(round_trip(parse(source)))
    assert 'm = "a", <0x1 0x2>, [0a 0b], /bits/ 8 <0x01 0xff>, /bits/ 16 <0x10>, /bits/ 64 <0x1>;' in text
    assert "r = <&t &{/t}>, &t;" in text
    assert "\te;\n" in text


def test_labels_everywhere_come_back() -> None:
    source = '/dts-v1/; / { l1: x = l2: <1 l3: 2 l4:>, l5: "s" l6:, [00 l7: 11] l8:; }; root: &{/} { };'
    tree = parse(source)
    back = round_trip(tree)
    assert [m.ref for m in back.root.props["x"].markers if m.kind is MarkerKind.LABEL] == [
        "l2",
        "l3",
        "l4",
        "l5",
        "l6",
        "l7",
        "l8",
    ]
    assert back.root.labels == ["root"]
    assert "root: &{/} {\n};" in format_dts(tree)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"plain", '"plain"'),
        (b'q"b\\', '"q\\"b\\\\"'),
        (b"\t\n\r\a\b\v\f", '"\\t\\n\\r\\a\\b\\v\\f"'),
        (b"\x00\x01\x7f", '"\\x00\\x01\\x7f"'),
        (b"\x04a", '"\\x04a"'),  # two hex digits always, so 'a' is not swallowed
        ("café".encode(), '"café"'),
        (b"\xff\xfe", '"\\xff\\xfe"'),
    ],
)
def test_string_quoting(data: bytes, text: str) -> None:
    assert quote(data) == text
    assert parse(f"/dts-v1/; / {{ x = {text}; }};").root.props["x"].value == data + b"\0"


def test_strings_with_inner_nuls_keep_their_bytes() -> None:
    round_trip(parse('/dts-v1/; / { x = "a\\0b", "", "c"; };'))


def test_dtb_values_are_guessed() -> None:
    tree = from_dtb(to_dtb(parse('/dts-v1/; / { s = "ab", "c"; c = <1 2>; b = [01 02 03]; z = [00]; };')))
    text = format_dts(tree)
    assert 's = "ab", "c";' in text
    assert "c = <0x1 0x2>;" in text
    assert "b = [01 02 03];" in text
    assert "z = [00];" in text
    round_trip(tree)


def test_markers_that_do_not_fit_fall_back_to_exact_bytes() -> None:
    tree = Tree.empty()
    tree.root.props["odd"] = Property("odd", b"\x01\x02\x03", markers=[Marker(0, MarkerKind.U32)])
    tree.root.props["nonul"] = Property("nonul", b"ab", markers=[Marker(0, MarkerKind.STRING)])
    tree.root.props["late"] = Property(
        "late", b"\x00\x00\x00\x01xy\0", markers=[Marker(4, MarkerKind.STRING)]
    )
    round_trip(tree)


def test_reference_cells_that_no_longer_match_are_printed_as_numbers() -> None:
    tree = parse("/dts-v1/; / { x = <&a>; a: a { }; };")
    tree.get_node("/a").set_u32("phandle", 9)  # the cell still holds 1
    text = format_dts(tree)
    assert "x = <0x1>;" in text
    round_trip(tree)


def test_multikernel_print_keeps_wide_literals_as_written() -> None:
    # The binding reads 64-bit values from written_cells, so they must survive printing.
    tree = parse("/multikernel-v1/; / { base = <0x0 0x800000000>, <1 &eth0_vf1>; devs = <&eth0_vf1>; };")
    text = format_dts(tree)
    assert text.startswith("/multikernel-v1/;\n")
    assert "base = <0x0 0x800000000>, <0x1 &eth0_vf1>;" in text
    assert "devs = <&eth0_vf1>;" in text
    back = parse(text)
    assert trees_equal(back, tree)
    assert back.root.props["base"].written_cells == (0, 0x8_0000_0000, 1, 0xFFFF_FFFF)


def test_wide_literals_whose_bytes_changed_are_printed_as_cells() -> None:
    tree = parse("/multikernel-v1/; / { base = <0x0 0x800000000>; };")
    tree.root.props["base"].value = bytes(12)  # edited behind the markers' back
    assert "base = <0x0 0x0 0x0>;" in format_dts(tree)


def test_a_decoded_dtb_prints_as_portable_dts() -> None:
    tree = from_dtb(to_dtb(parse("/multikernel-v1/; / { base = <0x0 0x800000000>; };")))
    text = format_dts(tree)
    assert text.startswith("/dts-v1/;\n")
    assert "base = <0x0 0x8 0x0>;" in text
    assert parse(text).warnings == []


def test_names_that_dts_cannot_spell_are_refused() -> None:
    tree = Tree.empty()
    tree.root.add_node("ok").name = "bad name"  # only possible by bypassing the helpers
    with pytest.raises(DtsError, match="cannot write node /bad name as DTS"):
        format_dts(tree)
    tree = Tree.empty()
    tree.root.props["a b"] = Property("a b", b"")
    with pytest.raises(DtsError, match="cannot write property 'a b' as DTS"):
        format_dts(tree)


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.dts"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_print_back_with_the_same_meaning(path: Path) -> None:
    tree = load(path)
    back = parse(format_dts(tree), "printed.dts")
    assert trees_equal(back, tree, labels=True)
    for node in tree.nodes():
        for name, prop in node.props.items():
            assert back.get_node(node.path).props[name].written_cells == prop.written_cells
    assert [r.label for r in back.unresolved_refs] == [r.label for r in tree.unresolved_refs]
