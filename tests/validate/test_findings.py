"""The report's helpers: wording of ids and sizes, and the Report's views."""

from __future__ import annotations

import pytest

from kerf.validate import Finding, Report, Severity
from kerf.validate.findings import cpus_text, ids_text, size_text


@pytest.mark.parametrize(
    ("ids", "text"),
    [
        ([], ""),
        ([3], "3"),
        ([1, 2], "1, 2"),
        ([0, 1, 2, 3, 8, 10, 11], "0-3, 8, 10, 11"),
        ([5, 4, 3, 3], "3-5"),
    ],
)
def test_ids_text(ids: list[int], text: str) -> None:
    assert ids_text(ids) == text


def test_cpus_text_singular_and_plural() -> None:
    assert cpus_text([8]) == "CPU 8"
    assert cpus_text([9, 8]) == "CPUs 8, 9"


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (4097, "4.00 KiB"),
        (1 << 30, "1 GiB"),
        (3 << 29, "1.50 GiB"),
        (16 << 30, "16 GiB"),
        (1 << 40, "1 TiB"),
    ],
)
def test_size_text(n: int, text: str) -> None:
    assert size_text(n) == text


def test_report_views() -> None:
    err = Finding("a", Severity.ERROR, "m", None, None, "s")
    warn = Finding("b", Severity.WARNING, "m", None, None, "s")
    note = Finding("c", Severity.INFO, "m", None, None, "s")
    assert Report((warn, note)).ok
    report = Report((err, warn, note))
    assert not report.ok
    assert report.errors == (err,)
    assert report.warnings == (warn,)
    assert report.codes == ("a", "b", "c")
