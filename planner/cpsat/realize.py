"""Turning the solver's counts into concrete CPUs, memory regions and device units.

Everything here is deterministic: inside a core class the lowest core ids are used
first, threads are taken lowest id first, memory is carved by planner.memory (best-fit
range, lowest address), and "any VF" wants get the lowest free unit.

An instance being re-placed (rebalance, update) keeps what it can: its own threads
first (its boot CPU first of all), its memory regions as far as their node keeps
pages, its former units for "any unit" wants; its CPUs are listed kept ones first, in
their old order, so that a kept boot CPU stays first. The model counts what is kept by
exactly these rules (``CoreClass.kept``, ``Demand.kept_units``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner.cpsat.model import is_big
from planner.cpsat.search import Solution
from planner.cpsat.spec import CoreClass, Demand, ModelSpec
from planner.errors import PlanInvalidError
from planner.hardware import PAGE_SIZE, Host, Instance, MemoryRegion
from planner.memory import allocate_regions
from planner.occupancy import Occupancy


@dataclass(frozen=True)
class _Piece:
    demand: Demand
    threads: int


def realize(spec: ModelSpec, solution: Solution) -> dict[int, Instance]:
    """Demand index -> its placed Instance, for every admitted demand."""
    occ = Occupancy.of(spec.host, spec.fixed)
    cpus = _assign_cpus(spec, solution, occ)
    devices = _assign_devices(spec, solution)
    regions = _assign_memory(spec, solution)
    placed: dict[int, Instance] = {}
    for d in spec.demands:
        if d.index not in solution.admitted:
            continue
        request = d.intent.request
        pinned = d.intent.pinned
        chosen = tuple(pinned) if pinned is not None else _ordered(d, cpus.get(d.index, ()))
        if len(chosen) != d.size:
            raise PlanInvalidError(f"{d.name}: the solution gives {len(chosen)} CPUs for {d.size} asked")
        memory = regions[d.index]
        nodes = request.numa_nodes or _nodes_of(spec.host, chosen, memory)
        placed[d.index] = Instance(
            name=d.name,
            cpus=chosen,
            memory=memory,
            devices=devices.get(d.index, ()),
            id=request.id,
            numa_nodes=tuple(nodes),
            cpu_affinity=request.cpu_affinity,
            memory_policy=request.memory_policy,
            exclusive_cores=request.exclusive_cores,
        )
    return placed


def _ordered(d: Demand, cpus: Sequence[int]) -> tuple[int, ...]:
    """Ascending, or for a re-placed demand: the CPUs it keeps in their old order (the
    boot CPU first when it stays), then the new ones ascending."""
    if d.previous is None:
        return tuple(sorted(cpus))
    mine = set(cpus)
    kept = [c for c in d.previous.cpus if c in mine]
    return (*kept, *sorted(mine - set(kept)))


def _nodes_of(host: Host, cpus: Sequence[int], memory: Sequence[MemoryRegion]) -> tuple[int, ...]:
    nodes = {host.cpu_by_id[c].numa_node for c in cpus} | {r.numa_node for r in memory}
    return tuple(sorted(n for n in nodes if n is not None))


# --- CPUs --------------------------------------------------------------------------------


def _assign_cpus(spec: ModelSpec, solution: Solution, occ: Occupancy) -> dict[int, list[int]]:
    by_class: dict[int, list[_Piece]] = {}
    for (d, k, t), count in sorted(solution.pieces.items()):
        by_class.setdefault(k, []).extend([_Piece(spec.demands[d], t)] * count)
    result: dict[int, list[int]] = {}
    for k, pieces in sorted(by_class.items()):
        for core, occupants in _pack(spec.classes[k], pieces).items():
            _take_threads(spec, core, occupants, occ, result)
    return result


def _pack(cls: CoreClass, pieces: list[_Piece]) -> dict[int, list[_Piece]]:
    """Cores of the class -> pieces on them: big pieces alone, small pieces of
    different demands paired only when the class runs out of cores."""
    big = sorted(
        (p for p in pieces if is_big(cls, p.demand, p.threads)), key=lambda p: (p.demand.index, -p.threads)
    )
    small = [p for p in pieces if not is_big(cls, p.demand, p.threads)]
    if len(big) > cls.count:
        raise PlanInvalidError(f"class {cls.index}: {len(big)} whole-core pieces for {cls.count} cores")
    cores = list(cls.cores)
    placed: dict[int, list[_Piece]] = {core: [p] for core, p in zip(cores, big, strict=False)}
    rest = cores[len(big) :]
    if small:
        counts: dict[int, int] = {}
        for p in small:
            counts[p.demand.index] = counts.get(p.demand.index, 0) + 1
        # a demand's pieces stay contiguous so that "i mod cores" never doubles one up
        order = sorted(small, key=lambda p: (-counts[p.demand.index], p.demand.index, -p.threads))
        if not rest or max(counts.values()) > len(rest) or len(order) > 2 * len(rest):
            raise PlanInvalidError(f"class {cls.index}: the pieces do not pack into its cores")
        for i, piece in enumerate(order):
            placed.setdefault(rest[i % len(rest)], []).append(piece)
    return placed


def _take_threads(
    spec: ModelSpec, core_id: int, occupants: list[_Piece], occ: Occupancy, result: dict[int, list[int]]
) -> None:
    core = spec.host.core_by_id[core_id]
    free = list(occ.free_threads(core))
    former = {p.demand.index: _former_threads(p.demand, core.cpus) for p in occupants}
    boots = {p.demand.boot_cpu for p in occupants}
    # The demand that held more threads here chooses first. Each takes its own former
    # threads (its boot CPU first), then threads no occupant held, then another's (a
    # boot CPU last): with at most two demands per core, each keeps min(held, taken).
    for piece in sorted(occupants, key=lambda p: (-len(former[p.demand.index]), p.demand.index)):
        me = piece.demand
        others = {c for i, cs in former.items() if i != me.index for c in cs}
        ordered = sorted(
            free, key=lambda c: (c not in former[me.index], c != me.boot_cpu, c in others, c in boots, c)
        )
        taken = ordered[: piece.threads]
        if len(taken) < piece.threads:
            raise PlanInvalidError(f"core {core_id}: not enough free threads for {me.name}")
        for c in taken:
            free.remove(c)
        result.setdefault(me.index, []).extend(taken)


def _former_threads(d: Demand, threads: Sequence[int]) -> frozenset[int]:
    """The threads among ``threads`` that a re-placed demand held before."""
    if d.previous is None:
        return frozenset()
    return frozenset(c for c in d.previous.cpus if c in threads)


# --- devices -------------------------------------------------------------------------------


def _assign_devices(spec: ModelSpec, solution: Solution) -> dict[int, tuple[str, ...]]:
    named = {dev.unit for d in spec.demands if d.index in solution.admitted for dev in d.devices if dev.unit}
    spare = {device: [u for u in units if u not in named] for device, units in spec.device_free.items()}
    named_anywhere = {dev.unit for d in spec.demands for dev in d.devices if dev.unit is not None}
    result: dict[int, tuple[str, ...]] = {}
    admitted = [d for d in spec.demands if d.index in solution.admitted]
    # re-placed demands first: an "any unit" want keeps a former unit that no demand
    # names (the count the model has as Demand.kept_units), else takes the lowest
    for d in sorted(admitted, key=lambda d: (d.previous is None, d.index)):
        former = set(d.previous.devices) - named_anywhere if d.previous is not None else set()
        chosen = []
        for dev in d.devices:
            if dev.unit is not None:
                chosen.append(dev.unit)
                continue
            units = spare.get(dev.device, [])
            if not units:
                raise PlanInvalidError(f"{d.name}: no free unit of {dev.device} left")
            unit = next((u for u in units if u in former), units[0])
            units.remove(unit)
            chosen.append(unit)
        result[d.index] = tuple(chosen)
    return result


# --- memory --------------------------------------------------------------------------------


def _assign_memory(spec: ModelSpec, solution: Solution) -> dict[int, tuple[MemoryRegion, ...]]:
    host = spec.host
    per_demand: dict[int, dict[int, int]] = {}
    for (index, n), pages in solution.mem.items():
        per_demand.setdefault(index, {})[n] = pages * PAGE_SIZE
    kept = {
        d.index: _kept_regions(host, d, per_demand.get(d.index, {}))
        for d in spec.demands
        if d.previous is not None and d.index in solution.admitted
    }
    taken: list[Instance] = list(spec.fixed)
    taken += [Instance(f"kept:{i}", (), regions) for i, regions in kept.items()]
    result: dict[int, tuple[MemoryRegion, ...]] = {}
    for d in spec.demands:
        if d.index not in solution.admitted:
            continue
        wanted = dict(per_demand.get(d.index, {}))
        own = kept.get(d.index, ())
        for region in own:
            if region.numa_node is not None:
                wanted[region.numa_node] -= region.size
        regions = allocate_regions(host, taken, {n: b for n, b in wanted.items() if b > 0})
        if regions is None:
            raise PlanInvalidError(f"{d.name}: the memory chosen by the solver does not fit the free ranges")
        result[d.index] = tuple(sorted(own + regions, key=lambda r: (r.numa_node or 0, r.base or 0)))
        taken.append(Instance(f"new:{d.index}", (), regions))
    return result


def _kept_regions(host: Host, d: Demand, new_bytes: Mapping[int, int]) -> tuple[MemoryRegion, ...]:
    """The part of a re-placed instance's memory that stays where it is: its regions,
    lowest address first, as far as their node keeps bytes (a region known only by its
    node, not its address, stays as such)."""
    prev = d.previous
    if prev is None:
        return ()
    left = dict(new_bytes)
    kept: list[MemoryRegion] = []
    for region in sorted(prev.memory, key=lambda r: (r.base is None, r.base or 0)):
        node = region.numa_node if region.base is None else host.node_of_address(region.base)
        if node is None or left.get(node, 0) <= 0:
            continue
        size = min(region.size, left[node])
        kept.append(MemoryRegion(size, region.base, node))
        left[node] -= size
    return tuple(kept)
