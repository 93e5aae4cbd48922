"""Rules on instances: names, ids, CPUs, memory, devices, exclusive cores (one test per code)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from kerf.errors import SourceLocation
from kerf.validate import Finding, Report, Severity, validate_host
from planner.hardware import Instance, MemoryRegion
from tests.validate.hosts import GiB, at, dual_node_smt2


def located(*names: str) -> dict[str, SourceLocation]:
    """Locations of instance blocks as the binding records them: block, id, resources props."""
    found: dict[str, SourceLocation] = {"/instances": at(50)}
    for i, name in enumerate(names):
        base = 60 + 20 * i
        block = f"/instances/{name}"
        found[block] = at(base, 3)
        found[f"{block}:id"] = at(base + 1)
        found[f"{block}/resources"] = at(base + 2)
        for j, prop in enumerate(
            ("cpus", "memory-bytes", "memory-base", "numa-nodes", "cpu-affinity", "memory-policy", "devices")
        ):
            found[f"{block}/resources:{prop}"] = at(base + 3 + j, 9)
    return found


def vm(name: str, cpus: Sequence[int], memory: int = GiB, base: int | None = None, **kw: object) -> Instance:
    """An instance with one memory region (node derived from the base, as the binding does)."""
    host = dual_node_smt2()
    node = host.node_of_address(base) if base is not None else None
    return Instance(name, tuple(cpus), (MemoryRegion(memory, base, node),), **kw)  # type: ignore[arg-type]


def only(report: Report, code: str) -> Finding:
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, report.findings
    return found[0]


def check(
    instances: Sequence[Instance],
    code: str,
    severity: Severity,
    subject: str,
    location: SourceLocation | None,
    message: str,
) -> Finding:
    names = list(dict.fromkeys(i.name for i in instances))
    report = validate_host(dual_node_smt2(), instances, locations=located(*names))
    finding = only(report, code)
    assert (finding.severity, finding.subject, finding.location, finding.message) == (
        severity,
        subject,
        location,
        message,
    )
    assert finding.hint
    return finding


def test_good_instances_are_clean() -> None:
    report = validate_host(
        dual_node_smt2(),
        [
            vm("web", [1, 2, 9, 10], 2 * GiB, 2 * GiB, devices=("eth0_vf1", "gpu0"), id=1),
            vm("db", [4, 5, 12, 13], 4 * GiB, 10 * GiB, devices=("nvme0_ns2",), id=2),
        ],
    )
    assert report.findings == ()
    assert report.ok


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "it is empty"),
        ("x" * 64, "it is 64 characters long (at most 63)"),
        ("web/db", "it contains '/'"),
        ("web@1", "it contains '@'"),
        (".hidden", "it starts with '.'"),
        ("-web", "it starts with '-'"),
        ("a..b", "it contains '..'"),
    ],
)
def test_instance_name_invalid(name: str, reason: str) -> None:
    report = validate_host(dual_node_smt2(), [vm(name, [1])])
    finding = only(report, "instance-name-invalid")
    assert finding.message == f"Instance name {name!r} is not valid: {reason}"
    assert finding.severity is Severity.ERROR
    assert finding.subject == f"instance {name}"


@pytest.mark.parametrize("name", ["a", "web-server_01.prod", "x" * 63, "9lives", "_x"])
def test_valid_names(name: str) -> None:
    assert "instance-name-invalid" not in validate_host(dual_node_smt2(), [vm(name, [1])]).codes


def test_instance_name_invalid_is_located() -> None:
    check(
        [vm("web+db", [1])],
        "instance-name-invalid",
        Severity.ERROR,
        "instance web+db",
        at(60, 3),
        "Instance name 'web+db' is not valid: it contains '+'",
    )


def test_instance_name_duplicate() -> None:
    check(
        [vm("web", [1]), vm("web", [2], base=4 * GiB)],
        "instance-name-duplicate",
        Severity.ERROR,
        "instance web",
        at(60, 3),
        "Instance name 'web' is used 2 times",
    )


@pytest.mark.parametrize(("value", "suffix"), [(0, " (0 is the host kernel)"), (2048, ""), (4096, "")])
def test_instance_id_invalid(value: int, suffix: str) -> None:
    check(
        [vm("web", [1], id=value)],
        "instance-id-invalid",
        Severity.ERROR,
        "instance web",
        at(61),
        f"Instance web: id {value} is outside 1-2047{suffix}",
    )


def test_instance_ids_at_the_limits_are_valid() -> None:
    report = validate_host(dual_node_smt2(), [vm("a", [1], id=1), vm("b", [2], id=2047)])
    assert "instance-id-invalid" not in report.codes


def test_instance_id_duplicate_reported_once_naming_both() -> None:
    check(
        [vm("web", [1], id=3), vm("db", [2], id=3)],
        "instance-id-duplicate",
        Severity.ERROR,
        "instance db",
        at(81),
        "Instances web and db both have id 3",
    )


def test_cpu_list_empty() -> None:
    check(
        [vm("web", [])],
        "cpu-list-empty",
        Severity.ERROR,
        "instance web",
        at(63, 9),
        "Instance web: the CPU list is empty",
    )


def test_cpu_repeated() -> None:
    check(
        [vm("web", [1, 2, 1])],
        "cpu-repeated",
        Severity.ERROR,
        "instance web",
        at(63, 9),
        "Instance web: CPU 1 is listed twice",
    )


def test_cpu_unknown() -> None:
    finding = check(
        [vm("web", [1, 16, 17])],
        "cpu-unknown",
        Severity.ERROR,
        "instance web",
        at(63, 9),
        "Instance web: CPUs 16, 17 do not exist (the host has CPUs 0-15)",
    )
    assert finding.hint == "pool CPUs: 1-7, 9-15"


def test_cpu_host_reserved() -> None:
    check(
        [vm("web", [0, 1])],
        "cpu-host-reserved",
        Severity.ERROR,
        "instance web",
        at(63, 9),
        "Instance web: CPU 0 is reserved for the host kernel",
    )


def test_cpu_not_in_pool() -> None:
    host = dual_node_smt2(available=frozenset(range(1, 8)))
    report = validate_host(host, [vm("web", [7, 9])], locations=located("web"))
    finding = only(report, "cpu-not-in-pool")
    assert finding.message == "Instance web: CPU 9 is not in the pool (offline or kept aside)"
    assert finding.location == at(63, 9)


def test_cpu_conflict_reported_once_naming_both() -> None:
    finding = check(
        [vm("web", [1, 2, 3]), vm("db", [3, 4], base=4 * GiB)],
        "cpu-conflict",
        Severity.ERROR,
        "instances web, db",
        at(83, 9),
        "Instances web and db both use CPU 3",
    )
    assert finding.hint == "give each CPU to one instance; free pool CPUs: 5-7, 9-15"


def test_cpu_conflicts_of_three_instances_give_one_finding_per_pair() -> None:
    report = validate_host(dual_node_smt2(), [vm("a", [1, 2]), vm("b", [2, 3]), vm("c", [1, 3])])
    messages = [f.message for f in report.findings if f.code == "cpu-conflict"]
    assert messages == [
        "Instances a and b both use CPU 2",
        "Instances a and c both use CPU 1",
        "Instances b and c both use CPU 3",
    ]


def test_exclusive_cores_shared() -> None:
    check(
        [vm("web", [1, 2], exclusive_cores=True), vm("db", [9, 5], base=4 * GiB)],
        "exclusive-cores-shared",
        Severity.ERROR,
        "instances web, db",
        at(83, 9),
        "Instance web asks for exclusive cores, but shares core 1 (CPUs 1, 9) with instance db",
    )


def test_exclusive_cores_not_shared_when_siblings_are_free_or_own() -> None:
    report = validate_host(
        dual_node_smt2(),
        [vm("web", [1, 9, 2], exclusive_cores=True), vm("db", [3, 4], base=4 * GiB, exclusive_cores=True)],
    )
    assert "exclusive-cores-shared" not in report.codes


def test_memory_size_zero() -> None:
    check(
        [vm("web", [1], 0)],
        "memory-size-zero",
        Severity.ERROR,
        "instance web",
        at(64, 9),
        "Instance web: memory size is 0",
    )


def test_memory_unaligned() -> None:
    check(
        [vm("web", [1], GiB, 2 * GiB + 0x800)],
        "memory-unaligned",
        Severity.ERROR,
        "instance web",
        at(65, 9),
        "Instance web: memory base 0x80000800 size 0x40000000 is not 4 KiB-aligned",
    )


def test_memory_outside_pool() -> None:
    check(
        [vm("web", [1], GiB, GiB)],
        "memory-outside-pool",
        Severity.ERROR,
        "instance web",
        at(65, 9),
        "Instance web: memory 0x40000000-0x7fffffff is not inside the memory pool "
        "(0x80000000-0x1ffffffff, 0x280000000-0x3ffffffff)",
    )


def test_memory_overlap_reported_once_naming_both() -> None:
    check(
        [vm("web", [1], 2 * GiB, 2 * GiB), vm("db", [2], 2 * GiB, 3 * GiB)],
        "memory-overlap",
        Severity.ERROR,
        "instances web, db",
        at(85, 9),
        "Instances web and db overlap in memory: 0xc0000000-0xffffffff (1 GiB)",
    )


def test_memory_exceeds_pool() -> None:
    check(
        [vm("web", [1], 7 * GiB), vm("db", [2], 6 * GiB)],
        "memory-exceeds-pool",
        Severity.ERROR,
        "instances",
        at(50),
        "Instances use 13 GiB of memory in total, more than the pool's 12 GiB",
    )


def test_memory_node_capacity() -> None:
    web = Instance("web", (1,), (MemoryRegion(4 * GiB, None, 0),))
    db = Instance("db", (2,), (MemoryRegion(3 * GiB, None, 0),))
    check(
        [web, db],
        "memory-node-capacity",
        Severity.ERROR,
        "numa node 0",
        at(50),
        "NUMA node 0: instances need 7 GiB of its pool memory (web 4 GiB, db 3 GiB), "
        "but its share of the pool is 6 GiB",
    )


def test_memory_wrong_node() -> None:
    web = Instance("web", (1,), (MemoryRegion(GiB, 2 * GiB, 1),))
    check(
        [web],
        "memory-wrong-node",
        Severity.ERROR,
        "instance web",
        at(64, 9),
        "Instance web: memory 0x80000000-0xbfffffff is said to be on NUMA node 1, "
        "but that address is on node 0",
    )


def test_memory_region_on_unknown_node() -> None:
    web = Instance("web", (1,), (MemoryRegion(GiB, None, 4),))
    check(
        [web],
        "numa-unknown-node",
        Severity.ERROR,
        "instance web",
        at(64, 9),
        "Instance web: NUMA node 4 does not exist in hardware topology",
    )


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("eth9_vf1", "Instance web: device 'eth9_vf1' does not exist"),
        ("ghost", "Instance web: device 'ghost' does not exist"),
        ("my_vfio", "Instance web: device 'my_vfio' does not exist"),
    ],
)
def test_device_unknown(label: str, message: str) -> None:
    finding = check(
        [vm("web", [1], devices=(label,))],
        "device-unknown",
        Severity.ERROR,
        "instance web",
        at(69, 9),
        message,
    )
    assert finding.hint is not None and "eth0_vf1, eth0_vf2, eth0_vf3" in finding.hint


@pytest.mark.parametrize(
    ("label", "why"),
    [
        ("eth0_vf0", "VF 0 of eth0 is reserved for the host"),
        ("eth0_vf7", "VF 7 of eth0 is not available (available VFs: 1-3)"),
        ("eth0", "eth0 is shared out by VF; name one, e.g. eth0_vf1"),
        ("nvme0_ns1", "namespace 1 of nvme0 is reserved for the host"),
        ("nvme0_ns9", "namespace 9 of nvme0 is not available (available namespaces: 2-4)"),
        ("gpu0_vf1", "gpu0 has no SR-IOV VFs"),
        ("eth0_ns1", "eth0 has no namespaces"),
    ],
)
def test_device_unit_unavailable(label: str, why: str) -> None:
    check(
        [vm("web", [1], devices=(label,))],
        "device-unit-unavailable",
        Severity.ERROR,
        "instance web",
        at(69, 9),
        f"Instance web: {why}",
    )


def test_device_repeated() -> None:
    check(
        [vm("web", [1], devices=("eth0_vf1", "eth0_vf1"))],
        "device-repeated",
        Severity.ERROR,
        "instance web",
        at(69, 9),
        "Instance web: eth0_vf1 listed twice",
    )


def test_device_conflict_reported_once_naming_both() -> None:
    check(
        [
            vm("web", [1], devices=("eth0_vf1", "gpu0")),
            vm("db", [2], base=4 * GiB, devices=("gpu0", "eth0_vf1")),
        ],
        "device-conflict",
        Severity.ERROR,
        "instances web, db",
        at(89, 9),
        "Instances web and db both use eth0_vf1, gpu0",
    )


def test_memory_overlap_of_several_regions_is_one_finding_per_pair() -> None:
    web = Instance("web", (1,), (MemoryRegion(GiB, 2 * GiB, 0), MemoryRegion(GiB, 4 * GiB, 0)))
    db = Instance("db", (2,), (MemoryRegion(3 * GiB, 2 * GiB, 0),))
    report = validate_host(dual_node_smt2(), [web, db])
    assert only(report, "memory-overlap").message == (
        "Instances web and db overlap in memory: 0x80000000-0xbfffffff, 0x100000000-0x13fffffff (2 GiB)"
    )
