"""Concrete placements for each policy on named topologies (kubelet's fixtures and more).

Each row states the request and the CPUs the documented objective leads to, with the
tier that decides it. Every plan also goes through kerf.validate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from planner.hardware import Host, Instance
from planner.memory import allocate_regions
from planner.objective import instance_pages_per_node
from planner.policy import CoreSharing, CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest, PlanStatus
from planner.solve import PlanOptions, plan
from planner.synthetic import GiB
from tests.planner import named_hosts as hosts
from tests.planner.plan_checks import assert_plan_valid

COMPACT, SPREAD, LOCAL = CpuAffinity.COMPACT, CpuAffinity.SPREAD, CpuAffinity.LOCAL
BIND, INTERLEAVE = MemoryPolicy.BIND, MemoryPolicy.INTERLEAVE


def req(
    count: int,
    affinity: CpuAffinity = COMPACT,
    policy: MemoryPolicy = MemoryPolicy.LOCAL,
    nodes: tuple[int, ...] = (),
    exclusive: bool = False,
    devices: tuple[str, ...] = (),
    memory: int = 2 * GiB,
) -> InstanceRequest:
    return InstanceRequest(
        "web",
        memory,
        cpu_count=count,
        cpu_affinity=affinity,
        memory_policy=policy,
        numa_nodes=nodes,
        exclusive_cores=exclusive,
        devices=tuple(DeviceWant.parse(d) for d in devices),
    )


def holding(host: Host, cpus: tuple[int, ...]) -> Instance:
    """Another instance, "db", on ``cpus`` with 1 GiB on the node of its first CPU."""
    node = host.cpu_by_id[cpus[0]].numa_node
    assert node is not None
    regions = allocate_regions(host, [], {node: GiB})
    assert regions is not None
    return Instance("db", cpus, regions)


@dataclass(frozen=True)
class Case:
    name: str
    host: Callable[[], Host]
    request: InstanceRequest
    cpus: tuple[int, ...]
    db: tuple[int, ...] = ()
    memory_nodes: tuple[int, ...] | None = None
    devices: tuple[str, ...] = ()
    sharing: CoreSharing = CoreSharing.AVOID


CASES = [
    # one socket, four SMT2 cores (i, i+4)
    Case("single/compact 2: one whole core", hosts.single_socket_ht, req(2), (0, 4)),
    Case("single/compact 3: a whole core, then one thread", hosts.single_socket_ht, req(3), (0, 1, 4)),
    Case(
        "single/compact 1 beside db on CPU 0: a free core's thread beats db's sibling (smt)",
        hosts.single_socket_ht,
        req(1),
        (1,),
        db=(0,),
    ),
    Case(
        "single/exclusive 2 beside db on CPU 0: core 0 is off limits",
        hosts.single_socket_ht,
        req(2, exclusive=True),
        (1, 5),
        db=(0,),
    ),
    # two sockets = two nodes, interleaved ids: node 0 = even, siblings (c, c+6)
    Case("dual/compact 4: node 0, two whole cores", hosts.dual_socket_ht, req(4), (0, 2, 6, 8)),
    Case(
        "dual/compact 8: two nodes, node 0 filled (fragmentation), core 1 of node 1",
        hosts.dual_socket_ht,
        req(8),
        (0, 1, 2, 4, 6, 7, 8, 10),
        memory_nodes=(0, 1),
    ),
    Case("dual/spread 4: a whole core on each node", hosts.dual_socket_ht, req(4, SPREAD), (0, 1, 6, 7)),
    Case(
        "dual/local 4 bound to node 1: CPUs follow the memory",
        hosts.dual_socket_ht,
        req(4, LOCAL, BIND, nodes=(1,)),
        (1, 3, 7, 9),
        memory_nodes=(1,),
    ),
    Case(
        "dual/interleave over 0,1: CPUs on one node, memory on both",
        hosts.dual_socket_ht,
        req(4, COMPACT, INTERLEAVE, nodes=(0, 1)),
        (0, 2, 6, 8),
        memory_nodes=(0, 1),
    ),
    # dual Xeon SNC2: nodes of 10 cores, nodes 0-1 on socket 0, distance 12 inside a socket
    Case(
        "snc2/compact 24: two nodes of one socket, node 0 filled",
        hosts.dual_socket_multi_numa_ht,
        req(24),
        tuple(sorted([*range(10), *range(40, 50), 10, 11, 50, 51])),
        memory_nodes=(0, 1),
    ),
    Case(
        "snc2/spread 8: one whole core on each node",
        hosts.dual_socket_multi_numa_ht,
        req(8, SPREAD),
        (0, 10, 20, 30, 40, 50, 60, 70),
    ),
    Case(
        "snc2/spread 4: one thread on each node",
        hosts.dual_socket_multi_numa_ht,
        req(4, SPREAD),
        (0, 10, 20, 30),
    ),
    Case(
        "snc2/spread 4, exclusive cores: whole cores are the unit, one on each of two nodes",
        hosts.dual_socket_multi_numa_ht,
        req(4, SPREAD, exclusive=True),
        (0, 10, 40, 50),
        memory_nodes=(0, 1),
    ),
    Case(
        "snc2/spread 3, exclusive cores: a whole core on node 0, one thread on node 1 (balance in cores)",
        hosts.dual_socket_multi_numa_ht,
        req(3, SPREAD, exclusive=True),
        (0, 10, 40),
    ),
    Case(
        "snc2/spread 16, exclusive cores: two whole cores on each node",
        hosts.dual_socket_multi_numa_ht,
        req(16, SPREAD, exclusive=True),
        (0, 1, 10, 11, 20, 21, 30, 31, 40, 41, 50, 51, 60, 61, 70, 71),
    ),
    Case(
        "snc2/preferred node 3",
        hosts.dual_socket_multi_numa_ht,
        req(4, nodes=(3,)),
        (30, 31, 70, 71),
        memory_nodes=(3,),
    ),
    Case(
        "snc2/device-local: the NIC's node",
        lambda: hosts.dual_socket_multi_numa_ht(devices=[hosts.nic(2)]),
        req(4, devices=("eth0_vf*",)),
        (20, 21, 60, 61),
        devices=("eth0_vf0",),
    ),
    # dual EPYC NPS4 with CCXs of four cores
    Case("epyc/compact 8: one CCX", hosts.epyc_large, req(8), (0, 1, 2, 3, 128, 129, 130, 131)),
    Case(
        "epyc/compact 12: one node, a full CCX and half the next",
        hosts.epyc_large,
        req(12),
        (0, 1, 2, 3, 4, 5, 128, 129, 130, 131, 132, 133),
    ),
    # uncore (L3) fixtures
    Case("uncore smt/compact 6: one L3 group", hosts.uncore_single_socket_smt, req(6), (0, 1, 2, 8, 9, 10)),
    Case(
        "uncore numa/compact 2 beside db on 0,1: best fit into db's L3 group",
        hosts.uncore_single_socket_multi_numa,
        req(2),
        (2, 3),
        db=(0, 1),
    ),
    Case(
        "uncore numa/compact 6: one node, two groups",
        hosts.uncore_single_socket_multi_numa,
        req(6),
        tuple(range(6)),
    ),
    # SMT4
    Case("smt4/compact 4: one whole core", hosts.smt4, req(4), (0, 1, 2, 3)),
    Case("smt4/compact 6: a whole core and half of the next", hosts.smt4, req(6), (0, 1, 2, 3, 4, 5)),
    # a CPU-less CXL node
    Case(
        "cxl/bind to the memory node: CPUs on node 0 (tie-break)",
        hosts.with_memory_node,
        req(2, COMPACT, BIND, nodes=(2,)),
        (0, 1),
        memory_nodes=(2,),
    ),
    Case(
        "cxl/interleave over 0 and 2: CPUs on the preferred CPU node",
        lambda: hosts.with_memory_node(),
        req(2, COMPACT, INTERLEAVE, nodes=(2, 1)),
        (4, 5),
        memory_nodes=(1, 2),
    ),
]


PACK_CASES = [
    # single socket, cores (i, i+4); db holds one thread of cores 0 and 1
    Case(
        "pack/compact 2 beside db on 0,1: db's free siblings, no whole core broken",
        hosts.single_socket_ht,
        req(2),
        (4, 5),
        db=(0, 1),
        sharing=CoreSharing.PACK,
    ),
    Case(
        "pack/compact 3 beside db on 0,1: one whole core broken either way, siblings kept together",
        hosts.single_socket_ht,
        req(3),
        (2, 4, 6),
        db=(0, 1),
        sharing=CoreSharing.PACK,
    ),
    Case(
        "pack/exclusive 2 beside db on 0,1: exclusive never shares, one whole core",
        hosts.single_socket_ht,
        req(2, exclusive=True),
        (2, 6),
        db=(0, 1),
        sharing=CoreSharing.PACK,
    ),
]


@pytest.mark.parametrize("case", CASES + PACK_CASES, ids=lambda c: c.name)
def test_placement(case: Case) -> None:
    host = case.host()
    existing = [holding(host, case.db)] if case.db else []
    result = plan(host, existing, [case.request], PlanOptions(core_sharing=case.sharing))
    assert result.status is PlanStatus.OPTIMAL
    assert result.objective == result.bound
    (placed,) = result.placements
    assert placed.cpus == case.cpus
    assert_plan_valid(host, result, [case.request])
    if case.memory_nodes is not None:
        nodes = instance_pages_per_node(host, placed)
        assert tuple(sorted(nodes)) == case.memory_nodes
    if case.devices:
        assert placed.devices == case.devices


def test_the_default_keeps_off_the_cores_pack_fills() -> None:
    for case in PACK_CASES:
        host = case.host()
        (isolated,) = plan(host, [holding(host, case.db)], [case.request]).placements
        assert not {host.cpu_by_id[c].core for c in isolated.cpus} & {host.cpu_by_id[c].core for c in case.db}
