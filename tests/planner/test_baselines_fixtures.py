"""Named topology fixtures after kubelet's cpumanager tests, and checks that they are right.

The other baseline tests import these builders; the tests here pin each fixture to the
numbering rule its kubelet namesake follows (CPU i -> core, socket, NUMA node, uncore).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from planner.hardware import Cache, Host, Instance, MemoryInventory, MemoryRange, MemoryRegion, assemble_host
from planner.synthetic import GiB, synthetic_host


def single_socket_ht() -> Host:
    """topoSingleSocketHT: 1 socket, 4 cores, siblings (i, i+4)."""
    return synthetic_host("pack:1 core:4 pu:2")


def dual_socket_ht() -> Host:
    """topoDualSocketHT: sockets interleave (socket 0 = even CPUs), siblings (c, c+6)."""
    return synthetic_host("pack:2 core:3 pu:2", numbering=[0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11])


def dual_socket_no_ht() -> Host:
    """topoDualSocketNoHT: 2 sockets of 4 single-thread cores."""
    return synthetic_host("pack:2 core:4 pu:1", numbering="adjacent")


def triple_socket_ht() -> Host:
    """topoTripleSocketHT: adjacent siblings; CPUs 0-5 are socket 1, 6-11 socket 0."""
    ids = [*range(6, 12), *range(0, 6), *range(12, 18)]
    return synthetic_host("pack:3 core:3 pu:2", numbering=ids)


def quad_numa_smt2() -> Host:
    """topoDualSocketMultiNumaPerSocketHT: 2 sockets x 2 NUMA (SNC2) x 10 cores, siblings
    (c, c+40)."""
    return synthetic_host("pack:2 numa:2 core:10 pu:2")


def dual_numa_quad_socket() -> Host:
    """fakeTopoMultiSocketDualSocketPerNumaHT: the same ids, but 4 sockets and 2 NUMA
    nodes (each node holds two sockets)."""
    ids = range(80)
    per_node = 64 * GiB
    pool = tuple(MemoryRange(n * per_node + per_node // 4, 3 * per_node // 4) for n in range(2))
    return assemble_host(
        ids,
        available=ids,
        numa_cpus={n: [i for i in ids if (i % 40) // 20 == n] for n in range(2)},
        numa_memory={n: [MemoryRange(n * per_node, per_node)] for n in range(2)},
        socket_cpus={s: [i for i in ids if (i % 40) // 10 == s] for s in range(4)},
        core_cpus=[(c, c + 40) for c in range(40)],
        distances={(a, b): 10 if a == b else 21 for a in range(2) for b in range(2)},
        memory=MemoryInventory(2 * per_node, 2 * per_node // 4, pool),
    )


def epyc_nps4() -> Host:
    """topoDualSocketMultiNumaPerSocketHTLarge: 2 sockets x 4 NUMA x 16 cores, siblings
    (c, c+128)."""
    return synthetic_host("pack:2 numa:4 core:16 pu:2")


def uncore_single_socket_smt() -> Host:
    """topoUncoreSingleSocketSMT: 8 cores in 2 uncore caches of 4, siblings (c, c+8)."""
    return synthetic_host("pack:1 l3:2 core:4 pu:2")


FIXTURES: dict[str, Callable[[], Host]] = {
    "single_socket_ht": single_socket_ht,
    "dual_socket_ht": dual_socket_ht,
    "dual_socket_no_ht": dual_socket_no_ht,
    "triple_socket_ht": triple_socket_ht,
    "quad_numa_smt2": quad_numa_smt2,
    "dual_numa_quad_socket": dual_numa_quad_socket,
    "epyc_nps4": epyc_nps4,
    "uncore_single_socket_smt": uncore_single_socket_smt,
}


def holding(
    name: str, cpus: Sequence[int], *, exclusive: bool = False, node_gib: dict[int, int] | None = None
) -> Instance:
    """An existing instance that holds ``cpus`` (and optionally memory by node, no address)."""
    memory = tuple(MemoryRegion(g * GiB, None, n) for n, g in (node_gib or {}).items())
    return Instance(name, tuple(cpus), memory=memory, exclusive_cores=exclusive)


def unit_cache_ids(host: Host) -> dict[int, int]:
    """CPU -> its L3 id (kubelet's uncore id when caches are described)."""
    return {c: cache.id for cache in host.caches if cache.level == 3 for c in cache.cpus}


# Each rule: CPU i -> (core key, socket, NUMA node); cores compare by their CPU sets.
RULES: dict[str, tuple[int, Callable[[int], tuple[int, int, int]]]] = {
    "single_socket_ht": (8, lambda i: (i % 4, 0, 0)),
    "dual_socket_ht": (12, lambda i: (i % 6, i % 2, i % 2)),
    "dual_socket_no_ht": (8, lambda i: (i, i // 4, i // 4)),
    "triple_socket_ht": (18, lambda i: (i // 2, [1, 0, 2][i // 6], [1, 0, 2][i // 6])),
    "quad_numa_smt2": (80, lambda i: (i % 40, (i % 40) // 20, (i % 40) // 10)),
    "dual_numa_quad_socket": (80, lambda i: (i % 40, (i % 40) // 10, (i % 40) // 20)),
    "epyc_nps4": (256, lambda i: (i % 128, (i % 128) // 64, (i % 128) // 16)),
    "uncore_single_socket_smt": (16, lambda i: (i % 8, 0, 0)),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_follows_its_kubelet_numbering_rule(name: str) -> None:
    host = FIXTURES[name]()
    count, rule = RULES[name]
    assert [c.id for c in host.cpus] == list(range(count))
    siblings: dict[int, set[int]] = {}
    for cpu in host.cpus:
        core_key, socket, node = rule(cpu.id)
        assert (cpu.socket, cpu.numa_node) == (socket, node), cpu
        siblings.setdefault(core_key, set()).add(cpu.id)
    assert sorted(set(core.cpus) for core in host.cores) == sorted(siblings.values(), key=sorted)
    assert all(core.id == min(core.cpus) for core in host.cores)


def test_uncore_fixture_has_two_caches_of_four_cores() -> None:
    l3 = unit_cache_ids(uncore_single_socket_smt())
    assert {cpu: l3[cpu] for cpu in range(16)} == {i: (i % 8) // 4 for i in range(16)}


def test_holding_builds_an_existing_instance() -> None:
    inst = holding("a", [3, 1], exclusive=True, node_gib={1: 2})
    assert inst.cpus == (3, 1) and inst.exclusive_cores
    assert inst.memory == (MemoryRegion(2 * GiB, None, 1),)


def test_caches_are_not_shared_between_nodes_of_the_epyc_fixture() -> None:
    host = epyc_nps4()
    caches: list[Cache] = [c for c in host.caches if c.level == 3]
    assert len(caches) == 8
    assert all(len({host.cpu_by_id[c].numa_node for c in cache.cpus}) == 1 for cache in caches)
