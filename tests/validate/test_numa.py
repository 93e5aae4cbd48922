"""NUMA rules for instances, with the wording of kerf's CPU/NUMA design."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from kerf.validate import Severity, validate_host
from planner.hardware import Instance, MemoryRegion
from planner.policy import CpuAffinity, MemoryPolicy
from tests.validate.hosts import GiB, at, dual_node_smt2
from tests.validate.test_instances import located, only

NODE0_POOL, NODE1_POOL = 2 * GiB, 10 * GiB


def inst(
    cpus: Sequence[int],
    base: int | None = NODE0_POOL,
    nodes: Sequence[int] = (),
    affinity: CpuAffinity | None = None,
    policy: MemoryPolicy | None = None,
    name: str = "web-server",
) -> Instance:
    node = dual_node_smt2().node_of_address(base) if base is not None else None
    return Instance(
        name,
        tuple(cpus),
        (MemoryRegion(GiB, base, node),),
        numa_nodes=tuple(nodes),
        cpu_affinity=affinity,
        memory_policy=policy,
    )


def run(instance: Instance, code: str) -> tuple[Severity, str, object, str]:
    report = validate_host(dual_node_smt2(), [instance], locations=located(instance.name))
    finding = only(report, code)
    assert finding.hint
    return finding.severity, finding.subject, finding.location, finding.message


def test_numa_unknown_node() -> None:
    assert run(inst([1], nodes=[0, 3]), "numa-unknown-node") == (
        Severity.ERROR,
        "instance web-server",
        at(66, 9),
        "Instance web-server: NUMA node 3 does not exist in hardware topology",
    )


def test_numa_remote_cpu_single() -> None:
    assert run(inst([1, 4], nodes=[0]), "numa-remote-cpu") == (
        Severity.WARNING,
        "instance web-server",
        at(63, 9),
        "Instance web-server: CPU 4 is in NUMA node 1, but instance is configured for NUMA nodes [0]. "
        "This may cause performance issues due to remote memory access.",
    )


def test_numa_remote_cpus_named_in_one_finding() -> None:
    _, _, _, message = run(inst([1, 4, 5, 12], nodes=[0]), "numa-remote-cpu")
    assert message.startswith("Instance web-server: CPUs 4, 5, 12 are in NUMA node 1, but instance is")


def test_affinity_compact_spans() -> None:
    assert run(inst([1, 4], affinity=CpuAffinity.COMPACT), "affinity-compact-spans") == (
        Severity.WARNING,
        "instance web-server",
        at(67, 9),
        "Instance web-server: Compact CPU affinity requested but CPUs span multiple NUMA nodes: [0, 1]",
    )


def test_affinity_spread_single() -> None:
    assert run(inst([1, 2], affinity=CpuAffinity.SPREAD), "affinity-spread-single") == (
        Severity.WARNING,
        "instance web-server",
        at(67, 9),
        "Instance web-server: Spread CPU affinity requested but CPUs are from single NUMA node 0",
    )


def test_spread_on_one_allowed_node_or_one_cpu_is_fine() -> None:
    for instance in (
        inst([1, 2], nodes=[0], affinity=CpuAffinity.SPREAD),
        inst([1], affinity=CpuAffinity.SPREAD),
        inst([1, 4], affinity=CpuAffinity.SPREAD),
    ):
        assert "affinity-spread-single" not in validate_host(dual_node_smt2(), [instance]).codes


def test_exclusive_spread_counts_whole_cores() -> None:
    # an exclusive instance spreads whole cores: one whole core on one node is fine,
    # two cores on one node of two are not
    host = dual_node_smt2()
    whole = replace(inst([1, 9], affinity=CpuAffinity.SPREAD), exclusive_cores=True)
    two = replace(inst([1, 2, 9, 10], affinity=CpuAffinity.SPREAD), exclusive_cores=True)
    assert "affinity-spread-single" not in validate_host(host, [whole]).codes
    assert "affinity-spread-single" in validate_host(host, [two]).codes
    assert "affinity-spread-single" in validate_host(host, [replace(whole, exclusive_cores=False)]).codes


def test_affinity_local_spans() -> None:
    assert run(inst([1, 4], affinity=CpuAffinity.LOCAL), "affinity-local-spans") == (
        Severity.ERROR,
        "instance web-server",
        at(67, 9),
        "Instance web-server: Local affinity requested but CPUs span multiple NUMA nodes: [0, 1]",
    )


def test_affinity_local_mismatch() -> None:
    assert run(inst([4, 5], NODE0_POOL, affinity=CpuAffinity.LOCAL), "affinity-local-mismatch") == (
        Severity.ERROR,
        "instance web-server",
        at(65, 9),
        "Instance web-server: Local affinity requested but CPUs are from NUMA nodes [1] "
        "while memory is on NUMA node 0",
    )


def test_local_affinity_with_unknown_memory_location_is_not_judged() -> None:
    report = validate_host(dual_node_smt2(), [inst([4, 5], None, affinity=CpuAffinity.LOCAL)])
    assert report.findings == ()


def test_policy_local_mismatch() -> None:
    assert run(inst([4, 5], NODE0_POOL, policy=MemoryPolicy.LOCAL), "policy-local-mismatch") == (
        Severity.WARNING,
        "instance web-server",
        at(65, 9),
        "Instance web-server: Local memory policy requested but CPUs are from NUMA nodes [1] "
        "while memory is on NUMA node 0",
    )


def test_local_affinity_and_policy_report_the_mismatch_once() -> None:
    instance = inst([4, 5], NODE0_POOL, affinity=CpuAffinity.LOCAL, policy=MemoryPolicy.LOCAL)
    codes = validate_host(dual_node_smt2(), [instance]).codes
    assert codes == ("affinity-local-mismatch",)


def test_policy_bind_no_nodes() -> None:
    assert run(inst([1], policy=MemoryPolicy.BIND), "policy-bind-no-nodes") == (
        Severity.ERROR,
        "instance web-server",
        at(68, 9),
        "Instance web-server: Bind memory policy requested but no NUMA nodes specified",
    )


def test_policy_bind_outside() -> None:
    assert run(inst([1], NODE1_POOL, nodes=[0], policy=MemoryPolicy.BIND), "policy-bind-outside") == (
        Severity.ERROR,
        "instance web-server",
        at(65, 9),
        "Instance web-server: Bind memory policy requested but memory is on NUMA node 1, "
        "outside the configured NUMA nodes [0]",
    )


@pytest.mark.parametrize(
    "instance",
    [
        inst([1, 2], NODE0_POOL, nodes=[0], affinity=CpuAffinity.LOCAL, policy=MemoryPolicy.BIND),
        inst([1, 4], NODE0_POOL, nodes=[0, 1], affinity=CpuAffinity.SPREAD, policy=MemoryPolicy.INTERLEAVE),
        inst([1, 2], NODE0_POOL, nodes=[0], affinity=CpuAffinity.COMPACT, policy=MemoryPolicy.LOCAL),
    ],
)
def test_policies_that_are_met_give_no_finding(instance: Instance) -> None:
    assert validate_host(dual_node_smt2(), [instance]).findings == ()
