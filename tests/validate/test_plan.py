"""validate_plan: every host/instance rule on existing + placements, and each placement
meets its request exactly."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from kerf.validate import Severity, validate_plan
from planner.hardware import Instance, MemoryRegion
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest
from tests.validate.hosts import GiB, dual_node_smt2
from tests.validate.test_instances import only

HOST = dual_node_smt2()


def placed(name: str, cpus: Sequence[int], *regions: MemoryRegion, devices: Sequence[str] = ()) -> Instance:
    return Instance(name, tuple(cpus), regions or (MemoryRegion(GiB, 2 * GiB, 0),), tuple(devices))


def ask(
    name: str, count: int = 2, memory: int = GiB, wants: Sequence[str] = (), **kw: object
) -> InstanceRequest:
    devices = tuple(DeviceWant.parse(w) for w in wants)
    return InstanceRequest(name, memory, cpu_count=count, devices=devices, **kw)  # type: ignore[arg-type]


def test_a_plan_that_meets_its_requests_is_clean() -> None:
    existing = [placed("db", [4, 5], MemoryRegion(2 * GiB, 10 * GiB, 1))]
    placements = [
        placed("web", [1, 2], MemoryRegion(GiB, None, 0), devices=["eth0_vf2", "nvme0_ns3", "gpu0"])
    ]
    requests = [
        ask("web", wants=["eth0_vf*", "nvme0_ns3", "gpu0"], numa_nodes=(0,), cpu_affinity=CpuAffinity.LOCAL)
    ]
    assert validate_plan(HOST, existing, placements, requests).findings == ()


def test_placements_are_checked_against_existing_instances() -> None:
    existing = [placed("db", [1, 3])]
    report = validate_plan(
        HOST, existing, [placed("web", [1, 2], MemoryRegion(GiB, 3 * GiB, 0))], [ask("web")]
    )
    assert only(report, "cpu-conflict").message == "Instances db and web both use CPU 1"


def test_plan_unrequested() -> None:
    finding = only(validate_plan(HOST, [], [placed("web", [1, 2])], []), "plan-unrequested")
    assert (finding.severity, finding.subject) == (Severity.ERROR, "instance web")
    assert finding.message == "Instance web: the plan places it, but no request asks for it"
    assert finding.location is None


def test_plan_unplaced_is_a_note() -> None:
    finding = only(validate_plan(HOST, [], [], [ask("web")]), "plan-unplaced")
    assert (finding.severity, finding.message) == (Severity.INFO, "Instance web: not placed by the plan")


def test_plan_cpu_count() -> None:
    finding = only(validate_plan(HOST, [], [placed("web", [1, 2, 3])], [ask("web", 2)]), "plan-cpu-count")
    assert finding.message == "Instance web: asks for 2 CPUs, but the plan gives 3"
    assert finding.severity is Severity.ERROR


def test_plan_pinned_cpus_exactly_and_in_order() -> None:
    request = InstanceRequest("web", GiB, cpus=(2, 1))
    finding = only(validate_plan(HOST, [], [placed("web", [1, 2])], [request]), "plan-pinned-cpus")
    assert finding.message == "Instance web: pinned to CPUs 1, 2, but placed on CPUs 1, 2"
    assert "in order" in (finding.hint or "")
    assert validate_plan(HOST, [], [placed("web", [2, 1])], [request]).findings == ()


def test_plan_memory_short() -> None:
    finding = only(
        validate_plan(HOST, [], [placed("web", [1, 2])], [ask("web", memory=2 * GiB)]), "plan-memory-short"
    )
    assert finding.message == "Instance web: asks for 2 GiB of memory, but the plan gives 1 GiB"


def test_plan_memory_unplaced() -> None:
    report = validate_plan(HOST, [], [placed("web", [1, 2], MemoryRegion(GiB))], [ask("web")])
    finding = only(report, "plan-memory-unplaced")
    assert finding.message == "Instance web: a memory region of 1 GiB has neither an address nor a NUMA node"


def test_plan_memory_must_be_page_aligned_inside_pool_and_node() -> None:
    regions = (
        MemoryRegion(GiB + 1, 2 * GiB, 0),
        MemoryRegion(GiB, 9 * GiB, 1),
        MemoryRegion(GiB, 10 * GiB, 0),
    )
    report = validate_plan(HOST, [], [placed("web", [1, 2], *regions)], [ask("web", memory=3 * GiB)])
    assert report.codes.count("memory-unaligned") == 1
    assert report.codes.count("memory-outside-pool") == 1
    assert report.codes.count("memory-wrong-node") == 1


def test_plan_id_changed() -> None:
    placement = Instance("web", (1, 2), (MemoryRegion(GiB, 2 * GiB, 0),), id=5)
    finding = only(validate_plan(HOST, [], [placement], [ask("web", id=4)]), "plan-id-changed")
    assert finding.message == "Instance web: asks for id 4, but the plan gives id 5"


def test_the_request_policy_is_what_the_placement_is_judged_by() -> None:
    """The placement does not repeat the policy: the request's local affinity still holds."""
    placement = placed("web", [1, 4], MemoryRegion(GiB, 2 * GiB, 0))
    report = validate_plan(HOST, [], [placement], [ask("web", cpu_affinity=CpuAffinity.LOCAL)])
    assert report.codes == ("affinity-local-spans",)


def test_bind_outside_the_listed_nodes_is_an_error_in_a_plan() -> None:
    placement = placed("web", [1, 2], MemoryRegion(GiB, 10 * GiB, 1))
    request = ask("web", numa_nodes=(0,), memory_policy=MemoryPolicy.BIND)
    report = validate_plan(HOST, [], [placement], [request])
    assert only(report, "policy-bind-outside").severity is Severity.ERROR
    assert not report.ok


def test_exclusive_cores_of_the_request_hold() -> None:
    existing = [placed("db", [9], MemoryRegion(GiB, 10 * GiB, 1))]
    report = validate_plan(HOST, existing, [placed("web", [1, 2])], [ask("web", exclusive_cores=True)])
    assert report.codes == ("exclusive-cores-shared",)


@pytest.mark.parametrize(
    ("wants", "given", "code", "message"),
    [
        (
            ["eth0_vf1"],
            [],
            "plan-device-missing",
            "Instance web: asks for eth0_vf1, but the plan does not give it",
        ),
        (
            ["eth0_vf*", "eth0_vf*"],
            ["eth0_vf1"],
            "plan-device-missing",
            "Instance web: asks for eth0_vf*, but the plan does not give it",
        ),
        (
            ["nvme0_ns*"],
            ["eth0_vf1"],
            "plan-device-missing",
            "Instance web: asks for nvme0_ns*, but the plan does not give it",
        ),
        (
            ["gpu0"],
            ["gpu0", "eth0_vf3"],
            "plan-device-extra",
            "Instance web: the plan gives eth0_vf3, which the request does not ask for",
        ),
    ],
)
def test_plan_devices(wants: list[str], given: list[str], code: str, message: str) -> None:
    report = validate_plan(HOST, [], [placed("web", [1, 2], devices=given)], [ask("web", wants=wants)])
    assert only(report, code).message == message


def test_two_any_vf_wants_take_two_distinct_vfs() -> None:
    placement = placed("web", [1, 2], devices=["eth0_vf1", "eth0_vf3"])
    assert validate_plan(HOST, [], [placement], [ask("web", wants=["eth0_vf*", "eth0_vf*"])]).findings == ()
