"""validate_description: the parser's and the binding's remarks become findings, located."""

from __future__ import annotations

import pytest

from kerf.binding import read_host
from kerf.dts import parse
from kerf.errors import SourceLocation
from kerf.validate import Finding, Severity, validate_description
from kerf.validate.findings import Collector
from tests.binding.util import host_text, loc


def findings_of(text: str) -> list[Finding]:
    return list(validate_description(read_host(parse(text, "host.dts"))).findings)


def test_parser_warning_becomes_a_dts_warning() -> None:
    text = host_text(header="/multikernel-v1/;", cpus="ids = <5 0x300000002>; available = <5>;")
    (finding,) = [f for f in findings_of(text) if f.code == "dts-warning"]
    assert finding.severity is Severity.WARNING
    assert finding.location == loc(text, "0x300000002")
    assert finding.subject == "host.dts"
    assert finding.hint


def test_duplicate_cpu_ids_are_an_error_of_the_description() -> None:
    text = host_text(cpus="ids = <0 1 1>; available = <1>;")
    report = validate_description(read_host(parse(text, "host.dts")))
    assert not report.ok
    (finding,) = report.errors
    assert (finding.code, finding.subject, finding.location) == (
        "cpu-duplicate-id",
        "/resources/cpus",
        loc(text, "ids"),
    )
    assert finding.message == "/resources/cpus: 'ids' lists CPU id 1 more than once"


def test_legacy_matrix_next_to_a_distance_map_is_ignored_with_a_warning() -> None:
    topology = """\t\t\tnuma-nodes {
\t\t\t\tnode@0 { cpus = <0 1 2 3>; distance-matrix = <10>; };
\t\t\t};
\t\t\tdistance-map { distance-matrix = <0 0 10>; };"""
    text = host_text(topology=topology)
    (finding,) = [f for f in findings_of(text) if f.code == "distance-legacy-ignored"]
    assert finding.severity is Severity.WARNING
    assert finding.location == loc(text, "distance-matrix")
    assert finding.subject == "/resources/topology/numa-nodes/node@0"
    assert finding.message == (
        "/resources/topology/numa-nodes/node@0: the flat 'distance-matrix' is ignored because "
        "/resources/topology/distance-map is given"
    )


def test_remarks_come_first_then_the_rules() -> None:
    text = host_text(
        cpus="total = <4>; available = <1 2 3>; bogus = <1>;",
        instances="\t\tweb { resources { cpus = <0>; memory-bytes = <0x1000>; }; };",
    )
    codes = [f.code for f in findings_of(text)]
    assert codes[0] == "binding-unknown-property"
    assert "cpu-not-in-pool" in codes


def test_an_unregistered_code_is_a_bug() -> None:
    with pytest.raises(ValueError, match="not registered"):
        Collector().error("no-such-rule", "x", "m")
    with pytest.raises(ValueError, match="not registered"):
        Collector().keep(Finding("cpu-conflict", Severity.WARNING, "m", None, SourceLocation("f", 1, 1), "s"))


def test_docs_list_every_code_with_its_severity() -> None:
    """docs/validation.md's table is exactly the registry in kerf/validate/codes.py."""
    import re
    from pathlib import Path

    from kerf.validate.codes import CODES

    docs = (Path(__file__).resolve().parents[2] / "docs" / "validation.md").read_text()
    table = dict(re.findall(r"^\| `([a-z0-9-]+)` \| (error|warning|info) \|", docs, flags=re.MULTILINE))
    assert table == {code: severity for code, (severity, _) in CODES.items()}


def test_every_code_is_exercised_by_a_test() -> None:
    from pathlib import Path

    from kerf.validate.codes import CODES

    tests = Path(__file__).resolve().parents[1]
    text = "\n".join(p.read_text() for p in tests.rglob("*.py"))
    assert [code for code in CODES if f'"{code}"' not in text] == []
