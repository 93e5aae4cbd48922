"""NUMA memory from fake trees: ranges, memory-only nodes, hidden addresses, the pool."""

from __future__ import annotations

import pytest

from kerf.discover import discover_host, render_dts
from kerf.errors import InputError, UsageError
from tests.discover.fakehost import FakeHost, GiB, shape

MiB = 1 << 20
POOL_ALIGN = 2 * MiB


def test_node_ranges_are_memory_blocks_clipped_to_system_ram(fake: FakeHost) -> None:
    shape(fake, packages=2, cores=2, threads=1, gib_per_node=4).build()
    d = discover_host(fake.sys, fake.proc)
    node0, node1 = d.host.numa_nodes
    # Node 0 starts with the PC's holes: the first page and 640 KiB-1 MiB are not RAM.
    assert [(r.base, r.end) for r in node0.memory] == [(0x1000, 0xA0000), (0x100000, 4 * GiB)]
    assert [(r.base, r.end) for r in node1.memory] == [(4 * GiB, 8 * GiB)]
    assert d.host.memory.total_bytes == node0.memory_bytes + node1.memory_bytes
    assert d.facts.address_source == "iomem"


def test_default_pool_keeps_the_host_share_on_the_boot_cpus_node(fake: FakeHost) -> None:
    shape(fake, packages=2, cores=2, threads=1, gib_per_node=4).build()
    d = discover_host(fake.sys, fake.proc)
    memory = d.host.memory
    # The host keeps a quarter (2 GiB of 8), taken from node 0, where its CPU is.
    assert memory.total_bytes - memory.pool_bytes == memory.host_reserved_bytes
    assert 2 * GiB <= memory.host_reserved_bytes < 2 * GiB + 4 * MiB
    assert d.host.pool_bytes_of_node(1) == 4 * GiB
    assert d.host.pool_bytes_of_node(0) == memory.pool_bytes - 4 * GiB
    for r in memory.pool:
        assert r.base % POOL_ALIGN == 0 and r.size % POOL_ALIGN == 0
    # Pool memory is the top of each node: low memory stays with the host kernel.
    assert max(r.end for r in d.host.pool_by_node[0]) == 4 * GiB
    assert "memory-pool-ranges = /bits/ 64 <" in render_dts(d)


def test_pool_memory_override(fake: FakeHost) -> None:
    shape(fake, packages=2, cores=2, threads=1, gib_per_node=4).build()
    d = discover_host(fake.sys, fake.proc, pool_bytes=3 * GiB)
    assert d.host.memory.pool_bytes == 3 * GiB
    # The host's 5 GiB fill node 0 (less its unaligned holes) first, then node 1.
    assert d.host.pool_bytes_of_node(0) == 0
    assert d.host.pool_bytes_of_node(1) == 3 * GiB
    text = render_dts(d)
    assert "memory-pool-base = /bits/ 64 <0x140000000>;" in text
    assert "memory-pool-bytes = /bits/ 64 <0xc0000000>;" in text


def test_pool_memory_that_does_not_fit_is_a_usage_error(fake: FakeHost) -> None:
    shape(fake, packages=1, cores=2, threads=1, gib_per_node=4).build()
    with pytest.raises(UsageError) as err:
        discover_host(fake.sys, fake.proc, pool_bytes=8 * GiB)
    assert err.value.message.startswith("--pool-memory 8 GiB does not fit")
    assert err.value.hint


