"""The planner's objective, evaluated on a finished placement in plain Python.

This is the written-down meaning of "a good plan" (docs/planner.md has the prose). The
solver optimises exactly these numbers; tests evaluate any allocator's result with
:func:`evaluate` and compare it with the solver's, and the exhaustive oracle ranks
every candidate placement of a small host by it.

A plan's score is a vector of non-negative integers compared lexicographically, in the
order of :data:`TIERS`:

``unplaced``       requests left out (a gang admits as many as possible first)
``unplaced_cpus``  their CPUs (then as many CPUs as possible)
``moved_boot``     re-placed instances (rebalance, update) that give up their boot CPU
``moved_cpus``     CPUs a re-placed instance gives up beyond what a smaller count forces
``moved_pages``    4 KiB pages that leave a NUMA node beyond what a smaller size releases
``moved_units``    device units given up beyond what fewer wanted units force (swaps)
``preference``     CPUs outside the preferred ``numa_nodes`` (not with memory bind)
``numa``           compact: NUMA nodes used minus the fewest that could hold it;
                   spread: target nodes left unused that could have been used
                   (an exclusive-cores request spreads whole cores, see Intent)
``balance``        spread: most minus fewest CPUs (exclusive-cores: cores) on a used node
``device``         wanted devices whose NUMA node holds none of the instance's CPUs
``distance``       Σ over CPU nodes n and memory nodes m of (SLIT(n, m) − 10)
``span``           compact / local: sockets used + core groups (L3) used
``smt``            cores shared with another instance + cores held only in part
                   (core sharing "pack": whole free cores the plan takes instead)
``fragmentation``  CPUs taken from NUMA nodes and core groups that were completely
                   free (best fit: fill partly used units first, keep whole ones free)
``tiebreak``       Σ over the CPUs of the rank of their core group (lowest first)

Instance-level tiers are summed over the plan's placements; the per-policy terms
(``preference`` to ``span``) are zero for requests with pinned CPUs, whose shape is
given. The "free before" state is the host with the instances the plan may not move
(an instance being updated is not one of them: what it holds is free for its new shape).

The ``moved_*`` tiers compare a re-placed instance with its previous placement
(:func:`moves`); they count relocations, not resizing: a shrink that keeps a subset of
its CPUs and memory, or a grow that keeps all of them, moves nothing.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

from planner.errors import RequestError
from planner.hardware import PAGE_SIZE, Core, Host, Instance
from planner.occupancy import Occupancy
from planner.policy import CoreSharing, CpuAffinity, MemoryPolicy
from planner.request import InstanceRequest

T = TypeVar("T")

TIERS: tuple[str, ...] = (
    "unplaced",
    "unplaced_cpus",
    "moved_boot",
    "moved_cpus",
    "moved_pages",
    "moved_units",
    "preference",
    "numa",
    "balance",
    "device",
    "distance",
    "span",
    "smt",
    "fragmentation",
    "tiebreak",
)
TIER_INDEX: Mapping[str, int] = {name: i for i, name in enumerate(TIERS)}
LOCAL = 10


# --- core groups (shared with planner.topology, which draws them into the graph) ----------


def core_group_key(host: Host, core: Core) -> tuple[int, int, int]:
    """(NUMA node, socket, L3 id or -1): cores with the same key form one core group."""
    first = host.cpu_by_id[core.cpus[0]]
    node = core.numa_node if core.numa_node is not None else -1
    return (node, core.socket, -1 if first.l3 is None else first.l3)


_PER_HOST: dict[tuple[int, str], object] = {}


def per_host(host: Host, key: str, build: Callable[[], T]) -> T:
    """``build()`` once per Host object and key. Hosts are frozen, so what is derived
    from them never changes; the entry goes when the host is garbage-collected."""
    slot = (id(host), key)
    if slot not in _PER_HOST:
        _PER_HOST[slot] = build()
        weakref.finalize(host, _PER_HOST.pop, slot, None)
    return cast(T, _PER_HOST[slot])


def group_rank_of_core(host: Host) -> Mapping[int, int]:
    """Core id -> rank of its core group in the canonical order (node, socket, L3, lowest
    core id). Cores outside any NUMA node get no rank (they are never placed)."""
    return per_host(host, "group-rank", lambda: _group_ranks(host))


def _group_ranks(host: Host) -> Mapping[int, int]:
    first_core: dict[tuple[int, int, int], int] = {}
    for core in host.cores:
        if core.numa_node is None or core.numa_node not in host.node_by_id:
            continue
        key = core_group_key(host, core)
        first_core[key] = min(first_core.get(key, core.id), core.id)
    order = sorted(first_core, key=lambda k: (k, first_core[k]))
    rank = {key: i for i, key in enumerate(order)}
    return {
        core.id: rank[core_group_key(host, core)]
        for core in host.cores
        if core.numa_node is not None and core.numa_node in host.node_by_id
    }


def pages(size: int) -> int:
    """Whole 4 KiB pages needed for ``size`` bytes."""
    return -(-size // PAGE_SIZE)


# --- what a request means ---------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """A request with its policies resolved against a host (see docs/planner.md).

    ``cpu_nodes``: the only nodes CPUs may use (local affinity tied to a memory node),
    or ``None`` for any. ``memory_nodes``: where memory may go, or ``None`` when it
    follows the CPUs. ``even_memory``: split evenly (interleave) rather than in
    proportion to CPUs (local) or freely (bind).

    ``spread_unit``: what a spread request spreads, in threads. 1 (single CPUs) unless
    the request has exclusive cores on an SMT host: then whole cores (the most threads
    a core of the target nodes has), because an exclusive instance holds every core it
    touches, and one thread per core on more nodes would leave the siblings idle and
    unusable by anyone (kubelet's distribute-across-NUMA with full physical CPUs
    distributes whole cores for the same reason).
    """

    request: InstanceRequest
    size: int
    pages: int
    pinned: tuple[int, ...] | None
    preferred: frozenset[int]
    spread_target: frozenset[int]
    cpu_nodes: frozenset[int] | None
    memory_nodes: frozenset[int] | None
    even_memory: bool
    spread_unit: int = 1

    @property
    def name(self) -> str:
        """The request's name."""
        return self.request.name

    @property
    def affinity(self) -> CpuAffinity:
        """CPU affinity policy."""
        return self.request.cpu_affinity

    @property
    def policy(self) -> MemoryPolicy:
        """Memory policy."""
        return self.request.memory_policy


