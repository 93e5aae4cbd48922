"""Rules taken from what Linux accepts: NUMA distances, PCI functions, 64-bit memory ranges.

Each case goes through ``kerf validate --json`` and checks the finding's code and location.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerf.cli.app import app

HEAD = """/dts-v1/;
/ {
	resources {
		cpus { total = <8>; host-reserved = <0>; available = <1 2 3 4 5 6 7>; };
		memory {
			total-bytes = <0x2 0x0>;
			host-reserved-bytes = <0x0 0x40000000>;
			%(pool)s
		};
"""
POOL = "memory-pool-base = <0x0 0x40000000>; memory-pool-bytes = <0x1 0xc0000000>;"
TOPOLOGY = """
		topology {
			numa-nodes {
				node@0 { memory-base = <0x0 0x0>; memory-size = <0x1 0x0>; cpus = <0 1 2 3>; };
				node@1 { memory-base = <0x1 0x0>; memory-size = <0x1 0x0>; cpus = <4 5 6 7>; };
			};
			distance-map {
				distance-matrix = %(matrix)s;
			};
		};
"""
TAIL = "\t};\n};\n"


def _host(*, pool: str = POOL, devices: str = "", matrix: str | None = None) -> str:
    text = HEAD % {"pool": pool}
    if devices:
        text += "\t\tdevices {\n" + devices + "\t\t};\n"
    if matrix is not None:
        text += TOPOLOGY % {"matrix": matrix}
    return text + TAIL


def _findings(tmp_path: Path, text: str) -> tuple[int, list[dict[str, object]]]:
    path = tmp_path / "host.dts"
    path.write_text(text)
    result = CliRunner().invoke(app, ["validate", "--json", str(path)])
    return result.exit_code, json.loads(result.stdout)["findings"]


def _one(findings: list[dict[str, object]], code: str) -> dict[str, object]:
    matching = [f for f in findings if f["code"] == code]
    assert len(matching) == 1, findings
    return matching[0]


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("matrix", "code", "words"),
    [
        ("<0 0 10>, <1 1 10>, <0 1 10>", "distance-remote-local", "Linux rejects the whole distance map"),
        ("<0 0 10>, <1 1 10>, <0 1 256>", "distance-too-large", "more than 255"),
        ("<0 0 10>, <1 1 10>, <0 1 0xffffffff>", "distance-too-large", "4294967295"),
        ("<0 0 10>, <1 1 10>, <0 1 30>, <0 1 12>", "distance-duplicate", "given twice, as 30 and as 12"),
    ],
)
def test_distances_linux_refuses_are_located_errors(
    tmp_path: Path, matrix: str, code: str, words: str
) -> None:
    text = _host(matrix=matrix)
    exit_code, findings = _findings(tmp_path, text)
    assert exit_code == 1
    finding = _one(findings, code)
    assert finding["severity"] == "error"
    assert words in str(finding["message"])
    assert str(finding["location"]).startswith(
        f"{tmp_path / 'host.dts'}:{_line_of(text, 'distance-matrix')}:"
    )


def test_distance_255_and_a_repeated_equal_entry_are_accepted(tmp_path: Path) -> None:
    exit_code, findings = _findings(tmp_path, _host(matrix="<0 0 10>, <1 1 10>, <0 1 255>, <0 1 255>"))
    assert exit_code == 0, findings


def test_the_legacy_flat_matrix_findings_are_located(tmp_path: Path) -> None:
    text = _host().replace(
        TAIL,
        """
		topology { numa-nodes {
			node@0 { memory-base = <0x0 0x0>; memory-size = <0x1 0x0>; cpus = <0 1 2 3>;
				distance-matrix = <10 20 30 10>; };
			node@1 { memory-base = <0x1 0x0>; memory-size = <0x1 0x0>; cpus = <4 5 6 7>; };
		}; };
"""
        + TAIL,
    )
    _, findings = _findings(tmp_path, text)
    finding = _one(findings, "distance-asymmetric")
    assert str(finding["location"]).startswith(f"{tmp_path / 'host.dts'}:{_line_of(text, '<10 20 30 10>')}:")


GPU = (
    'gpu%d: gpu@%d { compatible = "nvidia,a100"; pci-id = "%s"; '
    "vendor-id = <0x10de>; device-id = <0x20b0>; };\n"
)


def test_two_devices_with_one_pci_function_are_an_error(tmp_path: Path) -> None:
    text = _host(devices=GPU % (0, 0, "0000:ca:00.0") + GPU % (1, 1, "0000:CA:00.0"))
    exit_code, findings = _findings(tmp_path, text)
    assert exit_code == 1
    finding = _one(findings, "device-pci-duplicate")
    assert finding["message"] == "PCI function 0000:ca:00.0 is given to device gpu0 and device gpu1"
    assert str(finding["location"]).startswith(f"{tmp_path / 'host.dts'}:{_line_of(text, 'gpu1:')}:")


def test_a_vf_with_another_functions_pci_id_is_an_error(tmp_path: Path) -> None:
    eth = (
        'eth0: ethernet@0 { compatible = "intel,e810"; pci-id = "0000:17:00.0"; vendor-id = <0x8086>; '
        "device-id = <0x159b>; vf-device-id = <0x1889>; sriov-vfs = <2>; available-vfs = <0 1>;\n"
        '\t\t\tvf@0 { pci-id = "0000:17:01.0"; };\n'
        '\t\t\tvf@1 { pci-id = "0000:ca:00.0"; };\n\t\t};\n'
    )
    text = _host(devices=GPU % (0, 0, "0000:ca:00.0") + eth)
    exit_code, findings = _findings(tmp_path, text)
    assert exit_code == 1
    finding = _one(findings, "device-pci-duplicate")
    assert "device gpu0 and VF 1 of device eth0" in str(finding["message"])
    assert str(finding["location"]).startswith(f"{tmp_path / 'host.dts'}:{_line_of(text, 'vf@1')}:")


def test_a_pci_slot_above_0x1f_is_a_format_error(tmp_path: Path) -> None:
    _, findings = _findings(tmp_path, _host(devices=GPU % (0, 0, "0000:ca:20.0")))
    assert _one(findings, "device-pci-id-format")["severity"] == "error"


def test_a_pool_past_2_pow_64_is_an_error(tmp_path: Path) -> None:
    text = _host(pool="memory-pool-base = <0xffffffff 0xfffff000>; memory-pool-bytes = <0x0 0x2000>;")
    exit_code, findings = _findings(tmp_path, text)
    assert exit_code == 1
    finding = _one(findings, "memory-range-overflow")
    assert "runs past the end of the 64-bit address space" in str(finding["message"])
    assert str(finding["location"]).startswith(
        f"{tmp_path / 'host.dts'}:{_line_of(text, 'memory-pool-base')}:"
    )


def test_a_numa_node_past_2_pow_64_is_an_error(tmp_path: Path) -> None:
    text = _host(matrix="<0 0 10>, <1 1 10>, <0 1 20>").replace(
        "node@1 { memory-base = <0x1 0x0>;", "node@1 { memory-base = <0xffffffff 0x1000>;"
    )
    _, findings = _findings(tmp_path, text)
    finding = _one(findings, "memory-range-overflow")
    assert "NUMA node 1 memory" in str(finding["message"])
    assert str(finding["location"]).startswith(f"{tmp_path / 'host.dts'}:{_line_of(text, 'node@1')}:")


def test_a_zero_size_pool_range_is_an_error(tmp_path: Path) -> None:
    pool = "memory-pool-ranges = /bits/ 64 <0x40000000 0x40000000 0x100000000 0x0>;"
    text = _host(pool=pool)
    exit_code, findings = _findings(tmp_path, text)
    assert exit_code == 1
    finding = _one(findings, "memory-pool-range-empty")
    assert finding["message"] == "a pool range at 0x100000000 has size 0"
    assert str(finding["location"]).startswith(
        f"{tmp_path / 'host.dts'}:{_line_of(text, 'memory-pool-ranges')}:"
    )
