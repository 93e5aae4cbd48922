"""Hypothesis strategies for planner tests: random hosts, existing instances, requests."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from planner.errors import RequestError
from planner.hardware import Device, Host, Instance
from planner.memory import allocate_regions
from planner.objective import cpu_node_ids, resolve
from planner.occupancy import Occupancy
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest
from planner.synthetic import parse_shape, synthetic_host

MiB = 1 << 20

SMALL_SHAPES = (
    "pack:1 core:4 pu:2",
    "pack:2 core:3 pu:2",
    "pack:2 core:2 pu:2",
    "pack:1 numa:2 core:2 pu:2",
    "pack:2 numa:2 core:1 pu:2",
    "pack:1 numa:2 l3:2 core:1 pu:2",
    "pack:2 numa:2 core:3 pu:1",
    "pack:1 numa:4 core:3 pu:1",
    "pack:1 numa:3 core:2 pu:2",
    "pack:1 numa:2 core:1 pu:4",
    "pack:3 core:2 pu:2",
)


@st.composite
def shapes(draw: st.DrawFn, small: bool) -> str:
    """A synthetic description: up to 12 CPUs when ``small``, else 1-4 sockets, up to 8
    NUMA nodes, L3 groups, SMT 1/2/4."""
    if small:
        return draw(st.sampled_from(SMALL_SHAPES))
    packs = draw(st.integers(1, 4))
    numa = draw(st.integers(1, max(1, 8 // packs)))
    l3 = draw(st.integers(1, 2))
    cores = draw(st.integers(1, 4))
    pu = draw(st.sampled_from([1, 2, 2, 4]))
    return f"pack:{packs} numa:{numa} l3:{l3} core:{cores} pu:{pu}"


@st.composite
def hosts(draw: st.DrawFn, small: bool = True) -> Host:
    """A host with odd numbering, reserved CPUs, random distances and maybe a NIC."""
    description = draw(shapes(small))
    shape = parse_shape(description)
    scheme = draw(st.sampled_from(["linux", "adjacent", "shuffled", "sparse"]))
    numbering: str | list[int] = scheme
    if scheme == "shuffled":
        numbering = draw(st.permutations(list(range(shape.cpus))))
    elif scheme == "sparse":
        numbering = [2 * i + 1 for i in range(shape.cpus)]
    ids = list(range(shape.cpus)) if isinstance(numbering, str) else list(numbering)
    reserved = draw(st.lists(st.sampled_from(ids), max_size=2, unique=True)) if shape.cpus > 2 else []
    n = shape.numa_nodes
    table = {}
    for a in range(n):
        for b in range(a + 1, n):
            table[(a, b)] = table[(b, a)] = draw(st.integers(11, 40))
    devices: list[Device] = []
    if draw(st.booleans()):
        node = draw(st.integers(0, n - 1))
        devices.append(Device("eth0", numa_node=node, sriov_vfs=2, available_vfs=(0, 1)))
    return synthetic_host(
        description,
        numbering=numbering if scheme != "linux" else "linux",
        node_memory=draw(st.sampled_from([64 * MiB, 256 * MiB])),
        reserved_cpus=reserved,
        distance=lambda a, b: 10 if a == b else table[(a, b)],
        devices=devices,
    )


@st.composite
def existing(draw: st.DrawFn, host: Host, most: int = 2) -> list[Instance]:
    """Up to ``most`` instances already on the host (valid, some with exclusive cores)."""
    placed: list[Instance] = []
    for i in range(draw(st.integers(0, most))):
        occ = Occupancy.of(host, placed)
        exclusive_owners = {p.name for p in placed if p.exclusive_cores}
        free = [
            c
            for c in sorted(occ.free_cpus)
            if not occ.core_owners(host.core_by_id[host.cpu_by_id[c].core]) & exclusive_owners
        ]
        if not free:
            break
        cpus = draw(st.lists(st.sampled_from(free), min_size=1, max_size=min(3, len(free)), unique=True))
        exclusive = draw(st.booleans()) and all(
            not occ.core_owners(host.core_by_id[host.cpu_by_id[c].core]) for c in cpus
        )
        node = host.cpu_by_id[cpus[0]].numa_node
        assert node is not None
        regions = allocate_regions(host, placed, {node: draw(st.sampled_from([4 * MiB, 16 * MiB]))})
        if regions is None:
            break
        placed.append(Instance(f"old{i}", tuple(cpus), regions, exclusive_cores=exclusive))
    return placed


@st.composite
def requests(draw: st.DrawFn, host: Host, name: str = "web", most_cpus: int = 4) -> InstanceRequest:
    """A request that resolves on ``host`` (policies consistent, nodes known)."""
    nodes = list(cpu_node_ids(host))
    all_nodes = list(host.node_ids)
    affinity = draw(st.sampled_from(list(CpuAffinity)))
    policy = draw(st.sampled_from(list(MemoryPolicy)))
    listed: tuple[int, ...] = ()
    if policy is MemoryPolicy.BIND or draw(st.booleans()):
        most = 1 if affinity is CpuAffinity.LOCAL else len(all_nodes)
        listed = tuple(draw(st.lists(st.sampled_from(all_nodes), min_size=1, max_size=most, unique=True)))
        if affinity is CpuAffinity.LOCAL and listed[0] not in nodes:
            listed = (nodes[0],)
    pinned = None
    count: int | None = draw(st.integers(1, most_cpus))
    if draw(st.integers(0, 9)) == 0:
        pool = sorted(host.available)
        chosen = st.lists(st.sampled_from(pool), min_size=1, max_size=min(3, len(pool)), unique=True)
        pinned = tuple(draw(chosen))
        count = None
    devices: tuple[DeviceWant, ...] = ()
    if host.devices and draw(st.booleans()):
        devices = (DeviceWant.parse(draw(st.sampled_from(["eth0_vf*", "eth0_vf0", "eth0_vf1"]))),)
    request = InstanceRequest(
        name,
        draw(st.sampled_from([1, 4, 9])) * MiB,
        cpu_count=count,
        cpus=pinned,
        numa_nodes=listed,
        cpu_affinity=affinity,
        memory_policy=policy,
        devices=devices,
        exclusive_cores=draw(st.booleans()),
    )
    try:
        resolve(host, request)
    except RequestError:
        # e.g. local affinity with pinned CPUs of two nodes: replace by a plain request
        request = InstanceRequest(name, 4 * MiB, cpu_count=1)
    return request


def names(requests_: Sequence[InstanceRequest]) -> list[str]:
    """Request names."""
    return [r.name for r in requests_]