def cpu_node_ids(host: Host) -> tuple[int, ...]:
    """NUMA nodes that have at least one CPU, ascending."""
    return tuple(n.id for n in sorted(host.numa_nodes, key=lambda n: n.id) if n.cpus)


def resolve(host: Host, request: InstanceRequest) -> Intent:
    """Resolve a request's policies on ``host``; RequestError for contradictions."""
    name = request.name
    nodes = tuple(request.numa_nodes)
    unknown = sorted(set(nodes) - set(host.node_ids))
    if unknown:
        raise RequestError(
            f"instance {name}: unknown NUMA node(s) {_ids(unknown)}; the host has {_ids(host.node_ids)}",
            hint="numa-nodes must name nodes of the host description",
        )
    if len(set(nodes)) != len(nodes):
        raise RequestError(f"instance {name}: numa-nodes lists a node twice ({_list(nodes)})")
    if request.memory_bytes <= 0:
        raise RequestError(
            f"instance {name}: memory must be a positive size, got {request.memory_bytes} bytes",
            hint="give memory like 4GB or memory-bytes = <0x0 0x100000000>",
        )
    policy, affinity = request.memory_policy, request.cpu_affinity
    if policy is MemoryPolicy.BIND and not nodes:
        raise RequestError(
            f"instance {name}: memory-policy bind needs the NUMA nodes to bind to",
            hint="add numa-nodes, or use memory-policy local",
        )
    with_cpus = set(cpu_node_ids(host))
    if affinity is CpuAffinity.LOCAL and len(nodes) > 1:
        raise RequestError(
            f"instance {name}: cpu-affinity local keeps CPUs and memory on one NUMA node, "
            f"but numa-nodes lists {len(nodes)} ({_list(nodes)})",
            hint="list one node, or use cpu-affinity compact",
        )
    if affinity is CpuAffinity.LOCAL and nodes and nodes[0] not in with_cpus:
        raise RequestError(
            f"instance {name}: cpu-affinity local needs CPUs on node {nodes[0]}, which has none",
            hint="memory-only nodes can be reached with memory-policy bind or interleave",
        )
    pinned = _check_pins(host, request)
    if pinned is not None and affinity is CpuAffinity.LOCAL:
        pin_nodes = {host.cpu_by_id[c].numa_node for c in pinned}
        if len(pin_nodes) > 1:
            raise RequestError(
                f"instance {name}: cpu-affinity local, but the pinned CPUs lie on nodes "
                f"{_ids(n for n in pin_nodes if n is not None)}",
                hint="pin CPUs of one node, or use cpu-affinity compact",
            )

    listed = frozenset(nodes)
    preferred = listed if policy is not MemoryPolicy.BIND else frozenset()
    target = frozenset(listed & with_cpus) or frozenset(with_cpus)
    memory_nodes: frozenset[int] | None = None
    if policy is MemoryPolicy.BIND or (policy is MemoryPolicy.INTERLEAVE and listed):
        memory_nodes = listed
    cpu_nodes: frozenset[int] | None = None
    if affinity is CpuAffinity.LOCAL and memory_nodes is not None:
        # local keeps memory on the CPUs' node, so the CPUs must sit on a memory node
        cpu_nodes = frozenset(memory_nodes & with_cpus)
        if not cpu_nodes:
            raise RequestError(
                f"instance {name}: cpu-affinity local, but none of the memory nodes "
                f"{_ids(memory_nodes)} has CPUs",
                hint="use cpu-affinity compact to run on CPUs of another node",
            )
    return Intent(
        request=request,
        size=request.size,
        pages=pages(request.memory_bytes),
        pinned=pinned,
        preferred=preferred,
        spread_target=target,
        cpu_nodes=cpu_nodes,
        memory_nodes=memory_nodes,
        even_memory=policy is MemoryPolicy.INTERLEAVE,
        spread_unit=_spread_unit(host, request, target),
    )


