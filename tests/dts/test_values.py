"""Property values, one syntax element at a time: the exact bytes and markers parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerf.dts import MarkerKind, parse, parse_file


def value(text: str) -> bytes:
    """The bytes of ``x = <text>;`` in a minimal tree."""
    return parse(f"/dts-v1/;\n/ {{\n\tx = {text};\n}};\n").root.props["x"].value


def cells(text: str) -> list[int]:
    return parse(f"/dts-v1/; / {{ x = {text}; }};").root.props["x"].to_u32s()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<1 2>, <3>", [1, 2, 3]),
        ("<>", []),
        ("<0xffffffff>", [0xFFFF_FFFF]),
        ("<10 0x1f 0X1F 017 0 00>", [10, 31, 31, 15, 0, 0]),
        ("<5U 6L 7UL 8LL 9ULL 0x10U>", [5, 6, 7, 8, 9, 16]),
        (
            "<'a' '\\n' '\\t' '\\0' '\\x41' '\\101' '\\377' '\\777' '\\x4' '\\'' '\\q'>",
            [97, 10, 9, 0, 65, 65, 255, 255, 4, 39, 113],
        ),
        ("<(-1) (-0x80000000) (-0x100000000)>", [0xFFFF_FFFF, 0x8000_0000, 0]),
    ],
)
def test_cell_literals(text: str, expected: list[int]) -> None:
    assert cells(text) == expected


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("(1 + 2)", 3),
        ("(10 - 3)", 7),
        ("(6 * 7)", 42),
        ("(100 / 7)", 14),
        ("(100 % 7)", 2),
        ("(2 + 3 * 4)", 14),
        ("((2 + 3) * 4)", 20),
        ("(1 << 4)", 16),
        ("(0x100 >> 4)", 16),
        ("(1 << 64)", 0),
        ("(1 >> 64)", 0),
        ("(1 << 63 >> 32)", 0x8000_0000),
        ("(0xf0 | 0x0f)", 0xFF),
        ("(0xff & 0x3c)", 0x3C),
        ("(0xff ^ 0x0f)", 0xF0),
        ("(~0)", 0xFFFF_FFFF),
        ("(!0)", 1),
        ("(!7)", 0),
        ("(1 && 2)", 1),
        ("(0 && 1)", 0),
        ("(0 || 3)", 1),
        ("(1 < 2)", 1),
        ("(2 > 1)", 1),
        ("(1 <= 1)", 1),
        ("(2 >= 3)", 0),
        ("(4 == 4)", 1),
        ("(4 != 4)", 0),
        ("(-1 < 0)", 0),  # unsigned 64-bit comparison, like dtc
        ("(1 ? 10 : 20)", 10),
        ("(0 ? 10 : 20)", 20),
        ("(0 ? 1 : 0 ? 2 : 3)", 3),
        ("((((((1))))))", 1),
        ("('a' + 1)", 98),
        ("(- - 5)", 5),
        ("(1 + 2 == 3 && 4 > 3 ? 0x10 : 0x20)", 0x10),
    ],
)
def test_expressions(expression: str, result: int) -> None:
    assert cells(f"<{expression}>") == [result]


def test_bits_widths_and_markers() -> None:
    tree = parse(
        "/dts-v1/; / { a = /bits/ 8 <0 0xff (-1) 'z'>; b = /bits/ 16 <0xffff 0x1234 (-2)>;"
        " c = /bits/ 32 <7>; d = /bits/ 64 <0xffffffffffffffff 1 (-1)>; };"
    )
    props = tree.root.props
    assert props["a"].value == bytes([0, 0xFF, 0xFF, ord("z")])
    assert props["b"].to_cells(16) == [0xFFFF, 0x1234, 0xFFFE]
    assert props["c"].to_u32s() == [7]
    assert props["d"].to_u64s() == [2**64 - 1, 1, 2**64 - 1]
    assert [m.kind for m in props["a"].markers] == [MarkerKind.U8]
    assert [m.kind for m in props["d"].markers] == [MarkerKind.U64]


def test_byte_strings() -> None:
    assert value("[00 ff 0a]") == b"\x00\xff\x0a"
    assert value("[00ff0a]") == b"\x00\xff\x0a"
    assert value("[0A0b 0C]") == b"\x0a\x0b\x0c"
    assert value("[]") == b""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"hello"', b"hello\0"),
        ('""', b"\0"),
        ('"tab\\there"', b"tab\there\0"),
        ('"\\a\\b\\t\\n\\v\\f\\r"', b"\a\b\t\n\v\f\r\0"),
        ('"say \\"hi\\""', b'say "hi"\0'),
        ('"back\\\\slash"', b"back\\slash\0"),
        ('"\\x41\\x4a"', b"AJ\0"),
        ('"\\x4g"', b"\x04g\0"),
        ('"\\101\\0z"', b"A\0z\0"),
        ('"\\777"', b"\xff\0"),
        ('"\\q"', b"q\0"),
        ('"café"', "café".encode() + b"\0"),
        ('"a\nb"', b"a\nb\0"),
        ('"/* no */ // comment"', b"/* no */ // comment\0"),
    ],
)
def test_strings_with_c_escapes(text: str, expected: bytes) -> None:
    assert value(text) == expected


def test_string_lists_and_mixed_values() -> None:
    tree = parse('/dts-v1/; / { s = "a", "bc", ""; m = "a", <1>, [02], /bits/ 16 <3>, "z"; };')
    assert tree.root.props["s"].to_strings() == ["a", "bc", ""]
    mixed = tree.root.props["m"]
    assert mixed.value == b"a\0" + b"\0\0\0\x01" + b"\x02" + b"\x00\x03" + b"z\0"
    assert [(m.offset, m.kind) for m in mixed.markers] == [
        (0, MarkerKind.STRING),
        (2, MarkerKind.U32),
        (6, MarkerKind.BYTES),
        (7, MarkerKind.U16),
        (9, MarkerKind.STRING),
    ]


def test_empty_property_is_boolean() -> None:
    tree = parse("/dts-v1/; / { flag; };")
    assert tree.root.props["flag"].is_empty


def test_path_references_become_path_strings() -> None:
    tree = parse("/dts-v1/; / { p = &n, &{/a/b}; a { b {}; }; n: n@1 {}; };")
    prop = tree.root.props["p"]
    assert prop.to_strings() == ["/n@1", "/a/b"]
    assert [(m.offset, m.kind, m.ref) for m in prop.markers] == [
        (0, MarkerKind.PATH, "n"),
        (5, MarkerKind.PATH, "{/a/b}"),
    ]


def test_labels_inside_values_are_markers() -> None:
    tree = parse('/dts-v1/; / { l1: x = l2: <1 l3: 2 l4:>, l5: "s" l6:, [00 l7: 11] l8:; };')
    prop = tree.root.props["x"]
    assert prop.labels == ["l1"]
    assert tree.label2prop["l1"] is prop
    assert [(m.ref, m.offset) for m in prop.markers if m.kind is MarkerKind.LABEL] == [
        ("l2", 0),
        ("l3", 4),
        ("l4", 8),
        ("l5", 8),
        ("l6", 10),
        ("l7", 11),
        ("l8", 12),
    ]


def test_names_use_the_wide_lexer_alphabet() -> None:
    tree = parse(
        "/dts-v1/; / { #address-cells = <2>; ?*# = <0>; 0x10 = <1>; \\y = <2>; a,b+c.d_e-f = <3>; };"
    )
    assert list(tree.root.props) == ["#address-cells", "?*#", "0x10", "y", "a,b+c.d_e-f"]


def test_raw_bytes_in_strings_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "latin1.dts"
    path.write_bytes(b'/dts-v1/;\n/ { s = "caf\xe9"; };\n')
    assert parse_file(path).root.props["s"].value == b"caf\xe9\0"