def test_memory_only_node(fake: FakeHost) -> None:
    shape(fake, packages=1, cores=2, threads=2, gib_per_node=4)
    fake.nodes[0].distance = [10, 30]
    fake.add_node(1, gib=16, first_block=4 * GiB // fake.block_size, distance=[30, 10])
    fake.build()
    d = discover_host(fake.sys, fake.proc)
    node1 = d.host.node_by_id[1]
    assert node1.cpus == ()
    assert node1.memory_bytes == 16 * GiB
    assert d.host.distance(0, 1) == 30
    assert any("node 1" in n.message and "no CPUs" in n.message for n in d.warnings)
    # The host's 5 GiB share fills node 0 first; the rest of the pool is the CXL/HBM node.
    assert d.host.pool_bytes_of_node(0) == 0
    assert d.host.pool_bytes_of_node(1) == d.host.memory.pool_bytes
    text = render_dts(d)
    node_text = text[text.index("node@1 {") : text.index("};", text.index("node@1 {"))]
    assert 'memory-type = "dram";' in node_text and "cpus" not in node_text


def test_hidden_iomem_falls_back_to_memory_blocks(fake: FakeHost) -> None:
    shape(fake, packages=1, cores=2, threads=1, gib_per_node=4)
    fake.iomem_hidden = True
    fake.build()
    d = discover_host(fake.sys, fake.proc)
    assert d.facts.address_source == "memory-blocks"
    assert [(r.base, r.size) for r in d.host.numa_nodes[0].memory] == [(0, 4 * GiB)]
    assert any("zero addresses" in n.message and "root" in n.message for n in d.warnings)
    assert "whole sysfs memory blocks" in render_dts(d)


def test_no_addresses_at_all_gives_placeholder_ranges_with_real_sizes(fake: FakeHost) -> None:
    shape(fake, packages=2, cores=2, threads=1, gib_per_node=4)
    fake.iomem_hidden = True
    fake.skip = {"sys/devices/system/memory"}
    fake.build()
    d = discover_host(fake.sys, fake.proc)
    assert d.facts.address_source == "placeholder"
    # Sizes come from the nodes' meminfo (4 GiB less 1 MiB here), 2 MiB aligned.
    sizes = [n.memory_bytes for n in d.host.numa_nodes]
    assert sizes == [4 * GiB - 2 * MiB, 4 * GiB - 2 * MiB]
    assert [n.memory[0].base for n in d.host.numa_nodes] == [0, 4 * GiB]
    assert any("placeholder" in n.message for n in d.warnings)
    assert "PLACEHOLDER ADDRESSES" in render_dts(d)


def test_without_node_directories_one_node_holds_everything(fake: FakeHost) -> None:
    shape(fake, packages=1, cores=2, threads=2, apic=None)
    fake.nodes = []
    fake.ram = [(0x100000, 2 * GiB - 1)]
    fake.build()
    d = discover_host(fake.sys, fake.proc)
    assert [n.id for n in d.host.numa_nodes] == [0]
    assert d.host.numa_nodes[0].cpus == (0, 1, 2, 3)
    assert [(r.base, r.end) for r in d.host.numa_nodes[0].memory] == [(0x100000, 2 * GiB)]
    assert any("devices/system/node is missing" in n.message for n in d.warnings)


def test_unreadable_iomem_is_reported(fake: FakeHost) -> None:
    shape(fake, packages=1, cores=2, threads=1)
    fake.skip = {"proc/iomem"}
    fake.build()
    (fake.proc / "iomem").mkdir()  # reading a directory fails like a permission error would
    d = discover_host(fake.sys, fake.proc)
    assert d.facts.address_source == "memory-blocks"
    assert any("/proc/iomem is unreadable" in n.message for n in d.warnings)
    assert any(n.message.startswith("could not read /proc/iomem") for n in d.warnings)


def test_no_memory_information_at_all_is_an_error(fake: FakeHost) -> None:
    shape(fake, packages=1, cores=2, threads=1)
    fake.nodes = []
    fake.skip = {"proc/iomem", "proc/meminfo"}
    fake.build()
    with pytest.raises(InputError) as err:
        discover_host(fake.sys, fake.proc)
    assert "no memory found" in err.value.message and err.value.hint


def test_nothing_at_all_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "sys").mkdir()
    (tmp_path / "proc").mkdir()
    with pytest.raises(InputError) as err:
        discover_host(tmp_path / "sys", tmp_path / "proc")
    assert "no online CPUs found" in err.value.message


def test_missing_roots_are_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as err:
        discover_host(tmp_path / "nope", tmp_path)
    assert "is not a directory" in err.value.message
