"""Plan quality figures: one evaluator for every allocator, the planner and the baselines.

Two views:

* :func:`instance_metrics` judges one placed instance against the host *as it was when
  the instance was placed* (``others``: the instances already there), because figures
  such as "the fewest NUMA nodes that could have held it" depend on what was free then;
* :func:`host_metrics` judges a host state: how fragmented its free capacity is.

Definitions (v = the instance's CPU count, N(x) = the NUMA nodes of its CPUs):

``min_numa_span``      m*: the fewest NUMA nodes whose free pool CPUs at decision time
                       could hold v, largest first (None when even all could not)
``kubelet_aligned``    |N(x)| equals the fewest nodes that could hold v on an empty host
``distance_cost``      Σ over CPUs c and memory nodes m of d(node(c), m)·f_m / (10·v),
                       f_m the fraction of the memory on m; 1.0 is fully local
``max_distance``       the largest SLIT distance between two nodes of N(x) (10 for one)
``interleave_bandwidth`` interleave only: memory nodes × the smallest bandwidth weight
                       among them (unweighted interleave runs at the slowest node's pace)
``shared_cores``       cores where the instance and another instance each hold a thread
``split_cores``        cores where the instance holds some but not all threads
``sibling_pairs``      pairs of the instance's CPUs on the same core (target 0 for spread)
``preferred_misses``   listed nodes (not with bind) the instance left unused although
                       they had free CPUs and it put CPUs elsewhere
``device_local_misses`` device units whose node holds none of the instance's CPUs
                       although that node had free CPUs
``bind_misses``        memory regions outside the bind nodes (a hard rule: must be 0)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from planner.hardware import Host, Instance
from planner.memory import free_bytes
from planner.occupancy import Occupancy
from planner.policy import MemoryPolicy
from planner.request import InstanceRequest

#: How many more instances of a shape still fit: ``planner.capacity`` provides one.
CapacityFn = Callable[[Host, Sequence[Instance], InstanceRequest], int]


def fewest_nodes(capacities: Iterable[int], amount: int) -> int | None:
    """How many of the largest capacities together reach ``amount`` (None: never)."""
    if amount <= 0:
        return 0
    total = 0
    for count, capacity in enumerate(sorted(capacities, reverse=True), start=1):
        total += capacity
        if total >= amount:
            return count
    return None


@dataclass(frozen=True)
class InstanceMetrics:
    """Quality figures of one placed instance (see the module docstring)."""

    name: str
    cpus: int
    numa_nodes: tuple[int, ...]
    numa_span: int
    min_numa_span: int | None
    numa_excess: int | None
    kubelet_aligned: bool
    socket_span: int
    l3_span: int | None
    memory_nodes: tuple[int, ...]
    distance_cost: float | None
    max_distance: int | None
    interleave_bandwidth: float | None
    shared_cores: int
    split_cores: int
    sibling_pairs: int
    preferred_misses: int
    device_local_misses: int
    bind_misses: int

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def memory_fractions(host: Host, inst: Instance) -> dict[int, float]:
    """NUMA node -> fraction of the instance's memory on it (regions of unknown node
    are left out)."""
    sizes: Counter[int] = Counter()
    for region in inst.memory:
        node = region.numa_node
        if node is None and region.base is not None:
            node = host.node_of_address(region.base)
        if node is not None:
            sizes[node] += region.size
    total = sum(sizes.values())
    return {node: size / total for node, size in sorted(sizes.items())} if total else {}


def instance_metrics(
    host: Host,
    others: Sequence[Instance],
    inst: Instance,
    request: InstanceRequest | None = None,
    *,
    bandwidth: Mapping[int, float] | None = None,
) -> InstanceMetrics:
    """Figures for ``inst`` placed on ``host`` where ``others`` were already placed.

    ``request`` supplies the listed nodes (else the instance's own ``numa_nodes``);
    ``bandwidth`` gives per-node weights for the interleave proxy (default 1 each)."""
    before = Occupancy.of(host, [o for o in others if o.name != inst.name])
    free_by_node = {n: len(cpus) for n, cpus in before.free_cpus_by_node.items()}
    cpus = [host.cpu_by_id[c] for c in dict.fromkeys(inst.cpus) if c in host.cpu_by_id]
    by_node = Counter(c.numa_node for c in cpus if c.numa_node is not None)
    nodes = tuple(sorted(by_node))
    v = len(cpus)
    m_star = fewest_nodes(free_by_node.values(), v)
    pool_by_node = [len(host.pool_cpus_of_node(n.id)) for n in host.numa_nodes]
    l3s = {c.l3 for c in cpus if c.l3 is not None}
    fractions = memory_fractions(host, inst)
    placed = sum(by_node.values())
    distance = None
    if fractions and placed:
        weighted = sum(k * host.distance(n, m) * f for n, k in by_node.items() for m, f in fractions.items())
        distance = weighted / (10 * placed)
    interleave = None
    if inst.memory_policy is MemoryPolicy.INTERLEAVE and fractions:
        weights = bandwidth or {}
        interleave = len(fractions) * min(weights.get(m, 1.0) for m in fractions)
    shared, split, pairs = _smt_figures(host, before, inst)
    listed = tuple(request.numa_nodes) if request is not None else tuple(inst.numa_nodes)
    policy = request.memory_policy if request is not None else inst.memory_policy
    return InstanceMetrics(
        name=inst.name,
        cpus=v,
        numa_nodes=nodes,
        numa_span=len(nodes),
        min_numa_span=m_star,
        numa_excess=None if m_star is None else len(nodes) - m_star,
        kubelet_aligned=len(nodes) == fewest_nodes(pool_by_node, v),
        socket_span=len({c.socket for c in cpus}),
        l3_span=len(l3s) if any(c.l3 is not None for c in host.cpus) else None,
        memory_nodes=tuple(fractions),
        distance_cost=distance,
        max_distance=max((host.distance(a, b) for a in nodes for b in nodes), default=None),
        interleave_bandwidth=interleave,
        shared_cores=shared,
        split_cores=split,
        sibling_pairs=pairs,
        preferred_misses=_preferred_misses(listed, policy, nodes, free_by_node),
        device_local_misses=_device_misses(host, inst, nodes, free_by_node),
        bind_misses=sum(1 for m in fractions if m not in listed) if policy is MemoryPolicy.BIND else 0,
    )


def _smt_figures(host: Host, before: Occupancy, inst: Instance) -> tuple[int, int, int]:
    """(shared cores, split cores, sibling pairs) of an instance."""
    mine = set(inst.cpus)
    shared = split = pairs = 0
    for core in host.cores:
        held = sum(1 for c in core.cpus if c in mine)
        if not held:
            continue
        if any(c not in mine and c in before.cpu_owner for c in core.cpus):
            shared += 1
        if held < len(core.cpus):
            split += 1
        pairs += held * (held - 1) // 2
    return shared, split, pairs


def _preferred_misses(
    listed: Sequence[int], policy: MemoryPolicy | None, nodes: Sequence[int], free_by_node: Mapping[int, int]
) -> int:
    """Listed nodes left unused while they had room and the instance went elsewhere."""
    if not listed or policy is MemoryPolicy.BIND or set(nodes) <= set(listed):
        return 0
    return sum(1 for n in set(listed) if n not in nodes and free_by_node.get(n, 0) > 0)


def _device_misses(host: Host, inst: Instance, nodes: Sequence[int], free_by_node: Mapping[int, int]) -> int:
    """Device units on a node without the instance's CPUs, though that node had room."""
    units = {u.label: u for d in host.devices for u in d.units()}
    misses = 0
    for label in inst.devices:
        unit = units.get(label)
        node = unit.numa_node if unit is not None else None
        if node is not None and node not in nodes and free_by_node.get(node, 0) > 0:
            misses += 1
    return misses


@dataclass(frozen=True)
class HostMetrics:
    """Fragmentation and balance of a host state (see :func:`host_metrics`)."""

    free_cpus: int
    free_cores: int
    largest_free_cores_in_node: int
    free_numa_nodes: int
    free_sockets: int
    free_l3: int
    stranded_threads: int
    fgd: float | None
    balance: float
    free_cpus_by_node: Mapping[int, int]
    free_memory_by_node: Mapping[int, int]
    capacity: Mapping[str, int] | None

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON (mappings become dicts)."""
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in asdict(self).items()}


def host_metrics(
    host: Host,
    instances: Sequence[Instance],
    *,
    sizes: Mapping[int, float] | None = None,
    flavors: Mapping[str, InstanceRequest] | None = None,
    capacity: CapacityFn | None = None,
) -> HostMetrics:
    """Figures of ``host`` with ``instances`` placed.

    * ``free_cores``, ``largest_free_cores_in_node``: cores whose every thread is a free
      pool CPU, in total and in the best NUMA node;
    * ``free_numa_nodes`` / ``free_sockets`` / ``free_l3``: units with pool CPUs of which
      no instance holds any;
    * ``stranded_threads``: free pool threads with a sibling that is not free (held by an
      instance, kept by the host, or offline);
    * ``fgd``: with ``sizes`` (CPU count -> weight), the expected free CPUs that the next
      request drawn from that distribution cannot use (:func:`unusable_capacity`);
    * ``balance``: population standard deviation of free CPUs over the nodes with CPUs;
    * ``capacity``: with ``flavors`` and a ``capacity`` function (``planner.capacity``;
      it solves a model, so it runs only when asked), the extra instances of each shape.
    """
    occ = Occupancy.of(host, instances)
    free = occ.free_cpus
    free_cores = [core for core in host.cores if occ.is_core_free(core)]
    cores_per_node = Counter(core.numa_node for core in free_cores)

    def is_unit_free(cpus: Iterable[int]) -> bool:
        pool = [c for c in cpus if c in host.available]
        return bool(pool) and all(c in free for c in pool)

    stranded = sum(
        1 for core in host.cores for c in core.cpus if c in free and any(s not in free for s in core.cpus)
    )
    with_cpus = [n for n in host.numa_nodes if host.pool_cpus_of_node(n.id)]
    free_by_node = {n.id: len(occ.free_cpus_by_node.get(n.id, ())) for n in with_cpus}
    values = list(free_by_node.values())
    mean = sum(values) / len(values) if values else 0.0
    balance = math.sqrt(sum((x - mean) ** 2 for x in values) / len(values)) if values else 0.0
    usable = _usable_by_node(host, instances, occ)
    fgd = None if sizes is None else unusable_capacity(usable, sizes, _node_sizes(host))
    caps = None
    if flavors is not None and capacity is not None:
        caps = {name: capacity(host, instances, flavor) for name, flavor in flavors.items()}
    return HostMetrics(
        free_cpus=len(free),
        free_cores=len(free_cores),
        largest_free_cores_in_node=max(cores_per_node.values(), default=0),
        free_numa_nodes=sum(1 for n in host.numa_nodes if is_unit_free(n.cpus)),
        free_sockets=sum(1 for s in host.sockets if is_unit_free(s.cpus)),
        free_l3=sum(1 for c in host.caches if c.level == 3 and is_unit_free(c.cpus)),
        stranded_threads=stranded,
        fgd=fgd,
        balance=balance,
        free_cpus_by_node=free_by_node,
        free_memory_by_node=free_bytes(host, instances),
        capacity=caps,
    )


def _node_sizes(host: Host) -> list[int]:
    return [len(host.pool_cpus_of_node(n.id)) for n in host.numa_nodes]


def _usable_by_node(host: Host, instances: Sequence[Instance], occ: Occupancy) -> dict[int, int]:
    """Free CPUs per node that a new shared request could take: free threads on cores
    held by an exclusive instance do not count."""
    exclusive = {i.name for i in instances if i.exclusive_cores}
    blocked = {c for core in host.cores if occ.core_owners(core) & exclusive for c in core.cpus}
    return {
        node: sum(1 for c in cpus if c not in blocked) for node, cpus in sorted(occ.free_cpus_by_node.items())
    }


def unusable_capacity(
    free_by_node: Mapping[int, int], sizes: Mapping[int, float], node_sizes: Sequence[int]
) -> float:
    """FGD-style fragmentation: Σ over sizes s of p(s) · (free CPUs a size-s request
    cannot use).

    A request no larger than the biggest node is taken to want one node, so every node
    with fewer than s free CPUs is lost to it; a larger request may span nodes, so the
    host's free CPUs are lost to it only when they total less than s. Weights are
    normalised to probabilities; non-positive sizes and weights are ignored."""
    weights = {s: w for s, w in sizes.items() if s > 0 and w > 0}
    total_weight = sum(weights.values())
    if not total_weight:
        return 0.0
    largest_node = max(node_sizes, default=0)
    total_free = sum(free_by_node.values())
    expected = 0.0
    for size, weight in weights.items():
        if size <= largest_node:
            lost = sum(f for f in free_by_node.values() if f < size)
        else:
            lost = total_free if total_free < size else 0
        expected += weight / total_weight * lost
    return expected
