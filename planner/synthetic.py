"""Build hosts from compact descriptions, for tests, benchmarks and what-if planning.

The description names levels from the package down to the hardware thread, the way
hwloc's synthetic topologies do::

    "pack:2 numa:2 core:10 pu:2"          two sockets, SNC2, 10 cores per node, SMT2
    "pack:2 numa:4 l3:4 core:4 pu:2"      EPYC-like: 4 NPS nodes, 4 CCXs of 4 cores each

Levels ``pack`` and ``core`` and ``pu`` are required; ``numa`` (per package) and ``l3``
(per NUMA node) default to 1. CPU ids are assigned by ``numbering``:

* ``"linux"``: thread t of core c gets ``c + t * total_cores`` (Intel/Linux style, the
  sibling of CPU 0 is CPU ``total_cores``);
* ``"adjacent"``: depth-first, siblings adjacent (0-1, 2-3, ...);
* an explicit sequence: the id of each thread in depth-first order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from planner.errors import RequestError
from planner.hardware import Cache, Device, Host, MemoryInventory, MemoryRange, assemble_host

GiB = 1 << 30
_LEVEL = re.compile(r"^(pack|numa|l3|core|pu):(\d+)$")


@dataclass(frozen=True)
class Shape:
    """Arity of each level of a synthetic description."""

    packages: int
    numa_per_package: int
    l3_per_numa: int
    cores_per_l3: int
    threads_per_core: int

    @property
    def numa_nodes(self) -> int:
        """Total NUMA nodes."""
        return self.packages * self.numa_per_package

    @property
    def cores(self) -> int:
        """Total physical cores."""
        return self.numa_nodes * self.l3_per_numa * self.cores_per_l3

    @property
    def cpus(self) -> int:
        """Total hardware threads."""
        return self.cores * self.threads_per_core


def parse_shape(description: str) -> Shape:
    """Read ``"pack:2 numa:2 core:10 pu:2"`` into a Shape (RequestError when malformed)."""
    arity: dict[str, int] = {}
    for word in description.split():
        m = _LEVEL.match(word.lower())
        if m is None:
            raise RequestError(
                f"bad topology level {word!r} in {description!r}",
                hint="levels are pack:N numa:N l3:N core:N pu:N",
            )
        if m[1] in arity:
            raise RequestError(f"level {m[1]} given twice in {description!r}")
        if int(m[2]) < 1:
            raise RequestError(f"level {m[1]} must be at least 1 in {description!r}")
        arity[m[1]] = int(m[2])
    for required in ("pack", "core", "pu"):
        if required not in arity:
            raise RequestError(f"topology {description!r} lacks the {required}:N level")
    return Shape(arity["pack"], arity.get("numa", 1), arity.get("l3", 1), arity["core"], arity["pu"])


def typical_distance(shape: Shape, same_package: int = 12, remote: int = 32) -> Callable[[int, int], int]:
    """SLIT distances: 10 local, ``same_package`` inside a package, ``remote`` across."""

    def distance(a: int, b: int) -> int:
        if a == b:
            return 10
        if a // shape.numa_per_package == b // shape.numa_per_package:
            return same_package
        return remote

    return distance


def synthetic_host(
    description: str,
    *,
    numbering: str | Sequence[int] = "linux",
    node_memory: int = 64 * GiB,
    pool_fraction: float = 0.75,
    reserved_cpus: Iterable[int] = (),
    distance: Callable[[int, int], int] | None = None,
    devices: Iterable[Device] = (),
    l3_size: int = 32 << 20,
) -> Host:
    """A Host of the given shape.

    Node n owns memory ``[n * node_memory, (n + 1) * node_memory)``; the pool is the top
    ``pool_fraction`` of every node (page-aligned), the rest stays with the host.
    ``reserved_cpus`` are kept by the host; every other CPU is in the pool.
    """
    shape = parse_shape(description)
    threads = shape.cpus
    if isinstance(numbering, str):
        if numbering == "linux":
            ids = [
                core + t * shape.cores for core in range(shape.cores) for t in range(shape.threads_per_core)
            ]
        elif numbering == "adjacent":
            ids = list(range(threads))
        else:
            raise RequestError(f"unknown numbering {numbering!r}", hint="use linux, adjacent or a list")
    else:
        ids = list(numbering)
        if len(ids) != threads or len(set(ids)) != threads:
            raise RequestError(f"numbering must list {threads} distinct ids, got {len(ids)}")

    numa_cpus: dict[int, list[int]] = {n: [] for n in range(shape.numa_nodes)}
    socket_cpus: dict[int, list[int]] = {p: [] for p in range(shape.packages)}
    cores: list[list[int]] = []
    caches: list[Cache] = []
    position = 0
    for package in range(shape.packages):
        for local_node in range(shape.numa_per_package):
            node = package * shape.numa_per_package + local_node
            for l3 in range(shape.l3_per_numa):
                l3_cpus: list[int] = []
                for _ in range(shape.cores_per_l3):
                    core = ids[position : position + shape.threads_per_core]
                    position += shape.threads_per_core
                    cores.append(core)
                    l3_cpus += core
                numa_cpus[node] += l3_cpus
                socket_cpus[package] += l3_cpus
                caches.append(Cache(node * shape.l3_per_numa + l3, 3, l3_size, tuple(sorted(l3_cpus))))

    page = 4096
    node_ranges = {n: MemoryRange(n * node_memory, node_memory) for n in range(shape.numa_nodes)}
    pool: list[MemoryRange] = []
    for rng in node_ranges.values():
        size = int(node_memory * pool_fraction) // page * page
        if size:
            pool.append(MemoryRange(rng.end - size, size))
    total = node_memory * shape.numa_nodes
    pool_bytes = sum(r.size for r in pool)
    dist = distance or typical_distance(shape)
    reserved = set(reserved_cpus)
    return assemble_host(
        ids,
        available=[c for c in ids if c not in reserved],
        host_reserved=reserved,
        numa_cpus=numa_cpus,
        numa_memory={n: [r] for n, r in node_ranges.items()},
        socket_cpus=socket_cpus,
        core_cpus=cores,
        caches=caches,
        distances={(a, b): dist(a, b) for a in node_ranges for b in node_ranges},
        memory=MemoryInventory(total, total - pool_bytes, tuple(pool)),
        devices=devices,
        declared_total_cpus=max(ids) + 1,
        model=description,
    )
