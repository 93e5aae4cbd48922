"""The request sequences S1-S7 (placement-anchors §8.2), seeded and reproducible.

A :class:`Scenario` is a list of events for one host and one seed: arrivals (one
request, or a gang arriving together), departures by name, and for S3 the "punch"
that removes instances by a rule evaluated on the contender's own host state. The
random generator is seeded with a string naming the topology, the sequence and the
seed, so a scenario is the same on every machine and in every run.

Keys (one scenario each): ``S1`` fill to rejection; ``S2-0.6`` / ``S2-0.8`` /
``S2-0.95`` steady churn at an offered load; ``S3`` / ``S3-arrival`` adversarial
fragmentation (holes punched by position / by arrival order);
``S4-asc`` / ``S4-desc`` one multiset in both size orders; ``S5`` device locality;
``S6-huawei`` / ``S6-azure`` trace-like replay; ``S7`` gangs.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from benchmarks.topologies import Topology
from benchmarks.traces import AZURE_PACKING_2020, HUAWEI_EAST_1, TraceTable
from benchmarks.workload import HostView, draw_request, draw_size, mean_size
from planner.hardware import Host, Instance
from planner.policy import CpuAffinity
from planner.request import InstanceRequest


@dataclass(frozen=True)
class Arrive:
    """Requests arriving at one instant (a gang when more than one).

    ``measured``: counted in the statistics (False for warm-up and set-up arrivals);
    ``phase``: which part of the sequence it belongs to (S3, S5, S7)."""

    requests: tuple[InstanceRequest, ...]
    measured: bool = True
    phase: str = ""


@dataclass(frozen=True)
class Depart:
    """An instance leaves (a no-op when it was never admitted)."""

    name: str


@dataclass(frozen=True)
class Punch:
    """S3's hole punching in a host filled with 1-vCPU instances named ``prefix`` + number.

    Every instance on a core of odd rank (cores in ascending id order) goes, and "every
    second one" of the rest: with ``by_arrival``, the instances whose arrival number has
    the parity ``offset``; otherwise, by position, on every even-rank core with several
    threads the instance on thread ``offset`` of the core. By position, every
    contender is left with the same free CPUs (odd cores whole, one stranded thread on
    each even SMT core); by arrival, what is freed depends on how the contender filled
    the host (see benchmarks/README.md).
    """

    prefix: str
    offset: int
    by_arrival: bool

    def victims(self, host: Host, alive: Mapping[str, Instance]) -> list[str]:
        """Names of the instances in ``alive`` that the punch removes."""
        rank = {core.id: i for i, core in enumerate(sorted(host.cores, key=lambda c: c.id))}
        victims = []
        for name, inst in alive.items():
            cores = [host.core_by_id[host.cpu_by_id[c].core] for c in inst.cpus]
            if any(rank[core.id] % 2 == 1 for core in cores):
                victims.append(name)
            elif self.by_arrival:
                number = name[len(self.prefix) :]
                if name.startswith(self.prefix) and number.isdigit() and int(number) % 2 == self.offset:
                    victims.append(name)
            elif any(
                len(core.cpus) > 1 and core.cpus[self.offset % len(core.cpus)] in inst.cpus for core in cores
            ):
                victims.append(name)
        return victims


Event = Arrive | Depart | Punch


@dataclass(frozen=True)
class Scenario:
    """One sequence on one host for one seed."""

    key: str
    sequence: str
    seed: int
    events: tuple[Event, ...]
    stop_after_rejections: int | None = None

    @property
    def arrivals(self) -> Iterator[Arrive]:
        """The arrival events, in order."""
        return (e for e in self.events if isinstance(e, Arrive))


@dataclass(frozen=True)
class Lengths:
    """How long the open-ended sequences are (the quick run shortens them)."""

    churn_events: int = 2000
    churn_warmup: int = 500
    trace_events: int = 1000
    trace_warmup: int = 250
    gangs: int = 3
    fill_factor: float = 3.0
    ordering_factor: float = 1.5


QUICK_LENGTHS = Lengths(
    churn_events=240, churn_warmup=60, trace_events=200, trace_warmup=50, gangs=2, fill_factor=2.0
)

SEQUENCES: dict[str, str] = {
    "S1": "fill to rejection",
    "S2": "steady churn",
    "S3": "adversarial fragmentation",
    "S4": "size ordering",
    "S5": "device locality",
    "S6": "trace-like replay",
    "S7": "gangs",
}
CHURN_LOADS = (0.6, 0.8, 0.95)
TRACE_LOAD = 0.85
REJECTION_RUN = 10


def _rng(topology: Topology, key: str, seed: int) -> random.Random:
    return random.Random(f"{topology.id}/{key}/{seed}")


def _name(prefix: str, index: int) -> str:
    return f"{prefix}{index:04d}"


def fill_to_rejection(topology: Topology, host: Host, seed: int, lengths: Lengths) -> list[Scenario]:
    """S1: arrivals only, in random order, until 10 rejections in a row."""
    view = HostView.of(topology, host)
    rng = _rng(topology, "S1", seed)
    events: list[Event] = []
    offered = 0
    # Enough arrivals that even a small host sees its run of rejections.
    while offered < lengths.fill_factor * view.pool_cpus or len(events) < 3 * REJECTION_RUN:
        request = draw_request(rng, view, _name("r", len(events)))
        offered += request.size
        events.append(Arrive((request,)))
    return [Scenario("S1", "S1", seed, tuple(events), stop_after_rejections=REJECTION_RUN)]


def _open_system(
    view: HostView,
    rng: random.Random,
    rate: float,
    make: Callable[[int], tuple[InstanceRequest, float]],
    events: int,
    warmup: int,
) -> tuple[Event, ...]:
    """Poisson arrivals of ``rate`` with the lifetimes ``make`` returns, merged with
    their departures in time order; the first ``warmup`` events are not measured."""
    timeline: list[tuple[float, int, Event]] = []
    clock, tiebreak, index = 0.0, 0, 0
    departures: list[tuple[float, int, str]] = []
    while len(timeline) < events:
        clock += rng.expovariate(rate)
        while departures and departures[0][0] <= clock and len(timeline) < events:
            when, tb, name = heapq.heappop(departures)
            timeline.append((when, tb, Depart(name)))
        if len(timeline) >= events:
            break
        request, lifetime = make(index)
        index += 1
        tiebreak += 1
        timeline.append((clock, tiebreak, Arrive((request,), measured=len(timeline) >= warmup)))
        tiebreak += 1
        heapq.heappush(departures, (clock + lifetime, tiebreak, request.name))
    return tuple(event for _, _, event in timeline)


def steady_churn(topology: Topology, host: Host, seed: int, lengths: Lengths) -> list[Scenario]:
    """S2: Poisson arrivals with lognormal lifetimes (mean 1) at offered loads 0.6,
    0.8 and 0.95 of the pool's CPUs."""
    view = HostView.of(topology, host)
    sigma = 1.0
    scenarios = []
    for load in CHURN_LOADS:
        key = f"S2-{load:g}"
        rng = _rng(topology, key, seed)
        rate = load * view.pool_cpus / mean_size(view)

        def make(i: int, rng: random.Random = rng) -> tuple[InstanceRequest, float]:
            lifetime = rng.lognormvariate(-sigma * sigma / 2, sigma)
            return draw_request(rng, view, _name("c", i)), lifetime

        events = _open_system(view, rng, rate, make, lengths.churn_events, lengths.churn_warmup)
        scenarios.append(Scenario(key, "S2", seed, events))
    return scenarios


