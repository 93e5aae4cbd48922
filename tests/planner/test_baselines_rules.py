"""Hard rules every baseline keeps (or declines), checked for each of them by name."""

from __future__ import annotations

from collections import Counter

import pytest

from planner.baselines import Allocator, baseline_allocators
from planner.errors import RequestError
from planner.hardware import Device, Host, Instance
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest
from planner.synthetic import GiB, synthetic_host
from tests.planner.test_baselines_fixtures import holding, quad_numa_smt2, single_socket_ht

ALLOCATORS = baseline_allocators()
NAMES = list(ALLOCATORS)


def ask(
    n: int | None = None, *, cpus: tuple[int, ...] | None = None, gib: int = 1, **kw: object
) -> InstanceRequest:
    return InstanceRequest("x", memory_bytes=gib * GiB, cpu_count=n, cpus=cpus, **kw)  # type: ignore[arg-type]


def nodes_of(host: Host, inst: Instance) -> set[int]:
    return {host.cpu_by_id[c].numa_node for c in inst.cpus}  # type: ignore[misc]


def memory_by_node(inst: Instance) -> dict[int, int]:
    out: Counter[int] = Counter()
    for region in inst.memory:
        assert region.numa_node is not None and region.base is not None
        out[region.numa_node] += region.size
    return dict(out)


def test_every_baseline_is_listed_by_its_name() -> None:
    assert NAMES == [
        "first-fit",
        "kubelet-packed",
        "kubelet-packed-uncore",
        "kubelet-distributed",
        "hwloc-spread",
        "nova-pack",
        "nova-spread",
        "slurm-block",
    ]
    assert all(a.name == name for name, a in ALLOCATORS.items())


@pytest.mark.parametrize("name", NAMES)
def test_pinned_cpus_are_kept_in_order(name: str) -> None:
    placed = ALLOCATORS[name].place(quad_numa_smt2(), [], ask(cpus=(45, 5, 6)))
    assert placed is not None and placed.cpus == (45, 5, 6)
    assert memory_by_node(placed) == {0: GiB}


@pytest.mark.parametrize("name", NAMES)
def test_pinned_cpus_that_are_taken_or_split_a_local_request_decline(name: str) -> None:
    allocator = ALLOCATORS[name]
    host = quad_numa_smt2()
    assert allocator.place(host, [holding("a", [5])], ask(cpus=(4, 5))) is None
    assert allocator.place(host, [], ask(cpus=(9, 10), cpu_affinity=CpuAffinity.LOCAL)) is None
    away = ask(cpus=(10,), cpu_affinity=CpuAffinity.LOCAL, memory_policy=MemoryPolicy.BIND, numa_nodes=(0,))
    assert allocator.place(host, [], away) is None
    exclusive = ask(cpus=(1,), exclusive_cores=True)
    assert allocator.place(host, [holding("a", [41])], exclusive) is None


@pytest.mark.parametrize("name", NAMES)
def test_local_requests_stay_on_one_node_or_decline(name: str) -> None:
    allocator = ALLOCATORS[name]
    host = quad_numa_smt2()
    # Cores 0-3 of every node are taken: each node keeps 6 whole cores, 12 CPUs.
    busy = [holding("a", [c + t for c in (0, 10, 20, 30) for t in (0, 1, 2, 3, 40, 41, 42, 43)])]
    placed = allocator.place(host, busy, ask(12, cpu_affinity=CpuAffinity.LOCAL, gib=3))
    assert placed is not None and len(nodes_of(host, placed)) == 1
    assert set(memory_by_node(placed)) == nodes_of(host, placed)
    assert allocator.place(host, busy, ask(13, cpu_affinity=CpuAffinity.LOCAL)) is None


@pytest.mark.parametrize("name", NAMES)
def test_local_requests_go_where_the_memory_fits(name: str) -> None:
    host = quad_numa_smt2()
    # Node 0 keeps 30 GiB of its 48 GiB pool share; the request needs 40.
    existing = [holding("a", [9], node_gib={0: 18})]
    placed = ALLOCATORS[name].place(host, existing, ask(2, cpu_affinity=CpuAffinity.LOCAL, gib=40))
    assert placed is not None
    assert nodes_of(host, placed) == set(memory_by_node(placed)) and 0 not in nodes_of(host, placed)


@pytest.mark.parametrize("name", NAMES)
def test_bind_keeps_memory_on_the_listed_nodes(name: str) -> None:
    placed = ALLOCATORS[name].place(
        quad_numa_smt2(), [], ask(4, gib=8, memory_policy=MemoryPolicy.BIND, numa_nodes=(3,))
    )
    assert placed is not None and memory_by_node(placed) == {3: 8 * GiB}


@pytest.mark.parametrize("name", NAMES)
def test_interleave_splits_memory_evenly(name: str) -> None:
    host = quad_numa_smt2()
    listed = ALLOCATORS[name].place(
        host, [], ask(2, gib=6, memory_policy=MemoryPolicy.INTERLEAVE, numa_nodes=(1, 2))
    )
    assert listed is not None and memory_by_node(listed) == {1: 3 * GiB, 2: 3 * GiB}
    own = ALLOCATORS[name].place(host, [], ask(4, gib=6, memory_policy=MemoryPolicy.INTERLEAVE))
    assert own is not None
    shares = memory_by_node(own)
    assert set(shares) == nodes_of(host, own) and max(shares.values()) - min(shares.values()) <= 4096


