"""Drawing requests: the request model of placement-anchors §8.2.

Sizes are relative to C, the CPUs of one NUMA node: 1-2 (40%), 4 (25%), 8 (15%),
C/2 (10%), C (5%) and 1.5·C (5%, must span nodes); 15% of all sizes are made odd.
Policies: affinity compact 60% / spread 25% / local 15%; memory local 70% /
interleave 20% / bind 10%; a preferred NUMA set 20% of the time; a device 10%;
whole cores only (``exclusive_cores``) 50%. Memory is ``gib_per_cpu`` GiB per vCPU.

On small hosts the sizes scale down by themselves (C is small) and are capped at the
pool; a ``local`` request larger than a node becomes ``compact`` (it could never fit).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from benchmarks.topologies import Topology, cpu_nodes, node_size
from planner.hardware import Host
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest
from planner.synthetic import GiB

AFFINITIES = ((CpuAffinity.COMPACT, 0.60), (CpuAffinity.SPREAD, 0.25), (CpuAffinity.LOCAL, 0.15))
POLICIES = ((MemoryPolicy.LOCAL, 0.70), (MemoryPolicy.INTERLEAVE, 0.20), (MemoryPolicy.BIND, 0.10))
PREFERRED_SHARE = 0.20
DEVICE_SHARE = 0.10
EXCLUSIVE_SHARE = 0.50
ODD_SHARE = 0.15

_T = TypeVar("_T")


@dataclass(frozen=True)
class HostView:
    """What the request model needs to know about a host."""

    node_cpus: int
    pool_cpus: int
    nodes: tuple[int, ...]
    gib_per_cpu: int
    device_want: str | None
    server: bool

    @classmethod
    def of(cls, topology: Topology, host: Host) -> HostView:
        """The view of ``host`` (a build of ``topology``)."""
        nodes = cpu_nodes(host)
        return cls(
            node_cpus=node_size(host),
            pool_cpus=len(host.available),
            nodes=nodes,
            gib_per_cpu=topology.gib_per_cpu,
            device_want=topology.device_want,
            server=len(host.available) > 32,
        )


def size_classes(view: HostView) -> list[tuple[int, float]]:
    """(size, weight) of the §8.2 size classes on this host, before odd-making."""
    c = view.node_cpus
    classes = [
        (1, 0.20),
        (2, 0.20),
        (4, 0.25),
        (8, 0.15),
        (max(1, c // 2), 0.10),
        (c, 0.05),
        (max(1, (3 * c) // 2), 0.05),
    ]
    return [(min(size, view.pool_cpus), weight) for size, weight in classes]


def size_weights(view: HostView) -> dict[int, float]:
    """CPU count -> probability, for the fragmentation (FGD) figure."""
    weights: dict[int, float] = {}
    for size, weight in size_classes(view):
        weights[size] = weights.get(size, 0.0) + weight
    return weights


def draw_size(rng: random.Random, view: HostView, *, largest: int | None = None) -> int:
    """A request size drawn from the §8.2 classes (at most ``largest`` when given)."""
    classes = size_classes(view)
    if largest is not None:
        classes = [(s, w) for s, w in classes if s <= largest] or [(1, 1.0)]
    size = rng.choices([s for s, _ in classes], weights=[w for _, w in classes])[0]
    if size % 2 == 0 and rng.random() < ODD_SHARE:
        size = size + 1 if size < min(view.node_cpus, view.pool_cpus) else size - 1
    return max(1, min(size, view.pool_cpus, largest or view.pool_cpus))


def mean_size(view: HostView) -> float:
    """Expected request size (odd-making moves sizes by one either way; ignored)."""
    classes = size_classes(view)
    return sum(s * w for s, w in classes) / sum(w for _, w in classes)


def node_set(rng: random.Random, view: HostView, size: int, *, one: bool = False) -> tuple[int, ...]:
    """A preferred/bind node set: enough consecutive nodes for ``size`` CPUs, from a
    random first node (just one node for ``one``)."""
    count = 1 if one else min(len(view.nodes), math.ceil(size / max(view.node_cpus, 1)))
    start = rng.randrange(len(view.nodes))
    return tuple(sorted(view.nodes[(start + i) % len(view.nodes)] for i in range(count)))


def _pick(rng: random.Random, table: Sequence[tuple[_T, float]]) -> _T:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def draw_request(
    rng: random.Random,
    view: HostView,
    name: str,
    *,
    size: int | None = None,
    affinity: CpuAffinity | None = None,
    exclusive: bool | None = None,
    policies: bool = True,
    device: bool | None = None,
) -> InstanceRequest:
    """One request by the §8.2 model; keyword arguments fix a field instead of drawing it
    (``policies=False``: local memory, no listed nodes)."""
    v = size if size is not None else draw_size(rng, view)
    chosen = affinity if affinity is not None else _pick(rng, AFFINITIES)
    if chosen is CpuAffinity.LOCAL and v > view.node_cpus:
        chosen = CpuAffinity.COMPACT
    policy = _pick(rng, POLICIES) if policies else MemoryPolicy.LOCAL
    nodes: tuple[int, ...] = ()
    if policies and (rng.random() < PREFERRED_SHARE or policy is MemoryPolicy.BIND):
        nodes = node_set(rng, view, v, one=chosen is CpuAffinity.LOCAL)
    wants_device = device if device is not None else rng.random() < DEVICE_SHARE
    devices = (DeviceWant.parse(view.device_want),) if wants_device and view.device_want else ()
    return InstanceRequest(
        name=name,
        memory_bytes=v * view.gib_per_cpu * GiB,
        cpu_count=v,
        numa_nodes=nodes,
        cpu_affinity=chosen,
        memory_policy=policy,
        devices=devices,
        exclusive_cores=exclusive if exclusive is not None else rng.random() < EXCLUSIVE_SHARE,
    )
