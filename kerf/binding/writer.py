"""Writing a Host (and instances, requests) as a multikernel-v1 host description tree.

The tree uses only standard ``/dts-v1/`` syntax, so dtc compiles its DTS: 64-bit
quantities are two cells ``<hi lo>``, lists of 64-bit values are ``/bits/ 64``, CPU
lists are 32-bit cells (64-bit cells only when an id needs them), and instances name
device units as strings (``devices = "eth0_vf1", "gpu0";``), which needs no extra
labelled nodes. ``read_host(host_to_tree(...))`` gives back equal objects.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kerf.dts.tree import Node, Tree
from planner.hardware import Device, Host, Instance, MemoryRegion
from planner.policy import MemoryType
from planner.request import InstanceRequest

_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ALIAS = re.compile(r"^[a-z0-9-]+$")  # the property names the aliases binding allows
_U32_MAX = (1 << 32) - 1


def host_to_tree(
    host: Host, instances: Sequence[Instance] = (), requests: Sequence[InstanceRequest] = ()
) -> Tree:
    """The full binding for ``host``; instances and requests go under ``/instances``.

    Requests with a pinned CPU list are written with ``cpus`` and therefore read back as
    placed instances.
    """
    tree = Tree.empty()
    root = tree.root
    if host.model:
        root.set_string("model", host.model)
    resources = root.add_node("resources")
    _write_cpus(resources.add_node("cpus"), host)
    _write_memory(resources.add_node("memory"), host)
    if host.devices:
        devices = resources.add_node("devices")
        # Labels do not survive in a DTB; /aliases keeps the device names there.
        aliases = root.add_node("aliases")
        for device in host.devices:
            node = _write_device(devices, device)
            if _ALIAS.match(device.name) and device.name not in aliases.props:
                aliases.set_string(device.name, node.path)
    _write_topology(resources, host)
    if instances or requests:
        block = root.add_node("instances")
        for inst in instances:
            _write_instance(block, inst, host)
        for req in requests:
            _write_request(block, req)
    return tree


def _set_u64(node: Node, name: str, value: int) -> None:
    """A 64-bit quantity as two 32-bit cells, high word first."""
    node.set_cells(name, [value >> 32, value & _U32_MAX])


def _set_ids(node: Node, name: str, values: Sequence[int]) -> None:
    """A CPU id list: 32-bit cells unless an id needs 64 bits."""
    node.set_cells(name, list(values), bits=64 if any(v > _U32_MAX for v in values) else 32)


def _write_cpus(node: Node, host: Host) -> None:
    ids = [c.id for c in host.cpus]
    if host.declared_total_cpus is not None:
        node.set_u32("total", host.declared_total_cpus)
    if host.declared_total_cpus is None or ids != list(range(host.declared_total_cpus)):
        _set_ids(node, "ids", ids)
    _set_ids(node, "host-reserved", sorted(host.host_reserved))
    _set_ids(node, "available", sorted(host.available))
    smt = [core for core in host.cores if len(core.cpus) > 1]
    if smt:
        cores = node.add_node("cores")
        for core in smt:
            _set_ids(cores.add_node(f"core@{core.id}"), "cpus", core.cpus)


def _write_memory(node: Node, host: Host) -> None:
    memory = host.memory
    _set_u64(node, "total-bytes", memory.total_bytes)
    _set_u64(node, "host-reserved-bytes", memory.host_reserved_bytes)
    if len(memory.pool) == 1:
        _set_u64(node, "memory-pool-base", memory.pool[0].base)
        _set_u64(node, "memory-pool-bytes", memory.pool[0].size)
    else:
        node.set_cells("memory-pool-ranges", [v for r in memory.pool for v in (r.base, r.size)], bits=64)


def _write_device(parent: Node, device: Device) -> Node:
    # The reader names a device by its first label, else by its node name.
    labelled = _LABEL.match(device.name) is not None
    name = _free_name(parent, (device.node_name or device.name) if labelled else device.name)
    node = parent.add_node(name)
    if labelled:
        node.add_label(device.name)
    if device.compatible:
        node.set_strings("compatible", list(device.compatible))
    node.set_string("device-type", device.device_type)
    if device.pci_id is not None:
        node.set_string("pci-id", device.pci_id)
    for name, value in (
        ("vendor-id", device.vendor_id),
        ("device-id", device.device_id),
        ("numa-node", device.numa_node),
    ):
        if value is not None:
            node.set_u32(name, value)
    if device.sriov_vfs:
        node.set_u32("sriov-vfs", device.sriov_vfs)
    if device.host_reserved_vfs:
        node.set_cells("host-reserved-vf", list(device.host_reserved_vfs))
    if device.available_vfs:
        node.set_cells("available-vfs", list(device.available_vfs))
    if device.vf_device_id is not None:
        node.set_u32("vf-device-id", device.vf_device_id)
    if device.namespaces:
        node.set_u32("namespaces", device.namespaces)
    if device.host_reserved_ns:
        node.set_cells("host-reserved-ns", list(device.host_reserved_ns))
    if device.available_ns:
        node.set_cells("available-ns", list(device.available_ns))
    for number in sorted({*device.vf_pci_ids, *device.vf_device_ids}):
        vf = node.add_node(f"vf@{number}")
        if number in device.vf_pci_ids:
            vf.set_string("pci-id", device.vf_pci_ids[number])
        if number in device.vf_device_ids:
            vf.set_u32("device-id", device.vf_device_ids[number])
    return node


def _free_name(parent: Node, wanted: str) -> str:
    """``wanted``, or a variant of it when a sibling already has that name."""
    if wanted not in parent.children:
        return wanted
    base, _, unit = wanted.partition("@")
    n = 1
    while True:
        candidate = f"{base}-{n}" + (f"@{unit}" if unit else "")
        if candidate not in parent.children:
            return candidate
        n += 1


def _write_topology(resources: Node, host: Host) -> None:
    topology = resources.add_node("topology")
    numa = topology.add_node("numa-nodes")
    for n in host.numa_nodes:
        node = numa.add_node(f"node@{n.id}")
        node.set_u32("node-id", n.id)
        if len(n.memory) == 1:
            _set_u64(node, "memory-base", n.memory[0].base)
            _set_u64(node, "memory-size", n.memory[0].size)
        elif n.memory:
            node.set_cells("memory-ranges", [v for r in n.memory for v in (r.base, r.size)], bits=64)
        if n.memory_type is not MemoryType.DRAM:
            node.set_string("memory-type", n.memory_type.value)
        if n.cpus:
            _set_ids(node, "cpus", n.cpus)
    if not _sockets_are_default(host):
        sockets = topology.add_node("sockets")
        for s in host.sockets:
            _set_ids(sockets.add_node(f"socket@{s.id}"), "cpus", s.cpus)
    if host.distances:
        triples = [v for (a, b), d in sorted(host.distances.items()) for v in (a, b, d)]
        topology.add_node("distance-map").set_cells("distance-matrix", triples)
    if host.caches:
        caches = topology.add_node("caches")
        for cache in host.caches:
            node = caches.add_node(f"l{cache.level}@{cache.id}")
            node.set_u32("level", cache.level)
            if cache.size > _U32_MAX:
                _set_u64(node, "size", cache.size)
            else:
                node.set_u32("size", cache.size)
            _set_ids(node, "cpus", cache.cpus)


def _sockets_are_default(host: Host) -> bool:
    """True when the sockets are what the binding's default (one per NUMA node) gives."""
    by_node = {n.id: n.cpus for n in host.numa_nodes if n.cpus}
    return {s.id: s.cpus for s in host.sockets} == by_node and len(host.cpus) == sum(
        map(len, by_node.values())
    )


