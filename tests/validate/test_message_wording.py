"""Wording of a few messages: no empty lists, plurals that agree."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kerf.cli.app import app
from kerf.discover import host_from_hwloc_xml
from kerf.errors import InputError

HOST = """/dts-v1/;
/ {
	resources {
		cpus { total = <%(total)d>; host-reserved = <>; available = <>; };
		memory {
			total-bytes = <0x1 0x0>;
			host-reserved-bytes = <0x0 0x40000000>;
			memory-pool-base = <0x0 0x40000000>;
			memory-pool-bytes = <0x0 0xc0000000>;
		};
		%(topology)s
	};
	instances { a { resources { cpus = <1 2>; memory-bytes = <0x0 0x40000000>; }; }; };
};
"""
ZERO_DIAGONAL = """topology {
			numa-nodes {
				node@0 { memory-base = <0x0 0x0>; memory-size = <0x0 0x80000000>; cpus = <>; };
				node@1 { memory-base = <0x0 0x80000000>; memory-size = <0x0 0x80000000>; cpus = <>; };
			};
			distance-map { distance-matrix = <0 0 0>, <1 1 0>, <0 1 20>; };
		};"""


def _messages(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "host.dts"
    path.write_text(text)
    result = CliRunner().invoke(app, ["validate", "--json", str(path)])
    return [f["message"] for f in json.loads(result.stdout)["findings"]]


def test_unknown_cpus_on_a_host_without_cpus_do_not_print_an_empty_list(tmp_path: Path) -> None:
    messages = _messages(tmp_path, HOST % {"total": 0, "topology": ""})
    assert "Instance a: CPUs 1, 2 do not exist (the host describes no CPUs)" in messages


def test_zero_diagonal_of_several_nodes_says_themselves(tmp_path: Path) -> None:
    messages = _messages(tmp_path, HOST % {"total": 4, "topology": ZERO_DIAGONAL})
    assert any("NUMA nodes 0, 1 to themselves is written as 0" in m for m in messages), messages


def test_an_empty_hwloc_version_is_not_called_missing(tmp_path: Path) -> None:
    path = tmp_path / "topo.xml"
    path.write_text('<topology version=""><object type="Machine"/></topology>')
    try:
        host_from_hwloc_xml(path)
    except InputError as err:
        assert "an empty version attribute" in err.message
    else:
        raise AssertionError("an empty version must be refused")
