"""Discovery of the machine the tests run on: whatever it is, the result must hold together."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kerf.discover import discover_host, render_dts
from kerf.dts import parse


@pytest.fixture(scope="module")
def live():  # type: ignore[no-untyped-def]
    if not Path("/sys/devices/system/cpu").is_dir() or not Path("/proc/cpuinfo").exists():
        pytest.skip("no Linux /sys and /proc here")
    return discover_host()


def test_cpu_count_is_the_online_cpu_count(live) -> None:  # type: ignore[no-untyped-def]
    assert len(live.host.cpus) == os.cpu_count()
    assert len(live.logical_to_physical) == os.cpu_count()


def test_every_cpu_has_a_core_a_socket_and_a_node(live) -> None:  # type: ignore[no-untyped-def]
    host = live.host
    ids = {c.id for c in host.cpus}
    assert {c for core in host.cores for c in core.cpus} == ids
    assert {c for s in host.sockets for c in s.cpus} == ids
    assert {c for n in host.numa_nodes for c in n.cpus} == ids
    assert host.host_reserved | host.available == ids
    assert not host.host_reserved & host.available


def test_memory_and_pool_are_consistent(live) -> None:  # type: ignore[no-untyped-def]
    memory = live.host.memory
    assert memory.total_bytes == sum(n.memory_bytes for n in live.host.numa_nodes) > 0
    assert memory.pool_bytes + memory.host_reserved_bytes == memory.total_bytes
    for pool in memory.pool:
        assert live.host.node_of_address(pool.base) is not None


def test_the_description_parses(live) -> None:  # type: ignore[no-untyped-def]
    tree = parse(render_dts(live), filename="this-machine.dts")
    assert tree.warnings == []
    assert tree.find_node("/resources/cpus") is not None