def _spread_unit(host: Host, request: InstanceRequest, target: frozenset[int]) -> int:
    """Threads per spread unit (see Intent): whole cores for exclusive spread requests."""
    if request.cpu_affinity is not CpuAffinity.SPREAD or not request.exclusive_cores:
        return 1
    widths = [
        len(core.cpus)
        for core in host.cores
        if any(c in host.available and host.cpu_by_id[c].numa_node in target for c in core.cpus)
    ]
    return max(widths, default=1)


def _check_pins(host: Host, request: InstanceRequest) -> tuple[int, ...] | None:
    if request.cpus is None:
        return None
    missing = sorted(c for c in request.cpus if c not in host.cpu_by_id)
    if missing:
        raise RequestError(
            f"instance {request.name}: pinned CPU(s) {_ids(missing)} do not exist on this host",
            hint="list CPUs of the host's pool (kerf validate HOST shows it)",
        )
    outside = sorted(c for c in request.cpus if c not in host.available)
    if outside:
        kept = sorted(c for c in outside if c in host.host_reserved)
        what = "are reserved for the host" if kept == outside else "are not in the pool"
        raise RequestError(
            f"instance {request.name}: pinned CPU(s) {_ids(outside)} {what}",
            hint="pin CPUs from the pool, or use cpu-count to let kerf choose",
        )
    unplaceable = sorted(c for c in request.cpus if host.cpu_by_id[c].numa_node not in host.node_by_id)
    if unplaceable:
        raise RequestError(
            f"instance {request.name}: pinned CPU(s) {_ids(unplaceable)} belong to no NUMA node"
        )
    return tuple(request.cpus)


