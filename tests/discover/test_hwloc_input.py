"""hwloc XML read without hwloc installed: a hand-written export, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerf.discover import host_from_hwloc_xml, render_dts
from kerf.errors import InputError

DATA = Path(__file__).parent / "data"

GOOD_PU = '<object type="PU" os_index="0" cpuset="0x1"/>'


def _xml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topo.xml"
    path.write_text(text)
    return path


def test_hand_written_export_with_devices_and_gp_indexed_distances() -> None:
    d = host_from_hwloc_xml(DATA / "two-node-pci.xml")
    host = d.host
    assert [c.id for c in host.cpus] == [0, 1, 2, 3]
    assert d.facts.offline == (4,)  # in complete_cpuset, not in the topology
    assert any("left out: CPU 4" in n.message for n in d.warnings)
    assert host.distance(0, 1) == 32 and host.distance(1, 1) == 10
    assert host.model == "Example Corp Box 2000 (Example Core 8)"

    by_name = {dev.name: dev for dev in host.devices}
    assert sorted(by_name) == ["eth0", "gpu0", "nvme0"]  # the 0604 bridge function is not assignable
    assert (by_name["nvme0"].pci_id, by_name["nvme0"].numa_node) == ("0000:01:00.0", 0)
    assert (by_name["nvme0"].namespaces, by_name["nvme0"].available_ns) == (2, (1, 2))
    assert (by_name["eth0"].pci_id, by_name["eth0"].numa_node) == ("0000:81:00.0", 1)
    assert d.device_facts["eth0"].interfaces == ("ens2f0",)
    # Attached to the machine, not to a package: its locality spans both nodes.
    assert by_name["gpu0"].numa_node is None
    assert any("says nothing about SR-IOV" in n.message for n in d.warnings)
    assert "interface ens2f0" in render_dts(d)


def test_malformed_xml_is_located(tmp_path: Path) -> None:
    path = _xml(tmp_path, '<topology version="2.0">\n  <object type="Machine">\n</topology>\n')
    with pytest.raises(InputError) as err:
        host_from_hwloc_xml(path)
    assert "is not well-formed XML (mismatched tag)" in err.value.message
    assert err.value.location is not None and err.value.location.line == 3
    assert "lstopo --of xml" in (err.value.hint or "")


def test_xml_version_3_is_refused(tmp_path: Path) -> None:
    path = _xml(tmp_path, f'<topology version="3.0"><object type="Machine">{GOOD_PU}</object></topology>')
    with pytest.raises(InputError) as err:
        host_from_hwloc_xml(path)
    assert "hwloc XML version 3.0; kerf reads version 2.x only" in err.value.message
    assert "hwloc 2.x" in (err.value.hint or "")


def test_xml_version_1_is_refused(tmp_path: Path) -> None:
    path = _xml(tmp_path, f'<topology><object type="Machine">{GOOD_PU}</object></topology>')
    with pytest.raises(InputError) as err:
        host_from_hwloc_xml(path)
    assert "version 1.x" in err.value.message


def test_other_xml_is_refused(tmp_path: Path) -> None:
    path = _xml(tmp_path, "<html><body/></html>")
    with pytest.raises(InputError) as err:
        host_from_hwloc_xml(path)
    assert "root element is <html>, expected <topology>" in err.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        host_from_hwloc_xml(tmp_path / "absent.xml")
    assert "cannot read hwloc XML file" in err.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "no PU (CPU) objects"),
        ('<object type="PU" os_index="x"/>', "os_index='x', which is not a number"),
        ('<object type="PU"/>', "a PU object has no os_index"),
        ('<object type="PU" os_index="0"/><object type="PU" os_index="0"/>', "PU os_index 0 appears twice"),
    ],
)
def test_bad_objects(tmp_path: Path, body: str, message: str) -> None:
    path = _xml(tmp_path, f'<topology version="2.0"><object type="Machine">{body}</object></topology>')
    with pytest.raises(InputError) as err:
        host_from_hwloc_xml(path)
    assert message in err.value.message


def test_a_broken_distance_matrix_is_ignored_with_a_warning(tmp_path: Path) -> None:
    text = (DATA / "two-node-pci.xml").read_text().replace("10 32 32 10", "10 32 32")
    d = host_from_hwloc_xml(_xml(tmp_path, text))
    assert d.host.distances == {}
    assert any("lists 2 nodes and 3 values (expected 4)" in n.message for n in d.warnings)


def test_pool_and_reservation_overrides_apply_to_xml(tmp_path: Path) -> None:
    d = host_from_hwloc_xml(DATA / "two-node-pci.xml", reserve_cpus=[0], pool_bytes=10 << 30)
    assert d.host.host_reserved == {0}
    assert d.host.available == {1, 2, 3}
    assert d.host.memory.pool_bytes == 10 << 30


def test_a_malformed_cpuset_means_unknown_not_broken(tmp_path: Path) -> None:
    text = (
        (DATA / "two-node-pci.xml")
        .read_text()
        .replace('complete_cpuset="0x0000001f"', 'complete_cpuset="junk"')
    )
    d = host_from_hwloc_xml(_xml(tmp_path, text))
    assert d.facts.offline == ()
    assert [c.id for c in d.host.cpus] == [0, 1, 2, 3]


def test_numa_nodes_without_sizes_are_reported(tmp_path: Path) -> None:
    body = f'<object type="NUMANode" os_index="0"/>{GOOD_PU}'
    d = host_from_hwloc_xml(
        _xml(tmp_path, f'<topology version="2.0"><object type="Machine">{body}</object></topology>')
    )
    assert d.host.memory.total_bytes == 0
    assert any("no NUMA node memory sizes" in n.message for n in d.warnings)
