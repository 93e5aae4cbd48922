"""Several requests placed together: admission first, conflicts explained by the smallest
set of requests that cannot fit together, repeatable results, dumped models."""

from __future__ import annotations

from planner.hardware import Host
from planner.objective import evaluate
from planner.policy import CpuAffinity
from planner.request import DeviceWant, InstanceRequest, PlanStatus
from planner.solve import PlanOptions, plan
from planner.synthetic import GiB, synthetic_host
from tests.planner import named_hosts as hosts
from tests.planner.plan_checks import assert_plan_valid


def vm(name: str, count: int, **kw: object) -> InstanceRequest:
    return InstanceRequest(name, GiB, cpu_count=count, **kw)  # type: ignore[arg-type]


def test_a_gang_is_placed_jointly_and_optimally() -> None:
    host = hosts.dual_socket_ht()
    batch = [vm("a", 6), vm("b", 4), vm("c", 2, cpu_affinity=CpuAffinity.SPREAD)]
    result = plan(host, [], batch)
    assert result.status is PlanStatus.OPTIMAL
    assert_plan_valid(host, result, batch)
    nodes = {p.name: {host.cpu_by_id[c].numa_node for c in p.cpus} for p in result.placements}
    # a fills one node; b and c share the other (c cannot spread: no CPU is left on a's node)
    assert len(nodes["a"]) == 1 and nodes["b"] == nodes["c"] and nodes["b"] != nodes["a"]
    tiers = result.metrics["tiers"]
    assert (tiers["numa"], tiers["smt"], tiers["span"], tiers["tiebreak"]) == (1, 0, 4, 6)  # type: ignore[index]


def test_the_most_requests_are_admitted_and_the_rest_explained() -> None:
    host = hosts.single_socket_ht()
    batch = [vm("big", 6), vm("s1", 2), vm("s2", 2), vm("s3", 3)]
    result = plan(host, [], batch)
    assert result.status is PlanStatus.INFEASIBLE
    assert sorted(p.name for p in result.placements) == ["s1", "s2", "s3"]
    assert_plan_valid(host, result, batch)
    (unplaced,) = result.unplaced
    assert unplaced.name == "big"
    assert unplaced.reason.startswith("big fits on its own, but not together with ")
    assert result.explanation[0] == unplaced.reason
    assert_minimal_conflict(result.explanation[-1], host, batch)


def test_a_conflict_among_identical_requests_names_every_member() -> None:
    # big and any five of the six 1-CPU copies need 9 of 8 CPUs; the identical copies
    # are admitted in order inside the model, which must not shrink the set to two
    host = hosts.single_socket_ht()
    batch = [vm("big", 4), *(vm(f"s{i}", 1) for i in range(1, 7))]
    result = plan(host, [], batch)
    assert [u.name for u in result.unplaced] == ["big"]
    assert_minimal_conflict(result.explanation[-1], host, batch)
    assert result.explanation[-1].startswith("big, s1, s2, s3, s4 and s5 cannot all be placed together")


def assert_minimal_conflict(conflict: str, host: Host, batch: list[InstanceRequest]) -> None:
    """The set the line names cannot be placed together, and any smaller part can."""
    assert "be placed together: together they need" in conflict
    members = conflict.split(" cannot")[0].replace(" and ", ", ").split(", ")
    chosen = [r for r in batch if r.name in members]
    assert "big" in members and len(plan(host, [], chosen).unplaced) == 1
    for left_out in chosen:
        rest = [r for r in chosen if r is not left_out]
        assert plan(host, [], rest).unplaced == ()


def test_two_requests_pinning_one_cpu() -> None:
    host = hosts.single_socket_ht()
    batch = [InstanceRequest("a", GiB, cpus=(1, 5)), InstanceRequest("b", GiB, cpus=(5,))]
    result = plan(host, [], batch)
    assert [p.name for p in result.placements] == ["a"]
    assert result.unplaced[0].reason == "b fits on its own, but not together with a"
    assert result.explanation[-1].startswith("a and b cannot be placed together: together they need 3 CPUs")


