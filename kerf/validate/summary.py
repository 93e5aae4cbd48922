"""The figures `kerf validate` shows next to the findings, as plain JSON-ready data.

The text report (rich tables) and ``--json`` are two renderings of the same
:func:`summarize` result, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kerf.binding import HostDescription
from kerf.validate.findings import Finding, Report, Severity
from kerf.validate.numa import memory_nodes
from planner.hardware import Host, Instance
from planner.request import InstanceRequest


def summarize(desc: HostDescription, report: Report) -> dict[str, Any]:
    """``{"valid", "source", "inventory", "numa", "utilisation", "instances", "requests", "findings"}``."""
    host = desc.host
    return {
        "valid": report.ok,
        "source": desc.source,
        "inventory": inventory(host),
        "numa": numa_rows(host, desc.instances),
        "utilisation": utilisation(host, desc.instances),
        "instances": [instance_row(host, inst) for inst in desc.instances],
        "requests": [request_row(req) for req in desc.requests],
        "findings": [finding_row(f) for f in sorted(report.findings, key=_reading_order)],
    }


def inventory(host: Host) -> dict[str, Any]:
    """CPUs (total, host-reserved, pool, offline) and memory (total, host, pool)."""
    ids = [c.id for c in host.cpus]
    exists = set(ids)
    return {
        "cpus": {
            "total": host.declared_total_cpus if host.declared_total_cpus is not None else len(ids),
            "ids": ids,
            "host_reserved": sorted(host.host_reserved),
            "pool": sorted(host.available),
            "offline": sorted(exists - host.host_reserved - host.available),
        },
        "memory": {
            "total_bytes": host.memory.total_bytes,
            "host_reserved_bytes": host.memory.host_reserved_bytes,
            "pool_bytes": host.memory.pool_bytes,
            "pool_ranges": [{"base": r.base, "size": r.size} for r in host.memory.pool],
        },
        "devices": [
            {
                "name": d.name,
                "kind": d.kind,
                "pci_id": d.pci_id,
                "numa_node": d.numa_node,
                "units": [u.label for u in d.units()],
            }
            for d in host.devices
        ],
    }


def _node_of_region(host: Host, node: int | None, base: int | None) -> int | None:
    if node is not None:
        return node
    return host.node_of_address(base) if base is not None else None


def numa_rows(host: Host, instances: Iterable[Instance]) -> list[dict[str, Any]]:
    """Per NUMA node: CPUs, pool CPUs, CPUs used by instances, memory, pool share, used."""
    instances = list(instances)
    used_cpus = {c for inst in instances for c in inst.cpus}
    used_bytes: dict[int, int] = {}
    for inst in instances:
        for region in inst.memory:
            where = _node_of_region(host, region.numa_node, region.base)
            if where is not None:
                used_bytes[where] = used_bytes.get(where, 0) + region.size
    rows = []
    for node in host.numa_nodes:
        pool_cpus = host.pool_cpus_of_node(node.id)
        rows.append(
            {
                "node": node.id,
                "memory_type": node.memory_type.value,
                "cpus": list(node.cpus),
                "pool_cpus": len(pool_cpus),
                "used_cpus": len([c for c in pool_cpus if c in used_cpus]),
                "memory_bytes": node.memory_bytes,
                "pool_bytes": host.pool_bytes_of_node(node.id),
                "used_bytes": used_bytes.get(node.id, 0),
            }
        )
    return rows


def utilisation(host: Host, instances: Iterable[Instance]) -> dict[str, Any]:
    """The instances' share of the pool's CPUs and memory."""
    instances = list(instances)
    pool_cpus = len(host.available)
    used_cpus = len({c for inst in instances for c in inst.cpus} & host.available)
    pool_bytes = host.memory.pool_bytes
    used_bytes = sum(inst.memory_bytes for inst in instances)
    return {
        "cpus": {"pool": pool_cpus, "used": used_cpus, "percent": _percent(used_cpus, pool_cpus)},
        "memory": {
            "pool_bytes": pool_bytes,
            "used_bytes": used_bytes,
            "percent": _percent(used_bytes, pool_bytes),
        },
    }


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def instance_row(host: Host, inst: Instance) -> dict[str, Any]:
    """One placed instance as written, plus the NUMA nodes its memory is on (when known)."""
    mem = memory_nodes(host, inst)
    return {
        "name": inst.name,
        "id": inst.id,
        "cpus": list(inst.cpus),
        "memory_bytes": inst.memory_bytes,
        "memory": [{"size": r.size, "base": r.base, "numa_node": r.numa_node} for r in inst.memory],
        "memory_nodes": list(mem) if mem is not None else None,
        "numa_nodes": list(inst.numa_nodes),
        "cpu_affinity": inst.cpu_affinity.value if inst.cpu_affinity is not None else None,
        "memory_policy": inst.memory_policy.value if inst.memory_policy is not None else None,
        "devices": list(inst.devices),
        "exclusive_cores": inst.exclusive_cores,
    }


def request_row(req: InstanceRequest) -> dict[str, Any]:
    """One request (an instance for the planner to place)."""
    return {
        "name": req.name,
        "id": req.id,
        "cpu_count": req.cpu_count,
        "cpus": list(req.cpus) if req.cpus is not None else None,
        "memory_bytes": req.memory_bytes,
        "numa_nodes": list(req.numa_nodes),
        "cpu_affinity": req.cpu_affinity.value,
        "memory_policy": req.memory_policy.value,
        "devices": [w.text for w in req.devices],
        "exclusive_cores": req.exclusive_cores,
    }


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def _reading_order(finding: Finding) -> tuple[int, int, str, int, int]:
    """Errors first, then warnings, then notes; each in file order (unlocated last)."""
    where = finding.location
    if where is None:
        return (_RANK[finding.severity], 1, "", 0, 0)
    return (_RANK[finding.severity], 0, where.filename, where.line, where.col)


def finding_row(finding: Finding) -> dict[str, Any]:
    """``{"code", "severity", "location", "subject", "message", "hint"}``."""
    return {
        "code": finding.code,
        "severity": finding.severity.value,
        "location": str(finding.location) if finding.location is not None else None,
        "subject": finding.subject,
        "message": finding.message,
        "hint": finding.hint,
    }
