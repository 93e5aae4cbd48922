"""Every file in examples/ is exercised: host descriptions validate (or, for the conflict
example, report each expected error), request files fit the hosts they are written for."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kerf.binding import HostDescription, load_host, read_host, read_instances
from kerf.dts import from_dtb, parse_file
from kerf.validate import Severity, validate_description, validate_host
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VALID = ["minimal.dts", "baseline.dts", "edge_computing.dts", "numa_topology.dts", "system.dts"]
GiB = 1 << 30


def require_tool(name: str) -> str:
    """The tool's path; skip when missing, fail under KERF_REQUIRE_TOOLS=1."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("KERF_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{name} is required (KERF_REQUIRE_TOOLS=1) but is not installed")
        pytest.skip(f"{name} is not installed")
    return path


def test_every_example_file_is_covered() -> None:
    hosts = sorted(p.name for p in EXAMPLES.glob("*.dts"))
    assert hosts == sorted([*VALID, "conflict_example.dts"])
    requests = sorted(p.name for p in (EXAMPLES / "requests").iterdir())
    assert requests == sorted([*JSON_HOSTS, "batch.dts"])
    readme = (EXAMPLES / "README.md").read_text()
    assert [name for name in [*hosts, *requests] if name not in readme] == []


@pytest.mark.parametrize("name", VALID)
def test_valid_examples_have_no_errors(name: str) -> None:
    report = validate_description(load_host(EXAMPLES / name))
    assert report.errors == ()
    assert all(f.severity is not Severity.INFO or f.code == "cpu-offline" for f in report.findings)


def test_numa_topology_is_written_in_the_seed_style_and_warns_only_about_it() -> None:
    path = EXAMPLES / "numa_topology.dts"
    assert path.read_text().startswith("/multikernel-v1/;")
    report = validate_description(load_host(path))
    assert report.ok
    assert report.codes == ("dts-wide-literal",)


def test_standard_examples_have_no_findings_at_all() -> None:
    for name in ("minimal.dts", "baseline.dts", "edge_computing.dts", "system.dts"):
        assert validate_description(load_host(EXAMPLES / name)).findings == (), name


def test_minimal() -> None:
    host = load_host(EXAMPLES / "minimal.dts").host
    assert len(host.cpus) == 8
    assert host.memory.total_bytes == 8 * GiB


def test_baseline() -> None:
    desc = load_host(EXAMPLES / "baseline.dts")
    host = desc.host
    assert (len(host.cpus), host.memory.total_bytes) == (32, 16 * GiB)
    assert host.host_reserved == {0, 1}
    assert host.memory.host_reserved_bytes == 2 * GiB
    assert host.available == set(range(2, 32))
    assert desc.instances == () and desc.requests == ()


def test_edge_computing() -> None:
    desc = load_host(EXAMPLES / "edge_computing.dts")
    host = desc.host
    assert (len(host.cpus), host.memory.total_bytes) == (16, 32 * GiB)
    assert {d.name: d.kind for d in host.devices} == {"gpu0": "whole", "eth0": "sriov"}
    assert [(i.name, i.devices) for i in desc.instances] == [
        ("inference", ("gpu0", "eth0_vf1")),
        ("gateway", ("eth0_vf2",)),
    ]


def test_numa_topology() -> None:
    desc = load_host(EXAMPLES / "numa_topology.dts")
    host = desc.host
    assert host.node_ids == (0, 1, 2, 3)
    assert len(host.sockets) == 2
    assert all(len(core.cpus) == 2 for core in host.cores)
    assert (host.distance(0, 1), host.distance(0, 2), host.distance(2, 3)) == (12, 32, 12)
    assert len([c for c in host.caches if c.level == 3]) == 4
    devices = host.device_by_name
    assert (devices["eth0"].kind, devices["eth0"].numa_node) == ("sriov", 0)
    assert (devices["nvme0"].kind, devices["nvme0"].numa_node) == ("nvme", 2)
    policies = {(i.cpu_affinity, i.memory_policy) for i in desc.instances}
    assert {a for a, _ in policies} == set(CpuAffinity)
    assert {p for _, p in policies} == set(MemoryPolicy)
    assert [r.name for r in desc.requests] == ["ml-training"]


def test_system() -> None:
    path = EXAMPLES / "system.dts"
    assert path.read_text().startswith("/dts-v1/;")
    desc = load_host(path)
    assert (len(desc.host.cpus), len(desc.host.sockets), desc.host.memory.total_bytes) == (64, 2, 256 * GiB)
    assert len(desc.host.memory.pool) == 2  # memory-pool-ranges, one per node
    assert len(desc.instances) >= 3 and len(desc.requests) >= 2


def _expected_conflicts() -> list[str]:
    """The codes the conflict example's header comment promises, in its order."""
    text = (EXAMPLES / "conflict_example.dts").read_text()
    block = text.split("What is wrong, by code:", 1)[1].split("*/", 1)[0]
    return re.findall(r"^ \*\s+([a-z][a-z0-9-]+)\s", block, flags=re.MULTILINE)


