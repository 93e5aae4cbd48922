"""The kernel's baseline built from a host description."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from kerf.dts import from_dtb, to_dtb
from kerf.kernel.sim import SimulatedHost
from kerf.lifecycle.baseline import build_baseline, kernel_device, pool_memory_requests
from kerf.lifecycle.kernel_view import read_pool
from planner.hardware import Device, MemoryInventory, MemoryRange
from planner.synthetic import synthetic_host
from tests.kernel.simhost import NIC, NVME, dual_node_smt2

GiB = 1 << 30


def test_cpus_memory_per_node_and_pci_functions() -> None:
    host = dual_node_smt2()
    baseline = build_baseline(host)
    resources = baseline.tree.root.child("resources")
    assert resources is not None
    assert resources.props["cpus"].to_u64s() == list(range(16))
    memory = [
        (n.props["numa-node-id"].to_u32(), n.props["size"].to_u64())
        for n in resources.children.values()
        if n.name.startswith("memory@")
    ]
    assert memory == [(0, 12 * GiB), (1, 12 * GiB)]
    devices = resources.child("devices")
    assert devices is not None
    got = {
        name: (
            n.props["device-type"].to_string(),
            n.props["pci-id"].to_string(),
            n.props["vendor-id"].to_u32(),
        )
        for name, n in devices.children.items()
    }
    assert got == {
        "eth0_vf0": ("pci", "0000:09:10.0", 0x8086),
        "eth0_vf1": ("pci", "0000:09:10.1", 0x8086),
        "nvme0": ("pci", "0000:0a:00.0", 0x144D),
    }
    assert baseline.skipped == ()


def test_units_the_kernel_cannot_take_are_listed_with_the_reason() -> None:
    nvme_ns = replace(NVME, namespaces=4, available_ns=(2, 3))
    no_ids = Device("gpu0", pci_id="0000:ca:00.0", numa_node=1)
    no_vf_ids = replace(NIC, vf_pci_ids={0: "0000:09:10.0"})
    platform = Device("uart0", device_type="platform")
    host = replace(dual_node_smt2(), devices=(no_vf_ids, nvme_ns, no_ids, platform))
    baseline = build_baseline(host)
    reasons = dict(baseline.skipped)
    assert [d.label for d in baseline.devices] == ["eth0_vf0"]
    assert "no pci-id" in reasons["eth0_vf1"]
    assert "namespace" in reasons["nvme0_ns2"] and "namespace" in reasons["nvme0_ns3"]
    assert "vendor-id/device-id" in reasons["gpu0"]
    assert "platform" in reasons["uart0"]
    assert kernel_device(host, "eth0_vf0") is not None
    assert kernel_device(host, "nvme0_ns2") is None and kernel_device(host, "nope") is None


def test_a_host_without_node_memory_asks_for_the_whole_pool_on_any_node() -> None:
    host = synthetic_host("pack:1 numa:2 core:2 pu:1")
    bare = replace(
        host,
        numa_nodes=tuple(replace(n, memory=()) for n in host.numa_nodes),
        memory=MemoryInventory(8 * GiB, GiB, (MemoryRange(GiB, 4 * GiB),)),
    )
    assert pool_memory_requests(bare) == [(None, 4 * GiB)]


def test_the_simulated_kernel_takes_the_baseline(tmp_path: Path) -> None:
    host = dual_node_smt2()
    sim = SimulatedHost.create(tmp_path / "mk", host)
    sim.write_baseline(to_dtb(build_baseline(host).tree))
    pool = read_pool(from_dtb(sim.read_device_tree()))
    assert pool.cpus == tuple(range(16)) and pool.free_cpus == tuple(range(16))
    assert pool.bytes_by_node() == {0: 12 * GiB, 1: 12 * GiB}
    assert pool.free_pci == ("0000:09:10.0", "0000:09:10.1", "0000:0a:00.0")
