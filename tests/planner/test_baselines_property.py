"""Property: on random hosts and request sequences, every baseline keeps the hard rules,
is deterministic, and its placements pass kerf's independent validator."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerf.validate import validate_plan
from planner.baselines import baseline_allocators
from planner.hardware import Device, Host, Instance, MemoryInventory, MemoryRange, assemble_host
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest
from planner.synthetic import GiB, synthetic_host

SHAPES = [
    "pack:1 core:4 pu:2",
    "pack:2 core:3 pu:2",
    "pack:2 numa:2 core:3 pu:2",
    "pack:1 numa:2 l3:2 core:2 pu:2",
    "pack:2 core:4 pu:1",
    "pack:1 core:3 pu:4",
    "hybrid",
]
MEMORY = [GiB // 4, GiB, 2 * GiB, 3 * GiB]
WANTS = ["eth0_vf*", "eth0_vf1", "nvme0_ns*", "gpu0"]


@dataclass(frozen=True)
class Scenario:
    host: Host
    requests: tuple[InstanceRequest, ...]


def hybrid_host(reserved: set[int], devices: list[Device]) -> Host:
    """Two nodes, each with two 2-thread P-cores and two 1-thread E-cores (no global
    threads-per-core holds here)."""
    node_bytes = 4 * GiB
    pool = tuple(MemoryRange(n * node_bytes + GiB, 3 * GiB) for n in range(2))
    return assemble_host(
        range(12),
        available=[c for c in range(12) if c not in reserved],
        host_reserved=reserved,
        numa_cpus={0: [0, 1, 2, 3, 8, 9], 1: [4, 5, 6, 7, 10, 11]},
        numa_memory={n: [MemoryRange(n * node_bytes, node_bytes)] for n in range(2)},
        core_cpus=[(0, 1), (2, 3), (4, 5), (6, 7), (8,), (9,), (10,), (11,)],
        memory=MemoryInventory(2 * node_bytes, 2 * GiB, pool),
        devices=devices,
    )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    shape = draw(st.sampled_from(SHAPES))
    numbering = draw(st.sampled_from(["linux", "adjacent"]))
    probe = hybrid_host(set(), []) if shape == "hybrid" else synthetic_host(shape, numbering=numbering)
    nodes = list(probe.node_ids)
    ids = [c.id for c in probe.cpus]
    reserved = draw(st.sets(st.sampled_from(ids), max_size=2))
    devices = [
        Device("eth0", numa_node=draw(st.sampled_from(nodes)), sriov_vfs=3, available_vfs=(0, 1, 2)),
        Device("nvme0", numa_node=nodes[-1], namespaces=2, available_ns=(1, 2)),
        Device("gpu0", numa_node=nodes[0]),
    ]
    if shape == "hybrid":
        host = hybrid_host(reserved, devices)
    else:
        host = synthetic_host(
            shape, numbering=numbering, node_memory=4 * GiB, reserved_cpus=reserved, devices=devices
        )
    pool = sorted(host.available)
    requests = []
    for i in range(draw(st.integers(1, 7))):
        affinity = draw(st.sampled_from(list(CpuAffinity)))
        policy = draw(st.sampled_from(list(MemoryPolicy)))
        listed = draw(st.lists(st.sampled_from(nodes), unique=True, max_size=2))
        if policy is MemoryPolicy.BIND and not listed:
            listed = [nodes[0]]
        if affinity is CpuAffinity.LOCAL:
            listed = listed[:1]
        pinned = draw(st.booleans()) and draw(st.integers(0, 4)) == 0
        cpus = (
            tuple(draw(st.lists(st.sampled_from(pool), unique=True, min_size=1, max_size=3)))
            if pinned
            else None
        )
        requests.append(
            InstanceRequest(
                f"i{i}",
                memory_bytes=draw(st.sampled_from(MEMORY)),
                cpu_count=None if cpus else draw(st.integers(1, 6)),
                cpus=cpus,
                numa_nodes=tuple(listed),
                cpu_affinity=affinity,
                memory_policy=policy,
                exclusive_cores=draw(st.booleans()),
                devices=tuple(
                    DeviceWant.parse(w) for w in draw(st.lists(st.sampled_from(WANTS), max_size=2))
                ),
            )
        )
    return Scenario(host, tuple(requests))


def check_hard_rules(host: Host, existing: list[Instance], req: InstanceRequest, inst: Instance) -> None:
    """The baseline contract, restated independently of the baselines' code."""
    assert inst.name == req.name
    assert len(set(inst.cpus)) == len(inst.cpus) == req.size
    if req.cpus is not None:
        assert inst.cpus == req.cpus
    held = {c for e in existing for c in e.cpus}
    assert set(inst.cpus) <= host.available and not set(inst.cpus) & held
    core_of = {c: core.id for core in host.cores for c in core.cpus}
    mine = {core_of[c] for c in inst.cpus}
    for other in existing:
        if other.exclusive_cores or req.exclusive_cores:
            assert not mine & {core_of[c] for c in other.cpus}, f"{inst.name} shares a core with {other.name}"
    cpu_nodes = {host.cpu_by_id[c].numa_node for c in inst.cpus}
    memory: Counter[int] = Counter()
    for region in inst.memory:
        assert region.base is not None and region.numa_node is not None
        assert region.base % 4096 == 0 and region.size % 4096 == 0
        assert host.node_of_address(region.base) == region.numa_node
        assert any(share.contains(region.range) for share in host.pool_by_node[region.numa_node])  # type: ignore[arg-type]
        for other in existing:
            assert not any(region.range.overlaps(r.range) for r in other.memory)  # type: ignore[union-attr,arg-type]
        memory[region.numa_node] += region.size
    assert sum(memory.values()) >= req.memory_bytes
    if req.cpu_affinity is CpuAffinity.LOCAL:
        assert len(cpu_nodes) == 1 and set(memory) == cpu_nodes
    if req.memory_policy is MemoryPolicy.BIND:
        assert set(memory) <= set(req.numa_nodes)
    elif req.memory_policy is MemoryPolicy.INTERLEAVE and req.numa_nodes:
        assert set(memory) == set(req.numa_nodes)
    elif req.memory_policy is MemoryPolicy.LOCAL:
        assert set(memory) <= cpu_nodes
    used = {u for e in existing for u in e.devices}
    assert len(set(inst.devices)) == len(inst.devices) == len(req.devices)
    assert not set(inst.devices) & used and set(inst.devices) <= set(host.unit_by_label)


def run(name: str, scenario: Scenario) -> list[Instance | None]:
    allocator = baseline_allocators()[name]
    existing: list[Instance] = []
    results: list[Instance | None] = []
    for req in scenario.requests:
        inst = allocator.place(scenario.host, list(existing), req)
        results.append(inst)
        if inst is not None:
            check_hard_rules(scenario.host, existing, req, inst)
            report = validate_plan(scenario.host, existing, [inst], [req])
            assert report.ok, [f"{f.code}: {f.message}" for f in report.errors]
            existing.append(inst)
    return results


@pytest.mark.parametrize("name", list(baseline_allocators()))
@settings(max_examples=60, deadline=None, derandomize=True)
@given(scenario=scenarios())
def test_placements_keep_the_hard_rules_and_are_deterministic(name: str, scenario: Scenario) -> None:
    first = run(name, scenario)
    assert run(name, scenario) == first
