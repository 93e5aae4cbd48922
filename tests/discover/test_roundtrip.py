"""What discovery writes reads back through the binding as the same Host, and validates."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerf.binding import load_host, read_host
from kerf.cli.app import app
from kerf.discover import Discovery, discover_host, host_from_hwloc_xml, render_dts
from kerf.dts import parse
from kerf.validate import validate_description
from tests.discover.conftest import require_tool
from tests.discover.fakehost import FakeHost, FakePci, shape

DATA = Path(__file__).parent / "data"


def _sriov_nvme(root: Path) -> Discovery:
    fake = shape(FakeHost(root), packages=2, cores=3, threads=2)
    vfs = ["0000:3b:01.0", "0000:3b:01.1"]
    fake.add_pci(FakePci("0000:3b:00.0", 0x020000, 0x8086, 0x1593, numa_node=1, total_vfs=8, vfs=vfs))
    fake.add_pci(FakePci("0000:5e:00.0", 0x010802, 0x144D, 0xA808, numa_node=0, namespaces=[1, 2]))
    fake.add_pci(FakePci("0000:02:00.0", 0x030000, 0x10DE, 0x2330, numa_node=1))
    fake.mounts = [("259:1", "/", "/dev/nvme0n1")]
    fake.build()
    return discover_host(fake.sys, fake.proc)


def _memory_only_node(root: Path) -> Discovery:
    fake = shape(FakeHost(root), packages=1, cores=2, threads=2)
    fake.nodes[0].distance = [10, 30]
    fake.add_node(1, gib=16, first_block=4, distance=[30, 10])
    fake.build()
    return discover_host(fake.sys, fake.proc)


def _sparse_ids_offline_cpu(root: Path) -> Discovery:
    fake = shape(FakeHost(root), packages=1, cores=6, threads=1, apic=lambda p, c, t: 4 * c, offline=[5])
    fake.build()
    return discover_host(fake.sys, fake.proc)


def _placeholder_addresses(root: Path) -> Discovery:
    fake = shape(FakeHost(root), packages=2, cores=2, threads=1, apic=None)
    fake.iomem_hidden = True
    fake.skip = {"sys/devices/system/memory"}
    fake.build()
    return discover_host(fake.sys, fake.proc)


def _overrides(root: Path) -> Discovery:
    fake = shape(FakeHost(root), packages=2, cores=2, threads=2).build()
    return discover_host(fake.sys, fake.proc, reserve_cpus=[0, 1, 32, 33], pool_bytes=5 << 30)


MACHINES: dict[str, Callable[[Path], Discovery]] = {
    "sriov-nvme": _sriov_nvme,
    "memory-only-node": _memory_only_node,
    "sparse-ids-offline-cpu": _sparse_ids_offline_cpu,
    "placeholder-addresses": _placeholder_addresses,
    "overrides": _overrides,
    "hwloc-fixture": lambda root: host_from_hwloc_xml(DATA / "two-node-pci.xml"),
}


def _check(discovery: Discovery, allowed: tuple[str, ...] = ()) -> None:
    desc = read_host(parse(render_dts(discovery), filename="discovered.dts"))
    assert desc.host == discovery.host
    report = validate_description(desc)
    assert report.ok, [f"{f.code}: {f.message}" for f in report.findings]
    assert [c for c in report.codes if c not in allowed] == []


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_round_trip_and_validation(name: str, tmp_path: Path) -> None:
    _check(MACHINES[name](tmp_path / "machine"))


def test_this_machine_round_trips_and_validates() -> None:
    if not Path("/sys/devices/system/cpu").is_dir():
        pytest.skip("no Linux /sys here")
    # A single-node machine has no remote distance to report; anything else must be clean.
    _check(discover_host(), allowed=("distance-default",))


@pytest.mark.tools
@pytest.mark.parametrize(
    "synthetic",
    [
        "pack:2 numa:2 core:4 pu:2(indexes=2*16:1*2)",
        "pack:2 numa:1 core:3 pu:2(indexes=0,6,2,8,4,10,1,7,3,9,5,11)",
        "pack:2 [numa(memory=4GiB)] [numa(memory=16GiB)] core:2 pu:2",
    ],
)
def test_hwloc_topologies_round_trip_and_validate(synthetic: str, tmp_path: Path) -> None:
    xml = tmp_path / "t.xml"
    tool = require_tool("lstopo-no-graphics")
    subprocess.run([tool, "-i", synthetic, "--of", "xml", str(xml)], check=True, capture_output=True)
    # Synthetic topologies carry no distance matrix: the binding's 10/20 default is noted.
    _check(host_from_hwloc_xml(xml), allowed=("distance-default",))


def test_kerf_validate_accepts_what_kerf_discover_writes(tmp_path: Path) -> None:
    fake = shape(FakeHost(tmp_path / "machine"), packages=2, cores=2, threads=2).build()
    target = tmp_path / "host.dts"
    runner = CliRunner()
    written = runner.invoke(app, ["discover", "--root", str(fake.root), "-o", str(target)])
    assert written.exit_code == 0, written.stderr
    checked = runner.invoke(app, ["validate", str(target)])
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert load_host(target).host == discover_host(fake.sys, fake.proc).host
