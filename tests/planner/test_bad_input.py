"""Bad requests: a RequestError with a hint, or an explanation in Plan.unplaced with
numbers; never a traceback and never a plan that breaks a rule."""

from __future__ import annotations

import pytest

from planner.errors import RequestError
from planner.hardware import Instance
from planner.memory import allocate_regions
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import MAX_CPU_COUNT, DeviceWant, InstanceRequest, PlanStatus
from planner.solve import plan
from planner.synthetic import GiB, synthetic_host
from tests.planner import named_hosts as hosts
from tests.planner.plan_checks import assert_plan_valid


def snc2_with_nic():  # type: ignore[no-untyped-def]
    return hosts.dual_socket_multi_numa_ht(devices=[hosts.nic(1, vfs=2), hosts.gpu(3)], reserved_cpus=[0, 40])


@pytest.mark.parametrize(
    ("kwargs", "message", "hint"),
    [
        ({"numa_nodes": (7,)}, "unknown NUMA node(s) 7; the host has 0, 1, 2, 3", "numa-nodes"),
        ({"memory_policy": MemoryPolicy.BIND}, "memory-policy bind needs the NUMA nodes", "add numa-nodes"),
        (
            {"cpu_affinity": CpuAffinity.LOCAL, "numa_nodes": (0, 1)},
            "cpu-affinity local keeps CPUs and memory on one NUMA node, but numa-nodes lists 2 (0, 1)",
            "list one node",
        ),
        ({"memory_bytes": 0}, "memory must be a positive size, got 0 bytes", "4GB"),
        ({"cpus": (0, 1), "cpu_count": None}, "pinned CPU(s) 0 are reserved for the host", "pool"),
        ({"cpus": (500,), "cpu_count": None}, "pinned CPU(s) 500 do not exist on this host", "pool"),
        ({"devices": (DeviceWant.parse("eth9_vf0"),)}, "unknown device eth9_vf0", "eth0_vf0"),
        ({"devices": (DeviceWant.parse("eth0"),)}, "eth0 is shared out as VFs; ask for eth0_vfN", "eth0_vf0"),
        ({"devices": (DeviceWant.parse("eth0_vf5"),)}, "eth0_vf5 is not an available unit of", "eth0_vf0"),
        ({"devices": (DeviceWant.parse("gpu0_vf*"),)}, "gpu0_vf* asks for any VF of gpu0", "gpu0"),
        (
            {"devices": (DeviceWant.parse("gpu0"), DeviceWant.parse("gpu0"))},
            "device gpu0 is listed twice",
            None,
        ),
    ],
)
def test_bad_request_is_a_request_error(kwargs: dict[str, object], message: str, hint: str | None) -> None:
    host = snc2_with_nic()
    fields: dict[str, object] = {"name": "web", "memory_bytes": 2 * GiB, "cpu_count": 4} | kwargs
    request = InstanceRequest(**fields)  # type: ignore[arg-type]
    with pytest.raises(RequestError) as err:
        plan(host, [], [request])
    assert message in err.value.message
    if hint is not None:
        assert err.value.hint is not None and hint in err.value.hint


def test_zero_and_negative_counts_are_rejected_when_the_request_is_made() -> None:
    with pytest.raises(RequestError, match="at least 1"):
        InstanceRequest("web", GiB, cpu_count=0)
    with pytest.raises(RequestError, match="negative"):
        InstanceRequest("web", -1, cpu_count=1)


def test_counts_and_sizes_beyond_any_machine_are_rejected_not_handed_to_the_solver() -> None:
    # CP-SAT takes 64-bit coefficients: 2^63 CPUs once crashed the model builder.
    with pytest.raises(RequestError, match="more than any host has"):
        InstanceRequest("web", GiB, cpu_count=1 << 63)
    # the largest accepted count is a plain "does not fit", with numbers
    host = hosts.single_socket_ht()
    result = plan(host, [], [InstanceRequest("web", GiB, cpu_count=MAX_CPU_COUNT)])
    assert [u.name for u in result.unplaced] == ["web"]
    assert f"needs {MAX_CPU_COUNT} CPUs" in result.unplaced[0].reason


