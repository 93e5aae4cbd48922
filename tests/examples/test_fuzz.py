"""Fuzzing the `kerf validate` path with mutated examples.

Thousands of mutants of every example (characters, tokens, lines, numbers, the header;
and bytes of their DTBs) go through parse -> read_host -> validate_description ->
summarize, the functions `kerf validate` runs. Every outcome must be a report, or a
KerfError that says where the problem is; anything else (a traceback) is a bug.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from kerf.binding import read_host
from kerf.dts import from_dtb, parse, parse_file, to_dtb
from kerf.errors import KerfError
from kerf.validate import validate_description
from kerf.validate.summary import summarize

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SOURCES = sorted([*EXAMPLES.glob("*.dts"), EXAMPLES / "requests" / "batch.dts"])
SIGNIFICANT = [*'{}<>;="&/@,:()[]#-*+~!\n\t 0123456789abcdefx', "0x", "/bits/ 64", "/delete-node/"]
NUMBERS = re.compile(r"\b(?:0x[0-9a-fA-F]+|\d+)\b")
TOKENS = re.compile(r"\w[\w,.+@-]*|\s+|.", re.DOTALL)
INTERESTING = ["0", "1", "2047", "2048", "4095", "4096", "0xffffffff", "0x100000000", "-1", "99", "(1 << 40)"]


def _char_delete(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    return text[:i] + text[i + 1 :]


def _char_insert(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(SIGNIFICANT) + text[i:]


def _char_replace(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    return text[:i] + rng.choice(SIGNIFICANT) + text[i + 1 :]


def _token_edit(rng: random.Random, text: str) -> str:
    tokens = TOKENS.findall(text)
    i, j = rng.randrange(len(tokens)), rng.randrange(len(tokens))
    action = rng.randrange(3)
    if action == 0:
        del tokens[i]
    elif action == 1:
        tokens.insert(i, tokens[j])
    else:
        tokens[i], tokens[j] = tokens[j], tokens[i]
    return "".join(tokens)


def _line_edit(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    if rng.random() < 0.5:
        del lines[i]
    else:
        lines.insert(rng.randrange(len(lines) + 1), lines[i])
    return "\n".join(lines)


def _number_edit(rng: random.Random, text: str) -> str:
    spans = [m.span() for m in NUMBERS.finditer(text)]
    if len(spans) < 2:
        return text
    (a0, a1), (b0, b1) = sorted(rng.sample(spans, 2))
    if rng.random() < 0.5:  # swap two numbers
        return text[:a0] + text[b0:b1] + text[a1:b0] + text[a0:a1] + text[b1:]
    return text[:a0] + rng.choice(INTERESTING) + text[a1:]


def _header_flip(rng: random.Random, text: str) -> str:
    if text.startswith("/dts-v1/;"):
        return "/multikernel-v1/;" + text[len("/dts-v1/;") :]
    return "/dts-v1/;" + text.split(";", 1)[1] if text.startswith("/multikernel-v1/;") else text


MUTATIONS: list[Callable[[random.Random, str], str]] = [
    _char_delete,
    _char_insert,
    _char_replace,
    _token_edit,
    _line_edit,
    _number_edit,
    _header_flip,
]


def mutate(rng: random.Random, text: str) -> str:
    """One to three random mutations."""
    for _ in range(rng.randint(1, 3)):
        text = rng.choice(MUTATIONS)(rng, text) or text
    return text


def run_validate_path(text: str, filename: str) -> str:
    """What `kerf validate` does with a file's text; returns "report" or "error"."""
    try:
        desc = read_host(parse(text, filename))
    except KerfError as err:
        assert err.location is not None, f"unlocated error: {err!r}"
        assert err.location.filename == filename and err.location.line >= 1, err
        assert err.message
        return "error"
    report = validate_description(desc)
    json.dumps(summarize(desc, report))
    return "report"


def run_dtb_path(blob: bytes) -> str:
    """The same for a DTB: errors there have no line, so they must name the node or the blob."""
    try:
        desc = read_host(from_dtb(blob, "fuzz.dtb"))
    except KerfError as err:
        assert err.message
        assert err.location is not None or "/" in err.message or "fuzz.dtb" in err.message, err
        return "error"
    report = validate_description(desc)
    json.dumps(summarize(desc, report))
    return "report"


def fuzz_sources(cases_per_file: int, seed: int) -> dict[str, int]:
    outcomes = {"report": 0, "error": 0}
    for path in SOURCES:
        rng = random.Random(f"{seed}:{path.name}")
        original = path.read_text()
        for n in range(cases_per_file):
            mutant = mutate(rng, original)
            try:
                outcomes[run_validate_path(mutant, "fuzz.dts")] += 1
            except Exception:
                print(f"--- mutant {n} of {path.name} ---\n{mutant}")
                raise
    return outcomes


def fuzz_dtbs(cases_per_file: int, seed: int) -> dict[str, int]:
    outcomes = {"report": 0, "error": 0}
    for path in SOURCES:
        rng = random.Random(f"{seed}:{path.name}:dtb")
        blob = to_dtb(parse_file(path))
        for _ in range(cases_per_file):
            data = bytearray(blob)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(data))
                data[i] = rng.choice([0, 1, 0xFF, 0x2F, rng.randrange(256)])
            outcomes[run_dtb_path(bytes(data))] += 1
    return outcomes


def test_fuzz_quick() -> None:
    """A small fixed sample on every run."""
    outcomes = fuzz_sources(cases_per_file=40, seed=1)
    assert outcomes["report"] > 0 and outcomes["error"] > 0


@pytest.mark.slow
def test_fuzz_sources() -> None:
    outcomes = fuzz_sources(cases_per_file=450, seed=2)
    assert sum(outcomes.values()) == 450 * len(SOURCES)
    assert outcomes["report"] > 0 and outcomes["error"] > 0


@pytest.mark.slow
def test_fuzz_dtbs() -> None:
    outcomes = fuzz_dtbs(cases_per_file=150, seed=3)
    assert sum(outcomes.values()) == 150 * len(SOURCES)
    assert outcomes["report"] > 0 and outcomes["error"] > 0
