"""replan: an existing instance gets a new shape, moving as little as possible.

Named cases on dual_socket_ht (node 0 = even CPUs, node 1 = odd; cores (c, c+6); SLIT
32 between the nodes) and dual_socket_no_ht (node 0 = CPUs 0-3, node 1 = 4-7), the
exhaustive oracle on hosts of at most 12 CPUs (fewest moved first, then quality), and
random hosts: every update validates, repeats, and a grow that fits around the current
CPUs keeps them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerf.validate import validate_plan
from planner.errors import RequestError
from planner.hardware import PAGE_SIZE, Host, Instance
from planner.memory import allocate_regions
from planner.objective import TIERS, evaluate
from planner.policy import CoreSharing, CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest, Plan, PlanStatus
from planner.solve import PlanOptions, plan, replan
from planner.synthetic import GiB
from tests.planner import named_hosts as hosts
from tests.planner.oracle import best_update
from tests.planner.plan_checks import assert_plan_valid
from tests.planner.scenarios import existing, requests
from tests.planner.scenarios import hosts as random_hosts
from tests.planner.test_oracle import assert_same_optimum

MiB = 1 << 20


def instance(
    host: Host,
    name: str,
    cpus: tuple[int, ...],
    memory: dict[int, int],
    after: Sequence[Instance] = (),
    **kw: object,
) -> Instance:
    """An instance with concrete regions (bytes per node) carved next to ``after``."""
    regions = allocate_regions(host, after, memory)
    assert regions is not None
    return Instance(name, cpus, regions, **kw)  # type: ignore[arg-type]


def update(
    host: Host, others: list[Instance], current: Instance, request: InstanceRequest, **options: object
) -> tuple[Plan, Instance]:
    """replan, checked by the validator and the policies; the updated instance."""
    result = replan(host, [*others, current], current.name, request, PlanOptions(**options))  # type: ignore[arg-type]
    assert_plan_valid(host, result, [request])
    assert result.status is PlanStatus.OPTIMAL
    (placed,) = result.placements
    return result, placed


def moved(result: Plan) -> dict[str, int]:
    tiers = result.metrics["tiers"]
    assert isinstance(tiers, dict)
    return {name: value for name, value in tiers.items() if name.startswith("moved_")}


def detail(result: Plan, name: str = "web") -> dict[str, object]:
    moves = result.metrics["moves"]
    assert isinstance(moves, dict)
    found = moves[name]
    assert isinstance(found, dict)
    return found


NOTHING_MOVED = {"moved_boot": 0, "moved_cpus": 0, "moved_pages": 0, "moved_units": 0}


def test_moved_tiers_come_right_after_admission() -> None:
    assert TIERS[:6] == (
        "unplaced",
        "unplaced_cpus",
        "moved_boot",
        "moved_cpus",
        "moved_pages",
        "moved_units",
    )


def test_a_grow_keeps_every_cpu_in_order_and_adds_next_to_them() -> None:
    host = hosts.dual_socket_ht()
    web = instance(host, "web", (8, 2), {0: GiB})  # one core (2, 8), boot CPU 8
    result, placed = update(host, [], web, InstanceRequest("web", GiB, cpu_count=4))
    assert placed.cpus == (8, 2, 0, 6)  # kept in their order, then a whole core of node 0
    assert placed.memory == web.memory
    assert moved(result) == NOTHING_MOVED
    assert result.metrics["moved"] == []
    assert detail(result)["cpus_added"] == [0, 6]


def test_a_shrink_keeps_a_subset_and_moves_nothing() -> None:
    host = hosts.dual_socket_ht()
    web = instance(host, "web", (0, 6, 2, 8), {0: GiB})
    result, placed = update(host, [], web, InstanceRequest("web", GiB, cpu_count=2))
    assert placed.cpus == (0, 6)  # the boot CPU and its sibling: one whole core
    assert moved(result) == NOTHING_MOVED
    assert detail(result)["cpus_released"] == [2, 8]


def test_a_shrink_keeps_the_boot_cpu_where_a_fresh_plan_would_not() -> None:
    host = hosts.dual_socket_ht()
    web = instance(host, "web", (7, 0), {0: 512 * MiB, 1: 512 * MiB})  # boot CPU 7 on node 1
    shrink = InstanceRequest("web", GiB, cpu_count=1)
    assert plan(host, [], [shrink]).placements[0].cpus == (0,)
    result, placed = update(host, [], web, shrink)
    assert placed.cpus == (7,)
    assert detail(result)["boot_cpu_kept"] is True
    # memory follows the CPU (memory-policy local): node 0's half moves, node 1's stays put
    assert moved(result) == {**NOTHING_MOVED, "moved_pages": 512 * MiB // PAGE_SIZE}
    node1 = [r for r in web.memory if r.numa_node == 1]
    assert all(r in placed.memory for r in node1)


def test_the_boot_cpu_outranks_the_number_of_cpus_kept() -> None:
    host = hosts.dual_socket_ht()
    web = instance(host, "web", (0, 1, 3, 5), {0: GiB, 1: GiB})  # boot CPU 0 alone on node 0
    local = InstanceRequest("web", 2 * GiB, cpu_count=4, cpu_affinity=CpuAffinity.LOCAL)
    result, placed = update(host, [], web, local)
    # node 1 would keep three CPUs but not the boot CPU: node 0 keeps the boot CPU
    assert placed.cpus[0] == 0 and {host.cpu_by_id[c].numa_node for c in placed.cpus} == {0}
    assert moved(result)["moved_boot"] == 0 and moved(result)["moved_cpus"] == 3
    assert detail(result)["cpus_released"] == [1, 3, 5]


def test_memory_grows_by_adding_and_shrinks_in_place() -> None:
    host = hosts.dual_socket_ht()
    web = instance(host, "web", (0, 6), {0: GiB})
    (region,) = web.memory
    grown, placed = update(host, [], web, InstanceRequest("web", 3 * GiB, cpu_count=2))
    assert region in placed.memory and placed.cpus == web.cpus
    assert {r.numa_node for r in placed.memory} == {0}
    assert moved(grown) == NOTHING_MOVED
    assert detail(grown)["pages_added"] == 2 * GiB // PAGE_SIZE
    shrunk, smaller = update(host, [], web, InstanceRequest("web", 256 * MiB, cpu_count=2))
    assert [(r.base, r.size) for r in smaller.memory] == [(region.base, 256 * MiB)]
    assert moved(shrunk) == NOTHING_MOVED
    assert detail(shrunk)["pages_released"] == 768 * MiB // PAGE_SIZE


def test_devices_any_unit_keeps_the_held_one_a_named_one_swaps() -> None:
    host = hosts.dual_socket_ht(devices=[hosts.nic(0)])
    web = instance(host, "web", (0, 6), {0: GiB}, devices=("eth0_vf2",))

    def shape(*wants: str) -> InstanceRequest:
        return InstanceRequest("web", GiB, cpu_count=2, devices=tuple(DeviceWant.parse(w) for w in wants))

    same, kept = update(host, [], web, shape("eth0_vf*"))
    assert kept.devices == ("eth0_vf2",) and same.metrics["moves"] == {}
    two, both = update(host, [], web, shape("eth0_vf*", "eth0_vf*"))
    assert both.devices == ("eth0_vf2", "eth0_vf0") and moved(two) == NOTHING_MOVED
    swap, other = update(host, [], web, shape("eth0_vf1"))
    assert other.devices == ("eth0_vf1",) and moved(swap)["moved_units"] == 1
    assert swap.metrics["moved"] == ["web"]
    dropped, none = update(host, [], web, shape())
    assert none.devices == () and moved(dropped) == NOTHING_MOVED
    assert detail(dropped)["units_released"] == ["eth0_vf2"]


def test_a_new_preference_moves_nothing_but_a_broken_rule_moves_the_instance() -> None:
    host = hosts.dual_socket_ht()
    web = instance(host, "web", (0, 6), {0: GiB})
    prefer, placed = update(host, [], web, InstanceRequest("web", GiB, cpu_count=2, numa_nodes=(1,)))
    assert placed.cpus == web.cpus and prefer.metrics["tiers"]["preference"] == 2  # type: ignore[index]
    bound = InstanceRequest(
        "web",
        GiB,
        cpu_count=2,
        numa_nodes=(1,),
        cpu_affinity=CpuAffinity.LOCAL,
        memory_policy=MemoryPolicy.BIND,
    )
    moving, away = update(host, [], web, bound)
    assert away.cpus == (1, 7)
    assert moved(moving) == {
        "moved_boot": 1,
        "moved_cpus": 2,
        "moved_pages": GiB // PAGE_SIZE,
        "moved_units": 0,
    }
    assert moving.metrics["moved"] == ["web"]


def test_exclusive_cores_move_only_the_shared_thread() -> None:
    host = hosts.dual_socket_ht()
    db = instance(host, "db", (6,), {0: 64 * MiB})
    web = instance(host, "web", (2, 8, 0), {0: GiB}, [db])  # CPU 0's sibling 6 belongs to db
    request = InstanceRequest("web", GiB, cpu_count=3, exclusive_cores=True)
    result, placed = update(host, [db], web, request)
    assert placed.cpus[:2] == (2, 8) and 0 not in placed.cpus
    assert moved(result) == {**NOTHING_MOVED, "moved_cpus": 1}


def test_pinned_cpus_replace_the_list() -> None:
    host = hosts.dual_socket_ht()
    web = instance(host, "web", (0, 6), {0: GiB})
    result, placed = update(host, [], web, InstanceRequest("web", GiB, cpus=(6, 2)))
    assert placed.cpus == (6, 2)
    assert moved(result) == {**NOTHING_MOVED, "moved_boot": 1, "moved_cpus": 1}


def test_a_shape_that_does_not_fit_leaves_the_instance_as_it_is() -> None:
    host = hosts.dual_socket_ht()
    db = instance(host, "db", (1,), {1: GiB})
    web = instance(host, "web", (0, 6), {0: GiB}, [db])
    result = replan(host, [db, web], "web", InstanceRequest("web", GiB, cpu_count=12))
    assert result.status is PlanStatus.INFEASIBLE
    assert result.placements == () and result.existing == (db,)
    assert [u.reason for u in result.unplaced] == ["web: needs 12 CPUs; 11 are free in the pool"]
    assert result.metrics["moves"] == {}


def test_rebalance_moves_a_neighbour_rather_than_the_instance() -> None:
    host = hosts.dual_socket_no_ht()
    a = instance(host, "a", (2,), {0: 64 * MiB})
    b = instance(host, "b", (4,), {1: 64 * MiB}, [a])
    web = instance(host, "web", (0, 1), {0: GiB}, [a, b])
    local = InstanceRequest("web", GiB, cpu_count=4, cpu_affinity=CpuAffinity.LOCAL)
    stuck = replan(host, [a, b, web], "web", local)
    assert stuck.placements == () and stuck.status is PlanStatus.INFEASIBLE
    result, placed = update(host, [a, b], web, local, rebalance=True)
    assert placed.cpus == (0, 1, 2, 3)
    assert result.metrics["moved"] == ["a"]
    assert {i.name: i.cpus for i in result.existing} == {"a": (5,), "b": (4,)}


def test_rebalance_leaves_an_instance_without_cpus_where_it_is() -> None:
    host = hosts.dual_socket_ht()
    idle = instance(host, "idle", (), {1: 64 * MiB})  # the validator reports it; the planner copes
    web = instance(host, "web", (0,), {0: GiB}, [idle])
    grow = InstanceRequest("web", GiB, cpu_count=2)
    result = replan(host, [idle, web], "web", grow, PlanOptions(rebalance=True))
    assert result.status is PlanStatus.OPTIMAL
    assert result.placements[0].cpus == (0, 6) and result.existing == (idle,)
    assert result.metrics["moved"] == []


def test_ids_and_names_are_checked() -> None:
    host = hosts.dual_socket_ht()
    web = instance(host, "web", (0,), {0: GiB}, id=3)
    shape = InstanceRequest("web", GiB, cpu_count=1)
    with pytest.raises(RequestError, match="there is no instance db to update"):
        replan(host, [web], "db", replace(shape, name="db"))
    with pytest.raises(RequestError, match="the new shape of web is named db"):
        replan(host, [web], "web", replace(shape, name="db"))
    with pytest.raises(RequestError, match="has id 3; an update cannot change it to 4"):
        replan(host, [web], "web", replace(shape, id=4))
    with pytest.raises(RequestError, match="2 existing instances are named web"):
        replan(host, [web, web], "web", shape)
    assert replan(host, [web], "web", shape).placements[0].id == 3


# --- the oracle and random hosts -------------------------------------------------------------


@st.composite
def cases(draw: st.DrawFn, host: Host, most: int = 2) -> tuple[list[Instance], Instance]:
    """Instances on ``host``; the last one is updated (sometimes holding a VF)."""
    placed = draw(existing(host, most=most + 1).filter(bool))
    *others, current = placed
    free = [u for u in host.unit_by_label if u.startswith("eth0_vf")]
    if free and draw(st.booleans()):
        current = replace(current, devices=(draw(st.sampled_from(free)),))
    return others, current


@pytest.mark.parametrize("mode", list(CoreSharing), ids=str)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_an_update_is_optimal_fewest_moved_first(mode: CoreSharing, data: st.DataObject) -> None:
    host = data.draw(random_hosts(small=True))
    others, current = data.draw(cases(host))
    request = data.draw(requests(host, current.name, most_cpus=5))
    result = replan(host, [*others, current], current.name, request, PlanOptions(core_sharing=mode))
    assert_plan_valid(host, result, [request])
    placed = {p.name: p for p in result.placements}
    previous = {current.name: current}
    score = evaluate(host, others, [request], placed, previous=previous, core_sharing=mode)
    assert result.metrics["tiers"] == score.named()
    best = best_update(host, others, current, request, mode)
    assert_same_optimum(result.metrics, score.values, best.values)


def fits_around(host: Host, others: list[Instance], current: Instance, grow: InstanceRequest) -> bool:
    """True when the grow has a placement that keeps every current CPU: extra CPUs placed
    next to the instance, then the whole list checked as a pinned request."""
    extra = InstanceRequest(
        "extra", PAGE_SIZE, cpu_count=grow.size - len(current.cpus), exclusive_cores=grow.exclusive_cores
    )
    added = plan(host, [*others, current], [extra], PlanOptions(explain=False)).placements
    if not added:
        return False
    pinned = replace(grow, cpu_count=None, cpus=current.cpus + added[0].cpus)
    return bool(plan(host, others, [pinned], PlanOptions(explain=False)).placements)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_updates_on_random_hosts_validate_and_a_grow_keeps_the_cpus(data: st.DataObject) -> None:
    host = data.draw(random_hosts(small=False))
    others, current = data.draw(cases(host, most=3))
    request = data.draw(requests(host, current.name, most_cpus=12))
    result = replan(host, [*others, current], current.name, request)
    report = validate_plan(host, result.existing, result.placements, [request])
    assert report.ok, [f.message for f in report.errors]
    assert result.existing == tuple(others)
    again = replan(host, [*others, current], current.name, request)
    assert (again.placements, again.unplaced) == (result.placements, result.unplaced)

    grow = InstanceRequest(
        current.name,
        current.memory_bytes,
        cpu_count=len(current.cpus) + data.draw(st.integers(1, 4)),
        devices=tuple(DeviceWant.parse(u) for u in current.devices),
        exclusive_cores=current.exclusive_cores,
    )
    grown = replan(host, [*others, current], current.name, grow)
    if fits_around(host, others, current, grow):
        (placed,) = grown.placements
        assert placed.cpus[: len(current.cpus)] == current.cpus
        assert moved(grown)["moved_boot"] == moved(grown)["moved_cpus"] == 0
