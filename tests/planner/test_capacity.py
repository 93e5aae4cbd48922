"""What-if capacity: the exact maximum, the resource that runs out, headroom per node."""

from __future__ import annotations

import pytest

from planner.capacity import capacity
from planner.errors import RequestError
from planner.hardware import Instance
from planner.memory import allocate_regions
from planner.policy import CpuAffinity
from planner.request import DeviceWant, InstanceRequest
from planner.solve import plan
from planner.synthetic import GiB
from tests.planner import named_hosts as hosts
from tests.planner.plan_checks import assert_plan_valid


def shape(count: int, memory: int = GiB, **kw: object) -> InstanceRequest:
    return InstanceRequest("vm", memory, cpu_count=count, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "request_", "count", "limit"),
    [
        (hosts.single_socket_ht, shape(2), 4, "cpus"),
        (hosts.single_socket_ht, shape(3), 2, "cpus"),
        (hosts.single_socket_ht, shape(1), 8, "cpus"),
        (hosts.single_socket_ht, shape(3, exclusive_cores=True), 2, "cpus"),
        (hosts.dual_socket_ht, shape(4, cpu_affinity=CpuAffinity.LOCAL), 2, "cpus"),
        (hosts.dual_socket_ht, shape(2, memory=20 * GiB), 4, "memory"),
        (
            lambda: hosts.dual_socket_ht(devices=[hosts.nic(0, vfs=2)]),
            shape(1, devices=(DeviceWant.parse("eth0_vf*"),)),
            2,
            "devices",
        ),
        (hosts.smt4, shape(1), 8, "cpus"),
    ],
)
def test_exact_maximum_and_what_runs_out(host, request_, count, limit) -> None:  # type: ignore[no-untyped-def]
    h = host()
    result = capacity(h, [], request_)
    assert (result.count, result.limit, result.proven) == (count, limit, True)
    assert result.why_not_more is not None and result.why_not_more.startswith(f"vm-{count + 1}")
    # exact: that many copies are placed validly, one more is not
    copies = [
        InstanceRequest(
            f"c{i}",
            request_.memory_bytes,
            cpu_count=request_.cpu_count,
            cpu_affinity=request_.cpu_affinity,
            exclusive_cores=request_.exclusive_cores,
            devices=request_.devices,
        )
        for i in range(count + 1)
    ]
    fits = plan(h, [], copies[:count])
    assert len(fits.placements) == count
    assert_plan_valid(h, fits, copies[:count])
    assert len(plan(h, [], copies).unplaced) == 1


def test_policies_can_strand_resources() -> None:
    host = hosts.dual_socket_ht()
    # node 1's pool memory is all taken: local memory cannot follow CPUs there
    hog = Instance("hog", (1,), allocate_regions(host, [], {1: 48 * GiB}) or ())
    result = capacity(host, [hog], shape(2))
    assert result.count == 3
    assert result.limit == "policies"
    assert result.bounds == {"cpus": 5, "memory": 48, "devices": None}
    assert result.why_not_more == (
        "vm-4 needs 2 CPUs and 1GiB of memory on the same NUMA nodes (cpu-affinity compact, "
        "memory-policy local); no node set has both; free per node: 0→0 CPUs/45GiB, 1→5 CPUs/0B"
    )
    node0, node1 = result.per_node
    assert (node0.free_cpus, node0.instances, node0.cpus_left) == (6, 3, 0)
    assert (node1.free_cpus, node1.instances, node1.cpus_left, node1.memory_left) == (5, 0, 5, 0)
    assert node0.memory_left == node0.free_memory - 3 * GiB


def test_a_shape_that_never_fits_and_pinned_shapes() -> None:
    host = hosts.single_socket_ht()
    too_big = capacity(host, [], shape(2, memory=1 << 50))
    assert (too_big.count, too_big.limit, too_big.placements) == (0, "memory", ())
    # the other resources still say what they alone would allow; no device was asked for
    assert too_big.bounds == {"cpus": 4, "memory": 0, "devices": None}
    too_many = capacity(host, [], shape(9))
    assert (too_many.count, too_many.limit) == (0, "cpus")
    assert too_many.bounds["cpus"] == 0 and too_many.bounds["memory"] == 48
    assert too_many.why_not_more == "vm-1: needs 9 CPUs; 8 are free in the pool"
    with pytest.raises(RequestError, match="capacity needs a CPU count"):
        capacity(host, [], InstanceRequest("vm", GiB, cpus=(0,)))