# Requests may name tens of thousands of ids (``--cpus 1-65537``); messages listing them stay
# this short: a few ids one by one, longer lists as capped ranges.
_PLAIN_IDS = 10
_MAX_RANGES = 10


def _list(values: Iterable[int]) -> str:
    """Ids in the given order (duplicates kept, for messages about them), at most
    ``_PLAIN_IDS`` of them and a count of the rest."""
    shown = list(values)
    rest = len(shown) - _PLAIN_IDS
    text = ", ".join(str(v) for v in shown[:_PLAIN_IDS]) or "none"
    return f"{text} and {rest} more" if rest > 0 else text


def _ids(values: Iterable[int]) -> str:
    """A set of ids, ascending: ``4, 5, 9`` when short; otherwise runs as ranges
    (``32-65537``), the first ``_MAX_RANGES`` of them and a count of the ids left out."""
    ordered = sorted(set(values))
    if len(ordered) <= _PLAIN_IDS:
        return _list(ordered)
    runs: list[tuple[int, int]] = []
    for v in ordered:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    parts = [str(a) if a == b else f"{a}, {b}" if b == a + 1 else f"{a}-{b}" for a, b in runs[:_MAX_RANGES]]
    left = sum(b - a + 1 for a, b in runs[_MAX_RANGES:])
    text = ", ".join(parts)
    return f"{text} and {left} more" if left else text


# --- the free state before the plan -------------------------------------------------------


