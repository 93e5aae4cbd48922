"""Every parse and check error: exact ``file:line:col: message``, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerf.dts import parse, parse_file
from kerf.errors import DtsError, ExitCode, SourceLocation

H = "/dts-v1/;\n"  # most cases start on line 2

CASES = [
    # header and top level
    (
        "",
        "t.dts:1:1: expected '/dts-v1/;' or '/multikernel-v1/;' at the start of the file, found end of file",
    ),
    ("/ { };", "t.dts:1:1: expected '/dts-v1/;' or '/multikernel-v1/;' at the start of the file, found '/'"),
    ("/dts-v1/", "t.dts:1:9: expected ';' after /dts-v1/, found end of file"),
    (H + "/plugin/;", "t.dts:2:1: /plugin/ (device tree overlay source) is not supported here"),
    (H + "x { };", "t.dts:2:1: expected the root node '/ {', found 'x'"),
    (H + "/ { }", "t.dts:2:6: expected ';' after '}', found end of file"),
    (
        H + "/ { }; garbage",
        "t.dts:2:8: expected '/ {', '&label {', '/delete-node/ &label;' or the end of the file, "
        "found 'garbage'",
    ),
    (H + "/ { }; /memreserve/ 1 2;", "t.dts:2:8: /memreserve/ must come before the root node '/ { ... };'"),
    (H + "/ { }; /foo/;", "t.dts:2:8: unknown directive '/foo/'"),
    (
        H + "/ { }; /delete-node/ a;",
        "t.dts:2:22: expected '&label' or '&{/path}' after /delete-node/, found 'a'",
    ),
    (H + "/ { }; a: b: &x { };", "t.dts:2:11: expected '&label {' after a top-level label, found label 'b:'"),
    (H + "/ { }; &nope { };", "t.dts:2:8: unknown label 'nope' in '&nope'"),
    (H + "/ { }; &{/nope} { };", "t.dts:2:8: no node at path '/nope' in '&{/nope}'"),
    (H + "/ { }; /delete-node/ &nope;", "t.dts:2:22: unknown label 'nope' in '&nope'"),
    # nodes and properties
    (H + "/ {\n\tcpus = <1 2>\n};", "t.dts:4:1: expected ';' after property 'cpus', found '}'"),
    (
        H + "/ { x = };",
        "t.dts:2:9: expected a value for property 'x' (\"string\", <cells>, [bytes] or &label), found '}'",
    ),
    (H + '/ { x = "a" "b"; };', "t.dts:2:13: expected ';' after property 'x', found string \"b\""),
    (
        H + "/ { x = <1>, ; };",
        "t.dts:2:14: expected a value for property 'x' (\"string\", <cells>, [bytes] or &label), found ';'",
    ),
    (H + "/ { x y; };", "t.dts:2:7: expected '=' or ';' after property name 'x', found 'y'"),
    (H + "/ { a {} };", "t.dts:2:10: expected ';' after '}', found '}'"),
    (
        H + "/ { a {}; x; };",
        "t.dts:2:11: property 'x' comes after a child node; properties must precede subnodes",
    ),
    (H + "/ { = <1>; };", "t.dts:2:5: expected a property, a child node or '}', found '='"),
    (H + "/ { a { }; a { }; };", "t.dts:2:12: duplicate node 'a' in / (first defined at t.dts:2:5)"),
    (H + "/ { x; x = <1>; };", "t.dts:2:8: duplicate property 'x' in / (first defined at t.dts:2:5)"),
    (
        H + "/ { a { }; /delete-node/ a; };",
        "t.dts:2:26: /delete-node/ a cannot delete a node defined in the same block (defined at t.dts:2:5)",
    ),
    (H + "/ { /delete-node/ ; };", "t.dts:2:19: expected a name after /delete-node/, found ';'"),
    (H + "/ { /delete-property/ x };", "t.dts:2:25: expected ';' after /delete-property/ x, found '}'"),
    (
        H + "/ { /omit-if-no-ref/ x = <1>; };",
        "t.dts:2:22: expected a node after /omit-if-no-ref/, found property 'x'",
    ),
    (H + "/ { a#b { }; };", "t.dts:2:5: bad character '#' in node name 'a#b'"),
    (H + "/ { a@1@2 { }; };", "t.dts:2:5: multiple '@' characters in node name 'a@1@2'"),
    (H + "/ { a@b = <1>; };", "t.dts:2:5: bad character '@' in property name 'a@b'"),
    (H + "/ { name = <1>; };", "t.dts:2:5: property 'name' of / is not a string"),
    (
        H + '/ { a { name = "b"; }; };',
        't.dts:2:9: property \'name\' of /a is "b" instead of the node\'s base name "a"',
    ),
    # labels and references
    (H + "/ {\n  eth0: a { };\n  eth0: b { };\n};", "t.dts:4:3: label 'eth0' already defined at t.dts:3:3"),
    (H + "/ { a: x = <1>; a: b { }; };", "t.dts:2:17: label 'a' already defined at t.dts:2:5"),
    (H + "/ { x = <1 a: 2>; a: b { }; };", "t.dts:2:19: label 'a' already defined at t.dts:2:12"),
    (H + "/ { x = <&eth9>; };", "t.dts:2:10: unknown label 'eth9' in reference &eth9 (property 'x' of /)"),
    (H + "/ { x = &eth9; };", "t.dts:2:9: unknown label 'eth9' in reference &eth9 (property 'x' of /)"),
    (
        H + "/ { x = <&{/no/such}>; };",
        "t.dts:2:10: no node at path '/no/such' in reference &{/no/such} (property 'x' of /)",
    ),
    (
        H + "/ { x = /bits/ 16 <&a>; a: a {}; };",
        "t.dts:2:20: references are only allowed in 32-bit cells, not in /bits/ 16",
    ),
    (
        H + "/ { a: a { phandle = <1>; }; b { phandle = <1>; }; };",
        "t.dts:2:34: duplicated phandle 0x1 in /b (already used by /a)",
    ),
    (H + "/ { a { phandle = <0>; }; };", "t.dts:2:9: bad value (0x0) in 'phandle' of /a"),
    (H + "/ { a { phandle = <0xffffffff>; }; };", "t.dts:2:9: bad value (0xffffffff) in 'phandle' of /a"),
    (
        H + "/ { a { phandle = <1 2>; }; };",
        "t.dts:2:9: 'phandle' of /a must be one 32-bit cell, found 8 bytes",
    ),
    (
        H + "/ { a: a { phandle = <&b>; }; b: b { }; };",
        "t.dts:2:23: 'phandle' of /a refers to another node (&b)",
    ),
    (
        H + "/ { a { linux,phandle = <1>; phandle = <2>; }; };",
        "t.dts:2:30: /a has different 'phandle' and 'linux,phandle' values",
    ),
    # cells, literals, expressions
    (H + "/ { x = <1 2 };", "t.dts:2:14: expected '>' to close the cells of property 'x', found '}'"),
    (
        H + "/ { x = <1 abc>; };",
        "t.dts:2:12: expected an integer, a character literal, '(' or '>' in the cells of property 'x', "
        "found 'abc'",
    ),
    (
        H + "/ { x = <-1>; };",
        "t.dts:2:10: expected an integer, a character literal, '(' or '>' in the cells of property 'x', "
        "found '-1'",
    ),
    (
        H + "/ { x = <08>; };",
        "t.dts:2:10: bad integer literal '08': a leading 0 means octal, which has no digit 8 or 9",
    ),
    (
        H + "/ { x = <0x10000000000000000>; };",
        "t.dts:2:10: integer literal 0x10000000000000000 does not fit in 64 bits",
    ),
    (
        H + "/ { x = <99999999999999999999999>; };",
        "t.dts:2:10: integer literal 99999999999999999999999 does not fit in 64 bits",
    ),
    (
        H + "/ { x = <0x800000000>; };",
        "t.dts:2:10: integer literal 0x800000000 does not fit in a 32-bit cell",
    ),
    (H + "/ { x = <(1 << 40)>; };", "t.dts:2:10: value 0x10000000000 does not fit in a 32-bit cell"),
    (
        H + "/ { x = /bits/ 16 <0x10000>; };",
        "t.dts:2:20: integer literal 0x10000 does not fit in a 16-bit cell",
    ),
    (H + "/ { x = /bits/ 8 <(0x80 << 1)>; };", "t.dts:2:19: value 0x100 does not fit in an 8-bit cell"),
    (H + "/ { x = <(5 / 0)>; };", "t.dts:2:13: division by zero in expression"),
    (H + "/ { x = <(5 % (1 - 1))>; };", "t.dts:2:13: division by zero in expression"),
    (H + "/ { x = <(0 ? (1 / 0) : 1)>; };", "t.dts:2:18: division by zero in expression"),
    (
        H + "/ { x = <(1 + )>; };",
        "t.dts:2:15: expected an integer, a character literal or '(' in the expression, found ')'",
    ),
    (H + "/ { x = <(1 ? 2)>; };", "t.dts:2:16: expected ':' of a '?:' expression, found ')'"),
    (H + "/ { x = <(1 2)>; };", "t.dts:2:13: expected ')' to close the expression, found '2'"),
    (H + "/ { x = /bits/ 12 <1>; };", "t.dts:2:16: cell width must be 8, 16, 32 or 64 bits, found 12"),
    (H + "/ { x = /bits/ 8 [1]; };", "t.dts:2:18: expected '<' after /bits/ 8, found '['"),
    (
        H + "/ { x = /bits/ x <1>; };",
        "t.dts:2:16: expected a cell width (8, 16, 32 or 64) after /bits/, found 'x'",
    ),
    # characters, strings, bytes, comments
    (H + "/ { x = <''>; };", "t.dts:2:10: empty character literal"),
    (H + "/ { x = <'ab'>; };", "t.dts:2:10: character literal has 2 characters instead of 1"),
    (H + "/ { x = 'a; };", "t.dts:2:9: unterminated character literal"),
    (H + '/ { x = "abc };', "t.dts:2:9: unterminated string"),
    (H + '/ { x = "\\x"; };', "t.dts:2:9: \\x used with no following hex digits"),
    (H + '/ { x = "\ud800"; };', "t.dts:2:9: cannot encode character U+D800 in a string"),
    (H + "/ { x = [0 1]; };", "t.dts:2:10: expected two hex digits or ']' in a byte string, found '0'"),
    (H + "/ { x = [012]; };", "t.dts:2:12: expected two hex digits or ']' in a byte string, found '2'"),
    (H + '/ { x = /incbin/("f"); };', "t.dts:2:9: /incbin/ is not supported"),
    (H + "/ { /* open", "t.dts:2:5: unterminated comment: '/*' without '*/'"),
    (
        H + "/ { }; // no newline",
        "t.dts:2:8: '//' comment on the last line is not ended by a newline (dtc rejects it too)",
    ),
    (
        H + '/ { #include "x.dtsi"\n};',
        "t.dts:2:14: expected '=' or ';' after property name '#include', found string \"x.dtsi\"",
    ),
    (H + "/ { /include/ x };", "t.dts:2:5: expected a file name in quotes after /include/"),
]


@pytest.mark.parametrize(("source", "message"), CASES, ids=[m.split(": ", 1)[1][:50] for _, m in CASES])
def test_error_message_and_location(source: str, message: str) -> None:
    with pytest.raises(DtsError) as err:
        parse(source, "t.dts")
    assert str(err.value) == message
    assert err.value.location is not None
    assert err.value.exit_code == ExitCode.INPUT


def test_hints_say_how_to_fix() -> None:
    with pytest.raises(DtsError) as err:
        parse(H + "/ { x = <-1>; };", "t.dts")
    assert err.value.hint == "write negative numbers in parentheses: (-1)"
    with pytest.raises(DtsError) as err:
        parse(H + '/ { #include "x.dtsi"\n};', "t.dts")
    assert err.value.hint == 'C preprocessor directives are not supported; use /include/ "file"'
    with pytest.raises(DtsError) as err:
        parse(H + '/ { x = "a" "b"; };', "t.dts")
    assert err.value.hint == "separate the parts of a value with ','"


def test_missing_include_names_the_file_and_the_reason(tmp_path: Path) -> None:
    (tmp_path / "main.dts").write_text('/dts-v1/;\n/ { };\n  /include/ "x.dtsi"\n')
    with pytest.raises(DtsError) as err:
        parse_file(tmp_path / "main.dts")
    assert err.value.message == "cannot read included file 'x.dtsi': No such file or directory"
    assert err.value.location == SourceLocation(str(tmp_path / "main.dts"), 3, 3)


def test_include_cycle_names_the_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.dts").write_text('/dts-v1/;\n/ { };\n/include/ "b.dts"\n')
    Path("b.dts").write_text('/include/ "a.dts"\n')
    with pytest.raises(DtsError) as err:
        parse_file("a.dts")
    assert str(err.value) == "b.dts:1:1: /include/ cycle: a.dts -> b.dts -> a.dts"


def test_errors_in_included_files_point_into_them(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "main.dts").write_text('/dts-v1/;\n/ {\n\t/include/ "inc/props.dtsi"\n};\n')
    (tmp_path / "inc" / "props.dtsi").write_text("a = <1>;\nb = <2>\n")
    with pytest.raises(DtsError) as err:
        parse_file(tmp_path / "main.dts")
    assert str(err.value) == f"{tmp_path / 'main.dts'}:4:1: expected ';' after property 'b', found '}}'"
    (tmp_path / "inc" / "props.dtsi").write_text("a = <1>;\nb = <2 x>;\n")
    with pytest.raises(DtsError) as err:
        parse_file(tmp_path / "main.dts")
    assert err.value.location == SourceLocation(str(tmp_path / "inc" / "props.dtsi"), 2, 8)


def test_include_from_a_string_without_include_dirs() -> None:
    with pytest.raises(DtsError) as err:
        parse('/dts-v1/;\n/ { };\n/include/ "x.dtsi"\n')
    assert (
        str(err.value) == "<string>:3:1: cannot read included file 'x.dtsi': no include directory to look in"
    )


def test_bytes_that_are_not_utf8_are_named_not_crashed_on(tmp_path: Path) -> None:
    path = tmp_path / "latin1.dts"
    path.write_bytes(b"/dts-v1/;\n/ { x = \xff; };\n")
    with pytest.raises(DtsError) as err:
        parse_file(path)
    assert err.value.message.endswith("found byte 0xff (not UTF-8 text)")
    assert err.value.location == SourceLocation(str(path), 2, 9)


def test_include_chains_have_a_depth_limit(tmp_path: Path) -> None:
    for index in range(120):
        (tmp_path / f"f{index}.dtsi").write_text(f'/include/ "f{index + 1}.dtsi"\n')
    (tmp_path / "f120.dtsi").write_text("")
    (tmp_path / "main.dts").write_text('/dts-v1/;\n/ { };\n/include/ "f0.dtsi"\n')
    with pytest.raises(DtsError) as err:
        parse_file(tmp_path / "main.dts")
    assert err.value.message == "includes nested more than 100 deep"
    assert err.value.location is not None