def test_names_must_be_new_and_unique() -> None:
    host = hosts.single_socket_ht()
    existing = [Instance("db", (0,), allocate_regions(host, [], {0: GiB}) or ())]
    with pytest.raises(RequestError, match="already exists"):
        plan(host, existing, [InstanceRequest("db", GiB, cpu_count=1)])
    with pytest.raises(RequestError, match="two requests are named web"):
        plan(host, [], [InstanceRequest("web", GiB, cpu_count=1), InstanceRequest("web", GiB, cpu_count=2)])


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (InstanceRequest("big", GiB, cpu_count=600), "big: needs 600 CPUs; 77 are free in the pool"),
        (
            InstanceRequest("huge", 1 << 80, cpu_count=1),
            "huge: needs 1099511627776TiB of memory; 191GiB are free in the pool",
        ),
        (InstanceRequest("pin", GiB, cpus=(1, 2)), "pin: pinned CPU(s) 1 are held by db"),
        (
            InstanceRequest("nic", GiB, cpu_count=1, devices=(DeviceWant.parse("eth0_vf0"),)),
            "nic: device eth0_vf0 is held by db",
        ),
        (
            InstanceRequest("nics", GiB, cpu_count=1, devices=(DeviceWant.parse("eth0_vf*"),) * 2),
            "nics: wants 2 unit(s) of eth0; 1 are free",
        ),
    ],
)
def test_impossible_requests_are_explained(request_: InstanceRequest, reason: str) -> None:
    host = snc2_with_nic()
    db = Instance("db", (1,), allocate_regions(host, [], {0: GiB}) or (), devices=("eth0_vf0",))
    result = plan(host, [db], [request_])
    assert result.placements == ()
    assert result.status is PlanStatus.INFEASIBLE
    assert [u.reason for u in result.unplaced] == [reason]
    assert_plan_valid(host, result, [request_])


def test_local_that_fits_no_node_lists_free_cpus_per_node() -> None:
    host = synthetic_host("pack:2 numa:2 core:4 pu:2")
    taken = {0: 2, 1: 4, 2: 8, 3: 3}  # CPUs held per node: free 6, 4, 0, 5
    existing = []
    for node, count in taken.items():
        cpus = host.node_by_id[node].cpus[:count]
        existing.append(Instance(f"x{node}", cpus, allocate_regions(host, existing, {node: GiB}) or ()))
    web = InstanceRequest("web", GiB, cpu_count=8, cpu_affinity=CpuAffinity.LOCAL)
    result = plan(host, existing, [web])
    assert [u.reason for u in result.unplaced] == [
        "web needs 8 CPUs on one NUMA node (cpu-affinity local); free per node: 0→6, 1→4, 2→0, 3→5"
    ]
    assert result.explanation == (result.unplaced[0].reason,)


def test_bind_memory_that_does_not_fit_names_the_nodes() -> None:
    host = synthetic_host("pack:1 numa:2 core:2 pu:2", node_memory=8 * GiB)  # 6 GiB of pool per node
    web = InstanceRequest("web", 7 * GiB, cpu_count=2, memory_policy=MemoryPolicy.BIND, numa_nodes=(1,))
    result = plan(host, [], [web])
    assert [u.reason for u in result.unplaced] == [
        "web needs 7GiB of memory on NUMA nodes 1 (memory-policy bind); free there: 1→6GiB"
    ]


def test_local_memory_and_cpus_on_different_nodes_is_a_joint_reason() -> None:
    host = synthetic_host("pack:1 numa:2 core:2 pu:2", node_memory=8 * GiB)
    # node 0: no free CPUs but free memory; node 1: free CPUs, its memory taken
    existing = [
        Instance("a", host.node_by_id[0].cpus, allocate_regions(host, [], {0: GiB}) or ()),
    ]
    existing.append(Instance("b", (), allocate_regions(host, existing, {1: 6 * GiB}) or ()))
    web = InstanceRequest("web", 2 * GiB, cpu_count=2, cpu_affinity=CpuAffinity.LOCAL)
    result = plan(host, existing, [web])
    (reason,) = [u.reason for u in result.unplaced]
    assert reason == (
        "web needs 2 CPUs and 2GiB of memory on the same NUMA nodes "
        "(cpu-affinity local, memory-policy local); no node set has both; "
        "free per node: 0→0 CPUs/5GiB, 1→4 CPUs/0B"
    )


def test_exclusive_cores_reason_counts_unshared_cores() -> None:
    host = hosts.single_socket_ht()
    existing = [Instance("db", (0, 1, 2), allocate_regions(host, [], {0: GiB}) or ())]
    web = InstanceRequest("web", GiB, cpu_count=3, exclusive_cores=True)
    result = plan(host, existing, [web])
    assert [u.reason for u in result.unplaced] == [
        "web needs 3 CPUs (exclusive-cores); free on unshared cores per node: 0→2"
    ]
