"""Checks every planner test applies to a plan: the independent validator, and the
policy rules of docs/planner.md that the validator leaves to the planner."""

from __future__ import annotations

from collections.abc import Sequence

from kerf.validate import validate_plan
from planner.hardware import Host, Instance
from planner.objective import instance_pages_per_node, pages, resolve
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import InstanceRequest, Plan


def cpu_nodes(host: Host, inst: Instance) -> dict[int, int]:
    """NUMA node -> CPUs of the instance there."""
    per: dict[int, int] = {}
    for cpu in inst.cpus:
        node = host.cpu_by_id[cpu].numa_node
        assert node is not None
        per[node] = per.get(node, 0) + 1
    return per


def assert_plan_valid(host: Host, plan: Plan, requests: Sequence[InstanceRequest]) -> None:
    """The plan passes kerf.validate and keeps every hard rule of its requests."""
    report = validate_plan(host, plan.existing, plan.placements, requests)
    assert report.ok, [f.message for f in report.errors]
    names = {p.name for p in plan.placements} | {u.name for u in plan.unplaced}
    assert names == {r.name for r in requests}
    by_name = {r.name: r for r in requests}
    for inst in plan.placements:
        assert_meets_policies(host, inst, by_name[inst.name])


def assert_meets_policies(host: Host, inst: Instance, request: InstanceRequest) -> None:
    """The hard policy rules: local, proportional / even / bound memory."""
    intent = resolve(host, request)
    per_cpu = cpu_nodes(host, inst)
    per_mem = instance_pages_per_node(host, inst)
    mem_nodes = {n for n, p in per_mem.items() if p}
    total = sum(per_mem.values())
    assert total == pages(request.memory_bytes), (inst.name, total)
    assert all(r.size % 4096 == 0 and (r.base or 0) % 4096 == 0 for r in inst.memory)
    if request.cpus is not None:
        assert inst.cpus == request.cpus
    else:
        assert len(inst.cpus) == request.cpu_count
    if request.cpu_affinity is CpuAffinity.LOCAL:
        assert len(per_cpu) == 1, (inst.name, per_cpu)
        assert mem_nodes <= set(per_cpu), (inst.name, per_cpu, per_mem)
    if intent.cpu_nodes is not None:
        assert set(per_cpu) <= intent.cpu_nodes
    v = len(inst.cpus)
    if request.memory_policy is MemoryPolicy.BIND:
        assert mem_nodes <= set(request.numa_nodes), (inst.name, per_mem)
    elif request.memory_policy is MemoryPolicy.INTERLEAVE:
        nodes = set(request.numa_nodes) if request.numa_nodes else set(per_cpu)
        shares = [per_mem.get(n, 0) for n in sorted(nodes)]
        assert mem_nodes <= nodes, (inst.name, per_mem, nodes)
        assert max(shares) - min(shares) <= 1, (inst.name, per_mem)
    else:
        assert mem_nodes <= set(per_cpu), (inst.name, per_cpu, per_mem)
        for n, c in per_cpu.items():
            assert abs(per_mem.get(n, 0) * v - total * c) < v, (inst.name, per_cpu, per_mem)
