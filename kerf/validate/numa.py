"""NUMA rules for instances: configured nodes exist, CPUs and memory follow the policies.

The first sentence of each message keeps the wording of kerf's CPU/NUMA design
(``Instance web: CPU 8 is in NUMA node 1, but instance is configured for NUMA nodes
[0]. ...``) so that people who know those messages recognise them.
"""

from __future__ import annotations

from collections import defaultdict

from kerf.validate.findings import Collector, cpus_text, ids_text, instance_at, node_list
from planner.hardware import Host, Instance
from planner.policy import CpuAffinity, MemoryPolicy


def memory_nodes(host: Host, inst: Instance) -> tuple[int, ...] | None:
    """The NUMA nodes holding the instance's memory, or None when some region's node is unknown."""
    nodes: set[int] = set()
    for region in inst.memory:
        node = region.numa_node
        if node is None and region.base is not None:
            node = host.node_of_address(region.base)
        if node is None:
            return None
        nodes.add(node)
    return tuple(sorted(nodes)) if nodes else None


def _memory_text(nodes: tuple[int, ...]) -> str:
    return f"NUMA node {nodes[0]}" if len(nodes) == 1 else f"NUMA nodes {node_list(nodes)}"


def check_numa_nodes_exist(
    host: Host, name: str, nodes: tuple[int, ...], subject: str, out: Collector
) -> None:
    """Every node an instance or request is configured for exists."""
    for node in dict.fromkeys(nodes):
        if node not in host.node_by_id:
            out.error(
                "numa-unknown-node",
                subject,
                f"Instance {name}: NUMA node {node} does not exist in hardware topology",
                hint=f"NUMA nodes: {ids_text(host.node_ids)}",
                at=instance_at(name, "numa-nodes"),
            )


def check_instance_numa(host: Host, inst: Instance, subject: str, out: Collector) -> None:
    """Nodes exist; CPUs on the configured nodes; affinity and memory policy respected."""
    name = inst.name
    check_numa_nodes_exist(host, name, inst.numa_nodes, subject, out)
    by_node: dict[int, list[int]] = defaultdict(list)
    for cpu in dict.fromkeys(inst.cpus):
        known = host.cpu_by_id.get(cpu)
        if known is not None and known.numa_node is not None:
            by_node[known.numa_node].append(cpu)
    cpu_nodes = tuple(sorted(by_node))
    # Remote CPUs are judged against configured nodes that exist; a node that does not
    # exist is already an error of its own.
    if any(n in host.node_by_id for n in inst.numa_nodes):
        configured = node_list(inst.numa_nodes)
        for node in cpu_nodes:
            if node not in inst.numa_nodes:
                cpus = by_node[node]
                out.warning(
                    "numa-remote-cpu",
                    subject,
                    f"Instance {name}: {cpus_text(cpus)} {'is' if len(cpus) == 1 else 'are'} in NUMA node "
                    f"{node}, but instance is configured for NUMA nodes {configured}. This may cause "
                    "performance issues due to remote memory access.",
                    hint=f"pick CPUs of NUMA nodes {configured}, or add node {node} to numa-nodes",
                    at=instance_at(name, "cpus"),
                )
    mem = memory_nodes(host, inst)
    _check_affinity(host, inst, cpu_nodes, mem, subject, out)
    _check_policy(inst, cpu_nodes, mem, subject, out)


def _spread_units(host: Host, inst: Instance) -> int:
    """What a spread instance could have put on different nodes: its CPUs, or with
    exclusive cores its cores (an exclusive instance spreads whole cores)."""
    if not inst.exclusive_cores:
        return len(set(inst.cpus))
    return len({host.cpu_by_id[c].core for c in inst.cpus if c in host.cpu_by_id})


def _check_affinity(
    host: Host,
    inst: Instance,
    cpu_nodes: tuple[int, ...],
    mem: tuple[int, ...] | None,
    subject: str,
    out: Collector,
) -> None:
    name, at = inst.name, instance_at(inst.name, "cpu-affinity")
    if inst.cpu_affinity is CpuAffinity.COMPACT and len(cpu_nodes) > 1:
        out.warning(
            "affinity-compact-spans",
            subject,
            f"Instance {name}: Compact CPU affinity requested but CPUs span multiple NUMA nodes: "
            f"{node_list(cpu_nodes)}",
            hint="pick CPUs of one NUMA node, or use spread",
            at=at,
        )
    elif inst.cpu_affinity is CpuAffinity.SPREAD and len(cpu_nodes) == 1 and _spread_units(host, inst) > 1:
        candidates = inst.numa_nodes or tuple(n.id for n in host.numa_nodes if host.pool_cpus_of_node(n.id))
        if len(set(candidates)) > 1:
            out.warning(
                "affinity-spread-single",
                subject,
                f"Instance {name}: Spread CPU affinity requested but CPUs are from single NUMA node "
                f"{cpu_nodes[0]}",
                hint="pick CPUs of several NUMA nodes, or use compact",
                at=at,
            )
    elif inst.cpu_affinity is CpuAffinity.LOCAL:
        if len(cpu_nodes) > 1:
            out.error(
                "affinity-local-spans",
                subject,
                f"Instance {name}: Local affinity requested but CPUs span multiple NUMA nodes: "
                f"{node_list(cpu_nodes)}",
                hint="local keeps CPUs and memory on one NUMA node; pick CPUs of one node",
                at=at,
            )
        elif cpu_nodes and mem is not None and mem != cpu_nodes:
            out.error(
                "affinity-local-mismatch",
                subject,
                f"Instance {name}: Local affinity requested but CPUs are from NUMA nodes "
                f"{node_list(cpu_nodes)} while memory is on {_memory_text(mem)}",
                hint=f"put the memory on NUMA node {cpu_nodes[0]} (memory-base inside its pool share)",
                at=instance_at(name, "memory-base") + at,
            )


def _check_policy(
    inst: Instance,
    cpu_nodes: tuple[int, ...],
    mem: tuple[int, ...] | None,
    subject: str,
    out: Collector,
) -> None:
    name, at = inst.name, instance_at(inst.name, "memory-policy")
    if inst.memory_policy is MemoryPolicy.LOCAL:
        local_affinity_said_so = inst.cpu_affinity is CpuAffinity.LOCAL and len(cpu_nodes) == 1
        if cpu_nodes and mem is not None and not set(mem) <= set(cpu_nodes) and not local_affinity_said_so:
            out.warning(
                "policy-local-mismatch",
                subject,
                f"Instance {name}: Local memory policy requested but CPUs are from NUMA nodes "
                f"{node_list(cpu_nodes)} while memory is on {_memory_text(mem)}",
                hint="put the memory on the NUMA nodes of the instance's CPUs",
                at=instance_at(name, "memory-base") + at,
            )
    elif inst.memory_policy is MemoryPolicy.BIND:
        if not inst.numa_nodes:
            out.error(
                "policy-bind-no-nodes",
                subject,
                f"Instance {name}: Bind memory policy requested but no NUMA nodes specified",
                hint="list the nodes memory may come from in numa-nodes = <...>;",
                at=at,
            )
        elif mem is not None and not set(mem) <= set(inst.numa_nodes):
            outside = tuple(n for n in mem if n not in inst.numa_nodes)
            out.error(
                "policy-bind-outside",
                subject,
                f"Instance {name}: Bind memory policy requested but memory is on {_memory_text(outside)}, "
                f"outside the configured NUMA nodes {node_list(inst.numa_nodes)}",
                hint="bind allows memory only on the listed nodes",
                at=instance_at(name, "memory-base") + at,
            )