def adversarial_fragmentation(topology: Topology, host: Host, seed: int, lengths: Lengths) -> list[Scenario]:
    """S3: fill the pool with 1-vCPU compact instances, punch holes (every instance on
    an odd core and every second one of the rest), then ask for NUMA-sized instances
    (a quarter of the nodes' worth) and then for whole-core-only ones (more than the
    whole free cores could hold). Every phase is measured: an allocator that cannot
    fill the pool (Slurm gives each 1-vCPU instance a whole core) must not be credited
    with the room it never used; the report also shows the phases apart. ``S3``
    punches by position, ``S3-arrival`` by arrival order."""
    view = HostView.of(topology, host)
    rng = _rng(topology, "S3", seed)
    fill: list[Event] = []
    for i in range(view.pool_cpus):
        request = draw_request(
            rng,
            view,
            _name("f", i),
            size=1,
            affinity=CpuAffinity.COMPACT,
            exclusive=False,
            policies=False,
            device=False,
        )
        fill.append(Arrive((request,), phase="fill"))
    tail: list[Event] = []
    for n in range(max(1, -(-len(view.nodes) // 4))):
        request = draw_request(
            rng,
            view,
            _name("n", n),
            size=view.node_cpus,
            affinity=CpuAffinity.COMPACT,
            exclusive=False,
            policies=False,
            device=False,
        )
        tail.append(Arrive((request,), phase="numa"))
    width = max(len(core.cpus) for core in host.cores)
    for k in range(max(1, len(host.cores) // 2)):
        size = width * rng.choice((1, 2))
        request = draw_request(
            rng, view, _name("w", k), size=size, exclusive=True, policies=False, device=False
        )
        tail.append(Arrive((request,), phase="core"))
    offset = seed % 2
    return [
        Scenario("S3", "S3", seed, (*fill, Punch("f", offset, by_arrival=False), *tail)),
        Scenario("S3-arrival", "S3", seed, (*fill, Punch("f", offset, by_arrival=True), *tail)),
    ]


def size_ordering(topology: Topology, host: Host, seed: int, lengths: Lengths) -> list[Scenario]:
    """S4: one multiset of requests (1.5x the pool), offered in ascending and in
    descending size order."""
    view = HostView.of(topology, host)
    rng = _rng(topology, "S4", seed)
    requests: list[InstanceRequest] = []
    while sum(r.size for r in requests) < lengths.ordering_factor * view.pool_cpus or len(requests) < 12:
        requests.append(draw_request(rng, view, _name("o", len(requests))))
    ascending = sorted(requests, key=lambda r: (r.size, r.name))
    descending = sorted(requests, key=lambda r: (-r.size, r.name))
    return [
        Scenario("S4-asc", "S4", seed, tuple(Arrive((r,)) for r in ascending)),
        Scenario("S4-desc", "S4", seed, tuple(Arrive((r,)) for r in descending)),
    ]


def device_locality(topology: Topology, host: Host, seed: int, lengths: Lengths) -> list[Scenario]:
    """S5: CPU-only requests (60% of the pool) first, then requests for a unit of the
    device that lives on one node. Hosts with a single CPU node have no locality to
    lose and get no S5."""
    view = HostView.of(topology, host)
    if len(view.nodes) < 2 or view.device_want is None:
        return []
    rng = _rng(topology, "S5", seed)
    events: list[Event] = []
    offered = 0
    while offered < 0.6 * view.pool_cpus:
        request = draw_request(rng, view, _name("p", len(events)), device=False)
        offered += request.size
        events.append(Arrive((request,), measured=False, phase="cpu"))
    device = next(d for d in host.devices if view.device_want.startswith(f"{d.name}_"))
    for i in range(len(device.units())):
        size = draw_size(rng, view, largest=8)
        request = draw_request(
            rng, view, _name("d", i), size=size, affinity=CpuAffinity.COMPACT, policies=False, device=True
        )
        events.append(Arrive((request,), phase="device"))
    return [Scenario("S5", "S5", seed, tuple(events))]


def trace_replay(topology: Topology, host: Host, seed: int, lengths: Lengths) -> list[Scenario]:
    """S6: Poisson arrivals at load 0.85 with sizes and lifetimes from a published
    workload (see :mod:`benchmarks.traces`); the other request fields follow §8.2."""
    view = HostView.of(topology, host)
    scenarios = []
    for table in (HUAWEI_EAST_1, AZURE_PACKING_2020):
        key = f"S6-{table.key}"
        rng = _rng(topology, key, seed)
        rate = (
            TRACE_LOAD
            * view.pool_cpus
            / (table.mean_size(view.pool_cpus, view.server) * table.mean_lifetime())
        )

        def make(
            i: int, rng: random.Random = rng, table: TraceTable = table
        ) -> tuple[InstanceRequest, float]:
            size = table.draw_size(rng, view.pool_cpus, view.server)
            return draw_request(rng, view, _name("t", i), size=size), table.draw_lifetime(rng)

        events = _open_system(view, rng, rate, make, lengths.trace_events, lengths.trace_warmup)
        scenarios.append(Scenario(key, "S6", seed, events))
    return scenarios


def gangs(topology: Topology, host: Host, seed: int, lengths: Lengths) -> list[Scenario]:
    """S7: a background load of 30% of the pool, then gangs of 8-24 requests (one of
    24 on hosts big enough) arriving at one instant; each gang leaves before the next."""
    view = HostView.of(topology, host)
    rng = _rng(topology, "S7", seed)
    events: list[Event] = []
    offered = 0
    while offered < 0.3 * view.pool_cpus:
        request = draw_request(rng, view, _name("b", len(events)), device=False)
        offered += request.size
        events.append(Arrive((request,), measured=False, phase="background"))
    largest_gang = max(2, min(24, view.pool_cpus // 2))
    counts = [largest_gang] + [
        rng.randint(min(8, largest_gang), largest_gang) for _ in range(lengths.gangs - 1)
    ]
    rng.shuffle(counts)
    member_size = max(1, view.node_cpus // 2)
    for g, count in enumerate(counts):
        members = tuple(
            draw_request(
                rng,
                view,
                f"g{g}m{m:02d}",
                size=draw_size(rng, view, largest=member_size),
                device=False,
            )
            for m in range(count)
        )
        events.append(Arrive(members, phase="gang"))
        events += [Depart(member.name) for member in members]
    return [Scenario("S7", "S7", seed, tuple(events))]


GENERATORS: dict[str, Callable[[Topology, Host, int, Lengths], list[Scenario]]] = {
    "S1": fill_to_rejection,
    "S2": steady_churn,
    "S3": adversarial_fragmentation,
    "S4": size_ordering,
    "S5": device_locality,
    "S6": trace_replay,
    "S7": gangs,
}


def scenarios(topology: Topology, sequence: str, seed: int, lengths: Lengths = Lengths()) -> list[Scenario]:
    """The scenarios of one sequence (``S1``...``S7``) on ``topology`` for ``seed``."""
    key = sequence.strip().upper()
    if key not in GENERATORS:
        raise KeyError(f"unknown sequence {sequence!r}; known: {', '.join(GENERATORS)}")
    return GENERATORS[key](topology, topology.host(seed), seed, lengths)


def offered_cpus(scenario: Scenario) -> int:
    """CPUs asked for by the measured arrivals."""
    return sum(r.size for a in scenario.arrivals if a.measured for r in a.requests)
