"""Instance names and ids."""

from __future__ import annotations

import re

import pytest

from kerf.errors import UsageError
from kerf.lifecycle.names import check_id, check_name


@pytest.mark.parametrize("name", ["web", "a", "db-1", "x.y_z", "_tmp", "A9", "n" * 63])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("n" * 64, "64 characters"),
        ("a/b", "'/'"),
        ("..", "starts with '.'"),
        (".hidden", "starts with '.'"),
        ("-rf", "starts with '-'"),
        ("a b", "' '"),
        ("a\0b", "'\\x00'"),
        ("ünï", "'ü'"),
    ],
)
def test_bad_names(name: str, problem: str) -> None:
    with pytest.raises(UsageError, match=re.escape(problem)):
        check_name(name)


@pytest.mark.parametrize("ident", [1, 2047])
def test_good_ids(ident: int) -> None:
    assert check_id(ident) == ident


@pytest.mark.parametrize("ident", [0, -1, 2048, 1 << 31])
def test_bad_ids(ident: int) -> None:
    with pytest.raises(UsageError, match="ids are 1-2047"):
        check_id(ident)