@dataclass(frozen=True)
class Before:
    """What is free before the plan: per-node free CPUs and the fully free units."""

    occupancy: Occupancy
    free_per_node: Mapping[int, int]
    free_nodes: frozenset[int]
    free_groups: frozenset[int]
    group_size: Mapping[int, int]

    @classmethod
    def of(cls, host: Host, fixed: Iterable[Instance]) -> Before:
        """The state of ``host`` with the ``fixed`` instances placed."""
        occ = Occupancy.of(host, fixed)
        nodes = cpu_node_ids(host)
        free_per_node = {n: len(occ.free_cpus_by_node.get(n, ())) for n in nodes}
        pool_per_node = {n: len(host.pool_cpus_of_node(n)) for n in nodes}
        free_nodes = frozenset(n for n in nodes if pool_per_node[n] and free_per_node[n] == pool_per_node[n])
        ranks = group_rank_of_core(host)
        pool_in_group: dict[int, int] = {}
        free_in_group: dict[int, int] = {}
        for core in host.cores:
            if core.id not in ranks:
                continue
            g = ranks[core.id]
            pool_in_group[g] = pool_in_group.get(g, 0) + sum(1 for c in core.cpus if c in host.available)
            free_in_group[g] = free_in_group.get(g, 0) + len(occ.free_threads(core))
        free_groups = frozenset(g for g, n in pool_in_group.items() if n and free_in_group[g] == n)
        return cls(occ, free_per_node, free_nodes, free_groups, free_in_group)

    def fewest_nodes(self, size: int) -> int:
        """m*: the fewest NUMA nodes whose free CPUs could hold ``size`` (largest first)."""
        count, total = 0, 0
        for free in sorted(self.free_per_node.values(), reverse=True):
            if total >= size or free == 0:
                break
            total += free
            count += 1
        return max(count, 1)

    def most_nodes(self, intent: Intent) -> int:
        """k*: how many spread-target nodes with free CPUs the request could touch
        (one spread unit, a CPU or for exclusive cores a whole core, per node)."""
        usable = sum(1 for n in intent.spread_target if self.free_per_node.get(n, 0) > 0)
        return min(-(-intent.size // intent.spread_unit), usable)


# --- evaluation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """Tier values of a plan, compared lexicographically in :data:`TIERS` order."""

    values: tuple[int, ...]

    def named(self) -> dict[str, int]:
        """Tier name -> value."""
        return dict(zip(TIERS, self.values, strict=True))

    def __getitem__(self, tier: str) -> int:
        return self.values[TIER_INDEX[tier]]

    def __lt__(self, other: Score) -> bool:
        return self.values < other.values

    def __le__(self, other: Score) -> bool:
        return self.values <= other.values


def instance_pages_per_node(host: Host, instance: Instance) -> dict[int, int]:
    """NUMA node -> pages of the instance's memory there (regions located by address
    when known, else by their declared node)."""
    per: dict[int, int] = {}
    for region in instance.memory:
        node = region.numa_node
        if region.base is not None:
            node = host.node_of_address(region.base)
        if node is None:
            continue
        per[node] = per.get(node, 0) + pages(region.size)
    return per


@dataclass(frozen=True)
class Moves:
    """How a re-placed instance differs from its previous placement.

    CPUs keep the previous order (the first kept one is the boot CPU when it stays).
    ``pages_left``/``pages_gained``: summed over the nodes, the pages a node holds no
    more / holds in addition; ``pages_released``: what a smaller size gives back in any
    case.
    """

    kept_cpus: tuple[int, ...]
    released_cpus: tuple[int, ...]
    added_cpus: tuple[int, ...]
    boot_cpu: int | None
    pages_left: int
    pages_gained: int
    pages_released: int
    released_units: tuple[str, ...]
    added_units: tuple[str, ...]

    @property
    def boot_kept(self) -> bool:
        """True when the previous boot CPU (if any) is still held."""
        return self.boot_cpu is None or self.boot_cpu in self.kept_cpus

    def tiers(self) -> dict[str, int]:
        """The ``moved_*`` tier values: what changes place, not what a resize adds or
        gives back (a smaller count releases that many CPUs without moving any)."""
        shrink = max(0, len(self.released_cpus) - len(self.added_cpus))
        dropped = max(0, len(self.released_units) - len(self.added_units))
        return {
            "moved_boot": int(not self.boot_kept),
            "moved_cpus": len(self.released_cpus) - shrink,
            "moved_pages": self.pages_left - self.pages_released,
            "moved_units": len(self.released_units) - dropped,
        }

    @property
    def anything_moved(self) -> bool:
        """True when some ``moved_*`` tier is not zero."""
        return any(self.tiers().values())

    @property
    def anything_changed(self) -> bool:
        """True when the instance gave up or gained anything."""
        return bool(
            self.released_cpus
            or self.added_cpus
            or self.pages_left
            or self.pages_gained
            or self.released_units
            or self.added_units
        )

    def as_dict(self) -> dict[str, object]:
        """Plain data for ``Plan.metrics["moves"]``."""
        return {
            "boot_cpu_kept": self.boot_kept,
            "cpus_kept": list(self.kept_cpus),
            "cpus_released": list(self.released_cpus),
            "cpus_added": list(self.added_cpus),
            "pages_released": self.pages_released,
            "pages_added": self.pages_gained - self.pages_left + self.pages_released,
            "units_released": list(self.released_units),
            "units_added": list(self.added_units),
            **self.tiers(),
        }


def moves(host: Host, old: Instance, new: Instance) -> Moves:
    """Compare ``new`` with the ``old`` placement of the same instance."""
    mine = set(new.cpus)
    old_pages = instance_pages_per_node(host, old)
    new_pages = instance_pages_per_node(host, new)
    return Moves(
        kept_cpus=tuple(c for c in old.cpus if c in mine),
        released_cpus=tuple(c for c in old.cpus if c not in mine),
        added_cpus=tuple(c for c in new.cpus if c not in set(old.cpus)),
        boot_cpu=old.cpus[0] if old.cpus else None,
        pages_left=sum(max(0, p - new_pages.get(n, 0)) for n, p in old_pages.items()),
        pages_gained=sum(max(0, p - old_pages.get(n, 0)) for n, p in new_pages.items()),
        pages_released=max(0, sum(old_pages.values()) - sum(new_pages.values())),
        released_units=tuple(u for u in old.devices if u not in new.devices),
        added_units=tuple(u for u in new.devices if u not in old.devices),
    )


def evaluate(
    host: Host,
    fixed: Sequence[Instance],
    requests: Sequence[InstanceRequest],
    placed: Mapping[str, Instance],
    *,
    previous: Mapping[str, Instance] | None = None,
    core_sharing: CoreSharing = CoreSharing.AVOID,
) -> Score:
    """Score a plan.

    ``fixed``: instances the plan did not move (the "before" state); ``requests``: what
    was asked (including, with rebalance, the movable instances as requests);
    ``placed``: request name -> its placement (absent = unplaced); ``previous``:
    re-placed instances (rebalanced or updated) as they were, for the moved tiers;
    ``core_sharing``: what the ``smt`` tier counts (see :class:`CoreSharing`).
    """
    before = Before.of(host, fixed)
    everyone = list(fixed) + list(placed.values())
    after = Occupancy.of(host, everyone)
    ranks = group_rank_of_core(host)
    totals = [0] * len(TIERS)

    def add(tier: str, value: int) -> None:
        totals[TIER_INDEX[tier]] += value

    for request in requests:
        placement = placed.get(request.name)
        if placement is None:
            add("unplaced", 1)
            add("unplaced_cpus", request.size)
            continue
        intent = resolve(host, request)
        terms = _instance_terms(host, before, after, intent, placement, ranks, core_sharing)
        for tier, value in terms.items():
            add(tier, value)
        if previous and request.name in previous:
            for tier, value in moves(host, previous[request.name], placement).tiers().items():
                add(tier, value)

    add("fragmentation", _taken_from_free_units(host, before, after, ranks))
    return Score(tuple(totals))


def _instance_terms(
    host: Host,
    before: Before,
    after: Occupancy,
    intent: Intent,
    inst: Instance,
    ranks: Mapping[int, int],
    core_sharing: CoreSharing = CoreSharing.AVOID,
) -> dict[str, int]:
    cpu_nodes: dict[int, int] = {}
    for cpu in inst.cpus:
        node = host.cpu_by_id[cpu].numa_node
        if node is not None:
            cpu_nodes[node] = cpu_nodes.get(node, 0) + 1
    used = set(cpu_nodes)
    mem_nodes = {n for n, p in instance_pages_per_node(host, inst).items() if p > 0}
    terms: dict[str, int] = {}
    if intent.pinned is None:
        if intent.preferred:
            terms["preference"] = sum(c for n, c in cpu_nodes.items() if n not in intent.preferred)
        if intent.affinity is CpuAffinity.COMPACT:
            terms["numa"] = len(used) - before.fewest_nodes(intent.size)
        elif intent.affinity is CpuAffinity.SPREAD:
            # exclusive spread may use more nodes than k* (one thread per core); the
            # smt tier, not this one, says why that is worse
            terms["numa"] = max(0, before.most_nodes(intent) - len(used & intent.spread_target))
            units = cpu_nodes
            if intent.spread_unit > 1:
                units = {}
                for node, _ in {(host.cpu_by_id[c].numa_node, host.cpu_by_id[c].core) for c in inst.cpus}:
                    if node is not None:
                        units[node] = units.get(node, 0) + 1
            terms["balance"] = max(units.values()) - min(units.values())
        if intent.affinity is not CpuAffinity.SPREAD:
            cores = {host.cpu_by_id[c].core for c in inst.cpus}
            sockets = {host.cpu_by_id[c].socket for c in inst.cpus}
            terms["span"] = len(sockets) + len({ranks[c] for c in cores})
    misses = 0
    for label in inst.devices:
        unit = host.unit_by_label.get(label)
        if unit is not None and unit.numa_node is not None and unit.numa_node not in used:
            misses += 1
    terms["device"] = misses
    terms["distance"] = sum(max(0, host.distance(n, m) - LOCAL) for n in used for m in mem_nodes)
    terms["smt"] = _smt(host, before, after, inst, core_sharing)
    terms["tiebreak"] = sum(ranks[host.cpu_by_id[c].core] for c in inst.cpus)
    return terms


def _smt(host: Host, before: Before, after: Occupancy, inst: Instance, core_sharing: CoreSharing) -> int:
    """avoid: cores shared with another instance + cores held in part; pack: cores
    that were wholly free before the plan (taking them breaks a whole core)."""
    cores = sorted({host.cpu_by_id[c].core for c in inst.cpus})
    if core_sharing is CoreSharing.PACK:
        whole = (host.core_by_id[core_id] for core_id in cores)
        return sum(1 for core in whole if len(before.occupancy.free_threads(core)) == len(core.cpus))
    mine = set(inst.cpus)
    smt = 0
    for core_id in cores:
        core = host.core_by_id[core_id]
        held = [c for c in core.cpus if c in mine]
        if any(after.cpu_owner.get(c, inst.name) != inst.name for c in core.cpus):
            smt += 1
        if len(held) < len(core.cpus):
            smt += 1
    return smt


def _taken_from_free_units(host: Host, before: Before, after: Occupancy, ranks: Mapping[int, int]) -> int:
    """CPUs the plan takes from NUMA nodes and core groups that were completely free."""
    taken = 0
    for node in before.free_nodes:
        taken += before.free_per_node[node] - len(after.free_cpus_by_node.get(node, ()))
    for core in host.cores:
        if core.id in ranks and ranks[core.id] in before.free_groups:
            taken += len(before.occupancy.free_threads(core)) - len(after.free_threads(core))
    return taken


# --- bounds and the scalar form -------------------------------------------------------------


def tier_bounds(
    host: Host, requests: Sequence[InstanceRequest], *, previous: Iterable[Instance] = ()
) -> tuple[int, ...]:
    """An upper bound of every tier over all plans for ``requests`` on ``host``
    (``previous``: the re-placed instances as they were, for the moved tiers).

    The solver uses them as mixed-radix weights when it optimises several tiers in one
    solve, and :func:`scalar` uses them to print one number for a score.
    """
    nodes = cpu_node_ids(host)
    ranks = group_rank_of_core(host)
    groups = len(set(ranks.values())) or 1
    d_max = max(
        (max(0, host.distance(a, b) - LOCAL) for a in host.node_ids for b in host.node_ids), default=0
    )
    bound = dict.fromkeys(TIERS, 0)
    bound["unplaced"] = len(requests)
    for old in previous:
        bound["moved_boot"] += int(bool(old.cpus))
        bound["moved_cpus"] += len(old.cpus)
        bound["moved_pages"] += sum(instance_pages_per_node(host, old).values())
        bound["moved_units"] += len(old.devices)
    for r in requests:
        v = r.size
        bound["unplaced_cpus"] += v
        pinned = r.cpus is not None
        spread = r.cpu_affinity is CpuAffinity.SPREAD
        if not pinned and r.numa_nodes and r.memory_policy is not MemoryPolicy.BIND:
            bound["preference"] += v
        if not pinned and r.cpu_affinity is not CpuAffinity.LOCAL:
            bound["numa"] += len(nodes)
        if not pinned and spread:
            bound["balance"] += v
        bound["device"] += len(r.devices)
        bound["distance"] += min(v, len(nodes)) * len(host.node_ids) * d_max
        if not pinned and not spread:
            bound["span"] += min(v, len(host.sockets)) + min(v, groups)
        bound["smt"] += 2 * v
        bound["tiebreak"] += v * (groups - 1)
    bound["fragmentation"] = 2 * bound["unplaced_cpus"]
    return tuple(bound[t] for t in TIERS)


def scalar(values: Sequence[int], bounds: Sequence[int]) -> int:
    """One number for a score: tiers as digits of a mixed-radix number whose radices
    are ``bound + 1`` (so a smaller scalar is a lexicographically smaller score)."""
    total = 0
    for value, bound in zip(values, bounds, strict=True):
        total = total * (bound + 1) + value
    return total