def test_one_vf_for_two_requests() -> None:
    host = hosts.dual_socket_ht(devices=[hosts.nic(1, vfs=1)])
    want = (DeviceWant.parse("eth0_vf0"),)
    batch = [vm("a", 2, devices=want), vm("b", 2, devices=want)]
    result = plan(host, [], batch)
    (placed,) = result.placements
    assert placed.devices == ("eth0_vf0",) and placed.cpus == (1, 7)
    assert_plan_valid(host, result, batch)


def test_identical_requests_are_admitted_in_order() -> None:
    host = hosts.single_socket_ht()
    batch = [vm(f"v{i}", 3) for i in range(4)]
    result = plan(host, [], batch)
    assert [p.name for p in result.placements] == ["v0", "v1"]


def test_same_input_same_plan_and_dumped_model() -> None:
    host = hosts.epyc_large()
    batch = [vm("a", 12), vm("b", 5, cpu_affinity=CpuAffinity.SPREAD), vm("c", 3, exclusive_cores=True)]
    first = plan(host, [], batch, PlanOptions(dump_model=True))
    second = plan(host, [], batch)
    assert first.placements == second.placements
    assert first.objective == second.objective == first.bound
    assert second.model_text is None
    assert first.model_text is not None and 'name: "admit[a]"' in first.model_text
    assert first.metrics["tiers"] == evaluate(host, [], batch, {p.name: p for p in first.placements}).named()


def test_a_limit_that_stops_the_search_gives_a_valid_plan_with_its_gap() -> None:
    host = hosts.epyc_large()
    batch = [
        vm(f"r{i}", 3 + i % 5, cpu_affinity=CpuAffinity.SPREAD if i % 3 == 0 else CpuAffinity.COMPACT)
        for i in range(16)
    ]
    # a deterministic limit stops the search at the same point on every machine
    result = plan(host, [], batch, PlanOptions(deterministic_time=0.05))
    assert_plan_valid(host, result, batch)
    assert result.status is PlanStatus.FEASIBLE
    assert result.metrics["model"]["stopped_at_tier"] is not None  # type: ignore[index]
    assert result.bound is not None and result.objective is not None
    assert 0 <= result.bound < result.objective and result.gap is not None and result.gap > 0
    assert result.unplaced == ()
    nothing = plan(host, [], batch, PlanOptions(deterministic_time=0.002))
    assert nothing.status is PlanStatus.FEASIBLE and nothing.placements == ()
    # stopped in the admission tiers: the limit is the reason, not the other requests
    assert nothing.unplaced[0].reason == (
        "r0: left out when the solver reached its time limit (10 s) or deterministic limit (0.002)"
        " before it had settled which requests fit; a longer limit may place it"
    )
    none_found = plan(host, [], batch, PlanOptions(deterministic_time=1e-6))
    assert none_found.status is PlanStatus.FEASIBLE and none_found.placements == ()
    assert none_found.unplaced[0].reason == (
        "r0: the solver found no placement within its time limit (10 s) or deterministic limit (1e-06)"
    )


def test_a_model_that_trips_the_solver_with_a_hint_still_solves() -> None:
    # OR-Tools 9.15 raised IndexError (absl::btree_map::at) on this batch once a complete
    # hint met its symmetry detection; the search retries that solve without the hint
    host = synthetic_host("pack:2 numa:3 l3:1 core:1 pu:2", node_memory=64 << 20)
    batch = [
        InstanceRequest("r0", 1 << 20, cpu_count=1),
        InstanceRequest(
            "r1", 1 << 20, cpu_count=6, numa_nodes=(0, 1, 2, 3, 4), cpu_affinity=CpuAffinity.SPREAD
        ),
    ]
    result = plan(host, [], batch)
    assert result.status is PlanStatus.OPTIMAL
    assert_plan_valid(host, result, batch)