def _write_instance(parent: Node, inst: Instance, host: Host) -> None:
    if inst.name in parent.children:
        raise ValueError(f"two instances are named {inst.name!r}")
    block = parent.add_node(inst.name)
    if inst.id is not None:
        block.set_u32("id", inst.id)
    resources = block.add_node("resources")
    _set_ids(resources, "cpus", inst.cpus)
    _write_instance_memory(resources, inst.memory, host)
    if inst.numa_nodes:
        resources.set_cells("numa-nodes", list(inst.numa_nodes))
    if inst.cpu_affinity is not None:
        resources.set_string("cpu-affinity", inst.cpu_affinity.value)
    if inst.memory_policy is not None:
        resources.set_string("memory-policy", inst.memory_policy.value)
    if inst.devices:
        resources.set_strings("devices", list(inst.devices))
    if inst.exclusive_cores:
        resources.set_empty("exclusive-cores")


def _write_instance_memory(resources: Node, memory: Sequence[MemoryRegion], host: Host) -> None:
    """One region whose node follows from its base: memory-bytes (+ memory-base);
    anything else: memory@N items, which keep every region's base and node."""
    if len(memory) == 1:
        region = memory[0]
        derived = host.node_of_address(region.base) if region.base is not None else None
        if region.numa_node == derived:
            _set_u64(resources, "memory-bytes", region.size)
            if region.base is not None:
                _set_u64(resources, "memory-base", region.base)
            return
    _set_u64(resources, "memory-bytes", sum(r.size for r in memory))
    for i, region in enumerate(memory):
        item = resources.add_node(f"memory@{i}")
        _set_u64(item, "size", region.size)
        if region.base is not None:
            _set_u64(item, "base", region.base)
        if region.numa_node is not None:
            item.set_u32("numa-node-id", region.numa_node)


def _write_request(parent: Node, req: InstanceRequest) -> None:
    if req.name in parent.children:
        raise ValueError(f"two instances are named {req.name!r}")
    block = parent.add_node(req.name)
    if req.id is not None:
        block.set_u32("id", req.id)
    resources = block.add_node("resources")
    if req.cpus is not None:
        _set_ids(resources, "cpus", req.cpus)
    else:
        assert req.cpu_count is not None
        resources.set_u32("cpu-count", req.cpu_count)
    _set_u64(resources, "memory-bytes", req.memory_bytes)
    if req.numa_nodes:
        resources.set_cells("numa-nodes", list(req.numa_nodes))
    resources.set_string("cpu-affinity", req.cpu_affinity.value)
    resources.set_string("memory-policy", req.memory_policy.value)
    if req.devices:
        resources.set_strings("devices", [want.text for want in req.devices])
    if req.exclusive_cores:
        resources.set_empty("exclusive-cores")
