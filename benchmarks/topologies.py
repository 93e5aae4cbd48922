"""The benchmark hosts T1-T10 (placement-anchors §8.1), built by kerf's own builder.

Regular machines come from a compact description through
:func:`planner.synthetic.synthetic_host`; the hybrid laptop, whose cores have different
SMT widths, is put together with :func:`planner.hardware.assemble_host`. The two "real"
machines of the proposal (a Cluster-on-Die Xeon and a 24-node SGI UV 2000) are rebuilt
from their described structure and SLIT values, not loaded from files.

Every host gets its distance matrix and a few NUMA-local devices. Each topology also
carries the hwloc synthetic string of the same shape (where hwloc can express it), so
that tests can cross-check the builder against ``lstopo``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from planner.hardware import Cache, Device, Host, MemoryInventory, MemoryRange, assemble_host
from planner.synthetic import GiB, parse_shape, synthetic_host

#: Every host keeps a quarter of each node's memory; the pool is the rest.
POOL_FRACTION = 0.75
#: Memory installed per hardware thread on the server hosts (so CPUs, not memory, run out first).
SERVER_GIB_PER_CPU = 8


@dataclass(frozen=True)
class Topology:
    """One benchmark host.

    ``layout`` is the planner.synthetic description (or a plain-words one for the
    hybrid laptop); ``hwloc`` the equivalent hwloc synthetic string, None when hwloc
    cannot express the shape; ``dented``: in odd-numbered seeds the host keeps core
    0's threads (like kubelet's reserved CPUs), which dents node 0;
    ``gib_per_cpu``: memory each requested vCPU brings (the workload's default).
    """

    id: str
    name: str
    layout: str
    numbering: str
    distances: str
    why: str
    hwloc: str | None
    build: Callable[[tuple[int, ...]], Host]
    dented: bool = False
    gib_per_cpu: int = 4
    device_want: str | None = "eth0_vf*"

    def host(self, seed: int = 0) -> Host:
        """The host as seen by runs of ``seed`` (dented in odd seeds when ``dented``)."""
        return _built(self, self.reserved(seed))

    def reserved(self, seed: int) -> tuple[int, ...]:
        """CPUs the host keeps in runs of ``seed``."""
        if not self.dented or seed % 2 == 0:
            return ()
        plain = _built(self, ())
        return plain.cores[0].cpus if plain.cores else ()

    @property
    def label(self) -> str:
        """``T4 2-socket SNC2`` style label for tables."""
        return f"{self.id} {self.name}"


@cache
def _built(topology: Topology, reserved: tuple[int, ...]) -> Host:
    # Hosts are frozen and rebuilt often (every seed, every contender): build once.
    return topology.build(reserved)


# --- devices ---------------------------------------------------------------------------


def nic(node: int, name: str = "eth0", vfs: int = 16, bus: int = 0x17) -> Device:
    """An SR-IOV NIC on ``node`` whose VFs are all assignable."""
    return Device(
        name=name,
        node_name=f"{name}@{bus:x}",
        compatible=("pci8086,1592",),
        pci_id=f"0000:{bus:02x}:00.0",
        vendor_id=0x8086,
        device_id=0x1592,
        numa_node=node,
        sriov_vfs=vfs,
        available_vfs=tuple(range(vfs)),
        vf_pci_ids={n: f"0000:{bus:02x}:{1 + n // 8:02x}.{n % 8}" for n in range(vfs)},
    )


def gpu(node: int, name: str = "gpu0", bus: int = 0x41) -> Device:
    """A whole-device accelerator on ``node``."""
    return Device(
        name=name,
        node_name=f"{name}@{bus:x}",
        compatible=("pci10de,20b0",),
        pci_id=f"0000:{bus:02x}:00.0",
        vendor_id=0x10DE,
        device_id=0x20B0,
        numa_node=node,
    )


def nvme(node: int, name: str = "nvme0", namespaces: int = 8, bus: int = 0x02) -> Device:
    """An NVMe drive on ``node`` assigned namespace by namespace."""
    return Device(
        name=name,
        node_name=f"{name}@{bus:x}",
        compatible=("pci144d,a808",),
        pci_id=f"0000:{bus:02x}:00.0",
        vendor_id=0x144D,
        device_id=0xA808,
        numa_node=node,
        namespaces=namespaces,
        available_ns=tuple(range(1, namespaces + 1)),
    )


# --- distance matrices -----------------------------------------------------------------


def by_package(numa_per_package: int, same_package: int, remote: int) -> Callable[[int, int], int]:
    """SLIT: 10 local, ``same_package`` between nodes of one package, ``remote`` across."""

    def distance(a: int, b: int) -> int:
        if a == b:
            return 10
        return same_package if a // numa_per_package == b // numa_per_package else remote

    return distance


def uv2000_distance(a: int, b: int) -> int:
    """SLIT of a 24-socket SGI UV 2000-like machine (one NUMA node per socket).

    The real matrix (hwloc's ``192em64t-24n8c2t``) has 10 local, 50 between the two
    sockets of a blade, and 65 or 79 between blades, one or two router hops apart. We
    rebuild the same values from a rule rather than copy the matrix: 12 blades in two
    rack halves of 6; blades in the same half, or whose numbers have the same parity
    (the cross-half links), are one hop apart (65), the others two hops (79). That
    gives 8 one-hop and 3 two-hop neighbours per blade (the real machine: 7 and 4).
    """
    if a == b:
        return 10
    blade_a, blade_b = a // 2, b // 2
    if blade_a == blade_b:
        return 50
    same_half = blade_a // 6 == blade_b // 6
    return 65 if same_half or (blade_a - blade_b) % 2 == 0 else 79


# --- builders --------------------------------------------------------------------------


def _synthetic(
    description: str,
    *,
    numbering: str | Sequence[int] = "linux",
    distance: Callable[[int, int], int] | None = None,
    devices: Sequence[Device] = (),
    installed_gib_per_cpu: int = SERVER_GIB_PER_CPU,
) -> Callable[[tuple[int, ...]], Host]:
    shape = parse_shape(description)
    node_memory = installed_gib_per_cpu * GiB * shape.cpus // shape.numa_nodes

    def build(reserved: tuple[int, ...]) -> Host:
        return synthetic_host(
            description,
            numbering=numbering,
            node_memory=node_memory,
            pool_fraction=POOL_FRACTION,
            reserved_cpus=reserved,
            distance=distance or by_package(shape.numa_per_package, 12, 32),
            devices=devices,
        )

    return build


def hybrid_laptop(reserved: tuple[int, ...] = ()) -> Host:
    """T2: one socket, one node; 6 P-cores with 2 threads (0-11, siblings adjacent) and
    8 E-cores with one thread (12-19); one shared L3; 64 GiB."""
    cpus = range(20)
    cores = [(2 * p, 2 * p + 1) for p in range(6)] + [(e,) for e in range(12, 20)]
    total = 64 * GiB
    pool_size = int(total * POOL_FRACTION)
    return assemble_host(
        cpus,
        available=[c for c in cpus if c not in reserved],
        host_reserved=reserved,
        numa_cpus={0: cpus},
        numa_memory={0: [MemoryRange(0, total)]},
        socket_cpus={0: cpus},
        core_cpus=cores,
        caches=[Cache(0, 3, 24 << 20, tuple(cpus))],
        distances={(0, 0): 10},
        memory=MemoryInventory(total, total - pool_size, (MemoryRange(total - pool_size, pool_size),)),
        devices=[nvme(0), nic(0, vfs=4, bus=0x03)],
        declared_total_cpus=20,
        model="hybrid laptop: 6 P-cores x 2 + 8 E-cores x 1",
    )


def _hwloc_linux(description: str) -> str:
    """The hwloc synthetic string of ``description`` with Linux numbering
    (sibling = core + total cores)."""
    shape = parse_shape(description)
    levels = [f"pack:{shape.packages}", f"numa:{shape.numa_per_package}", f"l3:{shape.l3_per_numa}"]
    threads = shape.threads_per_core
    pu = f"pu:{threads}" if threads == 1 else f"pu:{threads}(indexes={threads}*{shape.cores}:1*{threads})"
    return " ".join([*levels, f"core:{shape.cores_per_l3}", pu])


TOPOLOGIES: tuple[Topology, ...] = (
    Topology(
        "T1",
        "laptop",
        "pack:1 core:4 pu:2",
        "Linux (i, i+4)",
        "none (one node)",
        "trivial case; kubelet topoSingleSocketHT",
        _hwloc_linux("pack:1 core:4 pu:2"),
        _synthetic("pack:1 core:4 pu:2", devices=[nvme(0)], installed_gib_per_cpu=4),
        gib_per_cpu=1,
        device_want="nvme0_ns*",
    ),
    Topology(
        "T2",
        "hybrid laptop",
        "1 socket, 6 P-cores x 2 + 8 E-cores x 1",
        "adjacent P siblings 0-11, E 12-19",
        "none (one node)",
        "asymmetric SMT; breaks a global CPUs-per-core",
        None,
        hybrid_laptop,
        gib_per_cpu=1,
        device_want="nvme0_ns*",
    ),
    Topology(
        "T3",
        "small 2-socket",
        "pack:2 core:3 pu:2",
        "socket-interleaved (0,6,2,8,4,10 | 1,7,3,9,5,11)",
        "10/21",
        "kubelet topoDualSocketHT; dented node 0 in odd seeds",
        "pack:2 numa:1 l3:1 core:3 pu:2(indexes=0,6,2,8,4,10,1,7,3,9,5,11)",
        _synthetic(
            "pack:2 core:3 pu:2",
            numbering=[0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11],
            distance=by_package(1, 21, 21),
            devices=[nic(1)],
        ),
        dented=True,
    ),
    Topology(
        "T4",
        "2-socket SNC2",
        "pack:2 numa:2 core:10 pu:2",
        "Linux (c, c+40)",
        "10/11/21",
        "2-socket 4-NUMA SMT server (kubelet topoDualSocketMultiNumaPerSocketHT)",
        _hwloc_linux("pack:2 numa:2 core:10 pu:2"),
        _synthetic("pack:2 numa:2 core:10 pu:2", distance=by_package(2, 11, 21), devices=[nic(1)]),
    ),
    Topology(
        "T5",
        "2-socket 4-NUMA, larger",
        "pack:2 numa:2 core:16 pu:2",
        "Linux (c, c+64)",
        "10/11/21",
        "mid size; dented node 0 in odd seeds",
        _hwloc_linux("pack:2 numa:2 core:16 pu:2"),
        _synthetic("pack:2 numa:2 core:16 pu:2", distance=by_package(2, 11, 21), devices=[nic(2)]),
        dented=True,
    ),
    Topology(
        "T6",
        "Cluster-on-Die, no SMT",
        "pack:2 numa:2 core:7 pu:1",
        "adjacent (node n: 7n..7n+6)",
        "10/21/31",
        "asymmetric SLIT of a real CoD Xeon (hwloc 28intel64-2p2g7c-CoDgroups)",
        "pack:2 numa:2 l3:1 core:7 pu:1",
        _synthetic(
            "pack:2 numa:2 core:7 pu:1",
            numbering="adjacent",
            distance=by_package(2, 21, 31),
            devices=[nic(1)],
        ),
    ),
    Topology(
        "T7",
        "EPYC 7742 x2, NPS4, CCX",
        "pack:2 numa:4 l3:4 core:4 pu:2",
        "Linux (c, c+128)",
        "10/12/32",
        "8-NUMA EPYC-like; uncore (L3) alignment",
        _hwloc_linux("pack:2 numa:4 l3:4 core:4 pu:2"),
        _synthetic("pack:2 numa:4 l3:4 core:4 pu:2", devices=[nic(1), gpu(5)]),
    ),
    Topology(
        "T8",
        "EPYC Genoa-like x2, NPS4",
        "pack:2 numa:4 l3:3 core:8 pu:2",
        "Linux (c, c+192)",
        "10/12/32",
        "3 CCDs per node, an odd factor",
        _hwloc_linux("pack:2 numa:4 l3:3 core:8 pu:2"),
        _synthetic("pack:2 numa:4 l3:3 core:8 pu:2", devices=[nic(2), gpu(6)]),
    ),
    Topology(
        "T9",
        "512-CPU EPYC-like",
        "pack:2 numa:4 l3:4 core:8 pu:2",
        "Linux (c, c+256)",
        "10/12/32",
        "size ceiling",
        _hwloc_linux("pack:2 numa:4 l3:4 core:8 pu:2"),
        _synthetic("pack:2 numa:4 l3:4 core:8 pu:2", devices=[nic(3), gpu(4)]),
    ),
    Topology(
        "T10",
        "24 NUMA nodes, multi-hop",
        "pack:24 core:8 pu:2",
        "Linux (c, c+192)",
        "10/50/65/79",
        "more than 8 NUMA nodes, distance-weighted cost (SGI UV 2000-like, hwloc 192em64t-24n8c2t)",
        _hwloc_linux("pack:24 core:8 pu:2"),
        _synthetic("pack:24 core:8 pu:2", distance=uv2000_distance, devices=[nic(3), gpu(17)]),
    ),
)

BY_ID: Mapping[str, Topology] = {t.id: t for t in TOPOLOGIES}


def topology(ident: str) -> Topology:
    """The topology with id ``ident`` (``T1``...``T10``, case-insensitive)."""
    key = ident.strip().upper()
    if key not in BY_ID:
        raise KeyError(f"unknown topology {ident!r}; known: {', '.join(BY_ID)}")
    return BY_ID[key]


def node_size(host: Host) -> int:
    """C: pool CPUs of the largest NUMA node (request sizes are relative to it)."""
    return max((len(host.pool_cpus_of_node(n.id)) for n in host.numa_nodes), default=0)


def cpu_nodes(host: Host) -> tuple[int, ...]:
    """NUMA nodes with pool CPUs, ascending."""
    return tuple(n for n in host.node_ids if host.pool_cpus_of_node(n))


def device_nodes(host: Host) -> tuple[int, ...]:
    """NUMA nodes that hold a device, ascending."""
    return tuple(sorted({d.numa_node for d in host.devices if d.numa_node is not None}))