@pytest.mark.parametrize("name", NAMES)
def test_local_memory_follows_the_cpus_in_proportion(name: str) -> None:
    host = quad_numa_smt2()
    placed = ALLOCATORS[name].place(host, [], ask(30, gib=30))
    assert placed is not None
    per_node = Counter(host.cpu_by_id[c].numa_node for c in placed.cpus)
    assert memory_by_node(placed) == {node: k * GiB for node, k in per_node.items()}


@pytest.mark.parametrize("name", NAMES)
def test_nobody_shares_a_core_with_an_exclusive_instance(name: str) -> None:
    allocator = ALLOCATORS[name]
    host = single_socket_ht()
    existing = [holding("e", [0, 1, 2, 3], exclusive=True)]
    assert allocator.place(host, existing, ask(1)) is None
    dented = [holding("a", [0, 1])]
    placed = allocator.place(host, dented, ask(3, exclusive_cores=True))
    assert placed is not None and set(placed.cpus) <= {2, 3, 6, 7}


@pytest.mark.parametrize("name", NAMES)
def test_memory_beyond_the_pool_declines(name: str) -> None:
    assert ALLOCATORS[name].place(quad_numa_smt2(), [], ask(4, gib=200)) is None


def nic_host() -> Host:
    nic = Device("eth0", numa_node=1, sriov_vfs=4, available_vfs=(0, 1, 2))
    nvme = Device("nvme0", numa_node=0, namespaces=2, available_ns=(1, 2))
    gpu = Device("gpu0", numa_node=1)
    return synthetic_host("pack:2 core:4 pu:2", devices=[nic, nvme, gpu])


@pytest.mark.parametrize("name", NAMES)
def test_device_wants_get_distinct_free_units(name: str) -> None:
    host = nic_host()
    wants = tuple(DeviceWant.parse(t) for t in ("eth0_vf*", "eth0_vf0", "nvme0_ns*", "gpu0"))
    placed = ALLOCATORS[name].place(host, [Instance("a", (7,), devices=("eth0_vf1",))], ask(2, devices=wants))
    assert placed is not None
    assert placed.devices == ("eth0_vf2", "eth0_vf0", "nvme0_ns1", "gpu0")


@pytest.mark.parametrize("name", NAMES)
def test_unavailable_devices_decline(name: str) -> None:
    allocator: Allocator = ALLOCATORS[name]
    host = nic_host()
    taken = [Instance("a", (7,), devices=("gpu0",))]
    assert allocator.place(host, taken, ask(1, devices=(DeviceWant.parse("gpu0"),))) is None
    assert allocator.place(host, [], ask(1, devices=(DeviceWant.parse("eth0"),))) is None
    assert allocator.place(host, [], ask(1, devices=(DeviceWant.parse("eth0_vf3"),))) is None


def test_topology_aware_baselines_prefer_device_local_units() -> None:
    nic0 = Device("eth0", numa_node=0, sriov_vfs=2, available_vfs=(0, 1))
    host = synthetic_host("pack:2 core:4 pu:2", devices=[nic0])
    want = (DeviceWant.parse("eth0_vf*"),)
    existing = [Instance("a", (0,), devices=("eth0_vf0",))]
    kubelet = ALLOCATORS["kubelet-packed"].place(host, existing, ask(2, devices=want, numa_nodes=(1,)))
    assert kubelet is not None and kubelet.devices == ("eth0_vf1",)


BAD = [
    ("no-memory", ask(2, gib=0), "memory must be a positive size"),
    ("unknown-node", ask(2, numa_nodes=(7,)), "unknown NUMA node"),
    ("bind-without-nodes", ask(2, memory_policy=MemoryPolicy.BIND), "bind needs the NUMA nodes"),
    (
        "local-on-two-nodes",
        ask(2, numa_nodes=(0, 1), cpu_affinity=CpuAffinity.LOCAL),
        "local keeps CPUs on one",
    ),
    ("pinned-outside-the-pool", ask(cpus=(0, 99)), "do not exist on this host"),
]


@pytest.mark.parametrize(("req", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_contradictory_requests_are_refused_with_a_reason(req: InstanceRequest, message: str) -> None:
    for allocator in ALLOCATORS.values():
        with pytest.raises(RequestError, match=message):
            allocator.place(quad_numa_smt2(), [], req)


def test_pinned_host_reserved_cpus_are_refused() -> None:
    host = synthetic_host("pack:1 core:4 pu:2", reserved_cpus=[0])
    with pytest.raises(RequestError, match="not in the pool"):
        ALLOCATORS["first-fit"].place(host, [], ask(cpus=(0,)))


def test_local_bound_to_a_cpu_less_node_is_refused() -> None:
    from planner.hardware import MemoryInventory, MemoryRange, assemble_host

    host = assemble_host(
        range(4),
        available=range(4),
        numa_cpus={0: range(4)},
        numa_memory={0: [MemoryRange(0, 8 * GiB)], 1: [MemoryRange(8 * GiB, 8 * GiB)]},
        memory=MemoryInventory(16 * GiB, 0, (MemoryRange(0, 16 * GiB),)),
    )
    req = ask(1, cpu_affinity=CpuAffinity.LOCAL, memory_policy=MemoryPolicy.BIND, numa_nodes=(1,))
    with pytest.raises(RequestError, match="needs CPUs on node 1"):
        ALLOCATORS["nova-pack"].place(host, [], req)
    spread = ALLOCATORS["nova-pack"].place(host, [], ask(1, memory_policy=MemoryPolicy.BIND, numa_nodes=(1,)))
    assert spread is not None and memory_by_node(spread) == {1: GiB}
