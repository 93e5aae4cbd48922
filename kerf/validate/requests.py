"""Rules on requests (instances the planner is asked to place): can they ever fit?"""

from __future__ import annotations

from kerf.validate.findings import Collector, instance_at, node_list, size_text
from kerf.validate.instances import check_cpu_list, known_units_hint, unit_problem
from kerf.validate.numa import check_numa_nodes_exist
from planner.hardware import Host
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest


def check_request(host: Host, req: InstanceRequest, out: Collector) -> None:
    """One request against the host's inventory (not against other instances)."""
    subject = f"request {req.name}"
    name = req.name
    pool = len(host.available)
    if req.cpus is not None:
        check_cpu_list(host, name, req.cpus, subject, out)
    elif req.cpu_count is not None and req.cpu_count > pool:
        out.error(
            "request-cpu-count-exceeds-pool",
            subject,
            f"Instance {name}: asks for {req.cpu_count} CPUs, but the pool has {pool}",
            hint="ask for fewer CPUs or add CPUs to available = <...>;",
            at=instance_at(name, "cpu-count"),
        )
    if req.memory_bytes == 0:
        out.error(
            "memory-size-zero",
            subject,
            f"Instance {name}: memory size is 0",
            hint="give the instance memory, e.g. memory-bytes = <0x0 0x40000000>; for 1 GiB",
            at=instance_at(name, "memory-bytes"),
        )
    elif req.memory_bytes > host.memory.pool_bytes:
        out.error(
            "request-memory-exceeds-pool",
            subject,
            f"Instance {name}: asks for {size_text(req.memory_bytes)} of memory, but the pool has "
            f"{size_text(host.memory.pool_bytes)}",
            hint="ask for less memory or grow the pool",
            at=instance_at(name, "memory-bytes"),
        )
    check_numa_nodes_exist(host, name, req.numa_nodes, subject, out)
    _check_policies(host, req, subject, out)
    for want in req.devices:
        _check_want(host, name, want, subject, out)


def _check_policies(host: Host, req: InstanceRequest, subject: str, out: Collector) -> None:
    name = req.name
    if req.memory_policy is MemoryPolicy.BIND and not req.numa_nodes:
        out.error(
            "policy-bind-no-nodes",
            subject,
            f"Instance {name}: Bind memory policy requested but no NUMA nodes specified",
            hint="list the nodes memory may come from in numa-nodes",
            at=instance_at(name, "memory-policy"),
        )
    if req.cpu_affinity is not CpuAffinity.LOCAL:
        return
    if len(set(req.numa_nodes)) > 1:
        out.error(
            "request-local-multi-node",
            subject,
            f"Instance {name}: Local affinity requested but NUMA nodes {node_list(req.numa_nodes)} are "
            "listed; local keeps the instance on one node",
            hint="list one NUMA node, or use compact affinity to prefer few nodes",
            at=instance_at(name, "numa-nodes") + instance_at(name, "cpu-affinity"),
        )
        return
    candidates = [n for n in (req.numa_nodes or host.node_ids) if n in host.node_by_id]
    if not candidates or req.cpu_count is None:
        return
    best = max(candidates, key=lambda n: (len(host.pool_cpus_of_node(n)), -n))
    room = len(host.pool_cpus_of_node(best))
    if req.cpu_count > room:
        out.error(
            "request-local-too-big",
            subject,
            f"Instance {name}: Local affinity needs {req.cpu_count} CPUs on one NUMA node, but the largest "
            f"{'allowed ' if req.numa_nodes else ''}node ({best}) has {room} pool CPUs",
            hint="ask for fewer CPUs or use compact affinity",
            at=instance_at(name, "cpu-count") + instance_at(name, "cpu-affinity"),
        )


def _check_want(host: Host, name: str, want: DeviceWant, subject: str, out: Collector) -> None:
    at = instance_at(name, "devices")
    if want.is_specific:
        problem = unit_problem(host, want.text)
        if problem is not None:
            code, why = problem
            out.error(code, subject, f"Instance {name}: {why}", hint=known_units_hint(host), at=at)
        return
    device = host.device_by_name.get(want.device)
    if device is None:
        out.error(
            "device-unknown",
            subject,
            f"Instance {name}: device {want.device!r} does not exist",
            hint=known_units_hint(host),
            at=at,
        )
        return
    kind, units = (
        ("VF", device.available_vfs) if want.kind == "any-vf" else ("namespace", device.available_ns)
    )
    if not units:
        out.error(
            "device-unit-unavailable",
            subject,
            f"Instance {name}: {want.text} asks for any {kind} of {device.name}, but it has none available",
            hint=known_units_hint(host),
            at=at,
        )
