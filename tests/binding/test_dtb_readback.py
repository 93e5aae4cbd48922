"""`kerf compile` of host descriptions: dtc's bytes, and a warning when the DTB reads back differently."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerf.binding import read_host
from kerf.cli.app import app
from kerf.dts import from_dtb

MEMORY = """
		memory {
			total-bytes = <0x1 0x0>;
			host-reserved-bytes = <0x0 0x40000000>;
			memory-pool-base = <0x0 0x40000000>;
			memory-pool-bytes = <0x0 0xc0000000>;
		};"""

LABELLED = (
    """/dts-v1/;
/ {
	resources {
		cpus { total = <4>; host-reserved = <0>; available = <1 2 3>; };"""
    + MEMORY
    + """
		devices {
			gpu0: gpu@0 { compatible = "nvidia,a100"; pci-id = "0000:ca:00.0"; };
		};
	};
	instances {
		a { resources { cpus = <1>; memory-bytes = <0x0 0x40000000>; devices = "gpu0"; }; };
	};
};
"""
)

ALIASED = LABELLED.replace(
    "/ {\n\tresources {", '/ {\n\taliases { gpu0 = "/resources/devices/gpu@0"; };\n\tresources {'
)

WIDE = """/multikernel-v1/;
/ {
	resources {
		cpus { total = <4>; host-reserved = <0>; available = <1 2 3>; };
		memory {
			total-bytes = <0x0 0x100000000>;
			host-reserved-bytes = <0x0 0x40000000>;
			memory-pool-base = <0x0 0x40000000>;
			memory-pool-bytes = <0x0 0xc0000000>;
		};
	};
};
"""

BITS64 = (
    """/dts-v1/;
/ {
	resources {
		cpus { total = <4>; host-reserved = /bits/ 64 <0>; available = /bits/ 64 <1 2 3>; };"""
    + MEMORY
    + """
	};
};
"""
)

DERIVED = (
    """/multikernel-v1/;
/ {
	resources {
		cpus { total = <4>; host-reserved = <0>; available = <1 2 3>; };"""
    + MEMORY
    + """
		devices {
			eth0: ethernet@0 { compatible = "intel,e810"; pci-id = "0000:17:00.0"; sriov-vfs = <4>; };
		};
	};
	instances {
		a { resources { cpus = <1>; memory-bytes = <0x0 0x40000000>; devices = <&eth0_vf1>; }; };
	};
};
"""
)


def _compile(tmp_path: Path, text: str) -> tuple[int, str, bytes]:
    source = tmp_path / "host.dts"
    source.write_text(text)
    out = tmp_path / "host.dtb"
    result = CliRunner().invoke(app, ["compile", str(source), "-o", str(out)])
    return result.exit_code, result.stderr, out.read_bytes()


def test_labelled_device_names_lost_in_the_dtb_are_reported(tmp_path: Path) -> None:
    code, stderr, _ = _compile(tmp_path, LABELLED)
    assert code == 0
    assert "reads back as a different host description" in stderr
    assert "gpu0 -> gpu@0" in stderr
    assert 'aliases { gpu0 = "/resources/devices/gpu@0"; }' in stderr


def test_an_aliased_host_compiles_silently_and_reads_back_the_same(tmp_path: Path) -> None:
    code, stderr, blob = _compile(tmp_path, ALIASED)
    assert code == 0
    assert stderr == ""
    assert [d.name for d in read_host(from_dtb(blob)).host.devices] == ["gpu0"]


def test_wide_literals_that_make_the_dtb_unreadable_are_reported(tmp_path: Path) -> None:
    code, stderr, _ = _compile(tmp_path, WIDE)
    assert code == 0
    assert "does not read back as a host description" in stderr
    assert "total-bytes" in stderr
    assert "two cells <0x1 0x0>" in stderr


def test_bits64_cpu_lists_that_read_back_as_32_bit_cells_are_reported(tmp_path: Path) -> None:
    code, stderr, _ = _compile(tmp_path, BITS64)
    assert code == 0
    assert "the pool CPUs differ" in stderr
    assert "32-bit cells" in stderr


def test_derived_references_lost_in_the_dtb_are_reported(tmp_path: Path) -> None:
    code, stderr, _ = _compile(tmp_path, DERIVED)
    assert code == 0
    assert "does not read back as a host description" in stderr
    assert 'devices = "eth0_vf1";' in stderr


@pytest.mark.parametrize("text", [LABELLED, BITS64])
def test_the_dtb_is_still_the_plain_encoding_of_the_source(tmp_path: Path, text: str) -> None:
    from kerf.dts import parse, to_dtb

    _, _, blob = _compile(tmp_path, text)
    assert blob == to_dtb(parse(text))
