"""Rules on requests: could the planner ever place them on this host?"""

from __future__ import annotations

import pytest

from kerf.validate import Severity, validate_host
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest
from tests.validate.hosts import GiB, at, dual_node_smt2
from tests.validate.test_instances import located, only, vm


def req(name: str = "batch", count: int | None = 2, memory: int = GiB, **kw: object) -> InstanceRequest:
    return InstanceRequest(name, memory, cpu_count=count, **kw)  # type: ignore[arg-type]


def run(request: InstanceRequest, code: str) -> tuple[Severity, str, object, str]:
    report = validate_host(dual_node_smt2(), (), [request], locations=located(request.name))
    finding = only(report, code)
    assert finding.hint
    return finding.severity, finding.subject, finding.location, finding.message


def test_a_reasonable_request_is_clean() -> None:
    wants = tuple(DeviceWant.parse(t) for t in ("eth0_vf*", "nvme0_ns2", "gpu0"))
    request = req(count=4, memory=4 * GiB, numa_nodes=(0,), cpu_affinity=CpuAffinity.LOCAL, devices=wants)
    assert validate_host(dual_node_smt2(), (), [request]).findings == ()


def test_request_cpu_count_exceeds_pool() -> None:
    assert run(req(count=15), "request-cpu-count-exceeds-pool") == (
        Severity.ERROR,
        "request batch",
        at(62),
        "Instance batch: asks for 15 CPUs, but the pool has 14",
    )


def test_request_memory_exceeds_pool() -> None:
    assert run(req(memory=13 * GiB), "request-memory-exceeds-pool") == (
        Severity.ERROR,
        "request batch",
        at(64, 9),
        "Instance batch: asks for 13 GiB of memory, but the pool has 12 GiB",
    )


def test_request_memory_zero() -> None:
    assert run(req(memory=0), "memory-size-zero")[3] == "Instance batch: memory size is 0"


def test_request_numa_unknown_node() -> None:
    assert run(req(numa_nodes=(7,)), "numa-unknown-node") == (
        Severity.ERROR,
        "request batch",
        at(66, 9),
        "Instance batch: NUMA node 7 does not exist in hardware topology",
    )


def test_request_bind_without_nodes() -> None:
    assert run(req(memory_policy=MemoryPolicy.BIND), "policy-bind-no-nodes") == (
        Severity.ERROR,
        "request batch",
        at(68, 9),
        "Instance batch: Bind memory policy requested but no NUMA nodes specified",
    )


def test_request_local_with_two_nodes() -> None:
    assert run(req(numa_nodes=(0, 1), cpu_affinity=CpuAffinity.LOCAL), "request-local-multi-node") == (
        Severity.ERROR,
        "request batch",
        at(66, 9),
        "Instance batch: Local affinity requested but NUMA nodes [0, 1] are listed; "
        "local keeps the instance on one node",
    )


def test_request_local_too_big_for_any_node() -> None:
    assert run(req(count=9, cpu_affinity=CpuAffinity.LOCAL), "request-local-too-big") == (
        Severity.ERROR,
        "request batch",
        at(62),
        "Instance batch: Local affinity needs 9 CPUs on one NUMA node, "
        "but the largest node (1) has 8 pool CPUs",
    )


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("eth9_vf*", "device-unknown", "Instance batch: device 'eth9' does not exist"),
        ("ghost", "device-unknown", "Instance batch: device 'ghost' does not exist"),
        (
            "gpu0_vf*",
            "device-unit-unavailable",
            "Instance batch: gpu0_vf* asks for any VF of gpu0, but it has none available",
        ),
        ("eth0_vf0", "device-unit-unavailable", "Instance batch: VF 0 of eth0 is reserved for the host"),
    ],
)
def test_request_devices(text: str, code: str, message: str) -> None:
    severity, subject, location, found = run(req(devices=(DeviceWant.parse(text),)), code)
    assert (severity, subject, location, found) == (Severity.ERROR, "request batch", at(69, 9), message)


def test_pinned_request_cpus_are_checked_like_instances() -> None:
    request = InstanceRequest("pinned", GiB, cpus=(0, 1))
    assert run(request, "cpu-host-reserved")[3] == "Instance pinned: CPU 0 is reserved for the host kernel"


def test_request_and_instance_names_must_differ() -> None:
    report = validate_host(dual_node_smt2(), [vm("web", [1])], [req("web")])
    assert only(report, "instance-name-duplicate").message == "Instance name 'web' is used 2 times"


def test_request_local_too_big_for_its_node() -> None:
    request = req(count=7, numa_nodes=(0,), cpu_affinity=CpuAffinity.LOCAL)
    assert run(request, "request-local-too-big")[3] == (
        "Instance batch: Local affinity needs 7 CPUs on one NUMA node, but the largest allowed node (0) "
        "has 6 pool CPUs"
    )
