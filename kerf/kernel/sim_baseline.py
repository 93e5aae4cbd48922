"""The baseline write of the simulated kernel (kernel-interface reference §1.3, §2.1).

A baseline is accepted only while the pool is empty; it names the CPUs that move into
the pool (u64 physical ids), per-node memory *requests* (``memory@N { size;
numa-node-id; }``) that the kernel turns into chunks at addresses it chooses, and the
devices. The order of work and the absence of rollback on a failure part-way (chunks and
CPUs already moved stay in the pool) follow the kernel.
"""

from __future__ import annotations

import errno as E

from kerf.dts.tree import Tree
from kerf.kernel.sim_dt import (
    MAX_ALIAS,
    MAX_NUMNODES,
    exact_u64,
    node_id,
    pci_device,
    platform_device,
    string,
    u64_list,
)
from kerf.kernel.sim_memory import PAGE_SIZE, SimFailure, allocate_chunk
from kerf.kernel.sim_state import PciDevice, PlatformDevice, SimState


def _aliases(tree: Tree) -> dict[str, str]:
    """device node path -> alias, from /aliases."""
    node = tree.find_node("/aliases")
    if node is None:
        return {}
    found = {}
    for name, prop in node.props.items():
        if prop.value.endswith(b"\0"):
            found[prop.value[:-1].decode("utf-8", "replace")] = name
    return found


def apply_baseline(state: SimState, tree: Tree) -> None:
    """Apply a decoded baseline to ``state``; SimFailure with the kernel's errno on refusal."""
    instances = tree.find_node("/instances")
    if instances is not None and instances.children:
        raise SimFailure(E.EINVAL, "baseline must not contain instances (create them with overlays)")
    if not state.pool_is_empty():
        raise SimFailure(
            E.EBUSY, "pool already populated; change the pool with an overlay targeting /resources"
        )
    resources = tree.find_node("/resources")
    if resources is None:
        raise SimFailure(E.EINVAL, "baseline has no /resources node")
    for legacy in ("memory-base", "memory-bytes"):
        if resources.prop(legacy) is not None:
            raise SimFailure(
                E.EINVAL, f"/resources/{legacy} is no longer accepted; request memory with memory@N nodes"
            )
    cpus = u64_list(resources, "cpus")
    if cpus is None:
        raise SimFailure(E.EINVAL, "baseline has no /resources/cpus")

    memory_nodes = [c for name, c in resources.children.items() if name.startswith("memory@")]
    if len(memory_nodes) > MAX_NUMNODES:
        raise SimFailure(E.E2BIG, f"{len(memory_nodes)} memory@ nodes, at most {MAX_NUMNODES} allowed")
    requests: list[tuple[int, int | None]] = []
    for node in memory_nodes:
        size = exact_u64(node, "size")
        if size is None or size == 0 or size % PAGE_SIZE:
            raise SimFailure(E.EINVAL, f"{node.path}: size must be a non-zero, page-aligned u64")
        requests.append((size, node_id(node)))
    if not requests:
        raise SimFailure(E.EINVAL, "baseline requests no pool memory (no /resources/memory@N nodes)")

    aliases = _aliases(tree)
    pci: list[PciDevice] = []
    platform: list[PlatformDevice] = []
    devices = resources.child("devices")
    for node in devices.children.values() if devices is not None else ():
        kind = string(node, "device-type")
        if kind == "pci":
            device = pci_device(node)
            device.alias = aliases.get(node.path)
            pci.append(device)
        elif kind == "platform":
            platform.append(platform_device(node, fallback_to_node_name=True))
        else:
            state.log.append(f"baseline: {node.path}: device-type {kind!r} is not pci or platform, skipped")

    boot_cpu = state.machine.cpus[0].id if state.machine.cpus else None
    for cpu in cpus:
        if state.machine.cpu(cpu) is None:
            raise SimFailure(E.ENODEV, f"CPU {cpu} maps to no present logical CPU")
        if cpu == boot_cpu or cpu == 0:
            state.log.append(f"baseline: CPU {cpu} is the boot CPU; moving it into the pool anyway")

    state.pool = True
    for size, numa in requests:
        chunk = allocate_chunk(state, size, numa)
        state.log.append(f"baseline: pool chunk {chunk.base:#x}+{chunk.size:#x} on node {chunk.node}")
    for cpu in cpus:
        if cpu in state.pool_cpus:
            raise SimFailure(E.EBUSY, f"CPU {cpu} cannot be moved into the pool: it is already there")
        state.pool_cpus.append(cpu)
    for device in pci:
        present = state.machine.pci_device(device.pci_id)
        if present is None or (present.vendor_id, present.device_id) != (device.vendor_id, device.device_id):
            state.log.append(f"baseline: PCI device {device.pci_id} not found on the machine, not moved")
            continue
        if device.alias and len(device.alias) > MAX_ALIAS:
            state.log.append(f"baseline: alias {device.alias!r} longer than {MAX_ALIAS} characters, dropped")
            device.alias = None
        state.pool_pci.append(device)
    state.pool_platform.extend(platform)
