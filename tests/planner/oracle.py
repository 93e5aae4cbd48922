"""An exhaustive placement oracle for hosts of at most 12 CPUs (tests only).

It enumerates every CPU set and every memory-node set a request could get, keeps those
that meet the hard rules of docs/planner.md (written here again, independently of the
model), scores each with planner.objective.evaluate and returns the best score. The
planner's plan must score exactly that. For an update (``best_update``) the same
enumeration runs for the new shape, with the previous placement scored by the moved
tiers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import combinations

from planner.hardware import PAGE_SIZE, Host, Instance, MemoryRegion
from planner.memory import free_bytes
from planner.objective import Score, evaluate, instance_pages_per_node, pages, resolve
from planner.occupancy import Occupancy
from planner.policy import CoreSharing, CpuAffinity
from planner.request import InstanceRequest


def _subsets(items: Sequence[int]) -> Iterator[tuple[int, ...]]:
    for k in range(1, len(items) + 1):
        yield from combinations(items, k)


def _split(
    total: int, lows: dict[int, int], highs: dict[int, int], prefer: Mapping[int, int]
) -> dict[int, int] | None:
    """Amounts within [low, high] per node that sum to ``total`` (None if impossible).
    Pages go first to nodes below their ``prefer`` amount: that keeps the most of a
    previous placement (Σ min(previous, new) per node), one page at a time."""
    if any(lows[n] > highs[n] for n in lows) or not sum(lows.values()) <= total <= sum(highs.values()):
        return None
    amounts = dict(lows)
    left = total - sum(lows.values())
    for cap in ({n: min(highs[n], max(lows[n], prefer.get(n, 0))) for n in amounts}, highs):
        for n in sorted(amounts):
            extra = min(left, cap[n] - amounts[n])
            amounts[n] += extra
            left -= extra
    return amounts


def memory_options(
    host: Host,
    request: InstanceRequest,
    cpu_nodes: dict[int, int],
    caps: dict[int, int],
    prefer: Mapping[int, int] | None = None,
) -> list[dict[int, int]]:
    """Every distinct memory-node set the policies allow for these CPU nodes, each with one
    feasible split in pages: the objective only looks at the set, and, for an update, at
    the pages kept on their node (``prefer``: the previous pages per node)."""
    prefer = prefer or {}
    intent = resolve(host, request)
    total, v = intent.pages, intent.size
    cap = {n: caps.get(n, 0) for n in host.node_ids}
    local_affinity = request.cpu_affinity is CpuAffinity.LOCAL
    options: list[dict[int, int]] = []
    if intent.memory_nodes is None and not intent.even_memory:
        lows = {n: max(0, -(-(total * c - (v - 1)) // v)) for n, c in cpu_nodes.items()}
        highs = {n: min(cap[n], (total * c + v - 1) // v) for n, c in cpu_nodes.items()}
        split = _split(total, lows, highs, prefer)
        return [split] if split else []
    if intent.even_memory:
        nodes = sorted(intent.memory_nodes) if intent.memory_nodes is not None else sorted(cpu_nodes)
        if local_affinity and set(nodes) != set(cpu_nodes):
            return []
        low, high = total // len(nodes), -(-total // len(nodes))
        split = _split(total, dict.fromkeys(nodes, low), {n: min(high, cap[n]) for n in nodes}, prefer)
        return [split] if split else []
    listed = sorted(intent.memory_nodes or ())
    for chosen in _subsets(listed):
        if local_affinity and set(chosen) != set(cpu_nodes):
            continue
        split = _split(total, dict.fromkeys(chosen, 1), {n: cap[n] for n in chosen}, prefer)
        if split:
            options.append(split)
    return options


def cpu_options(
    host: Host, existing: Sequence[Instance], request: InstanceRequest, forbidden: set[int]
) -> Iterator[tuple[int, ...]]:
    """CPU sets that meet the CPU rules (pool, free, exclusive cores, local, pins);
    ``forbidden`` cores hold CPUs pinned by another request placed in the same plan,
    and the rules leave them to it."""
    intent = resolve(host, request)
    occ = Occupancy.of(host, existing)
    exclusive_owners = {i.name for i in existing if i.exclusive_cores}
    usable = []
    for cpu in sorted(occ.free_cpus):
        core = host.core_by_id[host.cpu_by_id[cpu].core]
        owners = occ.core_owners(core)
        if owners & exclusive_owners or (request.exclusive_cores and owners):
            continue
        if request.cpus is None and core.id in forbidden:
            continue
        usable.append(cpu)
    if intent.pinned is not None:
        fits = set(intent.pinned) <= set(usable)
        sets: Iterator[tuple[int, ...]] = iter([intent.pinned] if fits else [])
    else:
        sets = combinations(usable, intent.size)
    for cpus in sets:
        nodes = {host.cpu_by_id[c].numa_node for c in cpus}
        if request.cpu_affinity is CpuAffinity.LOCAL and len(nodes) != 1:
            continue
        if intent.cpu_nodes is not None and not nodes <= intent.cpu_nodes:
            continue
        yield cpus


def candidates(
    host: Host,
    existing: Sequence[Instance],
    request: InstanceRequest,
    caps: dict[int, int],
    forbidden: set[int] | None = None,
) -> Iterator[Instance]:
    """Every placement of ``request`` the rules allow (devices: lowest free units)."""
    occ = Occupancy.of(host, existing)
    devices = []
    for want in request.devices:
        if want.is_specific:
            if want.text in occ.unit_owner or want.text not in host.unit_by_label:
                return
            devices.append(want.text)
        else:
            kind = "vf" if want.kind == "any-vf" else "namespace"
            free = [u.label for u in occ.free_units_of(want.device, kind) if u.label not in devices]
            if not free:
                return
            devices.append(free[0])
    for cpus in cpu_options(host, existing, request, forbidden or set()):
        per_node: dict[int, int] = {}
        for c in cpus:
            node = host.cpu_by_id[c].numa_node
            assert node is not None
            per_node[node] = per_node.get(node, 0) + 1
        for split in memory_options(host, request, per_node, caps):
            regions = tuple(MemoryRegion(p * PAGE_SIZE, None, n) for n, p in sorted(split.items()) if p)
            yield Instance(request.name, cpus, regions, tuple(devices))


def free_pages(host: Host, existing: Sequence[Instance]) -> dict[int, int]:
    """Free pool pages per node."""
    return {n: b // PAGE_SIZE for n, b in free_bytes(host, existing).items()}


def best_single(
    host: Host,
    existing: Sequence[Instance],
    request: InstanceRequest,
    core_sharing: CoreSharing = CoreSharing.AVOID,
) -> Score:
    """The optimal score for one request (the empty plan when nothing fits)."""
    caps = free_pages(host, existing)
    best = evaluate(host, existing, [request], {}, core_sharing=core_sharing)
    for inst in candidates(host, existing, request, caps):
        score = evaluate(host, existing, [request], {request.name: inst}, core_sharing=core_sharing)
        best = min(best, score, key=lambda s: s.values)
    return best


def _pinned_cores(host: Host, request: InstanceRequest) -> set[int]:
    return {host.cpu_by_id[c].core for c in request.cpus or ()}


def _compatible(host: Host, a: Instance, b: Instance, ra: InstanceRequest, rb: InstanceRequest) -> bool:
    if set(a.cpus) & set(b.cpus) or set(a.devices) & set(b.devices):
        return False

    if ra.exclusive_cores or rb.exclusive_cores:
        cores_a = {host.cpu_by_id[c].core for c in a.cpus}
        if cores_a & {host.cpu_by_id[c].core for c in b.cpus}:
            return False
    return True


def _memory_fits(a: Instance, b: Instance, caps: dict[int, int]) -> bool:
    used: dict[int, int] = {}
    for region in (*a.memory, *b.memory):
        assert region.numa_node is not None
        used[region.numa_node] = used.get(region.numa_node, 0) + pages(region.size)
    return all(p <= caps.get(n, 0) for n, p in used.items())


def best_pair(
    host: Host,
    existing: Sequence[Instance],
    ra: InstanceRequest,
    rb: InstanceRequest,
    core_sharing: CoreSharing = CoreSharing.AVOID,
) -> Score:
    """The optimal score for two requests placed jointly (SMT of at most 2, memory
    splits taken as enumerated: keep memory small so that it never binds)."""
    caps = free_pages(host, existing)
    requests = [ra, rb]

    def score_of(placed: dict[str, Instance]) -> Score:
        return evaluate(host, existing, requests, placed, core_sharing=core_sharing)

    best = score_of({})
    # alone, a request may use the cores the other one pins (that one is left out)
    for a in candidates(host, existing, ra, caps):
        best = min(best, score_of({ra.name: a}), key=lambda s: s.values)
    for b in candidates(host, existing, rb, caps):
        best = min(best, score_of({rb.name: b}), key=lambda s: s.values)
    options_a = list(candidates(host, existing, ra, caps, _pinned_cores(host, rb)))
    options_b = list(candidates(host, existing, rb, caps, _pinned_cores(host, ra)))
    for a in options_a:
        for b in options_b:
            if _compatible(host, a, b, ra, rb) and _memory_fits(a, b, caps):
                score = score_of({ra.name: a, rb.name: b})
                best = min(best, score, key=lambda s: s.values)
    return best


def update_candidates(
    host: Host, others: Sequence[Instance], current: Instance, request: InstanceRequest, caps: dict[int, int]
) -> Iterator[Instance]:
    """Every placement of ``request``, the new shape of ``current``, that the rules allow
    next to ``others``; memory split to keep the most pages on their node, an "any unit"
    want served by a unit ``current`` holds when it can (else the lowest free one)."""
    occ = Occupancy.of(host, others)
    named = {want.text for want in request.devices if want.is_specific}
    devices: list[str] = []
    for want in request.devices:
        if want.is_specific:
            if want.text in occ.unit_owner or want.text not in host.unit_by_label:
                return
            devices.append(want.text)
            continue
        kind = "vf" if want.kind == "any-vf" else "namespace"
        taken = named | set(devices)
        free = [u.label for u in occ.free_units_of(want.device, kind) if u.label not in taken]
        if not free:
            return
        devices.append(next((u for u in free if u in current.devices), free[0]))
    old_pages = instance_pages_per_node(host, current)
    for cpus in cpu_options(host, others, request, set()):
        per_node: dict[int, int] = {}
        for c in cpus:
            node = host.cpu_by_id[c].numa_node
            assert node is not None
            per_node[node] = per_node.get(node, 0) + 1
        for split in memory_options(host, request, per_node, caps, prefer=old_pages):
            regions = tuple(MemoryRegion(p * PAGE_SIZE, None, n) for n, p in sorted(split.items()) if p)
            yield Instance(request.name, cpus, regions, tuple(devices))


def best_update(
    host: Host,
    others: Sequence[Instance],
    current: Instance,
    request: InstanceRequest,
    core_sharing: CoreSharing = CoreSharing.AVOID,
) -> Score:
    """The optimal score for giving ``current`` the new shape ``request`` (the other
    instances fixed): fewest moved first, then quality, by planner.objective."""
    caps = free_pages(host, others)
    previous = {current.name: current}
    best = evaluate(host, others, [request], {}, previous=previous, core_sharing=core_sharing)
    for inst in update_candidates(host, others, current, request, caps):
        placed = {request.name: inst}
        score = evaluate(host, others, [request], placed, previous=previous, core_sharing=core_sharing)
        best = min(best, score, key=lambda s: s.values)
    return best
