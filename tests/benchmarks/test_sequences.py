"""Request sequences: reproducible for a seed, and shaped as the proposal says."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.sequences import (
    GENERATORS,
    QUICK_LENGTHS,
    Arrive,
    Depart,
    Lengths,
    Punch,
    offered_cpus,
    scenarios,
)
from benchmarks.topologies import topology
from benchmarks.traces import TRACES
from benchmarks.workload import HostView, draw_request, size_classes
from planner.hardware import Instance
from planner.policy import CpuAffinity, MemoryPolicy


@pytest.mark.parametrize("sequence", list(GENERATORS))
def test_same_seed_same_scenario_other_seed_other_scenario(sequence: str) -> None:
    t4 = topology("T4")
    first = scenarios(t4, sequence, 3, QUICK_LENGTHS)
    again = scenarios(t4, sequence, 3, QUICK_LENGTHS)
    other = scenarios(t4, sequence, 4, QUICK_LENGTHS)
    assert first == again
    assert [s.events for s in first] != [s.events for s in other]


def test_keys_of_every_sequence() -> None:
    t4 = topology("T4")
    keys = [s.key for seq in GENERATORS for s in scenarios(t4, seq, 0, QUICK_LENGTHS)]
    assert keys == [
        "S1",
        "S2-0.6",
        "S2-0.8",
        "S2-0.95",
        "S3",
        "S3-arrival",
        "S4-asc",
        "S4-desc",
        "S5",
        "S6-huawei",
        "S6-azure",
        "S7",
    ]


def test_churn_has_the_asked_length_and_warm_up() -> None:
    lengths = Lengths(churn_events=400, churn_warmup=100)
    for scenario in scenarios(topology("T5"), "S2", 0, lengths):
        assert len(scenario.events) == 400
        arrivals = [(i, e) for i, e in enumerate(scenario.events) if isinstance(e, Arrive)]
        assert all(e.measured == (i >= 100) for i, e in arrivals)
        names = {r.name for _, e in arrivals for r in e.requests}
        departures = [e.name for e in scenario.events if isinstance(e, Depart)]
        assert departures and set(departures) <= names


def test_heavier_load_offers_more() -> None:
    s = {x.key: offered_cpus(x) for x in scenarios(topology("T4"), "S2", 1)}
    assert s["S2-0.6"] < s["S2-0.95"]


def test_ordering_offers_one_multiset_both_ways() -> None:
    asc, desc = scenarios(topology("T7"), "S4", 2)
    sizes_up = [e.requests[0].size for e in asc.arrivals]
    sizes_down = [e.requests[0].size for e in desc.arrivals]
    assert sizes_up == sorted(sizes_up) and sizes_down == sorted(sizes_down, reverse=True)
    assert Counter(r.name for e in asc.arrivals for r in e.requests) == Counter(
        r.name for e in desc.arrivals for r in e.requests
    )


def test_fragmentation_fills_punches_then_asks_for_big_and_whole_core() -> None:
    t4 = topology("T4")
    by_position, by_arrival = scenarios(t4, "S3", 0)
    fill = [e for e in by_position.arrivals if e.phase == "fill"]
    assert len(fill) == 80 and all(e.requests[0].size == 1 and e.measured for e in fill)
    assert isinstance(by_position.events[80], Punch) and not by_position.events[80].by_arrival
    assert isinstance(by_arrival.events[80], Punch) and by_arrival.events[80].by_arrival
    numa = [e.requests[0] for e in by_position.arrivals if e.phase == "numa"]
    core = [e.requests[0] for e in by_position.arrivals if e.phase == "core"]
    assert [r.size for r in numa] == [20]
    assert core and all(r.exclusive_cores and r.size in (2, 4) for r in core)


def test_punch_by_position_leaves_odd_cores_whole_and_strands_one_thread_per_even_core() -> None:
    host = topology("T4").host()
    alive = {f"f{c:04d}": Instance(f"f{c:04d}", (c,)) for c in sorted(host.available)}
    punch = Punch("f", 0, by_arrival=False)
    left = set(alive) - set(punch.victims(host, alive))
    held = {alive[name].cpus[0] for name in left}
    ranks = {core.id: i for i, core in enumerate(host.cores)}
    for core in host.cores:
        kept = [c for c in core.cpus if c in held]
        assert kept == ([] if ranks[core.id] % 2 else [core.cpus[1]])


def test_punch_by_arrival_removes_every_second_name_and_odd_cores() -> None:
    host = topology("T6").host()  # one thread per core, core rank = CPU id
    placed = {"f0000": 0, "f0001": 1, "f0002": 2, "f0005": 4, "f0007": 6}
    alive = {name: Instance(name, (cpu,)) for name, cpu in placed.items()}
    # f0001 sits on an odd core; f0005 and f0007 have odd arrival numbers
    assert Punch("f", 1, by_arrival=True).victims(host, alive) == ["f0001", "f0005", "f0007"]
    assert Punch("f", 0, by_arrival=True).victims(host, alive) == ["f0000", "f0001", "f0002"]


def test_device_locality_only_where_there_is_locality() -> None:
    assert scenarios(topology("T1"), "S5", 0) == []
    (s5,) = scenarios(topology("T7"), "S5", 0)
    device_phase = [e.requests[0] for e in s5.arrivals if e.phase == "device"]
    cpu_phase = [e.requests[0] for e in s5.arrivals if e.phase == "cpu"]
    assert len(device_phase) == 16
    assert all(r.devices and r.devices[0].text == "eth0_vf*" for r in device_phase)
    assert cpu_phase and not any(r.devices for r in cpu_phase)


def test_gangs_arrive_together_and_one_has_24_members_on_big_hosts() -> None:
    (s7,) = scenarios(topology("T9"), "S7", 0)
    gangs = [e for e in s7.arrivals if e.phase == "gang"]
    assert len(gangs) == 3 and max(len(g.requests) for g in gangs) == 24
    assert all(8 <= len(g.requests) <= 24 and g.measured for g in gangs)
    (small,) = scenarios(topology("T1"), "S7", 0)
    assert max(len(e.requests) for e in small.arrivals) == 4  # half the laptop's CPUs


def test_trace_tables_are_distributions_with_a_source() -> None:
    for table in TRACES:
        assert abs(sum(s.share for s in table.sizes) - 1) < 1e-9
        assert abs(sum(b.share for b in table.lifetimes) - 1) < 1e-9
        assert table.source and table.basis
    huawei = TRACES[0]
    assert sum(s.share for s in huawei.sizes if s.cpus == 1) > 2 / 3  # as published
    assert 24 < huawei.mean_lifetime() < 72  # about 1.8 days (Little's law on the counts)


def test_request_model_mix() -> None:
    view = HostView.of(topology("T5"), topology("T5").host())
    assert [s for s, _ in size_classes(view)] == [1, 2, 4, 8, 16, 32, 48]
    import random

    rng = random.Random(5)
    requests = [draw_request(rng, view, f"r{i}") for i in range(3000)]
    affinity = Counter(r.cpu_affinity for r in requests)
    policy = Counter(r.memory_policy for r in requests)
    assert 0.55 < affinity[CpuAffinity.COMPACT] / 3000 < 0.66
    assert 0.65 < policy[MemoryPolicy.LOCAL] / 3000 < 0.75
    assert all(r.numa_nodes for r in requests if r.memory_policy is MemoryPolicy.BIND)
    assert all(r.size <= 32 for r in requests if r.cpu_affinity is CpuAffinity.LOCAL)
    assert all(len(r.numa_nodes) <= 1 for r in requests if r.cpu_affinity is CpuAffinity.LOCAL)
    assert 0.4 < sum(r.exclusive_cores for r in requests) / 3000 < 0.6
    assert 0.12 < sum(r.size % 2 for r in requests if r.size > 2) / 3000 < 0.2
