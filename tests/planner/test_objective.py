"""planner.objective: every tier on hand-made placements, the bounds, the scalar form."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.hardware import Instance, MemoryRegion
from planner.objective import TIERS, Score, evaluate, scalar, tier_bounds
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest
from planner.solve import plan
from planner.synthetic import GiB
from tests.planner import named_hosts as hosts
from tests.planner.scenarios import existing, requests

# dual_socket_ht: node 0 = even CPUs, cores (c, c+6); SLIT 32 between the nodes


def on(node_pages: dict[int, int]) -> tuple[MemoryRegion, ...]:
    return tuple(MemoryRegion(p * 4096, None, n) for n, p in node_pages.items())


def score(request: InstanceRequest, cpus: tuple[int, ...], memory: dict[int, int], **kw: object) -> Score:
    host = kw.pop("host", None) or hosts.dual_socket_ht()
    before = kw.pop("before", [])
    devices = kw.pop("devices", ())
    inst = Instance(request.name, cpus, on(memory), devices)  # type: ignore[arg-type]
    return evaluate(host, before, [request], {request.name: inst})  # type: ignore[arg-type]


def test_a_compact_instance_split_over_two_sockets() -> None:
    web = InstanceRequest("web", 2 * GiB, cpu_count=4)
    s = score(web, (0, 1, 6, 7), {0: 262144, 1: 262144})
    assert s.named() == {
        "unplaced": 0,
        "unplaced_cpus": 0,
        "moved_boot": 0,
        "moved_cpus": 0,
        "moved_pages": 0,
        "moved_units": 0,
        "preference": 0,
        "numa": 1,  # two nodes where one would do
        "balance": 0,
        "device": 0,
        "distance": 44,  # CPUs on 0 with memory on 1 and vice versa: 2 x (32 - 10)
        "span": 4,  # 2 sockets + 2 core groups
        "smt": 0,
        "fragmentation": 8,  # 4 CPUs from free nodes + 4 from free groups
        "tiebreak": 2,  # two CPUs in group 1
    }


def test_spread_counts_missed_nodes_and_imbalance() -> None:
    spread = InstanceRequest("s", GiB, cpu_count=3, cpu_affinity=CpuAffinity.SPREAD)
    one_node = score(spread, (0, 2, 6), {0: 262144})
    assert (one_node["numa"], one_node["balance"], one_node["span"]) == (1, 0, 0)
    both = score(spread, (0, 1, 7), {0: 87382, 1: 174762})
    assert (both["numa"], both["balance"]) == (0, 1)


def test_sharing_splitting_preferences_devices_and_unplaced() -> None:
    host = hosts.dual_socket_ht(devices=[hosts.nic(1)])
    db = Instance("db", (0,), on({0: 1000}))
    lone = InstanceRequest("lone", GiB, cpu_count=1, numa_nodes=(1,), devices=(DeviceWant.parse("eth0_vf*"),))
    s = score(lone, (6,), {0: 262144}, host=host, before=[db], devices=("eth0_vf0",))
    # CPU 6 is db's sibling: shared and split; node 0 is not the preferred node 1, nor the NIC's
    assert (s["smt"], s["preference"], s["device"]) == (2, 1, 1)
    nothing = evaluate(host, [db], [lone], {})
    assert (nothing["unplaced"], nothing["unplaced_cpus"], nothing["tiebreak"]) == (1, 1, 0)


def test_bound_memory_distance_and_moves() -> None:
    bound = InstanceRequest("b", GiB, cpu_count=2, memory_policy=MemoryPolicy.BIND, numa_nodes=(1,))
    assert score(bound, (0, 6), {1: 262144})["distance"] == 22
    host = hosts.dual_socket_ht()
    old = Instance("m", (0, 6), on({0: 262144}))
    new = Instance("m", (0, 2), on({0: 100, 1: 262044}))
    request = InstanceRequest("m", GiB, cpu_count=2)
    moved = evaluate(host, [], [request], {"m": new}, previous={"m": old})
    assert (moved["moved_cpus"], moved["moved_pages"]) == (1, 262044)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bounds_hold_for_planned_batches(data: st.DataObject) -> None:
    from tests.planner.scenarios import hosts as random_hosts

    host = data.draw(random_hosts(small=False))
    before = data.draw(existing(host))
    batch = [data.draw(requests(host, f"r{i}", most_cpus=8)) for i in range(data.draw(st.integers(1, 3)))]
    result = plan(host, before, batch)
    values = evaluate(host, before, batch, {p.name: p for p in result.placements}).values
    assert all(0 <= v <= b for v, b in zip(values, tier_bounds(host, batch), strict=True))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_the_scalar_keeps_the_lexicographic_order(data: st.DataObject) -> None:
    bounds = data.draw(st.lists(st.integers(0, 50), min_size=len(TIERS), max_size=len(TIERS)))
    vector = st.tuples(*(st.integers(0, b) for b in bounds))
    a, b = data.draw(vector), data.draw(vector)
    assert (a < b) == (scalar(a, bounds) < scalar(b, bounds))
    assert (a == b) == (scalar(a, bounds) == scalar(b, bounds))
