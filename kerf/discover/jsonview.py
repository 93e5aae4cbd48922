"""The discovered host as plain JSON data (``kerf discover --json``).

The shape is documented in docs/discover.md and versioned by ``format``; fields are
only ever added within one version. Numbers are JSON numbers (bytes, ids); nothing is
formatted for humans.
"""

from __future__ import annotations

from typing import Any

from kerf.discover.model import Discovery
from planner.hardware import Host, MemoryRange

FORMAT = "kerf-discovery/1"


def _ranges(ranges: tuple[MemoryRange, ...] | list[MemoryRange]) -> list[dict[str, int]]:
    return [{"base": r.base, "size": r.size} for r in ranges]


def _role(host: Host, cpu: int) -> str:
    if cpu in host.host_reserved:
        return "host-reserved"
    if cpu in host.available:
        return "available"
    return "aside"


def discovery_to_json(discovery: Discovery) -> dict[str, Any]:
    """A JSON-ready dict of everything discovered (see docs/discover.md for the fields)."""
    host, facts = discovery.host, discovery.facts
    back = discovery.physical_to_logical
    die_of = {c.physical: c.die for c in facts.cpus}
    nodes = list(host.node_ids)
    return {
        "format": FORMAT,
        "source": facts.source,
        "model": host.model,
        "cpu_ids": facts.id_kind.value,
        "cpus": [
            {
                "id": cpu.id,
                "linux_cpu": back.get(cpu.id),
                "core": cpu.core,
                "socket": cpu.socket,
                "die": die_of.get(cpu.id),
                "numa_node": cpu.numa_node,
                "l3": cpu.l3,
                "role": _role(host, cpu.id),
            }
            for cpu in host.cpus
        ],
        "offline_linux_cpus": list(facts.offline),
        "cores": [{"id": c.id, "cpus": list(c.cpus)} for c in host.cores],
        "sockets": [{"id": s.id, "cpus": list(s.cpus)} for s in host.sockets],
        "numa_nodes": [
            {
                "id": n.id,
                "cpus": list(n.cpus),
                "memory_type": n.memory_type.value,
                "memory_bytes": n.memory_bytes,
                "memory": _ranges(n.memory),
                "pool": _ranges(host.pool_by_node.get(n.id, ())),
            }
            for n in host.numa_nodes
        ],
        "distances": {
            "nodes": nodes,
            "matrix": [[host.distance(a, b) for b in nodes] for a in nodes],
            "measured": bool(host.distances),
        },
        "caches": [{"id": c.id, "level": c.level, "size": c.size, "cpus": list(c.cpus)} for c in host.caches],
        "memory": {
            "total_bytes": host.memory.total_bytes,
            "host_reserved_bytes": host.memory.host_reserved_bytes,
            "pool_bytes": host.memory.pool_bytes,
            "pool": [
                {"base": r.base, "size": r.size, "numa_node": host.node_of_address(r.base)}
                for r in host.memory.pool
            ],
            "addresses": facts.address_source.value,
        },
        "devices": [_device(discovery, d.name) for d in host.devices],
        "kept_devices": [
            {
                "pci_id": f.address,
                "class": f.class_code,
                "vendor_id": f.vendor_id,
                "device_id": f.device_id,
                "host_use": list(f.host_use),
            }
            for f in discovery.kept_devices
        ],
        "notes": [{"severity": n.severity.value, "message": n.message} for n in discovery.notes],
    }


def _device(discovery: Discovery, name: str) -> dict[str, Any]:
    device = discovery.host.device_by_name[name]
    fact = discovery.device_facts.get(name)
    return {
        "name": device.name,
        "node_name": device.node_name,
        "kind": device.kind,
        "compatible": list(device.compatible),
        "pci_id": device.pci_id,
        "vendor_id": device.vendor_id,
        "device_id": device.device_id,
        "class": fact.class_code if fact is not None else None,
        "numa_node": device.numa_node,
        "sriov_vfs": device.sriov_vfs,
        "sriov_total_vfs": fact.sriov_total_vfs if fact is not None else 0,
        "available_vfs": list(device.available_vfs),
        "host_reserved_vfs": list(device.host_reserved_vfs),
        "vf_pci_ids": {str(n): a for n, a in sorted(device.vf_pci_ids.items())},
        "vf_device_id": device.vf_device_id,
        "vf_device_ids": {str(n): i for n, i in sorted(device.vf_device_ids.items())},
        "namespaces": device.namespaces,
        "available_ns": list(device.available_ns),
        "host_reserved_ns": list(device.host_reserved_ns),
        "interfaces": list(fact.interfaces) if fact is not None else [],
        "driver": fact.driver if fact is not None else None,
    }
