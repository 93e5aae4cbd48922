"""Sizes and CPU lists as written on the command line."""

from __future__ import annotations

import re

import pytest

from kerf.errors import UsageError
from kerf.units import parse_cpu_list, parse_size

K, M, G, T = 1 << 10, 1 << 20, 1 << 30, 1 << 40


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4096", 4096),
        ("16GB", 16 * G),
        ("16G", 16 * G),
        ("16gib", 16 * G),
        ("16 GiB", 16 * G),
        ("512M", 512 * M),
        ("1.5K", 1536),
        ("1.5G", 3 * G // 2),
        (".5M", 512 * K),
        ("2T", 2 * T),
        ("4096B", 4096),
        ("15T", 15 * T),
    ],
)
def test_sizes(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("-1G", "must not be negative"),
        ("0", "larger than 0"),
        ("0G", "larger than 0"),
        ("0.3K", "not a whole number of bytes"),
        ("1.0000001G", "not a whole number of bytes"),
        ("16777216T", "below 2^64"),
        ("99999999999999999999999", "below 2^64"),
        ("4iB", "needs a unit"),
        ("4X", "is not a size"),
        ("", "is not a size"),
        ("1e9", "is not a size"),
        ("G", "is not a size"),
        ("1,5G", "is not a size"),
    ],
)
def test_bad_sizes(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=re.escape(problem)):
        parse_size(text)


def test_zero_when_allowed_and_the_limit() -> None:
    assert parse_size("0", allow_zero=True) == 0
    assert parse_size(str((1 << 64) - 1)) == (1 << 64) - 1


@pytest.mark.parametrize(
    ("text", "ids"),
    [("0-3,8", (0, 1, 2, 3, 8)), ("8,0-1", (8, 0, 1)), (" 4 , 5 ", (4, 5)), ("7", (7,)), ("2-2", (2,))],
)
def test_cpu_lists_keep_the_written_order(text: str, ids: tuple[int, ...]) -> None:
    assert parse_cpu_list(text) == ids


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("3-1", "runs backwards"),
        ("1,1", "more than once"),
        ("0-3,2", "names 2 more than once"),
        ("-1", "not a number or a range"),
        ("a", "not a number or a range"),
        ("1,,2", "not a number or a range"),
        ("0x4", "not a number or a range"),
        ("0-999999", "implausibly long"),
    ],
)
def test_bad_cpu_lists(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=re.escape(problem)):
        parse_cpu_list(text)
