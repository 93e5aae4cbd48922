"""What every greedy baseline shares: the host state one request sees, and finishing a placement.

A baseline only decides *which CPUs* an instance gets. Everything around that choice is
the same for all of them, so that they are compared on CPU and node choice alone:

* which CPUs a request may take at all (free pool CPUs, minus the cores an exclusive
  instance holds; for an exclusive request, only the threads of completely free cores);
* pinned CPU lists;
* memory regions, carved with :mod:`planner.memory` according to the memory policy;
* device units for the request's :class:`~planner.request.DeviceWant` entries.

:class:`Workspace` is built once per request and never changes; allocators keep their
own mutable state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from planner.errors import PlanInvalidError, RequestError
from planner.hardware import Core, DeviceUnit, Host, Instance
from planner.memory import align_up, allocate_regions, free_bytes, split_evenly, split_proportionally
from planner.occupancy import Occupancy
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest


def check_request(host: Host, request: InstanceRequest) -> None:
    """RequestError for requests that contradict themselves or the host (the planner
    refuses the same ones), rather than a silent "does not fit"."""
    name = request.name
    if request.memory_bytes <= 0:
        raise RequestError(
            f"instance {name}: memory must be a positive size, got {request.memory_bytes} bytes",
            hint="give the instance some memory",
        )
    listed = tuple(dict.fromkeys(request.numa_nodes))
    unknown = sorted(set(listed) - set(host.node_by_id))
    if unknown:
        raise RequestError(
            f"instance {name}: unknown NUMA node(s) {unknown}; the host has {list(host.node_ids)}",
            hint="numa-nodes must name nodes of the host",
        )
    if request.memory_policy is MemoryPolicy.BIND and not listed:
        raise RequestError(
            f"instance {name}: memory-policy bind needs the NUMA nodes to bind to",
            hint="add numa-nodes, or use memory-policy local",
        )
    if request.cpu_affinity is CpuAffinity.LOCAL and len(listed) > 1:
        raise RequestError(
            f"instance {name}: cpu-affinity local keeps CPUs on one NUMA node, "
            f"but numa-nodes lists {list(listed)}",
            hint="list one node, or use cpu-affinity compact",
        )
    fixed_memory = request.memory_policy is MemoryPolicy.BIND or (
        request.memory_policy is MemoryPolicy.INTERLEAVE and bool(listed)
    )
    if request.cpu_affinity is CpuAffinity.LOCAL and fixed_memory and not host.node_by_id[listed[0]].cpus:
        raise RequestError(
            f"instance {name}: cpu-affinity local needs CPUs on node {listed[0]}, which has none",
            hint="reach memory-only nodes with cpu-affinity compact or spread",
        )
    if request.cpus is not None:
        unknown_cpus = sorted(c for c in request.cpus if c not in host.cpu_by_id)
        outside = sorted(c for c in request.cpus if c in host.cpu_by_id and c not in host.available)
        if unknown_cpus or outside:
            raise RequestError(
                f"instance {name}: pinned CPU(s) {unknown_cpus or outside} "
                + ("do not exist on this host" if unknown_cpus else "are not in the pool"),
                hint="pin CPUs of the host's pool, or give a CPU count",
            )


@dataclass(frozen=True)
class Workspace:
    """One request and the host as it stands before the request is placed."""

    host: Host
    existing: tuple[Instance, ...]
    request: InstanceRequest
    occupancy: Occupancy
    usable: frozenset[int]
    free_memory: Mapping[int, int]

    @classmethod
    def prepare(cls, host: Host, existing: Iterable[Instance], request: InstanceRequest) -> Workspace:
        """The request's view of ``host`` with ``existing`` placed; RequestError for a
        request that no allocator could ever honour on this host."""
        check_request(host, request)
        instances = tuple(existing)
        occupancy = Occupancy.of(host, instances)
        if request.exclusive_cores:
            # Whole free cores only: every thread of the core is a free pool CPU, so no
            # other instance (and not the host) shares the core now or later.
            usable = {c for core in host.cores if occupancy.is_core_free(core) for c in core.cpus}
        else:
            exclusive_owners = {inst.name for inst in instances if inst.exclusive_cores}
            usable = {
                c
                for core in host.cores
                if not occupancy.core_owners(core) & exclusive_owners
                for c in core.cpus
                if occupancy.is_free(c)
            }
        # A CPU without a NUMA node cannot be placed by any rule: leave it alone.
        usable = {c for c in usable if host.cpu_by_id[c].numa_node is not None}
        return cls(host, instances, request, occupancy, frozenset(usable), free_bytes(host, instances))

    # --- the host as the request sees it -------------------------------------------

    def node_of(self, cpu: int) -> int:
        """NUMA node of a usable CPU (usable CPUs always have one)."""
        node = self.host.cpu_by_id[cpu].numa_node
        assert node is not None, f"CPU {cpu} has no NUMA node"
        return node

    @cached_property
    def usable_by_node(self) -> Mapping[int, tuple[int, ...]]:
        """NUMA node -> usable CPUs on it, ascending (nodes without any are left out)."""
        by_node: dict[int, list[int]] = {}
        for cpu in sorted(self.usable):
            by_node.setdefault(self.node_of(cpu), []).append(cpu)
        return {node: tuple(cpus) for node, cpus in sorted(by_node.items())}

    def usable_in(self, nodes: Iterable[int]) -> tuple[int, ...]:
        """Usable CPUs on the given nodes, ascending."""
        return tuple(sorted(c for n in set(nodes) for c in self.usable_by_node.get(n, ())))

    @cached_property
    def preferred(self) -> tuple[int, ...]:
        """The request's listed NUMA nodes that exist on the host, in the order given."""
        return tuple(n for n in dict.fromkeys(self.request.numa_nodes) if n in self.host.node_by_id)

    def scopes(self) -> list[tuple[int, ...]]:
        """Node sets to try in turn: the listed (preferred) nodes first, then every node.

        Listed nodes are a soft preference for CPUs; memory honours them as a hard rule
        (``bind``, listed ``interleave``), and so does a local request then, because
        local keeps its CPUs on its memory's node."""
        everything = tuple(self.usable_by_node)
        preferred = tuple(n for n in sorted(self.preferred) if n in self.usable_by_node)
        if self.is_local and not self.memory_follows_cpus:
            return [preferred]
        if preferred and preferred != everything:
            return [preferred, everything]
        return [everything]

    @property
    def is_local(self) -> bool:
        """True when the request's CPUs must all sit on one NUMA node."""
        return self.request.cpu_affinity is CpuAffinity.LOCAL

    @property
    def is_spread(self) -> bool:
        """True when the request asks for its CPUs to be spread out."""
        return self.request.cpu_affinity is CpuAffinity.SPREAD

    @property
    def memory_follows_cpus(self) -> bool:
        """True when the memory goes to the nodes the CPUs end up on (so node choice
        must look at free memory too); False when the listed nodes fix it."""
        policy = self.request.memory_policy
        return policy is MemoryPolicy.LOCAL or not self.preferred

    def memory_share(self, cpus: int) -> int:
        """Bytes that ``cpus`` of the request's CPUs bring with them (local policy)."""
        return -(-self.request.memory_bytes * cpus // max(self.request.size, 1))

    def memory_fits(self, node: int, size: int) -> bool:
        """True when ``node`` has ``size`` free pool bytes, or memory does not go there."""
        if not self.memory_follows_cpus or size <= 0:
            return True
        return self.free_memory.get(node, 0) >= align_up(size)

    def node_can_hold(self, node: int, cpus: int) -> bool:
        """True when one node could take ``cpus`` CPUs of the request and their memory."""
        return len(self.usable_by_node.get(node, ())) >= cpus and self.memory_fits(
            node, self.memory_share(cpus)
        )

    def whole_cores(self, cpus: Iterable[int]) -> list[Core]:
        """Cores of the given CPUs, ascending by core id, each once."""
        ids = {self.host.cpu_by_id[c].core for c in cpus}
        return [self.host.core_by_id[i] for i in sorted(ids)]

    # --- pinned CPUs ----------------------------------------------------------------

    def pinned_cpus(self) -> tuple[int, ...] | None:
        """The pinned list when every CPU is usable (and, for local, on one node: the
        listed one when the memory policy fixes the memory there)."""
        pinned = self.request.cpus or ()
        if not all(c in self.usable for c in pinned):
            return None
        nodes = {self.node_of(c) for c in pinned}
        if self.is_local and len(nodes) > 1:
            return None
        if self.is_local and not self.memory_follows_cpus and not nodes <= set(self.preferred):
            return None  # local keeps the CPUs on the node its listed memory is on
        return tuple(pinned)

    # --- finishing a placement ------------------------------------------------------

    def memory_split(self, cpus: Sequence[int]) -> dict[int, int] | None:
        """Bytes per NUMA node under the request's memory policy, or None when the listed
        nodes do not exist."""
        total = self.request.memory_bytes
        if total <= 0:
            return {}
        listed = tuple(dict.fromkeys(self.request.numa_nodes))
        if any(n not in self.host.node_by_id for n in listed):
            return None
        counts = Counter(self.node_of(c) for c in cpus)
        policy = self.request.memory_policy
        if policy is MemoryPolicy.INTERLEAVE:
            return split_evenly(total, list(listed) if listed else sorted(counts))
        if policy is MemoryPolicy.BIND and listed:
            on_listed = {n: counts[n] for n in listed if counts[n]}
            if on_listed:
                return split_proportionally(total, on_listed)
            return split_evenly(total, sorted(listed))
        return split_proportionally(total, counts)

    def choose_devices(self, cpu_nodes: frozenset[int], prefer_local: bool) -> tuple[str, ...] | None:
        """Free units for the request's device wants, or None when one cannot be met.

        Exact units are claimed first so that a wildcard never takes a unit that another
        want names; wildcards then prefer units on the CPUs' nodes when ``prefer_local``."""
        chosen: list[str] = []
        taken: set[str] = set()
        wants = sorted(self.request.devices, key=lambda w: not w.is_specific)
        for want in wants:
            candidates = [u for u in self.candidate_units(want) if u.label not in taken]
            if prefer_local:
                candidates.sort(key=lambda u: u.numa_node not in cpu_nodes)
            if not candidates:
                return None
            chosen.append(candidates[0].label)
            taken.add(candidates[0].label)
        order = {w.text: i for i, w in enumerate(self.request.devices)}
        pairs = sorted(zip(wants, chosen, strict=True), key=lambda p: order[p[0].text])
        return tuple(label for _, label in pairs)

    def candidate_units(self, want: DeviceWant) -> list[DeviceUnit]:
        """Free units that would satisfy one device want, in host order."""
        if want.kind == "any-vf":
            return list(self.occupancy.free_units_of(want.device, "vf"))
        if want.kind == "any-ns":
            return list(self.occupancy.free_units_of(want.device, "namespace"))
        unit = self.host.unit_by_label.get(want.text)
        if unit is None or unit.label in self.occupancy.unit_owner:
            return []
        return [unit]

    def finish(self, cpus: Sequence[int], *, prefer_local_devices: bool) -> Instance | None:
        """The placed instance for ``cpus``: memory regions and devices added, or None
        when memory or devices cannot be found. Raises PlanInvalidError when ``cpus``
        break a hard rule, which is a bug in the allocator that chose them."""
        self.check_cpus(cpus)
        split = self.memory_split(cpus)
        if split is None:
            return None
        if any(self.free_memory.get(node, 0) < align_up(size) for node, size in split.items()):
            return None
        regions = allocate_regions(self.host, self.existing, split)
        if regions is None:
            return None
        cpu_nodes = frozenset(self.node_of(c) for c in cpus)
        devices = self.choose_devices(cpu_nodes, prefer_local_devices)
        if devices is None:
            return None
        used_nodes = cpu_nodes | {r.numa_node for r in regions if r.numa_node is not None}
        request = self.request
        return Instance(
            name=request.name,
            cpus=tuple(cpus),
            memory=regions,
            devices=devices,
            id=request.id,
            numa_nodes=request.numa_nodes or tuple(sorted(used_nodes)),
            cpu_affinity=request.cpu_affinity,
            memory_policy=request.memory_policy,
            exclusive_cores=request.exclusive_cores,
        )

    def check_cpus(self, cpus: Sequence[int]) -> None:
        """Raise PlanInvalidError unless ``cpus`` keep the request's hard CPU rules."""
        problems: list[str] = []
        if len(set(cpus)) != len(cpus):
            problems.append(f"repeats CPUs {sorted(c for c, k in Counter(cpus).items() if k > 1)}")
        if len(cpus) != self.request.size:
            problems.append(f"has {len(cpus)} CPUs, requested={self.request.size}")
        unusable = sorted(c for c in cpus if c not in self.usable)
        if unusable:
            problems.append(f"takes CPUs that are not free for it: {unusable}")
        elif self.is_local:
            nodes = {self.node_of(c) for c in cpus}
            if len(nodes) > 1:
                problems.append(f"spans NUMA nodes {sorted(nodes)} with local affinity")
            elif not self.memory_follows_cpus and not nodes <= set(self.preferred):
                problems.append(
                    f"puts local CPUs on node {min(nodes)}, away from memory nodes {list(self.preferred)}"
                )
        if self.request.cpus is not None and tuple(cpus) != tuple(self.request.cpus):
            problems.append("ignores the pinned CPU list")
        if problems:
            raise PlanInvalidError(f"baseline placement of {self.request.name} " + "; ".join(problems))