def test_conflict_example_reports_each_promised_error_once() -> None:
    expected = _expected_conflicts()
    assert {
        "cpu-conflict",
        "cpu-host-reserved",
        "memory-overlap",
        "device-conflict",
        "device-unknown",
    } <= set(expected)
    assert {"instance-id-duplicate", "instance-name-invalid", "numa-unknown-node"} <= set(expected)
    report = validate_description(load_host(EXAMPLES / "conflict_example.dts"))
    assert not report.ok
    assert sorted(f.code for f in report.errors) == sorted(expected)
    assert all(f.location is not None and f.hint for f in report.errors)


def _dts_v1_examples() -> list[str]:
    return [n for n in VALID if (EXAMPLES / n).read_text().startswith("/dts-v1/;")]


@pytest.mark.parametrize("name", _dts_v1_examples())
def test_standard_examples_compile_with_dtc_to_the_same_host(name: str, tmp_path: Path) -> None:
    """dtc accepts them; its DTB (with -@ keeping the labels) reads back to the same description."""
    dtc = require_tool("dtc")
    result = subprocess.run(
        [dtc, "-q", "-@", "-I", "dts", "-O", "dtb", str(EXAMPLES / name)], capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    from_dtc = read_host(from_dtb(result.stdout, str(tmp_path / "x.dtb")))
    from_text = load_host(EXAMPLES / name)
    assert from_dtc.host == from_text.host
    assert from_dtc.instances == from_text.instances
    assert from_dtc.requests == from_text.requests


def test_request_file_in_dts() -> None:
    host_desc = load_host(EXAMPLES / "numa_topology.dts")
    instances, requests = read_instances(parse_file(EXAMPLES / "requests" / "batch.dts"), host_desc.host)
    assert instances == ()
    assert [r.name for r in requests] == ["etl", "reports", "crawler"]
    assert requests[0].devices == (DeviceWant.parse("nvme0_ns4"),)
    _fits(host_desc, requests)


# --- JSON request files -----------------------------------------------------------------

JSON_HOSTS = {"web.json": "baseline.dts", "mixed.json": "numa_topology.dts"}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)
_KEYS = {
    "name",
    "cpu-count",
    "cpus",
    "memory",
    "memory-bytes",
    "cpu-affinity",
    "memory-policy",
    "numa-nodes",
    "devices",
    "exclusive-cores",
    "id",
}


def _size(text: str) -> int:
    """``8GB``, ``512M``, ``2GiB``: sizes in powers of 1024, as the request format defines them."""
    m = _SIZE.match(text)
    assert m is not None, text
    return int(m[1]) << (10 * " KMGT".index((m[2] or " ").upper()))


def _requests_of(path: Path) -> list[InstanceRequest]:
    """The documented JSON format, read strictly enough to catch a mistake in an example."""
    data = json.loads(path.read_text())
    assert set(data) == {"instances"}
    found = []
    for item in data["instances"]:
        assert set(item) <= _KEYS, set(item) - _KEYS
        memory = _size(item["memory"]) if "memory" in item else item["memory-bytes"]
        found.append(
            InstanceRequest(
                name=item["name"],
                memory_bytes=memory,
                cpu_count=item.get("cpu-count"),
                cpus=tuple(item["cpus"]) if "cpus" in item else None,
                numa_nodes=tuple(item.get("numa-nodes", ())),
                cpu_affinity=CpuAffinity(item.get("cpu-affinity", "compact")),
                memory_policy=MemoryPolicy(item.get("memory-policy", "local")),
                devices=tuple(DeviceWant.parse(d) for d in item.get("devices", ())),
                exclusive_cores=item.get("exclusive-cores", False),
                id=item.get("id"),
            )
        )
    return found


def _fits(desc: HostDescription, requests: list[InstanceRequest] | tuple[InstanceRequest, ...]) -> None:
    report = validate_host(desc.host, desc.instances, requests)
    assert report.errors == (), report.errors


def test_size_units() -> None:
    assert [_size(s) for s in ("8GB", "512M", "2GiB", "1T", "64k")] == [
        8 * GiB,
        512 << 20,
        2 * GiB,
        1 << 40,
        65536,
    ]


@pytest.mark.parametrize(("name", "host"), sorted(JSON_HOSTS.items()))
def test_json_request_files_fit_their_hosts(name: str, host: str) -> None:
    requests = _requests_of(EXAMPLES / "requests" / name)
    assert requests
    _fits(load_host(EXAMPLES / host), requests)


def test_web_json_is_the_documented_example() -> None:
    (web,) = _requests_of(EXAMPLES / "requests" / "web.json")
    assert (web.name, web.cpu_count, web.memory_bytes, web.numa_nodes) == ("web", 4, 8 * GiB, (0,))
    assert (web.cpu_affinity, web.memory_policy, web.exclusive_cores) == (
        CpuAffinity.COMPACT,
        MemoryPolicy.LOCAL,
        True,
    )
    assert web.devices == (DeviceWant.parse("eth0_vf1"),)
