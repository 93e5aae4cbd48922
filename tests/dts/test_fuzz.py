"""Bad input never escapes as anything but a located DtsError.

Valid sources are mutated thousands of times (characters and tokens deleted, inserted,
duplicated); every result either parses (and then prints and encodes) or raises a
DtsError with a location. Pathological inputs (deep nesting, huge numbers, long files)
are refused or handled without touching Python's recursion limit.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from kerf.dts import format_dts, parse, to_dtb
from kerf.errors import DtsError

CORPUS = Path(__file__).parent / "corpus"
SEEDS = [
    *(p.read_text() for p in sorted(CORPUS.glob("*.dts")) if "/include/" not in p.read_text()),
    "/multikernel-v1/;\n/ {\n\tr { m = <0x0 0x800000000>; d = <&eth0 &eth0_vf1>; };\n\teth0: e@0 { };\n};\n",
]
TOKENS = [
    "{", "}", ";", "<", ">", "[", "]", "(", ")", '"', "'", "&", "&{/", "/", "*", "//", "/*", "*/", ":",
    ",", "=", "-", "~", "!", "?", "<<", ">>", "&&", "||", "/delete-node/ ", "/delete-property/ ",
    "/omit-if-no-ref/ ", "/bits/ ", "/memreserve/ ", "/dts-v1/;", "/multikernel-v1/;", "/include/ ",
    "/incbin/", "/plugin/;", "0x", "0", "9", "'\\", "\\x", "\\", "\n", "@", "#", "lbl:", "&lbl", " ",
    "0xffffffffffffffffff", "a", "é", "\x00", "\t",
]  # fmt: skip


def mutate(text: str, rng: random.Random) -> str:
    """One to three random edits of characters, tokens or lines."""
    for _ in range(rng.randint(1, 3)):
        if not text:
            return rng.choice(TOKENS)
        pos = rng.randrange(len(text))
        choice = rng.randrange(7)
        if choice == 0:
            text = text[:pos] + text[pos + 1 :]
        elif choice == 1:
            text = text[:pos] + rng.choice(TOKENS) + text[pos:]
        elif choice == 2:
            end = min(len(text), pos + rng.randint(1, 12))
            text = text[:pos] + text[pos:end] * 2 + text[end:]
        elif choice == 3:
            end = min(len(text), pos + rng.randint(1, 20))
            text = text[:pos] + text[end:]
        elif choice == 4:
            text = text[:pos]
        elif choice == 5:
            other = rng.randrange(len(text))
            chars = list(text)
            chars[pos], chars[other] = chars[other], chars[pos]
            text = "".join(chars)
        else:
            lines = text.split("\n")
            line = rng.randrange(len(lines))
            lines.insert(line, lines[rng.randrange(len(lines))])
            text = "\n".join(lines)
    return text


def check_one(text: str) -> bool:
    """Parse; on success print and encode too. True when it parsed."""
    try:
        tree = parse(text, "<fuzz>")
    except DtsError as err:
        assert err.location is not None, str(err)
        assert err.location.line >= 1 and err.location.col >= 1
        assert str(err).startswith(f"{err.location.filename}:")
        return False
    format_dts(tree)
    to_dtb(tree)
    return True


def test_mutated_sources_parse_or_fail_with_a_location() -> None:
    rng = random.Random(20240601)
    parsed = 0
    for round_ in range(3000):
        parsed += check_one(mutate(SEEDS[round_ % len(SEEDS)], rng))
    # The mutations must exercise both outcomes, or the test proves nothing.
    assert 100 < parsed < 2900


def test_random_token_soup() -> None:
    rng = random.Random(7)
    for _ in range(1500):
        check_one("/dts-v1/; / { " + "".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 30))))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/dts-v1/; / { " + "a { " * 10_000, "nodes nested more than 64 levels deep"),
        ("/dts-v1/; / { x = <" + "(" * 10_000 + "1" + ")" * 10_000 + ">; };", "nested more than 32 levels"),
        ("/dts-v1/; / { x = <(" + "-" * 10_000 + "1)>; };", "nested more than 32 levels"),
        ("/dts-v1/; / { x = <(" + "1 ? " * 10_000 + "1" + " : 1" * 10_000 + ")>; };", "nested more than 32"),
        ("/dts-v1/; / { x = <0x" + "f" * 100_000 + ">; };", "does not fit in 64 bits"),
        ("/dts-v1/; / { x = <" + "9" * 100_000 + ">; };", "does not fit in 64 bits"),
        ("/dts-v1/; / { x = <0" + "7" * 100_000 + ">; };", "does not fit in 64 bits"),
    ],
    ids=["nodes", "parentheses", "unary", "ternary", "hex", "decimal", "octal"],
)
def test_pathological_input_is_refused_cleanly(text: str, message: str) -> None:
    with pytest.raises(DtsError, match=message) as err:
        parse(text, "<deep>")
    assert err.value.location is not None


def test_nesting_up_to_the_limit_works() -> None:
    text = "/dts-v1/; / { " + "a { " * 64 + "};" * 64 + " };"
    tree = parse(text)
    assert max(node.depth for node in tree.nodes()) == 64
    assert format_dts(tree).count("a {") == 64
    assert to_dtb(tree)


def test_long_files_parse_in_reasonable_time() -> None:
    nodes = "\n".join(
        f'\tn{i}: node@{i:x} {{ reg = <{i} (0x{i:x} + 1)>; name-{i} = "value {i}", [0{i % 10} ff]; '
        f"ref = <&n{(i * 7) % 2000}>; }};"
        for i in range(2000)
    )
    props = "\n".join(f"\tp{i} = <{i}>;" for i in range(5000))
    text = f"/dts-v1/;\n/ {{\n{props}\n{nodes}\n}};\n"
    start = time.perf_counter()
    tree = parse(text, "long.dts")
    blob = to_dtb(tree)
    elapsed = time.perf_counter() - start
    assert len(tree.root.children) == 2000
    assert len(tree.phandle2node) == 2000
    assert len(blob) > 100_000
    assert elapsed < 20  # generous for a loaded 2-core machine; typically about 2 s


def test_huge_string_value() -> None:
    text = '/dts-v1/; / { s = "' + "x" * 1_000_000 + '"; };'
    assert len(parse(text).root.props["s"].value) == 1_000_001
