"""hwloc XML numbers out of range: exit 3 naming the element, never a DTS kerf cannot parse."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerf.cli.app import app
from kerf.discover import host_from_hwloc_xml, render_dts
from kerf.dts import parse

DATA = Path(__file__).parent / "data"
BASE = (DATA / "two-node-pci.xml").read_text()
MATRIX = '<u64values length="12">10 32 32 10</u64values>'


def _discover(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "topo.xml"
    path.write_text(text)
    return CliRunner().invoke(app, ["discover", "--from-hwloc", str(path), "-o", str(tmp_path / "out.dts")])


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        (
            'type="PU" os_index="3"',
            'type="PU" os_index="4294967296"',
            '<object type="PU" os_index="4294967296">',
        ),
        ('type="PU" os_index="3"', 'type="PU" os_index="-7"', '<object type="PU" os_index="-7">'),
        ('local_memory="8589934592"', 'local_memory="36893488147419103232"', 'type="NUMANode"'),
        ('local_memory="8589934592"', 'local_memory="-1073741824"', "local_memory='-1073741824'"),
        ('type="NUMANode" os_index="1"', 'type="NUMANode" os_index="4294967296"', 'type="NUMANode"'),
        ('type="NUMANode" os_index="1"', 'type="NUMANode" os_index="-1"', 'type="NUMANode" os_index="-1"'),
        ('type="Package" os_index="1"', 'type="Package" os_index="-1"', 'type="Package" os_index="-1"'),
        (MATRIX, '<u64values length="12">10 5000000000 5000000000 10</u64values>', "distances2"),
        (MATRIX, '<u64values length="12">10 -5 -5 10</u64values>', "distances2"),
        ('name="nvme0n2"', 'name="nvme0n0"', 'name="nvme0n0"'),
        ('name="nvme0n2"', 'name="nvme0n99999999999"', 'name="nvme0n99999999999"'),
    ],
)
def test_out_of_range_numbers_are_exit_3_naming_the_element(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    assert old in BASE
    result = _discover(tmp_path, BASE.replace(old, new, 1))
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: hwloc XML: ")
    assert named in result.stderr
    assert not (tmp_path / "out.dts").exists()


def test_cache_size_beyond_64_bits_is_refused(tmp_path: Path) -> None:
    cache = '<object type="L3Cache" cache_size="99999999999999999999999" depth="3" cpuset="0x3">'
    text = BASE.replace(
        '<object type="Core" os_index="0" cpuset="0x00000003"',
        cache + '<object type="Core" os_index="0" cpuset="0x00000003"',
        1,
    ).replace(
        '</object>\n      <object type="Bridge" gp_index="20"',
        '</object></object>\n      <object type="Bridge" gp_index="20"',
        1,
    )
    result = _discover(tmp_path, text)
    assert result.exit_code == 3, result.stderr
    assert 'type="L3Cache"' in result.stderr and "cache_size" in result.stderr


@pytest.mark.parametrize("values", ["10 10 10 10", "10 256 256 10", "0 32 32 10"])
def test_distances_linux_refuses_are_dropped_with_a_warning(tmp_path: Path, values: str) -> None:
    path = tmp_path / "topo.xml"
    path.write_text(BASE.replace(MATRIX, f'<u64values length="12">{values}</u64values>'))
    discovery = host_from_hwloc_xml(path)
    assert discovery.host.distances == {}
    assert any("which Linux refuses" in n.message for n in discovery.warnings)
    parse(render_dts(discovery))


def test_a_huge_xml_file_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kerf.discover import hwloc

    monkeypatch.setattr(hwloc, "MAX_XML_BYTES", 1024)
    result = _discover(tmp_path, BASE)
    assert result.exit_code == 3
    assert "larger than" in result.stderr and "Traceback" not in result.stderr
