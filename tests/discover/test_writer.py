"""The written description: valid DTS (kerf's parser and dtc agree), values as discovered."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from kerf.discover import Discovery, discover_host, host_from_hwloc_xml, render_dts
from kerf.dts import parse
from tests.discover.conftest import require_tool
from tests.discover.fakehost import FakeHost, FakePci, shape

DATA = Path(__file__).parent / "data"


def _rich_machine(fake: FakeHost) -> Discovery:
    shape(fake, packages=2, cores=3, threads=2, nodes_per_package=1)
    fake.add_pci(
        FakePci("0000:3b:00.0", 0x020000, 0x8086, 0x1593, numa_node=1, total_vfs=8, vfs=["0000:3b:01.0"])
    )
    fake.add_pci(FakePci("0000:5e:00.0", 0x010802, 0x144D, 0xA808, numa_node=0, namespaces=[1, 2]))
    fake.build()
    return discover_host(fake.sys, fake.proc)


def test_values_read_back_from_the_parsed_text(fake: FakeHost) -> None:
    d = _rich_machine(fake)
    tree = parse(render_dts(d), filename="host.dts")
    assert tree.warnings == []
    cpus = tree.get_node("/resources/cpus")
    host = d.host
    assert cpus.props["total"].to_u32() == host.declared_total_cpus
    assert cpus.props["ids"].to_u32s() == [c.id for c in host.cpus]
    assert cpus.props["host-reserved"].to_u32s() == sorted(host.host_reserved)
    assert cpus.props["available"].to_u32s() == sorted(host.available)
    cores = tree.get_node("/resources/cpus/cores")
    assert sorted(tuple(n.props["cpus"].to_u32s()) for n in cores.children.values()) == sorted(
        c.cpus for c in host.cores
    )

    memory = tree.get_node("/resources/memory")
    assert memory.props["total-bytes"].to_u64() == host.memory.total_bytes
    assert memory.props["host-reserved-bytes"].to_u64() == host.memory.host_reserved_bytes
    pairs = memory.props["memory-pool-ranges"].to_u64s()
    assert [(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)] == [
        (r.base, r.size) for r in host.memory.pool
    ]

    node0 = tree.get_node("/resources/topology/numa-nodes/node@0")
    ranges = node0.props["memory-ranges"].to_u64s()
    assert [(ranges[i], ranges[i + 1]) for i in range(0, len(ranges), 2)] == [
        (r.base, r.size) for r in host.node_by_id[0].memory
    ]
    assert node0.props["cpus"].to_u32s() == list(host.node_by_id[0].cpus)
    matrix = tree.get_node("/resources/topology/distance-map").props["distance-matrix"].to_u32s()
    assert matrix == [0, 0, 10, 0, 1, 21, 1, 0, 21, 1, 1, 10]

    eth0 = tree.label2node["eth0"]
    assert eth0.path == "/resources/devices/ethernet@0"
    assert eth0.props["pci-id"].to_string() == "0000:3b:00.0"
    assert eth0.props["sriov-vfs"].to_u32() == 1
    assert eth0.children["vf@0"].props["pci-id"].to_string() == "0000:3b:01.0"
    nvme0 = tree.label2node["nvme0"]
    assert nvme0.props["compatible"].to_string() == "nvme"
    assert nvme0.props["available-ns"].to_u32s() == [1, 2]


def test_long_cpu_lists_are_wrapped(tmp_path: Path) -> None:
    fake = FakeHost(tmp_path / "big")
    shape(fake, packages=2, cores=32, threads=2, apic=None, gib_per_node=1)
    fake.caches.clear()  # thousands of small files that this test does not need
    fake.build()
    text = render_dts(discover_host(fake.sys, fake.proc))
    assert max(len(line.expandtabs(8)) for line in text.splitlines()) <= 110
    assert parse(text).get_node("/resources/cpus").props["available"].to_u32s() == list(range(1, 64)) + list(
        range(65, 128)
    )


def test_model_strings_are_escaped(fake: FakeHost) -> None:
    d = _rich_machine(fake)
    odd = replace(d, host=replace(d.host, model='ACME "Rack\\Box" 9000'))
    tree = parse(render_dts(odd))
    assert tree.root.props["model"].to_string() == 'ACME "Rack\\Box" 9000'


@pytest.mark.tools
def test_dtc_compiles_the_description(fake: FakeHost, tmp_path: Path) -> None:
    dtc = require_tool("dtc")
    for name, discovery in (
        ("fake", _rich_machine(fake)),
        ("hwloc", host_from_hwloc_xml(DATA / "two-node-pci.xml")),
    ):
        source = tmp_path / f"{name}.dts"
        source.write_text(render_dts(discovery))
        result = subprocess.run(
            [dtc, "-I", "dts", "-O", "dtb", "-o", str(tmp_path / f"{name}.dtb"), str(source)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        # dtc's only remarks are about unit names without reg, which the binding uses by design.
        remarks = [line for line in result.stderr.splitlines() if "Warning" in line]
        assert all("unit_address_vs_reg" in line for line in remarks), remarks
