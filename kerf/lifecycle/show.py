"""``kerf show``: the pool per NUMA node and every instance, as the kernel has them.

What exists, its state, CPUs and memory regions come from the kernel (the pool tree,
the instance trees, ``/proc/iomem``); device unit names, policies and image provenance
from kerf's records. ``show`` reads under a shared lock and writes nothing, except when
an interrupted command left a journal or the kernel changed behind kerf's back: then it
takes the exclusive lock and repairs (or updates its records) first.
"""

from __future__ import annotations

from typing import Any

from kerf.errors import PermissionDeniedError
from kerf.lifecycle.common import Outcome, Prepared, prepare, resolve_instance
from kerf.lifecycle.kernel_view import InstanceView
from kerf.lifecycle.reconcile import pci_labels
from kerf.lifecycle.run import image_json
from kerf.lifecycle.session import Session
from kerf.state import InstanceRecord
from planner.hardware import Host


def _prepared(session: Session) -> Prepared:
    session.backend()  # NotInitialisedError before anything else when there is no host
    if session.state.journal() is None:
        with session.read_locked():
            seen = prepare(session, write=False)
        if not seen.notices:
            return seen
    # Something to repair or to bring in line: do it under the exclusive lock, if allowed.
    try:
        with session.locked():
            return prepare(session)
    except PermissionDeniedError:
        # not ours to repair (another user's state): show it as it is
        with session.read_locked():
            return prepare(session, write=False)


def show(session: Session, name: str | None = None, ident: int | None = None) -> Outcome:
    """The host and its instances (or only the one addressed)."""
    prepared = _prepared(session)
    view = prepared.view
    chosen = list(view.instances.values())
    if name is not None or ident is not None:
        chosen = [resolve_instance(view, name, ident)]
    instances = [_instance(prepared.host, inst, prepared.records.get(inst.name)) for inst in chosen]
    data = {"host": host_json(session, prepared), "instances": instances}
    summary = f"{len(instances)} instance{'s' if len(instances) != 1 else ''}"
    return Outcome(summary, data, list(prepared.notices))


def host_json(session: Session, prepared: Prepared) -> dict[str, Any]:
    """The pool per NUMA node: CPUs (pool, free) and memory (pool, used); the host's settings."""
    host, view = prepared.host, prepared.view
    pool = view.pool
    used_by_node: dict[int | None, int] = {}
    for region in view.regions_in_use():
        used_by_node[region.node] = used_by_node.get(region.node, 0) + region.size
    pool_by_node = pool.bytes_by_node()
    nodes = []
    for node in host.node_ids:
        cpus = [c for c in pool.cpus if c in host.cpu_by_id and host.cpu_by_id[c].numa_node == node]
        free = [c for c in pool.free_cpus if c in cpus]
        nodes.append(
            {
                "id": node,
                "pool_cpus": sorted(cpus),
                "free_cpus": sorted(free),
                "pool_bytes": pool_by_node.get(node, 0),
                "used_bytes": used_by_node.get(node, 0),
            }
        )
    owners = {pci: inst.name for inst in view.instances.values() for pci in inst.pci_ids}
    labels = pci_labels(host)
    devices = [
        {"label": label, "pci_id": pci, "instance": owners.get(pci)}
        for pci, label in sorted(labels.items(), key=lambda pl: pl[1])
        if pci in owners or pci in pool.free_pci
    ]
    return {
        "backend": session.location.kind.value,
        "root": str(session.location.kernel_root),
        "model": host.model,
        "cpus": {"pool": sorted(pool.cpus), "free": sorted(pool.free_cpus)},
        "memory": {"pool_bytes": sum(c.size for c in pool.chunks), "used_bytes": sum(used_by_node.values())},
        "numa_nodes": nodes,
        "devices": devices,
        "core_sharing": prepared.settings.core_sharing.value,
    }


def _instance(host: Host, inst: InstanceView, record: InstanceRecord | None) -> dict[str, Any]:
    labels = pci_labels(host)
    devices = [labels.get(pci, pci) for pci in inst.pci_ids]
    if record is not None:
        devices += [d for d in record.placement.devices if d not in devices and d in host.unit_by_label]
    nodes = {host.cpu_by_id[c].numa_node for c in inst.cpus if c in host.cpu_by_id}
    nodes |= {r.node for r in inst.regions}
    request = record.request if record is not None else None
    return {
        "name": inst.name,
        "id": inst.id,
        "status": inst.status.value,
        "cpus": list(inst.cpus),
        "numa_nodes": sorted(n for n in nodes if n is not None),
        "memory": [{"numa_node": r.node, "base": r.base, "bytes": r.size} for r in inst.regions]
        if inst.regions_known
        else [{"numa_node": None, "base": None, "bytes": inst.memory_bytes}],
        "devices": devices,
        "image": image_json(record.image) if record is not None and record.image is not None else None,
        "policies": None
        if request is None
        else {
            "cpu_affinity": request.cpu_affinity.value,
            "memory_policy": request.memory_policy.value,
            "exclusive_cores": request.exclusive_cores,
        },
    }


def topology(session: Session) -> dict[str, Any]:
    """Sockets -> NUMA nodes -> cores -> CPUs, each CPU with its owner: an instance name,
    ``free`` (in the pool, not lent), ``host`` (kept by the host kernel) or ``offline``."""
    prepared = _prepared(session)
    host, view = prepared.host, prepared.view
    owner: dict[int, str] = {c: inst.name for inst in view.instances.values() for c in inst.cpus}
    free = set(view.pool.free_cpus)
    pool = set(view.pool.cpus)

    def who(cpu: int) -> str:
        if cpu in owner:
            return owner[cpu]
        if cpu in free:
            return "free"
        if cpu in pool:
            return "pool"
        return "host" if cpu in host.host_reserved else "offline"

    sockets = []
    for socket in host.sockets:
        nodes: dict[int | None, list[dict[str, Any]]] = {}
        for core in host.cores:
            if core.socket != socket.id:
                continue
            nodes.setdefault(core.numa_node, []).append(
                {"id": core.id, "cpus": [{"id": c, "owner": who(c)} for c in core.cpus]}
            )
        sockets.append(
            {
                "id": socket.id,
                "numa_nodes": [
                    {"id": node, "cores": cores}
                    for node, cores in sorted(nodes.items(), key=lambda nc: -1 if nc[0] is None else nc[0])
                ],
            }
        )
    return {
        "host": {"backend": session.location.kind.value, "model": host.model},
        "sockets": sockets,
        "instances": [
            {"name": i.name, "id": i.id, "status": i.status.value} for i in view.instances.values()
        ],
        "notices": list(prepared.notices),
    }
